// The apt adapter for real: `hello` downloaded from Debian's mirror and installed into an
// isolated dpkg root (the host's package database is never touched), then removed.
// Needs apt-get and dpkg (Debian/Ubuntu) and a package list that knows `hello`.
import assert from 'node:assert/strict';
import { access, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { exec } from '../../system/exec.ts';
import { createExecContext } from '../context.ts';
import { createPackageAdapters } from './index.ts';
import { installPackage, removePackage } from './steps.ts';

async function skipReason(): Promise<string | undefined> {
  for (const program of ['apt-get', 'dpkg', 'dpkg-query', 'apt-cache']) {
    const found = await exec(program, ['--version']).then(
      (r) => r.exitCode === 0,
      () => false,
    );
    if (!found) return `${program} is not available on this machine`;
  }
  const policy = await exec('apt-cache', ['policy', 'hello']);
  if (!/Candidate: (?!\(none\))/.test(policy.stdout)) {
    return 'the apt lists have no candidate for `hello` (run `apt-get update` first)';
  }
  return undefined;
}

const reason = await skipReason();

describe('apt adapter with an isolated dpkg root', { skip: reason ?? false }, () => {
  it('installs hello, skips it when present, and removes it', { timeout: 120_000 }, async (t) => {
    const root = await mkdtemp(path.join(os.tmpdir(), 'deployx-dpkg-'));
    t.after(() => rm(root, { recursive: true, force: true }));
    for (const d of ['info', 'updates', 'triggers']) await mkdir(path.join(root, 'var/lib/dpkg', d), { recursive: true });
    await writeFile(path.join(root, 'var/lib/dpkg/status'), '');
    await writeFile(path.join(root, 'var/lib/dpkg/available'), '');

    const ctx = createExecContext({
      exec,
      fetchBlob: async () => new Uint8Array(),
      stateDir: root,
      packages: createPackageAdapters({ exec, apt: { dpkgRoot: root } }),
    });
    const step = { action: 'package.install', key: 'package/hello', manager: 'apt', name: 'hello', version: '2.10*' } as const;

    const installed = await installPackage(step, ctx);
    if (installed.status === 'failed' && /Could not resolve|Temporary failure|Failed to fetch|Connection/i.test(installed.output ?? '')) {
      t.skip(`Debian's mirror is unreachable: ${installed.output?.split('\n').at(-1)}`);
      return;
    }
    assert.equal(installed.status, 'succeeded', installed.error ?? installed.output);
    assert.equal(installed.observed?.type, 'package');
    assert.equal((installed.observed as { installed: boolean }).installed, true);
    assert.match((installed.observed as { version?: string }).version ?? '', /^2\.10/);
    await access(path.join(root, 'usr/bin/hello'));
    const run = await exec(path.join(root, 'usr/bin/hello'), []);
    assert.equal(run.stdout, 'Hello, world!\n');

    const again = await installPackage(step, ctx);
    assert.equal(again.status, 'skipped');

    const removed = await removePackage({ action: 'package.remove', key: 'package/hello', manager: 'apt', name: 'hello' }, ctx);
    assert.equal(removed.status, 'succeeded', removed.error ?? removed.output);
    await assert.rejects(access(path.join(root, 'usr/bin/hello')));
    assert.deepEqual(await ctx.packages('apt').query('hello'), { installed: false });
  });
});
