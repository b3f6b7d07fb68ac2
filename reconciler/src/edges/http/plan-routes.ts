// The plan API, mounted on the authenticated /api/v1 router:
//
//   GET /inventory                         the devices, as `deployx plan --inventory` reads them
//   GET /plan?base=REF&head=REF[&format=]  the plan between two commits of the server's source,
//                                          for the server's inventory; format json (default, the
//                                          plan itself), text or markdown
//
// Refs resolve in the server's repository: a full commit oid; the source's branch (or `HEAD`,
// `origin/<branch>`), which is the head the source last fetched; and, for a local source or when
// `gitdir` is given (a remote source's mirror, `<dataDir>/repo.git`), any ref or abbreviated oid
// it holds. A remote mirror holds only the tracked branch's history: a pull request's commits
// are not in it until merged, so for those plan with the CLI (`deployx plan --repo`).
//
// An invalid head answers 422 `plan.head-invalid` (its first errors in the message): the plan
// only exists for a valid head, as `deployx plan` exits 1.
import type { Request, Router } from 'express';
import git from 'isomorphic-git';
import nodeFs from 'node:fs';
import { createSchemaValidator } from '../../../../schemas/index.ts';
import { planReaders, type InventoryFile } from '../../actions/plan-revision.ts';
import type { WavePlanner } from '../../core/plan/plan-fleet.ts';
import { renderJson, renderMarkdown, renderText } from '../../core/plan/render.ts';
import { gitErrorCode, RevisionError } from '../git/errors.ts';
import type { GitSource } from '../git/git-source.ts';
import { resolveLocalGitdir } from '../git/local-repo.ts';
import { ParseCache } from '../git/parse-cache.ts';
import type { CommitVerifier } from '../signatures/commit-verifier.ts';
import type { Store } from '../store/store.ts';
import { HttpError } from './app.ts';

export interface PlanRouteDeps {
  store: Pick<Store, 'listDevices' | 'latestAccepted'>;
  source: Pick<GitSource, 'reader' | 'branch' | 'head' | 'isLocal' | 'url'>;
  /** The fleet root inside the repository. */
  fleetPath: string | undefined;
  isOnline(deviceId: string): boolean;
  now(): Date;
  /** A remote source's mirror (`<dataDir>/repo.git`): any ref in it resolves, not only oids and the branch. */
  gitdir?: string;
  /** The rollout scheduler's waves; one wave `all` per profile without it. */
  waves?: WavePlanner;
  /** The server's commit verification: the plan's notes then say who signed head (and, under `all`, base..head). */
  verifier?: CommitVerifier;
}

const FORMATS = ['json', 'text', 'markdown'] as const;
type Format = (typeof FORMATS)[number];
const PAGE = 1000;
const FULL_OID = /^[0-9a-f]{40}$/i;
const SHORT_OID = /^[0-9a-f]{4,39}$/i;

export function addPlanRoutes(router: Router, deps: PlanRouteDeps): void {
  // Files unchanged between the revisions asked about are parsed once across requests.
  const cache = new ParseCache({ maxEntries: 20_000 });
  const schema = createSchemaValidator();

  router.get('/inventory', async (_req, res) => {
    res.json(await exportInventory(deps));
  });

  router.get('/plan', async (req, res) => {
    const base = refParam(req, 'base');
    const head = refParam(req, 'head');
    const format = (typeof req.query.format === 'string' ? req.query.format : 'json') as Format;
    if (!FORMATS.includes(format)) throw new HttpError(400, 'plan.bad-request', `format must be one of ${FORMATS.join(', ')}`);

    const [baseOid, headOid] = await Promise.all([resolveCommit(deps, base), resolveCommit(deps, head)]);
    const [baseReader, headReader] = await Promise.all([openReader(deps, base, baseOid), openReader(deps, head, headOid)]);
    const inventory = await exportInventory(deps);
    const result = await planReaders({
      base: baseReader,
      head: headReader,
      inventory,
      cache,
      schema,
      ...(deps.waves ? { waves: deps.waves } : {}),
      ...(deps.verifier ? { verifier: deps.verifier } : {}),
    });
    if (result.plan === undefined) {
      const { revision, issues } = result.head;
      const first = issues.slice(0, 3).map((i) => `${i.file}:${i.line}:${i.col}: ${i.code}: ${i.message}`);
      throw new HttpError(
        422,
        'plan.head-invalid',
        `head ${revision} is invalid (${issues.length} error${issues.length === 1 ? '' : 's'}): ${first.join('; ')}${issues.length > 3 ? '; …' : ''}`,
      );
    }
    if (format === 'text') res.type('text/plain; charset=utf-8').send(`${renderText(result.plan)}\n`);
    else if (format === 'markdown') res.type('text/markdown; charset=utf-8').send(`${renderMarkdown(result.plan)}\n`);
    else res.type('application/json').send(`${renderJson(result.plan)}\n`);
  });
}

