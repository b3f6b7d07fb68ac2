import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { isAgentError } from '../errors.ts';
import { credentialsPath, deviceSigningKey, newDeviceKey, readCredentials, writeCredentials } from './credentials.ts';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'deployx-cred-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('device identity', () => {
  it('is undefined before enrollment', async () => {
    assert.equal(await readCredentials(dir), undefined);
  });

  it('round-trips the device id and key through a 0600 file', async () => {
    const privateKey = newDeviceKey();
    await writeCredentials(path.join(dir, 'state'), { deviceId: 'dev-1', privateKey });
    const file = credentialsPath(path.join(dir, 'state'));
    assert.equal((await stat(file)).mode & 0o777, 0o600);
    assert.deepEqual(JSON.parse(await readFile(file, 'utf8')), { deviceId: 'dev-1', privateKey });
    assert.deepEqual(await readCredentials(path.join(dir, 'state')), { deviceId: 'dev-1', privateKey });
    assert.match(deviceSigningKey({ privateKey }).keyid, /^sha256:[0-9a-f]{64}$/);
  });

  it('makes a key for an identity from before keys and keeps the old credential to register it', async () => {
    await writeFile(credentialsPath(dir), JSON.stringify({ deviceId: 'old', credential: 'dxc_old-secret' }));
    const upgraded = await readCredentials(dir);
    assert.equal(upgraded?.deviceId, 'old');
    assert.equal(upgraded?.legacyCredential, 'dxc_old-secret');
    assert.ok(upgraded?.privateKey.includes('PRIVATE KEY'));
    // Stored at once: a restart before the server saw the key registers the same key.
    assert.deepEqual(await readCredentials(dir), upgraded);
  });

  it('reports a corrupt file by code without quoting it', async () => {
    await writeFile(credentialsPath(dir), '{"deviceId":"d","privateKey":"s3cret"');
    await assert.rejects(readCredentials(dir), (e) => isAgentError(e, 'state.corrupt') && !e.message.includes('s3cret'));
    await writeFile(credentialsPath(dir), '{"deviceId":"d"}');
    await assert.rejects(readCredentials(dir), (e) => isAgentError(e, 'state.corrupt'));
    await writeFile(credentialsPath(dir), '{"deviceId":"d","privateKey":"not a key s3cret"}');
    await assert.rejects(readCredentials(dir), (e) => isAgentError(e, 'state.corrupt') && !e.message.includes('s3cret'));
  });

  it('refuses to store an empty key', async () => {
    await assert.rejects(writeCredentials(dir, { deviceId: 'd', privateKey: '' }), (e) => isAgentError(e, 'state.invalid'));
  });
});
