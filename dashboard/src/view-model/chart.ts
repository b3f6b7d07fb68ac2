// The convergence chart: share of devices in sync over time, as SVG path data. Pure.
import type { StatsSample } from '../../../schemas/protocol.ts';

export interface ChartGeometry {
  width: number;
  height: number;
  /** Inner padding so the line and its dots are not clipped. */
  pad: number;
}

export interface ChartData {
  /** `M x y L x y …` of the in-sync share; '' with fewer than one sample. */
  line: string;
  /** The same line closed down to the baseline, for the fill. */
  area: string;
  points: Array<{ x: number; y: number; percent: number; at: string; online: number; total: number }>;
  /** Latest share in sync, 0–100. */
  latest: number | undefined;
  from: string | undefined;
  to: string | undefined;
}

export function convergencePercent(sample: StatsSample): number {
  return sample.total > 0 ? (sample.inSync / sample.total) * 100 : 0;
}

/** Samples sorted by time, spread over the x axis by time (not index), 0–100 % on y. */
export function convergenceChart(samples: readonly StatsSample[], geometry: ChartGeometry): ChartData {
  const sorted = samples.filter((s) => !Number.isNaN(Date.parse(s.at))).sort((a, b) => Date.parse(a.at) - Date.parse(b.at));
  if (sorted.length === 0) return { line: '', area: '', points: [], latest: undefined, from: undefined, to: undefined };
  const { width, height, pad } = geometry;
  const t0 = Date.parse(sorted[0]!.at);
  const t1 = Date.parse(sorted[sorted.length - 1]!.at);
  const span = t1 - t0;
  const innerW = width - 2 * pad;
  const innerH = height - 2 * pad;
  const points = sorted.map((s) => {
    const p = convergencePercent(s);
    const x = pad + (span > 0 ? ((Date.parse(s.at) - t0) / span) * innerW : innerW);
    const y = pad + innerH - (p / 100) * innerH;
    return { x: round(x), y: round(y), percent: Math.round(p * 10) / 10, at: s.at, online: s.online, total: s.total };
  });
  // A single sample draws a flat line across, so the chart is never one lonely dot.
  const drawn = points.length === 1 ? [{ ...points[0]!, x: pad }, points[0]!] : points;
  const line = drawn.map((p, i) => `${i === 0 ? 'M' : 'L'}${p.x} ${p.y}`).join(' ');
  const base = round(pad + innerH);
  const area = `${line} L${drawn[drawn.length - 1]!.x} ${base} L${drawn[0]!.x} ${base} Z`;
  return { line, area, points, latest: points[points.length - 1]!.percent, from: sorted[0]!.at, to: sorted[sorted.length - 1]!.at };
}

/** Appends a live sample, keeping the newest `max`; a sample at the same time replaces the old one. */
export function appendSample(samples: readonly StatsSample[], sample: StatsSample, max: number): StatsSample[] {
  const kept = samples.filter((s) => s.at !== sample.at);
  kept.push(sample);
  kept.sort((a, b) => Date.parse(a.at) - Date.parse(b.at));
  return kept.slice(Math.max(0, kept.length - max));
}

function round(n: number): number {
  return Math.round(n * 10) / 10;
}
