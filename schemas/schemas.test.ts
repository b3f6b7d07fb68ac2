import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { Ajv2020, type ErrorObject } from 'ajv/dist/2020.js';
import {
  API_VERSION,
  FACT_OPERATORS,
  INSTALLER_KINDS,
  INTERPRETERS,
  KINDS,
  NOTIFIER_EVENTS,
  ON_INTERRUPT,
  PACKAGE_MANAGERS,
  PROVISIONING_TASK_TYPES,
  type AnyDoc,
  type Artifact,
  type DeviceDoc,
  type DeviceSpec,
  type DriftMode,
  type Ensure,
  type FactExpression,
  type FileDeploymentDoc,
  type FleetDoc,
  type GroupDoc,
  type Kind,
  type MaintenanceWindow,
  type Notifier,
  type OSImageDoc,
  type OSImageSpec,
  type ProfileDoc,
  type ProvisioningSpec,
  type ProvisioningTask,
  type RolloutPolicy,
  type RunPolicy,
  type ScriptDoc,
  type SoftwareDoc,
} from './kinds.ts';
import { checkFormat, FORMATS, STANDARD_FORMATS, type FormatName } from './formats.ts';
import {
  COMMON_SCHEMA,
  COMMON_SCHEMA_FILE,
  createSchemaValidator,
  KIND_SCHEMAS,
  SCHEMA_BASE_URL,
  SCHEMA_FILES,
  schemaIdFor,
  type JsonSchema,
} from './index.ts';
import { collectSchemaFields } from './schema-fields.ts';

const { ajv, validators } = createSchemaValidator();
const SCHEMAS_DIR = new URL('./', import.meta.url);
const ALL_SCHEMAS: Array<[file: string, schema: JsonSchema]> = [
  [COMMON_SCHEMA_FILE, COMMON_SCHEMA],
  ...KINDS.map((k): [string, JsonSchema] => [SCHEMA_FILES[k], KIND_SCHEMAS[k]]),
];
/** Objects whose keys are data, not field names: their values are checked by `additionalProperties`. */
const FREE_MAPS = new Set(['labels', 'annotations', 'env', 'matchLabels']);

// ---- helpers ----

/** Every subschema of `schema` with its JSON pointer and the name it sits under. */
function* walk(schema: JsonSchema, pointer = '', name = ''): Generator<{ s: JsonSchema; pointer: string; name: string; isProperty: boolean }> {
  yield { s: schema, pointer, name, isProperty: /\/properties\/[^/]+$/.test(pointer) };
  for (const [k, v] of Object.entries(schema.$defs ?? {})) yield* walk(v, `${pointer}/$defs/${k}`, k);
  for (const [k, v] of Object.entries(schema.properties ?? {})) yield* walk(v, `${pointer}/properties/${k}`, k);
  if (schema.items !== undefined) yield* walk(schema.items, `${pointer}/items`, name);
  if (typeof schema.additionalProperties === 'object') {
    yield* walk(schema.additionalProperties, `${pointer}/additionalProperties`, name);
  }
  if (schema.propertyNames !== undefined) yield* walk(schema.propertyNames, `${pointer}/propertyNames`, name);
  for (const [i, v] of (schema.anyOf ?? []).entries()) yield* walk(v, `${pointer}/anyOf/${i}`, name);
}

function clone<T>(value: T): T {
  return structuredClone(value);
}

/** `doc` with the value at JSON pointer `pointer` replaced (or removed when `value` is `REMOVE`). */
const REMOVE = Symbol('remove');
function withChange(doc: unknown, pointer: string, value: unknown): Record<string, unknown> {
  const copy = clone(doc) as Record<string, unknown>;
  const tokens = pointer.split('/').slice(1);
  const last = tokens.pop()!;
  let node: Record<string, unknown> = copy;
  for (const [i, t] of tokens.entries()) {
    node[t] ??= /^\d+$/.test(tokens[i + 1] ?? last) ? [] : {};
    node = node[t] as Record<string, unknown>;
  }
  if (value === REMOVE) {
    if (Array.isArray(node)) node.splice(Number(last), 1);
    else delete node[last];
  } else {
    node[last] = value;
  }
  return copy;
}

function errorsOf(kind: Kind, doc: unknown): ErrorObject[] {
  const validate = validators[kind];
  return validate(doc) ? [] : [...(validate.errors ?? [])];
}

function summarize(errors: ErrorObject[]): string {
  return errors.map((e) => `${e.instancePath || '/'} ${e.keyword} ${JSON.stringify(e.params)}`).join('\n');
}

/** Paths of every value in `data`, in the notation of `collectSchemaFields` (`a.b[].c`). */
function dataPaths(data: unknown, prefix = '', out = new Set<string>()): Set<string> {
  if (Array.isArray(data)) {
    for (const item of data) dataPaths(item, `${prefix}[]`, out);
  } else if (typeof data === 'object' && data !== null) {
    for (const [k, v] of Object.entries(data)) {
      const path = prefix === '' ? k : `${prefix}.${k}`;
      out.add(path);
      dataPaths(v, path, out);
    }
  }
  return out;
}

/** Only the required keys of T, recursively: what a minimal document may contain. */
type OnlyRequired<T> = T extends readonly (infer U)[]
  ? OnlyRequired<U>[]
  : T extends object
    ? { [K in keyof T as {} extends Pick<T, K> ? never : K]: OnlyRequired<T[K]> }
    : T;

/** Compile-time proof that `values` lists every member of the union T (and nothing else). */
function everyValueOf<T extends string>() {
  return <const A extends readonly T[]>(
    values: A,
    ..._missing: [Exclude<T, A[number]>] extends [never] ? [] : [missing: Exclude<T, A[number]>]
  ): readonly string[] => values;
}

