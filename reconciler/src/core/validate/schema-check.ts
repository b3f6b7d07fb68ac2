// Schema validation of one document: the envelope (object, apiVersion, kind) first, then the
// kind's JSON Schema, with Ajv's errors turned into issues that read well and point at the node.
import type { ErrorObject, ValidateFunction } from 'ajv';
import { API_VERSION, KINDS, type Kind } from '../../../../schemas/kinds.ts';
import type { IssueCode } from '../errors.ts';
import type { ParsedDocument } from '../model.ts';
import { didYouMean, suggestionSuffix } from './did-you-mean.ts';
import { type IssueList, pointer } from './issues.ts';

export type KindValidators = Readonly<Record<Kind, ValidateFunction>>;

/** Checks one document; returns its kind when the schema accepts it, undefined otherwise. */
export function checkDocument(doc: ParsedDocument, validators: KindValidators, issues: IssueList): Kind | undefined {
  const value = doc.value;
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    issues.at(doc, '', 'document.not-object', 'a document must be a mapping with apiVersion, kind, metadata and spec');
    return undefined;
  }
  const record = value as Record<string, unknown>;
  if (record.apiVersion !== API_VERSION) {
    const found = record.apiVersion === undefined ? 'missing' : JSON.stringify(record.apiVersion);
    issues.at(doc, '/apiVersion', 'document.api-version', `apiVersion is ${found}; expected "${API_VERSION}"`, {
      onKey: record.apiVersion === undefined,
    });
  }
  const kind = record.kind;
  if (typeof kind !== 'string' || !(KINDS as readonly string[]).includes(kind)) {
    const suggestion = typeof kind === 'string' ? didYouMean(kind, KINDS) : undefined;
    const found = kind === undefined ? 'missing' : JSON.stringify(kind);
    issues.at(
      doc,
      '/kind',
      'document.kind',
      `kind is ${found}; expected one of ${KINDS.join(', ')}${suggestionSuffix(suggestion)}`,
      { suggestion },
    );
    return undefined;
  }
  const validate = validators[kind as Kind];
  if (validate(value)) return record.apiVersion === API_VERSION ? (kind as Kind) : undefined;
  for (const error of collapse(validate.errors ?? [])) reportAjvError(doc, error, issues);
  return undefined;
}

/**
 * Ajv reports every failed branch of an `anyOf` besides the `anyOf` itself, including errors
 * below the node (`run: {every: 5 minutes}`: the duration format of the object branch); the
 * branches say nothing the summary does not, so keep only the `anyOf` error for that node. The
 * schemas put no other keyword beside an `anyOf`, so every error at or below its node is a branch
 * error (branch schema paths cannot be compared: past a `$ref` they are relative to another
 * schema). Errors about the envelope (the `apiVersion`/`kind` constants, a missing `apiVersion`)
 * are dropped: the envelope check above already reported them.
 */
function collapse(errors: ErrorObject[]): ErrorObject[] {
  const anyOfs = errors.filter((e) => e.keyword === 'anyOf' || e.keyword === 'oneOf');
  return errors.filter((e) => {
    if (e.keyword === 'const' && (e.instancePath === '/apiVersion' || e.instancePath === '/kind')) return false;
    if (e.keyword === 'required' && e.instancePath === '' && isEnvelopeField(e)) return false;
    // A map key's own errors (`pattern` of a label key) carry `propertyName` and the map's path;
    // the `propertyNames` error that follows reports the key itself.
    if (e.propertyName !== undefined) return false;
    if (e.keyword === 'anyOf' || e.keyword === 'oneOf') return true;
    return !anyOfs.some((a) => e.instancePath === a.instancePath || e.instancePath.startsWith(`${a.instancePath}/`));
  });
}

function isEnvelopeField(error: ErrorObject): boolean {
  const missing = (error.params as { missingProperty?: string }).missingProperty;
  return missing === 'apiVersion' || missing === 'kind';
}

const RANGE_KEYWORDS = new Set([
  'minimum',
  'maximum',
  'exclusiveMinimum',
  'exclusiveMaximum',
  'minLength',
  'maxLength',
  'minItems',
  'maxItems',
  'minProperties',
  'maxProperties',
  'uniqueItems',
]);

