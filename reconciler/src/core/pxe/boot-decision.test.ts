// The boot decision table (boot-decision.ts), one row per case.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { decideBoot, deviceForMachine, type BootInput, type ProvisioningState } from './boot-decision.ts';
import type { MachineIdentity } from './machine-identity.ts';
import { pxeModel } from './test-fleet.ts';

interface Row {
  name: string;
  machine: MachineIdentity;
  model?: 'none' | 'menu' | 'menu-api-only';
  state?: ProvisioningState;
  enrolled?: boolean;
  /** An operator armed the declared device (build mode); default true, so rows test the rest. */
  armed?: boolean;
  choice?: string;
  chosenProfile?: string;
  unavailable?: string[];
  /** `install:<device>:<profile>`, `local-disk:<reason>`, `menu:<profiles>`, `wait:<reason>`. */
  expect: string;
}

const mac = (n: number) => `52:54:00:00:00:0${n}`;
const UNKNOWN = '52:54:00:ff:ff:ff';

const ROWS: Row[] = [
  { name: 'no accepted revision', machine: { mac: mac(1) }, model: 'none', expect: 'wait:no-revision' },
  { name: 'declared, never seen', machine: { mac: mac(1), platform: 'pcbios', buildarch: 'i386' }, expect: 'install:web-1:web' },
  { name: 'declared, discovered earlier', machine: { mac: mac(1) }, state: 'discovered', expect: 'install:web-1:web' },
  { name: 'declared, install interrupted (provisioning)', machine: { mac: mac(1) }, state: 'provisioning', expect: 'install:web-1:web' },
  { name: 'declared, not armed', machine: { mac: mac(1) }, armed: false, expect: 'local-disk:not-armed' },
  { name: 'declared, install interrupted, not armed any more', machine: { mac: mac(1) }, state: 'provisioning', armed: false, expect: 'local-disk:not-armed' },
  { name: 'declared, provisioned', machine: { mac: mac(1) }, state: 'provisioned', armed: false, expect: 'local-disk:provisioned' },
  { name: 'declared, enrolled', machine: { mac: mac(1) }, state: 'enrolled', armed: false, expect: 'local-disk:provisioned' },
  { name: 'declared, agent enrolled before PXE existed', machine: { mac: mac(1) }, enrolled: true, armed: false, expect: 'local-disk:enrolled' },
  { name: 'declared, provisioned, armed again: reinstall', machine: { mac: mac(1) }, state: 'provisioned', expect: 'install:web-1:web' },
  { name: 'declared, armed despite an enrolled agent', machine: { mac: mac(1) }, state: 'discovered', enrolled: true, expect: 'install:web-1:web' },
  { name: 'declared without provisioning, armed: still its disk', machine: { mac: mac(6) }, armed: true, expect: 'local-disk:no-provisioning' },
  { name: 'declared by MAC with dashes', machine: { mac: mac(2) }, expect: 'install:api-1:api' },
  { name: 'declared by UUID', machine: { mac: UNKNOWN, uuid: '0b8a7c6d-1111-2222-3333-444455556666' }, expect: 'install:api-1:api' },
  { name: 'declared by serial', machine: { mac: UNKNOWN, serial: 'KSK-001', platform: 'efi' }, expect: 'install:kiosk-1:kiosk' },
  { name: 'profile without provisioning', machine: { mac: mac(6) }, expect: 'local-disk:no-provisioning' },
  { name: 'arm64 image, x86 machine', machine: { mac: mac(5), buildarch: 'x86_64' }, expect: 'wait:arch-mismatch' },
  { name: 'arm64 image, arch unknown', machine: { mac: mac(5) }, expect: 'install:arm-1:arm' },
  { name: 'boot artifact unusable', machine: { mac: mac(1) }, unavailable: ['a'.repeat(64)], expect: 'wait:artifact-unavailable' },
  { name: 'install image unusable does not block the boot', machine: { mac: mac(2) }, unavailable: ['e'.repeat(64)], expect: 'install:api-1:api' },
  { name: 'unknown, no menu', machine: { mac: UNKNOWN }, expect: 'wait:unknown-machine' },
  { name: 'unknown, menu', machine: { mac: UNKNOWN }, model: 'menu', expect: 'menu:api,arm,kiosk,web' },
  { name: 'unknown, menu limited', machine: { mac: UNKNOWN }, model: 'menu-api-only', expect: 'menu:api' },
  { name: 'unknown, menu pick', machine: { mac: UNKNOWN }, model: 'menu', choice: 'web', expect: 'install:pxe-525400ffffff:web' },
  { name: 'unknown, pick not offered', machine: { mac: UNKNOWN }, model: 'menu-api-only', choice: 'web', expect: 'menu:api' },
  { name: 'unknown, pick of a profile without provisioning', machine: { mac: UNKNOWN }, model: 'menu', choice: 'steady', expect: 'menu:api,arm,kiosk,web' },
  { name: 'adopted, install interrupted: picked profile again', machine: { mac: UNKNOWN }, model: 'menu', state: 'provisioning', chosenProfile: 'api', expect: 'install:pxe-525400ffffff:api' },
  { name: 'adopted, provisioned', machine: { mac: UNKNOWN }, model: 'menu', state: 'provisioned', chosenProfile: 'api', expect: 'local-disk:provisioned' },
  { name: 'adopted, provisioned, menu off since', machine: { mac: UNKNOWN }, state: 'enrolled', expect: 'local-disk:provisioned' },
];

function summary(input: BootInput): string {
  const d = decideBoot(input);
  switch (d.action) {
    case 'install':
      return `install:${d.device.id}:${d.profile.metadata.name}`;
    case 'local-disk':
      return `local-disk:${d.reason}`;
    case 'menu':
      return `menu:${d.profiles.map((p) => p.name).join(',')}`;
    case 'wait':
      return `wait:${d.reason}`;
  }
}

describe('boot decision table', () => {
  for (const row of ROWS) {
    test(row.name, () => {
      const model =
        row.model === 'none' ? undefined : pxeModel({ menu: row.model !== undefined, ...(row.model === 'menu-api-only' ? { menuProfiles: ['api'] } : {}) });
      const input: BootInput = {
        machine: row.machine,
        model,
        device: model ? deviceForMachine(model, row.machine) : undefined,
        state: row.state,
        enrolled: row.enrolled ?? false,
        armed: row.armed ?? true,
        choice: row.choice,
        chosenProfile: row.chosenProfile,
        unavailable: new Map((row.unavailable ?? []).map((sha) => [sha, 'HTTP 404'])),
        retrySeconds: 30,
      };
      assert.equal(summary(input), row.expect);
    });
  }
});
