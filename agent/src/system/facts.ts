// Facts an agent reports about its device (schemas/facts.ts). Collection never fails as a whole:
// a source that cannot be read leaves its fact out (a group selector on a missing fact does not
// match, which is the safe outcome).
import { access, readFile, statfs } from 'node:fs/promises';
import { constants as fsConstants } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Facts } from '../../../schemas/facts.ts';
import type { PackageManager } from '../../../schemas/kinds.ts';

/** Used when the caller gives no search path (the composition root passes the real PATH). */
export const DEFAULT_SEARCH_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
const DEFAULT_WINDOWS_SEARCH_PATH = 'C:\\ProgramData\\chocolatey\\bin;C:\\Windows\\System32';

export interface CollectFactsOptions {
  agentVersion: string;
  /** Deep-merged over what was collected (simulated agents, tests, operator-set facts). */
  overrides?: Facts;
  /** The sandbox root, when the agent runs with `--root`: its disk is reported too. */
  root?: string;
  /** PATH to look for package managers in. */
  searchPath?: string;
  platform?: NodeJS.Platform;
  /** Where os-release lives (tests point it at a fixture). */
  osReleasePath?: string;
  /** Where the DMI (SMBIOS) identity files live on Linux (tests point it at a fixture). */
  dmiDir?: string;
}

export async function collectFacts(options: CollectFactsOptions): Promise<Facts> {
  const platform = options.platform ?? process.platform;
  const cpus = os.cpus();
  const facts: Facts = {
    hostname: os.hostname(),
    os: {
      ...(await describeOs(platform, options.osReleasePath)),
      kernel: os.release(),
    },
    arch: normalizeArch(os.arch()),
    cpu: { model: cpus[0]?.model?.trim() || undefined, count: cpus.length || os.availableParallelism() },
    memory: { totalBytes: os.totalmem() },
    disks: await collectDisks(platform, options.root),
    network: collectNetwork(os.networkInterfaces()),
    agent: { version: options.agentVersion },
  };
  const hardware = platform === 'linux' ? await readDmi(options.dmiDir ?? '/sys/class/dmi/id') : undefined;
  if (hardware) facts.hardware = hardware;
  const managers = await detectPackageManagers(platform, options.searchPath);
  if (managers[0] !== undefined) facts.os!.packageManager = managers[0];
  return dropUndefined(options.overrides ? mergeFacts(facts, options.overrides) : facts) as Facts;
}

