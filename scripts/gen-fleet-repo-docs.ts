// Generates docs/fleet-repo.md, the reference of every fleet-repository kind and field, from the
// JSON Schemas in schemas/. The schemas are the single source: descriptions, types, required
// fields, defaults, enums, patterns and formats all come from them; only the intro and the
// example documents live here (and the examples are validated against the schemas by the test).
//
//   node --import tsx scripts/gen-fleet-repo-docs.ts           write docs/fleet-repo.md
//   node --import tsx scripts/gen-fleet-repo-docs.ts --check   exit 1 when it is out of date
//
// `generateFleetRepoDocs()` is pure and deterministic: same schemas, same bytes.
import { readFile, writeFile } from 'node:fs/promises';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { API_VERSION, KINDS, type Kind } from '../schemas/kinds.ts';
import {
  COMMON_SCHEMA,
  KIND_SCHEMAS,
  SCHEMA_BASE_URL,
  schemaIdFor,
  type JsonSchema,
} from '../schemas/index.ts';
import { collectSchemaFields, derefSchema, type SchemaAt } from '../schemas/schema-fields.ts';

export const DOCS_PATH = fileURLToPath(new URL('../docs/fleet-repo.md', import.meta.url));
const DOCS_DISPLAY_PATH = 'docs/fleet-repo.md';

// ---- examples ----

const EXAMPLE_BODIES: Readonly<Record<Kind, string>> = {
  Fleet: `metadata:
  name: acme
spec:
  description: ACME production fleet
  drift: enforce
  rollout:
    maxParallel: 25%
    failureThreshold: 10%
    pauseBetweenWaves: 10m
    offlineTimeout: 2h
    retries: 2
    windows:
      - days: [mon, tue, wed, thu, fri]
        start: "22:00"
        end: "05:00"
        timeZone: Europe/Berlin
  agent:
    reportInterval: 5m
    heartbeatInterval: 30s
  notifiers:
    - name: ops-slack
      type: slack
      urlSecret: slack-ops-webhook
      events: [revision.rejected, rollout.halted, rollout.failed, device.failed]
    - name: audit
      type: webhook
      url: https://audit.example.com/deployx
      signingSecret: audit-hmac
  provisioning:
    menu: true
    menuProfiles: [web-server]
  repoWebUrl: https://git.example.com/acme/fleet/src/commit/{oid}/{path}#L{line}
`,
  Group: `metadata:
  name: web-berlin
spec:
  description: Debian and Ubuntu web servers in Berlin
  selector:
    matchLabels:
      role: web
      site: berlin
    matchFacts:
      - key: os.family
        operator: In
        values: [debian, ubuntu]
      - key: network.macs
        operator: Exists
  devices: [web-ber-legacy]
`,
  Device: `metadata:
  name: web-ber-01
  labels:
    role: web
    site: berlin
spec:
  hostname: web-ber-01.example.com
  macAddresses: ["52:54:00:12:34:56"]
  serial: CZ2034ABCD
  profile: web-server
  firmware: efi
`,
  Software: `metadata:
  name: nginx
spec:
  description: NGINX web server
  packages:
    apt: nginx
    dnf: nginx
    zypper: nginx
    choco: nginx
    brew: nginx
  version: "1.24.*"
  ensure: present
  prune: true
`,
  FileDeployment: `metadata:
  name: nginx-conf
spec:
  path: /etc/nginx/nginx.conf
  source: files/nginx/nginx.conf
  mode: "0644"
  owner: root
  group: root
`,
  Script: `metadata:
  name: harden-ssh
spec:
  description: Forbid root logins over SSH
  interpreter: bash
  content: |
    set -eu
    sed -i 's/^#\\?PermitRootLogin.*/PermitRootLogin no/' /etc/ssh/sshd_config
    systemctl reload ssh
  check: grep -q '^PermitRootLogin no' /etc/ssh/sshd_config
  run:
    every: 6h
  timeoutSeconds: 120
  env:
    LC_ALL: C
`,
  Profile: `metadata:
  name: web-server
spec:
  description: Public web servers
  targets: [web-berlin]
  software: [nginx]
  files: [nginx-conf]
  scripts: [harden-ssh]
  drift: enforce
  rollout:
    waves:
      - name: canary
        size: 1
      - name: berlin
        group: web-berlin
        size: 50%
        manualPromotion: true
      - name: everyone-else
        size: rest
    maxParallel: 5
    failureThreshold: 1
  provisioning:
    image: debian-12
    hostnamePattern: "web-{site}-{seq:02}"
    locale: en_US.UTF-8
    timeZone: Europe/Berlin
    tasks:
      - type: partition
        layout: lvm
      - type: apply-image
      - type: inject-config
      - type: install-agent
      - type: run-script
        script: harden-ssh
      - type: reboot
`,
  OSImage: `metadata:
  name: debian-12
spec:
  installer: debian-preseed
  os:
    family: debian
    version: "12"
  arch: x86_64
  kernel:
    url: https://deb.debian.org/debian/dists/bookworm/main/installer-amd64/current/images/netboot/debian-installer/amd64/linux
    sha256: caf90169eefa5f807d577486b9f795ab86ae2983c5c20806cff959117e90af18
  initrd:
    source: images/debian-12/initrd.gz
    sha256: d53a9f04c1d9900db66c900b10411e68f3b434e5b5e91804b192c2c211133beb
  kernelArgs: priority=critical
`,
};

