// The checks JSON Schema cannot express: unique names, references between documents, sources
// that must exist in the repository, unique MACs and hostnames, selector sanity, hostname
// patterns, provisioning and rollout shapes. Every check runs on schema-valid documents only,
// so the shapes below can be trusted; names of schema-invalid documents still count as defined,
// so one broken document does not cascade into "unknown reference" errors elsewhere.
import type {
  AnyDoc,
  DeviceDoc,
  FileDeploymentDoc,
  FleetDoc,
  GroupDoc,
  Kind,
  OSImageDoc,
  ProfileDoc,
  RolloutPolicy,
  ScriptDoc,
  Selector,
} from '../../../../schemas/kinds.ts';
import type { IssueCode } from '../errors.ts';
import type { ParsedDocument, RepoFile } from '../model.ts';
import { didYouMean, suggestionSuffix } from './did-you-mean.ts';
import { type IssueList, pointer } from './issues.ts';
import { timeZoneProblem } from './time-zone.ts';
import { checkOnce, type ValidationCache } from './validation-cache.ts';

export interface CheckedDocument {
  parsed: ParsedDocument;
  doc: AnyDoc;
}

export interface SemanticInput {
  /** Documents that passed their schema, in (file, index) order. */
  valid: CheckedDocument[];
  /** Names defined per kind, including documents that failed their schema. */
  defined: ReadonlyMap<Kind, ReadonlySet<string>>;
  /** Every path in the revision. */
  paths: ReadonlySet<string>;
  /** Hashes of the repository files documents name as `source` (OSImage artifacts are checked against them). */
  files?: ReadonlyMap<string, RepoFile>;
}

// Pointers every document of a kind needs, made once (the checks below run for 10,000s of documents).
const SPEC_PROFILE = pointer('spec', 'profile');
const SPEC_SOURCE = pointer('spec', 'source');

/**
 * Every check below. With a `cache`, the checks over many documents (unique names per kind, MACs
 * and hostnames of every device) replay their issues when none of their documents changed.
 */
export function checkSemantics(input: SemanticInput, issues: IssueList, cache?: ValidationCache): void {
  const byKind = groupByKind(input.valid);
  checkUniqueNames(byKind, issues, cache);
  const refs = new ReferenceChecker(input.defined, issues);
  for (const { parsed, doc } of input.valid) {
    switch (doc.kind) {
      case 'Fleet':
        checkFleet(parsed, doc, refs, issues);
        break;
      case 'Group':
        checkGroup(parsed, doc, refs, issues);
        break;
      case 'Device':
        if (doc.spec.profile !== undefined) refs.check(parsed, SPEC_PROFILE, 'Profile', doc.spec.profile);
        break;
      case 'FileDeployment':
        checkFileDeployment(parsed, doc, input.paths, issues);
        break;
      case 'Script':
        checkScript(parsed, doc, input.paths, issues);
        break;
      case 'Profile':
        checkProfile(parsed, doc, refs, issues);
        break;
      case 'OSImage':
        checkImage(parsed, doc, input.paths, input.files, issues);
        break;
      case 'Software':
        break;
    }
  }
  const devices = (byKind.get('Device') ?? []) as Array<CheckedDocument & { doc: DeviceDoc }>;
  const deviceDocs = devices.map((c) => c.parsed);
  checkOnce(cache, 'device-identities', deviceDocs, issues, () => checkDeviceIdentities(devices, issues));
  const patterns = hostnamePatterns(byKind.get('Profile') ?? []);
  if (patterns.size > 0) {
    const profileDocs = (byKind.get('Profile') ?? []).map((c) => c.parsed);
    checkOnce(cache, 'device-hostnames', [...deviceDocs, ...profileDocs], issues, () => checkDeviceHostnames(devices, patterns, issues));
  }
}

// ---- names ----

/** Documents of one kind, in (file, index) order. */
type ByKind = Map<Kind, CheckedDocument[]>;

function groupByKind(valid: CheckedDocument[]): ByKind {
  const byKind: ByKind = new Map();
  for (const checked of valid) {
    const list = byKind.get(checked.doc.kind);
    if (list === undefined) byKind.set(checked.doc.kind, [checked]);
    else list.push(checked);
  }
  return byKind;
}