function sorted(values: readonly unknown[] | undefined): unknown[] {
  return [...(values ?? [])].map(String).sort();
}

/** The schema at a JSON pointer inside one of the schema files. */
function schemaAt(schema: JsonSchema, pointer: string): JsonSchema {
  let node: unknown = schema;
  for (const t of pointer.split('/').slice(1)) node = (node as Record<string, unknown>)[t];
  assert.ok(node !== undefined, `no schema at ${pointer}`);
  return node as JsonSchema;
}

// ---- sample documents ----

const SHA = 'caf90169eefa5f807d577486b9f795ab86ae2983c5c20806cff959117e90af18';
/** Annotated, so that object literals keep the literal type instead of widening to string. */
const V1: typeof API_VERSION = API_VERSION;
const head = <K extends Kind>(kind: K, name: string) => ({ apiVersion: V1, kind, metadata: { name } });

const fullHead = <K extends Kind>(kind: K, name: string) => ({
  apiVersion: V1,
  kind,
  metadata: { name, labels: { 'deployx.dev/tier': 'a_b.c', site: '' }, annotations: { note: 'any text: ok' } },
});

/** Documents with only what kinds.ts requires; the type checker rejects any optional key here. */
const MINIMAL_FLEET = { ...head('Fleet', 'acme'), spec: {} } satisfies OnlyRequired<FleetDoc>;
const MINIMAL_GROUP = { ...head('Group', 'web'), spec: {} } satisfies OnlyRequired<GroupDoc>;
const MINIMAL_DEVICE = { ...head('Device', 'web-01'), spec: {} } satisfies OnlyRequired<DeviceDoc>;
// `packages` needs one manager (minProperties): a Software with none could never be installed.
const MINIMAL_SOFTWARE = { ...head('Software', 'nginx'), spec: { packages: { apt: 'nginx' } } } satisfies SoftwareDoc;
const MINIMAL_FILE = {
  ...head('FileDeployment', 'motd'),
  spec: { path: '/etc/motd' },
} satisfies OnlyRequired<FileDeploymentDoc>;
const MINIMAL_SCRIPT = { ...head('Script', 'hello'), spec: { interpreter: 'sh' } } satisfies OnlyRequired<ScriptDoc>;
const MINIMAL_PROFILE = { ...head('Profile', 'web'), spec: { targets: [] } } satisfies OnlyRequired<ProfileDoc>;
const MINIMAL_IMAGE = {
  ...head('OSImage', 'debian-12'),
  spec: { installer: 'debian-preseed', os: { family: 'debian', version: '12' } },
} satisfies OnlyRequired<OSImageDoc>;

const MINIMAL: Record<Kind, AnyDoc> = {
  Fleet: MINIMAL_FLEET satisfies FleetDoc,
  Group: MINIMAL_GROUP satisfies GroupDoc,
  Device: MINIMAL_DEVICE satisfies DeviceDoc,
  Software: MINIMAL_SOFTWARE satisfies SoftwareDoc,
  FileDeployment: MINIMAL_FILE satisfies FileDeploymentDoc,
  Script: MINIMAL_SCRIPT satisfies ScriptDoc,
  Profile: MINIMAL_PROFILE satisfies ProfileDoc,
  OSImage: MINIMAL_IMAGE satisfies OSImageDoc,
};

/** Minimal nested objects (only their required keys) and where they go in a minimal document. */
const MINIMAL_PARTS: Array<{ what: string; kind: Kind; pointer: string; value: object }> = [
  { what: 'Notifier', kind: 'Fleet', pointer: '/spec/notifiers/0', value: { name: 'ops', type: 'webhook' } satisfies OnlyRequired<Notifier> },
  {
    what: 'MaintenanceWindow',
    kind: 'Fleet',
    pointer: '/spec/rollout/windows/0',
    value: { start: '22:00', end: '05:00' } satisfies OnlyRequired<MaintenanceWindow>,
  },
  {
    what: 'FactExpression',
    kind: 'Group',
    pointer: '/spec/selector/matchFacts/0',
    value: { key: 'os.family', operator: 'Exists' } satisfies OnlyRequired<FactExpression>,
  },
  { what: 'Artifact', kind: 'OSImage', pointer: '/spec/kernel', value: { sha256: SHA } satisfies OnlyRequired<Artifact> },
  {
    what: 'ProvisioningSpec',
    kind: 'Profile',
    pointer: '/spec/provisioning',
    value: { image: 'debian-12', tasks: [] } satisfies OnlyRequired<ProvisioningSpec>,
  },
  {
    what: 'ProvisioningTask',
    kind: 'Profile',
    pointer: '/spec/provisioning',
    value: { image: 'debian-12', tasks: [{ type: 'reboot' } satisfies OnlyRequired<ProvisioningTask>] },
  },
  {
    what: 'RunPolicy {every}',
    kind: 'Script',
    pointer: '/spec/run',
    value: { every: '1h' } satisfies OnlyRequired<Extract<RunPolicy, object>>,
  },
];

const FULL_ARTIFACT = {
  url: 'https://images.example.com/boot.wim',
  source: 'images/boot.wim',
  sha256: SHA,
  size: 1024,
} satisfies Artifact;

const FULL_ROLLOUT = {
  waves: [
    {
      name: 'canary',
      size: 1,
      group: 'canaries',
      selector: {
        matchLabels: { site: 'berlin' },
        matchFacts: [{ key: 'os.version', operator: 'In', values: ['12'] }],
      },
      manualPromotion: true,
      failureThreshold: 0,
    },
    { size: '10%', failureThreshold: '5%' },
    { size: 'rest' },
  ],
  maxParallel: '25%',
  failureThreshold: 3,
  pauseBetweenWaves: '10m',
  offlineTimeout: '1h30m',
  retries: 0,
  windows: [{ days: ['sat', 'sun'], start: '22:00', end: '05:00', timeZone: 'Europe/Berlin' }],
} satisfies RolloutPolicy;

