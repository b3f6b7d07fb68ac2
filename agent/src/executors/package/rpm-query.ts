// `rpm -q` — how dnf, yum and zypper hosts say what is installed.
import type { PackageManager } from '../../../../schemas/kinds.ts';
import type { Exec } from '../../system/exec.ts';
import { queryFailed, type PackageOpOptions, type PackageState } from './adapter.ts';

/** One line per installed instance (kernels are installed side by side); the last one wins. */
export const RPM_QUERY_FORMAT = '%{VERSION}-%{RELEASE}\\n';

export async function queryRpm(
  exec: Exec,
  manager: PackageManager,
  name: string,
  options: PackageOpOptions = {},
): Promise<PackageState> {
  const result = await exec('rpm', ['-q', '--qf', RPM_QUERY_FORMAT, name], {
    signal: options.signal,
    timeoutMs: 60_000,
  });
  if (result.exitCode === 0) {
    const versions = result.stdout.split('\n').map((l) => l.trim()).filter((l) => l !== '');
    const version = versions.at(-1);
    return version === undefined ? { installed: true } : { installed: true, version };
  }
  if (result.exitCode === 1 && /is not installed/.test(result.stdout + result.stderr)) return { installed: false };
  throw queryFailed(manager, name, result);
}