/**
 * Every live device of the store, with whether its agent is connected now. Pages are read by
 * offset: a device enrolling meanwhile can shift a row into the next page, so ids seen are skipped.
 */
export async function exportInventory(deps: Pick<PlanRouteDeps, 'store' | 'isOnline' | 'now'>): Promise<InventoryFile> {
  const devices: InventoryFile['devices'] = [];
  const seen = new Set<string>();
  for (let offset = 0; ; offset += PAGE) {
    const page = await deps.store.listDevices({ limit: PAGE, offset });
    for (const d of page) {
      if (seen.has(d.id)) continue;
      seen.add(d.id);
      devices.push({ id: d.id, labels: d.labels, facts: d.facts, online: deps.isOnline(d.id), lastSeenAt: d.lastSeenAt ?? null });
    }
    if (page.length < PAGE) break;
  }
  const accepted = await deps.store.latestAccepted();
  return { exportedAt: deps.now().toISOString(), revision: accepted?.revision ?? null, devices };
}

function refParam(req: Request, name: string): string {
  const value = req.query[name];
  if (typeof value !== 'string' || value === '') throw new HttpError(400, 'plan.bad-request', `query parameter ${name} (a ref or commit oid) is required`);
  if (!isPlausibleRef(value)) throw new HttpError(400, 'plan.bad-request', `${name}: ${JSON.stringify(value)} is not a valid ref`);
  return value;
}

/** The parts of `git check-ref-format` that keep a ref a plain name under the git directory. */
function isPlausibleRef(ref: string): boolean {
  return !ref.startsWith('/') && !ref.endsWith('/') && !ref.includes('..') && !ref.includes('//') && !/[\\\x00-\x20\x7f~^:?*[]/.test(ref);
}

async function resolveCommit(deps: PlanRouteDeps, ref: string): Promise<string> {
  const { source } = deps;
  if (FULL_OID.test(ref)) return ref.toLowerCase();
  if (ref === source.branch || ref === 'HEAD' || ref === `origin/${source.branch}` || ref === `refs/heads/${source.branch}`) {
    if (source.head === undefined) throw new HttpError(503, 'plan.source-not-fetched', 'the source has not been fetched yet; retry shortly');
    return source.head;
  }
  const gitdir = deps.gitdir ?? (source.isLocal ? await resolveLocalGitdir(source.url) : undefined);
  if (gitdir === undefined) {
    throw new HttpError(404, 'revision.ref-not-found', `${ref}: this server resolves full commit oids and its branch ${source.branch}, not other refs`);
  }
  try {
    return await git.resolveRef({ fs: nodeFs, gitdir, ref: await git.expandRef({ fs: nodeFs, gitdir, ref }) });
  } catch (err) {
    if (gitErrorCode(err) !== 'NotFoundError') throw err;
  }
  if (SHORT_OID.test(ref)) {
    try {
      return await git.expandOid({ fs: nodeFs, gitdir, oid: ref.toLowerCase() });
    } catch (err) {
      if (gitErrorCode(err) !== 'NotFoundError') throw err;
    }
  }
  throw new HttpError(404, 'revision.ref-not-found', `${ref} is neither a ref nor a commit of the source`);
}

async function openReader(deps: PlanRouteDeps, ref: string, oid: string) {
  try {
    return await deps.source.reader(oid, deps.fleetPath);
  } catch (err) {
    if (err instanceof RevisionError) {
      const status = err.code === 'revision.not-a-commit' || err.code === 'revision.path-invalid' ? 400 : 404;
      throw new HttpError(status, err.code, `${ref}: ${err.message}`);
    }
    throw err;
  }
}