/** Documents that set every field kinds.ts declares; the type checker rejects any other key. */
const FULL: Record<Kind, AnyDoc[]> = {
  Fleet: [
    {
      apiVersion: API_VERSION,
      kind: 'Fleet',
      metadata: { name: 'acme', labels: { 'deployx.dev/env': 'prod', tier: '' }, annotations: { 'owner': 'Team Ops <ops@example.com>' } },
      spec: {
        description: 'ACME',
        drift: 'report',
        rollout: FULL_ROLLOUT,
        agent: { reportInterval: '5m', heartbeatInterval: '30s' },
        notifiers: [
          { name: 'ops', type: 'slack', urlSecret: 'slack-url', signingSecret: 'hmac', events: ['rollout.halted'] },
          { name: 'audit', type: 'webhook', url: 'https://audit.example.com/hook', events: [...NOTIFIER_EVENTS] },
        ],
        provisioning: { menu: true, menuProfiles: ['web'] },
        enrollment: { autoApprove: 'never' },
        repoWebUrl: 'https://git.example.com/fleet/blob/{oid}/{path}#L{line}',
      },
    } satisfies FleetDoc,
  ],
  Group: [
    {
      ...fullHead('Group', 'web'),
      spec: {
        description: 'web servers',
        selector: {
          matchLabels: { role: 'web' },
          matchFacts: [
            { key: 'network.macs', operator: 'DoesNotExist' },
            { key: 'os.family', operator: 'NotIn', values: ['windows', 'darwin'] },
          ],
        },
        devices: ['web-01', 'web-02'],
      },
    } satisfies GroupDoc,
  ],
  Device: [
    {
      ...fullHead('Device', 'web-01'),
      spec: {
        description: 'rack 4',
        hostname: 'web-01.example.com',
        macAddresses: ['52:54:00:12:34:56', 'AA-BB-CC-DD-EE-FF'],
        serial: 'CZ2034',
        uuid: '4c4c4544-0042-3510-8052-b4c04f333231',
        profile: 'web',
        firmware: 'efi',
      },
    } satisfies DeviceDoc,
  ],
  Software: [
    {
      ...fullHead('Software', 'nginx'),
      spec: {
        description: 'web server',
        packages: { apt: 'nginx', dnf: 'nginx', yum: 'nginx', zypper: 'nginx', choco: 'nginx', winget: 'nginx.nginx', brew: 'nginx' },
        version: '1.24.*',
        ensure: 'absent',
        prune: true,
      },
    } satisfies SoftwareDoc,
  ],
  FileDeployment: [
    {
      ...fullHead('FileDeployment', 'motd'),
      spec: {
        description: 'message of the day',
        path: '/etc/motd',
        source: 'files/motd',
        content: 'hello\n',
        url: 'https://files.example.com/motd',
        sha256: SHA,
        mode: '0644',
        owner: 'root',
        group: 'root',
        ensure: 'present',
        prune: false,
      },
    } satisfies FileDeploymentDoc,
    { ...fullHead('FileDeployment', 'hosts-win'), spec: { path: 'C:\\Windows\\System32\\drivers\\etc\\hosts', content: '' } },
  ],
  Script: [
    {
      ...fullHead('Script', 'harden'),
      spec: {
        description: 'harden ssh',
        interpreter: 'bash',
        source: 'scripts/harden.sh',
        content: 'echo hi',
        run: { every: '6h' },
        onInterrupt: 'fail',
        check: 'true',
        timeoutSeconds: 60,
        successExitCodes: [0, 3010],
        env: { LC_ALL: 'C', _X: '' },
      },
    } satisfies ScriptDoc,
    { ...fullHead('Script', 'once'), spec: { interpreter: 'pwsh', content: 'Write-Host hi', run: 'once', onInterrupt: 'rerun' } } satisfies ScriptDoc,
  ],
  Profile: [
    {
      ...fullHead('Profile', 'web'),
      spec: {
        description: 'web role',
        targets: ['web'],
        software: ['nginx'],
        files: ['motd'],
        scripts: ['harden'],
        drift: 'enforce',
        rollout: FULL_ROLLOUT,
        provisioning: {
          image: 'debian-12',
          hostnamePattern: 'web-{site}-{seq:02}',
          locale: 'en_US.UTF-8',
          timeZone: 'Europe/Berlin',
          tasks: [
            { type: 'partition', name: 'disk', layout: 'efi-standard', disk: '/dev/nvme0n1', continueOnError: false },
            { type: 'run-script', script: 'harden' },
          ],
        },
      },
    } satisfies ProfileDoc,
  ],
  OSImage: [
    {
      ...fullHead('OSImage', 'win11'),
      spec: {
        description: 'Windows 11',
        installer: 'windows-wim',
        os: { family: 'windows', version: '11' },
        arch: 'x86_64',
        kernel: FULL_ARTIFACT,
        initrd: FULL_ARTIFACT,
        kernelArgs: 'quiet',
        wimboot: FULL_ARTIFACT,
        bootWim: { ...FULL_ARTIFACT, size: 0 },
        image: FULL_ARTIFACT,
      },
    } satisfies OSImageDoc,
  ],
};

// ---- tests ----

