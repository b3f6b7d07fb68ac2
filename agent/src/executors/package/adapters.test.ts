// Argv of every adapter, recorded by a fake Exec (these managers cannot run here), and the
// validation that happens before anything runs.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { PackageManager } from '../../../../schemas/kinds.ts';
import { isAgentError, type AgentErrorCode } from '../../errors.ts';
import { recordingExec, type Responder } from '../../test-support/recording-exec.ts';
import { createPackageAdapters } from './index.ts';

const APT_OPTS = [
  '-o',
  'DPkg::Lock::Timeout=120',
  '-o',
  'Dpkg::Options::=--force-confdef',
  '-o',
  'Dpkg::Options::=--force-confold',
];

interface Row {
  manager: PackageManager;
  name: string;
  query: string[];
  installs: Array<[rule: string, argv: string[]]>;
  remove: string[];
}

const ROWS: Row[] = [
  {
    manager: 'apt',
    name: 'nginx',
    query: ['dpkg-query', '-W', '-f=${Status}\\t${Version}\\n', 'nginx'],
    installs: [
      ['any', ['apt-get', 'install', '-y', '--no-install-recommends', ...APT_OPTS, 'nginx']],
      ['latest', ['apt-get', 'install', '-y', '--no-install-recommends', ...APT_OPTS, 'nginx']],
      ['1.22.1-9', ['apt-get', 'install', '-y', '--no-install-recommends', ...APT_OPTS, 'nginx=1.22.1-9']],
      ['1.24.*', ['apt-get', 'install', '-y', '--no-install-recommends', ...APT_OPTS, 'nginx=1.24.*']],
    ],
    remove: ['apt-get', 'remove', '-y', ...APT_OPTS, 'nginx'],
  },
  {
    manager: 'dnf',
    name: 'nginx',
    query: ['rpm', '-q', '--qf', '%{VERSION}-%{RELEASE}\\n', 'nginx'],
    installs: [
      ['any', ['dnf', 'install', '-y', 'nginx']],
      ['1.24.0-1.el9', ['dnf', 'install', '-y', 'nginx-1.24.0-1.el9']],
      ['1.24.*', ['dnf', 'install', '-y', 'nginx-1.24.*']],
    ],
    remove: ['dnf', 'remove', '-y', 'nginx'],
  },
  {
    manager: 'yum',
    name: 'httpd',
    query: ['rpm', '-q', '--qf', '%{VERSION}-%{RELEASE}\\n', 'httpd'],
    installs: [
      ['latest', ['yum', 'install', '-y', 'httpd']],
      ['2.4.6', ['yum', 'install', '-y', 'httpd-2.4.6']],
    ],
    remove: ['yum', 'remove', '-y', 'httpd'],
  },
  {
    manager: 'zypper',
    name: 'nginx',
    query: ['rpm', '-q', '--qf', '%{VERSION}-%{RELEASE}\\n', 'nginx'],
    installs: [
      ['any', ['zypper', '--non-interactive', 'install', '--auto-agree-with-licenses', 'nginx']],
      ['1.21.5', ['zypper', '--non-interactive', 'install', '--auto-agree-with-licenses', 'nginx=1.21.5']],
    ],
    remove: ['zypper', '--non-interactive', 'remove', 'nginx'],
  },
  {
    manager: 'choco',
    name: 'googlechrome',
    query: ['choco', 'list', '--local-only', '--exact', 'googlechrome', '--limit-output'],
    installs: [
      ['any', ['choco', 'install', 'googlechrome', '-y', '--no-progress']],
      ['120.0.1', ['choco', 'install', 'googlechrome', '-y', '--version', '120.0.1', '--no-progress']],
    ],
    remove: ['choco', 'uninstall', 'googlechrome', '-y', '--no-progress'],
  },
  {
    manager: 'winget',
    name: 'Microsoft.VisualStudioCode',
    query: ['winget', 'list', '--id', 'Microsoft.VisualStudioCode', '--exact', '--accept-source-agreements'],
    installs: [
      [
        'latest',
        ['winget', 'install', '--id', 'Microsoft.VisualStudioCode', '--exact', '--silent', '--accept-package-agreements', '--accept-source-agreements'],
      ],
      [
        '1.85.1',
        ['winget', 'install', '--id', 'Microsoft.VisualStudioCode', '--exact', '--silent', '--accept-package-agreements', '--accept-source-agreements', '--version', '1.85.1'],
      ],
    ],
    remove: ['winget', 'uninstall', '--id', 'Microsoft.VisualStudioCode', '--exact', '--silent', '--accept-source-agreements'],
  },
  {
    manager: 'brew',
    name: 'node@20',
    query: ['brew', 'list', '--versions', 'node@20'],
    installs: [['any', ['brew', 'install', 'node@20']]],
    remove: ['brew', 'uninstall', 'node@20'],
  },
];

