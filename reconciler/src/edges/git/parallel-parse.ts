// Parses many YAML files at once on the calling thread and on worker threads: a cold load of a
// large fleet (megabytes of YAML, ~1 s of parsing per core) is bound by the yaml package's speed.
//
// How: the files form one queue. Each worker is started for this call, takes the next files as it
// finishes (two in flight, so it never waits on the calling thread) and is terminated at the end;
// the calling thread parses the next file in the queue, then yields to the event loop so worker
// results are taken in. Starting a worker costs ~100 ms (tsx compiles its modules), which the
// calling thread spends parsing, so a worker never makes a load slower than parsing alone.
//
// Results are the same as `parseYamlBytes` on this thread (parallel-parse.test.ts): values cross
// as JSON (exact for strings, finite numbers, booleans, null, arrays and plain objects; a file with
// anything else — NaN, -0 — is parsed again here), positions as the records of a PositionTable.
// A worker that fails to start or dies hands its files back to this thread.
import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { ParsedDocument, SyntaxIssue } from '../../core/model.ts';
import { parseYamlBytes, type ParsedFile } from './parse-yaml.ts';
import { PositionTable, positionRecordsOf } from './position-table.ts';

export interface ParseJob {
  file: string;
  bytes: Uint8Array;
}

export interface ParallelParseOptions {
  /** Worker threads besides the calling one (never more than jobs − 1). Default: available parallelism − 1, at least 1. */
  workers?: number;
  /**
   * Whether the calling thread parses from the queue too. Default true; false leaves the queue to
   * the workers (the calling thread still parses what they hand back), for tests.
   */
  callerParses?: boolean;
}

/** Files a worker holds at once: one being parsed, one waiting. */
const IN_FLIGHT = 2;

/** `parseYamlBytes` of every job, in job order. */
export async function parseFilesInParallel(jobs: readonly ParseJob[], options: ParallelParseOptions = {}): Promise<ParsedFile[]> {
  const results = new Array<ParsedFile | undefined>(jobs.length);
  const T0 = performance.now(); let mainJobs = 0, workerJobs = 0, decodeMs = 0, mainMs = 0, waitMs = 0; const readyAt: number[] = [];
  let next = 0;
  /** Jobs handed back by workers (died, or a result JSON cannot carry), for this thread. */
  const handedBack: number[] = [];
  let wake: (() => void) | undefined;
  const notify = (): void => {
    const resolve = wake;
    wake = undefined;
    resolve?.();
  };

  const callerParses = options.callerParses ?? true;
  const count = Math.max(callerParses ? 0 : 1, Math.min(options.workers ?? Math.max(1, availableParallelism() - 1), jobs.length - (callerParses ? 1 : 0)));
  const slots: WorkerSlot[] = [];
  for (let i = 0; i < count; i++) {
    const slot: WorkerSlot = { worker: startParseWorker(), inFlight: new Set(), alive: true };
    const feed = (): void => {
      while (slot.alive && slot.inFlight.size < IN_FLIGHT && next < jobs.length) {
        const seq = next++;
        const job = jobs[seq]!;
        const bytes = job.bytes.slice(); // a view may share a larger buffer; send only its bytes
        slot.inFlight.add(seq);
        const message: ParseJobMessage = { seq, file: job.file, bytes };
        slot.worker.postMessage(message, [bytes.buffer]);
      }
    };
    const retire = (): void => {
      if (!slot.alive) return;
      slot.alive = false;
      handedBack.push(...slot.inFlight);
      slot.inFlight.clear();
      notify();
    };
    slot.worker.on('message', (message: ParseResultMessage | { ready: true }) => {
      if ('seq' in message) {
        if (!slot.inFlight.delete(message.seq)) return;
        const job = jobs[message.seq]!;
        if (message.encoded === undefined) handedBack.push(message.seq);
        else { const t = performance.now(); results[message.seq] = decodeParsedFile(job.file, message.encoded); decodeMs += performance.now() - t; workerJobs++; }
      }
      else readyAt.push(Math.round(performance.now() - T0));
      feed();
      notify();
    });
    slot.worker.on('error', retire);
    slot.worker.on('messageerror', retire);
    slot.worker.on('exit', retire);
    slots.push(slot);
  }

  try {
    for (;;) {
      const alive = slots.some((slot) => slot.alive);
      const seq = handedBack.pop() ?? (next < jobs.length && (callerParses || !alive) ? next++ : undefined);
      if (seq !== undefined) {
        const job = jobs[seq]!;
        const t = performance.now(); results[seq] = parseYamlBytes(job.file, job.bytes); mainMs += performance.now() - t; mainJobs++;
        await new Promise<void>((resolve) => setImmediate(resolve));
        continue;
      }
      if (!slots.some((slot) => slot.inFlight.size > 0) && (next >= jobs.length || !slots.some((slot) => slot.alive))) break;
      const tw = performance.now();
      await new Promise<void>((resolve) => {
        wake = resolve;
      });
      waitMs += performance.now() - tw;
    }
  } finally {
    for (const slot of slots) {
      slot.alive = false;
      void slot.worker.terminate();
    }
  }
  console.error(JSON.stringify({ total: Math.round(performance.now() - T0), readyAt, mainJobs, workerJobs, decodeMs: Math.round(decodeMs), mainMs: Math.round(mainMs), waitMs: Math.round(waitMs) }));
  return results as ParsedFile[];
}

