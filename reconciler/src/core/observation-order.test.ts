import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isNewerObservation, observationOrder } from './observation-order.ts';

test('isNewerObservation: same epoch by seq, another epoch or no stamp is newer', () => {
  const rows: Array<[string, Parameters<typeof isNewerObservation>[0], Parameters<typeof isNewerObservation>[1], boolean]> = [
    ['larger seq', { epoch: 'e', seq: 5 }, { epoch: 'e', seq: 4 }, true],
    ['smaller seq', { epoch: 'e', seq: 3 }, { epoch: 'e', seq: 4 }, false],
    ['same seq (a duplicate)', { epoch: 'e', seq: 4 }, { epoch: 'e', seq: 4 }, false],
    ['another epoch, small seq (state dir wiped)', { epoch: 'f', seq: 1 }, { epoch: 'e', seq: 900 }, true],
    ['unstamped incoming (older agent)', undefined, { epoch: 'e', seq: 4 }, true],
    ['nothing stored yet', { epoch: 'e', seq: 0 }, undefined, true],
  ];
  for (const [name, incoming, stored, expected] of rows) assert.equal(isNewerObservation(incoming, stored), expected, name);
});

test('observationOrder: both fields or neither, seq a non-negative safe integer', () => {
  assert.equal(observationOrder({}), undefined);
  assert.deepEqual(observationOrder({ epoch: 'e', seq: 0 }), { epoch: 'e', seq: 0 });
  for (const bad of [{ epoch: 'e' }, { seq: 1 }, { epoch: '', seq: 1 }, { epoch: 'e', seq: -1 }, { epoch: 'e', seq: 1.5 }, { epoch: 'e', seq: '1' }, { epoch: 1, seq: 1 }, { epoch: 'e'.repeat(65), seq: 1 }]) {
    assert.equal(observationOrder(bad), 'invalid', JSON.stringify(bad));
  }
});
