// A simulated device's machine: an in-memory package database, file system and script run
// records, and executors/observers over them that implement the same Step actions with the same
// contract as the real ones (executors/): observe → apply → observe, `skipped` when already in
// the desired state, the same ObservedResource shapes, the same validation and error codes
// (package names, version rules, device paths, interpreters, run policies), and file and script
// bodies fetched by SHA-256 and verified before use. Only the side effects are imaginary.
//
// Files keep their hash, size, mode and owner — not their bytes: 10,000 devices hold one copy
// of each blob in the shared cache (blob-cache.ts), not 10,000.
//
// Scripts: a `check` guard "exits 0" once this body has run to success on the device (the guard
// tests the script's effect, which the device then has).
//
// Faults: `fault(ctx, step)` decides per step whether it fails (simulation.ts derives it from the
// device and the job); `latencyMs` is added to every step that does something.
import type { PackageManager } from '../../../schemas/kinds.ts';
import type { ObservedFile, ObservedPackage, ObservedScript, Step } from '../../../schemas/protocol.ts';
import { AgentError, describeError } from '../errors.ts';
import type { ExecContext, Executors, Observers, StepOutcome } from '../executors/index.ts';
import { validateInstallRequest, validatePackageName } from '../executors/package/adapter.ts';
import { parseVersionRule, versionSatisfies, type PackageState } from '../executors/package/version-rule.ts';
import { decideRun, resolveInterpreter } from '../executors/script.ts';
import type { ScriptRunRecord } from '../state/script-runs.ts';
import { defaultAllowedRoots, normalizeDevicePath } from '../system/paths.ts';
import { formatMode, parseMode, sha256Bytes } from '../system/fs-atomic.ts';
import { sleep, type Clock } from '../transport/clock.ts';

type InstallStep = Extract<Step, { action: 'package.install' }>;
type RemoveStep = Extract<Step, { action: 'package.remove' }>;
type WriteStep = Extract<Step, { action: 'file.write' }>;
type DeleteStep = Extract<Step, { action: 'file.delete' }>;
type ScriptStep = Extract<Step, { action: 'script.run' }>;

export interface MemoryFile {
  sha256: string;
  size: number;
  mode?: string;
  owner?: string;
  group?: string;
}

export class MemoryHost {
  /** `manager:name` → installed version. */
  readonly packages = new Map<string, string>();
  /** Normalised device path → file. */
  readonly files = new Map<string, MemoryFile>();
  readonly scripts = new Map<string, ScriptRunRecord>();

  constructor(
    readonly platform: NodeJS.Platform,
    /** The managers this machine has; steps for others fail `package.manager-unsupported`. */
    readonly managers: readonly PackageManager[],
  ) {}

  queryPackage(manager: PackageManager, name: string): PackageState {
    const version = this.packages.get(`${manager}:${name}`);
    return version === undefined ? { installed: false } : { installed: true, version };
  }
}

export interface MemoryExecutorOptions {
  clock: Clock;
  /** Added to every step that changes something. */
  latencyMs?: number;
  /** An error message when this step should fail (simulated), else undefined. */
  fault?: (ctx: ExecContext, step: Step) => string | undefined;
}