/** An example document of `kind` as YAML, with the editor-validation comment on top. */
export function exampleFor(kind: Kind): string {
  return `${schemaComment(kind)}\napiVersion: ${API_VERSION}\nkind: ${kind}\n${EXAMPLE_BODIES[kind]}`;
}

function schemaComment(kind: Kind): string {
  return `# yaml-language-server: $schema=${schemaIdFor(kind)}`;
}

// ---- fields ----

/** One row of a kind's field table. */
export interface FieldRow {
  /** `spec.rollout.waves[].size` */
  path: string;
  type: string;
  /** Required inside its parent object. */
  required: boolean;
  default: unknown;
  description: string;
}

/** The field table of a kind: every field, depth first in schema order. */
export function collectFields(kind: Kind): FieldRow[] {
  return collectSchemaFields(kind).map(({ path, required, at }) => ({
    path,
    type: typeName(at.schema, at),
    required,
    default: at.schema.default,
    description: [at.schema.description ?? '', ...constraints(at.schema, at)].filter((t) => t !== '').join(' '),
  }));
}

function typeName(s: JsonSchema, at: SchemaAt): string {
  if (s.anyOf !== undefined) {
    const names = s.anyOf.map((branch) => {
      const b = derefSchema({ schema: branch, base: at.base });
      return typeName(b.schema, b);
    });
    return [...new Set(names)].join(' or ');
  }
  const type = Array.isArray(s.type) ? s.type.join(' or ') : s.type;
  if (type === 'array') {
    const items = s.items === undefined ? undefined : derefSchema({ schema: s.items, base: at.base });
    return `list of ${items === undefined ? 'any' : typeName(items.schema, items)}`;
  }
  if (type === 'object' && typeof s.additionalProperties === 'object') {
    const values = derefSchema({ schema: s.additionalProperties, base: at.base });
    return `map of ${typeName(values.schema, values)}`;
  }
  return type ?? 'any';
}

function code(value: string): string {
  return `\`${value}\``;
}

function formatValue(value: unknown): string {
  return typeof value === 'string' ? value : JSON.stringify(value);
}

/** Constraint sentences of a scalar schema (`One of ...`, `Format ...`, `Pattern ...`). */
function scalarConstraints(s: JsonSchema): string[] {
  const out: string[] = [];
  const constText = s.const === undefined ? undefined : code(formatValue(s.const));
  if (constText !== undefined && !(s.description ?? '').includes(constText)) out.push(`Value: ${constText}.`);
  if (s.enum !== undefined) out.push(`One of ${s.enum.map((v) => code(formatValue(v))).join(', ')}.`);
  if (s.format !== undefined) out.push(`Format ${formatLink(s.format)}.`);
  if (s.pattern !== undefined) out.push(`Pattern ${code(s.pattern)}.`);
  if (s.minimum !== undefined) out.push(`Minimum ${s.minimum}.`);
  if (s.minLength !== undefined && s.minLength > 1) out.push(`At least ${s.minLength} characters.`);
  if (s.minLength === 1) out.push('Not empty.');
  if (s.maxLength !== undefined) out.push(`At most ${s.maxLength} characters.`);
  if (s.minItems !== undefined) out.push(`At least ${s.minItems} item${s.minItems === 1 ? '' : 's'}.`);
  if (s.uniqueItems === true) out.push('No duplicates.');
  return out;
}

