// The plan API served for real (test-plan-server.ts): a SQLite store holding the golden
// inventory's devices, a GitSource on a real repository with the example change on a branch.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { parseInventory, planRevision, type InventoryFile } from '../../actions/plan-revision.ts';
import { FLEET_PATH, INVENTORY_FILE, makePlanRepo, type PlanRepo } from '../../actions/test-plan-repo.ts';
import type { FleetPlan } from '../../core/plan/plan-fleet.ts';
import { makeTempDir, removeDir, runGit, writeTree } from '../git/test-repo.ts';
import { tempStore } from '../store/test-support.ts';
import { exportInventory } from './plan-routes.ts';
import { startPlanServer, type PlanServer } from './test-plan-server.ts';

const NOW = new Date('2024-01-02T03:05:00.000Z');

describe('plan routes', () => {
  let dir: string;
  let repo: PlanRepo;
  let inventory: InventoryFile;
  let server: PlanServer;
  let broken: string;

  before(async () => {
    dir = await makeTempDir('deployx-plan-routes-');
    repo = await makePlanRepo(dir);
    // A branch whose head does not validate.
    await runGit(dir, ['checkout', '--quiet', '-b', 'broken']);
    await writeTree(dir, { [`${FLEET_PATH}/groups/bad.yaml`]: 'apiVersion: deployx.dev/v1\nkind: Group\nmetadata: { name: bad }\nspec: { selectr: {} }\n' });
    await runGit(dir, ['add', '--all']);
    await runGit(dir, ['commit', '--quiet', '--message', 'broken']);
    broken = await runGit(dir, ['rev-parse', 'HEAD']);
    await runGit(dir, ['checkout', '--quiet', 'main']);
    inventory = parseInventory(JSON.parse(await readFile(INVENTORY_FILE, 'utf8')));
    server = await startPlanServer({ repoDir: dir, fleetPath: FLEET_PATH, inventory, now: NOW });
  });
  after(async () => {
    await server.close();
    await removeDir(dir);
  });

  const get = (path: string, token = server.token) => fetch(`${server.url}/api/v1${path}`, { headers: { Authorization: `Bearer ${token}` } });

  it('GET /inventory exports every device with its labels, facts, online state and last contact', async () => {
    const res = await get('/inventory');
    assert.equal(res.status, 200);
    const exported = parseInventory(await res.json());
    assert.deepStrictEqual(exported, { ...inventory, exportedAt: NOW.toISOString(), revision: null });
  });

  it('GET /plan answers the plan the CLI makes for the same commits and inventory', async () => {
    const res = await get(`/plan?base=main&head=${repo.head}`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
    const served = (await res.json()) as FleetPlan;
    const local = (await planRevision({ location: { dir, path: FLEET_PATH }, base: repo.base, head: repo.head, inventory })).plan!;
    // The server names every commit after its branch (main@sha1:…); the CLI after the ref given.
    assert.equal(served.base, `main@sha1:${repo.base}`);
    assert.equal(served.head, `main@sha1:${repo.head}`);
    const { digest: _a, base: _b, head: _c, ...servedRest } = served;
    const { digest: _d, base: _e, head: _f, ...localRest } = local;
    assert.deepStrictEqual(servedRest, JSON.parse(JSON.stringify(localRest)));
    assert.equal(served.totals.touched, 5);
  });

  it('resolves branch names, other refs and abbreviated oids of a local source', async () => {
    const text = await get(`/plan?base=${repo.base.slice(0, 10)}&head=web-1.26&format=text`);
    assert.equal(text.status, 200);
    assert.match(text.headers.get('content-type') ?? '', /^text\/plain/);
    const body = await text.text();
    assert.match(body, /^deployx plan {2}main@sha1:[0-9a-f]{40} → main@sha1:[0-9a-f]{40}$/m);
    assert.match(body, /~ package\/nginx {2}version 1\.24\.\* → 1\.26\.\*/);

    const md = await get(`/plan?base=main&head=web-1.26&format=markdown`);
    assert.equal(md.status, 200);
    assert.match(md.headers.get('content-type') ?? '', /^text\/markdown/);
    assert.match(await md.text(), /^\| `web-server` \(modified\) \| 5 \| 4 \| 4 \| 2 \| 7 \| 1 \| all 5 \|$/m);
  });

  it('answers 422 plan.head-invalid with the first errors when head does not validate', async () => {
    const res = await get(`/plan?base=main&head=${broken}`);
    assert.equal(res.status, 422);
    const body = (await res.json()) as { error: { code: string; message: string } };
    assert.equal(body.error.code, 'plan.head-invalid');
    assert.match(body.error.message, /groups\/bad\.yaml:4:\d+: schema\.unknown-key/);
  });

  it('answers 400 for a missing or malformed parameter and 404 for an unknown ref', async () => {
    const cases: Array<[string, number, string]> = [
      ['/plan?head=main', 400, 'plan.bad-request'],
      ['/plan?base=main&head=main&format=html', 400, 'plan.bad-request'],
      ['/plan?base=..%2F..%2Fetc&head=main', 400, 'plan.bad-request'],
      ['/plan?base=main&head=no-such-branch', 404, 'revision.ref-not-found'],
      [`/plan?base=main&head=${'f'.repeat(40)}`, 404, 'revision.ref-not-found'],
    ];
    for (const [path, status, code] of cases) {
      const res = await get(path);
      assert.equal(res.status, status, path);
      assert.equal(((await res.json()) as { error: { code: string } }).error.code, code, path);
    }
  });

  it('is behind the API token', async () => {
    assert.equal((await get('/inventory', 'wrong')).status, 401);
    assert.equal((await get('/plan?base=main&head=main', 'wrong')).status, 401);
  });
});

describe('exportInventory', () => {
  it('reads every page of the store: 1,001 devices, each once, in id order', async (t) => {
    const { store } = await tempStore(t);
    const ids = Array.from({ length: 1001 }, (_, i) => `dev-${String(i).padStart(4, '0')}`);
    for (const id of ids) {
      await store.enrollDevice({ id, machineId: `m-${id}`, labels: {}, facts: { hostname: id }, credentialHash: `h-${id}`, now: NOW.toISOString() });
    }
    const inventory = await exportInventory({ store, isOnline: (id) => id.endsWith('7'), now: () => NOW });
    assert.deepStrictEqual(
      inventory.devices.map((d) => d.id),
      ids,
    );
    assert.equal(inventory.devices.filter((d) => d.online).length, 100);
    assert.deepStrictEqual(parseInventory(JSON.parse(JSON.stringify(inventory))), inventory);
  });
});
