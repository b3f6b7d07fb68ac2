// The boot decision table: what a PXE-booting machine is told to do. Pure: the caller looks up
// the machine's provisioning state in the store and passes it in with the accepted revision.
//
// | machine                         | state                         | decision                       |
// | ------------------------------- | ----------------------------- | ------------------------------ |
// | (no accepted revision yet)      | any                           | wait `no-revision`             |
// | declared, profile w/o provisioning | any                        | local-disk `no-provisioning`   |
// | declared, armed (build mode)    | any                           | install                        |
// | declared, not armed             | provisioned / enrolled        | local-disk `provisioned`       |
// | declared, not armed             | none, agent already enrolled  | local-disk `enrolled`          |
// | declared, not armed             | none / discovered / provisioning | local-disk `not-armed`      |
// | adopted                         | provisioned / enrolled        | local-disk `provisioned`       |
// | adopted                         | none / discovered / provisioning | install                     |
// | install, image arch ≠ machine   |                               | wait `arch-mismatch`           |
// | install, boot artifact unusable |                               | wait `artifact-unavailable`    |
// | unknown, Fleet menu off         |                               | wait `unknown-machine`         |
// | unknown, menu on, no valid pick |                               | menu (or wait when it is empty)|
// | unknown, menu on, valid pick    |                               | install as `pxe-<mac digits>`  |
//
// Build mode (the Foreman/MAAS model): a MAC, UUID or serial is no proof of identity, so a
// declared machine installs only while an operator has armed it (`deployx device provision`),
// and the caller consumes the arming when the install boot hands out its one-time token.
//
// "Adopted" is a machine installed from the menu: it has no Device in Git, its device id is
// `pxe-<mac digits>` and the profile it was given is remembered with the machine.
import type { OSImageDoc, ProfileDoc } from '../../../../schemas/kinds.ts';
import type { FleetModel } from '../model.ts';
import { normaliseMac } from '../validate/semantic-check.ts';
import { macDigits, type MachineIdentity } from './machine-identity.ts';

export const PROVISIONING_STATES = ['discovered', 'provisioning', 'provisioned', 'enrolled'] as const;
export type ProvisioningState = (typeof PROVISIONING_STATES)[number];

export type WaitReason = 'no-revision' | 'unknown-machine' | 'arch-mismatch' | 'artifact-unavailable' | 'empty-menu';

export interface DeviceRef {
  id: string;
  /** A `Device` document of the revision, or a machine adopted from the menu. */
  declared: boolean;
  labels: Readonly<Record<string, string>>;
  /** `Device.spec.hostname`, which wins over the profile's pattern. */
  hostname?: string;
  firmware?: 'bios' | 'efi';
}

export interface BootInput {
  machine: MachineIdentity;
  model: FleetModel | undefined;
  /** What `deviceForMachine` found (undefined when there is no revision). */
  device: DeviceRef | undefined;
  state: ProvisioningState | undefined;
  /** The device has an enrolled agent record in the store. */
  enrolled: boolean;
  /** An operator armed this declared device's next install boot, and the arming is live. */
  armed: boolean;
  /** The profile picked from the menu in this request (`?profile=`). */
  choice: string | undefined;
  /** The profile an adopted machine was given by an earlier pick. */
  chosenProfile: string | undefined;
  /** SHA-256 → why that artifact cannot be served right now. */
  unavailable: ReadonlyMap<string, string>;
  retrySeconds: number;
}

export type BootDecision =
  | {
      action: 'install';
      device: DeviceRef;
      profile: ProfileDoc;
      image: OSImageDoc;
      /** Whether the profile came from a menu pick (recorded on the machine). */
      picked: boolean;
    }
  | { action: 'local-disk'; deviceId: string; reason: 'provisioned' | 'enrolled' | 'no-provisioning' | 'not-armed' }
  | { action: 'menu'; profiles: Array<{ name: string; description: string }>; timeoutSeconds: number }
  | { action: 'wait'; reason: WaitReason; message: string; retrySeconds: number; deviceId?: string };

const MENU_TIMEOUT_SECONDS = 120;

/** The declared device a machine is: by MAC, then UUID, then serial; else its adoption id. */
export function deviceForMachine(model: FleetModel, machine: MachineIdentity): DeviceRef {
  let byUuid: DeviceRef | undefined;
  let bySerial: DeviceRef | undefined;
  for (const { doc } of model.devices.values()) {
    const spec = doc.spec;
    const ref: DeviceRef = {
      id: doc.metadata.name,
      declared: true,
      labels: doc.metadata.labels ?? {},
      ...(spec.hostname !== undefined ? { hostname: spec.hostname } : {}),
      ...(spec.firmware !== undefined ? { firmware: spec.firmware } : {}),
    };
    if ((spec.macAddresses ?? []).some((m) => normaliseMac(m) === machine.mac)) return ref;
    if (machine.uuid !== undefined && spec.uuid?.toLowerCase() === machine.uuid) byUuid ??= ref;
    if (machine.serial !== undefined && spec.serial === machine.serial) bySerial ??= ref;
  }
  return byUuid ?? bySerial ?? { id: adoptedDeviceId(machine.mac), declared: false, labels: {} };
}

