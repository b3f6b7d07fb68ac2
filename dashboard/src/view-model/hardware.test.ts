import assert from 'node:assert/strict';
import { test } from 'node:test';
import { hardwareFields, otherFacts } from './hardware.ts';

test('the hardware panel shows the machine in human units', () => {
  const fields = hardwareFields({
    hardware: { vendor: 'LENOVO', model: 'ThinkCentre M70q', serial: 'PF3ABCDE' },
    arch: 'x86_64',
    cpu: { model: 'Intel(R) Core(TM) i5-10500T CPU @ 2.30GHz', count: 12 },
    memory: { totalBytes: 16 * 1024 ** 3 },
    disks: [{ mount: '/', totalBytes: 256 * 1024 ** 3, freeBytes: 64 * 1024 ** 3 }],
    network: { ips: ['10.0.0.5'], macs: ['52:54:00:01:10:01', '52:54:00:01:10:02'] },
    os: { family: 'ubuntu', name: 'Ubuntu', version: '22.04', kernel: '5.15.0-105-generic' },
  });
  assert.deepEqual(fields, [
    { name: 'Machine', value: 'LENOVO ThinkCentre M70q' },
    { name: 'Serial', value: 'PF3ABCDE' },
    { name: 'CPU', value: '12 × Intel(R) Core(TM) i5-10500T CPU @ 2.30GHz (x86_64)' },
    { name: 'Memory', value: '16 GiB' },
    { name: 'Disk /', value: '256 GiB, 64 GiB free (25 %)' },
    { name: 'MACs', value: '52:54:00:01:10:01, 52:54:00:01:10:02' },
    { name: 'IP', value: '10.0.0.5' },
    { name: 'OS', value: 'Ubuntu 22.04 (kernel 5.15.0-105-generic)' },
  ]);
});

test('missing or malformed facts are left out, never shown raw', () => {
  assert.deepEqual(hardwareFields({}), []);
  assert.deepEqual(hardwareFields(null), []);
  assert.deepEqual(hardwareFields({ memory: { totalBytes: 'lots' }, disks: [{ mount: '/' }, 'x'], cpu: { count: -1 }, network: { macs: [1, ''] } }), []);
});

test('the facts panel lists what the hardware panel does not', () => {
  assert.deepEqual(otherFacts({ hostname: 'vm', cpu: { count: 2 }, memory: {}, agent: { version: '1' }, labels: { a: 'b' } }), { hostname: 'vm', agent: { version: '1' }, labels: { a: 'b' } });
});
