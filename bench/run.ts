// npm run bench: runs every benchmark, one after another, and prints a table that goes into
// BENCHMARKS.md with the machine and date. Pass names to run a subset.
//
// Each benchmark runs in a process of its own (and the converge benchmark one per fleet size), so
// what one leaves behind — a heap grown to 800 MB by the plan bench, a server's freed pages — never
// shows up in another's figures (memory per agent is a difference of two RSS readings).
//
// DEPLOYX_BENCH_BASE=DIR (a checkout of an older commit with its node_modules) runs the converge
// benchmark of that tree too, alternately with this one's at each fleet size, and adds a ratio
// row for each figure both report: side by side in one run, as the noisy machine requires. The
// ratio is this tree's value over the base's.
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { benchBlobServe } from './blob-serve.bench.ts';
import { benchConverge } from './converge.bench.ts';
import { benchDashboard } from './dashboard.bench.ts';
import { benchFleetLoad } from './fleet-load.bench.ts';
import { benchPlan } from './plan.bench.ts';
import { benchReconnectStorm } from './reconnect-storm.bench.ts';
import { benchSigning } from './signing.bench.ts';
import type { BenchResult } from './measure.ts';

const BENCHES: Record<string, () => Promise<BenchResult[]>> = {
  'fleet-load': benchFleetLoad,
  plan: benchPlan,
  converge: benchConverge,
  dashboard: benchDashboard,
  'blob-serve': benchBlobServe,
  'reconnect-storm': benchReconnectStorm,
  signing: benchSigning,
};

const SELF = fileURLToPath(import.meta.url);

if (process.argv[2] === '--child') {
  // One benchmark, its results written as JSON to the file the parent named.
  const results = await BENCHES[process.argv[3]!]!();
  await writeFile(process.argv[4]!, JSON.stringify(results));
  process.exit(0);
}

/**
 * Runs one benchmark in a fresh node process (same flags as this one) with extra environment; with
 * `tree`, that checkout's own bench/run.ts (run in it).
 */
async function inChild(name: string, env: NodeJS.ProcessEnv, tree?: string): Promise<BenchResult[]> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'deployx-bench-'));
  const out = path.join(dir, 'results.json');
  const script = tree === undefined ? SELF : path.join(tree, 'bench', 'run.ts');
  try {
    const code = await new Promise<number | null>((resolve, reject) => {
      const child = spawn(process.execPath, [...process.execArgv, script, '--child', name, out], {
        stdio: 'inherit',
        env: { ...process.env, ...env },
        ...(tree === undefined ? {} : { cwd: tree }),
      });
      child.once('error', reject);
      child.once('exit', resolve);
    });
    if (code !== 0) throw new Error(`benchmark ${name} exited with ${code}`);
    return JSON.parse(await readFile(out, 'utf8')) as BenchResult[];
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const selected = process.argv.slice(2);
const names = selected.length > 0 ? selected : Object.keys(BENCHES);
for (const name of names) {
  if (!BENCHES[name]) {
    console.error(`unknown benchmark "${name}"; known: ${Object.keys(BENCHES).join(', ')}`);
    process.exit(2);
  }
}
const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
const rows: string[] = [];
const base = process.env.DEPLOYX_BENCH_BASE;
const row = (r: BenchResult, suffix = '') => `| ${r.name}${suffix} | ${typeof r.value === 'number' && Number.isFinite(r.value) ? r.value.toFixed(r.unit === 'ms' ? 0 : 1) : 'not measured'} ${r.unit} | ${r.target} | ${r.detail ?? ''} |`;
for (const name of names) {
  const runs = name === 'converge' ? (process.env.DEPLOYX_BENCH_AGENTS ?? '1000,10000').split(',').map((n) => ({ DEPLOYX_BENCH_AGENTS: n })) : [{}];
  for (const env of runs) {
    if (base !== undefined && name === 'converge') {
      // Base first, then this tree: alternate, and neither always runs on the warmer machine.
      const before = await inChild(name, env, base);
      const after = await inChild(name, env);
      for (const r of before) rows.push(row(r, ' [base]'));
      for (const r of after) rows.push(row(r));
      for (const r of after) {
        const b = before.find((x) => x.name === r.name);
        if (b && b.value > 0 && Number.isFinite(r.value)) rows.push(`| ${r.name}: this tree / base | ${(r.value / b.value).toFixed(2)} × | report | ${r.value.toFixed(1)} vs ${b.value.toFixed(1)} ${r.unit} |`);
      }
      continue;
    }
    for (const r of await inChild(name, env)) rows.push(row(r));
  }
}
// The table last, after the benchmarks' own output.
console.log(`\n# ${new Date().toISOString().slice(0, 10)} — ${os.cpus().length} × ${cpu}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, node ${process.version}\n`);
console.log('| benchmark | result | target | detail |\n| --- | --- | --- | --- |');
for (const row of rows) console.log(row);
