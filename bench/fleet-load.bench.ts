// Cold load + validate + compile of a 10,000-device fleet from a Git commit, then the same after a
// one-file commit with warm caches — what the server does on every push.
import { createSchemaValidator } from '../schemas/index.ts';
import { compileFleet } from '../reconciler/src/core/compile/compile.ts';
import type { DeviceInput, FleetModel } from '../reconciler/src/core/model.ts';
import { validateRevision } from '../reconciler/src/core/validate/validate-revision.ts';
import { ContentHasher } from '../reconciler/src/edges/git/content-hasher.ts';
import { GitCommitReader } from '../reconciler/src/edges/git/git-commit-reader.ts';
import { loadRevision } from '../reconciler/src/edges/git/load-revision.ts';
import { ParseCache } from '../reconciler/src/edges/git/parse-cache.ts';
import { makeRepo, makeTempDir, removeDir } from '../reconciler/src/edges/git/test-repo.ts';
import { generateFleet, LARGE_FLEET } from './generate-fleet.ts';
import { type BenchResult, peakRssMb, time } from './measure.ts';

function devicesOf(model: FleetModel): DeviceInput[] {
  return [...model.devices.values()].map(({ doc }, i) => ({
    name: doc.metadata.name,
    labels: doc.metadata.labels ?? {},
    facts: { os: { family: i % 3 ? 'ubuntu' : 'debian', packageManager: 'apt' } },
    declared: true,
  }));
}

export async function benchFleetLoad(): Promise<BenchResult[]> {
  const dir = await makeTempDir('deployx-bench-');
  try {
    const tree = generateFleet(LARGE_FLEET);
    const repo = await makeRepo(dir, tree);
    const schema = createSchemaValidator();
    const cache = new ParseCache();
    const hasher = new ContentHasher();
    const gitCache = {};

    const pass = async (ref: string) => {
      const t0 = performance.now();
      const reader = await GitCommitReader.open({ dir, ref, cache: gitCache });
      const loaded = await loadRevision(reader, { cache, hasher });
      const t1 = performance.now();
      const result = validateRevision(loaded, schema.validators);
      const t2 = performance.now();
      if (!result.model) throw new Error(`bench fleet invalid: ${JSON.stringify(result.issues.slice(0, 3))}`);
      const desired = compileFleet(result.model, devicesOf(result.model));
      const t3 = performance.now();
      return { load: t1 - t0, validate: t2 - t1, compile: t3 - t2, total: t3 - t0, devices: desired.size, docs: loaded.documents.length };
    };

    const cold = await pass('main');
    // One changed file: a profile gains a file deployment.
    const profileFile = 'profiles/profiles-000.yaml';
    const changed = String(tree[profileFile]).replace('files: [file-0,', 'files: [file-1999, file-0,');
    await repo.commit({ [profileFile]: changed }, 'one profile gains a file');
    const warm = await time(5, () => pass('main'));

    const size = `${LARGE_FLEET.devices} devices, ${LARGE_FLEET.groups} groups, ${LARGE_FLEET.software} software, ${LARGE_FLEET.files} files (${cold.docs} documents)`;
    return [
      {
        name: 'fleet: cold load + validate + compile (git commit)',
        value: cold.total,
        unit: 'ms',
        target: '≤ 2000 ms',
        detail: `${size}; load ${cold.load.toFixed(0)} ms, validate ${cold.validate.toFixed(0)} ms, compile ${cold.compile.toFixed(0)} ms`,
      },
      {
        name: 'fleet: recompile after a one-file commit (warm caches), median of 5',
        value: warm.median.total,
        unit: 'ms',
        target: '≤ 100 ms',
        detail: `load ${warm.median.load.toFixed(0)} ms, validate ${warm.median.validate.toFixed(0)} ms, compile ${warm.median.compile.toFixed(0)} ms`,
      },
      { name: 'fleet: peak RSS of the bench process', value: peakRssMb(), unit: 'MB', target: 'recorded' },
    ];
  } finally {
    await removeDir(dir);
  }
}
