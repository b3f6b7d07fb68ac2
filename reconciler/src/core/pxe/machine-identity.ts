// What a PXE-booting machine tells us about itself (iPXE's ${net0/mac}, ${uuid}, ${serial},
// ${platform}, ${buildarch}), checked strictly: these arrive unauthenticated from the network.

export interface MachineIdentity {
  /** Lowercase, colon-separated: `52:54:00:12:34:56`. */
  mac: string;
  /** Lowercase RFC 4122 text form, when the firmware has one. */
  uuid?: string;
  serial?: string;
  platform?: 'pcbios' | 'efi';
  buildarch?: 'i386' | 'x86_64' | 'arm32' | 'arm64';
}

export type IdentityProblem = { field: string; message: string };

const MAC = /^[0-9a-f]{2}([:-])[0-9a-f]{2}(\1[0-9a-f]{2}){4}$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const SERIAL = /^[A-Za-z0-9 ._\/-]{1,64}$/;
const PLATFORMS = ['pcbios', 'efi'] as const;
const ARCHES = ['i386', 'x86_64', 'arm32', 'arm64'] as const;
/** Values firmware reports when it has nothing better; treated as absent. */
const PLACEHOLDER_UUIDS = new Set(['00000000-0000-0000-0000-000000000000', 'ffffffff-ffff-ffff-ffff-ffffffffffff']);
const PLACEHOLDER_SERIALS = /^(|0+|none|default string|to be filled by o\.e\.m\.|not specified|system serial number)$/i;

/** Parses the boot query; any value present but malformed is a problem (the request is refused). */
export function parseMachineIdentity(query: Readonly<Record<string, unknown>>): MachineIdentity | IdentityProblem {
  const text = (key: string): string | undefined | null => {
    const v = query[key];
    if (v === undefined) return undefined;
    return typeof v === 'string' && v.length <= 128 ? v.trim() : null;
  };
  const mac = text('mac');
  if (mac === undefined || mac === null || !MAC.test(mac.toLowerCase())) {
    return { field: 'mac', message: 'mac must be six hex octets separated by ":" or "-"' };
  }
  const identity: MachineIdentity = { mac: mac.toLowerCase().replaceAll('-', ':') };
  const uuid = text('uuid');
  if (uuid === null || (uuid !== undefined && uuid !== '' && !UUID.test(uuid.toLowerCase()))) {
    return { field: 'uuid', message: 'uuid must be an RFC 4122 UUID' };
  }
  if (uuid && !PLACEHOLDER_UUIDS.has(uuid.toLowerCase())) identity.uuid = uuid.toLowerCase();
  const serial = text('serial');
  if (serial === null || (serial !== undefined && serial !== '' && !SERIAL.test(serial))) {
    return { field: 'serial', message: 'serial may hold letters, digits, space, ".", "_", "/", "-" (at most 64)' };
  }
  if (serial && !PLACEHOLDER_SERIALS.test(serial)) identity.serial = serial;
  const platform = text('platform');
  if (platform === null || (platform !== undefined && platform !== '' && !(PLATFORMS as readonly string[]).includes(platform))) {
    return { field: 'platform', message: `platform must be one of ${PLATFORMS.join(', ')}` };
  }
  if (platform) identity.platform = platform as MachineIdentity['platform'] & string;
  const arch = text('buildarch');
  if (arch === null || (arch !== undefined && arch !== '' && !(ARCHES as readonly string[]).includes(arch))) {
    return { field: 'buildarch', message: `buildarch must be one of ${ARCHES.join(', ')}` };
  }
  if (arch) identity.buildarch = arch as MachineIdentity['buildarch'] & string;
  return identity;
}

export function isIdentityProblem(value: MachineIdentity | IdentityProblem): value is IdentityProblem {
  return 'field' in value;
}

/** `525400123456` for `52:54:00:12:34:56`: a device id for machines adopted from the menu. */
export function macDigits(mac: string): string {
  return mac.replaceAll(':', '');
}
