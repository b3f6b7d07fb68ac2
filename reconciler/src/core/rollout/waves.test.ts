import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { RolloutPolicy } from '../../../../schemas/kinds.ts';
import { isRolloutError } from './errors.ts';
import { planWaves, resolveQuantity, type RolloutDevice } from './waves.ts';

/** `n` online devices named d001, d002, … */
function fleet(n: number): RolloutDevice[] {
  return Array.from({ length: n }, (_, i) => device(`d${String(i + 1).padStart(3, '0')}`));
}

function device(name: string, parts: Partial<Omit<RolloutDevice, 'name'>> = {}): RolloutDevice {
  return { name, labels: {}, facts: undefined, groups: [], online: true, ...parts };
}

/** Wave sizes, with the implicit waves marked `name*`. */
function shape(policy: RolloutPolicy, devices: RolloutDevice[]): string[] {
  return planWaves(policy, devices).map((w) => `${w.name}${w.implicit ? '*' : ''}:${w.devices.length}`);
}

const quantityCases: Array<{ name: string; value: number | string; total: number; rounding: 'up' | 'down'; want: number | undefined }> = [
  { name: '10% of 7 = 0.7 → 1 (up)', value: '10%', total: 7, rounding: 'up', want: 1 },
  { name: '10% of 212 = 21.2 → 22 (up)', value: '10%', total: 212, rounding: 'up', want: 22 },
  { name: '10% of 70 = 7 exactly (integer arithmetic)', value: '10%', total: 70, rounding: 'up', want: 7 },
  { name: '10% of 15 = 1.5 → 1 (down)', value: '10%', total: 15, rounding: 'down', want: 1 },
  { name: '10% of 1 = 0.1 → 0 (down)', value: '10%', total: 1, rounding: 'down', want: 0 },
  { name: 'a count is a count', value: 3, total: 100, rounding: 'up', want: 3 },
  { name: '"rest" is not a quantity', value: 'rest', total: 10, rounding: 'up', want: undefined },
  { name: 'garbage is not a quantity', value: 'ten', total: 10, rounding: 'up', want: undefined },
  { name: 'a negative count is not a quantity', value: -1, total: 10, rounding: 'up', want: undefined },
];

for (const c of quantityCases) {
  test(`resolveQuantity: ${c.name}`, () => {
    assert.equal(resolveQuantity(c.value, c.total, c.rounding), c.want);
  });
}

const canaryTenRest: RolloutPolicy = { waves: [{ name: 'canary', size: 1 }, { name: 'ten', size: '10%' }, { name: 'rest', size: 'rest' }] };

