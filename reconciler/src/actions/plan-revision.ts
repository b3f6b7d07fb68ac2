// Use-case: the plan between two commits of a fleet repository (`deployx plan`, and the server's
// `GET /api/v1/plan`). Head is validated: invalid → its issues and no plan. Base is loaded and
// validated too; when it is invalid the plan is made against an empty fleet, and says so. Both
// commits are compiled for the devices of an inventory file (see `InventoryFile`).
//
// Every ref is resolved once, to a commit; everything is read at that oid (the reader's
// revision string is carried on the plan).
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Facts } from '../../../schemas/facts.ts';
import { createSchemaValidator, type SchemaValidator } from '../../../schemas/index.ts';
import type { ValidationIssue } from '../core/errors.ts';
import { planFleet, type FleetPlan, type PlanDeviceInput, type WavePlanner } from '../core/plan/plan-fleet.ts';
import { validateRevision } from '../core/validate/validate-revision.ts';
import { GitSource, type GitAuth } from '../edges/git/git-source.ts';
import { loadRevision } from '../edges/git/load-revision.ts';
import { ParseCache } from '../edges/git/parse-cache.ts';
import type { RevisionReader } from '../edges/git/revision-reader.ts';
import { openReader } from './validate-repository.ts';
import type { CommitObjects, CommitVerifier } from '../edges/signatures/commit-verifier.ts';
import { reportSignatures, signatureLines, type SignatureReport } from './verify-signatures.ts';

// ---- the inventory file ----

/**
 * What `GET /api/v1/inventory` exports and `deployx plan --inventory FILE` reads: every live
 * device the server knows, with the labels it enrolled with, its last reported facts and whether
 * its agent is connected. `revision` is the revision the server was serving.
 */
export interface InventoryFile {
  /** ISO 8601. */
  exportedAt: string;
  revision: string | null;
  devices: InventoryDevice[];
}

export interface InventoryDevice {
  id: string;
  labels: Record<string, string>;
  facts: Facts;
  online: boolean;
  /** ISO 8601; null when the device was never seen. */
  lastSeenAt: string | null;
}

/** An inventory file that is not one; `problems` lists every problem found, by JSON path. */
export class InventoryError extends Error {
  override readonly name = 'InventoryError';
  readonly code = 'inventory.invalid';

  constructor(
    readonly source: string,
    readonly problems: string[],
  ) {
    super(`${source} is not a DeployX inventory: ${problems.slice(0, 5).join('; ')}${problems.length > 5 ? `; and ${problems.length - 5} more` : ''}`);
  }
}

const ISO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;

/** Checks a parsed inventory file; every problem is reported at once, by JSON path. */
export function parseInventory(value: unknown, source = 'inventory'): InventoryFile {
  const problems: string[] = [];
  if (!isRecord(value)) throw new InventoryError(source, ['the document is not a JSON object']);
  const time = (v: unknown, path: string, nullable: boolean): void => {
    if (v === null && nullable) return;
    if (typeof v !== 'string' || !ISO_TIME.test(v) || Number.isNaN(Date.parse(v))) {
      problems.push(`${path} must be an ISO 8601 time${nullable ? ' or null' : ''}`);
    }
  };
  time(value.exportedAt, 'exportedAt', false);
  if (value.revision !== null && typeof value.revision !== 'string') problems.push('revision must be a string or null');
  if (!Array.isArray(value.devices)) {
    problems.push('devices must be an array');
    throw new InventoryError(source, problems);
  }
  const seen = new Map<string, number>();
  const devices: InventoryDevice[] = [];
  value.devices.forEach((entry: unknown, i: number) => {
    const at = `devices[${i}]`;
    if (!isRecord(entry)) {
      problems.push(`${at} must be an object`);
      return;
    }
    const { id, labels, facts, online, lastSeenAt } = entry;
    if (typeof id !== 'string' || id === '') problems.push(`${at}.id must be a non-empty string`);
    else if (seen.has(id)) problems.push(`${at}.id "${id}" repeats devices[${seen.get(id)}]`);
    else seen.set(id, i);
    if (labels !== undefined && (!isRecord(labels) || Object.values(labels).some((v) => typeof v !== 'string'))) {
      problems.push(`${at}.labels must be an object of strings`);
    }
    if (facts !== undefined && !isRecord(facts)) problems.push(`${at}.facts must be an object`);
    if (typeof online !== 'boolean') problems.push(`${at}.online must be true or false`);
    if (lastSeenAt !== undefined) time(lastSeenAt, `${at}.lastSeenAt`, true);
    devices.push({
      id: id as string,
      labels: (labels ?? {}) as Record<string, string>,
      facts: (facts ?? {}) as Facts,
      online: online as boolean,
      lastSeenAt: (lastSeenAt ?? null) as string | null,
    });
  });
  if (problems.length > 0) throw new InventoryError(source, problems);
  return { exportedAt: value.exportedAt as string, revision: (value.revision ?? null) as string | null, devices };
}

