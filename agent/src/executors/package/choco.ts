// Chocolatey (Windows). Exact versions only (`--version`); 1641 and 3010 mean "installed,
// reboot pending" and count as success. `choco list` exits 2 for "nothing found" when
// enhanced exit codes are on, and 0 otherwise: the output decides.
import {
  DEFAULT_PACKAGE_TIMEOUT_MS,
  queryFailed,
  toOpResult,
  validateInstallRequest,
  validatePackageName,
  type AdapterOptions,
  type PackageAdapter,
  type PackageState,
} from './adapter.ts';

const CHOCO_SUCCESS = [0, 1641, 3010];

export function createChocoAdapter(options: AdapterOptions): PackageAdapter {
  const { exec } = options;
  const timeoutMs = options.timeoutMs ?? DEFAULT_PACKAGE_TIMEOUT_MS;
  return {
    manager: 'choco',
    async query(name, op = {}) {
      validatePackageName('choco', name);
      const result = await exec('choco', ['list', '--local-only', '--exact', name, '--limit-output'], {
        timeoutMs: 120_000,
        signal: op.signal,
      });
      if (result.exitCode !== 0 && result.exitCode !== 2) throw queryFailed('choco', name, result);
      return parseChocoList(result.stdout, name);
    },
    async install(name, versionRule, op = {}) {
      const rule = validateInstallRequest('choco', name, versionRule, ['any', 'latest', 'exact']);
      const args = ['install', name, '-y', ...(rule.kind === 'exact' ? ['--version', rule.version] : []), '--no-progress'];
      const result = await exec('choco', args, { timeoutMs, signal: op.signal });
      return toOpResult([['choco', ...args]], result, CHOCO_SUCCESS);
    },
    async remove(name, op = {}) {
      validatePackageName('choco', name);
      const args = ['uninstall', name, '-y', '--no-progress'];
      const result = await exec('choco', args, { timeoutMs, signal: op.signal });
      return toOpResult([['choco', ...args]], result, CHOCO_SUCCESS);
    },
  };
}

/** `--limit-output` lines are `name|version`; ids compare case-insensitively. */
export function parseChocoList(stdout: string, name: string): PackageState {
  for (const line of stdout.split(/\r?\n/)) {
    const [id, version] = line.trim().split('|');
    if (id !== undefined && version !== undefined && id.toLowerCase() === name.toLowerCase()) {
      return { installed: true, version };
    }
  }
  return { installed: false };
}

