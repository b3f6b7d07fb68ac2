// dnf and yum (RHEL, Fedora, CentOS, Rocky, Alma): query with rpm, install `name-version`
// (dnf and yum accept globs, so `name-1.24.*` selects a prefix).
import {
  DEFAULT_PACKAGE_TIMEOUT_MS,
  toOpResult,
  validateInstallRequest,
  validatePackageName,
  type AdapterOptions,
  type PackageAdapter,
} from './adapter.ts';
import { queryRpm } from './rpm-query.ts';
import type { VersionRule } from './version-rule.ts';

export function createDnfAdapter(options: AdapterOptions, manager: 'dnf' | 'yum' = 'dnf'): PackageAdapter {
  const { exec } = options;
  const timeoutMs = options.timeoutMs ?? DEFAULT_PACKAGE_TIMEOUT_MS;
  return {
    manager,
    async query(name, op = {}) {
      validatePackageName(manager, name);
      return queryRpm(exec, manager, name, op);
    },
    async install(name, versionRule, op = {}) {
      const rule = validateInstallRequest(manager, name, versionRule, ['any', 'latest', 'exact', 'prefix']);
      const args = ['install', '-y', rpmTarget(name, rule)];
      return toOpResult([[manager, ...args]], await exec(manager, args, { timeoutMs, signal: op.signal }));
    },
    async remove(name, op = {}) {
      validatePackageName(manager, name);
      const args = ['remove', '-y', name];
      return toOpResult([[manager, ...args]], await exec(manager, args, { timeoutMs, signal: op.signal }));
    },
  };
}

export function createYumAdapter(options: AdapterOptions): PackageAdapter {
  return createDnfAdapter(options, 'yum');
}

export function rpmTarget(name: string, rule: VersionRule): string {
  if (rule.kind === 'exact') return `${name}-${rule.version}`;
  if (rule.kind === 'prefix') return `${name}-${rule.pattern}`;
  return name;
}
