// Devices declared in Git that no agent has enrolled as yet: listed by the API and the dashboard
// from the moment their revision is accepted, as `awaiting_enrollment`, with the profile, groups
// and resources they will get (compiled with their Git labels and no facts, as `deployx plan`
// counts them "not enrolled").
import type { DeviceSummary } from '../../../../schemas/protocol.ts';
import type { DesiredState, FleetModel } from '../../core/model.ts';
import type { DeviceRecord, Store } from '../store/store.ts';

export interface DeclaredSource {
  readonly model: FleetModel | undefined;
  desiredFor(device: DeviceRecord): DesiredState | undefined;
}

/** The record a declared Device would have: its Git labels, no facts, never seen. */
export function declaredRecord(model: FleetModel | undefined, name: string): DeviceRecord | undefined {
  const declared = model?.devices.get(name);
  if (!declared) return undefined;
  return { id: name, name, labels: { ...(declared.doc.metadata.labels ?? {}) }, facts: {}, hasCredential: false };
}

export function declaredSummary(source: DeclaredSource, name: string): DeviceSummary | undefined {
  const record = declaredRecord(source.model, name);
  if (!record) return undefined;
  const file = source.model!.devices.get(name)!.parsed.file;
  const desired = source.desiredFor(record);
  const profile = source.model!.devices.get(name)!.doc.spec.profile;
  return {
    id: name,
    name,
    online: false,
    state: 'awaiting_enrollment',
    reason: `declared in ${file}; no agent has enrolled as ${name} yet`,
    revision: null,
    lastSeenAt: null,
    lastReportAt: null,
    agentVersion: null,
    os: null,
    labels: record.labels,
    groups: desired?.groups ?? [],
    profiles: desired?.profiles.map((p) => p.name) ?? (profile ? [profile] : []),
    declaredIn: file,
  };
}

/**
 * Names of declared devices with no live enrolled device of that name, sorted. Names only: a
 * summary compiles the device, which a count must not pay for each of 10,000.
 */
export async function awaitingEnrollment(source: Pick<DeclaredSource, 'model'>, store: Pick<Store, 'getDevicesMany'>): Promise<string[]> {
  const names = [...(source.model?.devices.keys() ?? [])].sort();
  if (names.length === 0) return [];
  const enrolled = await store.getDevicesMany(names);
  return names.filter((name) => {
    const device = enrolled.get(name);
    return !device || device.deletedAt !== undefined;
  });
}

/** The declared names of the last accepted revision: `swap` gives those of either revision. */
export class DeclaredNames {
  #names = new Set<string>();

  swap(model: FleetModel | undefined): string[] {
    const next = new Set(model?.devices.keys() ?? []);
    const touched = new Set([...this.#names, ...next]);
    this.#names = next;
    return [...touched];
  }
}
