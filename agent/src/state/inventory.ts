// The local inventory: the resources this agent has brought into a desired state, keyed by
// ResourceKey, each with the Step that last did so. It is what the agent reports as `observed`
// (observeAll) and what makes prune safe: DeployX only ever removes what it owns.
//
// Recording a job (kustomize-controller's inventory rules, on the agent side):
// - install / write / run that succeeded, or was skipped as already satisfied → the key is
//   owned, with this Step;
// - remove / delete that succeeded, or found nothing to remove → the key is no longer owned;
// - a failed step, or a step the job never ran, changes nothing (a failed delete stays owned).
//
// Stored as one JSON file (<stateDir>/inventory.json, atomic writes), or kept in memory only
// (Inventory.memory(): simulated devices, which have no disk of their own).
import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import type { ObservedResource, Step, StepResult } from '../../../schemas/protocol.ts';
import { isStepFailure } from '../../../schemas/step-status.ts';
import { AgentError, describeError } from '../errors.ts';
import { observers as defaultObservers, type ExecContext, type Observers } from '../executors/index.ts';
import { writeFileAtomic } from '../system/fs-atomic.ts';

export interface InventoryEntry {
  key: string;
  step: Step;
  /** Revision of the job that last applied it. */
  revision?: string;
  updatedAt: string;
}

interface InventoryFile {
  version: 1;
  entries: InventoryEntry[];
}

const REMOVING: ReadonlySet<Step['action']> = new Set(['package.remove', 'file.delete']);

export class Inventory {
  private constructor(
    /** Undefined: in memory only. */
    private readonly file: string | undefined,
    private readonly entries: Map<string, InventoryEntry>,
    private readonly now: () => Date,
  ) {}

  static async open(stateDir: string, options: { now?: () => Date } = {}): Promise<Inventory> {
    const file = path.join(stateDir, 'inventory.json');
    const entries = new Map<string, InventoryEntry>();
    let text: string | undefined;
    try {
      text = await readFile(file, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
    if (text !== undefined) {
      let parsed: InventoryFile;
      try {
        parsed = JSON.parse(text) as InventoryFile;
        if (parsed.version !== 1 || !Array.isArray(parsed.entries)) throw new Error('unknown inventory shape');
      } catch (error) {
        throw new AgentError('state.corrupt', `${file}: ${(error as Error).message}`, { cause: error });
      }
      for (const entry of parsed.entries) entries.set(entry.key, entry);
    }
    return new Inventory(file, entries, options.now ?? (() => new Date()));
  }

  /** An inventory that is never written anywhere (simulated devices). */
  static memory(options: { now?: () => Date } = {}): Inventory {
    return new Inventory(undefined, new Map(), options.now ?? (() => new Date()));
  }

  /** Entries sorted by key. */
  list(): InventoryEntry[] {
    return [...this.entries.values()].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  get(key: string): InventoryEntry | undefined {
    return this.entries.get(key);
  }

  /**
   * Applies one job's outcome. `ran` is how many steps the job started (runJobDetailed): the
   * steps after it were never run and change nothing.
   */
  async record(steps: readonly Step[], results: readonly StepResult[], ran: number, revision?: string): Promise<void> {
    const updatedAt = this.now().toISOString();
    let changed = false;
    for (const [index, step] of steps.entries()) {
      const result = results[index];
      if (index >= ran || result === undefined || result.key !== step.key || isStepFailure(result.status)) continue;
      if (REMOVING.has(step.action)) {
        changed = this.entries.delete(step.key) || changed;
      } else {
        this.entries.set(step.key, { key: step.key, step, ...(revision ? { revision } : {}), updatedAt });
        changed = true;
      }
    }
    if (changed) await this.save();
  }

  private async save(): Promise<void> {
    if (this.file === undefined) return;
    await mkdir(path.dirname(this.file), { recursive: true, mode: 0o700 });
    const body: InventoryFile = { version: 1, entries: this.list() };
    await writeFileAtomic(this.file, `${JSON.stringify(body, null, 2)}\n`, { mode: 0o600 });
  }
}

/**
 * Observes every inventory entry with the observer of its Step's action. A resource that cannot
 * be observed is left out and passed to `onError` (the report must not fail as a whole).
 */
export async function observeAll(
  inventory: Pick<Inventory, 'list'>,
  ctx: ExecContext,
  options: { observers?: Observers; onError?: (key: string, error: string) => void } = {},
): Promise<ObservedResource[]> {
  const table = options.observers ?? defaultObservers;
  const observed: ObservedResource[] = [];
  for (const entry of inventory.list()) {
    try {
      const observe = table[entry.step.action] as (s: Step, c: ExecContext) => Promise<ObservedResource>;
      observed.push(await observe(entry.step, ctx));
    } catch (error) {
      options.onError?.(entry.key, describeError(error));
    }
  }
  return observed;
}