/** Names are unique per kind, so each kind is checked on its own (and replayed when none of its documents changed). */
function checkUniqueNames(byKind: ByKind, issues: IssueList, cache: ValidationCache | undefined): void {
  for (const [kind, documents] of byKind) {
    const run = kind === 'Fleet' ? () => checkSingleFleet(documents, issues) : () => checkUniqueNamesOfKind(documents, issues);
    checkOnce(cache, `unique-names/${kind}`, documents.map((c) => c.parsed), issues, run);
  }
}

function checkSingleFleet(fleets: CheckedDocument[], issues: IssueList): void {
  const first = fleets[0]?.parsed;
  for (const { parsed } of fleets.slice(1)) {
    issues.at(parsed, '', 'fleet.duplicate', `a repository has one Fleet document; another is at ${where(first!)}`);
  }
}

function checkUniqueNamesOfKind(documents: CheckedDocument[], issues: IssueList): void {
  const seen = new Map<string, ParsedDocument>();
  for (const { parsed, doc } of documents) {
    const first = seen.get(doc.metadata.name);
    if (first) {
      issues.at(
        parsed,
        pointer('metadata', 'name'),
        'name.duplicate',
        `${doc.kind} "${doc.metadata.name}" is already defined at ${where(first)}`,
      );
    } else {
      seen.set(doc.metadata.name, parsed);
    }
  }
}

function where(doc: ParsedDocument): string {
  const root = doc.positions.get('') ?? { line: 1, col: 1 };
  return `${doc.file}:${root.line}`;
}

// ---- references ----

const REF_CODES: Record<Exclude<Kind, 'Fleet'>, IssueCode> = {
  Group: 'ref.group',
  Device: 'ref.device',
  Software: 'ref.software',
  FileDeployment: 'ref.file',
  Script: 'ref.script',
  Profile: 'ref.profile',
  OSImage: 'ref.image',
};

class ReferenceChecker {
  constructor(
    private readonly defined: ReadonlyMap<Kind, ReadonlySet<string>>,
    private readonly issues: IssueList,
  ) {}

  check(doc: ParsedDocument, path: string, kind: Exclude<Kind, 'Fleet'>, name: string | undefined): void {
    if (name === undefined) return;
    const names = this.defined.get(kind) ?? new Set<string>();
    if (names.has(name)) return;
    const suggestion = didYouMean(name, names);
    this.issues.at(doc, path, REF_CODES[kind], `${kind} "${name}" does not exist${suggestionSuffix(suggestion)}`, {
      suggestion,
    });
  }

  checkAll(doc: ParsedDocument, base: string, kind: Exclude<Kind, 'Fleet'>, names: readonly string[] | undefined): void {
    if (names === undefined) return;
    const defined = this.defined.get(kind);
    for (let i = 0; i < names.length; i++) {
      if (defined === undefined || !defined.has(names[i]!)) this.check(doc, `${base}/${i}`, kind, names[i]);
    }
  }
}

// ---- Fleet ----

function checkFleet(parsed: ParsedDocument, doc: FleetDoc, refs: ReferenceChecker, issues: IssueList): void {
  refs.checkAll(parsed, pointer('spec', 'provisioning', 'menuProfiles'), 'Profile', doc.spec.provisioning?.menuProfiles);
  checkRollout(parsed, pointer('spec', 'rollout'), doc.spec.rollout, refs, issues);
  const names = new Set<string>();
  doc.spec.notifiers?.forEach((notifier, i) => {
    const base = pointer('spec', 'notifiers', i);
    if ((notifier.url === undefined) === (notifier.urlSecret === undefined)) {
      issues.at(parsed, base, 'notifier.url', `notifier "${notifier.name}" needs exactly one of url and urlSecret`);
    }
    if (names.has(notifier.name)) {
      issues.at(parsed, `${base}/name`, 'name.duplicate', `notifier "${notifier.name}" is defined twice`);
    }
    names.add(notifier.name);
  });
}

// ---- Group and selectors ----

function checkGroup(parsed: ParsedDocument, doc: GroupDoc, refs: ReferenceChecker, issues: IssueList): void {
  const { selector, devices } = doc.spec;
  if (selector === undefined && (devices === undefined || devices.length === 0)) {
    issues.at(
      parsed,
      pointer('spec'),
      'selector.empty',
      `group "${doc.metadata.name}" has neither a selector nor devices, so it can never match a device`,
    );
  }
  if (selector !== undefined) checkSelector(parsed, pointer('spec', 'selector'), selector, issues);
  refs.checkAll(parsed, pointer('spec', 'devices'), 'Device', devices);
}

