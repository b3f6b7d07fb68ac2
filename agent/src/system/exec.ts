// The agent's only child_process wrapper.
//
// Contract:
// - `file` + an argument array, never a shell: data can never become shell syntax.
// - The child leads its own process group (POSIX: `detached`), so a timeout or an abort kills
//   everything it started: SIGTERM to the group, SIGKILL after `killGraceMs`. On Windows the tree
//   is killed with `taskkill /T /F`.
// - Resolves with the outcome for any exit (non-zero codes, timeouts and aborts are data); rejects
//   only when the program cannot be started (`exec.not-found`, `exec.spawn`) or the arguments
//   are invalid (`exec.invalid`).
// - stdout and stderr are each capped at `maxOutputBytes`, keeping the TAIL (the end of a log is
//   where the error is); `truncated` says whether anything was dropped.
// - `env` replaces the environment; `extraEnv` is merged over the agent's own environment.
import { spawn, type ChildProcess } from 'node:child_process';
import { AgentError } from '../errors.ts';

export const DEFAULT_MAX_OUTPUT_BYTES = 64 * 1024;

export interface ExecOptions {
  cwd?: string;
  /** The child's whole environment. When absent the agent's environment is inherited. */
  env?: Record<string, string>;
  /** Variables added over the inherited (or `env`) environment. */
  extraEnv?: Record<string, string>;
  timeoutMs?: number;
  /** Written to stdin, which is then closed. Without it stdin is /dev/null. */
  input?: string | Uint8Array;
  signal?: AbortSignal;
  /** Per stream; the tail is kept. Default 64 KiB. */
  maxOutputBytes?: number;
  /** Time between SIGTERM and SIGKILL when killing the group. Default 5 s. */
  killGraceMs?: number;
  /** Called once the child is started, with its pid (= its process group id on POSIX). */
  onSpawn?: (pid: number) => void;
}

export interface ExecResult {
  /** Null when the process was ended by a signal. */
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
  /** The caller's signal aborted the run (the process group was killed). */
  aborted: boolean;
  durationMs: number;
  /** Output was dropped from the head of stdout or stderr to respect maxOutputBytes. */
  truncated: boolean;
}

/** Executors take this injected; tests pass a recording fake for managers that cannot run here. */
export type Exec = (file: string, args: readonly string[], options?: ExecOptions) => Promise<ExecResult>;

/** After the leader exits, how long to wait for pipes held open by background children. */
const DRAIN_AFTER_EXIT_MS = 250;

