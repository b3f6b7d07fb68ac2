// People and tools against a real server: logins with bcrypt-hashed passwords, session cookies,
// CSRF on state changes, roles checked by the server, role-carrying API tokens, throttled
// guessing, and the dashboard's `/ui` socket refusing strangers.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { io as connect, type Socket } from 'socket.io-client';
import { UI_NAMESPACE, type DeviceSummary, type SessionInfo, type UiNotification } from '../schemas/protocol.ts';
import { makeRepo } from '../reconciler/src/edges/git/test-repo.ts';
import type { RunningServer } from '../reconciler/src/main.ts';
import { createApiToken } from '../cli/src/commands/token.ts';
import { testFleet } from './fleet.ts';
import { startTestServer, tempDir, waitFor } from './harness.ts';

const PASSWORD = 'correct horse battery';

describe('dashboard access', { timeout: 60_000 }, () => {
  let work: { dir: string; remove: () => Promise<void> };
  let server: RunningServer;

  async function login(name: string, password = PASSWORD): Promise<{ status: number; cookie?: string; setCookie?: string; info?: SessionInfo; code?: string }> {
    const res = await fetch(`${server.url}/api/v1/session`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name, password }),
    });
    const body = (await res.json()) as SessionInfo & { error?: { code: string } };
    const setCookie = res.headers.get('set-cookie') ?? undefined;
    return {
      status: res.status,
      ...(setCookie ? { setCookie, cookie: setCookie.split(';')[0]! } : {}),
      ...(res.ok ? { info: body } : { code: body.error!.code }),
    };
  }

  async function call(method: string, pathname: string, headers: Record<string, string>): Promise<{ status: number; code?: string }> {
    const res = await fetch(server.url + pathname, { method, headers });
    const text = await res.text();
    const code = text.startsWith('{') ? (JSON.parse(text) as { error?: { code: string } }).error?.code : undefined;
    return { status: res.status, ...(code ? { code } : {}) };
  }

  function uiSocket(options: { cookie?: string; token?: string }): Promise<{ socket: Socket; hello: { user: { name: string; role: string } } }> {
    return new Promise((resolve, reject) => {
      const socket = connect(server.url + UI_NAMESPACE, {
        transports: ['websocket'],
        reconnection: false,
        timeout: 5000,
        ...(options.cookie ? { extraHeaders: { cookie: options.cookie } } : {}),
        ...(options.token ? { auth: { token: options.token } } : {}),
      });
      socket.on('connect_error', (error) => {
        socket.close();
        reject(error);
      });
      socket.on('hello', (hello) => resolve({ socket, hello }));
    });
  }

  before(async () => {
    work = await tempDir('deployx-access-');
    const repo = await makeRepo(`${work.dir}/repo`, testFleet());
    server = await startTestServer({
      repo: repo.dir,
      dataDir: `${work.dir}/data`,
      users: [
        { name: 'vera', role: 'viewer', password: PASSWORD },
        { name: 'otto', role: 'operator', password: PASSWORD },
        { name: 'ada', role: 'admin', password: PASSWORD },
        { name: 'guessme', role: 'viewer', password: PASSWORD },
      ],
      uiFlushMs: 20,
    });
  });

  after(async () => {
    await server?.close();
    await work?.remove();
  });

  test('every API call needs a session or a token', async () => {
    assert.deepEqual(await call('GET', '/api/v1/devices', {}), { status: 401, code: 'auth.required' });
    assert.deepEqual(await call('GET', '/api/v1/devices', { cookie: 'dx_session=dxs_' + 'x'.repeat(43) }), { status: 401, code: 'auth.required' });
    assert.deepEqual(await call('GET', '/api/v1/devices', { authorization: 'Bearer nope' }), { status: 401, code: 'auth.required' });
  });

  test('a login sets an HttpOnly, SameSite=Strict cookie; the password is stored as bcrypt', async () => {
    const vera = await login('vera');
    assert.equal(vera.status, 200);
    assert.match(vera.setCookie!, /^dx_session=dxs_[\w-]+; Path=\/; HttpOnly; SameSite=Strict; Max-Age=43200$/);
    assert.deepEqual(vera.info!.user, { name: 'vera', role: 'viewer' });
    assert.match(vera.info!.csrfToken, /^[0-9a-f]{64}$/);
    const session = await fetch(`${server.url}/api/v1/session`, { headers: { cookie: vera.cookie! } });
    assert.deepEqual(((await session.json()) as SessionInfo).user, { name: 'vera', role: 'viewer' });
    assert.equal((await call('GET', '/api/v1/devices', { cookie: vera.cookie! })).status, 200);

    const stored = await server.store.getUser('vera');
    assert.match(stored!.passwordHash, /^\$2[aby]\$11\$/);
    assert.ok(!stored!.passwordHash.includes(PASSWORD));
    assert.deepEqual(await login('vera', 'wrong password!'), { status: 401, code: 'auth.bad-credentials' });
    assert.deepEqual(await login('nobody'), { status: 401, code: 'auth.bad-credentials' });
  });

  test('a malformed login is a 4xx with a code, never a 500', async () => {
    const post = (body: string, type: string) => fetch(`${server.url}/api/v1/session`, { method: 'POST', headers: { 'content-type': type }, body });
    const bad = await post('{"name": "vera", ', 'application/json');
    assert.equal(bad.status, 400);
    assert.equal(((await bad.json()) as { error: { code: string } }).error.code, 'request.invalid');
    const form = await post('name=vera&password=x', 'application/x-www-form-urlencoded');
    assert.equal(form.status, 415, 'a cross-site form cannot log in');
    const missing = await post('{"name": "vera"}', 'application/json');
    assert.equal(missing.status, 400);
  });

  test('state changes with a cookie need the CSRF header; roles are enforced by the server', async () => {
    const vera = await login('vera');
    const otto = await login('otto');
    const ada = await login('ada');
    // Without the CSRF header the request is refused before any role check.
    assert.deepEqual(await call('POST', '/api/v1/rollouts/r-none/pause', { cookie: otto.cookie! }), { status: 403, code: 'auth.csrf' });
    assert.deepEqual(await call('POST', '/api/v1/rollouts/r-none/pause', { cookie: otto.cookie!, 'x-csrf-token': vera.info!.csrfToken }), { status: 403, code: 'auth.csrf' }, "another session's token does not do");
    // A viewer is refused an operator action; an operator gets through to the rollout lookup.
    assert.deepEqual(await call('POST', '/api/v1/rollouts/r-none/pause', { cookie: vera.cookie!, 'x-csrf-token': vera.info!.csrfToken }), { status: 403, code: 'auth.forbidden' });
    assert.deepEqual(await call('POST', '/api/v1/rollouts/r-none/pause', { cookie: otto.cookie!, 'x-csrf-token': otto.info!.csrfToken }), { status: 404, code: 'rollout.not-found' });
    // Deleting a device is admin's.
    assert.deepEqual(await call('DELETE', '/api/v1/devices/d-none', { cookie: otto.cookie!, 'x-csrf-token': otto.info!.csrfToken }), { status: 403, code: 'auth.forbidden' });
    assert.deepEqual(await call('DELETE', '/api/v1/devices/d-none', { cookie: ada.cookie!, 'x-csrf-token': ada.info!.csrfToken }), { status: 404, code: 'store.not-found' });
  });

  test('logout ends the session', async () => {
    const otto = await login('otto');
    assert.deepEqual(await call('DELETE', '/api/v1/session', { cookie: otto.cookie! }), { status: 403, code: 'auth.csrf' });
    assert.equal((await call('DELETE', '/api/v1/session', { cookie: otto.cookie!, 'x-csrf-token': otto.info!.csrfToken })).status, 204);
    assert.deepEqual(await call('GET', '/api/v1/session', { cookie: otto.cookie! }), { status: 401, code: 'auth.required' });
  });

  test('API tokens carry a role', async () => {
    const viewer = await createApiToken(server.store, { name: 'grafana', role: 'viewer' });
    const operator = await createApiToken(server.store, { name: 'chatops', role: 'operator' });
    assert.equal((await call('GET', '/api/v1/stats', { authorization: `Bearer ${viewer.token}` })).status, 200);
    assert.deepEqual(await call('POST', '/api/v1/rollouts/r-none/promote', { authorization: `Bearer ${viewer.token}` }), { status: 403, code: 'auth.forbidden' });
    assert.deepEqual(await call('POST', '/api/v1/rollouts/r-none/promote', { authorization: `Bearer ${operator.token}` }), { status: 404, code: 'rollout.not-found' });
    await server.store.revokeApiToken(operator.id);
    assert.deepEqual(await call('GET', '/api/v1/stats', { authorization: `Bearer ${operator.token}` }), { status: 401, code: 'auth.required' });
  });

  test('guessing a password is throttled', async () => {
    for (let i = 0; i < 5; i++) assert.equal((await login('guessme', `guess number ${i}`)).status, 401);
    // Even the right password is refused while throttled.
    assert.deepEqual(await login('guessme'), { status: 429, code: 'auth.throttled' });
  });

  test('/ui refuses strangers and streams deltas and notifications to a session', async () => {
    await assert.rejects(uiSocket({}), /auth\.required/);
    await assert.rejects(uiSocket({ token: 'dxa_wrong' }), /auth\.required/);
    const ada = await login('ada');
    const { socket, hello } = await uiSocket({ cookie: ada.cookie! });
    try {
      assert.deepEqual(hello.user, { name: 'ada', role: 'admin' });
      const rows: DeviceSummary[] = [];
      const notes: UiNotification[] = [];
      socket.on('devices', (batch: DeviceSummary[]) => rows.push(...batch));
      socket.on('notification', (n: UiNotification) => notes.push(n));

      await server.store.enrollDevice({ id: 'ui-dev-1', machineId: 'm-ui-1', labels: { site: 'ams' }, facts: { hostname: 'ui-dev-1', os: { family: 'debian', version: '12' } }, credentialHash: 'x', now: new Date().toISOString() });
      server.ui.deviceChanged('ui-dev-1');
      server.ui.deviceChanged('ui-dev-1');
      const row = await waitFor('the device row', () => rows.find((r) => r.id === 'ui-dev-1'));
      assert.equal(rows.filter((r) => r.id === 'ui-dev-1').length, 1, 'coalesced into one delta');
      assert.deepEqual(row.labels, { site: 'ams' });
      assert.deepEqual(row.os, { family: 'debian', version: '12' });

      server.ui.agentConnected('a1');
      server.ui.agentConnected('a2');
      const note = await waitFor('a notification', () => notes.find((n) => n.kind === 'agent.connected'));
      assert.equal(note.message, '2 agents connected (a1, a2)');
      const listed = (await (await fetch(`${server.url}/api/v1/notifications?after=${note.seq - 1}`, { headers: { cookie: ada.cookie! } })).json()) as { notifications: UiNotification[] };
      assert.deepEqual(listed.notifications.map((n) => n.seq), [note.seq]);
    } finally {
      socket.close();
    }
    const tokenSocket = await uiSocket({ token: server.apiToken });
    assert.deepEqual(tokenSocket.hello.user, { name: 'admin-token', role: 'admin' });
    tokenSocket.socket.close();
  });
});