describe('schema files', () => {
  it('every schema compiles in strict mode and declares draft 2020-12 and its stable $id', () => {
    for (const [file, schema] of ALL_SCHEMAS) {
      assert.equal(schema.$schema, 'https://json-schema.org/draft/2020-12/schema', file);
      assert.equal(schema.$id, SCHEMA_BASE_URL + file, file);
      assert.equal(typeof ajv.getSchema(schema.$id!), 'function', file);
    }
    for (const kind of KINDS) assert.equal(schemaIdFor(kind), KIND_SCHEMAS[kind].$id);
  });

  it('a fresh strict Ajv without our formats refuses the schemas (formats are really checked)', () => {
    const bare = new Ajv2020({ strict: true, allowUnionTypes: true });
    assert.throws(() => bare.addSchema(COMMON_SCHEMA).compile(KIND_SCHEMAS.Device), /unknown format/);
  });

  it('index.ts imports exactly the *.schema.json files on disk, unchanged', () => {
    const onDisk = readdirSync(SCHEMAS_DIR).filter((f) => f.endsWith('.schema.json')).sort();
    assert.deepEqual(onDisk, ALL_SCHEMAS.map(([f]) => f).sort());
    for (const [file, schema] of ALL_SCHEMAS) {
      assert.deepEqual(JSON.parse(readFileSync(new URL(file, SCHEMAS_DIR), 'utf8')), schema, file);
    }
  });

  it('every property and every $def has a description', () => {
    const missing: string[] = [];
    for (const [file, schema] of ALL_SCHEMAS) {
      for (const { s, pointer, isProperty } of walk(schema)) {
        const isDef = /\/\$defs\/[^/]+$/.test(pointer);
        if ((isProperty || isDef) && (typeof s.description !== 'string' || s.description.trim() === '')) {
          missing.push(`${file}#${pointer}`);
        }
      }
    }
    assert.deepEqual(missing, []);
  });

  it('every object schema is closed unless it is a declared free map', () => {
    const open: string[] = [];
    const freeMaps: string[] = [];
    for (const [file, schema] of ALL_SCHEMAS) {
      for (const { s, pointer, name } of walk(schema)) {
        if (s.type !== 'object') continue;
        if (FREE_MAPS.has(name) && s.properties === undefined) {
          freeMaps.push(name);
          assert.equal(typeof s.additionalProperties, 'object', `${file}#${pointer}: a free map constrains its values`);
        } else if (s.additionalProperties !== false) {
          open.push(`${file}#${pointer}`);
        }
      }
    }
    assert.deepEqual(open, []);
    assert.deepEqual([...new Set(freeMaps)].sort(), ['annotations', 'env', 'labels']);
  });

  it('every $ref resolves', () => {
    for (const kind of KINDS) assert.ok(collectSchemaFields(kind).length > 0);
    for (const [file, schema] of ALL_SCHEMAS) {
      for (const { s, pointer } of walk(schema)) {
        if (s.$ref === undefined) continue;
        const [id, frag = ''] = s.$ref.split('#');
        const target = id === '' ? schema : ALL_SCHEMAS.find(([, x]) => x.$id === id)?.[1];
        assert.ok(target !== undefined, `${file}#${pointer}: unknown schema ${id}`);
        schemaAt(target, frag);
      }
    }
  });
});

