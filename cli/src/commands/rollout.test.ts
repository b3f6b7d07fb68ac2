// `deployx rollout` without a server: usage errors, a server that is not there, and the text it
// prints for a rollout (the commands against a real server are in e2e/rollout.test.ts).
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { describe, it } from 'node:test';
import type { CommandIo } from '../io.ts';
import { renderList, renderRollout, runRollout } from './rollout.ts';

function io(): CommandIo & { lines: string[]; errors: string[] } {
  const lines: string[] = [];
  const errors: string[] = [];
  return { lines, errors, out: (l) => lines.push(...l.split('\n')), err: (l) => errors.push(...l.split('\n')), cwd: process.cwd() };
}

const counts = (parts: Partial<Record<'total' | 'waiting' | 'running' | 'succeeded' | 'failed' | 'retrying' | 'offline', number>>) => ({
  total: 0,
  waiting: 0,
  running: 0,
  succeeded: 0,
  failed: 0,
  retrying: 0,
  offline: 0,
  ...parts,
});

const HALTED = {
  id: 'ro-abc',
  revision: 'main@sha1:0123456789abcdef0123456789abcdef01234567',
  profile: 'web',
  status: 'halted',
  supersededBy: null,
  createdAt: '2025-03-03T10:00:00.000Z',
  updatedAt: '2025-03-03T10:05:00.000Z',
  finishedAt: '2025-03-03T10:05:00.000Z',
  counts: counts({ total: 50, succeeded: 4, failed: 2, waiting: 44 }),
  activeWave: null,
  awaitingPromotion: null,
  halted: { wave: 1, name: 'early', threshold: 0, devices: ['sim-10', 'sim-11'] },
  waves: [
    { index: 0, name: 'canary', counts: counts({ total: 1, succeeded: 1 }), failureThreshold: 0, manualPromotion: false, startedAt: 'x', completedAt: 'x', promotedAt: null },
    { index: 1, name: 'early', counts: counts({ total: 5, succeeded: 3, failed: 2 }), failureThreshold: 0, manualPromotion: false, startedAt: 'x', completedAt: null, promotedAt: null },
    { index: 2, name: 'rest', counts: counts({ total: 44, waiting: 44 }), failureThreshold: 4, manualPromotion: false, startedAt: null, completedAt: null, promotedAt: null },
  ],
  failedDevices: [
    { device: 'sim-10', wave: 1, attempts: 1, error: 'file//etc/x: disk full', output: 'writing /etc/x\nENOSPC' },
    { device: 'sim-11', wave: 1, attempts: 3, error: 'file//etc/x: disk full' },
  ],
};

