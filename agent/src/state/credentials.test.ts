import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { isAgentError } from '../errors.ts';
import { credentialsPath, readCredentials, writeCredentials } from './credentials.ts';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'deployx-cred-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('credentials', () => {
  it('is undefined before enrollment', async () => {
    assert.equal(await readCredentials(dir), undefined);
  });

  it('round-trips through a 0600 file', async () => {
    await writeCredentials(path.join(dir, 'state'), { deviceId: 'dev-1', credential: 's3cret' });
    const file = credentialsPath(path.join(dir, 'state'));
    assert.equal((await stat(file)).mode & 0o777, 0o600);
    assert.deepEqual(JSON.parse(await readFile(file, 'utf8')), { deviceId: 'dev-1', credential: 's3cret' });
    assert.deepEqual(await readCredentials(path.join(dir, 'state')), { deviceId: 'dev-1', credential: 's3cret' });
    await writeCredentials(path.join(dir, 'state'), { deviceId: 'dev-1', credential: 'rotated' });
    assert.equal((await readCredentials(path.join(dir, 'state')))?.credential, 'rotated');
  });

  it('reports a corrupt file by code without quoting it', async () => {
    await writeFile(credentialsPath(dir), '{"deviceId":"d","credential":"s3cret"');
    await assert.rejects(readCredentials(dir), (e) => isAgentError(e, 'state.corrupt') && !e.message.includes('s3cret'));
    await writeFile(credentialsPath(dir), '{"deviceId":"d"}');
    await assert.rejects(readCredentials(dir), (e) => isAgentError(e, 'state.corrupt'));
  });

  it('refuses to store an empty credential', async () => {
    await assert.rejects(writeCredentials(dir, { deviceId: 'd', credential: '' }), (e) => isAgentError(e, 'state.invalid'));
  });
});