describe('kinds.ts and the schemas agree', () => {
  it('every kind has a whole-document schema with its kind const', () => {
    assert.deepEqual(Object.keys(KIND_SCHEMAS).sort(), [...KINDS].sort());
    for (const kind of KINDS) {
      const s = KIND_SCHEMAS[kind];
      assert.equal(s.title, kind);
      assert.equal(s.properties?.kind?.const, kind);
      assert.deepEqual(s.required, ['apiVersion', 'kind', 'metadata', 'spec']);
      assert.equal(s.additionalProperties, false);
    }
    assert.equal(schemaAt(COMMON_SCHEMA, '/$defs/apiVersion').const, API_VERSION);
  });

  it('a minimal document of each kind is valid', () => {
    for (const kind of KINDS) assert.deepEqual(summarize(errorsOf(kind, MINIMAL[kind])), '', kind);
  });

  it('the schema requires every key a minimal document has (required sets match kinds.ts)', () => {
    const cases: Array<{ what: string; kind: Kind; doc: unknown; under: string }> = [
      ...KINDS.map((kind) => ({ what: kind, kind, doc: MINIMAL[kind], under: '' })),
      ...MINIMAL_PARTS.map((p) => ({
        what: p.what,
        kind: p.kind,
        doc: withChange(MINIMAL[p.kind], p.pointer, p.value),
        under: p.pointer,
      })),
    ];
    for (const c of cases) {
      assert.deepEqual(summarize(errorsOf(c.kind, c.doc)), '', `${c.what} is valid`);
      let node: unknown = c.doc;
      for (const t of c.under.split('/').slice(1)) node = (node as Record<string, unknown>)[t];
      const keysHere = (p: string, v: unknown): string[] =>
        typeof v === 'object' && v !== null && !Array.isArray(v)
          ? Object.entries(v).flatMap(([k, x]) => [`${p}/${k}`, ...keysHere(`${p}/${k}`, x)])
          : Array.isArray(v)
            ? v.flatMap((x, i) => keysHere(`${p}/${i}`, x))
            : [];
      for (const pointer of keysHere(c.under, node)) {
        const errors = errorsOf(c.kind, withChange(c.doc, pointer, REMOVE));
        const parent = pointer.slice(0, pointer.lastIndexOf('/'));
        const key = pointer.slice(pointer.lastIndexOf('/') + 1);
        assert.ok(
          errors.some((e) => e.keyword === 'required' && e.instancePath === parent && e.params.missingProperty === key) ||
            // The last key of an object that needs at least one (Software `packages`).
            errors.some((e) => e.keyword === 'minProperties' && e.instancePath === parent),
          `${c.what}: removing ${pointer} should fail with required, got:\n${summarize(errors)}`,
        );
      }
    }
  });

  it('full documents setting every kinds.ts field are valid', () => {
    for (const kind of KINDS) {
      for (const doc of FULL[kind]) assert.deepEqual(summarize(errorsOf(kind, doc)), '', `${kind} ${doc.metadata.name}`);
    }
  });

  it('every schema field is set by a full (type-checked) document, so the schema has no field kinds.ts lacks', () => {
    for (const kind of KINDS) {
      const covered = new Set<string>();
      for (const doc of FULL[kind]) for (const p of dataPaths(doc)) covered.add(p);
      const uncovered = collectSchemaFields(kind)
        .map((f) => f.path)
        .filter((p) => !covered.has(p));
      assert.deepEqual(uncovered, [], kind);
    }
  });

  it('enums match the constants and unions of kinds.ts', () => {
    const common = COMMON_SCHEMA;
    const fleet = KIND_SCHEMAS.Fleet;
    const profile = KIND_SCHEMAS.Profile;
    const cases: Array<[string, JsonSchema, readonly string[]]> = [
      ['operator', schemaAt(common, '/$defs/factExpression/properties/operator'), FACT_OPERATORS],
      ['notifier events', schemaAt(fleet, '/$defs/notifier/properties/events/items'), NOTIFIER_EVENTS],
      ['interpreter', schemaAt(KIND_SCHEMAS.Script, '/properties/spec/properties/interpreter'), INTERPRETERS],
      ['onInterrupt', schemaAt(KIND_SCHEMAS.Script, '/properties/spec/properties/onInterrupt'), ON_INTERRUPT],
      ['task type', schemaAt(profile, '/$defs/provisioningTask/properties/type'), PROVISIONING_TASK_TYPES],
      ['installer', schemaAt(KIND_SCHEMAS.OSImage, '/properties/spec/properties/installer'), INSTALLER_KINDS],
      ['drift', schemaAt(common, '/$defs/drift'), everyValueOf<DriftMode>()(['enforce', 'report'])],
      ['ensure', schemaAt(common, '/$defs/ensure'), everyValueOf<Ensure>()(['present', 'absent'])],
      [
        'days',
        schemaAt(common, '/$defs/maintenanceWindow/properties/days/items'),
        everyValueOf<NonNullable<MaintenanceWindow['days']>[number]>()(['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun']),
      ],
      ['notifier type', schemaAt(fleet, '/$defs/notifier/properties/type'), everyValueOf<Notifier['type']>()(['webhook', 'slack', 'teams'])],
      [
        'layout',
        schemaAt(profile, '/$defs/provisioningTask/properties/layout'),
        everyValueOf<NonNullable<ProvisioningTask['layout']>>()(['single', 'lvm', 'efi-standard', 'windows-standard']),
      ],
      [
        'firmware',
        schemaAt(KIND_SCHEMAS.Device, '/properties/spec/properties/firmware'),
        everyValueOf<NonNullable<DeviceSpec['firmware']>>()(['bios', 'efi']),
      ],
      [
        'arch',
        schemaAt(KIND_SCHEMAS.OSImage, '/properties/spec/properties/arch'),
        everyValueOf<NonNullable<OSImageSpec['arch']>>()(['x86_64', 'arm64']),
      ],
      [
        'run',
        schemaAt(KIND_SCHEMAS.Script, '/$defs/runPolicy/anyOf/0'),
        everyValueOf<Exclude<RunPolicy, object>>()(['once', 'onChange', 'always']),
      ],
    ];
    for (const [what, schema, values] of cases) assert.deepEqual(sorted(schema.enum), sorted(values), what);
    const packages = schemaAt(KIND_SCHEMAS.Software, '/properties/spec/properties/packages');
    assert.deepEqual(sorted(Object.keys(packages.properties ?? {})), sorted(PACKAGE_MANAGERS));
  });

  it('documents the defaults kinds.ts and the design give', () => {
    const spec = (kind: Kind, field: string) => schemaAt(KIND_SCHEMAS[kind], `/properties/spec/properties/${field}`).default;
    assert.equal(spec('Fleet', 'drift'), 'enforce');
    assert.equal(spec('Profile', 'drift'), 'enforce');
    assert.equal(spec('Software', 'ensure'), 'present');
    assert.equal(spec('FileDeployment', 'ensure'), 'present');
    assert.equal(spec('Software', 'prune'), false);
    assert.equal(spec('FileDeployment', 'prune'), true);
    assert.equal(spec('Script', 'run'), 'onChange');
    assert.equal(spec('Script', 'timeoutSeconds'), 300);
    assert.deepEqual(spec('Script', 'successExitCodes'), [0]);
    assert.equal(schemaAt(COMMON_SCHEMA, '/$defs/rolloutPolicy/properties/retries').default, 2);
    assert.equal(schemaAt(COMMON_SCHEMA, '/$defs/maintenanceWindow/properties/timeZone').default, 'UTC');
  });

  it('validates defaults against their own schemas', () => {
    for (const kind of KINDS) {
      for (const field of collectSchemaFields(kind)) {
        if (field.at.schema.default === undefined) continue;
        const { default: dflt, ...schema } = field.at.schema;
        const check = ajv.compile(schema);
        assert.ok(check(dflt), `${kind} ${field.path} default ${JSON.stringify(dflt)}`);
      }
    }
  });
});

