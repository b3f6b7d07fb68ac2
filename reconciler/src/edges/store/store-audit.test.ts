import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AUDIT_GENESIS, auditEntryHash } from './audit-chain.ts';
import { at, describeStores } from './test-support.ts';

describeStores(({ tempStore }) => {
  test('audit: entries chain by hash, in sequence, newest first when listed', async (t) => {
    const { store } = await tempStore(t);
    const first = await store.appendAudit({ at: at(0), actor: 'user:ada', action: 'session.login', target: 'user:ada', outcome: 'success', details: { address: '127.0.0.1' } });
    const second = await store.appendAudit({ at: at(1), actor: 'user:ada', action: 'device.delete', target: 'device:web-01', outcome: 'success' });
    assert.equal(first.seq, 1);
    assert.equal(first.prevHash, AUDIT_GENESIS);
    assert.equal(first.hash, auditEntryHash(AUDIT_GENESIS, first));
    assert.equal(second.seq, 2);
    assert.equal(second.prevHash, first.hash);
    assert.equal(second.hash, auditEntryHash(first.hash, second));
    assert.deepEqual(second.details, {});
    assert.deepEqual((await store.listAudit({ limit: 10 })).map((e) => e.seq), [2, 1]);
    assert.deepEqual((await store.listAudit({ limit: 10, before: 2 })).map((e) => e.seq), [1]);
    assert.deepEqual(await store.auditHead(), { seq: 2, hash: second.hash });
  });

  test('audit: concurrent appends never fork the chain', async (t) => {
    const { store, open } = await tempStore(t);
    const other = await open();
    const appends = Array.from({ length: 40 }, (_, i) =>
      (i % 2 ? store : other).appendAudit({ actor: 'system', action: 'test', target: `t${i}`, outcome: 'success' }),
    );
    await Promise.all(appends);
    const chain = await store.readAuditChain({ afterSeq: 0, limit: 100 });
    assert.deepEqual(chain.map((e) => e.seq), Array.from({ length: 40 }, (_, i) => i + 1));
    let prev = AUDIT_GENESIS;
    for (const entry of chain) {
      assert.equal(entry.prevHash, prev);
      assert.equal(entry.hash, auditEntryHash(prev, entry));
      prev = entry.hash;
    }
  });

  test('audit: the table refuses UPDATE and DELETE through SQL', async (t) => {
    const { store, exec } = await tempStore(t);
    await store.appendAudit({ actor: 'system', action: 'test', target: 'x', outcome: 'success' });
    await assert.rejects(exec("UPDATE audit_log SET actor = 'user:mallory'"), /append-only/);
    await assert.rejects(exec('DELETE FROM audit_log'), /append-only/);
  });

  test('audit: long or multi-line names from the network are clipped and cannot forge lines', async (t) => {
    const { store } = await tempStore(t);
    const entry = await store.appendAudit({ actor: 'user:eve\n     2  forged', action: 'session.login', target: 'user:' + 'x'.repeat(500), outcome: 'failure' });
    assert.equal(entry.actor, 'user:eve?     2  forged');
    assert.equal(entry.target.length, 200);
    assert.equal((await store.listAudit({ limit: 1 }))[0]!.hash, entry.hash);
  });
});
