// `--store` / DEPLOYX_STORE in the commands that open the server's store, through `main` as a
// person runs them: a real PostgreSQL schema (DEPLOYX_TEST_PG), and the one-line errors of a
// store that cannot be used, which never show the URL's password, SQL or a stack.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, test, type TestContext } from 'node:test';
import { describePostgres, tempPgStore } from '../../reconciler/src/edges/store/test-support.ts';
import type { CommandIo } from './io.ts';
import { main } from './main.ts';
import { announceServer } from './running-server.ts';
import { commandStoreSpec } from './store-option.ts';

function recorder(cwd: string): CommandIo & { lines: string[]; errors: string[] } {
  const lines: string[] = [];
  const errors: string[] = [];
  return { lines, errors, out: (l) => lines.push(...l.split('\n')), err: (l) => errors.push(...l.split('\n')), cwd, readSecret: async () => 'a long enough password' };
}

async function tempDir(t: TestContext): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'deployx-store-option-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

describe('--store', () => {
  test('every command that opens the store lists --store in its help', async () => {
    for (const command of [['serve'], ['token'], ['user'], ['keys'], ['audit']]) {
      const io = recorder('/');
      assert.equal(await main([...command, '--help'], io), 0);
      assert.match(io.lines.join('\n'), /--store/, command.join(' '));
    }
  });

  test('beside a server that uses PostgreSQL, a command given no store stops instead of opening the SQLite file', async (t) => {
    const dir = await tempDir(t);
    const env = { DEPLOYX_RUNTIME_DIR: path.join(dir, 'running') };
    const dataDir = path.join(dir, 'srv');
    const unannounce = announceServer({ url: 'http://127.0.0.1:8080', dataDir, store: { kind: 'postgres', label: 'PostgreSQL deployx@db:5432/fleet' } }, env);
    t.after(unannounce);
    assert.throws(() => commandStoreSpec(undefined, dataDir, recorder(dir), env), {
      code: 'store.open',
      message: 'the server running at http://127.0.0.1:8080 keeps its state in PostgreSQL deployx@db:5432/fleet: give its URL with --store (or DEPLOYX_STORE)',
    });
    assert.deepEqual(commandStoreSpec('postgres://deployx@db/fleet', dataDir, recorder(dir), env), { kind: 'postgres', url: 'postgres://deployx@db/fleet' });
    assert.equal(commandStoreSpec(undefined, dataDir, recorder(dir), { ...env, DEPLOYX_STORE: 'postgres://deployx@db/fleet' }).kind, 'postgres');
    // Another data dir than the server's: its own SQLite file.
    assert.deepEqual(commandStoreSpec(undefined, path.join(dir, 'other'), recorder(dir), env), { kind: 'sqlite', file: path.join(dir, 'other', 'deployx.sqlite') });
  });

  test('a URL of another database is refused in one line, without its password', async (t) => {
    const dir = await tempDir(t);
    const io = recorder(dir);
    assert.equal(await main(['token', 'list', '--data', 'srv', '--store', 'mysql://admin:s3cret-pw@db/deployx'], io), 1);
    assert.equal(io.errors.length, 1, io.errors.join('\n'));
    assert.match(io.errors[0]!, /^deployx token: --store: mysql:\/\/ is not a store DeployX opens; give postgres:\/\//);
    assert.doesNotMatch(io.errors.join('\n'), /s3cret-pw/);
  });

  test('a PostgreSQL that does not answer: one line naming the server, not the password; no stack', async (t) => {
    const dir = await tempDir(t);
    for (const command of [['serve', '--repo', dir], ['token', 'list'], ['user', 'list'], ['audit', 'list']]) {
      const io = recorder(dir);
      const code = await main([...command, '--data', 'srv', '--store', 'postgres://deployx:s3cret-pw@127.0.0.1:1/fleet'], io);
      assert.notEqual(code, 0);
      assert.equal(io.errors.length, 1, io.errors.join('\n'));
      assert.match(io.errors[0]!, new RegExp(`^deployx ${command[0]}: PostgreSQL deployx@127\\.0\\.0\\.1:1/fleet cannot be reached \\(connection refused\\); start PostgreSQL or fix --store / DEPLOYX_STORE`));
      assert.doesNotMatch(io.errors.join('\n'), /s3cret-pw|SELECT|INSERT|\n\s+at /);
    }
  });
});

describePostgres(() => {
  test('token and user commands write to the PostgreSQL store --store names', async (t) => {
    const dir = await tempDir(t);
    const { store, url } = await tempPgStore(t);
    const created = recorder(dir);
    assert.equal(await main(['token', 'create', '--api', '--role', 'viewer', '--name', 'ci', '--data', 'srv', '--store', url], created), 0, created.errors.join('\n'));
    assert.equal((await store.listApiTokens()).map((tk) => tk.name).join(), 'ci');
    const user = recorder(dir);
    assert.equal(await main(['user', 'create', '--name', 'ada', '--role', 'admin', '--data', 'srv', '--store', url], user), 0, user.errors.join('\n'));
    assert.equal((await store.getUser('ada'))?.role, 'admin');
    // Both were audited in the same store.
    const audit = recorder(dir);
    assert.equal(await main(['audit', 'verify', '--data', 'srv', '--store', url], audit), 0, audit.errors.join('\n'));
    assert.deepEqual((await store.listAudit({ limit: 10 })).map((e) => e.action).sort(), ['api-token.create', 'user.create']);
  });
});
