// deployx rollout list [--status S[,S…]] [--limit N] [--server URL | --data DIR] [--json]
// deployx rollout show ID [--server URL | --data DIR] [--json]
// deployx rollout promote|pause|resume ID [--server URL | --data DIR] [--json]
// deployx rollout start-now ID --reason TEXT [--server URL | --data DIR] [--json]
//
// Reads and acts on a server's rollouts through its API (reconciler/src/edges/http/rollout-routes.ts).
// Commands act on the rollout only; they never change desired state (a fix or a revert is a new
// commit, which starts a new rollout). Exit 0: done. Exit 1: the server refused (unknown rollout,
// finished or superseded rollout, nothing to promote). Exit 2: usage, no API token, the server
// unreachable or failing.
import { parseArgs } from 'node:util';
import { shortRevision } from '../../../reconciler/src/edges/notify/events.ts';
import { UsageError, type CommandIo, usageLine } from '../io.ts';
import { resolveApiServer } from '../running-server.ts';
import { parseServerUrl } from './agent-args.ts';
import { RefusedError, callApi as call } from '../api-client.ts';

export const HELP = `usage: deployx rollout list [--status S[,S…]] [--limit N] [--server URL | --data DIR] [--json]
       deployx rollout show ID [--server URL | --data DIR] [--json]
       deployx rollout promote ID [--server URL | --data DIR] [--json]
       deployx rollout pause ID [--server URL | --data DIR] [--json]
       deployx rollout resume ID [--server URL | --data DIR] [--json]
       deployx rollout start-now ID --reason TEXT [--server URL | --data DIR] [--json]

Rollouts deliver an accepted revision to the devices it changes, in waves.
  list       newest first: status, current wave, device counts
  show       waves with their device counts, the halted wave's failed devices and their output
  promote    start the wave that waits for manual promotion
  pause      start no new job or wave (running jobs finish)
  resume     continue a paused rollout
  start-now  start the wave a closed maintenance window or the pause between waves holds; it
             runs to its end outside the windows (later waves wait again). The reason is kept
             in the audit log.
  --server URL   the DeployX server, with an API token from DEPLOYX_TOKEN (or DEPLOYX_API_TOKEN)
  --data DIR     the server running on this data dir (its URL and api-token)
                 (neither: the server running on this machine, deployx serve or npm start)
  --status S     progressing, paused, halted, completed, partial, failed, superseded
  --json         print the API's JSON

Exit status: 0 done, 1 refused by the server, 2 usage or connection error.`;

const SUBCOMMANDS = ['list', 'show', 'promote', 'pause', 'resume', 'start-now'] as const;
type Subcommand = (typeof SUBCOMMANDS)[number];

/** The API's rollout, as far as this command prints it. */
interface DeviceCounts {
  total: number;
  waiting: number;
  running: number;
  succeeded: number;
  failed: number;
  retrying: number;
  offline: number;
}

interface RolloutView {
  id: string;
  revision: string;
  profile: string | null;
  status: string;
  supersededBy: string | null;
  createdAt: string;
  updatedAt: string;
  finishedAt: string | null;
  counts: DeviceCounts;
  activeWave: number | null;
  awaitingPromotion: number | null;
  halted: { wave: number; name: string; threshold: number; devices: string[] } | null;
  /** Absent from servers older than the field. */
  waiting?: { kind: string; reason: string; until: string | null; wave: number | null } | null;
  waves: Array<{
    index: number;
    name: string;
    counts: DeviceCounts;
    failureThreshold: number;
    manualPromotion: boolean;
    startedAt: string | null;
    completedAt: string | null;
    promotedAt: string | null;
  }>;
  failedDevices?: Array<{ device: string; wave: number; attempts: number; error?: string; output?: string }>;
}