function constraints(s: JsonSchema, at: SchemaAt): string[] {
  if (s.anyOf !== undefined) {
    return s.anyOf.flatMap((branch) => {
      const b = derefSchema({ schema: branch, base: at.base });
      const inner = b.schema.type === 'object' ? [] : constraints(b.schema, b);
      return inner.length === 0 ? [] : [`As ${typeName(b.schema, b)}: ${uncapitalize(inner.join(' '))}`];
    });
  }
  const own = scalarConstraints(s);
  if (s.type === 'array' && s.items !== undefined) {
    const items = derefSchema({ schema: s.items, base: at.base });
    if (items.schema.type !== 'object') {
      const inner = constraints(items.schema, items);
      if (inner.length > 0) own.push(`Each item: ${uncapitalize(inner.join(' '))}`);
    }
  }
  if (s.type === 'object' && typeof s.additionalProperties === 'object') {
    if (s.propertyNames !== undefined) {
      const keys = derefSchema({ schema: s.propertyNames, base: at.base });
      const inner = constraints(keys.schema, keys);
      if (inner.length > 0) own.push(`Keys: ${uncapitalize(inner.join(' '))}`);
    }
    const values = derefSchema({ schema: s.additionalProperties, base: at.base });
    const inner = constraints(values.schema, values);
    if (inner.length > 0) own.push(`Values: ${uncapitalize(inner.join(' '))}`);
  }
  return own;
}

function uncapitalize(s: string): string {
  return s.length > 0 ? s[0]!.toLowerCase() + s.slice(1) : s;
}

const STANDARD_FORMAT_DOCS: Readonly<Record<string, string>> = {
  uri: 'An absolute URI with a scheme, e.g. `https://example.com/a`.',
  hostname: 'A host name per RFC 1123: dot-separated labels of letters, digits and `-`.',
  uuid: 'A UUID, e.g. `123e4567-e89b-12d3-a456-426614174000`.',
};

function formatAnchor(format: string): string {
  return `format-${format}`;
}

function formatLink(format: string): string {
  return `[${code(format)}](#${formatAnchor(format)})`;
}

// ---- rendering ----

function cell(text: string): string {
  return text.replaceAll('|', '\\|').replaceAll('\n', ' ');
}

function renderTable(rows: FieldRow[]): string {
  const lines = ['| Field | Type | Required | Default | Description |', '| --- | --- | --- | --- | --- |'];
  for (const r of rows) {
    const dflt = r.default === undefined ? '' : code(formatValue(r.default));
    lines.push(
      `| ${cell(code(r.path))} | ${cell(r.type)} | ${r.required ? 'yes' : ''} | ${cell(dflt)} | ${cell(r.description)} |`,
    );
  }
  return lines.join('\n');
}

function renderFormats(): string {
  const custom = Object.values(COMMON_SCHEMA.$defs ?? {})
    .filter((d) => d.format !== undefined)
    .map((d) => [d.format!, d.description ?? ''] as const);
  const standard = Object.entries(STANDARD_FORMAT_DOCS);
  const lines: string[] = [];
  for (const [format, text] of [...custom, ...standard].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    lines.push(`- <a id="${formatAnchor(format)}"></a>${code(format)}: ${text}`);
  }
  return lines.join('\n');
}

function renderKind(kind: Kind): string {
  const schema = KIND_SCHEMAS[kind];
  return [
    `## ${kind}`,
    '',
    schema.description ?? '',
    '',
    `Schema: ${code(schemaIdFor(kind))}`,
    '',
    renderTable(collectFields(kind)),
    '',
    'Example:',
    '',
    '```yaml',
    exampleFor(kind).trimEnd(),
    '```',
  ].join('\n');
}

