// Homebrew (macOS). Versions are separate formulae (`node@20`), so only any/latest rules are
// installable; an exact or prefix rule is refused. Auto-update is off so an install does not
// turn into a full `brew update`. Homebrew refuses to run as root: run the agent's brew steps
// as the owning user.
import {
  DEFAULT_PACKAGE_TIMEOUT_MS,
  queryFailed,
  toOpResult,
  validateInstallRequest,
  validatePackageName,
  type AdapterOptions,
  type PackageAdapter,
} from './adapter.ts';

const BREW_ENV = { HOMEBREW_NO_AUTO_UPDATE: '1', NONINTERACTIVE: '1' };

export function createBrewAdapter(options: AdapterOptions): PackageAdapter {
  const { exec } = options;
  const timeoutMs = options.timeoutMs ?? DEFAULT_PACKAGE_TIMEOUT_MS;
  return {
    manager: 'brew',
    async query(name, op = {}) {
      validatePackageName('brew', name);
      const result = await exec('brew', ['list', '--versions', name], {
        extraEnv: BREW_ENV,
        timeoutMs: 120_000,
        signal: op.signal,
      });
      if (result.exitCode === 1 && result.stdout.trim() === '') return { installed: false };
      if (result.exitCode !== 0) throw queryFailed('brew', name, result);
      // `name 1.2.3 1.2.4`: several kegs may be installed; the last is the newest.
      const version = result.stdout.trim().split(/\s+/).slice(1).at(-1);
      return version === undefined ? { installed: true } : { installed: true, version };
    },
    async install(name, versionRule, op = {}) {
      validateInstallRequest('brew', name, versionRule, ['any', 'latest']);
      const args = ['install', name];
      const result = await exec('brew', args, { extraEnv: BREW_ENV, timeoutMs, signal: op.signal });
      return toOpResult([['brew', ...args]], result);
    },
    async remove(name, op = {}) {
      validatePackageName('brew', name);
      const args = ['uninstall', name];
      const result = await exec('brew', args, { extraEnv: BREW_ENV, timeoutMs, signal: op.signal });
      return toOpResult([['brew', ...args]], result);
    },
  };
}