/** `env` is read for the API token and the running-server discovery (running-server.ts) only. */
export async function runRollout(args: string[], io: CommandIo, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      allowPositionals: true,
      options: {
        server: { type: 'string' },
        data: { type: 'string' },
        status: { type: 'string' },
        limit: { type: 'string' },
        reason: { type: 'string' },
        json: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (error) {
    return usage(io, (error as Error).message);
  }
  const { values, positionals } = parsed;
  if (values.help) {
    io.out(HELP);
    return 0;
  }
  const [sub, id, ...extra] = positionals;
  let server: string;
  let token: string;
  try {
    if (sub === undefined) throw new UsageError('a subcommand is required');
    if (!(SUBCOMMANDS as readonly string[]).includes(sub)) throw new UsageError(`unknown subcommand "${sub}"`);
    if (sub === 'list' ? id !== undefined : id === undefined) throw new UsageError(sub === 'list' ? `unexpected argument "${id}"` : `${sub} needs a rollout ID`);
    if (extra.length > 0) throw new UsageError(`unexpected argument "${extra[0]}"`);
    if (values.limit !== undefined && !/^[1-9]\d*$/.test(values.limit)) throw new UsageError('--limit: a positive integer');
    if (sub === 'start-now' && !values.reason?.trim()) throw new UsageError('start-now needs --reason TEXT: it overrides a window or a pause someone chose, and the audit log keeps why');
    if (sub !== 'start-now' && values.reason !== undefined) throw new UsageError('--reason is an option of start-now');
    ({ url: server, token } = resolveApiServer('rollout', { server: values.server === undefined ? undefined : parseServerUrl(values.server), data: values.data }, io, env));
  } catch (error) {
    return usage(io, (error as Error).message);
  }

  const command = sub as Subcommand;
  try {
    if (command === 'list') {
      const query = new URLSearchParams();
      if (values.status !== undefined) query.set('status', values.status);
      if (values.limit !== undefined) query.set('limit', values.limit);
      const body = await call<{ rollouts: RolloutView[] }>(server, token, 'GET', `/api/v1/rollouts${query.size > 0 ? `?${query}` : ''}`);
      if (values.json) io.out(JSON.stringify(body, null, 2));
      else for (const line of renderList(body.rollouts)) io.out(line);
      return 0;
    }
    const path = `/api/v1/rollouts/${encodeURIComponent(id!)}`;
    const view =
      command === 'show'
        ? await call<RolloutView>(server, token, 'GET', path)
        : await call<RolloutView>(server, token, 'POST', `${path}/${command}`, command === 'start-now' ? { reason: values.reason!.trim() } : undefined);
    if (values.json) io.out(JSON.stringify(view, null, 2));
    else {
      if (command !== 'show') io.out(`${PAST[command]} ${view.id}`);
      for (const line of renderRollout(view)) io.out(line);
    }
    return 0;
  } catch (error) {
    if (error instanceof RefusedError) {
      io.err(`deployx rollout ${command}: ${error.message} (${error.code})`);
      return 1;
    }
    io.err(`deployx rollout ${command}: ${(error as Error).message}`);
    return 2;
  }
}

const PAST: Record<'promote' | 'pause' | 'resume' | 'start-now', string> = { promote: 'promoted', pause: 'paused', resume: 'resumed', 'start-now': 'started now:' };

function usage(io: CommandIo, message: string): number {
  io.err(usageLine('rollout', message));
  return 2;
}

// ---- rendering ----

/** One line per rollout under a header, columns padded. */
export function renderList(rollouts: readonly RolloutView[]): string[] {
  if (rollouts.length === 0) return ['no rollouts'];
  const rows = [
    ['ID', 'PROFILE', 'REVISION', 'STATUS', 'WAVE', 'DEVICES', 'SUCCEEDED', 'FAILED', 'WAITING', 'CREATED'],
    ...rollouts.map((r) => [
      r.id,
      r.profile ?? '-',
      shortRevision(r.revision),
      r.status,
      waveColumn(r),
      String(r.counts.total),
      String(r.counts.succeeded),
      String(r.counts.failed),
      String(r.counts.waiting + r.counts.offline + r.counts.retrying + r.counts.running),
      r.createdAt,
    ]),
  ];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)));
  const table = rows.map((row) => row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  '));
  // Why each waiting rollout starts nothing now, and until when.
  for (const r of rollouts) if (r.waiting) table.push(`${r.id}: ${r.waiting.reason}`);
  return table;
}

/** The rollout, its waves and its failed devices with their output. */
export function renderRollout(r: RolloutView): string[] {
  const lines = [`rollout ${r.id} (${r.profile ?? 'fleet'} @ ${shortRevision(r.revision)}): ${r.status}${r.supersededBy ? ` by ${r.supersededBy}` : ''}`];
  lines.push(`  created ${r.createdAt}, updated ${r.updatedAt}${r.finishedAt ? `, finished ${r.finishedAt}` : ''}`);
  lines.push(`  devices: ${countsPhrase(r.counts)}`);
  if (r.waiting) lines.push(`  waiting: ${r.waiting.reason}`);
  lines.push('  waves:');
  const nameWidth = Math.max(...r.waves.map((w) => w.name.length));
  for (const w of r.waves) {
    let state = w.counts.total === 0 ? 'empty (skipped)' : w.completedAt ? 'completed' : w.startedAt ? 'running' : 'not started';
    if (r.halted?.wave === w.index) state = 'halted';
    else if (r.awaitingPromotion === w.index) state = 'waits for promotion';
    else if (r.waiting?.wave === w.index && !w.startedAt) state = `waits (${r.waiting.kind})`;
    lines.push(`    ${String(w.index + 1).padStart(2)} ${w.name.padEnd(nameWidth)}  ${state.padEnd(19)}  ${countsPhrase(w.counts)}  (tolerates ${w.failureThreshold} failed)`);
  }
  if (r.halted) {
    lines.push(`  halted in wave ${r.halted.wave + 1} (${r.halted.name}): ${r.halted.devices.length} failed, ${r.halted.threshold} tolerated`);
  }
  const failed = r.failedDevices ?? [];
  if (failed.length > 0) {
    lines.push('  failed devices:');
    for (const f of failed) {
      lines.push(`    ${f.device} (wave ${f.wave + 1}, ${f.attempts} attempt${f.attempts === 1 ? '' : 's'})${f.error ? `: ${f.error}` : ''}`);
      if (f.output && f.output !== f.error) for (const line of f.output.split('\n')) lines.push(`      | ${line}`);
    }
  }
  return lines;
}

function waveColumn(r: RolloutView): string {
  const index = r.halted?.wave ?? r.activeWave ?? r.awaitingPromotion ?? r.waiting?.wave ?? null;
  if (index === null) return r.finishedAt ? 'done' : '-';
  const wave = r.waves[index];
  return `${index + 1}/${r.waves.length} ${wave?.name ?? ''}`.trim();
}

function countsPhrase(c: DeviceCounts): string {
  const parts = [`${c.succeeded}/${c.total} succeeded`];
  for (const key of ['failed', 'running', 'retrying', 'waiting', 'offline'] as const) if (c[key] > 0) parts.push(`${c[key]} ${key}`);
  return parts.join(', ');
}
