// One device as the device list and the dashboard's `devices` deltas show it.
import type { DeviceState, DeviceSummary } from '../../../../schemas/protocol.ts';
import type { DeviceListItem } from '../store/store.ts';
import type { DeviceStatus } from '../../loop/reconciler.ts';

export interface SummarySources {
  statuses: ReadonlyMap<string, DeviceStatus>;
  memberships: ReadonlyMap<string, { groups: string[]; profiles: string[] }>;
  isOnline: (id: string) => boolean;
}

/** A full `DeviceRecord` will do too: only `facts.os` of its facts is read. */
export function summariseDevice(device: DeviceListItem, sources: SummarySources): DeviceSummary {
  const status = sources.statuses.get(device.id);
  const membership = sources.memberships.get(device.id);
  const os = device.facts.os;
  return {
    id: device.id,
    name: device.name,
    online: sources.isOnline(device.id),
    state: (status?.state ?? 'unknown') as DeviceState,
    reason: status?.reason ?? 'not reconciled yet',
    revision: device.reportedRevision ?? null,
    lastSeenAt: device.lastSeenAt ?? null,
    lastReportAt: device.lastReportAt ?? null,
    agentVersion: device.agentVersion ?? null,
    os: os ? { ...(os.family ? { family: os.family } : {}), ...(os.name ? { name: os.name } : {}), ...(os.version ? { version: os.version } : {}) } : null,
    labels: device.labels,
    groups: membership?.groups ?? [],
    profiles: membership?.profiles ?? [],
    ...(device.approval === 'pending' ? { approval: 'pending' as const } : {}),
  };
}
