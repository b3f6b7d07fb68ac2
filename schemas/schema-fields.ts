// Walks the fleet-repository schemas field by field, following `$ref`s across schema files:
// `spec.rollout.waves[].size` and so on. Used by the reference-docs generator and by the tests
// that keep kinds.ts and the schemas in step. Pure.
import { KINDS, type Kind } from './kinds.ts';
import { COMMON_SCHEMA, KIND_SCHEMAS, schemaIdFor, type JsonSchema } from './index.ts';

/** A schema and the `$id` of the document it lives in (the base of its relative `$ref`s). */
export interface SchemaAt {
  schema: JsonSchema;
  base: string;
}

/** One field of a kind, with its schema resolved. */
export interface SchemaField {
  /** Dotted path from the document root; `[]` stands for every item of a list. */
  path: string;
  /** Required inside its parent object. */
  required: boolean;
  /** The field's schema with `$ref`s followed and the referring node's annotations kept. */
  at: SchemaAt;
}

const SCHEMAS_BY_ID: ReadonlyMap<string, JsonSchema> = new Map(
  [COMMON_SCHEMA, ...KINDS.map((k) => KIND_SCHEMAS[k])].map((s) => [s.$id ?? '', s]),
);

/** The schema `ref` points at, relative to `base`. Throws on a dangling reference. */
export function resolveSchemaRef(ref: string, base: string): SchemaAt {
  const hash = ref.indexOf('#');
  const docId = hash === 0 ? base : hash < 0 ? ref : ref.slice(0, hash);
  const pointer = hash < 0 ? '' : ref.slice(hash + 1);
  let node: unknown = SCHEMAS_BY_ID.get(docId);
  for (const token of pointer.split('/').slice(1)) {
    const key = token.replaceAll('~1', '/').replaceAll('~0', '~');
    node = typeof node === 'object' && node !== null ? (node as Record<string, unknown>)[key] : undefined;
  }
  if (node === undefined) throw new Error(`unresolvable $ref ${ref} (from ${base})`);
  return { schema: node as JsonSchema, base: docId };
}

/**
 * The schema a node stands for, with `$ref`s followed. The referring node's `description` and
 * `default` win over the target's, as annotations do in JSON Schema 2020-12.
 */
export function derefSchema(at: SchemaAt): SchemaAt {
  let { schema, base } = at;
  let description = schema.description;
  let dflt: unknown = schema.default;
  for (let hops = 0; schema.$ref !== undefined; hops++) {
    if (hops > 16) throw new Error(`$ref cycle at ${schema.$ref}`);
    const target = resolveSchemaRef(schema.$ref, base);
    schema = target.schema;
    base = target.base;
    description ??= schema.description;
    dflt ??= schema.default;
  }
  const merged: JsonSchema = { ...schema };
  if (description !== undefined) merged.description = description;
  if (dflt !== undefined) merged.default = dflt;
  return { schema: merged, base };
}

/** The object schemas with properties `at` stands for: itself, or its `anyOf` branches that are. */
export function objectParts(at: SchemaAt): SchemaAt[] {
  if (at.schema.properties !== undefined) return [at];
  return (at.schema.anyOf ?? []).flatMap((b) => objectParts(derefSchema({ schema: b, base: at.base })));
}

function collect(obj: SchemaAt, prefix: string, out: SchemaField[], depth: number): void {
  if (depth > 16) throw new Error(`schema nesting too deep at ${prefix}`);
  const required = new Set(obj.schema.required ?? []);
  for (const [name, child] of Object.entries(obj.schema.properties ?? {})) {
    const path = prefix === '' ? name : `${prefix}.${name}`;
    const at = derefSchema({ schema: child, base: obj.base });
    out.push({ path, required: required.has(name), at });
    for (const part of objectParts(at)) collect(part, path, out, depth + 1);
    if (at.schema.items !== undefined) {
      const items = derefSchema({ schema: at.schema.items, base: at.base });
      for (const part of objectParts(items)) collect(part, `${path}[]`, out, depth + 1);
    }
  }
}

/** Every field of a kind's documents, depth first in schema order. Free maps are one field. */
export function collectSchemaFields(kind: Kind): SchemaField[] {
  const out: SchemaField[] = [];
  const schema = KIND_SCHEMAS[kind];
  collect({ schema, base: schema.$id ?? schemaIdFor(kind) }, '', out, 0);
  return out;
}
