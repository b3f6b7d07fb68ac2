// apt (Debian, Ubuntu). Query with dpkg-query, install and remove with apt-get, unattended:
// DEBIAN_FRONTEND=noninteractive, keep locally modified conffiles (`--force-confdef/confold`),
// and wait for a dpkg lock held by unattended-upgrades instead of failing at once.
//
// A rule apt cannot find ("Unable to locate package", "Version ... was not found") triggers one
// `apt-get update` and one retry: a fresh machine often has stale or empty package lists.
//
// `dpkgRoot` (tests, sandboxed agents): packages go into an isolated dpkg database under that
// root instead of the host's — `apt-get download` into a temp dir, then
// `dpkg --root=R --force-depends -i`. Dependencies are NOT installed in that mode.
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { ExecResult } from '../../system/exec.ts';
import {
  DEFAULT_PACKAGE_TIMEOUT_MS,
  queryFailed,
  toOpResult,
  validateInstallRequest,
  validatePackageName,
  type AdapterOptions,
  type PackageAdapter,
  type PackageOpOptions,
  type PackageOpResult,
  type PackageState,
} from './adapter.ts';
import type { VersionRule } from './version-rule.ts';

export interface AptAdapterOptions extends AdapterOptions {
  /** An isolated dpkg root (contains var/lib/dpkg). */
  dpkgRoot?: string;
  /** Seconds apt-get waits for the dpkg lock. Default 120. */
  lockTimeoutSeconds?: number;
}

export const DPKG_QUERY_FORMAT = '-f=${Status}\\t${Version}\\n';
const APT_ENV = { DEBIAN_FRONTEND: 'noninteractive' };
const NOT_FOUND = /Unable to locate package|has no installation candidate|Version '[^']*' for '[^']*' was not found/;

export function createAptAdapter(options: AptAdapterOptions): PackageAdapter {
  const { exec, dpkgRoot } = options;
  const timeoutMs = options.timeoutMs ?? DEFAULT_PACKAGE_TIMEOUT_MS;
  const aptOptions = [
    '-o',
    `DPkg::Lock::Timeout=${options.lockTimeoutSeconds ?? 120}`,
    '-o',
    'Dpkg::Options::=--force-confdef',
    '-o',
    'Dpkg::Options::=--force-confold',
  ];

  const runApt = (args: string[], op: PackageOpOptions, cwd?: string): Promise<ExecResult> =>
    exec('apt-get', args, { extraEnv: APT_ENV, timeoutMs, signal: op.signal, cwd });

  /** Runs `args`; when apt cannot find the package, updates the lists and tries once more. */
  const withUpdateRetry = async (
    args: string[],
    op: PackageOpOptions,
    cwd?: string,
  ): Promise<{ argv: string[][]; result: ExecResult }> => {
    const argv = [['apt-get', ...args]];
    let result = await runApt(args, op, cwd);
    if (result.exitCode !== 0 && !result.timedOut && !result.aborted && NOT_FOUND.test(result.stderr + result.stdout)) {
      const update = ['update', ...aptOptions.slice(0, 2)];
      argv.push(['apt-get', ...update]);
      const updated = await runApt(update, op);
      if (updated.exitCode === 0) {
        argv.push(['apt-get', ...args]);
        result = await runApt(args, op, cwd);
      }
    }
    return { argv, result };
  };

  return {
    manager: 'apt',

    async query(name, op = {}): Promise<PackageState> {
      validatePackageName('apt', name);
      const admin = dpkgRoot === undefined ? [] : [`--admindir=${path.join(dpkgRoot, 'var/lib/dpkg')}`];
      const result = await exec('dpkg-query', [...admin, '-W', DPKG_QUERY_FORMAT, name], {
        signal: op.signal,
        timeoutMs: 60_000,
      });
      if (result.exitCode === 0) return parseDpkgQuery(result.stdout);
      if (result.exitCode === 1 && /no packages found/i.test(result.stderr)) return { installed: false };
      throw queryFailed('apt', name, result);
    },

    async install(name, versionRule, op = {}): Promise<PackageOpResult> {
      const rule = validateInstallRequest('apt', name, versionRule, ['any', 'latest', 'exact', 'prefix']);
      const target = aptTarget(name, rule);
      if (dpkgRoot === undefined) {
        const { argv, result } = await withUpdateRetry(
          ['install', '-y', '--no-install-recommends', ...aptOptions, target],
          op,
        );
        return toOpResult(argv, result);
      }
      const dir = await mkdtemp(path.join(os.tmpdir(), 'deployx-apt-'));
      try {
        const download = await withUpdateRetry(['download', target], op, dir);
        if (download.result.exitCode !== 0) return toOpResult(download.argv, download.result);
        const debs = (await readdir(dir)).filter((f) => f.endsWith('.deb')).map((f) => path.join(dir, f));
        const argv = ['dpkg', `--root=${dpkgRoot}`, '--force-depends', '-i', ...debs];
        const result = await exec(argv[0]!, argv.slice(1), { extraEnv: APT_ENV, timeoutMs, signal: op.signal });
        return toOpResult([...download.argv, argv], result);
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    },

    async remove(name, op = {}): Promise<PackageOpResult> {
      validatePackageName('apt', name);
      const argv =
        dpkgRoot === undefined
          ? ['apt-get', 'remove', '-y', ...aptOptions, name]
          : ['dpkg', `--root=${dpkgRoot}`, '-r', name];
      const result = await exec(argv[0]!, argv.slice(1), { extraEnv: APT_ENV, timeoutMs, signal: op.signal });
      return toOpResult([argv], result);
    },
  };
}

/** `name`, `name=1.2-3` or `name=1.24.*` (apt matches the glob against candidate versions). */
export function aptTarget(name: string, rule: VersionRule): string {
  if (rule.kind === 'exact') return `${name}=${rule.version}`;
  if (rule.kind === 'prefix') return `${name}=${rule.pattern}`;
  return name;
}

/** `install ok installed\t2.10-3` lines (several for multi-arch); `deinstall ok config-files` is absent. */
export function parseDpkgQuery(stdout: string): PackageState {
  for (const line of stdout.split('\n')) {
    const [status = '', version = ''] = line.split('\t');
    if (status.trim().split(/\s+/)[2] === 'installed') {
      return version.trim() === '' ? { installed: true } : { installed: true, version: version.trim() };
    }
  }
  return { installed: false };
}
