// Group selectors: which devices a `selector` (matchLabels, matchFacts) picks.
//
// Semantics (each one a row in selectors.test.ts):
// - `matchLabels`: every listed label is present on the device with exactly that value.
// - `matchFacts` expressions address the device's reported facts by dotted path (`os.family`,
//   `network.macs`, `disks.mount`). When the path crosses an array, the rest of the path is read
//   from every element and the results are flattened, so `disks.mount` is the list of mounts.
//   A fact is *missing* when the path leads nowhere (undefined or null).
//   Scalars (string, number, boolean) are compared as `String(value)`; objects never equal a value.
//   - `In`: the fact is present and its value — for an array fact, any element — is in `values`.
//   - `NotIn`: the fact is missing, or no element of it is in `values` (Kubernetes semantics: a
//     missing key satisfies NotIn). So `os.family NotIn [windows]` includes devices that have
//     not reported an OS family.
//   - `Exists`: the fact is present (an empty array is present). `DoesNotExist`: it is missing.
// - A device that has never reported (`facts` undefined) has every fact missing: `In` and `Exists`
//   never match it, `NotIn` and `DoesNotExist` always do.
// - Both parts given → both must hold (AND); all expressions of `matchFacts` must hold (AND).
// - A selector with no requirement at all (no labels, no expressions) matches NOTHING. Validation
//   rejects it (`selector.empty`); should one slip through, it must not target the whole fleet.
import type { FactExpression, FactOperator, Selector } from '../../../../schemas/kinds.ts';
import type { Facts } from '../../../../schemas/facts.ts';

/** True when a device with these labels and facts is selected by `selector`. */
export function matchesSelector(
  selector: Selector,
  labels: Readonly<Record<string, string>>,
  facts: Facts | undefined,
): boolean {
  return compileSelector(selector)(labels, facts);
}

/**
 * The value at a dotted path of the facts: `undefined` when missing. Crossing an array projects the
 * rest of the path over its elements (`disks.mount` → `['/', '/data']`), dropping missing ones;
 * a projection that finds nothing is missing (while an array fact that is itself empty is present).
 */
export function lookupFact(facts: Facts | undefined, dottedPath: string): unknown {
  return lookupPath(facts, dottedPath.split('.'), 0);
}

/** `lookupFact` with the path already split at its dots. */
export function lookupFactPath(facts: Facts | undefined, segments: readonly string[]): unknown {
  return lookupPath(facts, segments, 0);
}

/**
 * The strings an `In` expression compares a fact value by: the value itself or, for an array, each
 * element; scalars through String(), objects and missing values contribute nothing.
 */
export function comparableStrings(value: unknown): string[] {
  const out: string[] = [];
  if (Array.isArray(value)) {
    for (const element of value) {
      const text = scalarString(element);
      if (text !== undefined) out.push(text);
    }
  } else {
    const text = scalarString(value);
    if (text !== undefined) out.push(text);
  }
  return out;
}

/** A selector turned into a predicate once, for evaluating it against many devices. */
export type SelectorPredicate = (labels: Readonly<Record<string, string>>, facts: Facts | undefined) => boolean;

/**
 * Predicates by selector object. Documents are never modified once parsed (the loader's cache hands
 * the same objects to every revision that has the same content), so a selector compiles once for
 * as long as it is in use — not once per device an agent report compiles.
 */
const compiled = new WeakMap<Selector, SelectorPredicate>();

/** Precompiles a selector: label pairs and path segments are split once, values put in a Set. */
export function compileSelector(selector: Selector): SelectorPredicate {
  let predicate = compiled.get(selector);
  if (predicate === undefined) compiled.set(selector, (predicate = buildSelector(selector)));
  return predicate;
}

function buildSelector(selector: Selector): SelectorPredicate {
  const labelPairs = Object.entries(selector.matchLabels ?? {});
  const expressions = (selector.matchFacts ?? []).map(compileExpression);
  if (labelPairs.length === 0 && expressions.length === 0) return () => false;
  return (labels, facts) => {
    for (const [key, value] of labelPairs) {
      if (!Object.hasOwn(labels, key) || labels[key] !== value) return false;
    }
    for (const expression of expressions) {
      if (!expression(facts)) return false;
    }
    return true;
  };
}

type FactPredicate = (facts: Facts | undefined) => boolean;

function compileExpression(expression: FactExpression): FactPredicate {
  const segments = expression.key.split('.');
  const values = new Set(expression.values ?? []);
  const operator: FactOperator = expression.operator;
  switch (operator) {
    case 'In':
      return (facts) => anyValueIn(lookupPath(facts, segments, 0), values);
    case 'NotIn':
      return (facts) => !anyValueIn(lookupPath(facts, segments, 0), values);
    case 'Exists':
      return (facts) => isPresent(lookupPath(facts, segments, 0));
    case 'DoesNotExist':
      return (facts) => !isPresent(lookupPath(facts, segments, 0));
  }
}

function isPresent(value: unknown): boolean {
  return value !== undefined && value !== null;
}

function anyValueIn(value: unknown, values: ReadonlySet<string>): boolean {
  if (Array.isArray(value)) {
    for (const element of value) {
      if (scalarIn(element, values)) return true;
    }
    return false;
  }
  return scalarIn(value, values);
}

function scalarIn(value: unknown, values: ReadonlySet<string>): boolean {
  const text = scalarString(value);
  return text !== undefined && values.has(text);
}

function scalarString(value: unknown): string | undefined {
  switch (typeof value) {
    case 'string':
      return value;
    case 'number':
    case 'boolean':
    case 'bigint':
      return String(value);
    default:
      return undefined;
  }
}

function lookupPath(value: unknown, segments: readonly string[], from: number): unknown {
  let current = value;
  for (let i = from; i < segments.length; i++) {
    if (current === undefined || current === null) return undefined;
    if (Array.isArray(current)) {
      const projected: unknown[] = [];
      for (const element of current) {
        const found = lookupPath(element, segments, i);
        if (found === undefined || found === null) continue;
        if (Array.isArray(found)) projected.push(...found);
        else projected.push(found);
      }
      return projected.length > 0 ? projected : undefined;
    }
    if (typeof current !== 'object') return undefined;
    const segment = segments[i]!;
    if (!Object.hasOwn(current, segment)) return undefined;
    current = (current as Record<string, unknown>)[segment];
  }
  return current === null ? undefined : current;
}
