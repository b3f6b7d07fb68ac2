// What every executor is handed: the I/O it may do, injected (STYLE rule 13), and the outcome
// shape it returns. Executors never read process.env or the wall clock themselves.
import type { PackageManager } from '../../../schemas/kinds.ts';
import type { ObservedResource, StepStatus } from '../../../schemas/protocol.ts';
import type { Exec } from '../system/exec.ts';
import { DEFAULT_SEARCH_PATH } from '../system/facts.ts';
import type { PackageAdapter } from './package/adapter.ts';
import { createPackageAdapters } from './package/index.ts';

/** Downloads a blob by its SHA-256 (`GET /api/v1/blobs/sha256/<hex>`); callers verify the hash. */
export type FetchBlob = (sha256: string, options?: { signal?: AbortSignal }) => Promise<Uint8Array>;

export interface ExecContext {
  /** Aborted when the job is cancelled (or times out: reason is a `TimeoutError`). */
  signal: AbortSignal;
  exec: Exec;
  fetchBlob: FetchBlob;
  /** Sandbox root (`--root`): every device path lives under it. Absent on a real device. */
  root: string | undefined;
  /** The agent's private state directory (spool, inventory, script run records, temp files). */
  stateDir: string;
  now: () => Date;
  /** The device platform: decides path syntax and interpreters. */
  platform: NodeJS.Platform;
  /** Device-side roots file steps may write; per-platform defaults when absent. */
  allowedRoots: readonly string[] | undefined;
  packages: (manager: PackageManager) => PackageAdapter;
  /** Base environment of scripts (PATH and, on Windows, SystemRoot etc.); step env goes over it. */
  scriptEnv: Record<string, string>;
  /** The agent may chown (runs as root). Ownership is not enforced otherwise. */
  privileged: boolean;
  /** Cap of a step's output tail. */
  maxOutputBytes: number;
  /** The job whose step runs: script run records remember it, so a resumed job never runs a body twice. */
  job?: { id: string; idempotencyKey: string };
}

export interface StepOutcome {
  /** `skipped`: nothing to do — already in the desired state, a check guard said done, or policy. */
  status: StepStatus;
  /** The resource observed after the step. */
  observed?: ObservedResource;
  exitCode?: number;
  /** Output tail; for a skipped step, why it was skipped. */
  output?: string;
  error?: string;
}

export type ExecContextOptions = Pick<ExecContext, 'exec' | 'fetchBlob' | 'stateDir'> &
  Partial<Omit<ExecContext, 'exec' | 'fetchBlob' | 'stateDir'>>;

/** Fills the defaults the composition root does not care to set. */
export function createExecContext(options: ExecContextOptions): ExecContext {
  return {
    signal: options.signal ?? new AbortController().signal,
    exec: options.exec,
    fetchBlob: options.fetchBlob,
    root: options.root,
    stateDir: options.stateDir,
    now: options.now ?? (() => new Date()),
    platform: options.platform ?? process.platform,
    allowedRoots: options.allowedRoots,
    packages: options.packages ?? createPackageAdapters({ exec: options.exec }),
    scriptEnv: options.scriptEnv ?? { PATH: DEFAULT_SEARCH_PATH },
    privileged: options.privileged ?? process.getuid?.() === 0,
    maxOutputBytes: options.maxOutputBytes ?? 64 * 1024,
    ...(options.job === undefined ? {} : { job: options.job }),
  };
}
