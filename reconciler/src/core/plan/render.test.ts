// Renderings of a plan. Golden files: the example fleet in a real git repository, a branch that
// changes one profile and one group (actions/test-plan-repo.ts), planned with the inventory in
// golden/inventory.json; text, Markdown and JSON must equal golden/plan.{txt,md,json} byte for
// byte. After an intended change, regenerate with `UPDATE_GOLDEN=1 npm test -- core/plan/render`
// and review the diff.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { parseInventory, planRevision } from '../../actions/plan-revision.ts';
import { planWaves } from '../rollout/waves.ts';
import { FLEET_PATH, INVENTORY_FILE, makePlanRepo } from '../../actions/test-plan-repo.ts';
import { makeTempDir, removeDir } from '../../edges/git/test-repo.ts';
import { buildModel, factsFor } from '../compile/test-builders.ts';
import { canonicalJson } from '../compile/fingerprint.ts';
import { sha256Hex } from '../sha256.ts';
import { planFleet, type FleetPlan, type PlanDeviceInput } from './plan-fleet.ts';
import { renderJson, renderMarkdown, renderText } from './render.ts';

const GOLDEN = fileURLToPath(new URL('./golden/', import.meta.url));
const UPDATE = process.env.UPDATE_GOLDEN === '1';

async function assertGolden(name: string, actual: string): Promise<void> {
  const file = `${GOLDEN}${name}`;
  const text = `${actual}\n`;
  if (UPDATE) {
    await writeFile(file, text);
    return;
  }
  let expected: string;
  try {
    expected = await readFile(file, 'utf8');
  } catch {
    assert.fail(`golden file ${name} is missing: run with UPDATE_GOLDEN=1 to create it`);
  }
  assert.equal(text, expected, `${name} differs from the golden file (UPDATE_GOLDEN=1 regenerates it after an intended change)`);
}

describe('plan of the example fleet between two commits (golden files)', () => {
  let dir: string;
  let plan: FleetPlan;

  before(async () => {
    dir = await makeTempDir('deployx-plan-golden-');
    await makePlanRepo(dir);
    const inventory = parseInventory(JSON.parse(await readFile(INVENTORY_FILE, 'utf8')), 'golden/inventory.json');
    // The waves the CLI and server show: the rollout scheduler's.
    const result = await planRevision({ location: { dir, path: FLEET_PATH }, base: 'main', head: 'web-1.26', inventory, waves: (_p, policy, devices) => planWaves(policy, devices) });
    assert.deepStrictEqual(result.head.issues, []);
    assert.deepStrictEqual(result.base.issues, []);
    plan = result.plan!;
  });
  after(async () => {
    await removeDir(dir);
  });

  it('text', async () => {
    await assertGolden('plan.txt', renderText(plan));
  });

  it('markdown', async () => {
    await assertGolden('plan.md', renderMarkdown(plan));
  });

  it('json', async () => {
    await assertGolden('plan.json', renderJson(plan));
  });

  it('shows what the change does: the new file, the nginx update, the staging box leaving, the offline front end', () => {
    const text = renderText(plan);
    assert.match(text, /^ {4}\+ file\/\/etc\/nginx\/conf\.d\/security-headers\.conf {2}content /m);
    assert.match(text, /^ {4}~ package\/nginx {2}version 1\.24\.\* → 1\.26\.\*$/m);
    assert.match(text, /^ {2}lab-web-01 {2}\(leaves web-server\)$/m);
    assert.match(text, /^ {4}- file\/\/etc\/nginx\/nginx\.conf {2}removed from Git \(prune\)$/m);
    assert.match(text, /^ {4}= package\/ufw {2}no longer desired; left in place \(prune: false\)$/m);
    assert.match(text, /^ {2}web-eu-02 {2}\(offline since 2024-01-01T23:58:02\.000Z: the change waits for it\)$/m);
    assert.match(text, /^ {2}web-servers \(modified\): 5 → 4 devices; left: lab-web-01$/m);
    assert.equal(text.split('\n').at(-1), `digest: ${plan.digest}`);
  });
});

