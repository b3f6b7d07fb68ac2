// The agent's observation counter (ObservationOrder in schemas/protocol.ts): every report and job
// result is stamped with (epoch, seq) when its observation is made, so the server keeps the newest
// observed state whichever message arrives last.
//
// <stateDir>/observation-sequence.json holds `{version: 1, epoch, reserved}`. Seqs are handed out
// from memory up to `reserved`; reaching it first writes (atomically, fsynced) a new `reserved`
// one block further. A restart continues from the stored `reserved`, so a seq is never handed out
// twice even after a crash — the unused rest of a block is skipped, which is harmless.
//
// The epoch is a random id made when the file does not exist (a new or wiped state dir) or cannot
// be read. The server takes another epoch as newer than the one it holds: a wiped agent starts its
// counter again and is still heard. A file restored from a backup keeps its epoch and an older
// `reserved`: its reports are ignored as stale until the counter passes the stored seq or the
// file is removed — restore a state dir without this file.
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import type { ObservationOrder } from '../../../schemas/protocol.ts';
import { writeFileAtomic } from '../system/fs-atomic.ts';
import { readStateText } from './state-json.ts';

/** What DeviceLink stamps with: the file-backed sequence, or the simulator's memory one. */
export interface ObservationSource {
  next(): Promise<ObservationOrder>;
}

interface SequenceFile {
  version: 1;
  epoch: string;
  /** Every seq below this may have been handed out; the next process starts here. */
  reserved: number;
}

export function observationSequencePath(stateDir: string): string {
  return path.join(stateDir, 'observation-sequence.json');
}

function newEpoch(): string {
  return randomBytes(16).toString('base64url');
}

export class ObservationSequence implements ObservationSource {
  private reserving: Promise<void> | undefined;

  private constructor(
    private readonly file: string,
    private readonly epoch: string,
    private nextSeq: number,
    private reserved: number,
    private readonly block: number,
  ) {}

  /** `block`: seqs reserved per write (default 1,000: one write per ~8 h of 30 s heartbeats). */
  static async open(stateDir: string, options: { block?: number } = {}): Promise<ObservationSequence> {
    const file = observationSequencePath(stateDir);
    const stored = await readSequenceFile(file);
    const epoch = stored?.epoch ?? newEpoch();
    const start = stored?.reserved ?? 0;
    const sequence = new ObservationSequence(file, epoch, start, start, Math.max(1, options.block ?? 1000));
    await sequence.reserve();
    return sequence;
  }

  async next(): Promise<ObservationOrder> {
    while (this.nextSeq >= this.reserved) {
      this.reserving ??= this.reserve().finally(() => (this.reserving = undefined));
      await this.reserving;
    }
    return { epoch: this.epoch, seq: this.nextSeq++ };
  }

  private async reserve(): Promise<void> {
    const reserved = Math.max(this.reserved, this.nextSeq) + this.block;
    const record: SequenceFile = { version: 1, epoch: this.epoch, reserved };
    await writeFileAtomic(this.file, `${JSON.stringify(record)}\n`, { mode: 0o600 });
    this.reserved = reserved;
  }
}

/** A counter in memory: a simulated device, whose state lives as long as its process. */
export class MemoryObservationSequence implements ObservationSource {
  private seq = 0;
  constructor(private readonly epoch: string = newEpoch()) {}

  async next(): Promise<ObservationOrder> {
    return { epoch: this.epoch, seq: this.seq++ };
  }
}

/** Undefined when the file is missing or unreadable: the caller starts a new epoch. */
async function readSequenceFile(file: string): Promise<SequenceFile | undefined> {
  const text = await readStateText(file);
  if (text === undefined) return undefined;
  try {
    const value = JSON.parse(text) as Partial<SequenceFile>;
    if (value.version === 1 && typeof value.epoch === 'string' && value.epoch !== '' && Number.isSafeInteger(value.reserved) && value.reserved! >= 0) {
      return value as SequenceFile;
    }
  } catch {
    // fall through: a new epoch
  }
  return undefined;
}
