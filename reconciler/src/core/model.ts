// The data that flows through the pure core: parsed documents with their source positions,
// the validated fleet model of one revision, and the desired state compiled per device.
//
// Nothing here does I/O. The loader (edges/git) produces `LoadedRevision`; validation turns it
// into a `FleetModel` (or issues); compile turns a model and devices into `DesiredState`s.
import type {
  AnyDoc,
  DeviceDoc,
  DriftMode,
  Ensure,
  FileDeploymentDoc,
  FleetDoc,
  GroupDoc,
  Interpreter,
  Kind,
  OSImageDoc,
  OnInterrupt,
  PackageManager,
  ProfileDoc,
  RolloutPolicy,
  RunPolicy,
  ScriptDoc,
  SoftwareDoc,
} from '../../../schemas/kinds.ts';
import type { Facts } from '../../../schemas/facts.ts';

/** 1-based line and column in a file. */
export interface Position {
  line: number;
  col: number;
}

/**
 * One YAML document of one file. `positions` maps a JSON pointer (`/spec/packages/apt`; `` for the
 * document root) to where that node's value starts, and `keyPositions` to where its key starts, so
 * an error about a value or an unknown key can point at the exact place.
 */
export interface ParsedDocument {
  file: string;
  /** 0-based index of the document inside its file. */
  index: number;
  value: unknown;
  positions: ReadonlyMap<string, Position>;
  keyPositions: ReadonlyMap<string, Position>;
}

/** A syntax error found while parsing a YAML file. */
export interface SyntaxIssue {
  file: string;
  line: number;
  col: number;
  message: string;
  /**
   * `yaml.syntax` when absent. `yaml.too-deep`, `file.too-large` and `revision.too-large`: the
   * file (or, past the revision's limit, every later file) was refused before it was parsed.
   */
  code?: 'yaml.syntax' | 'yaml.too-deep' | 'file.too-large' | 'revision.too-large' | 'file.symlink';
}

/** A non-YAML file of the revision, named by its path relative to the fleet root. */
export interface RepoFile {
  path: string;
  /** Lowercase hex SHA-256 of the file's bytes. */
  sha256: string;
  size: number;
}

/** Everything validation needs from one revision, as read by a loader. */
export interface LoadedRevision {
  /** `main@sha1:<oid>` for a commit, `worktree` for a directory. */
  revision: string;
  documents: ParsedDocument[];
  syntaxIssues: SyntaxIssue[];
  /** Every path in the revision (YAML included), for "file does not exist" checks. */
  paths: ReadonlySet<string>;
  /** Content hashes of the files that documents reference through `source`. */
  files: ReadonlyMap<string, RepoFile>;
  /** What the author should know but does not block the revision: `file.symlink` (a YAML file that is a link, not read). */
  warnings?: SyntaxIssue[];
}

/** Where a document came from, for error messages and "which profile put this here". */
export interface Origin {
  file: string;
  index: number;
  line: number;
  col: number;
}

export interface Located<D extends AnyDoc> {
  doc: D;
  origin: Origin;
  /** The parsed document it came from, for positions of its fields. */
  parsed: ParsedDocument;
}

/** A validated revision: every reference resolves, every name is unique per kind. */
export interface FleetModel {
  revision: string;
  fleet: Located<FleetDoc> | undefined;
  groups: ReadonlyMap<string, Located<GroupDoc>>;
  devices: ReadonlyMap<string, Located<DeviceDoc>>;
  software: ReadonlyMap<string, Located<SoftwareDoc>>;
  files: ReadonlyMap<string, Located<FileDeploymentDoc>>;
  scripts: ReadonlyMap<string, Located<ScriptDoc>>;
  profiles: ReadonlyMap<string, Located<ProfileDoc>>;
  images: ReadonlyMap<string, Located<OSImageDoc>>;
  /** Content hashes of repository files referenced by `source`. */
  repoFiles: ReadonlyMap<string, RepoFile>;
}

export type KindMapKey = 'groups' | 'devices' | 'software' | 'files' | 'scripts' | 'profiles' | 'images';
export const KIND_MAP: Record<Exclude<Kind, 'Fleet'>, KindMapKey> = {
  Group: 'groups',
  Device: 'devices',
  Software: 'software',
  FileDeployment: 'files',
  Script: 'scripts',
  Profile: 'profiles',
  OSImage: 'images',
};

// ---- devices as compile sees them ----

/**
 * A device to compile for: declared in Git (`declared`), enrolled (it has reported `facts`), or
 * both. Labels are the union of the Git labels and the labels given at enrollment, Git winning.
 */
export interface DeviceInput {
  /** The device's name: its `Device` document name, or the id it enrolled with. */
  name: string;
  labels: Readonly<Record<string, string>>;
  facts: Facts | undefined;
  declared: boolean;
}

// ---- desired state ----

/** Which profile (through which groups) put a resource on a device. */
export interface ResourceSource {
  profile: string;
  groups: string[];
}

interface ResourceBase {
  /** `package/<software>`, `file/<absolute path>`, `script/<name>`. */
  key: string;
  /** Stable digest of everything that makes this resource what it is; equal ⇔ no change. */
  fingerprint: string;
  ensure: Ensure;
  /** Remove from the device when it stops being desired (and DeployX applied it). */
  prune: boolean;
  drift: DriftMode;
  sources: ResourceSource[];
}

export interface PackageResource extends ResourceBase {
  type: 'package';
  software: string;
  /** The device's manager; undefined while the device has not reported one. */
  manager: PackageManager | undefined;
  /** The package name for that manager; undefined when the software has none for it. */
  packageName: string | undefined;
  /** `any`, `latest`, an exact version or a `prefix.*`. */
  version: string;
}

export interface FileResource extends ResourceBase {
  type: 'file';
  name: string;
  path: string;
  /** SHA-256 of the content the device must hold (absent for `ensure: absent`). */
  sha256: string | undefined;
  size: number | undefined;
  /** Where the bytes come from: a repository path, inline content or a URL. */
  origin: { kind: 'repo'; path: string } | { kind: 'inline' } | { kind: 'url'; url: string };
  mode: string | undefined;
  owner: string | undefined;
  group: string | undefined;
}

export interface ScriptResource extends ResourceBase {
  type: 'script';
  name: string;
  interpreter: Interpreter;
  /** SHA-256 of the script body. */
  sha256: string;
  origin: { kind: 'repo'; path: string } | { kind: 'inline' };
  run: RunPolicy;
  /** Set only when declared and not the run policy's default (defaultOnInterrupt). */
  onInterrupt?: OnInterrupt;
  check: string | undefined;
  timeoutSeconds: number;
  successExitCodes: number[];
  env: Readonly<Record<string, string>>;
  /** Position in the device's script order (profiles by name, scripts in listed order). */
  order: number;
}

export type DesiredResource = PackageResource | FileResource | ScriptResource;

/** A problem compiling one device that does not invalidate the revision. */
export interface CompileIssue {
  code: string;
  message: string;
  /** Resource key or profile the issue is about. */
  subject: string;
}

export interface DeviceProfile {
  name: string;
  drift: DriftMode;
  rollout: RolloutPolicy;
}

export interface DesiredState {
  device: string;
  revision: string;
  /** Sorted by name. */
  groups: string[];
  /** Sorted by name. */
  profiles: DeviceProfile[];
  /** Sorted by key; scripts carry their run order in `order`. */
  resources: DesiredResource[];
  issues: CompileIssue[];
  /** Digest of `resources`' fingerprints: equal ⇔ the device's desired state did not change. */
  fingerprint: string;
}
