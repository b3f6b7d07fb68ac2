// npm run bench: runs every benchmark in one process, one after another, and prints a table that
// goes into BENCHMARKS.md with the machine and date. Pass names to run a subset.
import os from 'node:os';
import { benchConverge } from './converge.bench.ts';
import { benchDashboard } from './dashboard.bench.ts';
import { benchFleetLoad } from './fleet-load.bench.ts';
import { benchPlan } from './plan.bench.ts';
import type { BenchResult } from './measure.ts';

const BENCHES: Record<string, () => Promise<BenchResult[]>> = {
  'fleet-load': benchFleetLoad,
  plan: benchPlan,
  converge: benchConverge,
  dashboard: benchDashboard,
};

const selected = process.argv.slice(2);
const names = selected.length > 0 ? selected : Object.keys(BENCHES);
const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
console.log(`# ${new Date().toISOString().slice(0, 10)} — ${os.cpus().length} × ${cpu}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, node ${process.version}\n`);
console.log('| benchmark | result | target | detail |\n| --- | --- | --- | --- |');
for (const name of names) {
  const bench = BENCHES[name];
  if (!bench) {
    console.error(`unknown benchmark "${name}"; known: ${Object.keys(BENCHES).join(', ')}`);
    process.exit(2);
  }
  for (const r of await bench()) {
    console.log(`| ${r.name} | ${r.value.toFixed(r.unit === 'ms' ? 0 : 1)} ${r.unit} | ${r.target} | ${r.detail ?? ''} |`);
  }
}
