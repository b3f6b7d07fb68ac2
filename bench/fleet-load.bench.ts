// Cold load + validate + compile of a 10,000-device fleet from a Git commit, then the same after a
// one-file commit with warm caches — what the server runs on every push (loop/reconciler.ts
// `#reconcileSource` and `#beginRollouts`, without the store): load with the parse cache, validate
// with the validation cache, make the new revision's compile context, and compile every device
// at the new revision and at the previous one (the rollout diff), as `compileWith` does.
//
// The warm passes are successive one-file commits; running the same commit again would measure a
// change of nothing. The first one is reported apart (it also pays V8's compilation of the
// incremental validation paths). The last pass's states are checked against a full compileFleet
// afterwards, outside the timing.
import assert from 'node:assert/strict';
import { createSchemaValidator } from '../schemas/index.ts';
import { compileDeviceInGroups, compileFleet, createCompileContext, type CompileContext } from '../reconciler/src/core/compile/compile.ts';
import { resolveDeviceGroups } from '../reconciler/src/core/compile/groups.ts';
import type { DesiredState, DeviceInput, FleetModel } from '../reconciler/src/core/model.ts';
import { validateRevision } from '../reconciler/src/core/validate/validate-revision.ts';
import { ValidationCache } from '../reconciler/src/core/validate/validation-cache.ts';
import { ContentHasher } from '../reconciler/src/edges/git/content-hasher.ts';
import { GitCommitReader, TreeListingCache } from '../reconciler/src/edges/git/git-commit-reader.ts';
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
    const validation = new ValidationCache();
    const gitCache = {};
    const trees = new TreeListingCache();
    /** The revision served before the pass: the previous side of its rollout diff. */
    let served: { model: FleetModel; context: CompileContext } | undefined;
    /** The last pass: its states are checked against a full compile after the timing. */
    let last: { model: FleetModel; devices: DeviceInput[]; states: ReadonlyMap<string, DesiredState> } | undefined;

    const pass = async (ref: string) => {
      const t0 = performance.now();
      const reader = await GitCommitReader.open({ dir, ref, cache: gitCache, trees });
      const loaded = await loadRevision(reader, { cache, hasher });
      const t1 = performance.now();
      const result = validateRevision(loaded, schema.validators, { cache: validation });
      const t2 = performance.now();
      const model = result.model;
      if (!model) throw new Error(`bench fleet invalid: ${JSON.stringify(result.issues.slice(0, 3))}`);
      const devices = devicesOf(model);
      const context = createCompileContext(model);
      const states = new Map<string, DesiredState>();
      let changed = 0;
      for (const device of devices) {
        const after = compileDeviceInGroups(context, device, resolveDeviceGroups(model, device));
        states.set(device.name, after);
        if (served === undefined) continue;
        const before = compileDeviceInGroups(served.context, device, resolveDeviceGroups(served.model, device));
        if (before.fingerprint !== after.fingerprint) changed++;
      }
      const t3 = performance.now();
      served = { model, context };
      last = { model, devices, states };
      return { load: t1 - t0, validate: t2 - t1, compile: t3 - t2, total: t3 - t0, devices: states.size, docs: loaded.documents.length, changed };
    };

    const cold = await pass('main');
    // One changed file per pass: a profile gains one more file deployment each time.
    const profileFile = 'profiles/profiles-000.yaml';
    let text = String(tree[profileFile]);
    let added = 0;
    const onePush = async () => {
      added++;
      text = text.replace('files: [', `files: [file-${LARGE_FLEET.files - added}, `); // profile-0, the file's first document
      await repo.commit({ [profileFile]: text }, 'one profile gains a file');
      return pass('main');
    };
    // The first push after the cold load also compiles (V8) the incremental validation paths, which
    // a long-running server does once; it is reported on its own, the median is of the five after it.
    const first = await onePush();
    const warm = await time(5, onePush);
    const full = compileFleet(last!.model, last!.devices);
    for (const [name, state] of last!.states) assert.equal(state.fingerprint, full.get(name)?.fingerprint, `${name}: per-device compile equals compileFleet`);

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
        name: 'fleet: a one-file commit (warm caches), median of 5',
        value: warm.median.total,
        unit: 'ms',
        target: '≤ 100 ms',
        detail:
          `load ${warm.median.load.toFixed(0)} ms, validate ${warm.median.validate.toFixed(0)} ms, ` +
          `compile at both revisions ${warm.median.compile.toFixed(0)} ms (${warm.median.changed} of ${warm.median.devices} devices changed); ` +
          `the first push after the cold load (not in the median) ${first.total.toFixed(0)} ms`,
      },
      { name: 'fleet: peak RSS of the bench process', value: peakRssMb(), unit: 'MB', target: 'recorded' },
    ];
  } finally {
    await removeDir(dir);
  }
}