export function createMemoryExecutors(host: MemoryHost, options: MemoryExecutorOptions): { executors: Executors; observers: Observers } {
  const delay = async (ctx: ExecContext): Promise<void> => {
    if (options.latencyMs && options.latencyMs > 0) await sleep(options.clock, options.latencyMs, ctx.signal);
    if (ctx.signal.aborted) throw new AgentError('job.aborted', 'job aborted');
  };
  const faultOf = (ctx: ExecContext, step: Step): string | undefined => options.fault?.(ctx, step);
  const windows = host.platform === 'win32';

  const adapterFor = (manager: PackageManager): void => {
    if (!host.managers.includes(manager)) {
      throw new AgentError('package.manager-unsupported', `package manager ${manager} is not available on this device`);
    }
  };
  const observePackage = async (step: InstallStep | RemoveStep): Promise<ObservedPackage> => {
    validatePackageName(step.manager, step.name);
    return toObservedPackage(step, host.queryPackage(step.manager, step.name));
  };
  const resolvePath = (devicePath: string): string => {
    const normalized = normalizeDevicePath(devicePath, host.platform);
    const api = windows ? (s: string) => s.toLowerCase() : (s: string) => s;
    const sep = windows ? '\\' : '/';
    const roots = defaultAllowedRoots(host.platform).map((r) => normalizeDevicePath(r, host.platform));
    if (!roots.some((root) => api(normalized).startsWith(api(root) + sep))) {
      throw new AgentError('path.outside-allowed', `${normalized} is not under an allowed root (${roots.join(', ')})`);
    }
    return normalized;
  };
  const observeFile = async (step: WriteStep | DeleteStep): Promise<ObservedFile> => {
    const devicePath = resolvePath(step.path);
    const file = host.files.get(devicePath);
    if (!file) return { key: step.key, type: 'file', path: devicePath, exists: false };
    return {
      key: step.key,
      type: 'file',
      path: devicePath,
      exists: true,
      sha256: file.sha256,
      size: file.size,
      ...(windows ? {} : { mode: file.mode ?? '0644', owner: file.owner ?? 'root', group: file.group ?? 'root' }),
    };
  };
  const observeScript = async (step: ScriptStep): Promise<ObservedScript> => toObservedScript(step.key, host.scripts.get(step.key));
  const fetchVerified = async (ctx: ExecContext, sha256: string): Promise<Uint8Array> => {
    let bytes: Uint8Array;
    try {
      bytes = await ctx.fetchBlob(sha256, { signal: ctx.signal });
    } catch (error) {
      throw new AgentError('blob.fetch', `blob ${sha256}: ${describeError(error)}`, { cause: error });
    }
    return bytes;
  };

  const executors: Executors = {
    'package.install': async (step, ctx) => {
      adapterFor(step.manager);
      const rule = validateInstallRequest(step.manager, step.name, step.version, ['any', 'latest', 'exact', 'prefix']);
      const before = host.queryPackage(step.manager, step.name);
      if (versionSatisfies(before, rule)) {
        return { status: 'skipped', observed: toObservedPackage(step, before), output: `already installed (${before.version})` };
      }
      await delay(ctx);
      const fault = faultOf(ctx, step);
      if (fault) return failed(toObservedPackage(step, before), `package.install-failed: ${fault}`, 100);
      host.packages.set(`${step.manager}:${step.name}`, versionFor(step.name, step.version));
      const after = host.queryPackage(step.manager, step.name);
      return { status: 'succeeded', observed: toObservedPackage(step, after), exitCode: 0, output: `installed ${step.name} ${after.version}` };
    },
    'package.remove': async (step, ctx) => {
      adapterFor(step.manager);
      validatePackageName(step.manager, step.name);
      const before = host.queryPackage(step.manager, step.name);
      if (!before.installed) return { status: 'skipped', observed: toObservedPackage(step, before), output: 'not installed' };
      await delay(ctx);
      const fault = faultOf(ctx, step);
      if (fault) return failed(toObservedPackage(step, before), `package.remove-failed: ${fault}`, 100);
      host.packages.delete(`${step.manager}:${step.name}`);
      return { status: 'succeeded', observed: toObservedPackage(step, { installed: false }), exitCode: 0 };
    },
    'file.write': async (step, ctx) => {
      const devicePath = resolvePath(step.path);
      const before = await observeFile(step);
      const mode = windows || step.mode === undefined ? undefined : formatMode(parseMode(step.mode));
      const modeRight = mode === undefined || before.mode === mode;
      const ownerRight = (step.owner === undefined || before.owner === step.owner) && (step.group === undefined || before.group === step.group);
      if (before.sha256 === step.sha256 && modeRight && ownerRight) {
        return { status: 'skipped', observed: before, output: 'already in the desired state' };
      }
      await delay(ctx);
      const fault = faultOf(ctx, step);
      if (fault) return failed(before, fault);
      if (before.sha256 !== step.sha256) {
        const bytes = await fetchVerified(ctx, step.sha256);
        const actual = sha256Bytes(bytes);
        if (actual !== step.sha256 || (step.size >= 0 && bytes.length !== step.size)) {
          return failed(
            before,
            describeError(
              new AgentError('blob.hash-mismatch', `blob for ${devicePath} has sha256 ${actual} (${bytes.length} bytes), expected ${step.sha256}; nothing written`),
            ),
          );
        }
      }
      const previous = host.files.get(devicePath);
      host.files.set(devicePath, {
        sha256: step.sha256,
        size: step.size,
        ...(windows
          ? {}
          : {
              mode: mode ?? previous?.mode ?? '0644',
              owner: step.owner ?? previous?.owner ?? 'root',
              group: step.group ?? previous?.group ?? 'root',
            }),
      });
      return { status: 'succeeded', observed: await observeFile(step) };
    },
    'file.delete': async (step, ctx) => {
      const devicePath = resolvePath(step.path);
      const before = await observeFile(step);
      if (!before.exists) return { status: 'skipped', observed: before, output: 'not present' };
      await delay(ctx);
      const fault = faultOf(ctx, step);
      if (fault) return failed(before, fault);
      host.files.delete(devicePath);
      return { status: 'succeeded', observed: await observeFile(step) };
    },
    'script.run': async (step, ctx) => {
      resolveInterpreter(step.interpreter, host.platform);
      const record = host.scripts.get(step.key);
      const decision = decideRun(step.run, step.sha256, record, ctx.now());
      // A simulated device never loses a run: no replay and no interrupted run to decide about.
      if (!decision.run && 'reason' in decision) return { status: 'skipped', observed: toObservedScript(step.key, record), output: decision.reason };
      const body = await fetchVerified(ctx, step.sha256);
      const actual = sha256Bytes(body);
      if (actual !== step.sha256) {
        return failed(
          toObservedScript(step.key, record),
          describeError(new AgentError('blob.hash-mismatch', `script body has sha256 ${actual}, expected ${step.sha256}; not run`)),
        );
      }
      if (step.check !== undefined && step.check !== '' && record?.appliedSha256 === step.sha256) {
        // The guard checks the script's effect; a device where this body ran to success has it.
        return { status: 'skipped', observed: toObservedScript(step.key, record), exitCode: 0, output: 'check exited 0: already done' };
      }
      await delay(ctx);
      const fault = faultOf(ctx, step);
      const at = ctx.now().toISOString();
      const next: ScriptRunRecord = fault
        ? { ...record, key: step.key, lastRunAt: at, lastSha256: step.sha256, lastExitCode: 1, lastStatus: 'failed' }
        : { key: step.key, appliedSha256: step.sha256, lastSuccessAt: at, lastRunAt: at, lastSha256: step.sha256, lastExitCode: 0, lastStatus: 'succeeded' };
      host.scripts.set(step.key, next);
      if (fault) {
        return { ...failed(toObservedScript(step.key, next), `script.exit-code: exit 1 (expected ${step.successExitCodes.join(', ') || 0})`, 1), output: fault };
      }
      return { status: 'succeeded', observed: toObservedScript(step.key, next), exitCode: 0, output: `simulated ${step.interpreter} script ran` };
    },
  };

  const observers: Observers = {
    'package.install': observePackage,
    'package.remove': observePackage,
    'file.write': observeFile,
    'file.delete': observeFile,
    'script.run': observeScript,
  };
  return { executors, observers };
}

