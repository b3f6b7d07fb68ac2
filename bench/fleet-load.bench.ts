// Cold load + validate + compile of a 10,000-device fleet from a Git commit, then the same after a
// one-file commit with warm caches — what the server does on every push.
//
// The warm passes are successive one-file commits, each loaded, validated and recompiled from the
// previous one (parse cache, validation cache, tree listings, previous compile), as the server
// does on every push; running the same commit again would measure a change of nothing. The first
// one is reported apart (it also pays V8's compilation of the incremental code). The last pass's
// incremental result is checked against a full compileFleet afterwards, outside the timing.
import assert from 'node:assert/strict';
import { createSchemaValidator } from '../schemas/index.ts';
import { compileFleet } from '../reconciler/src/core/compile/compile.ts';
import { compileWholeFleet, recompileFleet, type CompiledFleet } from '../reconciler/src/core/compile/incremental.ts';
import type { DeviceInput, FleetModel } from '../reconciler/src/core/model.ts';
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
    let compiled: CompiledFleet | undefined;
    /** The last pass: its incremental result is checked against a full compile after the timing. */
    let last: { model: FleetModel; devices: DeviceInput[]; states: ReadonlyMap<string, unknown> } | undefined;

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
      let recompiled = devices.length;
      let changed = devices.length;
      if (compiled === undefined) {
        compiled = compileWholeFleet(model, devices);
      } else {
        const next = recompileFleet(compiled, model, devices);
        recompiled = next.recompiled.length;
        changed = next.changedDevices.length;
        compiled = next;
      }
      const t3 = performance.now();
      last = { model, devices, states: compiled.states };
      return { load: t1 - t0, validate: t2 - t1, compile: t3 - t2, total: t3 - t0, devices: compiled.states.size, docs: loaded.documents.length, recompiled, changed };
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
    // The first push after the cold load also compiles (V8) the incremental paths, which a
    // long-running server does once; it is reported on its own, the median is of the five after it.
    const first = await onePush();
    const warm = await time(5, onePush);
    assert.deepStrictEqual(last!.states, compileFleet(last!.model, last!.devices), 'the incremental compile equals a full one');

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
        detail:
          `load ${warm.median.load.toFixed(0)} ms, validate ${warm.median.validate.toFixed(0)} ms, compile ${warm.median.compile.toFixed(0)} ms; ` +
          `${warm.median.recompiled} of ${warm.median.devices} devices recompiled, ${warm.median.changed} changed; ` +
          `the first push after the cold load (not in the median) ${first.total.toFixed(0)} ms`,
      },
      { name: 'fleet: peak RSS of the bench process', value: peakRssMb(), unit: 'MB', target: 'recorded' },
    ];
  } finally {
    await removeDir(dir);
  }
}