/** os-release (freedesktop) `KEY=value` lines; quotes and backslash escapes removed. */
export function parseOsRelease(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const match = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(line);
    if (!match) continue;
    let value = match[2]!;
    const quote = value[0];
    if ((quote === '"' || quote === "'") && value.endsWith(quote) && value.length >= 2) {
      value = value.slice(1, -1);
      if (quote === '"') value = value.replace(/\\(["\\$`])/g, '$1');
    }
    out[match[1]!] = value;
  }
  return out;
}

/** `os.family` from an os-release ID: SUSE variants fold into `suse`, the rest stay as given. */
export function osFamilyFromRelease(release: Record<string, string>): string | undefined {
  const id = release.ID?.toLowerCase();
  if (id === undefined || id === '') return undefined;
  if (id === 'sles' || id === 'sled' || id.startsWith('opensuse')) return 'suse';
  return id;
}

/**
 * Managers found on the search path, most preferred first. Linux: apt, dnf, yum, zypper.
 * Windows: choco before winget (an installed Chocolatey is a deliberate choice). macOS: brew.
 */
export async function detectPackageManagers(
  platform: NodeJS.Platform,
  searchPath?: string,
): Promise<PackageManager[]> {
  const candidates: Array<[PackageManager, string]> =
    platform === 'win32'
      ? [['choco', 'choco.exe'], ['winget', 'winget.exe']]
      : platform === 'darwin'
        ? [['brew', 'brew']]
        : [['apt', 'apt-get'], ['dnf', 'dnf'], ['yum', 'yum'], ['zypper', 'zypper']];
  const separator = platform === 'win32' ? ';' : ':';
  const dirs = (searchPath ?? (platform === 'win32' ? DEFAULT_WINDOWS_SEARCH_PATH : DEFAULT_SEARCH_PATH))
    .split(separator)
    .filter((d) => d !== '');
  if (platform === 'darwin') dirs.push('/opt/homebrew/bin', '/usr/local/bin');
  const found: PackageManager[] = [];
  for (const [manager, program] of candidates) {
    for (const dir of dirs) {
      if (await isExecutable(path.join(dir, program), platform)) {
        found.push(manager);
        break;
      }
    }
  }
  return found;
}

async function describeOs(platform: NodeJS.Platform, osReleasePath?: string): Promise<NonNullable<Facts['os']>> {
  if (platform === 'linux') {
    for (const file of osReleasePath ? [osReleasePath] : ['/etc/os-release', '/usr/lib/os-release']) {
      const text = await readFile(file, 'utf8').catch(() => undefined);
      if (text === undefined) continue;
      const release = parseOsRelease(text);
      return {
        family: osFamilyFromRelease(release),
        name: release.NAME ?? release.PRETTY_NAME,
        version: release.VERSION_ID,
      };
    }
    return { family: 'linux' };
  }
  if (platform === 'win32') return { family: 'windows', name: os.version(), version: os.release() };
  if (platform === 'darwin') return { family: 'darwin', name: 'macOS', version: os.release() };
  return { family: platform, name: os.type(), version: os.release() };
}

async function collectDisks(platform: NodeJS.Platform, root: string | undefined): Promise<NonNullable<Facts['disks']>> {
  const mounts = [platform === 'win32' ? 'C:\\' : '/'];
  if (root !== undefined) mounts.push(path.resolve(root));
  const disks: NonNullable<Facts['disks']> = [];
  for (const mount of mounts) {
    const s = await statfs(mount).catch(() => undefined);
    if (s === undefined) continue;
    disks.push({ mount, totalBytes: s.blocks * s.bsize, freeBytes: s.bavail * s.bsize });
  }
  return disks;
}

/** Non-internal IPv4/IPv6 addresses and MACs, sorted and de-duplicated. */
export function collectNetwork(interfaces: NodeJS.Dict<os.NetworkInterfaceInfo[]>): NonNullable<Facts['network']> {
  const ips = new Set<string>();
  const macs = new Set<string>();
  for (const entries of Object.values(interfaces)) {
    for (const entry of entries ?? []) {
      if (entry.internal) continue;
      if (!entry.address.startsWith('fe80:')) ips.add(entry.address);
      if (entry.mac && entry.mac !== '00:00:00:00:00:00') macs.add(entry.mac.toLowerCase());
    }
  }
  return { ips: [...ips].sort(), macs: [...macs].sort() };
}

function normalizeArch(arch: string): string {
  if (arch === 'x64') return 'x86_64';
  return arch;
}

async function isExecutable(file: string, platform: NodeJS.Platform): Promise<boolean> {
  try {
    await access(file, platform === 'win32' ? fsConstants.F_OK : fsConstants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Objects merge key by key; arrays and scalars in `overrides` replace. */
export function mergeFacts(base: Facts, overrides: Facts): Facts {
  const merge = (a: unknown, b: unknown): unknown => {
    if (!isPlainObject(a) || !isPlainObject(b)) return b === undefined ? a : b;
    const out: Record<string, unknown> = { ...a };
    for (const [key, value] of Object.entries(b)) out[key] = merge(a[key], value);
    return out;
  };
  return merge(base, overrides) as Facts;
}

function dropUndefined(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(dropUndefined);
  if (!isPlainObject(value)) return value;
  const out: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(value)) if (v !== undefined) out[key] = dropUndefined(v);
  return out;
}

/** Placeholders firmware vendors leave in DMI fields nobody filled in. */
const DMI_PLACEHOLDER = /^(to be filled by o\.e\.m\.|default string|system (product name|manufacturer|serial number)|not (specified|applicable)|none|0+|x+)$/i;

/** Vendor, model and serial from DMI; a file that is missing, unreadable (the serial: root only) or a placeholder is left out. */
export async function readDmi(dir: string): Promise<Facts['hardware'] | undefined> {
  const read = async (name: string): Promise<string | undefined> => {
    const text = (await readFile(path.join(dir, name), 'utf8').catch(() => ''))
      .replace(/[\x00-\x1f\x7f]/g, ' ')
      .trim()
      .slice(0, 128);
    return text === '' || DMI_PLACEHOLDER.test(text) ? undefined : text;
  };
  const [vendor, model, serial] = await Promise.all([read('sys_vendor'), read('product_name'), read('product_serial')]);
  if (vendor === undefined && model === undefined && serial === undefined) return undefined;
  return { ...(vendor ? { vendor } : {}), ...(model ? { model } : {}), ...(serial ? { serial } : {}) };
}
