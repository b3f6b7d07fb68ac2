// planDevice: desired state + what the agent observed + what DeployX applied → Changes → Steps.
//
// Pure and synchronous; `now` comes in. Pair → diff → order (gitops-engine): resources are
// aligned by key, each pair is compared on its own, and the steps are sorted by a documented
// total order, so a plan is deterministic and snapshot-testable.
//
// Deciding each pair:
//   desired present, observed matches          = unchanged
//   desired present, never applied, not seen   + create
//   desired present, observed differs          ~ update   (drift when DeployX had applied this
//                                                          fingerprint; under `drift: report` a
//                                                          drifted resource is reported, no step)
//   desired absent,  observed present          - delete   (ensure: absent always removes)
//   applied before (inventory), no longer desired:
//        prune: true                           - delete   (files by default)
//        prune: false                          = forget   (packages by default: left in place)
// A resource the agent does not report (absent packages, scripts without a record) counts as
// matching when the inventory holds the desired fingerprint: DeployX applied exactly this.
//
// Step order: package removals, package installs, file writes and deletes, scripts in their
// profile order; ties by key. Scripts with `run: always` ride along with a job that runs anyway,
// they never cause one by themselves (otherwise a device could never be converged).
import type { ObservedResource, Step } from '../../../../schemas/protocol.ts';
import { readDuration } from '../../../../schemas/duration.ts';
import { versionSatisfies } from '../../../../schemas/version-rule.ts';
import type { DesiredResource, DesiredState, FileResource, PackageResource, ScriptResource } from '../model.ts';

/** What DeployX applied on the device, per resource key (the prune source of truth). */
export interface AppliedResource {
  key: string;
  fingerprint: string;
  resource: DesiredResource;
}

export type ChangeAction = 'create' | 'update' | 'delete' | 'unchanged' | 'forget';

export interface Change {
  key: string;
  action: ChangeAction;
  reason: string;
  /** The observed state differs from a fingerprint DeployX had applied: someone changed it. */
  drift: boolean;
  /** Drift under `drift: report`: shown, not corrected. */
  reportOnly: boolean;
  /** The resource this change converges to (desired) or removes (inventory). */
  resource: DesiredResource | undefined;
}

export interface DevicePlan {
  device: string;
  revision: string;
  changes: Change[];
  steps: Step[];
  /** Resource key → the resource each step converges to or removes. */
  resources: Record<string, DesiredResource>;
  /** Keys to drop from the inventory without a step (prune: false). */
  forget: string[];
  /**
   * When the earliest `run: {every}` script that is not due now falls due (ISO time): plan the
   * device again then. Undefined when no schedule is waiting.
   */
  nextRunAt?: string;
}

export interface PlanContext {
  now: Date;
}

export function planDevice(
  desired: DesiredState,
  observed: readonly ObservedResource[] | undefined,
  applied: readonly AppliedResource[],
  ctx: PlanContext,
): DevicePlan {
  const observedByKey = new Map((observed ?? []).map((o) => [o.key, o]));
  const appliedByKey = new Map(applied.map((a) => [a.key, a]));
  const changes: Change[] = [];

  for (const resource of desired.resources) {
    changes.push(diffDesired(resource, observedByKey.get(resource.key), appliedByKey.get(resource.key), ctx));
  }
  const desiredKeys = new Set(desired.resources.map((r) => r.key));
  for (const entry of applied) {
    if (desiredKeys.has(entry.key)) continue;
    changes.push(diffRemoved(entry, observedByKey.get(entry.key)));
  }
  changes.sort((a, b) => compareKeys(a.key, b.key));

  const steps: Step[] = [];
  const resources: Record<string, DesiredResource> = {};
  const add = (change: Change): boolean => {
    const step = stepFor(change);
    if (step) {
      steps.push(step);
      resources[change.key] = change.resource!;
    }
    return step !== undefined;
  };
  for (const change of changes) {
    if ((change.action === 'create' || change.action === 'update' || change.action === 'delete') && !change.reportOnly) add(change);
  }
  // `run: always` scripts join a job that runs anyway (one with at least one real step).
  if (steps.length > 0) {
    for (const change of changes) {
      const r = change.resource;
      if (change.action === 'unchanged' && r?.type === 'script' && r.run === 'always') {
        change.action = 'update';
        change.reason = 'run: always, with this job';
        add(change);
      }
    }
  }
  steps.sort(compareSteps(resources));
  const forget = changes.filter((c) => c.action === 'forget').map((c) => c.key);
  const plan: DevicePlan = { device: desired.device, revision: desired.revision, changes, steps, resources, forget };
  const next = nextRun(changes, observedByKey, ctx);
  if (next !== undefined) plan.nextRunAt = new Date(next).toISOString();
  return plan;
}