export function adoptedDeviceId(mac: string): string {
  return `pxe-${macDigits(mac)}`;
}

export function decideBoot(input: BootInput): BootDecision {
  const { model, device, state, retrySeconds } = input;
  if (!model || !device) {
    return { action: 'wait', reason: 'no-revision', message: 'the server has no accepted revision yet', retrySeconds };
  }
  const done = state === 'provisioned' || state === 'enrolled';
  if (device.declared) {
    const profileName = model.devices.get(device.id)?.doc.spec.profile;
    const profile = profileName === undefined ? undefined : model.profiles.get(profileName)?.doc;
    if (!profile?.spec.provisioning) return { action: 'local-disk', deviceId: device.id, reason: 'no-provisioning' };
    if (!input.armed) {
      const reason = done ? 'provisioned' : state === undefined && input.enrolled ? 'enrolled' : 'not-armed';
      return { action: 'local-disk', deviceId: device.id, reason };
    }
    return install(input, device, profile, false);
  }
  // Not in Git: adopted earlier from the menu, or unknown.
  if (done) return { action: 'local-disk', deviceId: device.id, reason: 'provisioned' };
  const menu = model.fleet?.doc.spec.provisioning;
  if (!menu?.menu) {
    return {
      action: 'wait',
      reason: 'unknown-machine',
      message: `unknown machine ${input.machine.mac}: commit a Device with this MAC to provision it`,
      retrySeconds,
    };
  }
  const offered = menuProfiles(model, menu.menuProfiles);
  const pick = input.choice ?? (state === 'provisioning' ? input.chosenProfile : undefined);
  const picked = pick === undefined ? undefined : offered.find((p) => p.metadata.name === pick);
  if (picked) return install(input, device, picked, true);
  if (offered.length === 0) {
    return { action: 'wait', reason: 'empty-menu', message: 'no profile with provisioning is offered in the menu', retrySeconds };
  }
  return {
    action: 'menu',
    profiles: offered.map((p) => ({ name: p.metadata.name, description: p.spec.description ?? p.metadata.name })),
    timeoutSeconds: MENU_TIMEOUT_SECONDS,
  };
}

function install(input: BootInput, device: DeviceRef, profile: ProfileDoc, picked: boolean): BootDecision {
  const model = input.model!;
  const image = model.images.get(profile.spec.provisioning!.image)!.doc;
  const arch = input.machine.buildarch;
  // BIOS iPXE is a 32-bit build (i386) that boots 64-bit kernels.
  const machineArch = arch === 'i386' ? 'x86_64' : arch;
  if (image.spec.arch !== undefined && machineArch !== undefined && machineArch !== image.spec.arch) {
    return {
      action: 'wait',
      reason: 'arch-mismatch',
      message: `image ${image.metadata.name} is ${image.spec.arch}; this machine boots ${arch}`,
      retrySeconds: input.retrySeconds,
      deviceId: device.id,
    };
  }
  for (const field of bootArtifactFields(image)) {
    const artifact = image.spec[field];
    const problem = artifact === undefined ? 'missing' : input.unavailable.get(artifact.sha256);
    if (problem !== undefined) {
      return {
        action: 'wait',
        reason: 'artifact-unavailable',
        message: `image ${image.metadata.name} ${field}: ${problem}`,
        retrySeconds: input.retrySeconds,
        deviceId: device.id,
      };
    }
  }
  return { action: 'install', device, profile, image, picked };
}

/** The artifacts iPXE itself downloads to start the installer. */
export function bootArtifactFields(image: OSImageDoc): Array<'kernel' | 'initrd' | 'wimboot' | 'bootWim'> {
  return image.spec.installer === 'windows-wim' ? ['wimboot', 'bootWim'] : ['kernel', 'initrd'];
}

function menuProfiles(model: FleetModel, names: readonly string[] | undefined): ProfileDoc[] {
  const all = [...model.profiles.values()].map((p) => p.doc).filter((p) => p.spec.provisioning !== undefined);
  const offered = names === undefined ? all : all.filter((p) => names.includes(p.metadata.name));
  return offered.sort((a, b) => (a.metadata.name < b.metadata.name ? -1 : a.metadata.name > b.metadata.name ? 1 : 0));
}
