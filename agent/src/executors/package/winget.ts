// winget (Windows). Packages are addressed by id (`--id X --exact`); exact versions only.
// `winget list` prints a table whose columns are sized to the content; the row whose Id column
// equals the id (case-insensitive) gives the version in the next column. "No installed package
// found" comes with APPINSTALLER_CLI_ERROR_NO_APPLICATIONS_FOUND (0x8A150014), which Node may
// report signed or unsigned.
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

const hresult = (code: number): number[] => [code, code - 0x1_0000_0000];
const NO_APPLICATIONS_FOUND = hresult(0x8a150014);
/** "No applicable upgrade found": already installed at that version. */
const UPDATE_NOT_APPLICABLE = hresult(0x8a15002b);
const WINGET_SUCCESS = [0, ...UPDATE_NOT_APPLICABLE];

export function createWingetAdapter(options: AdapterOptions): PackageAdapter {
  const { exec } = options;
  const timeoutMs = options.timeoutMs ?? DEFAULT_PACKAGE_TIMEOUT_MS;
  return {
    manager: 'winget',
    async query(id, op = {}) {
      validatePackageName('winget', id);
      const result = await exec('winget', ['list', '--id', id, '--exact', '--accept-source-agreements'], {
        timeoutMs: 120_000,
        signal: op.signal,
      });
      if (result.exitCode === 0) return parseWingetList(result.stdout, id);
      if (
        (result.exitCode !== null && NO_APPLICATIONS_FOUND.includes(result.exitCode)) ||
        /No installed package found/i.test(result.stdout)
      ) {
        return { installed: false };
      }
      throw queryFailed('winget', id, result);
    },
    async install(id, versionRule, op = {}) {
      const rule = validateInstallRequest('winget', id, versionRule, ['any', 'latest', 'exact']);
      const args = [
        'install',
        '--id',
        id,
        '--exact',
        '--silent',
        '--accept-package-agreements',
        '--accept-source-agreements',
        ...(rule.kind === 'exact' ? ['--version', rule.version] : []),
      ];
      const result = await exec('winget', args, { timeoutMs, signal: op.signal });
      return toOpResult([['winget', ...args]], result, WINGET_SUCCESS);
    },
    async remove(id, op = {}) {
      validatePackageName('winget', id);
      const args = ['uninstall', '--id', id, '--exact', '--silent', '--accept-source-agreements'];
      const result = await exec('winget', args, { timeoutMs, signal: op.signal });
      return toOpResult([['winget', ...args]], result);
    },
  };
}

export function parseWingetList(stdout: string, id: string): PackageState {
  // Progress spinners are drawn with carriage returns; keep what follows the last one.
  for (const raw of stdout.split('\n')) {
    const line = raw.split('\r').at(-1) ?? '';
    const tokens = line.trim().split(/\s+/);
    const at = tokens.findIndex((t) => t.toLowerCase() === id.toLowerCase());
    if (at === -1) continue;
    let version = tokens[at + 1];
    if (version === '<' || version === '>') version = tokens[at + 2];
    return version === undefined ? { installed: true } : { installed: true, version };
  }
  return { installed: false };
}
