// The fleet-repository JSON Schemas and the Ajv validator built from them.
//
// Pure: the schemas are imported as JSON modules, nothing is read from disk, so the CLI, the
// server and the agent (and a bundled browser build) validate with exactly the same schemas.
// Schema `default`s document the built-in values; they are never applied by the validator
// (no `useDefaults`): compile applies defaults, because a Profile inherits unset drift and
// rollout fields from the Fleet before a built-in default applies.
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import { FORMATS, STANDARD_FORMATS } from './formats.ts';
import { KINDS, type Kind } from './kinds.ts';
import common from './common.schema.json' with { type: 'json' };
import fleet from './fleet.schema.json' with { type: 'json' };
import group from './group.schema.json' with { type: 'json' };
import device from './device.schema.json' with { type: 'json' };
import software from './software.schema.json' with { type: 'json' };
import fileDeployment from './file-deployment.schema.json' with { type: 'json' };
import script from './script.schema.json' with { type: 'json' };
import profile from './profile.schema.json' with { type: 'json' };
import osImage from './os-image.schema.json' with { type: 'json' };

/** The subset of JSON Schema 2020-12 the fleet-repository schemas use. */
export interface JsonSchema {
  $schema?: string;
  $id?: string;
  $ref?: string;
  $defs?: Record<string, JsonSchema>;
  title?: string;
  description?: string;
  type?: string | string[];
  const?: unknown;
  enum?: unknown[];
  default?: unknown;
  format?: string;
  pattern?: string;
  minimum?: number;
  minLength?: number;
  maxLength?: number;
  minItems?: number;
  uniqueItems?: boolean;
  properties?: Record<string, JsonSchema>;
  required?: string[];
  additionalProperties?: boolean | JsonSchema;
  propertyNames?: JsonSchema;
  items?: JsonSchema;
  anyOf?: JsonSchema[];
}

/** Every schema `$id` is this base plus the schema's file name. */
export const SCHEMA_BASE_URL = 'https://deployx.dev/schemas/v1/';

export const COMMON_SCHEMA_FILE = 'common.schema.json';

/** Kind → file name of its schema in `schemas/` (and under `SCHEMA_BASE_URL`). */
export const SCHEMA_FILES: Readonly<Record<Kind, string>> = {
  Fleet: 'fleet.schema.json',
  Group: 'group.schema.json',
  Device: 'device.schema.json',
  Software: 'software.schema.json',
  FileDeployment: 'file-deployment.schema.json',
  Script: 'script.schema.json',
  Profile: 'profile.schema.json',
  OSImage: 'os-image.schema.json',
};

/** The shared `$defs` (metadata, selector, rollout policy, formats ...) the kind schemas reference. */
export const COMMON_SCHEMA: JsonSchema = common;

/** Kind → the schema of a whole document of that kind. */
export const KIND_SCHEMAS: Readonly<Record<Kind, JsonSchema>> = {
  Fleet: fleet,
  Group: group,
  Device: device,
  Software: software,
  FileDeployment: fileDeployment,
  Script: script,
  Profile: profile,
  OSImage: osImage,
};

/** `$id` of a kind's schema, e.g. `https://deployx.dev/schemas/v1/file-deployment.schema.json`. */
export function schemaIdFor(kind: Kind): string {
  return SCHEMA_BASE_URL + SCHEMA_FILES[kind];
}

export interface SchemaValidator {
  /** Holds the common and every kind schema (by `$id`) and every format they use. */
  ajv: Ajv2020;
  /** Kind → validator of a whole document of that kind. */
  validators: Record<Kind, ValidateFunction>;
}

/**
 * A fresh Ajv (2020-12, strict, all errors, `verbose` so that an error's `parentSchema` lists the
 * allowed properties for "did you mean") with the custom formats and every schema added.
 * Build one per process and reuse it: compiling costs milliseconds, validating microseconds.
 */
export function createSchemaValidator(): SchemaValidator {
  const ajv = new Ajv2020({ allErrors: true, strict: true, allowUnionTypes: true, verbose: true });
  addFormats.default(ajv, [...STANDARD_FORMATS]);
  for (const [name, check] of Object.entries(FORMATS)) ajv.addFormat(name, check);
  ajv.addSchema(COMMON_SCHEMA);
  for (const kind of KINDS) ajv.addSchema(KIND_SCHEMAS[kind]);
  const validators = {} as Record<Kind, ValidateFunction>;
  for (const kind of KINDS) {
    const validate = ajv.getSchema(schemaIdFor(kind));
    if (validate === undefined) throw new Error(`schema ${schemaIdFor(kind)} did not compile`);
    validators[kind] = validate;
  }
  return { ajv, validators };
}
