// Every rendering of core/pxe against golden files: iPXE scripts (entry, install for each
// installer, local disk on BIOS and EFI, menu, wait), installer configs (preseed, autoinstall,
// unattend, WinPE files) and the sh runner's task lines. After an intended change, regenerate
// with `UPDATE_GOLDEN=1 npm test -- core/pxe/render` and review the diff.
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, test } from 'node:test';
import { decideBoot, deviceForMachine, type BootDecision } from './boot-decision.ts';
import { bootScript, entryScript } from './boot-script.ts';
import { formatHostname, planHostname } from './hostname.ts';
import { installerFiles, type InstallerContext } from './installer-config.ts';
import { IpxeRenderError, renderIpxe } from './ipxe-script.ts';
import { isIdentityProblem, parseMachineIdentity, type MachineIdentity } from './machine-identity.ts';
import { acceptStep } from './task-progress.ts';
import { compileTaskSequence, renderTaskLines } from './task-sequence.ts';
import { pxeModel } from './test-fleet.ts';

const GOLDEN = fileURLToPath(new URL('./golden/', import.meta.url));
const UPDATE = process.env.UPDATE_GOLDEN === '1';

function golden(name: string, text: string): void {
  if (UPDATE) {
    mkdirSync(GOLDEN, { recursive: true });
    writeFileSync(GOLDEN + name, text);
    return;
  }
  let expected: string;
  try {
    expected = readFileSync(GOLDEN + name, 'utf8');
  } catch {
    assert.fail(`golden file ${name} is missing: run with UPDATE_GOLDEN=1 to create it`);
  }
  assert.equal(text, expected, `${name} differs from the golden file (UPDATE_GOLDEN=1 regenerates it after an intended change)`);
}

const BASE = 'http://10.0.2.2:8080';
const TOKEN = 'dxp_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA';
const ENROLL = 'dxe_BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB';
// sha512Crypt('correct horse', 'saltsaltsaltsalt') — the core only ever sees the hash.
const CRYPT = '$6$saltsaltsaltsalt$' + 'x'.repeat(86);

function decide(machine: MachineIdentity, options: { menu?: boolean; state?: 'provisioned' } = {}): BootDecision {
  const model = pxeModel({ menu: options.menu ?? false });
  return decideBoot({
    machine,
    model,
    device: deviceForMachine(model, machine),
    state: options.state,
    enrolled: false,
    armed: options.state !== 'provisioned',
    choice: undefined,
    chosenProfile: undefined,
    unavailable: new Map(),
    retrySeconds: 30,
  });
}

describe('iPXE scripts (golden)', () => {
  test('entry script', () => golden('entry.ipxe', renderIpxe(entryScript(BASE))));

  const installs: Array<[string, MachineIdentity, string]> = [
    ['install-debian-bios.ipxe', { mac: '52:54:00:00:00:01', platform: 'pcbios', buildarch: 'i386' }, 'web-eu-07'],
    ['install-ubuntu-efi.ipxe', { mac: '52:54:00:00:00:02', platform: 'efi', buildarch: 'x86_64' }, 'api-001'],
    ['install-windows-efi.ipxe', { mac: '52:54:00:99:00:03', serial: 'KSK-001', platform: 'efi' }, 'kiosk-us-01'],
  ];
  for (const [name, machine, hostname] of installs) {
    test(name, () => {
      const d = decide(machine);
      assert.equal(d.action, 'install');
      golden(name, renderIpxe(bootScript(d, { base: BASE, machine }, { token: TOKEN, hostname })));
    });
  }

  test('local disk, BIOS and EFI', () => {
    for (const platform of ['pcbios', 'efi'] as const) {
      const machine = { mac: '52:54:00:00:00:01', platform };
      const d = decide(machine, { state: 'provisioned' });
      golden(`local-disk-${platform}.ipxe`, renderIpxe(bootScript(d, { base: BASE, machine })));
    }
  });

  test('menu and wait for an unknown machine', () => {
    const machine = { mac: '52:54:00:ab:cd:ef' };
    golden('menu.ipxe', renderIpxe(bootScript(decide(machine, { menu: true }), { base: BASE, machine })));
    golden('wait.ipxe', renderIpxe(bootScript(decide(machine), { base: BASE, machine })));
  });

  test('an unsafe value never renders', () => {
    const bad = [`${BASE} && chain http://evil/`, 'http://x/${evil}', 'http://x/\nshell'];
    for (const base of bad) assert.throws(() => renderIpxe(entryScript(base)), IpxeRenderError);
    const machine = { mac: '52:54:00:00:00:01' };
    assert.throws(() => renderIpxe(bootScript(decide(machine), { base: BASE, machine }, { token: 'dxp_a b', hostname: 'h' })), IpxeRenderError);
  });
});

