// The audit log against a real server: logins (good and bad), logouts, rollout commands, device
// deletion, reprovisioning and revisions each leave a hash-chained entry naming who did it; only
// admins read the log; `deployx audit verify` checks the server's own data dir.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { SessionInfo } from '../schemas/protocol.ts';
import { makeRepo, type TestRepo } from '../reconciler/src/edges/git/test-repo.ts';
import type { RunningServer } from '../reconciler/src/main.ts';
import type { AuditEntry } from '../reconciler/src/edges/store/store.ts';
import { createApiToken } from '../cli/src/commands/token.ts';
import { runAudit } from '../cli/src/commands/audit.ts';
import { testFleet } from './fleet.ts';
import { startTestServer, tempDir, waitFor } from './harness.ts';

const PASSWORD = 'correct horse battery';

describe('audit log', { timeout: 90_000 }, () => {
  let work: { dir: string; remove: () => Promise<void> };
  let repo: TestRepo;
  let server: RunningServer;

  async function login(name: string, password = PASSWORD): Promise<{ status: number; cookie: string; csrf: string }> {
    const res = await fetch(`${server.url}/api/v1/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name, password }) });
    const body = (await res.json()) as SessionInfo;
    return { status: res.status, cookie: (res.headers.get('set-cookie') ?? '').split(';')[0]!, csrf: body.csrfToken };
  }

  async function call(method: string, pathname: string, who: { cookie: string; csrf: string } | { token: string }) {
    const headers: Record<string, string> = 'token' in who ? { authorization: `Bearer ${who.token}` } : { cookie: who.cookie, 'x-csrf-token': who.csrf };
    const res = await fetch(server.url + pathname, { method, headers });
    return { status: res.status, body: res.status === 204 ? undefined : ((await res.json()) as unknown) };
  }

  async function entries(): Promise<AuditEntry[]> {
    const res = await fetch(`${server.url}/api/v1/audit?limit=500`, { headers: { authorization: `Bearer ${server.apiToken}` } });
    assert.equal(res.status, 200);
    return ((await res.json()) as { entries: AuditEntry[] }).entries;
  }

  async function lastEntry(action: string, target: string): Promise<AuditEntry> {
    return waitFor(`audit entry ${action} ${target}`, async () => (await entries()).find((e) => e.action === action && e.target === target));
  }

  before(async () => {
    work = await tempDir('deployx-audit-e2e-');
    repo = await makeRepo(`${work.dir}/repo`, testFleet());
    server = await startTestServer({
      repo: repo.dir,
      dataDir: `${work.dir}/data`,
      users: [
        { name: 'vera', role: 'viewer', password: PASSWORD },
        { name: 'otto', role: 'operator', password: PASSWORD },
        { name: 'ada', role: 'admin', password: PASSWORD },
      ],
    });
    await waitFor('the first revision', () => server.reconciler.revision);
  });

  after(async () => {
    await server?.close();
    await work?.remove();
  });

  test('logins, failed logins and logouts are entries', async () => {
    const otto = await login('otto');
    assert.equal(otto.status, 200);
    assert.equal((await login('otto', 'not the password')).status, 401);
    assert.equal((await call('DELETE', '/api/v1/session', otto)).status, 204);
    const log = await entries();
    const mine = log.filter((e) => e.target === 'user:otto').map((e) => [e.actor, e.action, e.outcome]);
    assert.deepEqual(mine, [
      ['user:otto', 'session.logout', 'success'],
      ['user:otto', 'session.login', 'failure'],
      ['user:otto', 'session.login', 'success'],
    ]);
    const failed = log.find((e) => e.action === 'session.login' && e.outcome === 'failure')!;
    assert.equal(failed.details.reason, 'auth.bad-credentials');
    assert.ok(!JSON.stringify(log).includes('not the password'), 'no password in the log');
  });

  test('rollout commands, device deletion and reprovisioning name their actor', async () => {
    const otto = await login('otto');
    const ada = await login('ada');
    const [rollout] = await server.reconciler.rollouts.begin(server.reconciler.revision!, [
      {
        profile: 'web',
        policy: { waves: [{ name: 'canary', size: 1, manualPromotion: true }, { name: 'rest', size: 'rest' }] },
        devices: ['d1', 'd2'].map((name) => ({ name, labels: {}, facts: undefined, groups: ['web'], online: false })),
      },
    ], []);
    assert.equal((await call('POST', `/api/v1/rollouts/${rollout!.id}/pause`, otto)).status, 200);
    assert.equal((await call('POST', `/api/v1/rollouts/${rollout!.id}/resume`, otto)).status, 200);
    assert.equal((await call('POST', `/api/v1/rollouts/${rollout!.id}/promote`, otto)).status, 200);
    assert.equal((await call('POST', '/api/v1/rollouts/ro-nope/pause', otto)).status, 404);
    for (const command of ['pause', 'resume', 'promote']) {
      const entry = await lastEntry(`rollout.${command}`, `rollout:${rollout!.id}`);
      assert.deepEqual([entry.actor, entry.outcome], ['user:otto', 'success']);
    }
    const refused = await lastEntry('rollout.pause', 'rollout:ro-nope');
    assert.deepEqual([refused.actor, refused.outcome, refused.details.code], ['user:otto', 'failure', 'rollout.not-found']);

    const now = new Date().toISOString();
    await server.store.enrollDevice({ id: 'doomed', machineId: 'm-doomed', labels: {}, facts: { hostname: 'doomed' }, credentialHash: 'x', now });
    assert.equal((await call('DELETE', '/api/v1/devices/doomed', ada)).status, 204);
    const deleted = await lastEntry('device.delete', 'device:doomed');
    assert.deepEqual([deleted.actor, deleted.outcome], ['user:ada', 'success']);

    // Reprovisioning arms the next install boot, which needs a Device declared in Git; a machine
    // that is not declared is refused, and the refusal is an entry too.
    await server.store.setProvisioningState('metal-01', 'provisioned', now);
    const tool = await createApiToken(server.store, { name: 'chatops', role: 'operator' });
    assert.equal((await call('POST', '/api/v1/devices/metal-01/provisioning/reprovision', { token: tool.token })).status, 404);
    const reprovisioned = await lastEntry('device.reprovision', 'device:metal-01');
    assert.deepEqual([reprovisioned.actor, reprovisioned.outcome, reprovisioned.details.code], ['token:chatops', 'failure', 'device.not-found']);
  });

  test('accepted and rejected revisions are entries', async () => {
    const first = await lastEntry('revision', `revision:${server.reconciler.revision!}`);
    assert.equal(first.outcome, 'accepted');
    assert.equal(first.actor, 'system');
    const bad = await repo.commit(testFleet({ schemaError: true }), 'break the profile');
    server.reconciler.enqueueSource();
    const rejected = await waitFor('the rejected revision', async () => (await entries()).find((e) => e.action === 'revision' && e.target.endsWith(bad)));
    assert.equal(rejected.outcome, 'rejected');
    assert.ok(Number(rejected.details.errorCount) >= 1);
  });

  test('only admins read the log, newest first and paged; the chain verifies', async () => {
    const vera = await login('vera');
    const otto = await login('otto');
    const ada = await login('ada');
    assert.equal((await call('GET', '/api/v1/audit', vera)).status, 403);
    assert.equal((await call('GET', '/api/v1/audit', otto)).status, 403);
    const page = await call('GET', '/api/v1/audit?limit=2', ada);
    assert.equal(page.status, 200);
    const { entries: two, next } = page.body as { entries: AuditEntry[]; next: number | null };
    assert.equal(two.length, 2);
    assert.ok(two[0]!.seq > two[1]!.seq);
    assert.equal(next, two[1]!.seq);
    const older = (await call('GET', `/api/v1/audit?limit=2&before=${next}`, ada)).body as { entries: AuditEntry[] };
    assert.equal(older.entries[0]!.seq, two[1]!.seq - 1);

    const lines: string[] = [];
    const errors: string[] = [];
    const code = await runAudit(['verify', '--data', `${work.dir}/data`], { out: (l) => lines.push(l), err: (l) => errors.push(l), cwd: work.dir });
    assert.equal(code, 0, errors.join('\n'));
  });
});