describe('formats', () => {
  const CASES: Record<FormatName, { valid: string[]; invalid: string[] }> = {
    mac: {
      valid: ['aa:bb:cc:dd:ee:ff', 'AA:BB:CC:DD:EE:FF', '52-54-00-12-34-56', 'aA:0b:Cc:dd:ee:f0'],
      invalid: ['', 'aa:bb:cc:dd:ee', 'aa:bb:cc:dd:ee:ff:00', 'aa:bb-cc:dd:ee:ff', 'aabbccddeeff', 'gg:bb:cc:dd:ee:ff', 'aa.bb.cc.dd.ee.ff', ' aa:bb:cc:dd:ee:ff', 'a:bb:cc:dd:ee:ff'],
    },
    'octal-mode': {
      valid: ['644', '0644', '0755', '4755', '0000'],
      invalid: ['', '64', '06444', '0844', '0o644', 'rw-r--r--', ' 644'],
    },
    sha256: {
      valid: [SHA, '0'.repeat(64)],
      invalid: ['', SHA.toUpperCase(), SHA.slice(1), `${SHA}0`, `${SHA.slice(1)}g`, `sha256:${SHA}`],
    },
    duration: {
      valid: ['30s', '5m', '2h', '7d', '1h30m', '1d2h3m4s', '90m', '0h30m', '30ms'],
      invalid: ['', '0s', '0m0s', '5x', '5', 'm', '1.5h', '30m1h', '1h1h', '-5m', ' 5m', '5M', '99999999999999999999d'],
    },
    'clock-time': {
      valid: ['00:00', '09:30', '12:00', '23:59'],
      invalid: ['', '24:00', '9:30', '12:60', '12:5', '12:30:00', '1230', 'noon'],
    },
  };

  it('has a case table for every custom format', () => {
    assert.deepEqual(Object.keys(CASES).sort(), Object.keys(FORMATS).sort());
  });

  for (const [name, { valid, invalid }] of Object.entries(CASES) as Array<[FormatName, { valid: string[]; invalid: string[] }]>) {
    it(`${name}: the pure check and the registered Ajv format agree on every case`, () => {
      const viaAjv = ajv.compile({ type: 'string', format: name });
      for (const s of valid) {
        assert.equal(checkFormat(name, s), true, `${name} accepts ${JSON.stringify(s)}`);
        assert.equal(viaAjv(s), true, `Ajv ${name} accepts ${JSON.stringify(s)}`);
      }
      for (const s of invalid) {
        assert.equal(checkFormat(name, s), false, `${name} rejects ${JSON.stringify(s)}`);
        assert.equal(viaAjv(s), false, `Ajv ${name} rejects ${JSON.stringify(s)}`);
      }
    });
  }

  it('registers the standard formats the schemas use', () => {
    const samples: Record<(typeof STANDARD_FORMATS)[number], [valid: string, invalid: string]> = {
      uri: ['https://example.com/a?b=c', 'example.com/a'],
      hostname: ['web-01.example.com', 'web_01'],
      uuid: ['4c4c4544-0042-3510-8052-b4c04f333231', '4c4c4544-0042'],
    };
    for (const name of STANDARD_FORMATS) {
      const check = ajv.compile({ type: 'string', format: name });
      assert.equal(check(samples[name][0]), true, name);
      assert.equal(check(samples[name][1]), false, name);
    }
  });
});

