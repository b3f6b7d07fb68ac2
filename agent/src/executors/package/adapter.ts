// The common shape of a package-manager adapter, and what all adapters share: validation of
// names and versions BEFORE anything runs, and running a manager command through the injected
// Exec with an argument array.
import type { PackageManager } from '../../../../schemas/kinds.ts';
import { AgentError } from '../../errors.ts';
import { tailUtf8, type Exec, type ExecResult } from '../../system/exec.ts';
import { parseVersionRule, type PackageState, type VersionRule } from './version-rule.ts';

export type { PackageState } from './version-rule.ts';

export interface PackageOpOptions {
  signal?: AbortSignal;
}

export interface PackageOpResult {
  ok: boolean;
  /** The command(s) that ran, for the step output and for tests. */
  argv: string[][];
  exitCode: number | null;
  /** stdout then stderr of the last command, tail-capped. */
  output: string;
  timedOut: boolean;
  aborted: boolean;
}

export interface PackageAdapter {
  readonly manager: PackageManager;
  /** Throws `package.invalid-name` before running anything, `package.query-failed` when unsure. */
  query(name: string, options?: PackageOpOptions): Promise<PackageState>;
  /** Throws `package.invalid-*` / `package.version-unsupported` before running anything. */
  install(name: string, versionRule: string, options?: PackageOpOptions): Promise<PackageOpResult>;
  remove(name: string, options?: PackageOpOptions): Promise<PackageOpResult>;
}

export interface AdapterOptions {
  exec: Exec;
  /** Per command; installs can be slow. Default 30 minutes. */
  timeoutMs?: number;
}

export const DEFAULT_PACKAGE_TIMEOUT_MS = 30 * 60 * 1000;

/** Names: apt, rpm, zypper, brew (`owner/tap/formula`, `node@20`), choco. Never a leading `-`. */
export const PACKAGE_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9+._@:/-]*$/;
/** winget ids (`Microsoft.VisualStudioCode`) and Chocolatey ids: no `/`, `:` or `@`. */
export const PACKAGE_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9+._-]*$/;
const MAX_NAME_LENGTH = 256;

export function validatePackageName(manager: PackageManager, name: string): void {
  const pattern = manager === 'winget' || manager === 'choco' ? PACKAGE_ID_PATTERN : PACKAGE_NAME_PATTERN;
  if (typeof name !== 'string' || name.length > MAX_NAME_LENGTH || !pattern.test(name) || name.includes('..')) {
    throw new AgentError('package.invalid-name', `invalid ${manager} package name: ${JSON.stringify(name)}`);
  }
}

/** Validates and parses; `supports` lists the rule kinds this manager can install by. */
export function validateInstallRequest(
  manager: PackageManager,
  name: string,
  versionRule: string,
  supports: ReadonlyArray<VersionRule['kind']>,
): VersionRule {
  validatePackageName(manager, name);
  const rule = parseVersionRule(versionRule);
  if (!supports.includes(rule.kind)) {
    throw new AgentError(
      'package.version-unsupported',
      `${manager} cannot install by a ${rule.kind} version rule (${versionRule})`,
    );
  }
  return rule;
}

export function combinedOutput(result: ExecResult): string {
  const parts = [result.stdout.trimEnd(), result.stderr.trimEnd()].filter((p) => p !== '');
  return tailUtf8(parts.join('\n')).text;
}

export function toOpResult(argv: string[][], result: ExecResult, successCodes: readonly number[] = [0]): PackageOpResult {
  return {
    ok: !result.timedOut && !result.aborted && result.exitCode !== null && successCodes.includes(result.exitCode),
    argv,
    exitCode: result.exitCode,
    output: combinedOutput(result),
    timedOut: result.timedOut,
    aborted: result.aborted,
  };
}

export function queryFailed(manager: PackageManager, name: string, result: ExecResult): AgentError {
  const why = result.timedOut ? 'timed out' : `exit ${result.exitCode ?? result.signal}`;
  return new AgentError(
    'package.query-failed',
    `${manager}: cannot tell whether ${name} is installed (${why}): ${combinedOutput(result).slice(-500)}`,
  );
}
