// Process groups the agent started for a job, recorded in <stateDir>/children.json while they
// run, so that an agent that died (SIGKILL, OOM killer) ends them on its next start BEFORE it
// re-runs the interrupted job. Children lead their own process group (system/exec.ts), so they
// outlive a killed agent; without this, the dead agent's script and the re-run would both apply.
// (Under systemd, KillMode=control-group already cleans the unit's cgroup; this covers the rest.)
//
// A recorded group is killed only when it is provably the one the agent started: same boot
// (/proc/sys/kernel/random/boot_id), and either its leader is alive with the recorded start time,
// or the leader has exited and processes of that group remain (a group id is not reused while
// the group has members). Linux only (/proc); elsewhere nothing is killed, only forgotten.
import { mkdir, readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { writeFileAtomic } from './fs-atomic.ts';

export interface ChildRecord {
  pid: number;
  bootId?: string;
  /** Field 22 of /proc/<pid>/stat: start time in clock ticks since boot. */
  startTicks?: string;
  startedAt: string;
}

export interface ReapOutcome {
  pid: number;
  killed: boolean;
  reason: string;
}

export interface ChildRegistryOptions {
  now?: () => Date;
  platform?: NodeJS.Platform;
  /** Tests point it elsewhere. */
  procRoot?: string;
  kill?: (pid: number, signal: NodeJS.Signals) => void;
}

export class ChildRegistry {
  private readonly children = new Map<number, ChildRecord>();
  private writes: Promise<void> = Promise.resolve();

  private constructor(
    private readonly file: string,
    private readonly previous: ChildRecord[],
    private readonly options: Required<ChildRegistryOptions>,
  ) {}

  static async open(stateDir: string, options: ChildRegistryOptions = {}): Promise<ChildRegistry> {
    await mkdir(stateDir, { recursive: true, mode: 0o700 });
    const file = path.join(stateDir, 'children.json');
    let previous: ChildRecord[] = [];
    try {
      const parsed = JSON.parse(await readFile(file, 'utf8')) as { children?: unknown };
      if (Array.isArray(parsed.children)) {
        previous = parsed.children.filter(
          (c): c is ChildRecord => typeof c === 'object' && c !== null && Number.isInteger((c as ChildRecord).pid) && (c as ChildRecord).pid > 1,
        );
      }
    } catch {
      // Missing or unreadable: nothing to reap.
    }
    return new ChildRegistry(file, previous, {
      now: options.now ?? (() => new Date()),
      platform: options.platform ?? process.platform,
      procRoot: options.procRoot ?? '/proc',
      kill: options.kill ?? ((pid, signal) => process.kill(pid, signal)),
    });
  }

  /** Records a started process group (best effort: the job runs whatever happens here). */
  add(pid: number): Promise<void> {
    return this.update(async () => {
      const identity = await this.identify(pid);
      this.children.set(pid, { pid, ...identity, startedAt: this.options.now().toISOString() });
    });
  }

  remove(pid: number): Promise<void> {
    return this.update(async () => {
      this.children.delete(pid);
    });
  }

  /**
   * Kills (SIGKILL) the groups recorded by a previous run of the agent that are still alive and
   * provably the same, then forgets them. Call once at start, before resuming jobs. `spare`:
   * groups left running on purpose (scripts whose exit the restarted agent waits for).
   */
  async reapOrphans(options: { spare?: ReadonlySet<number> } = {}): Promise<ReapOutcome[]> {
    const outcomes: ReapOutcome[] = [];
    for (const record of this.previous) {
      outcomes.push(options.spare?.has(record.pid) ? { pid: record.pid, killed: false, reason: 'spared: a script run the agent waits for' } : await this.reap(record));
    }
    this.previous.length = 0;
    await this.update(async () => {});
    return outcomes;
  }

  private async reap(record: ChildRecord): Promise<ReapOutcome> {
    const { pid } = record;
    if (this.options.platform !== 'linux') return { pid, killed: false, reason: 'cannot verify process identity on this platform' };
    const bootId = await this.bootId();
    if (bootId === undefined || record.bootId !== bootId) return { pid, killed: false, reason: 'recorded in another boot' };
    const leader = await this.stat(pid);
    if (leader) {
      if (leader.startTicks !== record.startTicks) return { pid, killed: false, reason: 'pid reused by another process' };
    } else if (!(await this.groupHasMembers(pid))) {
      return { pid, killed: false, reason: 'already gone' };
    }
    try {
      this.options.kill(-pid, 'SIGKILL');
      return { pid, killed: true, reason: leader ? 'leader still running' : 'group members still running' };
    } catch (error) {
      return { pid, killed: false, reason: (error as NodeJS.ErrnoException).code ?? 'kill failed' };
    }
  }

  private update(change: () => Promise<void>): Promise<void> {
    this.writes = this.writes
      .then(async () => {
        await change();
        const children = [...this.previous, ...this.children.values()];
        await writeFileAtomic(this.file, `${JSON.stringify({ version: 1, children })}\n`, { mode: 0o600 });
      })
      .catch(() => undefined);
    return this.writes;
  }

  private async identify(pid: number): Promise<Pick<ChildRecord, 'bootId' | 'startTicks'>> {
    if (this.options.platform !== 'linux') return {};
    const { bootId, startTicks } = await identifyProcess(pid, this.options.procRoot);
    return { ...(bootId ? { bootId } : {}), ...(startTicks ? { startTicks } : {}) };
  }

  private bootId(): Promise<string | undefined> {
    return readBootId(this.options.procRoot);
  }

  private stat(pid: number): Promise<{ pgrp: number; startTicks: string } | undefined> {
    return readProcStat(pid, this.options.procRoot);
  }

  private groupHasMembers(pgid: number): Promise<boolean> {
    return processGroupHasMembers(pgid, this.options.procRoot);
  }
}

/** Who a process is, beyond its pid (which the kernel reuses): boot and start time. */
export interface ProcessIdentity {
  pid: number;
  bootId?: string;
  /** Field 22 of /proc/<pid>/stat. */
  startTicks?: string;
}

export async function identifyProcess(pid: number, procRoot = '/proc'): Promise<ProcessIdentity> {
  const [bootId, stat] = await Promise.all([readBootId(procRoot), readProcStat(pid, procRoot)]);
  return { pid, ...(bootId ? { bootId } : {}), ...(stat ? { startTicks: stat.startTicks } : {}) };
}

/**
 * Whether the process group led by `identity.pid` still runs, proven the way reapOrphans proves
 * it: same boot, and the leader alive with the recorded start time, or (leader gone) members of
 * the group remaining. `gone` when it provably is not; `unverifiable` without /proc or identity.
 */
export async function probeProcessGroup(identity: ProcessIdentity, procRoot = '/proc'): Promise<'running' | 'gone' | 'unverifiable'> {
  const bootId = await readBootId(procRoot);
  if (bootId === undefined || identity.bootId === undefined || identity.startTicks === undefined) return 'unverifiable';
  if (identity.bootId !== bootId) return 'gone';
  // A zombie has finished: an init that does not reap orphans promptly must not look like a run.
  const leader = await readProcStat(identity.pid, procRoot);
  if (leader && leader.state !== 'Z') return leader.startTicks === identity.startTicks ? 'running' : 'gone';
  if (leader && leader.startTicks !== identity.startTicks) return 'gone';
  return (await processGroupHasMembers(identity.pid, procRoot, { ignoreZombies: true })) ? 'running' : 'gone';
}

/** The process (lowest pid) whose command line holds `argument` as one whole argument. */
export async function findProcessByArgument(argument: string, procRoot = '/proc'): Promise<number | undefined> {
  const entries = await readdir(procRoot).catch(() => [] as string[]);
  const pids = entries.filter((e) => /^\d+$/.test(e)).map(Number).sort((a, b) => a - b);
  for (const pid of pids) {
    const cmdline = await readFile(path.join(procRoot, String(pid), 'cmdline'), 'utf8').catch(() => '');
    if (cmdline.split('\0').includes(argument)) return pid;
  }
  return undefined;
}

async function readBootId(procRoot: string): Promise<string | undefined> {
  const text = await readFile(path.join(procRoot, 'sys/kernel/random/boot_id'), 'utf8').catch(() => undefined);
  return text?.trim() || undefined;
}

async function readProcStat(pid: number, procRoot: string): Promise<{ state: string; pgrp: number; startTicks: string } | undefined> {
  const text = await readFile(path.join(procRoot, String(pid), 'stat'), 'utf8').catch(() => undefined);
  return text === undefined ? undefined : parseProcStat(text);
}

async function processGroupHasMembers(pgid: number, procRoot: string, options: { ignoreZombies?: boolean } = {}): Promise<boolean> {
  const entries = await readdir(procRoot).catch(() => [] as string[]);
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = await readProcStat(Number(entry), procRoot);
    if (stat?.pgrp === pgid && !(options.ignoreZombies && stat.state === 'Z')) return true;
  }
  return false;
}

/** `pid (comm) state ppid pgrp … starttime …` — comm may hold spaces and parentheses. */
export function parseProcStat(text: string): { state: string; pgrp: number; startTicks: string } | undefined {
  const close = text.lastIndexOf(')');
  if (close === -1) return undefined;
  const fields = text.slice(close + 2).trim().split(/\s+/);
  // fields[0] is field 3 (state): pgrp is field 5, starttime field 22.
  const state = fields[0] ?? '';
  const pgrp = Number(fields[2]);
  const startTicks = fields[19];
  if (!Number.isInteger(pgrp) || startTicks === undefined) return undefined;
  return { state, pgrp, startTicks };
}
