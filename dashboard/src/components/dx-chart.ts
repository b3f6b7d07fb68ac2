// A small SVG chart of the share of devices in sync over time.
import { LitElement, css, html, svg } from 'lit';
import { customElement, property } from 'lit/decorators.js';
import type { StatsSample } from '../../../schemas/protocol.ts';
import { convergenceChart } from '../view-model/chart.ts';
import { formatTimestamp } from '../view-model/format.ts';
import { base } from './styles.ts';

const W = 480;
const H = 140;

@customElement('dx-convergence-chart')
export class DxConvergenceChart extends LitElement {
  static override styles = [
    base,
    css`
      svg { width: 100%; height: auto; display: block; }
      .grid { stroke: var(--border); stroke-width: 1; }
      .area { fill: var(--ok-bg); }
      .line { fill: none; stroke: var(--ok); stroke-width: 2; stroke-linejoin: round; }
      .tick { fill: var(--text-muted); font-size: 10px; }
      .legend { display: flex; justify-content: space-between; font-size: 12px; color: var(--text-muted); }
    `,
  ];

  @property({ attribute: false }) samples: readonly StatsSample[] = [];

  override render() {
    const chart = convergenceChart(this.samples, { width: W, height: H, pad: 12 });
    if (chart.points.length === 0) {
      return html`<div class="state"><strong>No history yet</strong>The server samples convergence every few seconds; the chart fills in as it runs.</div>`;
    }
    const last = chart.points[chart.points.length - 1]!;
    return html`
      <svg viewBox="0 0 ${W} ${H}" role="img" aria-label=${`Devices in sync over time, now ${chart.latest} %`}>
        ${[0, 50, 100].map((p) => {
          const y = 12 + (H - 24) - (p / 100) * (H - 24);
          return svg`<line class="grid" x1="12" x2=${W - 12} y1=${y} y2=${y}></line><text class="tick" x=${W - 12} y=${y - 3} text-anchor="end">${p} %</text>`;
        })}
        <path class="area" d=${chart.area}></path>
        <path class="line" d=${chart.line}></path>
        <circle cx=${last.x} cy=${last.y} r="3.5" fill="var(--ok)"><title>${last.percent} % in sync (${last.online}/${last.total} online)</title></circle>
      </svg>
      <div class="legend"><span>${formatTimestamp(chart.from)}</span><span>${chart.latest} % in sync now</span><span>${formatTimestamp(chart.to)}</span></div>
    `;
  }
}