const cases: Array<{ name: string; policy: RolloutPolicy; devices: RolloutDevice[]; want: string[] }> = [
  { name: '10% of 7 devices = 0.7 → 1 device', policy: { waves: [{ size: '10%' }, { size: 'rest' }] }, devices: fleet(7), want: ['wave-1:1', 'wave-2:6'] },
  { name: '10% of 212 devices = 21.2 → 22', policy: { waves: [{ size: '10%' }, { size: 'rest' }] }, devices: fleet(212), want: ['wave-1:22', 'wave-2:190'] },
  { name: '10% of 70 devices = 7 (no float rounding up to 8)', policy: { waves: [{ size: '10%' }, { size: 'rest' }] }, devices: fleet(70), want: ['wave-1:7', 'wave-2:63'] },
  { name: 'canary 1, 10%, rest over 50 → 1, 5, 44', policy: canaryTenRest, devices: fleet(50), want: ['canary:1', 'ten:5', 'rest:44'] },
  { name: '1-device fleet: the canary is the fleet, later waves empty', policy: canaryTenRest, devices: fleet(1), want: ['canary:1', 'ten:0', 'rest:0'] },
  { name: 'percentages are of ALL devices: 50% ×3 over 3 → 2, 1, 0', policy: { waves: [{ size: '50%' }, { size: '50%' }, { size: '50%' }] }, devices: fleet(3), want: ['wave-1:2', 'wave-2:1', 'wave-3:0'] },
  { name: 'devices after the last wave go to an implicit rest: [1, 10%] over 20 → 1, 2, rest 17', policy: { waves: [{ size: 1 }, { size: '10%' }] }, devices: fleet(20), want: ['wave-1:1', 'wave-2:2', 'rest*:17'] },
  { name: 'no implicit rest when nothing is left', policy: { waves: [{ size: 2 }, { size: '100%' }] }, devices: fleet(5), want: ['wave-1:2', 'wave-2:3'] },
  { name: 'a count larger than the devices left takes them all', policy: { waves: [{ size: 10 }] }, devices: fleet(4), want: ['wave-1:4'] },
  { name: 'no waves → one wave "all" of every device', policy: {}, devices: fleet(4), want: ['all*:4'] },
  { name: 'no waves over 0 devices → one wave "all" of 0', policy: {}, devices: [], want: ['all*:0'] },
  { name: 'waves over 0 devices are all empty, no implicit rest', policy: canaryTenRest, devices: [], want: ['canary:0', 'ten:0', 'rest:0'] },
  {
    name: 'group wave takes the group devices not yet in a wave',
    policy: { waves: [{ group: 'web' }, { size: 1 }] },
    devices: [device('w1', { groups: ['web'] }), device('w2', { groups: ['web', 'eu'] }), device('x1')],
    want: ['wave-1:2', 'wave-2:1'],
  },
  {
    name: 'selector wave takes the matching devices not yet in a wave',
    policy: { waves: [{ size: 1 }, { selector: { matchLabels: { site: 'fra' } } }] },
    devices: [device('a', { labels: { site: 'fra' } }), device('b', { labels: { site: 'fra' } }), device('c', { labels: { site: 'ams' } })],
    want: ['wave-1:1', 'wave-2:1', 'rest*:1'],
  },
];

for (const c of cases) {
  test(`planWaves: ${c.name}`, () => {
    assert.deepEqual(shape(c.policy, c.devices), c.want);
  });
}

test('planWaves: canary over a (offline), b, c → b (online first); a goes to a later wave', () => {
  const waves = planWaves({ waves: [{ size: 1 }, { size: 1 }, { size: 'rest' }] }, [device('c'), device('a', { online: false }), device('b')]);
  assert.deepEqual(
    waves.map((w) => w.devices),
    [['b'], ['c'], ['a']],
  );
});

test('planWaves: every device in exactly one wave, each wave listed by name', () => {
  const devices = fleet(37).map((d, i) => ({ ...d, online: i % 3 !== 0, groups: i % 2 === 0 ? ['even'] : [] }));
  const waves = planWaves({ waves: [{ size: 1 }, { group: 'even' }, { size: '25%' }] }, devices);
  const all = waves.flatMap((w) => w.devices);
  assert.deepEqual([...all].sort(), devices.map((d) => d.name).sort());
  assert.equal(new Set(all).size, all.length);
  for (const wave of waves) assert.deepEqual(wave.devices, [...wave.devices].sort());
});

test('planWaves: deterministic whatever the input order', () => {
  const devices = fleet(30).map((d, i) => ({ ...d, online: i % 4 !== 1 }));
  const reversed = [...devices].reverse();
  assert.deepEqual(planWaves(canaryTenRest, devices), planWaves(canaryTenRest, reversed));
});

test('planWaves: wave fields carry manualPromotion and the wave failureThreshold', () => {
  const [canary, rest] = planWaves({ waves: [{ name: 'canary', size: 1, failureThreshold: 0 }, { size: 'rest', manualPromotion: true }] }, fleet(3));
  assert.deepEqual(canary, { name: 'canary', devices: ['d001'], manualPromotion: false, failureThreshold: 0, implicit: false });
  assert.deepEqual(rest, { name: 'wave-2', devices: ['d002', 'd003'], manualPromotion: true, implicit: false });
});

test('planWaves: a device given twice is a rollout.duplicate-device error', () => {
  assert.throws(() => planWaves({}, [device('a'), device('a')]), (err: unknown) => isRolloutError(err, 'rollout.duplicate-device'));
});
