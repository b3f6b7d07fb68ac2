// Small measuring helpers shared by the benchmarks.

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
