// The device page's hardware panel: what the agent reported about the machine, in human units,
// one line per part (CPU, memory, each disk, network, OS, and vendor, model and serial when the
// agent could read them). Pure; anything missing or malformed is left out, never shown raw.
import type { Field } from './resources.ts';
import { formatBytes } from './format.ts';

const text = (v: unknown): string | undefined => (typeof v === 'string' && v.trim() !== '' ? v.trim() : undefined);
const count = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) && v >= 0 ? v : undefined);
const record = (v: unknown): Record<string, unknown> | undefined => (v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined);
const strings = (v: unknown): string[] => (Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string' && x !== '') : []);

/** Top-level facts the hardware panel shows; the facts panel lists the others. */
export const HARDWARE_FACT_KEYS: readonly string[] = ['hardware', 'arch', 'cpu', 'memory', 'disks', 'network', 'os'];

/** The facts the hardware panel does not show (for the raw facts panel). */
export function otherFacts(facts: Record<string, unknown> | null | undefined): Record<string, unknown> {
  return Object.fromEntries(Object.entries(facts ?? {}).filter(([key]) => !HARDWARE_FACT_KEYS.includes(key)));
}

export function hardwareFields(facts: Record<string, unknown> | null | undefined): Field[] {
  const f = facts ?? {};
  const fields: Field[] = [];
  const hw = record(f.hardware);
  const vendor = text(hw?.vendor);
  const model = text(hw?.model);
  if (vendor || model) fields.push({ name: 'Machine', value: [vendor, model].filter(Boolean).join(' ') });
  const serial = text(hw?.serial);
  if (serial) fields.push({ name: 'Serial', value: serial });

  const cpu = record(f.cpu);
  const cores = count(cpu?.count);
  const cpuModel = text(cpu?.model);
  const arch = text(f.arch);
  if (cores !== undefined || cpuModel) {
    fields.push({ name: 'CPU', value: [cores !== undefined ? `${cores} × ` : '', cpuModel ?? 'cores', arch ? ` (${arch})` : ''].join('') });
  }
  const memory = count(record(f.memory)?.totalBytes);
  if (memory !== undefined) fields.push({ name: 'Memory', value: formatBytes(memory) });
  const disks = Array.isArray(f.disks) ? f.disks : [];
  for (const disk of disks) {
    const d = record(disk);
    const mount = text(d?.mount);
    const total = count(d?.totalBytes);
    if (!mount || total === undefined) continue;
    const free = count(d?.freeBytes);
    fields.push({ name: `Disk ${mount}`, value: `${formatBytes(total)}${free !== undefined ? `, ${formatBytes(free)} free (${Math.round((free / Math.max(total, 1)) * 100)} %)` : ''}` });
  }
  const network = record(f.network);
  const macs = strings(network?.macs);
  const ips = strings(network?.ips);
  if (macs.length > 0) fields.push({ name: macs.length === 1 ? 'MAC' : 'MACs', value: macs.join(', ') });
  if (ips.length > 0) fields.push({ name: ips.length === 1 ? 'IP' : 'IPs', value: ips.join(', ') });
  const os = record(f.os);
  const osName = [text(os?.name) ?? text(os?.family), text(os?.version)].filter(Boolean).join(' ');
  if (osName) fields.push({ name: 'OS', value: `${osName}${text(os?.kernel) ? ` (kernel ${text(os?.kernel)})` : ''}` });
  return fields;
}
