// Facts of a simulated device that look like a real one's (system/facts.ts shapes): Windows with
// Chocolatey for desktop and kiosk roles, otherwise Ubuntu or Debian with apt; hostnames
// `<prefix>-<n>`, locally administered MACs unique per prefix and index, 10/8 addresses. Pure.
import type { Facts } from '../../../schemas/facts.ts';
import type { PackageManager } from '../../../schemas/kinds.ts';
import { unitHash } from './faults.ts';

/** The OS families a simulated device can report. */
export type SimulatedOs = 'ubuntu' | 'debian' | 'rocky' | 'windows';

/** Who a simulated device stands for: a Device declared in Git (its name, MACs, OS). */
export interface SimulatedIdentity {
  name: string;
  macs?: string[];
  os?: SimulatedOs;
}

export interface SimulatedFactsInput {
  prefix: string;
  /** 1-based device number. */
  index: number;
  /** Labels of the device, reported as `facts.labels`. */
  labels: Record<string, string>;
  agentVersion: string;
  /** A declared device this one stands for: its hostname, MACs and OS instead of made-up ones. */
  identity?: SimulatedIdentity;
}

const OS_FACTS: Record<SimulatedOs, Facts['os'] & object> = {
  windows: { family: 'windows', name: 'Windows 11 Pro', version: '10.0.22631', kernel: '10.0.22631', packageManager: 'choco' },
  debian: { family: 'debian', name: 'Debian GNU/Linux', version: '12', kernel: '6.1.0-18-amd64', packageManager: 'apt' },
  ubuntu: { family: 'ubuntu', name: 'Ubuntu', version: '22.04', kernel: '5.15.0-105-generic', packageManager: 'apt' },
  rocky: { family: 'rocky', name: 'Rocky Linux', version: '9.4', kernel: '5.14.0-427.13.1.el9_4.x86_64', packageManager: 'dnf' },
};

const WINDOWS_ROLES = new Set(['desktop', 'kiosk']);

export function isWindowsDevice(labels: Record<string, string>): boolean {
  return WINDOWS_ROLES.has(labels.role ?? '');
}

export function simulatedPlatform(labels: Record<string, string>, os?: SimulatedOs): { platform: NodeJS.Platform; managers: PackageManager[] } {
  if (os === 'windows' || (os === undefined && isWindowsDevice(labels))) return { platform: 'win32', managers: ['choco', 'winget'] };
  return { platform: 'linux', managers: os === 'rocky' ? ['dnf'] : ['apt'] };
}

export function simulatedFacts(input: SimulatedFactsInput): Facts {
  const { prefix, index, labels, identity } = input;
  const windows = identity?.os ? identity.os === 'windows' : isWindowsDevice(labels);
  const big = index % 4 === 0;
  const prefixBits = Math.floor(unitHash(prefix) * 0x10000);
  const mac = [0x02, prefixBits >> 8, prefixBits & 0xff, (index >> 16) & 0xff, (index >> 8) & 0xff, index & 0xff]
    .map((b) => b.toString(16).padStart(2, '0'))
    .join(':');
  const ip = `10.${(index >> 16) & 0xff}.${(index >> 8) & 0xff}.${index & 0xff}`;
  const gib = 1024 ** 3;
  const os = { ...OS_FACTS[identity?.os ?? (windows ? 'windows' : index % 3 === 0 ? 'debian' : 'ubuntu')] };
  return {
    hostname: identity?.name ?? `${prefix}-${index}`,
    os,
    arch: 'x86_64',
    cpu: { model: big ? 'Intel(R) Xeon(R) E-2336 CPU @ 2.90GHz' : 'Intel(R) Core(TM) i5-10500T CPU @ 2.30GHz', count: big ? 8 : 4 },
    memory: { totalBytes: (big ? 16 : 8) * gib },
    disks: [{ mount: windows ? 'C:\\' : '/', totalBytes: 256 * gib, freeBytes: Math.round((96 + (index % 97)) * gib) }],
    network: { ips: [ip], macs: identity?.macs?.length ? [...identity.macs] : [mac] },
    agent: { version: input.agentVersion },
    labels: { ...labels },
    simulated: true,
  };
}
