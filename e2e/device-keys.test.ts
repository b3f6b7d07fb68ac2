// Device keys (issue 12, weaknesses 2 and 5), against the real server and a real `deployx agent`
// process:
// - what the agent sends to connect, read off the wire by a passive tap on its plain http://
//   path, holds nothing secret, and replaying it to the server is refused;
// - a device downloads a blob only when its desired state or one of its open jobs references it:
//   the other profile's file is refused, with a clear reason.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { io as connect } from 'socket.io-client';
import { AGENT_NAMESPACE, blobPath } from '../schemas/protocol.ts';
import { makeRepo, type FileTree } from '../reconciler/src/edges/git/test-repo.ts';
import type { RunningServer } from '../reconciler/src/main.ts';
import { createEnrollmentToken } from '../cli/src/commands/token.ts';
import { deviceBlobAuthorization, keyAuth, testDeviceKey } from './device-auth.ts';
import { hashSecret } from '../reconciler/src/edges/transport/agent-gateway.ts';
import { ServerTrustFiles } from '../agent/src/state/server-trust.ts';
import { spawnAgent, startTestServer, tempDir, waitFor, type AgentProcess } from './harness.ts';
import { capturedHandshakes, startWiretap, type Wiretap } from './wiretap.ts';

const WEB_CONF = 'listen = 8080\n';
const DB_SECRET = 'password = hunter2\n';
const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

/** Two profiles: web devices get web.conf, db devices get db.conf (which web devices must not read). */
function twoProfiles(): FileTree {
  const file = (name: string, source: string) => `apiVersion: deployx.dev/v1
kind: FileDeployment
metadata:
  name: ${name}
spec:
  path: /etc/keys/${name}.conf
  source: ${source}
  mode: "0644"
`;
  const group = (name: string) => `apiVersion: deployx.dev/v1
kind: Group
metadata:
  name: ${name}
spec:
  selector:
    matchLabels: { role: ${name} }
`;
  const profile = (name: string) => `apiVersion: deployx.dev/v1
kind: Profile
metadata:
  name: ${name}
spec:
  targets: [${name}]
  files: [${name}]
`;
  return {
    'fleet.yaml': 'apiVersion: deployx.dev/v1\nkind: Fleet\nmetadata:\n  name: keys\nspec:\n  drift: enforce\n',
    'groups.yaml': `${group('web')}---\n${group('db')}`,
    'files/web.conf': WEB_CONF,
    'files/db.conf': DB_SECRET,
    'deployments.yaml': `${file('web', 'files/web.conf')}---\n${file('db', 'files/db.conf')}`,
    'profiles.yaml': `${profile('web')}---\n${profile('db')}`,
  };
}

/** Connects to /agent with `auth`; resolves on connect, rejects with the refusal. */
function handshake(url: string, auth: Record<string, unknown>): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = connect(url + AGENT_NAMESPACE, { transports: ['websocket'], auth, reconnection: false, timeout: 5000 });
    socket.on('connect', () => {
      socket.close();
      resolve();
    });
    socket.on('connect_error', (error: Error & { data?: unknown }) => {
      socket.close();
      reject(Object.assign(new Error(error.message), { data: error.data }));
    });
  });
}