/** Answers every query with "not installed" in that manager's own words. */
const notInstalled: Responder = (argv) => {
  switch (argv[0]) {
    case 'dpkg-query':
      return { exitCode: 1, stderr: `dpkg-query: no packages found matching ${argv.at(-1)}\n` };
    case 'rpm':
      return { exitCode: 1, stdout: `package ${argv.at(-1)} is not installed\n` };
    case 'brew':
      return argv[1] === 'list' ? { exitCode: 1 } : undefined;
    case 'winget':
      return argv[1] === 'list' ? { exitCode: -1978335212, stdout: 'No installed package found matching input criteria.\n' } : undefined;
    default:
      return undefined;
  }
};

describe('package adapters: argv', () => {
  for (const row of ROWS) {
    describe(row.manager, () => {
      it('queries', async () => {
        const fake = recordingExec(notInstalled);
        const state = await createPackageAdapters({ exec: fake.exec })(row.manager).query(row.name);
        assert.deepEqual(state, { installed: false });
        assert.deepEqual(fake.argvs(), [row.query]);
      });
      for (const [rule, argv] of row.installs) {
        it(`installs with rule ${rule}`, async () => {
          const fake = recordingExec();
          const op = await createPackageAdapters({ exec: fake.exec })(row.manager).install(row.name, rule);
          assert.equal(op.ok, true);
          assert.deepEqual(fake.argvs(), [argv]);
        });
      }
      it('removes', async () => {
        const fake = recordingExec();
        const op = await createPackageAdapters({ exec: fake.exec })(row.manager).remove(row.name);
        assert.equal(op.ok, true);
        assert.deepEqual(fake.argvs(), [row.remove]);
      });
    });
  }

  it('runs apt-get non-interactively', async () => {
    const fake = recordingExec();
    await createPackageAdapters({ exec: fake.exec })('apt').install('nginx', 'any');
    assert.deepEqual(fake.calls[0]?.options.extraEnv, { DEBIAN_FRONTEND: 'noninteractive' });
  });

  it('apt: updates the package lists once and retries when the package is unknown', async () => {
    let updated = false;
    const fake = recordingExec((argv) => {
      if (argv[1] === 'update') {
        updated = true;
        return undefined;
      }
      return updated ? undefined : { exitCode: 100, stderr: 'E: Unable to locate package hello\n' };
    });
    const op = await createPackageAdapters({ exec: fake.exec })('apt').install('hello', 'any');
    assert.equal(op.ok, true);
    assert.deepEqual(
      fake.argvs().map((a) => a.slice(0, 2)),
      [['apt-get', 'install'], ['apt-get', 'update'], ['apt-get', 'install']],
    );
  });

  it('apt with a dpkg root: queries that database, removes with dpkg --root', async () => {
    const fake = recordingExec();
    const adapter = createPackageAdapters({ exec: fake.exec, apt: { dpkgRoot: '/tmp/R' } })('apt');
    await adapter.query('hello');
    await adapter.remove('hello');
    assert.deepEqual(fake.argvs(), [
      ['dpkg-query', '--admindir=/tmp/R/var/lib/dpkg', '-W', '-f=${Status}\\t${Version}\\n', 'hello'],
      ['dpkg', '--root=/tmp/R', '-r', 'hello'],
    ]);
  });

  it('counts reboot-pending exit codes as success where the manager defines them', async () => {
    const choco = recordingExec(() => ({ exitCode: 3010 }));
    assert.equal((await createPackageAdapters({ exec: choco.exec })('choco').install('git', 'any')).ok, true);
    const dnf = recordingExec(() => ({ exitCode: 3010 }));
    assert.equal((await createPackageAdapters({ exec: dnf.exec })('dnf').install('git', 'any')).ok, false);
  });
});