/** The inventory's devices as planFleet takes them (facts `{}` = never reported, as the server reads it). */
export function inventoryDevices(inventory: InventoryFile): PlanDeviceInput[] {
  return inventory.devices.map((d) => ({
    name: d.id,
    labels: d.labels,
    facts: Object.keys(d.facts).length > 0 ? d.facts : undefined,
    declared: false,
    online: d.online,
    ...(d.lastSeenAt !== null ? { lastSeenAt: d.lastSeenAt } : {}),
  }));
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

// ---- planning ----

/**
 * A Git working repository or bare git directory on disk (`dir`, any ref: branch, tag,
 * `origin/main`, oid), or an http(s) URL. For a URL, branch names are fetched into a temporary
 * mirror (full history); a full oid is read from the history of `branch` (default `main`), fetched
 * when neither ref is a branch.
 */
export type PlanLocation =
  | { dir: string; path?: string }
  | { url: string; path?: string; auth?: GitAuth; branch?: string };

export interface PlanRevisionOptions {
  location: PlanLocation;
  base: string;
  head: string;
  inventory: InventoryFile;
  waves?: WavePlanner;
  /** Shown with the plan (after any this use-case adds). */
  notes?: string[];
  cache?: ParseCache;
  schema?: SchemaValidator;
  /** Report the signatures of head (under mode `all`: of every commit base..head). */
  verifier?: CommitVerifier;
}

export interface RevisionCheck {
  revision: string;
  valid: boolean;
  issues: ValidationIssue[];
  documentCount: number;
}

export interface PlanRevisionResult {
  base: RevisionCheck;
  head: RevisionCheck;
  /** Undefined when head is invalid. */
  plan: FleetPlan | undefined;
  /** When a verifier was given: the signature state of what head brings (also in the plan's notes). */
  signatures?: SignatureReport;
}

export async function planRevision(options: PlanRevisionOptions): Promise<PlanRevisionResult> {
  const { location } = options;
  if ('dir' in location) {
    const open = (ref: string) => openReader({ kind: 'git', dir: location.dir, ref, ...(location.path ? { path: location.path } : {}) });
    const [base, head] = await Promise.all([open(options.base), open(options.head)]);
    return planReaders({ ...options, base, head });
  }
  const dataDir = await mkdtemp(join(tmpdir(), 'deployx-plan-'));
  try {
    const [base, head] = await openRemote(location, dataDir, [options.base, options.head]);
    return await planReaders({ ...options, base: base!, head: head! });
  } finally {
    await rm(dataDir, { recursive: true, force: true });
  }
}

const FULL_OID = /^[0-9a-f]{40}$/i;

async function openRemote(location: Extract<PlanLocation, { url: string }>, dataDir: string, refs: string[]): Promise<RevisionReader[]> {
  const sources = new Map<string, { source: GitSource; oid: string }>();
  const fetchBranch = async (branch: string) => {
    let fetched = sources.get(branch);
    if (fetched === undefined) {
      const source = await GitSource.open({ url: location.url, dataDir, branch, ...(location.auth ? { auth: location.auth } : {}) });
      fetched = { source, oid: (await source.fetch()).oid };
      sources.set(branch, fetched);
    }
    return fetched;
  };
  // Branches first, one after another: they share the mirror.
  const branchOf = (ref: string) => ref.replace(/^(refs\/heads\/|origin\/|refs\/remotes\/origin\/)/, '');
  for (const ref of refs) if (!FULL_OID.test(ref)) await fetchBranch(branchOf(ref));
  if (sources.size === 0) await fetchBranch(location.branch ?? 'main');
  const fallback = sources.get(location.branch ?? 'main') ?? [...sources.values()][0]!;
  return Promise.all(
    refs.map((ref) => {
      const { source, oid } = FULL_OID.test(ref) ? { source: fallback.source, oid: ref } : sources.get(branchOf(ref))!;
      return source.reader(oid, location.path);
    }),
  );
}

export interface PlanReadersOptions {
  base: RevisionReader;
  head: RevisionReader;
  inventory: InventoryFile;
  waves?: WavePlanner;
  notes?: string[];
  /** Share one across calls: files unchanged between base and head are parsed once. */
  cache?: ParseCache;
  schema?: SchemaValidator;
  verifier?: CommitVerifier;
}

/** planRevision for revisions already open (the server's GitSource readers). */
export async function planReaders(options: PlanReadersOptions): Promise<PlanRevisionResult> {
  const cache = options.cache ?? new ParseCache();
  const schema = options.schema ?? createSchemaValidator();
  // One after the other, so the second load finds the first one's parsed files in the cache.
  const head = validateRevision(await loadRevision(options.head, { cache }), schema.validators);
  const base = validateRevision(await loadRevision(options.base, { cache }), schema.validators);
  const check = (r: typeof head): RevisionCheck => ({
    revision: r.revision,
    valid: r.model !== undefined,
    issues: r.issues,
    documentCount: r.documentCount,
  });
  const signatures = options.verifier ? await signaturesOf(options.verifier, options.base, options.head) : undefined;
  const withSignatures = signatures ? { signatures } : {};
  if (head.model === undefined) return { base: check(base), head: check(head), plan: undefined, ...withSignatures };

  const notes: string[] = [...(options.notes ?? [])];
  if (signatures) notes.push(...signatureLines(signatures).map((line) => line.trim()));
  if (base.model === undefined) {
    notes.push(
      `base ${base.revision} is invalid (${base.issues.length} error${base.issues.length === 1 ? '' : 's'}): ` +
        'planned against an empty fleet, so every resource shows as new',
    );
  }
  const plan = planFleet({
    base: base.model,
    head: head.model,
    devices: inventoryDevices(options.inventory),
    ...(options.waves ? { waves: options.waves } : {}),
    notes,
  });
  return { base: check(base), head: check(head), plan, ...withSignatures };
}

async function signaturesOf(verifier: CommitVerifier, base: RevisionReader, head: RevisionReader): Promise<SignatureReport | undefined> {
  if (!hasCommits(head)) return undefined;
  return reportSignatures(verifier, head, head.oid, hasCommits(base) ? base.oid : undefined);
}

function hasCommits(reader: RevisionReader): reader is RevisionReader & CommitObjects & { oid: string } {
  return 'rawCommit' in reader && 'oid' in reader;
}
