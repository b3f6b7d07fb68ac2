// planRevision against real repositories: a working repository on disk, and the same commits
// served over smart HTTP (git http-backend) and fetched into a temporary mirror; parseInventory's
// checks, one table row each.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createBareRepo, startGitHttpServer, type GitHttpServer } from '../edges/git/test-git-server.ts';
import { makeTempDir, removeDir, runGit } from '../edges/git/test-repo.ts';
import { InventoryError, parseInventory, planRevision, type InventoryFile } from './plan-revision.ts';
import { FLEET_PATH, INVENTORY_FILE, makePlanRepo, type PlanRepo } from './test-plan-repo.ts';

describe('planRevision', () => {
  let tmp: string;
  let repo: PlanRepo;
  let inventory: InventoryFile;
  let server: GitHttpServer;
  let url: string;

  before(async () => {
    tmp = await makeTempDir('deployx-plan-revision-');
    repo = await makePlanRepo(join(tmp, 'work'));
    inventory = parseInventory(JSON.parse(await readFile(INVENTORY_FILE, 'utf8')));
    const projectRoot = join(tmp, 'served');
    server = await startGitHttpServer({ projectRoot });
    await createBareRepo(projectRoot, 'fleet');
    url = `${server.url}/fleet.git`;
    await runGit(repo.dir, ['push', '--quiet', url, 'main', 'web-1.26']);
    // A branch whose head does not validate: a misspelt selector key.
    await runGit(repo.dir, ['checkout', '--quiet', '-b', 'broken', 'web-1.26']);
    const groups = join(repo.dir, FLEET_PATH, 'groups', 'servers.yaml');
    await writeFile(groups, (await readFile(groups, 'utf8')).replace('  selector:\n    matchLabels:\n      role: db', '  selector:\n    matchLabel:\n      role: db'));
    await runGit(repo.dir, ['commit', '--quiet', '--all', '--message', 'typo']);
    await runGit(repo.dir, ['checkout', '--quiet', 'main']);
  });
  after(async () => {
    await server.close();
    await removeDir(tmp);
  });

  it('plans the same change from a URL as from the working repository', async () => {
    const local = await planRevision({ location: { dir: repo.dir, path: FLEET_PATH }, base: 'main', head: 'web-1.26', inventory });
    const remote = await planRevision({ location: { url, path: FLEET_PATH }, base: 'origin/main', head: 'web-1.26', inventory });
    assert.deepStrictEqual(remote.plan, local.plan, 'branch revisions are named alike: main@sha1:…, web-1.26@sha1:…');
    assert.equal(local.plan!.totals.touched, 5);
  });

  it('reads a full oid from the history of the branch fetched for the other ref', async () => {
    const remote = await planRevision({ location: { url, path: FLEET_PATH, branch: 'web-1.26' }, base: repo.base, head: repo.head, inventory });
    assert.equal(remote.plan!.base, `web-1.26@sha1:${repo.base}`);
    assert.equal(remote.plan!.head, `web-1.26@sha1:${repo.head}`);
    assert.equal(remote.plan!.totals.touched, 5);
  });

  it('answers the head issues and no plan when head is invalid', async () => {
    const result = await planRevision({ location: { dir: repo.dir, path: FLEET_PATH }, base: 'main', head: 'broken', inventory });
    assert.equal(result.plan, undefined);
    assert.equal(result.base.valid, true);
    assert.equal(result.head.valid, false);
    assert.match(result.head.revision, /^broken@sha1:[0-9a-f]{40}$/);
    assert.deepStrictEqual(
      result.head.issues.map((i) => [i.file, i.code]),
      [['groups/servers.yaml', 'schema.unknown-key']],
    );
  });

  it('plans against an empty fleet when base is invalid, and notes it after the caller’s notes', async () => {
    const result = await planRevision({ location: { dir: repo.dir, path: FLEET_PATH }, base: 'broken', head: 'web-1.26', inventory, notes: ['from the caller'] });
    assert.equal(result.base.valid, false);
    const plan = result.plan!;
    assert.equal(plan.base, null);
    assert.equal(plan.notes[0], 'from the caller');
    assert.match(plan.notes[1]!, /^base broken@sha1:[0-9a-f]{40} is invalid \(1 error\): planned against an empty fleet/);
    const actions = new Set(plan.devices.flatMap((d) => d.changes.map((c) => c.action)));
    assert.deepStrictEqual([...actions].sort(), ['create', 'delete'], 'everything is new; ensure: absent resources are removals');
  });

  it('fails with the reader’s typed error for a ref that does not exist', async () => {
    await assert.rejects(
      planRevision({ location: { dir: repo.dir, path: FLEET_PATH }, base: 'main', head: 'no-such-branch', inventory }),
      (err: { code?: string }) => err.code === 'revision.ref-not-found',
    );
  });
});

describe('parseInventory', () => {
  const device = { id: 'web-01', labels: { role: 'web' }, facts: { os: { family: 'debian' } }, online: true, lastSeenAt: '2024-01-02T03:04:05.000Z' };
  const file = (devices: unknown[], extra: Record<string, unknown> = {}) => ({ exportedAt: '2024-01-02T03:05:00.000Z', revision: null, devices, ...extra });

  it('accepts what the server exports, defaulting absent labels, facts and lastSeenAt', () => {
    assert.deepStrictEqual(parseInventory(file([device, { id: 'lab-01', online: false }])).devices, [
      device,
      { id: 'lab-01', labels: {}, facts: {}, online: false, lastSeenAt: null },
    ]);
  });

  const ROWS: Array<[string, unknown, string[]]> = [
    ['not an object', [], ['the document is not a JSON object']],
    ['no devices', { exportedAt: '2024-01-02T03:05:00Z', revision: null }, ['devices must be an array']],
    ['bad exportedAt and revision', file([], { exportedAt: 'now', revision: 3 }), ['exportedAt must be an ISO 8601 time', 'revision must be a string or null']],
    ['a device that is not an object', file([7]), ['devices[0] must be an object']],
    ['no id', file([{ ...device, id: '' }]), ['devices[0].id must be a non-empty string']],
    ['a repeated id', file([device, device]), ['devices[1].id "web-01" repeats devices[0]']],
    ['labels not strings', file([{ ...device, labels: { rack: 12 } }]), ['devices[0].labels must be an object of strings']],
    ['facts not an object', file([{ ...device, facts: 'debian' }]), ['devices[0].facts must be an object']],
    ['online missing', file([{ id: 'a' }]), ['devices[0].online must be true or false']],
    ['lastSeenAt not a time', file([{ ...device, lastSeenAt: 'yesterday' }]), ['devices[0].lastSeenAt must be an ISO 8601 time or null']],
  ];
  for (const [name, value, problems] of ROWS) {
    it(`refuses ${name}`, () => {
      assert.throws(
        () => parseInventory(value, 'inv.json'),
        (err: unknown) => err instanceof InventoryError && err.code === 'inventory.invalid' && err.source === 'inv.json' && assert.deepStrictEqual(err.problems, problems) === undefined,
      );
    });
  }
});
