// The fleet repository's document kinds, as TypeScript types.
//
// These types and the JSON Schemas beside this file (`*.schema.json`) describe the same shapes:
// the schemas are what validates a revision (they carry descriptions, formats and defaults for
// editors and for docs/fleet-repo.md); these types are what the code reads after validation.
// A change to one is a change to the other, and `schemas/kinds.test.ts` checks that every kind
// listed here has a schema and that the example fleet passes it.

export const API_VERSION = 'deployx.dev/v1';

export const KINDS = [
  'Fleet',
  'Group',
  'Device',
  'Software',
  'FileDeployment',
  'Script',
  'Profile',
  'OSImage',
] as const;
export type Kind = (typeof KINDS)[number];

export interface Metadata {
  /** DNS-label style, unique per kind: `^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$`, at most 63 characters. */
  name: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

export interface DocumentOf<K extends Kind, S> {
  apiVersion: typeof API_VERSION;
  kind: K;
  metadata: Metadata;
  spec: S;
}

// ---- shared pieces ----

export type DriftMode = 'enforce' | 'report';
export type Ensure = 'present' | 'absent';
/** `30s`, `5m`, `2h`, `7d` (one unit), or a combination such as `1h30m`. */
export type Duration = string;

export const FACT_OPERATORS = ['In', 'NotIn', 'Exists', 'DoesNotExist'] as const;
export type FactOperator = (typeof FACT_OPERATORS)[number];

export interface FactExpression {
  /** Dotted path into the device's reported facts, e.g. `os.family`, `hardware.memoryBytes`. */
  key: string;
  operator: FactOperator;
  /** Required (non-empty) for In/NotIn, forbidden for Exists/DoesNotExist. Compared as strings. */
  values?: string[];
}

export interface Selector {
  matchLabels?: Record<string, string>;
  matchFacts?: FactExpression[];
}

/** An artifact in the content-addressed store, optionally fetched from `url`. */
export interface Artifact {
  url?: string;
  /** Repository path (relative to the fleet root) of an artifact kept in Git. */
  source?: string;
  sha256: string;
  size?: number;
}

// ---- rollout ----

export interface RolloutWave {
  name?: string;
  /** Device count (`1`), percentage of the rollout's devices (`"10%"`) or `"rest"`. */
  size?: number | string;
  /** Devices of this group (those still not in an earlier wave). */
  group?: string;
  /** Devices matching this selector (those still not in an earlier wave). */
  selector?: Selector;
  /** The wave starts only when an operator promotes it. */
  manualPromotion?: boolean;
  /** Overrides the policy's failureThreshold for this wave. */
  failureThreshold?: number | string;
}

export interface MaintenanceWindow {
  /** Days of the week the window opens on: `mon`..`sun`; every day when omitted. */
  days?: Array<'mon' | 'tue' | 'wed' | 'thu' | 'fri' | 'sat' | 'sun'>;
  /** `HH:MM`, 24-hour. A window whose end is before its start runs past midnight. */
  start: string;
  end: string;
  /** IANA time zone, `UTC` when omitted. */
  timeZone?: string;
}

export interface RolloutPolicy {
  waves?: RolloutWave[];
  /** Jobs running at once per wave: a count or a percentage of the wave. */
  maxParallel?: number | string;
  /** Failures (count or percentage of the wave) after which the rollout halts. */
  failureThreshold?: number | string;
  pauseBetweenWaves?: Duration;
  /** How long an offline device may hold a wave before the wave completes without it. */
  offlineTimeout?: Duration;
  /** Retries of a failed job (jittered exponential backoff) before it counts as failed. */
  retries?: number;
  /** Jobs start only inside one of these windows; always when omitted. */
  windows?: MaintenanceWindow[];
}

// ---- Fleet ----

export const NOTIFIER_EVENTS = [
  'revision.accepted',
  'revision.rejected',
  'rollout.wave.completed',
  'rollout.completed',
  'rollout.partial',
  'rollout.failed',
  'rollout.halted',
  'device.failed',
] as const;
export type NotifierEvent = (typeof NOTIFIER_EVENTS)[number];

export interface Notifier {
  name: string;
  type: 'webhook' | 'slack' | 'teams';
  /** Target URL, or the name of a server-side secret holding it (`urlSecret`); never both. */
  url?: string;
  urlSecret?: string;
  /** Name of a server-side secret used to sign the body (HMAC-SHA256, `X-DeployX-Signature`). */
  signingSecret?: string;
  events?: NotifierEvent[];
}

export interface FleetSpec {
  description?: string;
  drift?: DriftMode;
  rollout?: RolloutPolicy;
  agent?: {
    reportInterval?: Duration;
    heartbeatInterval?: Duration;
  };
  notifiers?: Notifier[];
  provisioning?: {
    /** Offer unknown machines a menu of profiles at PXE boot. */
    menu?: boolean;
    /** Profiles shown in that menu; every profile with provisioning when omitted. */
    menuProfiles?: string[];
  };
  /** URL template of the repository's web view: `{path}`, `{line}`, `{oid}` are substituted. */
  repoWebUrl?: string;
  enrollment?: {
    /** Which agents claiming a declared device are let in without an operator's approval. */
    autoApprove?: EnrollmentAutoApprove;
  };
}

/**
 * `bound-token` (default): only an enrollment token bound to the device (`token create --device`,
 * and PXE installs); `never`: every claim of a declared device waits for approval; `always`: none does.
 */
export type EnrollmentAutoApprove = 'bound-token' | 'never' | 'always';

// ---- Group ----

export interface GroupSpec {
  description?: string;
  selector?: Selector;
  /** Device names that belong to the group whatever their labels and facts. */
  devices?: string[];
}

// ---- Device ----

export interface DeviceSpec {
  description?: string;
  hostname?: string;
  macAddresses?: string[];
  serial?: string;
  uuid?: string;
  /** The profile this device is provisioned with (bare metal → steady state). */
  profile?: string;
  /** Boot firmware, when known: `bios` or `efi`. */
  firmware?: 'bios' | 'efi';
}

// ---- Software ----

export const PACKAGE_MANAGERS = ['apt', 'dnf', 'yum', 'zypper', 'choco', 'winget', 'brew'] as const;
export type PackageManager = (typeof PACKAGE_MANAGERS)[number];

export interface SoftwareSpec {
  description?: string;
  packages: Partial<Record<PackageManager, string>>;
  /** Exact (`1.24.0-1`), prefix (`1.24.*`), `latest`, or omitted for any installed version. */
  version?: string;
  ensure?: Ensure;
  /** Remove the package when it stops being desired (default false). */
  prune?: boolean;
}

// ---- FileDeployment ----

export interface FileDeploymentSpec {
  description?: string;
  /** Absolute path on the device (`/etc/motd`, `C:\ProgramData\...`). */
  path: string;
  /** Exactly one of: a repository path, inline content, or a URL with its SHA-256. */
  source?: string;
  content?: string;
  url?: string;
  sha256?: string;
  /** Octal mode (`"0644"`); POSIX devices only. */
  mode?: string;
  owner?: string;
  group?: string;
  ensure?: Ensure;
  /** Delete the file when it stops being desired (default true). */
  prune?: boolean;
}

// ---- Script ----

export const INTERPRETERS = ['sh', 'bash', 'powershell', 'pwsh', 'python'] as const;
export type Interpreter = (typeof INTERPRETERS)[number];

export type RunPolicy = 'once' | 'onChange' | 'always' | { every: Duration };

/**
 * What the agent does with a run it lost track of (it died while the script ran and the script
 * vanished without an exit status): `fail` reports the step `interrupted` and never runs the body
 * again by itself; `rerun` runs it again. Default: `fail` for `once`/`onChange`, `rerun` for
 * `always`/`{every}` (defaultOnInterrupt).
 */
export const ON_INTERRUPT = ['fail', 'rerun'] as const;
export type OnInterrupt = (typeof ON_INTERRUPT)[number];

export function defaultOnInterrupt(run: RunPolicy): OnInterrupt {
  return run === 'once' || run === 'onChange' ? 'fail' : 'rerun';
}

export interface ScriptSpec {
  description?: string;
  interpreter: Interpreter;
  /** Exactly one of a repository path or inline content. */
  source?: string;
  content?: string;
  run?: RunPolicy;
  /** See OnInterrupt. */
  onInterrupt?: OnInterrupt;
  /** Inline guard run first with the same interpreter: exit 0 means "already done", skip. */
  check?: string;
  timeoutSeconds?: number;
  successExitCodes?: number[];
  env?: Record<string, string>;
}

// ---- Profile ----

export const PROVISIONING_TASK_TYPES = [
  'partition',
  'apply-image',
  'inject-config',
  'install-agent',
  'run-script',
  'reboot',
] as const;
export type ProvisioningTaskType = (typeof PROVISIONING_TASK_TYPES)[number];

export interface ProvisioningTask {
  type: ProvisioningTaskType;
  name?: string;
  /** partition: a layout preset. */
  layout?: 'single' | 'lvm' | 'efi-standard' | 'windows-standard';
  /** partition: target disk, the first fixed disk when omitted. */
  disk?: string;
  /** run-script: the Script to run in the boot environment. */
  script?: string;
  /** Keep going when this task fails. */
  continueOnError?: boolean;
}

export interface ProvisioningSpec {
  image: string;
  /** `web-{site}-{seq:02}`: `{label}` takes a device label, `{seq:NN}` a never-reused sequence. */
  hostnamePattern?: string;
  locale?: string;
  timeZone?: string;
  tasks: ProvisioningTask[];
}

export interface ProfileSpec {
  description?: string;
  targets: string[];
  software?: string[];
  files?: string[];
  scripts?: string[];
  drift?: DriftMode;
  rollout?: RolloutPolicy;
  provisioning?: ProvisioningSpec;
}

// ---- OSImage ----

export const INSTALLER_KINDS = ['debian-preseed', 'ubuntu-autoinstall', 'windows-wim'] as const;
export type InstallerKind = (typeof INSTALLER_KINDS)[number];

export interface OSImageSpec {
  description?: string;
  installer: InstallerKind;
  os: { family: string; version: string };
  arch?: 'x86_64' | 'arm64';
  /** Linux installers: kernel and initrd. */
  kernel?: Artifact;
  initrd?: Artifact;
  /** Extra kernel command-line arguments. */
  kernelArgs?: string;
  /** Windows: wimboot and boot.wim; install image. */
  wimboot?: Artifact;
  bootWim?: Artifact;
  image?: Artifact;
}

export type FleetDoc = DocumentOf<'Fleet', FleetSpec>;
export type GroupDoc = DocumentOf<'Group', GroupSpec>;
export type DeviceDoc = DocumentOf<'Device', DeviceSpec>;
export type SoftwareDoc = DocumentOf<'Software', SoftwareSpec>;
export type FileDeploymentDoc = DocumentOf<'FileDeployment', FileDeploymentSpec>;
export type ScriptDoc = DocumentOf<'Script', ScriptSpec>;
export type ProfileDoc = DocumentOf<'Profile', ProfileSpec>;
export type OSImageDoc = DocumentOf<'OSImage', OSImageSpec>;

export type AnyDoc =
  | FleetDoc
  | GroupDoc
  | DeviceDoc
  | SoftwareDoc
  | FileDeploymentDoc
  | ScriptDoc
  | ProfileDoc
  | OSImageDoc;