/** Epoch ms at which the first scheduled script that is not due (nor in this plan) falls due. */
function nextRun(changes: readonly Change[], observedByKey: ReadonlyMap<string, ObservedResource>, ctx: PlanContext): number | undefined {
  let earliest: number | undefined;
  for (const change of changes) {
    const r = change.resource;
    if (change.action !== 'unchanged' || r?.type !== 'script' || typeof r.run !== 'object') continue;
    const observed = observedByKey.get(change.key);
    if (observed?.type !== 'script' || observed.lastRunAt === undefined) continue;
    const every = durationMs(r.run.every);
    const last = Date.parse(observed.lastRunAt);
    if (every === undefined || Number.isNaN(last)) continue;
    const due = last + every;
    if (due > ctx.now.getTime() && (earliest === undefined || due < earliest)) earliest = due;
  }
  return earliest;
}

// ---- diff one pair ----

function diffDesired(
  resource: DesiredResource,
  observed: ObservedResource | undefined,
  applied: AppliedResource | undefined,
  ctx: PlanContext,
): Change {
  const appliedSame = applied?.fingerprint === resource.fingerprint;
  // A due schedule is not drift: it runs under `drift: report` too.
  const change = (action: ChangeAction, reason: string, scheduled = false): Change => {
    const drift = action === 'update' && appliedSame && !scheduled;
    return { key: resource.key, action, reason, drift, reportOnly: drift && resource.drift === 'report', resource };
  };
  if (resource.type === 'package' && resource.manager === undefined) {
    return change('unchanged', 'waiting for the device to report its package manager');
  }
  if (resource.type === 'package' && resource.packageName === undefined) {
    return change('unchanged', `no package for ${resource.manager} in software "${resource.software}"`);
  }
  const mismatch = observed === undefined ? undefined : mismatchOf(resource, observed);
  if (observed === undefined) {
    if (appliedSame) {
      if (resource.type === 'script' && isDue(resource, undefined, ctx)) return change('update', 'scheduled run is due', true);
      return change('unchanged', 'applied at this fingerprint');
    }
    if (resource.ensure === 'absent') return change('delete', 'ensure: absent');
    return change(applied ? 'update' : 'create', applied ? 'desired state changed' : 'not on the device yet');
  }
  if (mismatch === undefined) {
    if (resource.type === 'script' && observed.type === 'script' && typeof resource.run === 'object' && isDue(resource, observed.lastRunAt, ctx)) {
      return change('update', `due (every ${resource.run.every})`, true);
    }
    return change('unchanged', 'observed as desired');
  }
  if (resource.ensure === 'absent') return change('delete', mismatch);
  return change(applied || isPresent(observed) ? 'update' : 'create', mismatch);
}

/** Why the observed resource does not match the desired one; undefined when it does. */
function mismatchOf(resource: DesiredResource, observed: ObservedResource): string | undefined {
  switch (resource.type) {
    case 'package':
      return observed.type === 'package' ? packageMismatch(resource, observed) : 'observed as another kind';
    case 'file':
      return observed.type === 'file' ? fileMismatch(resource, observed) : 'observed as another kind';
    case 'script':
      return observed.type === 'script' ? scriptMismatch(resource, observed) : 'observed as another kind';
  }
}

function packageMismatch(resource: PackageResource, observed: Extract<ObservedResource, { type: 'package' }>): string | undefined {
  if (resource.ensure === 'absent') return observed.installed ? `installed (${observed.version ?? 'unknown version'})` : undefined;
  if (!observed.installed) return 'not installed';
  if (!versionSatisfies({ installed: true, ...(observed.version ? { version: observed.version } : {}) }, resource.version)) {
    return `version ${observed.version ?? 'unknown'} does not satisfy ${resource.version}`;
  }
  return undefined;
}

function fileMismatch(resource: FileResource, observed: Extract<ObservedResource, { type: 'file' }>): string | undefined {
  if (resource.ensure === 'absent') return observed.exists ? 'file exists' : undefined;
  if (!observed.exists) return 'file missing';
  if (observed.sha256 !== resource.sha256) return 'content differs';
  if (resource.mode !== undefined && observed.mode !== undefined && observed.mode !== resource.mode) {
    return `mode ${observed.mode}, want ${resource.mode}`;
  }
  if (resource.owner !== undefined && observed.owner !== undefined && observed.owner !== resource.owner) {
    return `owner ${observed.owner}, want ${resource.owner}`;
  }
  if (resource.group !== undefined && observed.group !== undefined && observed.group !== resource.group) {
    return `group ${observed.group}, want ${resource.group}`;
  }
  return undefined;
}

