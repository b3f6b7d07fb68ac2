// REST shapes the dashboard reads that `schemas/protocol.ts` does not type: the reconciler defines
// them (store records, rollout views) and the dashboard may not import the reconciler. Only the
// fields the dashboard reads are listed; the server may send more.
import type { DeviceState, DeviceSummary, Job, JobResult, JobState, ObservedResource } from '../../../schemas/protocol.ts';

export interface ApiErrorBody {
  error: { code: string; message: string };
}

/** A job as the store keeps it (`GET /api/v1/jobs`, device detail). */
export interface JobRecord extends Job {
  state: JobState;
  dispatchedAt?: string;
  startedAt?: string;
  finishedAt?: string;
  attempts: number;
  result?: JobResult;
}

export interface DesiredResourceView {
  key: string;
  type: 'package' | 'file' | 'script';
  fingerprint: string;
  ensure?: 'present' | 'absent';
  drift?: 'enforce' | 'report';
  // package
  software?: string;
  manager?: string;
  packageName?: string;
  version?: string;
  // file
  path?: string;
  sha256?: string;
  size?: number;
  mode?: string;
  owner?: string;
  group?: string;
  origin?: { kind: string; path?: string; url?: string };
  // script
  name?: string;
  interpreter?: string;
  run?: unknown;
}

export interface ChangeView {
  key: string;
  action: 'create' | 'update' | 'delete' | 'unchanged';
  reason: string;
  drift: boolean;
  reportOnly: boolean;
}

export interface InventoryEntry {
  key: string;
  fingerprint: string;
  revision: string;
  appliedAt: string;
}

export interface DeviceDetail extends DeviceSummary {
  facts: Record<string, unknown>;
  labels: Record<string, string>;
  desired: {
    revision: string;
    groups: string[];
    profiles: Array<{ name: string; drift?: string }>;
    resources: DesiredResourceView[];
    issues?: Array<{ code: string; message: string; subject: string }>;
  } | null;
  observed: ObservedResource[];
  changes: ChangeView[];
  inventory: InventoryEntry[];
  jobs: JobRecord[];
}

/** Revisions as the API lists them, typed once in the protocol. */
export type { RevisionError, RevisionView, RevisionsResponse } from '../../../schemas/protocol.ts';

/** Rollouts as the API shows them, typed once in the protocol. */
export type {
  RolloutCounts,
  RolloutDetail,
  RolloutDeviceStatus,
  RolloutFailedDevice as FailedDevice,
  RolloutView,
  RolloutViewStatus as RolloutStatus,
  RolloutWaveView as WaveView,
} from '../../../schemas/protocol.ts';

export interface StatsResponse {
  revision: string | null;
  devices: { total: number; online: number; byState: Record<DeviceState, number> };
  jobs: Partial<Record<JobState, number>>;
}


/** One audit log entry (`GET /api/v1/audit`, admin only; the store's AuditEntry). */
export interface AuditEntryView {
  seq: number;
  at: string;
  actor: string;
  action: string;
  target: string;
  outcome: 'success' | 'failure' | 'accepted' | 'rejected';
  details: Record<string, unknown>;
  hash: string;
}

/** A page of the audit log, newest first; `next` is the `before` of the next (older) page. */
export interface AuditPage {
  entries: AuditEntryView[];
  next: number | null;
}
