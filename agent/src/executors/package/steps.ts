// package.install / package.remove: observe → apply → observe. An install is verified by the
// second observation, not by the manager's exit code: exit 0 with the wrong version installed
// is a failed step.
import type { ObservedPackage, Step } from '../../../../schemas/protocol.ts';
import { AgentError, describeError } from '../../errors.ts';
import type { ExecContext, StepOutcome } from '../context.ts';
import { validateInstallRequest, validatePackageName, type PackageOpResult, type PackageState } from './adapter.ts';
import { versionSatisfies } from './version-rule.ts';

type InstallStep = Extract<Step, { action: 'package.install' }>;
type RemoveStep = Extract<Step, { action: 'package.remove' }>;

export async function installPackage(step: InstallStep, ctx: ExecContext): Promise<StepOutcome> {
  const adapter = ctx.packages(step.manager);
  validateInstallRequest(step.manager, step.name, step.version, ['any', 'latest', 'exact', 'prefix']);
  const before = await adapter.query(step.name, { signal: ctx.signal });
  if (versionSatisfies(before, step.version)) {
    return {
      status: 'skipped',
      observed: toObserved(step, before),
      output: `already installed${before.version ? ` (${before.version})` : ''}`,
    };
  }
  const op = await adapter.install(step.name, step.version, { signal: ctx.signal });
  const after = await observeAfter(step, ctx, op);
  if (!op.ok || after === undefined) return failed(step, after, op, 'package.install-failed');
  if (!versionSatisfies(after, step.version)) {
    const seen = after.installed ? `version ${after.version ?? 'unknown'} is installed` : 'it is not installed';
    return {
      status: 'failed',
      observed: toObserved(step, after),
      exitCode: op.exitCode ?? undefined,
      output: op.output,
      error: `package.install-failed: ${step.name} should satisfy ${step.version} but ${seen}`,
    };
  }
  return { status: 'succeeded', observed: toObserved(step, after), exitCode: op.exitCode ?? undefined, output: op.output };
}

export async function removePackage(step: RemoveStep, ctx: ExecContext): Promise<StepOutcome> {
  const adapter = ctx.packages(step.manager);
  validatePackageName(step.manager, step.name);
  const before = await adapter.query(step.name, { signal: ctx.signal });
  if (!before.installed) return { status: 'skipped', observed: toObserved(step, before), output: 'not installed' };
  const op = await adapter.remove(step.name, { signal: ctx.signal });
  const after = await observeAfter(step, ctx, op);
  if (!op.ok || after === undefined) return failed(step, after, op, 'package.remove-failed');
  if (after.installed) {
    return {
      status: 'failed',
      observed: toObserved(step, after),
      exitCode: op.exitCode ?? undefined,
      output: op.output,
      error: `package.remove-failed: ${step.name} is still installed`,
    };
  }
  return { status: 'succeeded', observed: toObserved(step, after), exitCode: op.exitCode ?? undefined, output: op.output };
}

export async function observePackage(step: InstallStep | RemoveStep, ctx: ExecContext): Promise<ObservedPackage> {
  return toObserved(step, await ctx.packages(step.manager).query(step.name, { signal: ctx.signal }));
}

/** After a failed or aborted command the query may fail too; the command's failure is the story. */
async function observeAfter(step: InstallStep | RemoveStep, ctx: ExecContext, op: PackageOpResult): Promise<PackageState | undefined> {
  try {
    return await ctx.packages(step.manager).query(step.name, { signal: ctx.signal });
  } catch (error) {
    if (!op.ok) return undefined;
    throw error;
  }
}

function failed(
  step: InstallStep | RemoveStep,
  after: PackageState | undefined,
  op: PackageOpResult,
  code: 'package.install-failed' | 'package.remove-failed',
): StepOutcome {
  const why = op.aborted ? 'aborted' : op.timedOut ? 'timed out' : `exit code ${op.exitCode}`;
  const command = op.argv.at(-1)?.join(' ') ?? step.manager;
  return {
    status: 'failed',
    ...(after === undefined ? {} : { observed: toObserved(step, after) }),
    exitCode: op.exitCode ?? undefined,
    output: op.output,
    error: describeError(new AgentError(code, `${command}: ${why}`)),
  };
}

function toObserved(step: InstallStep | RemoveStep, state: PackageState): ObservedPackage {
  return {
    key: step.key,
    type: 'package',
    manager: step.manager,
    name: step.name,
    installed: state.installed,
    ...(state.version === undefined ? {} : { version: state.version }),
  };
}
