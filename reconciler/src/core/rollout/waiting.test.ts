// `rolloutWaiting`: every way a rollout can wait says why and until when (issue 13 item 1).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { RolloutPolicy } from '../../../../schemas/kinds.ts';
import { createRollout, deviceFinished, deviceOnline, pause, promote, rolloutWaiting, scheduleRollout, startNow, type RolloutState } from './schedule.ts';
import type { RolloutDevice } from './waves.ts';

const dev = (name: string, online = true): RolloutDevice => ({ name, labels: {}, facts: undefined, groups: [], online });
/** Saturday 2026-12-05 09:00 in Amsterdam (08:00 UTC). */
const SATURDAY = new Date('2026-12-05T08:00:00.000Z');
const WAVES: RolloutPolicy['waves'] = [{ name: 'canary', size: 1 }, { name: 'rest', size: 'rest' }];

function started(policy: RolloutPolicy, devices: RolloutDevice[], now = SATURDAY): RolloutState {
  return scheduleRollout(createRollout({ revision: 'main@sha1:1', policy, devices, now }), policy, now, 0).state;
}

test('outside its windows: the next opening, in the window time zone and as an instant', () => {
  const policy: RolloutPolicy = { waves: WAVES, windows: [{ days: ['mon', 'tue', 'wed', 'thu', 'fri'], start: '20:00', end: '06:00', timeZone: 'Europe/Amsterdam' }] };
  const state = started(policy, [dev('a'), dev('b')]);
  const waiting = rolloutWaiting(state, policy, SATURDAY);
  assert.equal(waiting?.kind, 'window');
  assert.equal(waiting?.kind === 'window' ? waiting.until : undefined, '2026-12-07T19:00:00.000Z', 'Monday 20:00 in Amsterdam');
  assert.match(waiting!.reason, /outside its maintenance windows; wave 1 \(canary\) starts when one opens: Mon 20:00 Europe\/Amsterdam \(2026-12-07T19:00:00\.000Z\)/);
  // Inside the window nothing waits.
  const monday = new Date('2026-12-07T21:00:00.000Z');
  assert.equal(rolloutWaiting(scheduleRollout(state, policy, monday, 0).state, policy, monday), undefined);
});

test('a window that can never open says so', () => {
  const policy: RolloutPolicy = { windows: [{ start: '20:00', end: '06:00', timeZone: 'Mars/Olympus' }] };
  assert.match(rolloutWaiting(started(policy, [dev('a')]), policy, SATURDAY)!.reason, /none of them can open/);
});

test('the pause between waves: time left and when', () => {
  const policy: RolloutPolicy = { waves: WAVES, pauseBetweenWaves: '5m' };
  let state = started(policy, [dev('a'), dev('b')]);
  assert.equal(rolloutWaiting(state, policy, SATURDAY), undefined, 'the canary runs');
  const done = new Date(SATURDAY.getTime() + 60_000);
  state = scheduleRollout(deviceFinished(state, 'a', 'succeeded', done).state, policy, done, 0).state;
  const waiting = rolloutWaiting(state, policy, new Date(done.getTime() + 60_000));
  assert.deepEqual(waiting && { kind: waiting.kind, until: 'until' in waiting ? waiting.until : undefined }, { kind: 'pause', until: '2026-12-05T08:06:00.000Z' });
  assert.match(waiting!.reason, /pause between waves: wave 2 \(rest\) starts in 4 min/);
});

test('manual promotion, an operator pause, and a wave held by offline devices', () => {
  const policy: RolloutPolicy = { waves: [{ name: 'canary', size: 1 }, { name: 'rest', size: 'rest', manualPromotion: true }], offlineTimeout: '1h' };
  let state = started(policy, [dev('a'), dev('b')]);
  const done = new Date(SATURDAY.getTime() + 60_000);
  state = scheduleRollout(deviceFinished(state, 'a', 'succeeded', done).state, policy, done, 0).state;
  assert.match(rolloutWaiting(state, policy, done)!.reason, /^wave 2 \(rest\) waits for an operator to promote it$/);
  state = scheduleRollout(promote(state, done).state, policy, done, 0).state;
  assert.equal(rolloutWaiting(state, policy, done), undefined, 'promoted: running');

  const paused = pause(state, done).state;
  assert.deepEqual(rolloutWaiting(paused, policy, done)?.kind, 'paused');
  assert.match(rolloutWaiting(paused, policy, done)!.reason, /paused by an operator; wave 2 \(rest\) waits for resume/);

  // The device of the running wave goes offline before its job ends: the wave waits for it, 1 h.
  let held = scheduleRollout(deviceOnline(started(policy, [dev('c', false)]), 'c', false, SATURDAY).state, policy, SATURDAY, 0).state;
  held = scheduleRollout(held, policy, SATURDAY, 0).state;
  const offline = rolloutWaiting(held, policy, SATURDAY);
  assert.equal(offline?.kind, 'offline');
  assert.match(offline!.reason, /wave 1 \(canary\) waits for 1 offline device \(c\); it moves on without them in 60 min/);
});

test('start now: an operator starts the wave a closed window or a pause holds; it runs to its end outside the window', () => {
  const policy: RolloutPolicy = { waves: WAVES, pauseBetweenWaves: '1h', windows: [{ days: ['mon'], start: '20:00', end: '21:00', timeZone: 'UTC' }] };
  let state = started(policy, [dev('a'), dev('b'), dev('c')]);
  assert.equal(rolloutWaiting(state, policy, SATURDAY)?.kind, 'window');
  const first = startNow(state, SATURDAY, 'ada: hotfix, cannot wait for Monday');
  assert.deepEqual(first.events.map((e) => e.type), ['rollout.wave.started-now']);
  let pass = scheduleRollout(first.state, policy, SATURDAY, 0);
  assert.deepEqual(pass.start, ['a'], 'the canary starts outside the window');
  assert.equal(rolloutWaiting(pass.state, policy, SATURDAY), undefined);
  const done = new Date(SATURDAY.getTime() + 60_000);
  pass = scheduleRollout(deviceFinished(pass.state, 'a', 'succeeded', done).state, policy, done, 0);
  // The next wave waits again: for the pause, then for the window — until an operator starts it too.
  assert.equal(rolloutWaiting(pass.state, policy, done)?.kind, 'window');
  state = startNow(pass.state, done, 'ada').state;
  pass = scheduleRollout(state, policy, done, 0);
  assert.deepEqual(pass.start, ['b', 'c'], 'no pause, no window for the wave started now');
  assert.equal(pass.state.waves[1]!.startedNow?.reason, 'ada');
  // Nothing is held: start now has nothing to start.
  assert.throws(() => startNow(pass.state, done, 'again'), /nothing-to-start|no wave waits/);
});