describe('renderJson', () => {
  it('is the plan, keys sorted, and its digest can be recomputed from it', () => {
    const plan = smallPlan(3);
    const json = renderJson(plan);
    const parsed = JSON.parse(json) as FleetPlan;
    assert.deepStrictEqual(parsed, JSON.parse(JSON.stringify(plan)));
    const { digest, ...rest } = parsed;
    assert.equal(digest, `sha256:${sha256Hex(canonicalJson(rest))}`);
    const at = (key: string) => json.indexOf(`\n  "${key}":`);
    assert.ok(at('base') < at('devices') && at('devices') < at('digest') && at('digest') < at('totals'), 'top-level keys in sorted order');
  });
});

describe('renderMarkdown', () => {
  it('puts the summary table first and the digest last', () => {
    const md = renderMarkdown(smallPlan(3));
    const table = md.indexOf('| profile | devices |');
    assert.ok(table > 0 && table < md.indexOf('<details>'));
    assert.match(md, /\| `web` \| 3 \| 0 \| 3 \| 0 \| 0 \| 1 \| all 3 \|/);
    assert.match(md.split('\n').at(-1)!, /digest `sha256:[0-9a-f]{64}`/);
  });

  it('stays under maxBytes and counts every device it leaves out', () => {
    const plan = smallPlan(400);
    const maxBytes = 8_000;
    const md = renderMarkdown(plan, { maxBytes });
    assert.ok(Buffer.byteLength(md) <= maxBytes, `${Buffer.byteLength(md)} bytes`);
    const shown = md.split('\n').filter((l) => l.startsWith('@@ ')).length;
    assert.ok(shown > 10 && shown < 400, `${shown} devices shown`);
    const more = /… and (\d+) more devices\n/.exec(md);
    assert.ok(more, 'the overflow line');
    assert.equal(Number(more[1]), 400 - shown);
    assert.match(md, /digest `sha256:/);
    assert.ok(Buffer.byteLength(renderMarkdown(plan)) > maxBytes, 'uncapped, the same plan is larger');
  });

  it('counts whole profiles left out when not even their section fits', () => {
    const plan = smallPlan(50, ['a', 'b', 'c']);
    const md = renderMarkdown(plan, { maxBytes: 2_600 });
    assert.ok(Buffer.byteLength(md) <= 2_600, `${Buffer.byteLength(md)} bytes`);
    const shown = md.split('\n').filter((l) => l.startsWith('@@ ')).length;
    const inSections = [...md.matchAll(/… and (\d+) more devices?\n/g)].reduce((n, m) => n + Number(m[1]), 0);
    const whole = /… and (\d+) more devices? in (\d+) more profiles?/.exec(md);
    assert.ok(whole, md);
    assert.equal(shown + inSections + Number(whole[1]), 150, 'every device of every profile is shown or counted');
  });
});

/** `n` enrolled web servers whose motd changes, through `profiles` (each targeting all of them). */
function smallPlan(n: number, profiles = ['web']): FleetPlan {
  const parts = (content: string) => ({
    groups: { web: { selector: { matchLabels: { role: 'web' } } } },
    profiles: Object.fromEntries(profiles.map((p) => [p, { targets: ['web'], files: [`motd-${p}`] }])),
    files: Object.fromEntries(profiles.map((p) => [`motd-${p}`, { path: `/etc/motd.d/${p}`, content }])),
  });
  const devices: PlanDeviceInput[] = Array.from({ length: n }, (_, i) => ({
    name: `web-${String(i).padStart(4, '0')}`,
    labels: { role: 'web' },
    facts: factsFor('debian', 'apt'),
    declared: false,
    online: i !== 1,
    ...(i === 1 ? { lastSeenAt: '2025-01-01T00:00:00.000Z' } : {}),
  }));
  return planFleet({ base: buildModel(parts('old\n')), head: buildModel(parts('new\n')), devices });
}