describe('installer configs (golden)', () => {
  const model = pxeModel();
  const ctx = (device: string, profile: string, hostname: string, withPassword: boolean): InstallerContext => {
    const p = model.profiles.get(profile)!.doc;
    return {
      deviceId: device,
      hostname,
      base: BASE,
      token: TOKEN,
      enrollmentToken: ENROLL,
      profile: p,
      image: model.images.get(p.spec.provisioning!.image)!.doc,
      admin: {
        user: 'deployx-admin',
        passwordCrypt: withPassword ? CRYPT : undefined,
        windowsPasswordValue: withPassword ? Buffer.from('correct horseAdministratorPassword', 'utf16le').toString('base64') : undefined,
      },
    };
  };
  const cases: Array<[string, string, string, string, boolean]> = [
    ['web-1', 'web', 'web-eu-07', 'debian', true],
    ['api-1', 'api', 'api-001', 'ubuntu', true],
    ['kiosk-1', 'kiosk', 'kiosk-us-01', 'windows', true],
    ['web-1', 'web', 'web-eu-07', 'debian-locked', false],
  ];
  for (const [device, profile, hostname, label, withPassword] of cases) {
    test(label, () => {
      const c = ctx(device, profile, hostname, withPassword);
      for (const [file, render] of Object.entries(installerFiles(c.image))) golden(`${label}.${file}`, render(c));
    });
  }

  test('values outside their alphabet are refused', () => {
    const c = ctx('web-1', 'web', 'web-eu-07', true);
    const [render] = Object.values(installerFiles(c.image));
    assert.throws(() => render!({ ...c, base: "http://x'; reboot; '" }), { code: 'pxe.render' });
    assert.throws(() => render!({ ...c, hostname: 'Web_01' }), { code: 'pxe.render' });
    assert.throws(() => render!({ ...c, admin: { ...c.admin, passwordCrypt: 'plain' } }), { code: 'pxe.render' });
  });
});

describe('task sequence', () => {
  test('compiled and rendered as lines (golden)', () => {
    const model = pxeModel();
    const seq = compileTaskSequence(model, model.profiles.get('kiosk')!.doc, { deviceId: 'kiosk-1', hostname: 'kiosk-us-01', server: BASE, enrollmentToken: ENROLL });
    assert.equal(seq.tasks[1]?.image?.sha256, '3'.repeat(64), 'the Windows apply-image task carries the install WIM');
    assert.equal(seq.tasks[4]?.script?.interpreter, 'sh');
    golden('tasks-kiosk.txt', renderTaskLines(seq));
  });

  test('step order: strict, a tolerated failure goes on, a fatal one ends the run', () => {
    const tasks = [{ continueOnError: false }, { continueOnError: true }, { continueOnError: false }];
    assert.deepEqual(acceptStep(tasks, [], { index: 0, status: 'started' }), { ok: true, duplicate: false });
    assert.equal(acceptStep(tasks, [], { index: 1, status: 'started' }).ok, false);
    assert.equal(acceptStep(tasks, [], { index: 3, status: 'started' }).ok, false);
    assert.deepEqual(acceptStep(tasks, [{ index: 0, status: 'started' }], { index: 0, status: 'failed' }), { ok: true, duplicate: false, finish: 'failed' });
    assert.deepEqual(acceptStep(tasks, [{ index: 0, status: 'succeeded' }], { index: 1, status: 'failed' }), { ok: true, duplicate: false });
    assert.deepEqual(acceptStep(tasks, [{ index: 0, status: 'succeeded' }, { index: 1, status: 'failed' }], { index: 2, status: 'succeeded' }), {
      ok: true,
      duplicate: false,
      finish: 'succeeded',
    });
  });
});

describe('hostnames and machine identity', () => {
  test('hostname patterns', () => {
    const plan = planHostname('web-{site}-{seq:02}', { site: 'eu' });
    assert.deepEqual(plan, { kind: 'sequence', scope: 'web-eu-{seq}', width: 2, prefix: 'web-eu-', suffix: '' });
    assert.equal(plan.kind === 'sequence' && formatHostname(plan, 7), 'web-eu-07');
    assert.equal(plan.kind === 'sequence' && formatHostname(plan, 123), 'web-eu-123');
    assert.deepEqual(planHostname('{role}-{site}', { role: 'db', site: 'us' }), { kind: 'fixed', hostname: 'db-us' });
    assert.equal(planHostname('web-{site}-{seq}', {}).kind, 'invalid');
    assert.equal(planHostname('web-{site}', { site: 'EU!' }).kind, 'invalid');
  });

  test('identity from iPXE query parameters', () => {
    assert.deepEqual(parseMachineIdentity({ mac: '52:54:00:AB:CD:EF', uuid: '', serial: '', platform: 'efi', buildarch: 'x86_64' }), {
      mac: '52:54:00:ab:cd:ef',
      platform: 'efi',
      buildarch: 'x86_64',
    });
    assert.deepEqual(parseMachineIdentity({ mac: '52-54-00-ab-cd-ef', uuid: '00000000-0000-0000-0000-000000000000', serial: 'To Be Filled By O.E.M.' }), { mac: '52:54:00:ab:cd:ef' });
    for (const query of [{}, { mac: '52:54:00:ab:cd' }, { mac: '52:54:00:ab:cd:ef', uuid: 'x' }, { mac: '52:54:00:ab:cd:ef', serial: 'a;reboot' }, { mac: '52:54:00:ab:cd:ef', platform: 'bios' }, { mac: ['a', 'b'] }]) {
      assert.ok(isIdentityProblem(parseMachineIdentity(query)), JSON.stringify(query));
    }
  });
});