function reportAjvError(doc: ParsedDocument, error: ErrorObject, issues: IssueList): void {
  const path = error.instancePath;
  const where = describePath(path);
  switch (error.keyword) {
    case 'additionalProperties': {
      const key = String((error.params as { additionalProperty: string }).additionalProperty);
      const allowed = allowedKeys(error);
      const suggestion = didYouMean(key, allowed);
      const known = allowed.length > 0 ? `; known keys: ${allowed.join(', ')}` : '';
      issues.at(
        doc,
        path + pointer(key),
        'schema.unknown-key',
        `unknown key "${key}" in ${where}${suggestionSuffix(suggestion)}${suggestion ? '' : known}`,
        { onKey: true, suggestion },
      );
      return;
    }
    case 'required': {
      const missing = String((error.params as { missingProperty: string }).missingProperty);
      issues.at(doc, path, 'schema.required', `${where} is missing required field "${missing}"`);
      return;
    }
    case 'type': {
      const expected = String((error.params as { type: string | string[] }).type);
      const actual = valueAt(doc.value, path);
      // YAML reads 0644, 1.24 and yes as numbers and booleans; strings must be quoted.
      const hint = expected === 'string' && (typeof actual === 'number' || typeof actual === 'boolean') ? ' (quote it in YAML)' : '';
      issues.at(doc, path, 'schema.type', `${where} must be ${article(expected)}, not ${typeName(actual)}${hint}`);
      return;
    }
    case 'enum': {
      const allowed = ((error.params as { allowedValues: unknown[] }).allowedValues ?? []).map(String);
      const actual = valueAt(doc.value, path);
      const suggestion = typeof actual === 'string' ? didYouMean(actual, allowed) : undefined;
      issues.at(
        doc,
        path,
        'schema.enum',
        `${where} is ${JSON.stringify(actual)}; expected one of ${allowed.join(', ')}${suggestionSuffix(suggestion)}`,
        { suggestion },
      );
      return;
    }
    case 'const': {
      const allowed = (error.params as { allowedValue: unknown }).allowedValue;
      issues.at(doc, path, 'schema.enum', `${where} must be ${JSON.stringify(allowed)}`);
      return;
    }
    case 'format': {
      const format = String((error.params as { format: string }).format);
      issues.at(
        doc,
        path,
        'schema.format',
        `${where} is ${JSON.stringify(valueAt(doc.value, path))}, not a valid ${FORMAT_NAMES[format] ?? format}`,
      );
      return;
    }
    case 'pattern': {
      const pattern = String((error.params as { pattern: string }).pattern);
      issues.at(doc, path, 'schema.pattern', `${where} is ${JSON.stringify(valueAt(doc.value, path))}; it must match ${pattern}`);
      return;
    }
    case 'propertyNames': {
      const name = String((error.params as { propertyName: string }).propertyName);
      issues.at(doc, path + pointer(name), 'schema.pattern', `key "${name}" in ${where} is not a valid name`, {
        onKey: true,
      });
      return;
    }
    case 'anyOf':
    case 'oneOf': {
      const hint = typeof error.parentSchema === 'object' && error.parentSchema ? error.parentSchema.description : undefined;
      issues.at(
        doc,
        path,
        'schema.invalid',
        `${where} is ${JSON.stringify(valueAt(doc.value, path))}, which fits none of its allowed forms${hint ? ` (${hint})` : ''}`,
      );
      return;
    }
    default: {
      const code: IssueCode = RANGE_KEYWORDS.has(error.keyword) ? 'schema.range' : 'schema.invalid';
      issues.at(doc, path, code, `${where} ${error.message ?? 'is invalid'}`);
    }
  }
}

const FORMAT_NAMES: Record<string, string> = {
  mac: 'MAC address (aa:bb:cc:dd:ee:ff)',
  'octal-mode': 'octal file mode ("0644")',
  sha256: 'SHA-256 (64 lowercase hex digits)',
  duration: 'duration (30s, 5m, 1h30m, 7d)',
  'clock-time': 'time of day (HH:MM)',
};

function allowedKeys(error: ErrorObject): string[] {
  const parent = error.parentSchema as { properties?: Record<string, unknown> } | undefined;
  return parent?.properties ? Object.keys(parent.properties).sort() : [];
}

/** `spec.rollout.waves[1]` for `/spec/rollout/waves/1`; `the document` for the root. */
export function describePath(path: string): string {
  if (path === '') return 'the document';
  let out = '';
  for (const raw of path.slice(1).split('/')) {
    const segment = raw.replaceAll('~1', '/').replaceAll('~0', '~');
    out += /^\d+$/.test(segment) ? `[${segment}]` : out === '' ? segment : `.${segment}`;
  }
  return out;
}

function valueAt(root: unknown, path: string): unknown {
  if (path === '') return root;
  let node: unknown = root;
  for (const raw of path.slice(1).split('/')) {
    const segment = raw.replaceAll('~1', '/').replaceAll('~0', '~');
    if (node === null || typeof node !== 'object') return undefined;
    node = (node as Record<string, unknown>)[segment];
  }
  return node;
}

function typeName(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  return `${typeof value} ${JSON.stringify(value)}`;
}

function article(type: string): string {
  const words: Record<string, string> = {
    object: 'a mapping',
    array: 'a list',
    string: 'a string',
    integer: 'an integer',
    number: 'a number',
    boolean: 'true or false',
  };
  return type
    .split(',')
    .map((t) => words[t] ?? t)
    .join(' or ');
}
