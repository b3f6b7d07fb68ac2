// Rollouts: progress bars, what is active, and which commands a user may press. Pure.
import type { Role } from '../../../schemas/protocol.ts';
import type { RolloutCounts, RolloutDeviceStatus, RolloutView, WaveView } from './wire.ts';

export const ACTIVE_ROLLOUT_STATUSES: readonly string[] = ['progressing', 'paused', 'halted'];

/** Drawn left to right in this order; `waiting` is the track. */
export const PROGRESS_SEGMENTS: readonly RolloutDeviceStatus[] = ['succeeded', 'failed', 'offline', 'running', 'retrying'];

export interface Progress {
  total: number;
  /** Devices that reached an end: succeeded, failed or offline past the timeout. */
  done: number;
  percent: number;
  segments: Array<{ status: RolloutDeviceStatus; count: number; percent: number }>;
}

export function progressOf(counts: RolloutCounts): Progress {
  const total = counts.total || 0;
  const done = (counts.succeeded ?? 0) + (counts.failed ?? 0) + (counts.offline ?? 0);
  const segments = PROGRESS_SEGMENTS.map((status) => ({ status, count: counts[status] ?? 0, percent: total > 0 ? ((counts[status] ?? 0) / total) * 100 : 0 })).filter(
    (s) => s.count > 0,
  );
  return { total, done, percent: total > 0 ? Math.round((done / total) * 100) : 0, segments };
}

export function isActive(rollout: Pick<RolloutView, 'status'>): boolean {
  return ACTIVE_ROLLOUT_STATUSES.includes(rollout.status);
}

/** Active rollouts first (halted, paused, progressing), then the rest newest first. */
export function sortRollouts(rollouts: readonly RolloutView[]): RolloutView[] {
  const rank = (r: RolloutView) => (r.status === 'halted' ? 0 : r.status === 'paused' ? 1 : r.status === 'progressing' ? 2 : 3);
  return rollouts.slice().sort((a, b) => rank(a) - rank(b) || Date.parse(b.createdAt) - Date.parse(a.createdAt));
}

export type WavePhase = 'done' | 'running' | 'awaiting-promotion' | 'halted' | 'waiting' | 'skipped' | 'pending';

export function wavePhase(rollout: Pick<RolloutView, 'activeWave' | 'awaitingPromotion' | 'halted'> & { waiting?: RolloutView['waiting'] }, wave: WaveView): WavePhase {
  if (rollout.halted?.wave === wave.index) return 'halted';
  if (wave.counts.total === 0) return 'skipped';
  if (wave.completedAt) return 'done';
  if (rollout.awaitingPromotion === wave.index) return 'awaiting-promotion';
  if (rollout.activeWave === wave.index || wave.startedAt) return 'running';
  if (rollout.waiting?.wave === wave.index) return 'waiting';
  return 'pending';
}

/**
 * The wave a rollout is at, for a one-line summary: the halted, running, promotion-waiting or
 * otherwise waiting wave; undefined once it has finished (never the first wave by default).
 */
export function currentWave(rollout: Pick<RolloutView, 'activeWave' | 'awaitingPromotion' | 'halted' | 'waves'> & { waiting?: RolloutView['waiting'] }): WaveView | undefined {
  const index = rollout.halted?.wave ?? rollout.activeWave ?? rollout.awaitingPromotion ?? rollout.waiting?.wave ?? undefined;
  return index === undefined || index === null ? undefined : rollout.waves[index];
}

/** `Halted in canary: 2 devices failed (threshold 1)`. */
export function haltedReason(rollout: Pick<RolloutView, 'halted'>): string | undefined {
  const h = rollout.halted;
  if (!h) return undefined;
  const n = h.devices.length;
  return `Halted in ${h.name}: ${n} device${n === 1 ? '' : 's'} failed (the wave tolerates ${h.threshold})`;
}

export type RolloutCommand = 'promote' | 'pause' | 'resume' | 'start-now';

export interface CommandButton {
  command: RolloutCommand;
  label: string;
  /** Shown at all: the command makes sense for this rollout's status. */
  applicable: boolean;
  /** The user's role may press it (the server checks again). */
  allowed: boolean;
  /** Why it is disabled, for the tooltip. */
  hint?: string;
}

export function canOperate(role: Role | undefined): boolean {
  return role === 'operator' || role === 'admin';
}

/** The operator buttons of a rollout for a user. Viewers see them disabled, with the reason. */
export function rolloutCommands(rollout: Pick<RolloutView, 'status' | 'awaitingPromotion'> & { waiting?: RolloutView['waiting'] }, role: Role | undefined): CommandButton[] {
  const allowed = canOperate(role);
  const hint = allowed ? undefined : 'Operators and admins only';
  const s = rollout.status;
  const held = s === 'progressing' && (rollout.waiting?.kind === 'window' || rollout.waiting?.kind === 'pause');
  return [
    { command: 'start-now', label: 'Start now', applicable: held, allowed, ...(hint ? { hint } : {}) },
    { command: 'promote', label: 'Promote', applicable: s === 'progressing' && rollout.awaitingPromotion !== null, allowed, ...(hint ? { hint } : {}) },
    { command: 'pause', label: 'Pause', applicable: s === 'progressing', allowed, ...(hint ? { hint } : {}) },
    { command: 'resume', label: 'Resume', applicable: s === 'paused' || s === 'halted', allowed, ...(hint ? { hint } : {}) },
  ];
}

/**
 * The server's reason, and for a wait with an end the time in the viewer's own zone too:
 * `… (Mon 20:00 Europe/Amsterdam …) — 21:00 your time, in 2 h`.
 */
export function waitingText(waiting: NonNullable<RolloutView['waiting']>, now = Date.now(), timeZone?: string): string {
  if (!waiting.until) return waiting.reason;
  const at = new Date(waiting.until);
  if (Number.isNaN(at.getTime())) return waiting.reason;
  const local = new Intl.DateTimeFormat('en-GB', { weekday: 'short', hour: '2-digit', minute: '2-digit', hourCycle: 'h23', ...(timeZone ? { timeZone } : {}) }).format(at);
  const minutes = Math.max(0, Math.round((at.getTime() - now) / 60_000));
  const left = minutes < 120 ? `${minutes} min` : minutes < 48 * 60 ? `${Math.round(minutes / 60)} h` : `${Math.round(minutes / 1440)} days`;
  return `${waiting.reason} — ${local} your time, in ${left}`;
}
