// Bounds on what an agent may send, checked before a payload is validated or stored.
//
// Two layers. socket.io's `maxHttpBufferSize` (AGENT_MAX_MESSAGE_BYTES) caps one message before it
// is parsed: a larger frame closes that agent's connection and nobody else's. Below it, every
// acknowledged event (`report`, `job:result`) is walked once, iteratively — a payload nested
// 20,000 deep must not reach anything recursive (JSON.stringify, a validator) — and refused to
// that device alone with `payload.too-deep` or `payload.too-large`.
//
// Sizes (measured, docs/protocol.md): a report of 20,000 managed files (the most the gateway
// accepts, MAX_OBSERVED) with this machine's real facts is 5.58 MB of JSON and takes ~20 ms to
// check; a typical report (30 resources) is ~9 KB and ~10 µs. A result of 50 scripts, each with a
// full 64 KiB output tail, is 3.3 MB.

/** socket.io `maxHttpBufferSize`: the largest message the server reads at all. */
export const AGENT_MAX_MESSAGE_BYTES = 8 * 1024 * 1024;

export interface PayloadLimits {
  /** Containers (objects, arrays) nested deeper than this are refused; the payload itself is 1. */
  maxDepth: number;
  /** Approximate JSON length (string lengths, keys, punctuation); above it the payload is refused. */
  maxChars: number;
}

/**
 * Real reports are 4 deep (`facts.disks[0].freeBytes`), results 3; 32 leaves room for any fact.
 * 7 Mi characters holds the largest real report with room, below the 8 MiB transport cap (a
 * payload of many multi-byte characters may hit that cap first: its connection is closed).
 */
export const AGENT_PAYLOAD_LIMITS: PayloadLimits = { maxDepth: 32, maxChars: 7 * 1024 * 1024 };

export type PayloadRefusalCode = 'payload.too-deep' | 'payload.too-large';

export interface PayloadRefusal {
  code: PayloadRefusalCode;
  error: string;
}

/**
 * Undefined when `value` is within the limits; else why not. Iterative (an explicit stack), and it
 * stops at the first limit crossed, so a hostile payload costs at most its own size to inspect.
 */
export function checkPayload(value: unknown, limits: PayloadLimits = AGENT_PAYLOAD_LIMITS): PayloadRefusal | undefined {
  const values: unknown[] = [value];
  const depths: number[] = [1];
  let chars = 0;
  while (values.length > 0) {
    const v = values.pop();
    const depth = depths.pop()!;
    if (typeof v === 'string') chars += v.length + 2;
    else if (v === null || typeof v !== 'object') chars += 8;
    else {
      if (depth > limits.maxDepth) {
        return { code: 'payload.too-deep', error: `nested more than ${limits.maxDepth} levels deep; send a flatter payload` };
      }
      if (Array.isArray(v)) {
        chars += 2 + v.length;
        for (const item of v) {
          values.push(item);
          depths.push(depth + 1);
        }
      } else {
        chars += 2;
        for (const key of Object.keys(v)) {
          chars += key.length + 4;
          values.push((v as Record<string, unknown>)[key]);
          depths.push(depth + 1);
        }
      }
    }
    if (chars > limits.maxChars) {
      return { code: 'payload.too-large', error: `larger than ${limits.maxChars} characters of JSON; send less` };
    }
  }
  return undefined;
}