function checkSelector(parsed: ParsedDocument, base: string, selector: Selector, issues: IssueList): void {
  const labels = Object.keys(selector.matchLabels ?? {}).length;
  const facts = selector.matchFacts?.length ?? 0;
  if (labels === 0 && facts === 0) {
    issues.at(
      parsed,
      base,
      'selector.empty',
      'an empty selector would match every device; give matchLabels or matchFacts (e.g. os.family Exists to select all)',
    );
  }
  selector.matchFacts?.forEach((expression, i) => {
    const path = `${base}/matchFacts/${i}`;
    const count = expression.values?.length ?? 0;
    if ((expression.operator === 'In' || expression.operator === 'NotIn') && count === 0) {
      issues.at(parsed, path, 'selector.values', `${expression.operator} on "${expression.key}" needs at least one value`);
    }
    if ((expression.operator === 'Exists' || expression.operator === 'DoesNotExist') && expression.values !== undefined) {
      issues.at(
        parsed,
        `${path}/values`,
        'selector.values',
        `${expression.operator} on "${expression.key}" takes no values`,
      );
    }
  });
}

// ---- sources ----

function checkSource(
  parsed: ParsedDocument,
  path: string,
  source: string,
  paths: ReadonlySet<string>,
  issues: IssueList,
): void {
  const normalised = normaliseRepoPath(source);
  if (normalised === undefined) {
    issues.at(parsed, path, 'source.outside', `source "${source}" must be a path inside the fleet repository, relative to its root`);
    return;
  }
  if (!paths.has(normalised)) {
    const suggestion = didYouMean(normalised, paths);
    issues.at(
      parsed,
      path,
      'source.missing',
      `source "${source}" does not exist in this revision${suggestionSuffix(suggestion)}`,
      { suggestion },
    );
  }
}

/** `files/a.conf` for `./files//a.conf`; undefined for absolute paths and paths that leave the root. */
export function normaliseRepoPath(source: string): string | undefined {
  if (source.startsWith('/') || /^[A-Za-z]:/.test(source) || source.includes('\\') || source.includes('\0')) {
    return undefined;
  }
  const out: string[] = [];
  for (const segment of source.split('/')) {
    if (segment === '' || segment === '.') continue;
    if (segment === '..') {
      if (out.length === 0) return undefined;
      out.pop();
    } else {
      out.push(segment);
    }
  }
  return out.length === 0 ? undefined : out.join('/');
}

function checkFileDeployment(parsed: ParsedDocument, doc: FileDeploymentDoc, paths: ReadonlySet<string>, issues: IssueList): void {
  const spec = doc.spec;
  const absent = spec.ensure === 'absent';
  const given = [spec.source, spec.content, spec.url].filter((x) => x !== undefined).length;
  if (given > 1 || (given === 0 && !absent)) {
    issues.at(
      parsed,
      pointer('spec'),
      'source.ambiguous',
      `file "${doc.metadata.name}" needs exactly one of source, content or url${absent ? ' (or none with ensure: absent)' : ''}`,
    );
  }
  if (spec.url !== undefined && spec.sha256 === undefined) {
    issues.at(parsed, pointer('spec', 'url'), 'source.ambiguous', 'a url source needs its sha256, so the agent can verify what it downloads');
  }
  if (spec.sha256 !== undefined && spec.url === undefined) {
    issues.at(parsed, pointer('spec', 'sha256'), 'source.ambiguous', 'sha256 goes with url; repository and inline content are hashed for you');
  }
  if (spec.source !== undefined) checkSource(parsed, SPEC_SOURCE, spec.source, paths, issues);
  if (!isAbsoluteDevicePath(spec.path)) {
    issues.at(
      parsed,
      pointer('spec', 'path'),
      'file.path',
      `path "${spec.path}" must be absolute and normalised (/etc/motd or C:\\ProgramData\\app\\config.json)`,
    );
  }
}

/** POSIX `/a/b` without `.`/`..`/empty segments or a trailing slash, or Windows `C:\a\b`. */
export function isAbsoluteDevicePath(path: string): boolean {
  if (path.includes('\0')) return false;
  const windows = /^[A-Za-z]:\\(.+)$/.exec(path);
  const rest = windows ? windows[1]!.split('\\') : path.startsWith('/') ? path.slice(1).split('/') : undefined;
  if (!rest || rest.length === 0) return false;
  return rest.every((segment) => segment !== '' && segment !== '.' && segment !== '..' && !(windows && segment.includes('/')));
}