describe('sample documents', () => {
  interface Case {
    name: string;
    kind: Kind;
    pointer: string;
    value: unknown;
    keyword: string;
    at: string;
    params?: Record<string, unknown>;
  }
  const CASES: Case[] = [
    // envelope
    { name: 'wrong apiVersion', kind: 'Group', pointer: '/apiVersion', value: 'deployx.dev/v2', keyword: 'const', at: '/apiVersion' },
    { name: 'kind of another schema', kind: 'Group', pointer: '/kind', value: 'Device', keyword: 'const', at: '/kind' },
    { name: 'missing metadata', kind: 'Group', pointer: '/metadata', value: REMOVE, keyword: 'required', at: '', params: { missingProperty: 'metadata' } },
    { name: 'missing spec', kind: 'Fleet', pointer: '/spec', value: REMOVE, keyword: 'required', at: '', params: { missingProperty: 'spec' } },
    { name: 'unknown top-level key', kind: 'Group', pointer: '/specs', value: {}, keyword: 'additionalProperties', at: '', params: { additionalProperty: 'specs' } },
    { name: 'unknown metadata key', kind: 'Group', pointer: '/metadata/label', value: {}, keyword: 'additionalProperties', at: '/metadata', params: { additionalProperty: 'label' } },
    { name: 'uppercase name', kind: 'Group', pointer: '/metadata/name', value: 'Web', keyword: 'pattern', at: '/metadata/name' },
    { name: 'name ending in a dash', kind: 'Group', pointer: '/metadata/name', value: 'web-', keyword: 'pattern', at: '/metadata/name' },
    { name: 'name of 64 characters', kind: 'Group', pointer: '/metadata/name', value: 'a'.repeat(64), keyword: 'maxLength', at: '/metadata/name' },
    { name: 'label key with a space', kind: 'Group', pointer: '/metadata/labels', value: { 'a b': 'x' }, keyword: 'propertyNames', at: '/metadata/labels' },
    { name: 'label value with a space', kind: 'Group', pointer: '/metadata/labels', value: { site: 'new york' }, keyword: 'pattern', at: '/metadata/labels/site' },
    { name: 'label value as a number', kind: 'Device', pointer: '/metadata/labels', value: { rack: 4 }, keyword: 'type', at: '/metadata/labels/rack' },
    // Fleet
    { name: 'drift typo', kind: 'Fleet', pointer: '/spec/drift', value: 'enforced', keyword: 'enum', at: '/spec/drift' },
    { name: 'unknown spec key', kind: 'Fleet', pointer: '/spec/notifier', value: [], keyword: 'additionalProperties', at: '/spec', params: { additionalProperty: 'notifier' } },
    { name: 'duration without unit', kind: 'Fleet', pointer: '/spec/rollout/pauseBetweenWaves', value: '10', keyword: 'format', at: '/spec/rollout/pauseBetweenWaves', params: { format: 'duration' } },
    { name: 'zero duration', kind: 'Fleet', pointer: '/spec/agent/reportInterval', value: '0s', keyword: 'format', at: '/spec/agent/reportInterval' },
    { name: 'window at 24:00', kind: 'Fleet', pointer: '/spec/rollout/windows/0', value: { start: '24:00', end: '01:00' }, keyword: 'format', at: '/spec/rollout/windows/0/start', params: { format: 'clock-time' } },
    { name: 'window day typo', kind: 'Fleet', pointer: '/spec/rollout/windows/0', value: { days: ['monday'], start: '01:00', end: '02:00' }, keyword: 'enum', at: '/spec/rollout/windows/0/days/0' },
    { name: 'percentage without %', kind: 'Fleet', pointer: '/spec/rollout/maxParallel', value: '25', keyword: 'anyOf', at: '/spec/rollout/maxParallel' },
    { name: 'negative count', kind: 'Fleet', pointer: '/spec/rollout/failureThreshold', value: -1, keyword: 'anyOf', at: '/spec/rollout/failureThreshold' },
    { name: 'retries not an integer', kind: 'Fleet', pointer: '/spec/rollout/retries', value: 1.5, keyword: 'type', at: '/spec/rollout/retries' },
    { name: 'notifier without type', kind: 'Fleet', pointer: '/spec/notifiers/0', value: { name: 'ops' }, keyword: 'required', at: '/spec/notifiers/0', params: { missingProperty: 'type' } },
    { name: 'unknown notifier event', kind: 'Fleet', pointer: '/spec/notifiers/0', value: { name: 'ops', type: 'slack', events: ['rollout.started'] }, keyword: 'enum', at: '/spec/notifiers/0/events/0' },
    { name: 'notifier url not a URI', kind: 'Fleet', pointer: '/spec/notifiers/0', value: { name: 'ops', type: 'webhook', url: 'hooks.example.com' }, keyword: 'format', at: '/spec/notifiers/0/url', params: { format: 'uri' } },
    // Group
    { name: 'operator in lowercase', kind: 'Group', pointer: '/spec/selector/matchFacts/0', value: { key: 'os.family', operator: 'in', values: ['debian'] }, keyword: 'enum', at: '/spec/selector/matchFacts/0/operator' },
    { name: 'fact value as a number', kind: 'Group', pointer: '/spec/selector/matchFacts/0', value: { key: 'os.version', operator: 'In', values: [22.04] }, keyword: 'type', at: '/spec/selector/matchFacts/0/values/0' },
    { name: 'selector typo', kind: 'Group', pointer: '/spec/selector/matchLabel', value: {}, keyword: 'additionalProperties', at: '/spec/selector', params: { additionalProperty: 'matchLabel' } },
    { name: 'duplicate device', kind: 'Group', pointer: '/spec/devices', value: ['a', 'a'], keyword: 'uniqueItems', at: '/spec/devices' },
    // Device
    { name: 'short MAC', kind: 'Device', pointer: '/spec/macAddresses', value: ['aa:bb:cc:dd:ee'], keyword: 'format', at: '/spec/macAddresses/0', params: { format: 'mac' } },
    { name: 'MAC with mixed separators', kind: 'Device', pointer: '/spec/macAddresses', value: ['aa:bb-cc:dd:ee:ff'], keyword: 'format', at: '/spec/macAddresses/0' },
    { name: 'firmware uefi', kind: 'Device', pointer: '/spec/firmware', value: 'uefi', keyword: 'enum', at: '/spec/firmware' },
    { name: 'bad uuid', kind: 'Device', pointer: '/spec/uuid', value: 'not-a-uuid', keyword: 'format', at: '/spec/uuid', params: { format: 'uuid' } },
    { name: 'hostname with underscore', kind: 'Device', pointer: '/spec/hostname', value: 'web_01', keyword: 'format', at: '/spec/hostname', params: { format: 'hostname' } },
    // Software
    { name: 'unknown package manager', kind: 'Software', pointer: '/spec/packages/npm', value: 'x', keyword: 'additionalProperties', at: '/spec/packages', params: { additionalProperty: 'npm' } },
    { name: 'missing packages', kind: 'Software', pointer: '/spec/packages', value: REMOVE, keyword: 'required', at: '/spec', params: { missingProperty: 'packages' } },
    { name: 'unquoted version', kind: 'Software', pointer: '/spec/version', value: 1.24, keyword: 'type', at: '/spec/version' },
    { name: 'ensure installed', kind: 'Software', pointer: '/spec/ensure', value: 'installed', keyword: 'enum', at: '/spec/ensure' },
    // FileDeployment
    { name: 'unquoted mode', kind: 'FileDeployment', pointer: '/spec/mode', value: 644, keyword: 'type', at: '/spec/mode' },
    { name: 'non-octal mode', kind: 'FileDeployment', pointer: '/spec/mode', value: '0844', keyword: 'format', at: '/spec/mode', params: { format: 'octal-mode' } },
    { name: 'relative path', kind: 'FileDeployment', pointer: '/spec/path', value: 'etc/motd', keyword: 'pattern', at: '/spec/path' },
    { name: 'uppercase sha256', kind: 'FileDeployment', pointer: '/spec/sha256', value: SHA.toUpperCase(), keyword: 'format', at: '/spec/sha256', params: { format: 'sha256' } },
    { name: 'prune as a string', kind: 'FileDeployment', pointer: '/spec/prune', value: 'yes', keyword: 'type', at: '/spec/prune' },
    // Script
    { name: 'unknown interpreter', kind: 'Script', pointer: '/spec/interpreter', value: 'zsh', keyword: 'enum', at: '/spec/interpreter' },
    { name: 'run typo', kind: 'Script', pointer: '/spec/run', value: 'onchange', keyword: 'anyOf', at: '/spec/run' },
    { name: 'run every zero', kind: 'Script', pointer: '/spec/run', value: { every: '0s' }, keyword: 'format', at: '/spec/run/every' },
    { name: 'run with unknown key', kind: 'Script', pointer: '/spec/run', value: { every: '1h', at: '02:00' }, keyword: 'additionalProperties', at: '/spec/run' },
    { name: 'timeout zero', kind: 'Script', pointer: '/spec/timeoutSeconds', value: 0, keyword: 'minimum', at: '/spec/timeoutSeconds' },
    { name: 'no success exit codes', kind: 'Script', pointer: '/spec/successExitCodes', value: [], keyword: 'minItems', at: '/spec/successExitCodes' },
    { name: 'env name with a dash', kind: 'Script', pointer: '/spec/env', value: { 'MY-VAR': 'x' }, keyword: 'propertyNames', at: '/spec/env' },
    { name: 'env value as a number', kind: 'Script', pointer: '/spec/env', value: { PORT: 8080 }, keyword: 'type', at: '/spec/env/PORT' },
    // Profile
    { name: 'missing targets', kind: 'Profile', pointer: '/spec/targets', value: REMOVE, keyword: 'required', at: '/spec', params: { missingProperty: 'targets' } },
    { name: 'target not a name', kind: 'Profile', pointer: '/spec/targets', value: ['Web Servers'], keyword: 'pattern', at: '/spec/targets/0' },
    { name: 'wave size 110 without %', kind: 'Profile', pointer: '/spec/rollout', value: { waves: [{ size: '110' }] }, keyword: 'anyOf', at: '/spec/rollout/waves/0/size' },
    { name: 'wave size zero', kind: 'Profile', pointer: '/spec/rollout', value: { waves: [{ size: 0 }] }, keyword: 'anyOf', at: '/spec/rollout/waves/0/size' },
    { name: 'provisioning without image', kind: 'Profile', pointer: '/spec/provisioning', value: { tasks: [] }, keyword: 'required', at: '/spec/provisioning', params: { missingProperty: 'image' } },
    { name: 'unknown task type', kind: 'Profile', pointer: '/spec/provisioning', value: { image: 'x', tasks: [{ type: 'format-disk' }] }, keyword: 'enum', at: '/spec/provisioning/tasks/0/type' },
    { name: 'unknown task key', kind: 'Profile', pointer: '/spec/provisioning', value: { image: 'x', tasks: [{ type: 'partition', disks: ['/dev/sda'] }] }, keyword: 'additionalProperties', at: '/spec/provisioning/tasks/0', params: { additionalProperty: 'disks' } },
    // OSImage
    { name: 'unknown installer', kind: 'OSImage', pointer: '/spec/installer', value: 'kickstart', keyword: 'enum', at: '/spec/installer' },
    { name: 'unquoted OS version', kind: 'OSImage', pointer: '/spec/os/version', value: 12, keyword: 'type', at: '/spec/os/version' },
    { name: 'artifact without sha256', kind: 'OSImage', pointer: '/spec/kernel', value: { url: 'https://x.example/linux' }, keyword: 'required', at: '/spec/kernel', params: { missingProperty: 'sha256' } },
    { name: 'arch amd64', kind: 'OSImage', pointer: '/spec/arch', value: 'amd64', keyword: 'enum', at: '/spec/arch' },
  ];

  for (const c of CASES) {
    it(`${c.kind}: ${c.name} → ${c.keyword} at ${c.at || '/'}`, () => {
      const errors = errorsOf(c.kind, withChange(MINIMAL[c.kind], c.pointer, c.value));
      const match = errors.find((e) => e.keyword === c.keyword && e.instancePath === c.at);
      assert.ok(match, `expected ${c.keyword} at ${c.at || '/'}, got:\n${summarize(errors)}`);
      for (const [k, v] of Object.entries(c.params ?? {})) assert.deepEqual((match.params as Record<string, unknown>)[k], v, k);
    });
  }

  it('leaves cross-field rules to the validator: the schema accepts what only they reject', () => {
    const both = withChange(MINIMAL.FileDeployment, '/spec', { path: '/etc/motd', source: 'a', content: 'b' });
    const neither = withChange(MINIMAL.Script, '/spec', { interpreter: 'sh' });
    const existsWithValues = withChange(MINIMAL.Group, '/spec/selector/matchFacts/0', { key: 'a', operator: 'Exists', values: ['x'] });
    const inWithoutValues = withChange(MINIMAL.Group, '/spec/selector/matchFacts/0', { key: 'a', operator: 'In' });
    assert.deepEqual(summarize(errorsOf('FileDeployment', both)), '');
    assert.deepEqual(summarize(errorsOf('Script', neither)), '');
    assert.deepEqual(summarize(errorsOf('Group', existsWithValues)), '');
    assert.deepEqual(summarize(errorsOf('Group', inWithoutValues)), '');
  });

  it('reports every error of a document at once', () => {
    const doc = withChange(withChange(MINIMAL.Device, '/spec/firmware', 'uefi'), '/spec/macAddresses', ['nope']);
    const keywords = errorsOf('Device', doc).map((e) => `${e.instancePath} ${e.keyword}`).sort();
    assert.deepEqual(keywords, ['/spec/firmware enum', '/spec/macAddresses/0 format']);
  });

  it('puts the allowed properties on an additionalProperties error (for "did you mean")', () => {
    const [error] = errorsOf('Software', withChange(MINIMAL.Software, '/spec/packges', {}));
    assert.equal(error?.keyword, 'additionalProperties');
    assert.ok(Object.keys((error?.parentSchema as JsonSchema).properties ?? {}).includes('packages'));
  });
});