describe('deployx rollout', () => {
  it('prints a rollout: its waves, the halt and the failed devices with their output', () => {
    assert.deepEqual(renderRollout(HALTED), [
      'rollout ro-abc (web @ main@0123456): halted',
      '  created 2025-03-03T10:00:00.000Z, updated 2025-03-03T10:05:00.000Z, finished 2025-03-03T10:05:00.000Z',
      '  devices: 4/50 succeeded, 2 failed, 44 waiting',
      '  waves:',
      '     1 canary  completed            1/1 succeeded  (tolerates 0 failed)',
      '     2 early   halted               3/5 succeeded, 2 failed  (tolerates 0 failed)',
      '     3 rest    not started          0/44 succeeded, 44 waiting  (tolerates 4 failed)',
      '  halted in wave 2 (early): 2 failed, 0 tolerated',
      '  failed devices:',
      '    sim-10 (wave 2, 1 attempt): file//etc/x: disk full',
      '      | writing /etc/x',
      '      | ENOSPC',
      '    sim-11 (wave 2, 3 attempts): file//etc/x: disk full',
    ]);
  });

  it('lists rollouts in columns, the wave that holds each one', () => {
    const waiting = { ...HALTED, id: 'ro-def', status: 'progressing', halted: null, awaitingPromotion: 2, counts: counts({ total: 3, succeeded: 1, waiting: 2 }) };
    assert.deepEqual(renderList([waiting, HALTED]), [
      'ID      PROFILE  REVISION      STATUS       WAVE       DEVICES  SUCCEEDED  FAILED  WAITING  CREATED',
      'ro-def  web      main@0123456  progressing  3/3 rest   3        1          0       2        2025-03-03T10:00:00.000Z',
      'ro-abc  web      main@0123456  halted       2/3 early  50       4          2       44       2025-03-03T10:00:00.000Z',
    ]);
    assert.deepEqual(renderList([]), ['no rollouts']);
  });

  it('says why a rollout waits and until when; a finished one shows done and its empty waves as skipped', () => {
    const reason = 'outside its maintenance windows; wave 1 (canary) starts when one opens: Mon 20:00 Europe/Amsterdam (2025-03-03T19:00:00.000Z)';
    const windowed = {
      ...HALTED,
      id: 'ro-win',
      status: 'progressing',
      finishedAt: null,
      halted: null,
      failedDevices: [],
      counts: counts({ total: 3, waiting: 3 }),
      waiting: { kind: 'window', reason, until: '2025-03-03T19:00:00.000Z', wave: 0 },
      waves: HALTED.waves.map((w) => ({ ...w, startedAt: null, completedAt: null, counts: counts({ total: 1, waiting: 1 }) })),
    };
    const list = renderList([windowed]);
    assert.match(list[1]!, /^ro-win\s+web\s+main@0123456\s+progressing\s+1\/3 canary\s/);
    assert.equal(list[2], `ro-win: ${reason}`);
    assert.ok(renderRollout(windowed).includes(`  waiting: ${reason}`));
    assert.match(renderRollout(windowed).find((l) => l.startsWith('     1 canary'))!, /canary {2}waits \(window\)/);

    const done = {
      ...HALTED,
      id: 'ro-done',
      status: 'completed',
      halted: null,
      failedDevices: [],
      counts: counts({ total: 1, succeeded: 1 }),
      waiting: null,
      waves: [HALTED.waves[0]!, { ...HALTED.waves[1]!, counts: counts({}), startedAt: null, completedAt: null }],
    };
    assert.match(renderList([done])[1]!, /completed\s+done\s/);
    assert.ok(renderRollout(done).some((l) => /2 early {3}empty \(skipped\)/.test(l)), renderRollout(done).join('\n'));
  });

  it('exits 2 on usage errors, without an API token, and when the server is not there', async () => {
    // No running server is found here: the discovery dir does not exist.
    const none = { DEPLOYX_RUNTIME_DIR: '/nonexistent/deployx-runtime' };
    const env = { ...none, DEPLOYX_API_TOKEN: 'dxa_test' };
    const cases: Array<[string[], RegExp]> = [
      [[], /a subcommand is required/],
      [['rollback', 'ro-1', '--server', 'http://127.0.0.1:1'], /unknown subcommand "rollback"/],
      [['pause', '--server', 'http://127.0.0.1:1'], /pause needs a rollout ID/],
      [['list', 'extra', '--server', 'http://127.0.0.1:1'], /unexpected argument "extra"/],
      [['list', '--limit', '0', '--server', 'http://127.0.0.1:1'], /--limit: a positive integer/],
      [['list'], /no server given and none running here: give --server URL/],
      [['list', '--server', 'ftp://x'], /--server: use an http/],
      [['list', '--bogus'], /Unknown option '--bogus'/],
    ];
    for (const [args, message] of cases) {
      const out = io();
      assert.equal(await runRollout(args, out, env), 2, args.join(' '));
      assert.match(out.errors.join('\n'), message, args.join(' '));
    }
    const noToken = io();
    assert.equal(await runRollout(['list', '--server', 'http://127.0.0.1:1'], noToken, none), 2);
    assert.match(noToken.errors[0]!, /no API token for http:\/\/127\.0\.0\.1:1: set DEPLOYX_TOKEN/);

    // A port nobody listens on.
    const port = await new Promise<number>((resolve) => {
      const probe = createServer().listen(0, '127.0.0.1', () => {
        const { port: p } = probe.address() as { port: number };
        probe.close(() => resolve(p));
      });
    });
    const down = io();
    assert.equal(await runRollout(['list', '--server', `http://127.0.0.1:${port}`], down, env), 2);
    assert.match(down.errors[0]!, /GET http:\/\/127\.0\.0\.1:\d+\/api\/v1\/rollouts failed: ECONNREFUSED/);

    const help = io();
    assert.equal(await runRollout(['--help'], help, {}), 0);
    assert.match(help.lines[0]!, /^usage: deployx rollout list/);
  });
});
