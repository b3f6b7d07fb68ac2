// Fingerprints: stable digests of what makes a desired resource what it is. Equal fingerprints ⇔
// nothing to change on the device for that resource, so the recipe is part of the contract with
// the planner and with anything that recomputes it from observed state.
//
// Every fingerprint is the lowercase hex SHA-256 of the UTF-8 `canonicalJson` of a small record.
// One recipe for all types keeps them unambiguous (a readable `pkg:apt:nginx:1:1.2:present` cannot
// tell an epoch colon from a separator) and of one shape. Fields whose value is undefined are
// left out, exactly as JSON.stringify leaves them out.
//
//   package  {manager, packageName, version, ensure}
//   file     {path, sha256, mode, owner, group, ensure}          (sha256 absent for ensure: absent)
//   script   {sha256, interpreter, run, check, timeoutSeconds, successExitCodes, env}
//            (sha256 of the body; successExitCodes sorted ascending without duplicates)
//
// Provenance (name, sources), `drift`, `prune` and, for scripts, `order` are not in a resource's
// fingerprint: they change how DeployX treats the resource, not what the device must hold. They
// are in the device's state fingerprint (`desiredStateFingerprint`), which must change whenever
// anything the planner reads changes.
import { defaultOnInterrupt, type DriftMode, type Ensure, type Interpreter, type OnInterrupt, type PackageManager, type RunPolicy } from '../../../../schemas/kinds.ts';
import type { DesiredResource } from '../model.ts';
import { sha256, sha256Hex } from '../sha256.ts';

/**
 * JSON with object keys sorted (UTF-16 code unit order) and no whitespace; undefined object
 * fields are dropped and undefined array elements become null, as in JSON.stringify. Only plain
 * data: bigint, symbol and function values throw.
 */
export function canonicalJson(value: unknown): string {
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value);
    case 'number':
      return Number.isFinite(value) ? JSON.stringify(value) : 'null';
    case 'boolean':
      return value ? 'true' : 'false';
    case 'object': {
      if (value === null) return 'null';
      if (Array.isArray(value)) {
        const parts: string[] = [];
        for (const element of value) parts.push(element === undefined ? 'null' : canonicalJson(element));
        return `[${parts.join(',')}]`;
      }
      const record = value as Record<string, unknown>;
      const parts: string[] = [];
      for (const key of Object.keys(record).sort()) {
        const field = record[key];
        if (field === undefined) continue;
        parts.push(`${JSON.stringify(key)}:${canonicalJson(field)}`);
      }
      return `{${parts.join(',')}}`;
    }
    default:
      throw new TypeError(`canonicalJson: cannot encode a ${typeof value}`);
  }
}

/** Lowercase hex SHA-256 of the canonical JSON of `record`. */
export function fingerprintOf(record: Readonly<Record<string, unknown>>): string {
  return sha256Hex(canonicalJson(record));
}

export interface PackageFingerprintInput {
  manager: PackageManager | undefined;
  packageName: string | undefined;
  version: string;
  ensure: Ensure;
}

export function packageFingerprint(p: PackageFingerprintInput): string {
  return fingerprintOf({ manager: p.manager, packageName: p.packageName, version: p.version, ensure: p.ensure });
}

export interface FileFingerprintInput {
  path: string;
  sha256: string | undefined;
  mode: string | undefined;
  owner: string | undefined;
  group: string | undefined;
  ensure: Ensure;
}

export function fileFingerprint(f: FileFingerprintInput): string {
  return fingerprintOf({
    path: f.path,
    sha256: f.sha256,
    mode: f.mode,
    owner: f.owner,
    group: f.group,
    ensure: f.ensure,
  });
}

export interface ScriptFingerprintInput {
  /** SHA-256 of the script body. */
  sha256: string;
  interpreter: Interpreter;
  run: RunPolicy;
  /** Covered only when it differs from the run policy's default: undeclared keeps old fingerprints. */
  onInterrupt?: OnInterrupt;
  check: string | undefined;
  timeoutSeconds: number;
  successExitCodes: readonly number[];
  env: Readonly<Record<string, string>>;
}

export function scriptFingerprint(s: ScriptFingerprintInput): string {
  return fingerprintOf({
    ...(s.onInterrupt === undefined || s.onInterrupt === defaultOnInterrupt(s.run) ? {} : { onInterrupt: s.onInterrupt }),
    sha256: s.sha256,
    interpreter: s.interpreter,
    run: s.run,
    check: s.check,
    timeoutSeconds: s.timeoutSeconds,
    successExitCodes: normalizeExitCodes(s.successExitCodes),
    env: s.env,
  });
}

/** Exit codes as a set: ascending, without duplicates. */
export function normalizeExitCodes(codes: readonly number[]): number[] {
  return [...new Set(codes)].sort((a, b) => a - b);
}

/** What of a resource the device's state fingerprint covers besides its own fingerprint. */
export interface StateEntry {
  key: string;
  fingerprint: string;
  drift: DriftMode;
  prune: boolean;
  /** Scripts only. */
  order?: number;
}

/**
 * Digest of a device's desired resources, equal ⇔ the device's desired state did not change:
 * the SHA-256 (hex) of the concatenated 32-byte `stateEntryDigest`s of its resources in key order.
 * Provenance (`sources`, names) is not included.
 */
export function desiredStateFingerprint(resources: readonly (DesiredResource | StateEntry)[]): string {
  const sorted = [...resources].sort((a, b) => compareKeys(a.key, b.key));
  return combineStateDigests(sorted.map(stateEntryDigest));
}

/** SHA-256 (raw) of the canonical JSON of `[key, fingerprint, drift, prune, order]`, order null but for scripts. */
export function stateEntryDigest(entry: DesiredResource | StateEntry): Uint8Array {
  const order = 'order' in entry && typeof entry.order === 'number' ? entry.order : null;
  return sha256(canonicalJson([entry.key, entry.fingerprint, entry.drift, entry.prune, order]));
}

/** Hex SHA-256 of the concatenated entry digests, which the caller gives in key order. */
export function combineStateDigests(digests: readonly Uint8Array[]): string {
  const all = new Uint8Array(digests.length * 32);
  for (let i = 0; i < digests.length; i++) all.set(digests[i]!, i * 32);
  return sha256Hex(all);
}

function compareKeys(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
