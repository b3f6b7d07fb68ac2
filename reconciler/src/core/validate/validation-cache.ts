// What validating one revision hands to the next, so a commit that changes one file costs a
// fraction of a whole validation (validateRevision's `cache` option). Create one per validator set
// and keep it as long as the ParseCache it goes with; it is only an accelerator: validating with
// a fresh cache, or none, gives the same result.
//
// - Schema verdicts per parsed document: a document's JSON Schema check depends only on that
//   document (its value, file, index and positions) and the validators, so the verdict (its kind,
//   or the issues) is kept per ParsedDocument object, which the loader's ParseCache hands out again
//   for unchanged content. Held weakly: a document no revision uses any more is dropped with it.
// - Checks over many documents (MAC and hostname uniqueness over every device, ...): the issues a
//   check raised for exactly the same documents (the same ParsedDocument objects, in the same
//   order) are the issues it raises again, so they are replayed (`checkOnce`).
// - The Located wrapper of each document in the model, so an unchanged document keeps its identity
//   from one model to the next, and the list of declared devices, the same array while no Device
//   document changes (what the incremental conflict check compares first).
// - The last conflict check (compile/incremental.ts `findConflictsSince`), so the next one checks
//   only the devices a change can reach.
import type { AnyDoc, Kind } from '../../../../schemas/kinds.ts';
import type { CompileContext } from '../compile/compile.ts';
import type { ConflictCheck } from '../compile/incremental.ts';
import type { ValidationIssue } from '../errors.ts';
import type { FleetModel, Located, ParsedDocument } from '../model.ts';
import type { IssueList } from './issues.ts';
import type { KindValidators } from './schema-check.ts';

export interface SchemaVerdict {
  /** The kind when the schema accepts the document. */
  kind: Kind | undefined;
  /** The issues it raised (empty when accepted). */
  issues: readonly ValidationIssue[];
}

/** What is kept per parsed document. */
export interface DocumentMemo {
  readonly validators: KindValidators;
  readonly verdict: SchemaVerdict;
  /** Its Located wrapper, once it is schema-valid and has been wrapped. */
  located: Located<AnyDoc> | undefined;
}

export class ValidationCache {
  readonly #documents = new WeakMap<ParsedDocument, DocumentMemo>();
  readonly #results = new Map<string, { inputs: readonly unknown[]; value: unknown }>();
  #conflicts: ConflictCheck | undefined;

  /** What was kept for `doc` when it was checked with `validators`. */
  document(validators: KindValidators, doc: ParsedDocument): DocumentMemo | undefined {
    const memo = this.#documents.get(doc);
    return memo?.validators === validators ? memo : undefined;
  }

  rememberDocument(validators: KindValidators, doc: ParsedDocument, verdict: SchemaVerdict): DocumentMemo {
    const memo: DocumentMemo = { validators, verdict, located: undefined };
    this.#documents.set(doc, memo);
    return memo;
  }

  /**
   * `compute()`, or what it returned last time under `name` when `inputs` are the same values
   * (`===`, element by element) as then. `compute` must depend on nothing but `inputs`.
   */
  reuse<T>(name: string, inputs: readonly unknown[], compute: () => T): T {
    const last = this.#results.get(name);
    if (last !== undefined && last.inputs.length === inputs.length && inputs.every((input, i) => input === last.inputs[i])) {
      return last.value as T;
    }
    const value = compute();
    this.#results.set(name, { inputs, value });
    return value;
  }

  /** The last conflict check of a revision that was otherwise valid. */
  get lastConflictCheck(): ConflictCheck | undefined {
    return this.#conflicts;
  }

  rememberConflictCheck(check: ConflictCheck): void {
    this.#conflicts = check;
  }

  /**
   * The compile context the conflict check of `model` made (from the previous one, keeping what
   * the change left alone), for the server's own compiles of the revision it has just validated.
   */
  contextFor(model: FleetModel): CompileContext | undefined {
    return this.#conflicts?.model === model ? this.#conflicts.context : undefined;
  }
}

/**
 * Runs `run`, a check over `inputs` that reports into `issues`, or, with a cache that saw the same
 * inputs for this check, adds the issues it reported then.
 */
export function checkOnce(
  cache: ValidationCache | undefined,
  name: string,
  inputs: readonly object[],
  issues: IssueList,
  run: () => void,
): void {
  if (cache === undefined) return run();
  const raised = cache.reuse(`check:${name}`, inputs, () => {
    const from = issues.size;
    run();
    return issues.items.splice(from).map((issue) => ({ ...issue }));
  });
  for (const issue of raised) issues.items.push({ ...issue });
}
