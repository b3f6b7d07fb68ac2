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
import { compileFleetSince, diffRevisions, type FleetCompile } from '../reconciler/src/core/compile/incremental.ts';
import { resolveDeviceGroups } from '../reconciler/src/core/compile/groups.ts';
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
    /** The revision served before the pass and its compile: the previous side of the next rollout diff. */
    let served: { model: FleetModel; context: CompileContext; devices: DeviceInput[]; compiled: FleetCompile } | undefined;
    /** The served revision before the last pass, to time the old way of diffing on the same change. */
    let previous: typeof served;

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
      const context = validation.contextFor(model) ?? createCompileContext(model);
      let compiled: FleetCompile;
      let changed = 0;
      if (served === undefined) {
        // The first revision served: every device compiled (the server's #enqueueChangedDevices).
        compiled = compileFleetSince(undefined, model, context, devices);
      } else {
        // What the server's #beginRollouts runs (loop/reconciler.ts).
        const diff = diffRevisions(served.compiled, served, { model, context, devices });
        compiled = diff.after;
        changed = diff.changed.length;
      }
      const t3 = performance.now();
      previous = served;
      served = { model, context, devices, compiled };
      return { load: t1 - t0, validate: t2 - t1, compile: t3 - t2, total: t3 - t0, devices: compiled.fingerprints.size, docs: loaded.documents.length, changed };
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
    const last = served!;
    const full = compileFleet(last.model, last.devices);
    for (const [name, print] of last.compiled.fingerprints) assert.equal(print, full.get(name)?.fingerprint, `${name}: the incremental compile equals compileFleet`);
    // The same last change diffed as the server did before (every device compiled at both
    // revisions, its groups resolved over every selector), in this run: the ratio.
    const before = previous!;
    const timed = (fn: () => number) => async () => {
      const t = performance.now();
      const changed = fn();
      const ms = performance.now() - t;
      return { total: ms, ms, changed };
    };
    const oldWay = await time(3, timed(() => {
      let changed = 0;
      for (const device of last.devices) {
        const after = compileDeviceInGroups(last.context, device, resolveDeviceGroups(last.model, device));
        const was = compileDeviceInGroups(before.context, device, resolveDeviceGroups(before.model, device));
        if (was.fingerprint !== after.fingerprint) changed++;
      }
      return changed;
    }));
    const newWay = await time(3, timed(() => diffRevisions(undefined, before, last).changed.length));
    const newWarm = await time(3, timed(() => diffRevisions(before.compiled, before, last).changed.length));

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
          `rollout diff ${warm.median.compile.toFixed(0)} ms (${warm.median.changed} of ${warm.median.devices} devices changed); ` +
          `the first push after the cold load (not in the median) ${first.total.toFixed(0)} ms`,
      },
      {
        name: 'fleet: the rollout diff of one commit, incremental vs every device at both revisions (same run)',
        value: newWarm.median.ms,
        unit: 'ms',
        target: 'recorded',
        detail:
          `incremental from the previous compile ${newWarm.median.ms.toFixed(0)} ms; from nothing (after a restart) ${newWay.median.ms.toFixed(0)} ms; ` +
          `every device at both revisions (before 2026-12-06) ${oldWay.median.ms.toFixed(0)} ms: ${(oldWay.median.ms / newWarm.median.ms).toFixed(1)}× faster; ` +
          `${newWarm.median.changed} of ${last.devices.length} devices changed either way (${oldWay.median.changed})`,
      },
      { name: 'fleet: peak RSS of the bench process', value: peakRssMb(), unit: 'MB', target: 'recorded' },
    ];
  } finally {
    await removeDir(dir);
  }
}
