// Small measuring helpers shared by the benchmarks.
import os from 'node:os';

export interface BenchResult {
  name: string;
  value: number;
  unit: string;
  target: string;
  detail?: string;
}

/** Runs `fn` n times and returns the run whose `total` is the median. */
export async function time<T extends { total: number }>(n: number, fn: () => Promise<T>): Promise<{ median: T; runs: T[] }> {
  const runs: T[] = [];
  for (let i = 0; i < n; i++) runs.push(await fn());
  const sorted = [...runs].sort((a, b) => a.total - b.total);
  return { median: sorted[Math.floor(sorted.length / 2)]!, runs };
}

export function peakRssMb(): number {
  return Math.round(process.resourceUsage().maxRSS / 1024);
}

/**
 * Simulated devices run at a lower CPU priority than the server (nice 10) in the reconnect storm:
 * on a real fleet the devices do not share the server's two cores, and 10,000 of them retrying
 * every few seconds while the server is down would otherwise take most of it. Not in the converge
 * bench: there the simulators' own work (verify, apply, report) is on the measured path, and
 * starving it would count against the server. `DEPLOYX_BENCH_SIM_NICE=0` keeps them at the
 * server's priority.
 */
export function deprioritise(pid: number | undefined): void {
  const nice = Number(process.env.DEPLOYX_BENCH_SIM_NICE ?? 10);
  if (pid === undefined || !Number.isFinite(nice) || nice === 0) return;
  try {
    os.setPriority(pid, nice);
  } catch {
    // Not allowed here: they run at the server's priority, as before.
  }
}
