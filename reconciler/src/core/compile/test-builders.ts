// Builders for tests of the pure core: a FleetModel from plain specs, and devices as compile sees
// them. Each document gets a dummy origin `<kind>/<name>.yaml:1:1` and a ParsedDocument whose
// root position is 1:1, so code that reports positions has something to point at.
import {
  API_VERSION,
  type AnyDoc,
  type DeviceSpec,
  type FileDeploymentSpec,
  type FleetSpec,
  type GroupSpec,
  type OSImageSpec,
  type PackageManager,
  type ProfileSpec,
  type ScriptSpec,
  type SoftwareSpec,
} from '../../../../schemas/kinds.ts';
import type { Facts } from '../../../../schemas/facts.ts';
import type { DeviceInput, FleetModel, Located, ParsedDocument, RepoFile } from '../model.ts';
import { sha256Hex, utf8Encode } from '../sha256.ts';

export interface ModelParts {
  revision?: string;
  fleet?: FleetSpec;
  groups?: Record<string, GroupSpec>;
  devices?: Record<string, DeviceSpec>;
  /** Metadata labels of Device documents, by device name. */
  deviceLabels?: Record<string, Record<string, string>>;
  software?: Record<string, SoftwareSpec>;
  files?: Record<string, FileDeploymentSpec>;
  scripts?: Record<string, ScriptSpec>;
  profiles?: Record<string, ProfileSpec>;
  images?: Record<string, OSImageSpec>;
  /** Repository files by path: their content (hashed here) or a ready RepoFile. */
  repoFiles?: Record<string, string | RepoFile>;
}

/** A FleetModel from plain specs, keyed by document name. */
export function buildModel(parts: ModelParts = {}): FleetModel {
  return {
    revision: parts.revision ?? 'main@sha1:0000000000000000000000000000000000000000',
    fleet: parts.fleet === undefined ? undefined : locate({ apiVersion: API_VERSION, kind: 'Fleet', metadata: { name: 'fleet' }, spec: parts.fleet }),
    groups: locateAll(parts.groups, (name, spec) => ({ apiVersion: API_VERSION, kind: 'Group', metadata: { name }, spec })),
    devices: locateAll(parts.devices, (name, spec) => {
      const labels = parts.deviceLabels?.[name];
      return { apiVersion: API_VERSION, kind: 'Device', metadata: labels ? { name, labels } : { name }, spec };
    }),
    software: locateAll(parts.software, (name, spec) => ({ apiVersion: API_VERSION, kind: 'Software', metadata: { name }, spec })),
    files: locateAll(parts.files, (name, spec) => ({ apiVersion: API_VERSION, kind: 'FileDeployment', metadata: { name }, spec })),
    scripts: locateAll(parts.scripts, (name, spec) => ({ apiVersion: API_VERSION, kind: 'Script', metadata: { name }, spec })),
    profiles: locateAll(parts.profiles, (name, spec) => ({ apiVersion: API_VERSION, kind: 'Profile', metadata: { name }, spec })),
    images: locateAll(parts.images, (name, spec) => ({ apiVersion: API_VERSION, kind: 'OSImage', metadata: { name }, spec })),
    repoFiles: new Map(
      Object.entries(parts.repoFiles ?? {}).map(([path, file]) => [path, typeof file === 'string' ? repoFile(path, file) : file]),
    ),
  };
}

/** A RepoFile for `content` at `path`, with its real SHA-256 and size. */
export function repoFile(path: string, content: string): RepoFile {
  const bytes = utf8Encode(content);
  return { path, sha256: sha256Hex(bytes), size: bytes.length };
}

/** A document wrapped as validation produces it, at `<kind>/<name>.yaml`, line 1, column 1. */
export function locate<D extends AnyDoc>(doc: D, file = `${doc.kind.toLowerCase()}/${doc.metadata.name}.yaml`): Located<D> {
  const parsed: ParsedDocument = {
    file,
    index: 0,
    value: doc,
    positions: new Map([['', { line: 1, col: 1 }]]),
    keyPositions: new Map(),
  };
  return { doc, origin: { file, index: 0, line: 1, col: 1 }, parsed };
}

export interface DeviceOptions {
  labels?: Record<string, string>;
  facts?: Facts;
  /** Declared in Git; true unless given. */
  declared?: boolean;
}

/** A device as compile sees it; without `facts` it has never reported. */
export function device(name: string, options: DeviceOptions = {}): DeviceInput {
  return { name, labels: options.labels ?? {}, facts: options.facts, declared: options.declared ?? true };
}

/** Facts of a device with the given OS family and package manager, plus any extra facts. */
export function factsFor(family: string, packageManager: PackageManager | undefined, extra: Facts = {}): Facts {
  return { ...extra, os: { family, packageManager, ...extra.os } };
}

function locateAll<S, D extends AnyDoc>(
  specs: Record<string, S> | undefined,
  toDoc: (name: string, spec: S) => D,
): Map<string, Located<D>> {
  return new Map(Object.entries(specs ?? {}).map(([name, spec]) => [name, locate(toDoc(name, spec))]));
}