interface WorkerSlot {
  worker: Worker;
  inFlight: Set<number>;
  alive: boolean;
}

/**
 * A worker running parse-worker.ts. Workers do not inherit a loader registered with tsx's
 * `register()` (the CLI's way), and a TypeScript entry point fails under `--import tsx` too, so a
 * small CommonJS bootstrap registers tsx's require hook in the worker and requires the entry. It
 * loads the yaml package first: through tsx's hook its ~100 files take twice as long. Inherited
 * `execArgv` is dropped (an inherited `--import tsx` would load tsx's ESM hooks too, ~100 ms); the
 * worker only parses.
 */
function startParseWorker(): Worker {
  const require = createRequire(import.meta.url);
  const entry = fileURLToPath(new URL('./parse-worker.ts', import.meta.url));
  const source = [
    `require(${JSON.stringify(require.resolve('yaml'))});`,
    `require(${JSON.stringify(require.resolve('tsx/cjs/api'))}).register();`,
    `require(${JSON.stringify(entry)});`,
  ].join('\n');
  return new Worker(source, { eval: true, execArgv: [] });
}

// ---- messages ----

export interface ParseJobMessage {
  seq: number;
  file: string;
  bytes: Uint8Array;
}

export interface ParseResultMessage {
  seq: number;
  /** `encodeParsedFile` of the result; undefined when JSON cannot carry it (or parsing threw). */
  encoded: string | undefined;
  error?: string;
}

/** `[[index, value, pointers, data]...], syntaxIssues]` as JSON, or undefined when a value is not exact in JSON. */
export function encodeParsedFile(parsed: ParsedFile): string | undefined {
  const documents: unknown[] = [];
  for (const doc of parsed.documents) {
    if (!isExactInJson(doc.value)) return undefined;
    const { pointers, data } = positionRecordsOf(doc.positions, doc.keyPositions);
    documents.push([doc.index, doc.value, pointers, data]);
  }
  return JSON.stringify([documents, parsed.syntaxIssues]);
}

export function decodeParsedFile(file: string, encoded: string): ParsedFile {
  const [documents, syntaxIssues] = JSON.parse(encoded) as [[number, unknown, string[], number[]][], SyntaxIssue[]];
  return {
    documents: documents.map(([index, value, pointers, data]): ParsedDocument => {
      const { positions, keyPositions } = new PositionTable({ pointers, data }).views();
      return { file, index, value, positions, keyPositions };
    }),
    syntaxIssues,
  };
}

/** True when `JSON.parse(JSON.stringify(value))` is deep-equal to `value`, prototypes included. */
function isExactInJson(value: unknown): boolean {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return true;
    case 'number':
      return Number.isFinite(value) && !Object.is(value, -0);
    case 'object': {
      if (value === null) return true;
      if (Array.isArray(value)) {
        for (let i = 0; i < value.length; i++) if (!(i in value) || !isExactInJson(value[i])) return false;
        return true;
      }
      if (Object.getPrototypeOf(value) !== Object.prototype) return false;
      for (const key in value) {
        if (!Object.hasOwn(value, key)) return false;
        if (!isExactInJson((value as Record<string, unknown>)[key])) return false;
      }
      return true;
    }
    default:
      return false;
  }
}