export const exec: Exec = (file, args, options = {}) => {
  for (const value of [file, ...args]) {
    if (value.includes('\0')) {
      return Promise.reject(new AgentError('exec.invalid', `NUL byte in the command line of ${file}`));
    }
  }
  const started = performance.now();
  const max = options.maxOutputBytes ?? DEFAULT_MAX_OUTPUT_BYTES;
  if (options.signal?.aborted) {
    return Promise.resolve({
      exitCode: null,
      signal: null,
      stdout: '',
      stderr: '',
      timedOut: false,
      aborted: true,
      durationMs: 0,
      truncated: false,
    });
  }

  const env = options.env || options.extraEnv ? { ...(options.env ?? process.env), ...options.extraEnv } : undefined;
  const isWindows = process.platform === 'win32';

  return new Promise<ExecResult>((resolve, reject) => {
    let child: ChildProcess;
    try {
      child = spawn(file, [...args], {
        cwd: options.cwd,
        env,
        shell: false,
        detached: !isWindows,
        windowsHide: true,
        stdio: [options.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
      });
    } catch (error) {
      reject(new AgentError('exec.spawn', `cannot start ${file}: ${(error as Error).message}`, { cause: error }));
      return;
    }

    const stdout = new TailBuffer(max);
    const stderr = new TailBuffer(max);
    let timedOut = false;
    let aborted = false;
    let exitCode: number | null = null;
    let exitSignal: NodeJS.Signals | null = null;
    let settled = false;
    let timeoutTimer: NodeJS.Timeout | undefined;
    let drainTimer: NodeJS.Timeout | undefined;

    const killGroup = (): void => {
      killTree(child, 'SIGTERM', isWindows);
      // Not cleared on settle: a group member that ignores SIGTERM still gets SIGKILL.
      setTimeout(() => killTree(child, 'SIGKILL', isWindows), options.killGraceMs ?? 5000).unref();
    };
    const onAbort = (): void => {
      aborted = true;
      killGroup();
    };

    const finish = (): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timeoutTimer);
      clearTimeout(drainTimer);
      options.signal?.removeEventListener('abort', onAbort);
      child.stdout?.destroy();
      child.stderr?.destroy();
      resolve({
        exitCode,
        signal: exitSignal,
        stdout: stdout.text(),
        stderr: stderr.text(),
        timedOut,
        aborted,
        durationMs: Math.round(performance.now() - started),
        truncated: stdout.dropped || stderr.dropped,
      });
    };

    if (child.pid !== undefined && options.onSpawn) {
      try {
        options.onSpawn(child.pid);
      } catch {
        // An observer must not change the command's outcome.
      }
    }
    child.stdout?.on('data', (chunk: Buffer) => stdout.push(chunk));
    child.stderr?.on('data', (chunk: Buffer) => stderr.push(chunk));
    child.on('error', (error: NodeJS.ErrnoException) => {
      if (settled) return;
      if (child.pid === undefined) {
        settled = true;
        clearTimeout(timeoutTimer);
        options.signal?.removeEventListener('abort', onAbort);
        const code = error.code === 'ENOENT' ? 'exec.not-found' : 'exec.spawn';
        const where = options.cwd ? ` (cwd ${options.cwd})` : '';
        reject(new AgentError(code, `cannot start ${file}${where}: ${error.message}`, { cause: error }));
      }
    });
    child.on('exit', (code, signal) => {
      exitCode = code;
      exitSignal = signal;
      drainTimer = setTimeout(finish, DRAIN_AFTER_EXIT_MS);
    });
    child.on('close', finish);

    if (options.input !== undefined && child.stdin) {
      child.stdin.on('error', () => {
        /* EPIPE: the child did not read its input; its exit status tells the story. */
      });
      child.stdin.end(options.input);
    }
    if (options.timeoutMs !== undefined && options.timeoutMs > 0) {
      timeoutTimer = setTimeout(() => {
        timedOut = true;
        killGroup();
      }, options.timeoutMs);
    }
    options.signal?.addEventListener('abort', onAbort, { once: true });
  });
};

function killTree(child: ChildProcess, signal: NodeJS.Signals, isWindows: boolean): void {
  const pid = child.pid;
  if (pid === undefined) return;
  if (isWindows) {
    if (signal !== 'SIGTERM') return;
    const killer = spawn('taskkill', ['/pid', String(pid), '/T', '/F'], { windowsHide: true, stdio: 'ignore' });
    killer.on('error', () => child.kill());
    return;
  }
  try {
    process.kill(-pid, signal);
  } catch {
    // ESRCH: the group is already gone.
  }
}

/** Keeps at most `max` bytes, dropping from the head. */
class TailBuffer {
  private chunks: Buffer[] = [];
  private size = 0;
  dropped = false;

  constructor(private readonly max: number) {}

  push(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.size += chunk.length;
    while (this.size > this.max) {
      const first = this.chunks[0]!;
      const excess = this.size - this.max;
      this.dropped = true;
      if (first.length <= excess) {
        this.chunks.shift();
        this.size -= first.length;
      } else {
        this.chunks[0] = first.subarray(excess);
        this.size -= excess;
      }
    }
  }

  text(): string {
    let bytes = Buffer.concat(this.chunks);
    if (this.dropped) {
      // The cut may fall inside a UTF-8 sequence: drop the orphaned continuation bytes.
      let start = 0;
      while (start < bytes.length && start < 3 && (bytes[start]! & 0xc0) === 0x80) start++;
      bytes = bytes.subarray(start);
    }
    return bytes.toString('utf8');
  }
}

/** The tail of `text` within `maxBytes` of UTF-8 (for combining outputs into one field). */
export function tailUtf8(text: string, maxBytes: number = DEFAULT_MAX_OUTPUT_BYTES): { text: string; truncated: boolean } {
  const bytes = Buffer.from(text, 'utf8');
  if (bytes.length <= maxBytes) return { text, truncated: false };
  const buffer = new TailBuffer(maxBytes);
  buffer.push(bytes);
  return { text: buffer.text(), truncated: true };
}
