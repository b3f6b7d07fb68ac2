// deployx plan --repo DIR|URL --base REF --head REF [--path SUBDIR] [--inventory FILE | --server URL]
//               [--format text|markdown|json]
//               [--verify-commits off|head|all] [--trusted-ssh-signers FILE] [--trusted-openpgp-keys FILE]...
//
// Exit 0: the plan was printed. Exit 1: head is invalid (its errors are printed, as `deployx
// validate` prints them), or a server verifying signatures in the mode given would refuse it. Exit 2: usage, I/O, a ref that does not resolve, an unreadable inventory.
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import {
  InventoryError,
  parseInventory,
  planRevision,
  type InventoryFile,
  type PlanLocation,
  type PlanRevisionResult,
} from '../../../reconciler/src/actions/plan-revision.ts';
import { renderJson, renderMarkdown, renderText } from '../../../reconciler/src/core/plan/render.ts';
import { planWaves } from '../../../reconciler/src/core/rollout/waves.ts';
import { splitMergeBase } from '../../../reconciler/src/edges/git/revision-expression.ts';
import { cliVerifier, signatureLines } from '../../../reconciler/src/actions/verify-signatures.ts';
import { loadCommitVerification } from '../../../reconciler/src/config.ts';
import { type CommandIo, usageLine } from '../io.ts';

export const HELP = `usage: deployx plan --repo DIR|URL --base REF --head REF [--path SUBDIR]
                    [--inventory FILE | --server URL] [--format text|markdown|json]

What merging HEAD into BASE does to the fleet: per profile and device, the resources created (+),
updated (~), deleted (-) or left in place (=), the devices joining or leaving profiles and groups,
groups that match no device, offline devices, rollout waves and totals, with a digest.
  --repo DIR|URL     a Git repository: a directory inside it, or an http(s) URL (the branches
                     named are fetched into a temporary mirror; an oid must be on one of them)
  --base REF         the commit the change applies to: a branch, tag, origin/main, (short)
                     oid, or an expression on one: HEAD~1, main^, HEAD^2 (a merge's second
                     parent), main...feature (their merge base; --head defaults to feature)
  --head REF         the commit with the change (the same forms)
  --path SUBDIR      the fleet root inside the repository (default: --repo's directory inside
                     its repository, else the repository root)
  --inventory FILE   devices and their last reported facts, as GET /api/v1/inventory exports them
  --server URL       read the inventory from a DeployX server; the API token is taken from
                     the DEPLOYX_API_TOKEN environment variable
                     (without either: the declared devices only, none has reported facts)
  --format text      terraform-like + ~ - = lines (default)
  --format markdown  for a pull-request comment: summary table, collapsible details
  --format json      the plan as stable JSON

Commit signatures (the same flags as deployx serve; reported as notes of the plan):
  --trusted-ssh-signers FILE   an SSH allowed_signers file
  --trusted-openpgp-keys FILE  armored OpenPGP public keys (repeat, or comma-separated)
  --verify-commits MODE        off: report head's signature (default); head: head must be
                               signed by a trusted key; all: every commit base..head must be
                               (what a server whose last accepted revision is BASE checks)

Exit status: 0 plan printed, 1 head invalid or its signature refused, 2 usage or I/O error.`;

const FORMATS = ['text', 'markdown', 'json'] as const;
type Format = (typeof FORMATS)[number];

