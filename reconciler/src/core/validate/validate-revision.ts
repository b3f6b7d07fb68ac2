// Validate one revision of the fleet repository: every error at once, in a stable order.
//
//   syntax   → every YAML error, with its position
//   schema   → envelope + the kind's JSON Schema, per document
//   semantic → names, references, sources, identities, selectors, patterns, rollouts
//   conflict → two profiles giving one declared device different content for one path or
//              different versions of one package (only when everything else is valid: compile
//              needs a whole model, so conflicts show up once the other errors are fixed)
//
// The result carries the FleetModel only when there is no issue: an invalid revision is rejected
// whole, and the caller keeps serving the last good one.
//
// With a ValidationCache (validation-cache.ts) shared from one revision to the next, a commit that
// changes a few documents costs a fraction of a whole validation: schema verdicts of unchanged
// documents, checks over unchanged sets of documents and the conflict check of unaffected devices
// are reused. The result is the same with or without it (validation-cache.test.ts).
import type { AnyDoc, Kind } from '../../../../schemas/kinds.ts';
import { findConflictsSince } from '../compile/incremental.ts';
import { compareIssues, type ValidationIssue } from '../errors.ts';
import { KIND_MAP, type DeviceInput, type FleetModel, type Located, type LoadedRevision, type ParsedDocument } from '../model.ts';
import { IssueList, pointer } from './issues.ts';
import { checkDocument, type KindValidators } from './schema-check.ts';
import { checkSemantics } from './semantic-check.ts';
import type { DocumentMemo, ValidationCache } from './validation-cache.ts';

export interface ValidationResult {
  revision: string;
  /** Present only when `issues` is empty. */
  model: FleetModel | undefined;
  issues: ValidationIssue[];
  /** What the author should know that does not reject the revision (`file.symlink`), sorted as issues are. */
  warnings: ValidationIssue[];
  /** Documents read, for summaries. */
  documentCount: number;
}

export interface ValidateRevisionOptions {
  /**
   * What validating earlier revisions learnt (validation-cache.ts): schema verdicts of unchanged
   * documents and the last conflict check are reused. The result is the same with or without it.
   */
  cache?: ValidationCache;
}

export function validateRevision(
  loaded: LoadedRevision,
  validators: KindValidators,
  options: ValidateRevisionOptions = {},
): ValidationResult {
  const { cache } = options;
  const issues = new IssueList();
  for (const syntax of loaded.syntaxIssues) {
    issues.inFile(syntax.file, syntax, syntax.code ?? 'yaml.syntax', syntax.message);
  }

  const { valid, defined } = checkDocuments(loaded.documents, validators, issues, cache);
  checkSemantics({ valid, defined, paths: loaded.paths, files: loaded.files }, issues, cache);
  const model = buildModel(loaded, valid);

  if (issues.size === 0) checkConflicts(model, issues, cache);

  const sorted = issues.items.sort(compareIssues);
  const warnings = new IssueList();
  for (const warning of loaded.warnings ?? []) warnings.inFile(warning.file, warning, warning.code ?? 'yaml.syntax', warning.message);
  return {
    revision: loaded.revision,
    model: sorted.length === 0 ? model : undefined,
    issues: sorted,
    warnings: warnings.items.sort(compareIssues),
    documentCount: loaded.documents.length,
  };
}

/** The schema check of every document: the schema-valid ones, and the names defined per kind (valid or not). */
function checkDocuments(
  documents: readonly ParsedDocument[],
  validators: KindValidators,
  issues: IssueList,
  cache: ValidationCache | undefined,
): { valid: Located<AnyDoc>[]; defined: Map<Kind, Set<string>> } {
  const valid: Located<AnyDoc>[] = [];
  const defined = new Map<Kind, Set<string>>();
  for (const parsed of documents) {
    const memo = cache === undefined ? undefined : checkDocumentCached(parsed, validators, issues, cache);
    const kind = memo === undefined ? checkDocument(parsed, validators, issues) : memo.verdict.kind;
    const name = nameOf(parsed.value);
    const declaredKind = kind ?? kindOf(parsed.value);
    if (declaredKind !== undefined && name !== undefined) {
      let names = defined.get(declaredKind);
      if (!names) defined.set(declaredKind, (names = new Set()));
      names.add(name);
    }
    if (kind !== undefined) {
      if (memo === undefined) valid.push(locatedOf(parsed));
      else valid.push((memo.located ??= locatedOf(parsed)));
    }
  }
  return { valid, defined };
}