/** The whole of docs/fleet-repo.md. */
export function generateFleetRepoDocs(): string {
  const toc = KINDS.map((k) => `[${code(k)}](#${k.toLowerCase()})`).join(' · ');
  const intro = `<!-- Generated by scripts/gen-fleet-repo-docs.ts from schemas/*.schema.json. Do not edit: run \`npm run docs\`. -->

# Fleet repository reference

A fleet repository holds YAML documents; every \`*.yaml\` / \`*.yml\` file under the configured
path is read, and a file may hold several documents separated by \`---\`. Folder layout is free.
Every document has the same envelope:

\`\`\`yaml
apiVersion: ${API_VERSION}
kind: <kind>
metadata:
  name: <name>          # unique per kind; DNS-label style, at most 63 characters
  labels: {}            # optional
  annotations: {}       # optional
spec: {}                # the kind's fields, below
\`\`\`

Kinds: ${toc}

## Validation

Each revision is validated as a whole before it is served; an invalid revision is rejected and
the last good one stays in effect. Validation has two stages, and every error of both is
reported at once with file, line, column and JSON path:

1. **Schema.** Each document is checked against its kind's JSON Schema (draft 2020-12) below.
   Unknown keys are errors (with a "did you mean" suggestion), as are wrong types, values
   outside an enum, and strings that do not match their pattern or format.
2. **Cross-references.** Names must resolve (groups, software, files, scripts, images, profiles,
   devices), \`source\` paths must exist in the revision, names and MAC addresses must be unique,
   and rules that involve several fields hold: exactly one of \`source\`, \`content\` or \`url\` on a
   FileDeployment (\`url\` with \`sha256\`), exactly one of \`source\` or \`content\` on a Script,
   \`values\` only and always with \`In\` / \`NotIn\`, exactly one of \`url\` or \`urlSecret\` on a
   notifier.

Run \`deployx validate [PATH]\` to validate a checkout locally.

**Quote scalars that YAML would read as something else.** The schemas want strings for
versions (\`"1.24"\`), file modes (\`"0644"\`), times (\`"22:00"\`), MAC addresses, label values such
as \`"true"\` and fact values such as \`"22.04"\`; unquoted, YAML turns them into numbers or booleans
and validation reports a type error.

**Defaults.** The *Default* column gives the built-in value used when a field is omitted.
Defaults are applied when the fleet is compiled, not written into your documents. A Profile's
\`drift\` and its \`rollout\` fields fall back to the Fleet's \`spec.drift\` and \`spec.rollout\` first.

**Required** means required inside its parent: \`spec.provisioning.image\` is required only when
\`spec.provisioning\` is given. In field paths, \`[]\` stands for every item of a list.

## Editor validation

Each schema's \`$id\` is its URL under \`${SCHEMA_BASE_URL}\`: one file per kind, all referencing
\`${SCHEMA_BASE_URL}common.schema.json\` (the files are \`schemas/*.schema.json\` in the DeployX
source). Editors that use
[yaml-language-server](https://github.com/redhat-developer/yaml-language-server) (VS Code with
the Red Hat YAML extension, Neovim, Helix, JetBrains IDEs) validate and complete a document when
its first line names its schema:

\`\`\`yaml
# yaml-language-server: $schema=${schemaIdFor('Profile')}
apiVersion: ${API_VERSION}
kind: Profile
\`\`\`

| Kind | Schema |
| --- | --- |
${KINDS.map((k) => `| ${code(k)} | ${code(schemaComment(k))} |`).join('\n')}

The editor fetches the schema and the common definitions from those URLs, so it must be able
to reach them. A file with several documents of different kinds can carry only one schema comment; validate
such files with \`deployx validate\`, or keep one kind per file for editor support.

## Formats

String formats used by the schemas:

${renderFormats()}
`;
  return `${intro}\n${KINDS.map(renderKind).join('\n\n')}\n`;
}

// ---- command line ----

/** Why `actual` (the file on disk, `undefined` when missing) is not `expected`; `undefined` when it is. */
export function describeStaleDocs(expected: string, actual: string | undefined): string | undefined {
  if (actual === expected) return undefined;
  const fix = `run \`npm run docs\` and commit ${DOCS_DISPLAY_PATH}.`;
  if (actual === undefined) return `${DOCS_DISPLAY_PATH} does not exist; ${fix}`;
  const a = actual.split('\n');
  const e = expected.split('\n');
  let line = 0;
  while (line < a.length && line < e.length && a[line] === e[line]) line++;
  return (
    `${DOCS_DISPLAY_PATH} is out of date with schemas/*.schema.json (first difference at line ${line + 1}); ${fix}\n` +
    `  on disk:   ${JSON.stringify(a[line] ?? '<end of file>')}\n` +
    `  generated: ${JSON.stringify(e[line] ?? '<end of file>')}`
  );
}

async function readIfExists(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/** Writes the docs, or with `--check` compares them; resolves to the process exit code. */
export async function runDocsGenerator(args: readonly string[], path: string = DOCS_PATH): Promise<number> {
  const unknown = args.filter((a) => a !== '--check');
  if (unknown.length > 0) {
    console.error(`unknown argument ${unknown[0]}; usage: gen-fleet-repo-docs [--check]`);
    return 2;
  }
  const expected = generateFleetRepoDocs();
  if (args.includes('--check')) {
    const problem = describeStaleDocs(expected, await readIfExists(path));
    if (problem !== undefined) {
      console.error(problem);
      return 1;
    }
    console.log(`${DOCS_DISPLAY_PATH} is up to date.`);
    return 0;
  }
  await writeFile(path, expected);
  console.log(`wrote ${DOCS_DISPLAY_PATH}`);
  return 0;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  process.exitCode = await runDocsGenerator(process.argv.slice(2));
}