/** `env` is read for DEPLOYX_API_TOKEN only. */
export async function runPlan(args: string[], io: CommandIo, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      options: {
        repo: { type: 'string' },
        base: { type: 'string' },
        head: { type: 'string' },
        path: { type: 'string' },
        inventory: { type: 'string' },
        server: { type: 'string' },
        format: { type: 'string', default: 'text' },
        'verify-commits': { type: 'string' },
        'trusted-ssh-signers': { type: 'string' },
        'trusted-openpgp-keys': { type: 'string', multiple: true },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (error) {
    return usage(io, (error as Error).message);
  }
  const o = parsed.values;
  if (o.help) {
    io.out(HELP);
    return 0;
  }
  const format = o.format as Format;
  if (!FORMATS.includes(format)) return usage(io, `unknown format "${format}"`);
  // `--base main...feature` alone: the change on feature since it left main (head: the right side).
  const range = o.base ? splitMergeBase(o.base) : undefined;
  if (o.head === undefined && range) o.head = range[1];
  for (const name of ['repo', 'base', 'head'] as const) {
    if (o[name] === undefined || o[name] === '') return usage(io, `--${name} is required`);
  }
  if (o.inventory !== undefined && o.server !== undefined) return usage(io, '--inventory and --server exclude each other');

  const located = locate(o.repo!, o.path, io.cwd);
  if ('error' in located) {
    io.err(`deployx plan: ${located.error}`);
    return 2;
  }

  let inventory: InventoryFile;
  const notes: string[] = [];
  try {
    if (o.inventory !== undefined) {
      inventory = await readInventoryFile(path.resolve(io.cwd, o.inventory), o.inventory);
    } else if (o.server !== undefined) {
      inventory = await fetchInventory(o.server, env.DEPLOYX_API_TOKEN);
    } else {
      inventory = { exportedAt: new Date(0).toISOString(), revision: null, devices: [] };
      notes.push('no inventory given (--inventory or --server): declared devices only, none has reported facts');
    }
  } catch (error) {
    if (error instanceof InventoryError) {
      io.err(`deployx plan: ${error.source} is not a DeployX inventory:`);
      for (const problem of error.problems) io.err(`  ${problem}`);
    } else {
      io.err(`deployx plan: ${(error as Error).message}`);
    }
    return 2;
  }

  let verification;
  try {
    verification = loadCommitVerification(o, {}, io.cwd);
  } catch (error) {
    return usage(io, (error as Error).message);
  }

  let result: PlanRevisionResult;
  try {
    const verifier = await cliVerifier(verification);
    result = await planRevision({
      ...(verifier ? { verifier } : {}),
      location: located.location,
      base: o.base!,
      head: o.head!,
      inventory,
      notes,
      // The same waves the server's rollout scheduler will use.
      waves: (_profile, policy, devices) => planWaves(policy, devices),
    });
  } catch (error) {
    const code = (error as { code?: string }).code;
    io.err(`deployx plan: ${(error as Error).message}${code ? ` (${code})` : ''}`);
    return 2;
  }

  if (result.plan === undefined) {
    if (result.signatures && format !== 'json') for (const line of signatureLines(result.signatures)) io.out(line);
    printInvalidHead(result, format, located.display, io);
    return 1;
  }
  if (!result.base.valid) {
    io.err(`deployx plan: warning: base ${result.base.revision} is invalid (${plural(result.base.issues.length, 'error')}); planned against an empty fleet`);
  }
  if (format === 'json') io.out(renderJson(result.plan));
  else if (format === 'markdown') io.out(renderMarkdown(result.plan));
  else io.out(renderText(result.plan));
  if (result.signatures && !result.signatures.accepted) {
    io.err(`deployx plan: a server with --verify-commits ${result.signatures.mode} refuses ${result.head.revision} (see the signature notes)`);
    return 1;
  }
  return 0;
}

function usage(io: CommandIo, message: string): number {
  io.err(usageLine('plan', message));
  return 2;
}

type Located = { location: PlanLocation; display: (file: string) => string } | { error: string };

/**
 * Where the repository is. A directory is read from its Git toplevel, the fleet root being the
 * directory's place inside it joined with --path; errors in head are named relative to the cwd.
 */
function locate(repo: string, sub: string | undefined, cwd: string): Located {
  if (/^https?:\/\//i.test(repo)) {
    const root = sub?.replace(/^\/+|\/+$/g, '') ?? '';
    return { location: { url: repo, ...(root ? { path: root } : {}) }, display: (file) => (root ? `${root}/${file}` : file) };
  }
  const dir = path.resolve(cwd, repo);
  if (!existsSync(dir)) return { error: `${repo}: no such directory` };
  const toplevel = findGitToplevel(dir);
  if (toplevel === undefined) return { error: `${repo} is not inside a Git repository` };
  const fleetRoot = path.resolve(dir, sub ?? '.');
  const inside = path.relative(toplevel, fleetRoot).split(path.sep).join('/');
  if (inside.startsWith('..')) return { error: `--path ${sub} leaves the repository ${toplevel}` };
  return {
    location: { dir: toplevel, ...(inside ? { path: inside } : {}) },
    display: (file) => path.relative(cwd, path.join(fleetRoot, file)) || file,
  };
}

function findGitToplevel(start: string): string | undefined {
  for (let dir = start; ; dir = path.dirname(dir)) {
    if (existsSync(path.join(dir, '.git'))) return dir;
    if (path.dirname(dir) === dir) return undefined;
  }
}

async function readInventoryFile(file: string, given: string): Promise<InventoryFile> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw new Error(`cannot read ${given}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new InventoryError(given, [`not JSON: ${(error as Error).message}`]);
  }
  return parseInventory(value, given);
}

async function fetchInventory(server: string, token: string | undefined): Promise<InventoryFile> {
  if (token === undefined || token === '') throw new Error('--server needs an API token in the DEPLOYX_API_TOKEN environment variable');
  const url = `${server.replace(/\/+$/, '')}/api/v1/inventory`;
  let response: Response;
  try {
    response = await fetch(url, { headers: { Authorization: `Bearer ${token}`, Accept: 'application/json' }, signal: AbortSignal.timeout(60_000) });
  } catch (error) {
    const cause = (error as { cause?: { code?: string; message?: string } }).cause;
    throw new Error(`GET ${url} failed: ${cause?.code ?? cause?.message ?? (error as Error).message}`);
  }
  const text = await response.text();
  if (!response.ok) {
    let detail = text.slice(0, 200);
    try {
      const body = JSON.parse(text) as { error?: { code?: string; message?: string } };
      if (body.error) detail = `${body.error.code}: ${body.error.message}`;
    } catch {
      // not JSON: the start of the body says enough
    }
    throw new Error(`GET ${url}: HTTP ${response.status} ${detail}`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new InventoryError(url, [`not JSON: ${(error as Error).message}`]);
  }
  return parseInventory(value, url);
}

function printInvalidHead(result: PlanRevisionResult, format: Format, display: (file: string) => string, io: CommandIo): void {
  const { head } = result;
  if (format === 'json') {
    io.out(
      JSON.stringify(
        {
          valid: false,
          revision: head.revision,
          documents: head.documentCount,
          issues: head.issues.map((i) => ({
            file: display(i.file),
            line: i.line,
            col: i.col,
            code: i.code,
            message: i.message,
            path: i.path,
            ...(i.suggestion !== undefined ? { suggestion: i.suggestion } : {}),
          })),
        },
        null,
        2,
      ),
    );
    return;
  }
  for (const issue of head.issues) io.out(`${display(issue.file)}:${issue.line}:${issue.col}: ${issue.code}: ${issue.message}`);
  const files = new Set(head.issues.map((i) => i.file)).size;
  io.out(`✗ ${plural(head.issues.length, 'error')} in ${plural(files, 'file')} (${head.revision}, ${head.documentCount} documents): no plan`);
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}
