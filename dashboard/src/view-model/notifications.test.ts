import assert from 'node:assert/strict';
import { test } from 'node:test';
import { notification } from './builders.ts';
import { badgeText, mergeNotifications, subjectRoute, toastsFor, unreadCount } from './notifications.ts';

test('mergeNotifications: newest first, one per seq, capped', () => {
  const merged = mergeNotifications([notification(1), notification(3)], [notification(3, { title: 'new' }), notification(2)], 2);
  assert.deepEqual(merged.map((n) => [n.seq, n.title]), [[3, 'new'], [2, 'n2']]);
});

test('unreadCount and badgeText', () => {
  const list = [notification(5), notification(4), notification(2)];
  const cases: Array<[number, number, string]> = [[0, 3, '3'], [4, 1, '1'], [5, 0, '']];
  for (const [lastRead, count, badge] of cases) {
    assert.equal(unreadCount(list, lastRead), count);
    assert.equal(badgeText(count), badge);
  }
  assert.equal(badgeText(12), '9+');
});

test('subjectRoute', () => {
  assert.deepEqual(subjectRoute('device:web-1'), { page: 'device', id: 'web-1' });
  assert.deepEqual(subjectRoute('rollout:r1'), { page: 'rollout', id: 'r1' });
  assert.deepEqual(subjectRoute('revision:abc'), { page: 'revisions' });
  assert.equal(subjectRoute('weird'), undefined);
  assert.equal(subjectRoute(undefined), undefined);
});

test('toastsFor: warnings always, info only when few arrive at once', () => {
  const burst = [1, 2, 3, 4].map((s) => notification(s)).concat(notification(5, { level: 'error' }));
  assert.deepEqual(toastsFor(burst).map((n) => n.seq), [5]);
  assert.deepEqual(toastsFor([notification(1), notification(2, { level: 'warning' })]).map((n) => n.seq), [2, 1]);
});
