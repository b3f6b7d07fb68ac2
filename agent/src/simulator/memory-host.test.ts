// The in-memory executors keep the real executors' contract: observe → apply → observe, skipped
// when already right, the same observed shapes, the same validation codes, verified blobs.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import type { Step } from '../../../schemas/protocol.ts';
import { isAgentError } from '../errors.ts';
import { createExecContext, type ExecContext } from '../executors/index.ts';
import { systemClock } from '../transport/clock.ts';
import { createMemoryExecutors, MemoryHost } from './memory-host.ts';

const blobs = new Map<string, Uint8Array>();
function blob(text: string): { sha256: string; size: number } {
  const bytes = Buffer.from(text);
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  blobs.set(sha256, bytes);
  return { sha256, size: bytes.length };
}
let fetches = 0;
const ctx: ExecContext = createExecContext({
  exec: async () => assert.fail('no exec on a simulated device'),
  fetchBlob: async (sha) => {
    fetches++;
    return blobs.get(sha) ?? Buffer.from('wrong bytes');
  },
  stateDir: 'memory:test',
  platform: 'linux',
  now: () => new Date('2025-06-01T00:00:00Z'),
});

function linux(fault?: (step: Step) => string | undefined) {
  const host = new MemoryHost('linux', ['apt']);
  return { host, ...createMemoryExecutors(host, { clock: systemClock, fault: (_c, s) => fault?.(s) }) };
}

describe('createMemoryExecutors', () => {
  it('installs by version rule, then skips; removes, then skips', async () => {
    const { executors, observers } = linux();
    const install = { action: 'package.install', key: 'package/nginx', manager: 'apt', name: 'nginx', version: '1.24.*' } as const;
    const first = await executors['package.install'](install, ctx);
    assert.equal(first.status, 'succeeded');
    assert.deepEqual(first.observed, { key: 'package/nginx', type: 'package', manager: 'apt', name: 'nginx', installed: true, version: '1.24.0' });
    assert.equal((await executors['package.install'](install, ctx)).status, 'skipped');
    assert.deepEqual(await observers['package.install'](install, ctx), first.observed);
    const remove = { action: 'package.remove', key: 'package/nginx', manager: 'apt', name: 'nginx' } as const;
    assert.equal((await executors['package.remove'](remove, ctx)).status, 'succeeded');
    assert.equal((await executors['package.remove'](remove, ctx)).status, 'skipped');
  });

  it('validates like the real adapters: bad names and managers the device lacks', async () => {
    const { executors } = linux();
    await assert.rejects(
      executors['package.install']({ action: 'package.install', key: 'p', manager: 'apt', name: '-oops', version: 'any' }, ctx),
      (e) => isAgentError(e, 'package.invalid-name'),
    );
    await assert.rejects(
      executors['package.install']({ action: 'package.install', key: 'p', manager: 'choco', name: 'firefox', version: 'any' }, ctx),
      (e) => isAgentError(e, 'package.manager-unsupported'),
    );
  });

  it('writes a file only after verifying the blob, skips when right, refuses paths outside the allowed roots', async () => {
    const { executors, host } = linux();
    const content = blob('hello\n');
    const step = { action: 'file.write', key: 'file//etc/motd', path: '/etc/motd', mode: '640', ...content } as const;
    const written = await executors['file.write'](step, ctx);
    assert.equal(written.status, 'succeeded');
    assert.deepEqual(written.observed, { key: 'file//etc/motd', type: 'file', path: '/etc/motd', exists: true, sha256: content.sha256, size: 6, mode: '0640', owner: 'root', group: 'root' });
    fetches = 0;
    assert.equal((await executors['file.write'](step, ctx)).status, 'skipped');
    assert.equal(fetches, 0, 'nothing fetched when already right');

    const bad = { ...step, key: 'file//etc/other', path: '/etc/other', sha256: 'f'.repeat(64) };
    const mismatch = await executors['file.write'](bad, ctx);
    assert.equal(mismatch.status, 'failed');
    assert.match(mismatch.error ?? '', /^blob\.hash-mismatch/);
    assert.equal(host.files.has('/etc/other'), false);

    await assert.rejects(executors['file.write']({ ...step, path: '/boot/x' }, ctx), (e) => isAgentError(e, 'path.outside-allowed'));
  });

  it('runs scripts by run policy; a check guard passes once the body ran to success', async () => {
    const { executors } = linux();
    const body = blob('echo hi\n');
    type ScriptStep = Extract<Step, { action: 'script.run' }>;
    const step: ScriptStep = { action: 'script.run', key: 'script/s', interpreter: 'sh', ...body, run: 'always', check: 'exit 1', timeoutSeconds: 5, successExitCodes: [0] };
    const ran = await executors['script.run'](step, ctx);
    assert.equal(ran.status, 'succeeded');
    assert.deepEqual(ran.observed, { key: 'script/s', type: 'script', appliedSha256: body.sha256, lastRunAt: '2025-06-01T00:00:00.000Z', lastExitCode: 0 });
    assert.equal((await executors['script.run'](step, ctx)).status, 'skipped');
    const { check: _check, ...unguarded } = step;
    const once: ScriptStep = { ...unguarded, key: 'script/o', run: 'once' };
    assert.equal((await executors['script.run'](once, ctx)).status, 'succeeded');
    assert.equal((await executors['script.run'](once, ctx)).status, 'skipped');
    await assert.rejects(executors['script.run']({ ...step, interpreter: 'powershell' }, ctx), (e) => isAgentError(e, 'script.interpreter'));
  });

  it('fails the step the fault plan names, leaving the machine unchanged', async () => {
    const { executors, host } = linux((s) => (s.key === 'package/nginx' ? 'simulated failure' : undefined));
    const outcome = await executors['package.install']({ action: 'package.install', key: 'package/nginx', manager: 'apt', name: 'nginx', version: 'any' }, ctx);
    assert.equal(outcome.status, 'failed');
    assert.match(outcome.error ?? '', /^package\.install-failed: simulated failure/);
    assert.equal(host.packages.size, 0);
  });
});