describe('package adapters: query parsing', () => {
  it('apt: installed line, multi-arch, config-files only', async () => {
    const answers: Record<string, string> = {
      a: 'install ok installed\t2.10-3\n',
      b: 'deinstall ok config-files\t1.0\ninstall ok installed\t1.0\n',
      c: 'deinstall ok config-files\t1.0\n',
    };
    const fake = recordingExec((argv) => ({ stdout: answers[argv.at(-1)!] ?? '' }));
    const apt = createPackageAdapters({ exec: fake.exec })('apt');
    assert.deepEqual(await apt.query('a'), { installed: true, version: '2.10-3' });
    assert.deepEqual(await apt.query('b'), { installed: true, version: '1.0' });
    assert.deepEqual(await apt.query('c'), { installed: false });
  });

  it('rpm: the last installed instance', async () => {
    const fake = recordingExec(() => ({ stdout: '5.14.0-1.el9\n5.14.0-2.el9\n' }));
    assert.deepEqual(await createPackageAdapters({ exec: fake.exec })('dnf').query('kernel'), {
      installed: true,
      version: '5.14.0-2.el9',
    });
  });

  it('choco: the exact id, case-insensitively', async () => {
    const fake = recordingExec(() => ({ stdout: 'googlechrome.beta|121.0\nGoogleChrome|120.0.6099.130\n' }));
    assert.deepEqual(await createPackageAdapters({ exec: fake.exec })('choco').query('googlechrome'), {
      installed: true,
      version: '120.0.6099.130',
    });
  });

  it('winget: the row of the id in the table', async () => {
    const table =
      '\r-\r\\\r \r' +
      'Name                Id                         Version Available Source\n' +
      '------------------------------------------------------------------------\n' +
      'Microsoft Visual Studio Code Microsoft.VisualStudioCode 1.85.1  1.86.0    winget\n';
    const fake = recordingExec(() => ({ stdout: table }));
    assert.deepEqual(await createPackageAdapters({ exec: fake.exec })('winget').query('Microsoft.VisualStudioCode'), {
      installed: true,
      version: '1.85.1',
    });
  });

  it('brew: the newest keg', async () => {
    const fake = recordingExec(() => ({ stdout: 'node@20 20.10.0 20.11.1\n' }));
    assert.deepEqual(await createPackageAdapters({ exec: fake.exec })('brew').query('node@20'), {
      installed: true,
      version: '20.11.1',
    });
  });

  it('an unexpected exit is package.query-failed, not "not installed"', async () => {
    const fake = recordingExec(() => ({ exitCode: 2, stderr: 'dpkg-query: error: database is locked\n' }));
    await assert.rejects(createPackageAdapters({ exec: fake.exec })('apt').query('nginx'), (e) =>
      isAgentError(e, 'package.query-failed'),
    );
  });
});

describe('package adapters: refused before anything runs', () => {
  const refused: Array<[PackageManager, string, string, AgentErrorCode]> = [
    ['apt', '-oAPT::Update::Pre-Invoke::=touch /tmp/x', 'any', 'package.invalid-name'],
    ['apt', 'nginx; rm -rf /', 'any', 'package.invalid-name'],
    ['apt', '', 'any', 'package.invalid-name'],
    ['apt', 'nginx', '1.0 --allow-downgrades', 'package.invalid-version'],
    ['apt', 'nginx', '-1', 'package.invalid-version'],
    ['dnf', 'nginx\n', 'any', 'package.invalid-name'],
    ['dnf', '../../etc/passwd', 'any', 'package.invalid-name'],
    ['yum', 'httpd', '$(id)', 'package.invalid-version'],
    ['zypper', 'nginx', '1.24.*', 'package.version-unsupported'],
    ['choco', 'git --params "/x"', 'any', 'package.invalid-name'],
    ['choco', 'git', '2.*', 'package.version-unsupported'],
    ['winget', 'Microsoft/VSCode', 'any', 'package.invalid-name'],
    ['winget', '--id', 'any', 'package.invalid-name'],
    ['winget', 'Git.Git', '2.*', 'package.version-unsupported'],
    ['brew', 'node', '20.1.0', 'package.version-unsupported'],
    ['brew', '--cask', 'any', 'package.invalid-name'],
  ];
  for (const [manager, name, rule, code] of refused) {
    it(`${manager} ${JSON.stringify(name)} ${JSON.stringify(rule)} → ${code}`, async () => {
      const fake = recordingExec();
      const adapter = createPackageAdapters({ exec: fake.exec })(manager);
      await assert.rejects(adapter.install(name, rule), (e) => isAgentError(e, code));
      if (code === 'package.invalid-name') {
        await assert.rejects(adapter.query(name), (e) => isAgentError(e, code));
        await assert.rejects(adapter.remove(name), (e) => isAgentError(e, code));
      }
      assert.deepEqual(fake.calls, [], 'nothing was run');
    });
  }

  it('a disabled manager is package.manager-unsupported', () => {
    const adapters = createPackageAdapters({ exec: recordingExec().exec, enabled: ['apt'] });
    assert.throws(() => adapters('choco'), (e) => isAgentError(e, 'package.manager-unsupported'));
    assert.throws(() => adapters('pacman' as PackageManager), (e) => isAgentError(e, 'package.manager-unsupported'));
  });
});
