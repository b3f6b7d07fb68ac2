// zypper (SUSE): query with rpm, install `name=version`. zypper has no version globs, so a
// prefix rule is refused (`package.version-unsupported`) rather than silently widened.
// Exit codes 102/103 (reboot / restart needed) and 106 (some repositories skipped) are success.
import {
  DEFAULT_PACKAGE_TIMEOUT_MS,
  toOpResult,
  validateInstallRequest,
  validatePackageName,
  type AdapterOptions,
  type PackageAdapter,
} from './adapter.ts';
import { queryRpm } from './rpm-query.ts';

const ZYPPER_SUCCESS = [0, 102, 103, 106];

export function createZypperAdapter(options: AdapterOptions): PackageAdapter {
  const { exec } = options;
  const timeoutMs = options.timeoutMs ?? DEFAULT_PACKAGE_TIMEOUT_MS;
  return {
    manager: 'zypper',
    async query(name, op = {}) {
      validatePackageName('zypper', name);
      return queryRpm(exec, 'zypper', name, op);
    },
    async install(name, versionRule, op = {}) {
      const rule = validateInstallRequest('zypper', name, versionRule, ['any', 'latest', 'exact']);
      const target = rule.kind === 'exact' ? `${name}=${rule.version}` : name;
      const args = ['--non-interactive', 'install', '--auto-agree-with-licenses', target];
      const result = await exec('zypper', args, { timeoutMs, signal: op.signal });
      return toOpResult([['zypper', ...args]], result, ZYPPER_SUCCESS);
    },
    async remove(name, op = {}) {
      validatePackageName('zypper', name);
      const args = ['--non-interactive', 'remove', name];
      const result = await exec('zypper', args, { timeoutMs, signal: op.signal });
      return toOpResult([['zypper', ...args]], result, ZYPPER_SUCCESS);
    },
  };
}
