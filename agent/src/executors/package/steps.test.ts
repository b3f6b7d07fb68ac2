// package.install / package.remove against a simulated rpm database (dnf cannot run here): the
// fake records argv and changes its database like dnf would, so the outcome asserted is the
// package state after the step, not merely that a command was called.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Step } from '../../../../schemas/protocol.ts';
import { recordingExec } from '../../test-support/recording-exec.ts';
import { createExecContext } from '../context.ts';
import { createPackageAdapters } from './index.ts';
import { installPackage, removePackage } from './steps.ts';

type Install = Extract<Step, { action: 'package.install' }>;
type Remove = Extract<Step, { action: 'package.remove' }>;

/** A dnf host: `available` is the repository, `installed` the rpm database. */
function dnfWorld(installed: Record<string, string>, available: Record<string, string>, options: { brokenInstall?: boolean } = {}) {
  const fake = recordingExec((argv) => {
    if (argv[0] === 'rpm') {
      const name = argv.at(-1)!;
      return installed[name]
        ? { stdout: `${installed[name]}\n` }
        : { exitCode: 1, stdout: `package ${name} is not installed\n` };
    }
    if (argv[0] === 'dnf' && argv[1] === 'install') {
      const target = argv.at(-1)!;
      const name = Object.keys(available).find((n) => target === n || target.startsWith(`${n}-`));
      if (name === undefined) return { exitCode: 1, stderr: `No match for argument: ${target}\n` };
      if (!options.brokenInstall) installed[name] = available[name]!;
      return { stdout: 'Complete!\n' };
    }
    if (argv[0] === 'dnf' && argv[1] === 'remove') {
      delete installed[argv.at(-1)!];
      return { stdout: 'Complete!\n' };
    }
    return { exitCode: 127 };
  });
  const ctx = createExecContext({
    exec: fake.exec,
    fetchBlob: async () => new Uint8Array(),
    stateDir: '/nonexistent',
    packages: createPackageAdapters({ exec: fake.exec }),
  });
  return { fake, ctx, installed };
}

const install = (name: string, version: string): Install => ({
  action: 'package.install',
  key: `package/${name}`,
  manager: 'dnf',
  name,
  version,
});
const remove = (name: string): Remove => ({ action: 'package.remove', key: `package/${name}`, manager: 'dnf', name });

describe('package.install', () => {
  it('installs a missing package and observes it', async () => {
    const world = dnfWorld({}, { nginx: '1.24.0-1.el9' });
    const outcome = await installPackage(install('nginx', '1.24.*'), world.ctx);
    assert.equal(outcome.status, 'succeeded');
    assert.deepEqual(outcome.observed, {
      key: 'package/nginx',
      type: 'package',
      manager: 'dnf',
      name: 'nginx',
      installed: true,
      version: '1.24.0-1.el9',
    });
    assert.equal(world.installed.nginx, '1.24.0-1.el9');
    assert.deepEqual(world.fake.argvs()[1], ['dnf', 'install', '-y', 'nginx-1.24.*']);
  });

  it('skips without installing when the installed version satisfies the rule', async () => {
    const world = dnfWorld({ nginx: '1.24.0-1.el9' }, { nginx: '1.26.0-1.el9' });
    const outcome = await installPackage(install('nginx', '1.24.*'), world.ctx);
    assert.equal(outcome.status, 'skipped');
    assert.equal(world.fake.argvs().filter((a) => a[0] === 'dnf').length, 0);
  });

  it('fails when the manager succeeds but the result does not satisfy the rule', async () => {
    const world = dnfWorld({ nginx: '1.22.0-1.el9' }, { nginx: '1.24.0-1.el9' }, { brokenInstall: true });
    const outcome = await installPackage(install('nginx', '1.24.*'), world.ctx);
    assert.equal(outcome.status, 'failed');
    assert.match(outcome.error ?? '', /^package\.install-failed/);
    assert.equal((outcome.observed as { version?: string }).version, '1.22.0-1.el9');
  });

  it('fails with the command output when the manager fails', async () => {
    const world = dnfWorld({}, {});
    const outcome = await installPackage(install('nosuch', 'any'), world.ctx);
    assert.equal(outcome.status, 'failed');
    assert.equal(outcome.exitCode, 1);
    assert.match(outcome.output ?? '', /No match for argument: nosuch/);
  });
});

describe('package.remove', () => {
  it('removes an installed package', async () => {
    const world = dnfWorld({ telnet: '0.17-85.el9' }, {});
    const outcome = await removePackage(remove('telnet'), world.ctx);
    assert.equal(outcome.status, 'succeeded');
    assert.equal(world.installed.telnet, undefined);
    assert.equal((outcome.observed as { installed: boolean }).installed, false);
  });

  it('skips a package that is not installed', async () => {
    const world = dnfWorld({}, {});
    const outcome = await removePackage(remove('telnet'), world.ctx);
    assert.equal(outcome.status, 'skipped');
    assert.deepEqual(world.fake.argvs(), [['rpm', '-q', '--qf', '%{VERSION}-%{RELEASE}\\n', 'telnet']]);
  });
});