function failed<O extends StepOutcome['observed']>(observed: O, error: string, exitCode?: number): StepOutcome {
  return { status: 'failed', observed, error, ...(exitCode === undefined ? {} : { exitCode }) };
}

function toObservedPackage(step: InstallStep | RemoveStep, state: PackageState): ObservedPackage {
  return {
    key: step.key,
    type: 'package',
    manager: step.manager,
    name: step.name,
    installed: state.installed,
    ...(state.version === undefined ? {} : { version: state.version }),
  };
}

function toObservedScript(key: string, record: ScriptRunRecord | undefined): ObservedScript {
  return {
    key,
    type: 'script',
    ...(record?.appliedSha256 === undefined ? {} : { appliedSha256: record.appliedSha256 }),
    ...(record === undefined ? {} : { lastRunAt: record.lastRunAt }),
    ...(record?.lastExitCode === undefined ? {} : { lastExitCode: record.lastExitCode }),
  };
}

/** The version a simulated manager installs for a rule: the rule's own, or a stable catalog one. */
export function versionFor(name: string, rule: string): string {
  const parsed = parseVersionRule(rule);
  if (parsed.kind === 'exact') return parsed.version;
  if (parsed.kind === 'prefix') return parsed.prefix.endsWith('.') ? `${parsed.prefix}0` : `${parsed.prefix}.0`;
  let h = 0;
  for (const ch of name) h = (h * 31 + ch.charCodeAt(0)) >>> 0;
  return `${1 + (h % 9)}.${(h >>> 4) % 20}.${(h >>> 9) % 10}`;
}
