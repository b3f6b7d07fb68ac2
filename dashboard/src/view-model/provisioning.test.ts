import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ProvisioningTimeline } from '../../../schemas/protocol.ts';
import { deviceYaml, discoveredRows, summarizeProvisioning } from './provisioning.ts';

const RUN = (id: string, status: ProvisioningTimeline['runs'][number]['status'], createdAt: string): ProvisioningTimeline['runs'][number] => ({
  id,
  deviceId: 'web-1',
  revision: 'main@sha1:abc',
  profile: 'web',
  image: 'ubuntu-24.04',
  hostname: 'web-lab-01',
  status,
  createdAt,
  expiresAt: '2026-01-02T00:00:00.000Z',
  tasks: [
    { index: 0, type: 'partition', name: 'partition' },
    { index: 1, type: 'run-script', name: 'post-install', continueOnError: false },
    { index: 2, type: 'reboot', name: 'reboot' },
  ],
});

function timeline(runs: ProvisioningTimeline['runs'], steps: ProvisioningTimeline['steps']): ProvisioningTimeline {
  return { deviceId: 'web-1', state: 'provisioning', mac: '52:54:00:12:34:56', provisionedAt: null, enrolledAt: null, runs, steps };
}

describe('summarizeProvisioning', () => {
  const cases: Array<{ name: string; t: ProvisioningTimeline; want: Array<[string, string, number?]>; earlier?: number }> = [
    {
      name: 'a run in progress: the last report per task wins, later tasks pending',
      t: timeline([RUN('r1', 'active', '2026-01-01T10:00:00.000Z')], [
        { runId: 'r1', index: 0, type: 'partition', name: 'partition', status: 'started', at: '2026-01-01T10:00:01.000Z' },
        { runId: 'r1', index: 0, type: 'partition', name: 'partition', status: 'succeeded', exitCode: 0, at: '2026-01-01T10:00:05.000Z' },
        { runId: 'r1', index: 1, type: 'run-script', name: 'post-install', status: 'started', at: '2026-01-01T10:00:06.000Z' },
      ]),
      want: [['partition', 'succeeded', 0], ['post-install', 'started'], ['reboot', 'pending']],
    },
    {
      name: 'a failed run: the task after the failure never ran',
      t: timeline([RUN('r1', 'failed', '2026-01-01T10:00:00.000Z')], [
        { runId: 'r1', index: 0, type: 'partition', name: 'partition', status: 'succeeded', at: '2026-01-01T10:00:05.000Z' },
        { runId: 'r1', index: 1, type: 'run-script', name: 'post-install', status: 'failed', exitCode: 3, log: 'boom', at: '2026-01-01T10:00:07.000Z' },
      ]),
      want: [['partition', 'succeeded'], ['post-install', 'failed', 3], ['reboot', 'skipped']],
    },
    {
      name: 'only the newest run counts; older reports are not mixed in',
      t: timeline([RUN('r1', 'superseded', '2026-01-01T10:00:00.000Z'), RUN('r2', 'active', '2026-01-01T11:00:00.000Z')], [
        { runId: 'r1', index: 0, type: 'partition', name: 'partition', status: 'failed', at: '2026-01-01T10:00:05.000Z' },
      ]),
      want: [['partition', 'pending'], ['post-install', 'pending'], ['reboot', 'pending']],
      earlier: 1,
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const s = summarizeProvisioning(c.t);
      assert.deepEqual(s.run!.tasks.map((t) => (t.exitCode === undefined ? [t.name, t.status] : [t.name, t.status, t.exitCode])), c.want);
      assert.equal(s.earlier, c.earlier ?? 0);
    });
  }

  it('keeps the log tail of a failed task, and a device without runs has none', () => {
    const failed = summarizeProvisioning(cases[1]!.t);
    assert.equal(failed.run!.tasks[1]!.log, 'boom');
    assert.equal(summarizeProvisioning(timeline([], [])).run, undefined);
  });
});

describe('discoveredRows', () => {
  it('newest boot first, firmware and what the machine was told in words', () => {
    const rows = discoveredRows([
      { mac: '52:54:00:00:00:01', platform: 'pcbios', buildarch: 'x86_64', firstSeenAt: '2026-01-01T10:00:00Z', lastSeenAt: '2026-01-01T10:00:00Z', boots: 1, lastDecision: 'wait:unknown-machine' },
      { mac: '52:54:00:00:00:02', platform: 'efi', serial: 'SN1', firstSeenAt: '2026-01-01T09:00:00Z', lastSeenAt: '2026-01-01T11:00:00Z', boots: 3, lastDecision: 'menu' },
      { mac: '52:54:00:00:00:03', firstSeenAt: '2026-01-01T09:00:00Z', lastSeenAt: '2026-01-01T09:30:00Z', boots: 1 },
    ]);
    assert.deepEqual(rows.map((r) => [r.mac, r.firmware, r.identity, r.told]), [
      ['52:54:00:00:00:02', 'UEFI', 'serial SN1', 'shown the profile menu'],
      ['52:54:00:00:00:01', 'BIOS · x86_64', '—', 'waiting: no Device has this MAC'],
      ['52:54:00:00:00:03', '—', '—', '—'],
    ]);
  });

  it('the Device YAML that adopts a machine names its MAC', () => {
    assert.match(deviceYaml('52:54:00:00:00:01'), /kind: Device\n[\s\S]*macAddresses: \["52:54:00:00:00:01"\]/);
  });
});
