import assert from 'node:assert/strict';
import { test } from 'node:test';
import { auditRow, filterAudit, mergeAuditPages } from './audit.ts';
import type { AuditEntryView } from './wire.ts';

const entry = (seq: number, more: Partial<AuditEntryView> = {}): AuditEntryView => ({
  seq,
  at: '2026-01-02T03:04:05.000Z',
  actor: 'user:ada',
  action: 'device.delete',
  target: 'device:web-01',
  outcome: 'success',
  details: {},
  hash: 'h'.repeat(64),
  ...more,
});

test('auditRow splits the actor, colours the outcome and lists details in key order', () => {
  const row = auditRow(entry(3, { outcome: 'failure', details: { reason: 'auth.bad-credentials', address: '10.0.0.1', n: 2 } }));
  assert.deepEqual([row.actorKind, row.actorName, row.tone], ['user', 'ada', 'error']);
  assert.deepEqual(row.details, ['address=10.0.0.1', 'n=2', 'reason=auth.bad-credentials']);
  assert.equal(auditRow(entry(1, { actor: 'system', outcome: 'accepted' })).actorKind, 'system');
  assert.equal(auditRow(entry(1, { outcome: 'accepted' })).tone, 'ok');
  assert.equal(auditRow(entry(1, { outcome: 'rejected' })).tone, 'error');
  assert.equal(auditRow(entry(1, { details: { message: 'x'.repeat(200) } })).details[0]!.length, 'message='.length + 80);
});

test('pages merge newest first without duplicates; the filter matches actor, action, target, outcome', () => {
  const merged = mergeAuditPages([[entry(5), entry(4)], [entry(4), entry(3)]]);
  assert.deepEqual(merged.map((e) => e.seq), [5, 4, 3]);
  const rows = [entry(3, { actor: 'cli:root', action: 'user.create', target: 'user:bob' }), entry(2), entry(1, { outcome: 'failure' })].map(auditRow);
  assert.deepEqual(filterAudit(rows, 'CLI:').map((r) => r.seq), [3]);
  assert.deepEqual(filterAudit(rows, 'web-01').map((r) => r.seq), [2, 1]);
  assert.deepEqual(filterAudit(rows, 'failure').map((r) => r.seq), [1]);
  assert.equal(filterAudit(rows, '  ').length, 3);
});