const NO_ISSUES: readonly ValidationIssue[] = Object.freeze([]);

/** checkDocument, or the verdict it gave the same parsed document before; what the cache keeps for it. */
function checkDocumentCached(parsed: ParsedDocument, validators: KindValidators, issues: IssueList, cache: ValidationCache): DocumentMemo {
  const known = cache.document(validators, parsed);
  if (known !== undefined) {
    for (const issue of known.verdict.issues) issues.items.push({ ...issue });
    return known;
  }
  const from = issues.size;
  const kind = checkDocument(parsed, validators, issues);
  const raised = issues.size === from ? NO_ISSUES : issues.items.slice(from).map((issue) => ({ ...issue }));
  return cache.rememberDocument(validators, parsed, { kind, issues: raised });
}

function nameOf(value: unknown): string | undefined {
  const name = (value as { metadata?: { name?: unknown } } | null)?.metadata?.name;
  return typeof name === 'string' ? name : undefined;
}

function kindOf(value: unknown): Kind | undefined {
  const kind = (value as { kind?: unknown } | null)?.kind;
  return typeof kind === 'string' && kind in KIND_MAP ? (kind as Kind) : kind === 'Fleet' ? 'Fleet' : undefined;
}

/** A schema-valid document with its origin. */
function locatedOf(parsed: ParsedDocument): Located<AnyDoc> {
  const root = parsed.positions.get('') ?? { line: 1, col: 1 };
  return { doc: parsed.value as AnyDoc, parsed, origin: { file: parsed.file, index: parsed.index, ...root } };
}

/** The model of the schema-valid documents; on duplicates the first (by file, index) wins. */
function buildModel(loaded: LoadedRevision, valid: Located<AnyDoc>[]): FleetModel {
  const maps = {
    groups: new Map(),
    devices: new Map(),
    software: new Map(),
    files: new Map(),
    scripts: new Map(),
    profiles: new Map(),
    images: new Map(),
  } as Record<(typeof KIND_MAP)[keyof typeof KIND_MAP], Map<string, Located<AnyDoc>>>;
  let fleet: Located<AnyDoc> | undefined;
  for (const located of valid) {
    const doc = located.doc;
    if (doc.kind === 'Fleet') {
      fleet ??= located;
      continue;
    }
    const map = maps[KIND_MAP[doc.kind]];
    if (!map.has(doc.metadata.name)) map.set(doc.metadata.name, located);
  }
  return { revision: loaded.revision, fleet, ...maps, repoFiles: loaded.files } as FleetModel;
}

/** The declared devices, as compile sees them before any has reported facts. */
export function declaredDevices(model: FleetModel): DeviceInput[] {
  return [...model.devices.values()].map(({ doc }) => ({
    name: doc.metadata.name,
    labels: doc.metadata.labels ?? {},
    facts: undefined,
    declared: true,
  }));
}

/**
 * Conflicts between profiles, found by compiling every declared device. The issue points at the
 * second profile's reference to the conflicting item, so the author sees where the clash enters.
 */
function checkConflicts(model: FleetModel, issues: IssueList, cache: ValidationCache | undefined): void {
  // The same array (and DeviceInputs) as last time while no Device document changed.
  const devices = cache === undefined ? declaredDevices(model) : cache.reuse('declared-devices', [...model.devices.values()], () => declaredDevices(model));
  const check = findConflictsSince(cache?.lastConflictCheck, model, devices);
  cache?.rememberConflictCheck(check);
  const seen = new Set<string>();
  for (const conflict of check.conflicts) {
    const profile = model.profiles.get(conflict.profiles[1]);
    if (!profile) continue;
    const field = conflict.code === 'conflict.file' ? 'files' : 'software';
    const index = (profile.doc.spec[field] ?? []).indexOf(conflict.item);
    const dedupe = `${conflict.code}|${conflict.profiles.join('|')}|${conflict.key}`;
    if (seen.has(dedupe)) continue;
    seen.add(dedupe);
    const path = index >= 0 ? pointer('spec', field, index) : pointer('spec', field);
    issues.at(profile.parsed as ParsedDocument, path, conflict.code, conflict.message);
  }
}
