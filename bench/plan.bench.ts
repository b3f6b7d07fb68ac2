// `deployx plan` for a 10,000-device fleet between two commits that change one group and one
// profile (issue 4: ≤ 2 s end to end): both commits loaded from a real git repository, validated,
// compiled for an inventory of 10,000 enrolled devices, diffed and rendered — what the CLI does —
// and planFleet alone on the two models.
//
// The change: group g-0 (targeted by profile-0) keeps only Debian devices, so its Ubuntu devices
// leave it (and profile-0 where no other group brings them); profile-0 gains a file deployment.
import assert from 'node:assert/strict';
import { createSchemaValidator } from '../schemas/index.ts';
import type { Facts } from '../schemas/facts.ts';
import { inventoryDevices, planRevision, type InventoryFile } from '../reconciler/src/actions/plan-revision.ts';
import { planFleet } from '../reconciler/src/core/plan/plan-fleet.ts';
import { renderJson, renderMarkdown, renderText } from '../reconciler/src/core/plan/render.ts';
import { validateRevision } from '../reconciler/src/core/validate/validate-revision.ts';
import { GitCommitReader } from '../reconciler/src/edges/git/git-commit-reader.ts';
import { loadRevision } from '../reconciler/src/edges/git/load-revision.ts';
import { ParseCache } from '../reconciler/src/edges/git/parse-cache.ts';
import { makeRepo, makeTempDir, removeDir, runGit, type FileTree } from '../reconciler/src/edges/git/test-repo.ts';
import { generateFleet, LARGE_FLEET } from './generate-fleet.ts';
import { type BenchResult, peakRssMb, time } from './measure.ts';

export async function benchPlan(): Promise<BenchResult[]> {
  const dir = await makeTempDir('deployx-bench-plan-');
  try {
    const tree = generateFleet(LARGE_FLEET);
    const repo = await makeRepo(dir, tree);
    await runGit(dir, ['checkout', '--quiet', '-b', 'change']);
    await repo.commit(oneGroupOneProfile(tree), 'g-0: Debian only; profile-0 gains a file');
    const inventory = inventoryOf(tree);

    // End to end, as `deployx plan --inventory` runs it (fresh caches each time).
    const endToEnd = await time(3, async () => {
      const t0 = performance.now();
      const result = await planRevision({ location: { dir }, base: 'main', head: 'change', inventory });
      const t1 = performance.now();
      const plan = result.plan!;
      const text = renderText(plan);
      const markdown = renderMarkdown(plan);
      renderJson(plan);
      const t2 = performance.now();
      return { total: t2 - t0, plan: t1 - t0, render: t2 - t1, result, textBytes: text.length, markdownBytes: Buffer.byteLength(markdown) };
    });
    const { result } = endToEnd.median;
    const plan = result.plan!;
    assert.equal(result.head.valid, true);
    assert.ok(plan.totals.touched > 0 && plan.groups.some((g) => g.name === 'g-0' && g.left.length > 0), 'the change shows in the plan');

    // planFleet alone, on models loaded once.
    const schema = createSchemaValidator();
    const cache = new ParseCache();
    const model = async (ref: string) => {
      const loaded = await loadRevision(await GitCommitReader.open({ dir, ref }), { cache });
      return validateRevision(loaded, schema.validators).model!;
    };
    const [base, head] = [await model('main'), await model('change')];
    const devices = inventoryDevices(inventory);
    const pure = await time(5, async () => {
      const t0 = performance.now();
      planFleet({ base, head, devices });
      return { total: performance.now() - t0 };
    });

    const t = plan.totals;
    return [
      {
        name: 'plan: 10,000-device fleet, one group + one profile changed, end to end (git → text, markdown, json)',
        value: endToEnd.median.total,
        unit: 'ms',
        target: '≤ 2000 ms',
        detail:
          `load + validate + compile both commits + diff ${endToEnd.median.plan.toFixed(0)} ms, render ${endToEnd.median.render.toFixed(0)} ms; ` +
          `${t.touched} devices touched (+${t.create} ~${t.update} -${t.delete} =${t.forget}), ${plan.groups.length} group changed; ` +
          `markdown ${endToEnd.median.markdownBytes} B (capped), text ${(endToEnd.median.textBytes / 1e6).toFixed(1)} MB; median of 3`,
      },
      {
        name: 'plan: planFleet alone (compile both models for 10,000 devices, pair, diff, digest), median of 5',
        value: pure.median.total,
        unit: 'ms',
        target: 'recorded',
        detail: `${devices.length} devices, ${head.groups.size} groups, ${head.profiles.size} profiles`,
      },
      { name: 'plan: peak RSS of the bench process', value: peakRssMb(), unit: 'MB', target: 'recorded' },
    ];
  } finally {
    await removeDir(dir);
  }
}

function oneGroupOneProfile(tree: FileTree): FileTree {
  const change: FileTree = {};
  const groupFile = Object.keys(tree).find((path) => path.startsWith('groups/') && String(tree[path]).includes('metadata: { name: g-0 }\n'))!;
  const groups = String(tree[groupFile]);
  const at = groups.indexOf('metadata: { name: g-0 }\n');
  const from = 'values: [debian, ubuntu]';
  const hit = groups.indexOf(from, at);
  change[groupFile] = groups.slice(0, hit) + 'values: [debian]' + groups.slice(hit + from.length);
  const profileFile = 'profiles/profiles-000.yaml';
  change[profileFile] = String(tree[profileFile]).replace('files: [', `files: [file-${LARGE_FLEET.files - 1}, `); // profile-0
  return change;
}

/** Every declared device enrolled, a third on Debian and the rest on Ubuntu, 2 % offline. */
function inventoryOf(tree: FileTree): InventoryFile {
  const names: string[] = [];
  for (const [path, content] of Object.entries(tree)) {
    if (!path.startsWith('devices/')) continue;
    for (const match of String(content).matchAll(/^ {2}name: (\S+)$/gm)) names.push(match[1]!);
  }
  names.sort();
  return {
    exportedAt: '2025-01-01T00:00:00.000Z',
    revision: null,
    devices: names.map((id, i) => {
      const facts: Facts = { hostname: id, os: { family: i % 3 === 0 ? 'debian' : 'ubuntu', packageManager: 'apt' }, agent: { version: '0.1.0' } };
      const online = i % 50 !== 7;
      return { id, labels: {}, facts, online, lastSeenAt: online ? '2025-01-01T00:00:00.000Z' : '2024-12-31T12:00:00.000Z' };
    }),
  };
}