describe('device keys', { timeout: 120_000 }, () => {
  let work: { dir: string; remove: () => Promise<void> };
  let server: RunningServer;
  let tap: Wiretap;
  let agent: AgentProcess | undefined;
  const stateDir = () => path.join(work.dir, 'agent');

  before(async () => {
    work = await tempDir('deployx-device-keys-');
    const repo = await makeRepo(path.join(work.dir, 'repo'), twoProfiles());
    server = await startTestServer({ repo: repo.dir, dataDir: path.join(work.dir, 'server') });
    await waitFor('the first revision', () => server.reconciler.revision);
    tap = await startWiretap(new URL(server.url));
    const { token } = await createEnrollmentToken(server.store, { serverKey: server.serverKeys.current, name: 'web', maxUses: 1, labels: { role: 'web' } });
    // Through the tap from the first byte: enrollment, then the reconnect after a restart.
    agent = await spawnAgent({ server: tap.url, stateDir: stateDir(), root: path.join(work.dir, 'root'), token });
    const web = path.join(work.dir, 'root', 'etc', 'keys', 'web.conf');
    await waitFor('web.conf written by the agent', async () => (await readFile(web, 'utf8').catch(() => '')) === WEB_CONF, 60_000);
    await agent.kill();
    agent = await spawnAgent({ server: tap.url, stateDir: stateDir(), root: path.join(work.dir, 'root') });
    await waitFor('two handshakes on the wire', () => tap.sent().flatMap((s) => capturedHandshakes(s, AGENT_NAMESPACE)).length >= 2 || undefined);
    await waitFor('the device connected again', () => server.gateway.onlineDevices().length === 1 || undefined);
  });

  after(async () => {
    await agent?.kill();
    await tap?.close();
    await server?.close();
    await work?.remove();
  });

  test('a handshake read off the wire carries no secret of the agent and is refused when replayed', async () => {
    const seen = tap.sent().flatMap((s) => capturedHandshakes(s, AGENT_NAMESPACE));
    const reconnect = seen.find((auth) => !('enrollmentToken' in auth));
    assert.ok(reconnect, 'the reconnect handshake was captured');
    // Every secret the agent holds in its state dir: none of them is on the wire.
    const wire = JSON.stringify(seen);
    for (const file of await readdir(stateDir())) {
      if (!/credential|key/.test(file)) continue;
      const text = await readFile(path.join(stateDir(), file), 'utf8');
      for (const secret of secretsIn(text)) assert.ok(!wire.includes(secret), `${file} holds something that crossed the wire`);
    }
    await assert.rejects(handshake(server.url, reconnect), (error: Error & { data?: { code?: string; reason?: string } }) => {
      assert.equal(error.message, 'auth.refused');
      assert.equal(error.data?.reason, 'handshake-replayed');
      return true;
    });
  });

  test("a device gets the blobs its desired state references, and is refused the other profile's", async () => {
    const deviceId = server.gateway.onlineDevices()[0]!;
    const get = async (content: string) => {
      const sha = sha256(content);
      const authorization = await deviceBlobAuthorization(stateDir(), server, sha);
      return fetch(server.url + blobPath(sha), { headers: { authorization } });
    };
    const own = await get(WEB_CONF);
    assert.equal(own.status, 200);
    assert.equal(await own.text(), WEB_CONF);
    const other = await get(DB_SECRET);
    assert.equal(other.status, 403, `device ${deviceId} must not read the db profile's file`);
    const { error } = (await other.json()) as { error: { code: string; message: string } };
    assert.equal(error.code, 'blob.forbidden');
    assert.match(error.message, /not referenced by the desired state or an open job of device/);
  });

  test('an agent enrolled before device keys registers a key with its old credential once; the credential then opens nothing', async () => {
    const legacyState = path.join(work.dir, 'legacy-agent');
    const root = path.join(work.dir, 'legacy-root');
    await server.store.enrollDevice({
      id: 'legacy-01',
      machineId: 'm-legacy-01',
      labels: { role: 'web' },
      facts: { hostname: 'legacy-01' },
      credentialHash: hashSecret('dxc_legacy-secret'),
      now: new Date().toISOString(),
    });
    // The state a first-wave agent left: its bearer credential, and the server key it trusts.
    await mkdir(legacyState, { recursive: true, mode: 0o700 });
    await writeFile(path.join(legacyState, 'credential.json'), JSON.stringify({ deviceId: 'legacy-01', credential: 'dxc_legacy-secret' }), { mode: 0o600 });
    await new ServerTrustFiles(legacyState).writeKeys([{ keyid: server.serverKeys.current }]);
    const legacy = await spawnAgent({ server: server.url, stateDir: legacyState, root });
    try {
      const web = path.join(root, 'etc', 'keys', 'web.conf');
      await waitFor('web.conf written by the upgraded agent', async () => (await readFile(web, 'utf8').catch(() => '')) === WEB_CONF, 60_000);
      assert.ok(await server.store.findDeviceKey('legacy-01'), 'the server holds its public key');
      assert.equal(await server.store.findDeviceByCredential('legacy-01', hashSecret('dxc_legacy-secret')), undefined, 'the credential is cleared');
      await waitFor('the agent forgot the old credential', async () => {
        const state = JSON.parse(await readFile(path.join(legacyState, 'credential.json'), 'utf8')) as Record<string, unknown>;
        return state.legacyCredential === undefined && typeof state.privateKey === 'string';
      });
      // Whoever learnt the old credential cannot register a key of their own any more.
      const thief = testDeviceKey();
      await assert.rejects(handshake(server.url, { ...keyAuth(server, 'legacy-01', thief), credential: 'dxc_legacy-secret', publicKey: thief.publicKey }), /auth.refused/);
      await assert.rejects(handshake(server.url, { deviceId: 'legacy-01', credential: 'dxc_legacy-secret' }), /auth.refused/);
    } finally {
      await legacy.kill();
    }
  });
});

/** The strings of a state file that are secrets: any value of 16 characters or more that is not the device id's. */
function secretsIn(text: string): string[] {
  const found: string[] = [];
  const walk = (value: unknown): void => {
    if (typeof value === 'string') {
      if (value.length >= 16) found.push(...value.split('\n').filter((line) => line.length >= 16 && !line.startsWith('-----')));
    } else if (value && typeof value === 'object') {
      for (const [key, v] of Object.entries(value)) if (key !== 'deviceId' && key !== 'keyid') walk(v);
    }
  };
  try {
    walk(JSON.parse(text));
  } catch {
    walk(text);
  }
  return found;
}