/** Whether the body that must have run did; a due schedule is decided by the caller (not drift). */
function scriptMismatch(resource: ScriptResource, observed: Extract<ObservedResource, { type: 'script' }>): string | undefined {
  const run = resource.run;
  if (observed.appliedSha256 === undefined) return 'never ran to success';
  if (run === 'once' || run === 'always') return undefined;
  if (observed.appliedSha256 !== resource.sha256) return 'script changed';
  return undefined;
}

function isDue(resource: ScriptResource, lastRunAt: string | undefined, ctx: PlanContext): boolean {
  if (typeof resource.run !== 'object') return false;
  if (lastRunAt === undefined) return false;
  const every = durationMs(resource.run.every);
  const last = Date.parse(lastRunAt);
  return every !== undefined && !Number.isNaN(last) && ctx.now.getTime() - last >= every;
}

/** `1h30m` → 5,400,000; undefined for anything that is not a positive duration. */
export function durationMs(text: string): number | undefined {
  return readDuration(text);
}

function isPresent(observed: ObservedResource): boolean {
  if (observed.type === 'package') return observed.installed;
  if (observed.type === 'file') return observed.exists;
  return observed.appliedSha256 !== undefined;
}

function diffRemoved(entry: AppliedResource, observed: ObservedResource | undefined): Change {
  const resource = entry.resource;
  const base = { key: entry.key, drift: false, reportOnly: false, resource };
  if (resource.type === 'script') return { ...base, action: 'forget', reason: 'no longer desired' };
  if (!resource.prune) return { ...base, action: 'forget', reason: 'no longer desired; left in place (prune: false)' };
  if (resource.ensure === 'absent') return { ...base, action: 'forget', reason: 'no longer desired (was ensure: absent)' };
  if (observed !== undefined && !isPresent(observed)) return { ...base, action: 'forget', reason: 'already gone' };
  return { ...base, action: 'delete', reason: 'removed from Git (prune)' };
}

// ---- steps ----

function stepFor(change: Change): Step | undefined {
  const r = change.resource!;
  const removing = change.action === 'delete';
  switch (r.type) {
    case 'package':
      if (r.manager === undefined || r.packageName === undefined) return undefined;
      return removing
        ? { action: 'package.remove', key: r.key, manager: r.manager, name: r.packageName }
        : { action: 'package.install', key: r.key, manager: r.manager, name: r.packageName, version: r.version };
    case 'file':
      if (removing) return { action: 'file.delete', key: r.key, path: r.path };
      if (r.sha256 === undefined) return undefined;
      return {
        action: 'file.write',
        key: r.key,
        path: r.path,
        sha256: r.sha256,
        size: r.size ?? -1,
        ...(r.mode !== undefined ? { mode: r.mode } : {}),
        ...(r.owner !== undefined ? { owner: r.owner } : {}),
        ...(r.group !== undefined ? { group: r.group } : {}),
      };
    case 'script':
      if (removing) return undefined;
      return {
        action: 'script.run',
        key: r.key,
        interpreter: r.interpreter,
        sha256: r.sha256,
        run: r.run,
        ...(r.onInterrupt !== undefined ? { onInterrupt: r.onInterrupt } : {}),
        ...(r.check !== undefined ? { check: r.check } : {}),
        timeoutSeconds: r.timeoutSeconds,
        successExitCodes: r.successExitCodes,
        ...(Object.keys(r.env).length > 0 ? { env: { ...r.env } } : {}),
      };
  }
}

const PHASE: Record<Step['action'], number> = {
  'package.remove': 0,
  'package.install': 1,
  'file.write': 2,
  'file.delete': 2,
  'script.run': 3,
};

function compareSteps(resources: Record<string, DesiredResource>) {
  return (a: Step, b: Step): number => {
    const phase = PHASE[a.action] - PHASE[b.action];
    if (phase !== 0) return phase;
    if (a.action === 'script.run' && b.action === 'script.run') {
      const order = orderOf(resources[a.key]) - orderOf(resources[b.key]);
      if (order !== 0) return order;
    }
    return compareKeys(a.key, b.key);
  };
}

function orderOf(resource: DesiredResource | undefined): number {
  return resource?.type === 'script' ? resource.order : 0;
}

function compareKeys(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