function checkScript(parsed: ParsedDocument, doc: ScriptDoc, paths: ReadonlySet<string>, issues: IssueList): void {
  const { source, content } = doc.spec;
  if ((source === undefined) === (content === undefined)) {
    issues.at(parsed, pointer('spec'), 'source.ambiguous', `script "${doc.metadata.name}" needs exactly one of source or content`);
  }
  if (source !== undefined) checkSource(parsed, SPEC_SOURCE, source, paths, issues);
}

function checkImage(
  parsed: ParsedDocument,
  doc: OSImageDoc,
  paths: ReadonlySet<string>,
  files: ReadonlyMap<string, RepoFile> | undefined,
  issues: IssueList,
): void {
  const windows = doc.spec.installer === 'windows-wim';
  const needed = windows ? (['wimboot', 'bootWim'] as const) : (['kernel', 'initrd'] as const);
  for (const field of needed) {
    if (doc.spec[field] === undefined) {
      issues.at(
        parsed,
        pointer('spec'),
        'provisioning.image',
        `a ${doc.spec.installer} image needs spec.${field} to boot over the network`,
      );
    }
  }
  for (const field of ['kernel', 'initrd', 'wimboot', 'bootWim', 'image'] as const) {
    const artifact = doc.spec[field];
    if (artifact === undefined) continue;
    const base = pointer('spec', field);
    if ((artifact.url === undefined) === (artifact.source === undefined)) {
      issues.at(parsed, base, 'source.ambiguous', `artifact ${field} needs exactly one of url or source`);
    }
    if (artifact.source !== undefined) {
      checkSource(parsed, `${base}/source`, artifact.source, paths, issues);
      // A repository artifact must be the bytes the document says: a mismatch is this revision's
      // error, never a machine that fails to boot later.
      const path = normaliseRepoPath(artifact.source);
      const file = path === undefined ? undefined : files?.get(path);
      if (file && file.sha256 !== artifact.sha256.toLowerCase()) {
        issues.at(parsed, `${base}/sha256`, 'artifact.mismatch', `${artifact.source} has SHA-256 ${file.sha256}, not ${artifact.sha256}`);
      } else if (file && artifact.size !== undefined && file.size !== artifact.size) {
        issues.at(parsed, `${base}/size`, 'artifact.mismatch', `${artifact.source} is ${file.size} bytes, not ${artifact.size}`);
      }
    }
  }
  // Kernel arguments go verbatim into an iPXE script: no whitespace tricks, variables or quotes.
  const args = doc.spec.kernelArgs;
  if (args !== undefined) {
    const bad = args.split(/[ ]+/).find((a) => a !== '' && !/^[^\s$"'\\`\x00-\x1f\x7f]+$/.test(a));
    if (bad !== undefined) {
      issues.at(parsed, pointer('spec', 'kernelArgs'), 'provisioning.image', `kernel argument ${JSON.stringify(bad)} cannot go into a boot script (no $, quotes, backslashes or control characters)`);
    }
  }
}

// ---- Profile ----

function checkProfile(parsed: ParsedDocument, doc: ProfileDoc, refs: ReferenceChecker, issues: IssueList): void {
  const spec = doc.spec;
  refs.checkAll(parsed, pointer('spec', 'targets'), 'Group', spec.targets);
  refs.checkAll(parsed, pointer('spec', 'software'), 'Software', spec.software);
  refs.checkAll(parsed, pointer('spec', 'files'), 'FileDeployment', spec.files);
  refs.checkAll(parsed, pointer('spec', 'scripts'), 'Script', spec.scripts);
  checkRollout(parsed, pointer('spec', 'rollout'), spec.rollout, refs, issues);
  const provisioning = spec.provisioning;
  if (provisioning === undefined) return;
  refs.check(parsed, pointer('spec', 'provisioning', 'image'), 'OSImage', provisioning.image);
  checkTimeZone(parsed, pointer('spec', 'provisioning', 'timeZone'), provisioning.timeZone, issues);
  if (provisioning.hostnamePattern !== undefined) {
    const problem = hostnamePatternProblem(provisioning.hostnamePattern);
    if (problem) {
      issues.at(parsed, pointer('spec', 'provisioning', 'hostnamePattern'), 'hostname.pattern', problem);
    }
  }
  provisioning.tasks.forEach((task, i) => {
    const path = pointer('spec', 'provisioning', 'tasks', i);
    if (task.type === 'run-script') {
      if (task.script === undefined) {
        issues.at(parsed, path, 'provisioning.task', 'a run-script task needs `script`');
      } else {
        refs.check(parsed, `${path}/script`, 'Script', task.script);
      }
    } else if (task.script !== undefined) {
      issues.at(parsed, `${path}/script`, 'provisioning.task', `\`script\` belongs to run-script tasks, not ${task.type}`);
    }
    if (task.type === 'partition' && task.layout === undefined) {
      issues.at(parsed, path, 'provisioning.task', 'a partition task needs a `layout` preset');
    }
  });
  const order = provisioning.tasks.map((t) => t.type);
  const partition = order.indexOf('partition');
  const apply = order.indexOf('apply-image');
  if (apply === -1) {
    issues.at(parsed, pointer('spec', 'provisioning', 'tasks'), 'provisioning.task', 'provisioning needs an apply-image task');
  } else if (partition > apply) {
    issues.at(
      parsed,
      pointer('spec', 'provisioning', 'tasks', partition),
      'provisioning.task',
      'partition must come before apply-image',
    );
  }
}

const PLACEHOLDER = /\{([^{}]*)\}/g;
const SEQ_WIDTH_ASSUMED = 4;

/**
 * Why `pattern` cannot produce a valid hostname (RFC 1123 label: 1–63 of `a-z0-9-`, not starting
 * or ending with `-`), or undefined when it can. `{seq}` / `{seq:NN}` expand to digits (assumed
 * up to four wide when measuring length); `{label}` expands to a device's label value, which
 * compile checks per device; here it must be a valid label key.
 */
export function hostnamePatternProblem(pattern: string): string | undefined {
  let literal = '';
  let length = 0;
  let seqCount = 0;
  let last = 0;
  for (const match of pattern.matchAll(PLACEHOLDER)) {
    literal += pattern.slice(last, match.index);
    last = match.index + match[0].length;
    const body = match[1]!;
    const seq = /^seq(?::(\d{1,2}))?$/.exec(body);
    if (seq) {
      seqCount++;
      length += Math.max(Number(seq[1] ?? '0'), SEQ_WIDTH_ASSUMED);
    } else if (/^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/.test(body)) {
      length += 1;
    } else {
      return `"{${body}}" is not a placeholder; use {<label>} or {seq} / {seq:NN}`;
    }
  }
  literal += pattern.slice(last);
  length += literal.length;
  if (/[{}]/.test(literal)) return 'unbalanced braces';
  const bad = /[^a-z0-9-]/.exec(literal);
  if (bad) return `"${bad[0]}" cannot appear in a hostname (lowercase letters, digits and "-" only)`;
  if (pattern.startsWith('-') || pattern.endsWith('-')) return 'a hostname cannot start or end with "-"';
  if (length > 63) return `hostnames from this pattern can be ${length} characters long; the limit is 63`;
  if (seqCount > 1) return 'use {seq} at most once';
  if (pattern.length === 0) return 'empty pattern';
  return undefined;
}

// ---- Rollout ----

function checkRollout(
  parsed: ParsedDocument,
  base: string,
  rollout: RolloutPolicy | undefined,
  refs: ReferenceChecker,
  issues: IssueList,
): void {
  rollout?.windows?.forEach((window, i) => checkTimeZone(parsed, `${base}/windows/${i}/timeZone`, window.timeZone, issues));
  for (const field of ['maxParallel', 'failureThreshold'] as const) {
    const value = rollout?.[field];
    if (value === undefined) continue;
    const percent = typeof value === 'string' ? Number(value.slice(0, -1)) : undefined;
    if (percent !== undefined && percent > 100) {
      issues.at(parsed, `${base}/${field}`, 'rollout.waves', `${field} ${value} is more than 100%`);
    }
    if (field === 'maxParallel' && (value === 0 || percent === 0)) {
      issues.at(parsed, `${base}/${field}`, 'rollout.waves', 'maxParallel 0 would never start a job');
    }
  }
  const waves = rollout?.waves;
  if (!waves) return;
  waves.forEach((wave, i) => {
    const path = `${base}/waves/${i}`;
    const forms = [wave.size, wave.group, wave.selector].filter((x) => x !== undefined).length;
    if (forms !== 1) {
      issues.at(parsed, path, 'rollout.waves', 'a wave needs exactly one of size, group or selector');
    }
    if (wave.size === 'rest' && i !== waves.length - 1) {
      issues.at(parsed, `${path}/size`, 'rollout.waves', '"rest" can only be the last wave');
    }
    if (typeof wave.size === 'string' && wave.size !== 'rest') {
      const percent = Number(wave.size.slice(0, -1));
      if (!(percent > 0 && percent <= 100)) {
        issues.at(parsed, `${path}/size`, 'rollout.waves', `wave size ${wave.size} must be between 1% and 100%`);
      }
    }
    refs.check(parsed, `${path}/group`, 'Group', wave.group);
    if (wave.selector) checkSelector(parsed, `${path}/selector`, wave.selector, issues);
  });
}

/** A misspelt zone would keep a rollout window shut for ever (or install a system without one). */
function checkTimeZone(parsed: ParsedDocument, path: string, zone: string | undefined, issues: IssueList): void {
  if (zone === undefined) return;
  const problem = timeZoneProblem(zone);
  if (problem === undefined) return;
  issues.at(parsed, path, 'schedule.time-zone', `${problem.message}${suggestionSuffix(problem.suggestion)}`, { suggestion: problem.suggestion });
}

// ---- Device identities ----

function checkDeviceIdentities(devices: Array<CheckedDocument & { doc: DeviceDoc }>, issues: IssueList): void {
  const macs = new Map<string, string>();
  const hostnames = new Map<string, string>();
  for (const { parsed, doc } of devices) {
    const name = doc.metadata.name;
    const declared = doc.spec.macAddresses;
    if (declared !== undefined) {
      for (let i = 0; i < declared.length; i++) {
        const normal = normaliseMac(declared[i]!);
        const owner = macs.get(normal);
        if (owner !== undefined && owner !== name) {
          issues.at(
            parsed,
            pointer('spec', 'macAddresses', i),
            'device.duplicate-mac',
            `MAC ${normal} is already declared by device "${owner}"`,
          );
        } else {
          macs.set(normal, name);
        }
      }
    }
    const hostname = normaliseHostname(doc.spec.hostname ?? name);
    const owner = hostnames.get(hostname);
    if (owner !== undefined) {
      issues.at(
        parsed,
        doc.spec.hostname !== undefined ? pointer('spec', 'hostname') : pointer('metadata', 'name'),
        'device.duplicate-hostname',
        `hostname "${hostname}" is already used by device "${owner}"`,
      );
    } else {
      hostnames.set(hostname, name);
    }
  }
}

/** A hostname as DNS compares it: `web-01.corp.example` for `Web-01.Corp.Example.` (case and the root's trailing dot). */
export function normaliseHostname(hostname: string): string {
  return hostname.toLowerCase().replace(/\.$/, '');
}

/** `52:54:00:ab:cd:ef` for `52-54-00-AB-CD-EF`. */
export function normaliseMac(mac: string): string {
  return mac.toLowerCase().replaceAll('-', ':');
}

/**
 * A device provisioned with a profile whose hostnamePattern uses `{label}` placeholders must have
 * those labels, with values that fit in a hostname.
 */
/** Profile name → its valid hostnamePattern. */
function hostnamePatterns(profiles: CheckedDocument[]): Map<string, string> {
  const patterns = new Map<string, string>();
  for (const { doc } of profiles) {
    const pattern = doc.kind === 'Profile' ? doc.spec.provisioning?.hostnamePattern : undefined;
    if (pattern !== undefined && hostnamePatternProblem(pattern) === undefined) patterns.set(doc.metadata.name, pattern);
  }
  return patterns;
}

function checkDeviceHostnames(
  devices: Array<CheckedDocument & { doc: DeviceDoc }>,
  patterns: ReadonlyMap<string, string>,
  issues: IssueList,
): void {
  for (const { parsed, doc } of devices) {
    const pattern = doc.spec.profile === undefined ? undefined : patterns.get(doc.spec.profile);
    if (pattern === undefined) continue;
    for (const match of pattern.matchAll(PLACEHOLDER)) {
      const label = match[1]!;
      if (/^seq(:\d+)?$/.test(label)) continue;
      const value = doc.metadata.labels?.[label];
      if (value === undefined) {
        issues.at(
          parsed,
          pointer('spec', 'profile'),
          'hostname.pattern',
          `profile "${doc.spec.profile}" names hosts "${pattern}" but device "${doc.metadata.name}" has no label "${label}"`,
        );
      } else if (!/^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/.test(value)) {
        issues.at(
          parsed,
          pointer('metadata', 'labels', label),
          'hostname.pattern',
          `label ${label}="${value}" cannot be part of a hostname (lowercase letters, digits and "-" only)`,
        );
      }
    }
  }
}
