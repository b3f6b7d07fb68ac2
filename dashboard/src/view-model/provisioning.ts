// Bare-metal provisioning as the dashboard shows it: a device's latest install run as its task
// list with each task's last reported status, and the machines that network-booted unknown.
// Pure: no DOM, no clock (the caller passes `now`).
import type { DiscoveredMachine, ProvisioningTimeline } from '../../../schemas/protocol.ts';

export type TaskStatus = 'pending' | 'started' | 'succeeded' | 'failed' | 'skipped';

export interface TaskRow {
  index: number;
  name: string;
  type: string;
  status: TaskStatus;
  exitCode?: number;
  log?: string;
  /** When its last report arrived. */
  at?: string;
}

export interface ProvisioningSummary {
  state: ProvisioningTimeline['state'];
  mac: string | null;
  provisionedAt: string | null;
  enrolledAt: string | null;
  /** The newest run, with its tasks in order; undefined when the device never started one. */
  run?: { id: string; profile: string; hostname: string; image: string; revision: string; status: string; createdAt: string; finishedAt?: string; tasks: TaskRow[] };
  /** Earlier runs (superseded or finished), newest first. */
  earlier: number;
}

/**
 * The newest run's tasks with the last status reported for each. A task after a failure that
 * did not continue on error never ran: `skipped` once the run has ended, `pending` while it runs.
 */
export function summarizeProvisioning(timeline: ProvisioningTimeline): ProvisioningSummary {
  const summary: ProvisioningSummary = {
    state: timeline.state,
    mac: timeline.mac,
    provisionedAt: timeline.provisionedAt,
    enrolledAt: timeline.enrolledAt,
    earlier: Math.max(0, timeline.runs.length - 1),
  };
  const newest = [...timeline.runs].sort((a, b) => b.createdAt.localeCompare(a.createdAt))[0];
  if (!newest) return summary;
  const last = new Map<number, ProvisioningTimeline['steps'][number]>();
  for (const step of timeline.steps) {
    if (step.runId !== newest.id) continue;
    const seen = last.get(step.index);
    if (!seen || seen.at <= step.at) last.set(step.index, step);
  }
  const ended = newest.status !== 'active';
  let stopped = false;
  const tasks = [...newest.tasks].sort((a, b) => a.index - b.index).map((task): TaskRow => {
    const step = last.get(task.index);
    const row: TaskRow = { index: task.index, name: task.name, type: task.type, status: step ? step.status : stopped && ended ? 'skipped' : 'pending' };
    if (step?.exitCode !== undefined) row.exitCode = step.exitCode;
    if (step?.log) row.log = step.log;
    if (step) row.at = step.at;
    if (step?.status === 'failed' && !task.continueOnError) stopped = true;
    return row;
  });
  summary.run = {
    id: newest.id,
    profile: newest.profile,
    hostname: newest.hostname,
    image: newest.image,
    revision: newest.revision,
    status: newest.status,
    createdAt: newest.createdAt,
    ...(newest.finishedAt === undefined ? {} : { finishedAt: newest.finishedAt }),
    tasks,
  };
  return summary;
}

export interface DiscoveredRow {
  mac: string;
  firmware: string;
  identity: string;
  boots: number;
  firstSeenAt: string;
  lastSeenAt: string;
  /** What the last boot was told, for people. */
  told: string;
}

const REASONS: Record<string, string> = {
  'unknown-machine': 'waiting: no Device has this MAC',
  menu: 'shown the profile menu',
};

/** Newest boot first; the YAML a technician commits to adopt it is `deviceYaml`. */
export function discoveredRows(machines: readonly DiscoveredMachine[]): DiscoveredRow[] {
  return [...machines]
    .sort((a, b) => b.lastSeenAt.localeCompare(a.lastSeenAt) || a.mac.localeCompare(b.mac))
    .map((m) => ({
      mac: m.mac,
      firmware: [m.platform === 'efi' ? 'UEFI' : m.platform === 'pcbios' ? 'BIOS' : m.platform, m.buildarch].filter(Boolean).join(' · ') || '—',
      identity: [m.serial ? `serial ${m.serial}` : '', m.uuid ? `uuid ${m.uuid}` : ''].filter(Boolean).join(', ') || '—',
      boots: m.boots,
      firstSeenAt: m.firstSeenAt,
      lastSeenAt: m.lastSeenAt,
      told: toldText(m.lastDecision),
    }));
}

function toldText(decision: string | undefined): string {
  if (!decision) return '—';
  const [action, reason] = decision.split(/:(.*)/s) as [string, string | undefined];
  if (action === 'wait') return REASONS[reason ?? ''] ?? `waiting: ${reason ?? ''}`.trim();
  if (action === 'menu') return REASONS.menu!;
  if (action === 'install') return 'installing';
  if (action === 'local-disk') return `boot from disk${reason ? ` (${reason})` : ''}`;
  return decision;
}

/** The `Device` document that adopts a discovered machine: commit it to the fleet repository. */
export function deviceYaml(mac: string, name = 'NEW-DEVICE-NAME'): string {
  return `apiVersion: deployx.dev/v1\nkind: Device\nmetadata:\n  name: ${name}\nspec:\n  macAddresses: ["${mac}"]\n  profile: PROFILE\n`;
}
