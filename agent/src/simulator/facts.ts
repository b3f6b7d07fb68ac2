// Facts of a simulated device that look like a real one's (system/facts.ts shapes): Windows with
// Chocolatey for desktop and kiosk roles, otherwise Ubuntu or Debian with apt; hostnames
// `<prefix>-<n>`, locally administered MACs unique per prefix and index, 10/8 addresses. Pure.
import type { Facts } from '../../../schemas/facts.ts';
import type { PackageManager } from '../../../schemas/kinds.ts';
import { unitHash } from './faults.ts';

export interface SimulatedFactsInput {
  prefix: string;
  /** 1-based device number. */
  index: number;
  /** Labels of the device, reported as `facts.labels`. */
  labels: Record<string, string>;
  agentVersion: string;
}

const WINDOWS_ROLES = new Set(['desktop', 'kiosk']);

export function isWindowsDevice(labels: Record<string, string>): boolean {
  return WINDOWS_ROLES.has(labels.role ?? '');
}

export function simulatedPlatform(labels: Record<string, string>): { platform: NodeJS.Platform; managers: PackageManager[] } {
  return isWindowsDevice(labels) ? { platform: 'win32', managers: ['choco', 'winget'] } : { platform: 'linux', managers: ['apt'] };
}

export function simulatedFacts(input: SimulatedFactsInput): Facts {
  const { prefix, index, labels } = input;
  const windows = isWindowsDevice(labels);
  const big = index % 4 === 0;
  const prefixBits = Math.floor(unitHash(prefix) * 0x10000);
  const mac = [0x02, prefixBits >> 8, prefixBits & 0xff, (index >> 16) & 0xff, (index >> 8) & 0xff, index & 0xff]
    .map((b) => b.toString(16).padStart(2, '0'))
    .join(':');
  const ip = `10.${(index >> 16) & 0xff}.${(index >> 8) & 0xff}.${index & 0xff}`;
  const gib = 1024 ** 3;
  const os = windows
    ? { family: 'windows', name: 'Windows 11 Pro', version: '10.0.22631', kernel: '10.0.22631', packageManager: 'choco' as const }
    : index % 3 === 0
      ? { family: 'debian', name: 'Debian GNU/Linux', version: '12', kernel: '6.1.0-18-amd64', packageManager: 'apt' as const }
      : { family: 'ubuntu', name: 'Ubuntu', version: '22.04', kernel: '5.15.0-105-generic', packageManager: 'apt' as const };
  return {
    hostname: `${prefix}-${index}`,
    os,
    arch: 'x86_64',
    cpu: { model: big ? 'Intel(R) Xeon(R) E-2336 CPU @ 2.90GHz' : 'Intel(R) Core(TM) i5-10500T CPU @ 2.30GHz', count: big ? 8 : 4 },
    memory: { totalBytes: (big ? 16 : 8) * gib },
    disks: [{ mount: windows ? 'C:\\' : '/', totalBytes: 256 * gib, freeBytes: Math.round((96 + (index % 97)) * gib) }],
    network: { ips: [ip], macs: [mac] },
    agent: { version: input.agentVersion },
    labels: { ...labels },
    simulated: true,
  };
}
