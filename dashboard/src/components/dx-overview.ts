// Overview: the fleet at a glance — devices by state, online, converged share, the revision in
// force and the newest rejected one, active rollouts, recent failures, convergence over time.
import { LitElement, css, html, nothing } from 'lit';
import { customElement, property } from 'lit/decorators.js';
import type { FleetData } from '../data/fleet-data.ts';
import { DEVICE_STATES, STATE_LABELS, summarizeDevices } from '../view-model/devices.ts';
import { relativeTime, shortRevision } from '../view-model/format.ts';
import { commitTitle, revisionHeadline } from '../view-model/revisions.ts';
import { currentWave, isActive, progressOf, sortRollouts, waitingText } from '../view-model/rollouts.ts';
import { timelineJob } from '../view-model/timeline.ts';
import { deviceYaml, discoveredRows } from '../view-model/provisioning.ts';
import { DataController } from './data-controller.ts';
import './dx-chart.ts';
import { emptyState, errorState, loadingState } from './states.ts';
import { base } from './styles.ts';

@customElement('dx-overview')
export class DxOverview extends LitElement {
  static override styles = [
    base,
    css`
      .tiles { display: grid; grid-template-columns: repeat(auto-fit, minmax(150px, 1fr)); gap: 12px; margin-bottom: 16px; }
      .tile { display: block; color: var(--text); }
      .tile:hover { text-decoration: none; border-color: var(--accent); }
      .tile .n { font-size: 28px; font-weight: 700; font-variant-numeric: tabular-nums; line-height: 1.2; }
      .tile .l { display: flex; align-items: center; gap: 6px; color: var(--text-muted); font-size: 13px; }
      .layout { display: grid; grid-template-columns: minmax(0, 3fr) minmax(0, 2fr); gap: 16px; }
      @media (max-width: 980px) { .layout { grid-template-columns: 1fr; } }
      .big { font-size: 40px; font-weight: 750; font-variant-numeric: tabular-nums; }
      .rev { display: grid; gap: 4px; }
      .rev + .rev { margin-top: 12px; padding-top: 12px; border-top: 1px solid var(--border); }
      .rollout { padding: 10px 0; border-bottom: 1px solid var(--border); display: grid; gap: 6px; }
      .rollout:last-child { border-bottom: none; }
      .failure { padding: 8px 0; border-bottom: 1px solid var(--border); }
      .failure:last-child { border-bottom: none; }
      .err { color: var(--err); font-size: 13px; word-break: break-word; }
    `,
  ];

  @property({ attribute: false }) data!: FleetData;

  constructor() {
    super();
    new DataController(this, ['devices', 'stats', 'revisions', 'rollouts', 'failures', 'discovered']);
  }

  override render() {
    const d = this.data;
    if (d.devicesLoad.loading && !d.devicesLoad.value) return html`<h1>Overview</h1>${loadingState('the fleet')}`;
    if (d.devicesLoad.error && !d.devicesLoad.value) return html`<h1>Overview</h1><div class="card">${errorState(d.devicesLoad.error, () => d.refresh())}</div>`;
    const s = summarizeDevices(d.devices.values());
    return html`
      <h1>Overview</h1>
      <div class="tiles" data-testid="state-tiles">
        ${DEVICE_STATES.map(
          (state) => html`<a class="card tile" href="/devices?state=${state}" data-state=${state}>
            <div class="n">${s.byState[state]}</div><div class="l"><span class="badge s-${state}">${STATE_LABELS[state]}</span></div>
          </a>`,
        )}
        <a class="card tile" href="/devices?connection=online"><div class="n">${s.online}<span class="muted" style="font-size:16px"> / ${s.total}</span></div><div class="l">Online · ${s.offline} offline</div></a>
      </div>
      <div class="layout">
        <div class="grid">
          <section class="card">
            <h2>Converged</h2>
            <div class="row"><span class="big" data-testid="converged">${s.convergedPercent} %</span><span class="muted">of ${s.total} devices in sync</span></div>
            <div class="bar" style="margin:10px 0 16px">
              ${(['in_sync', 'converging', 'drifted', 'failed', 'unknown', 'awaiting_enrollment'] as const).map((k) => (s.total ? html`<span class=${k} style="width:${(s.byState[k] / s.total) * 100}%"></span>` : nothing))}
            </div>
            <dx-convergence-chart .samples=${d.history}></dx-convergence-chart>
          </section>
          <section class="card">
            <h2>Active rollouts</h2>
            ${this.#rollouts()}
          </section>
        </div>
        <div class="grid">
          <section class="card"><h2>Revision</h2>${this.#revision()}</section>
          <section class="card"><h2>Recent failures</h2>${this.#failures()}</section>
          ${this.#discovered()}
        </div>
      </div>
    `;
  }

  #revision() {
    const r = this.data.revisions;
    if (r.loading && !r.value) return loadingState('revisions');
    if (r.error && !r.value) return errorState(r.error, () => this.data.loadRevisions());
    const { current, newestRejected } = revisionHeadline(r.value!.revisions, r.value!.current);
    return html`
      <div class="rev">
        <div class="row"><span class="badge s-accepted">In force</span><code>${shortRevision(r.value!.current)}</code></div>
        ${current ? html`<div>${commitTitle(current.message)}</div><div class="muted">${current.author.replace(/ <.*>$/, '')} · ${relativeTime(current.committedAt, Date.now())}</div>` : html`<div class="muted">No accepted revision yet.</div>`}
      </div>
      ${newestRejected
        ? html`<div class="rev" data-testid="newest-rejected">
            <div class="row"><span class="badge s-rejected">Rejected</span><code>${shortRevision(newestRejected.revision)}</code></div>
            <div>${commitTitle(newestRejected.message)}</div>
            <div class="err">${newestRejected.errorCount} error${newestRejected.errorCount === 1 ? '' : 's'} — <a href="/revisions">see where</a></div>
          </div>`
        : nothing}
    `;
  }

  #rollouts() {
    const r = this.data.rollouts;
    if (r.loading && !r.value) return loadingState('rollouts');
    if (r.error && !r.value) return errorState(r.error, () => this.data.loadRollouts());
    const active = sortRollouts(r.value!.filter(isActive));
    if (active.length === 0) return emptyState('No rollout in progress', html`<div>A commit that changes devices starts one per profile.</div>`);
    return active.map((ro) => {
      const p = progressOf(ro.counts);
      const wave = currentWave(ro);
      return html`<div class="rollout" data-rollout=${ro.id}>
        <div class="row"><a href="/rollouts/${encodeURIComponent(ro.id)}"><strong>${ro.profile ?? 'all devices'}</strong></a><span class="badge s-${ro.status}">${ro.status}</span><span class="spacer"></span><span class="muted">${p.done}/${p.total}${wave ? ` · wave ${wave.index + 1}/${ro.waves.length} ${wave.name}` : ''}</span></div>
        <div class="bar">${p.segments.map((seg) => html`<span class=${seg.status} style="width:${seg.percent}%"></span>`)}</div>
        ${ro.waiting ? html`<div class="muted" data-testid="rollout-waiting">${waitingText(ro.waiting)}</div>` : nothing}
      </div>`;
    });
  }

  /** Machines that network-booted and no Device matches; hidden when there are none. */
  #discovered() {
    const m = this.data.discovered;
    if (m.error && !m.value) return html`<section class="card"><h2>Discovered machines</h2>${errorState(m.error, () => this.data.loadDiscovered())}</section>`;
    const rows = discoveredRows(m.value ?? []);
    if (rows.length === 0) return nothing;
    const now = Date.now();
    return html`<section class="card" data-testid="discovered">
      <h2>Discovered machines <span class="muted">${rows.length}</span></h2>
      <div class="muted" style="font-size:13px;margin-bottom:6px">Network-booted, not in the fleet. Adopt one by committing a <code>Device</code> with its MAC.</div>
      ${rows.slice(0, 10).map(
        (r) => html`<div class="failure" data-mac=${r.mac}>
          <div class="row"><code>${r.mac}</code><span class="muted">${r.firmware}</span><span class="spacer"></span><span class="muted" title=${r.lastSeenAt}>${relativeTime(r.lastSeenAt, now)}</span></div>
          <div class="muted" style="font-size:13px">${r.told} · ${r.boots} boot${r.boots === 1 ? '' : 's'} since ${relativeTime(r.firstSeenAt, now)}${r.identity === '—' ? '' : ` · ${r.identity}`}</div>
          <details><summary class="muted" style="font-size:13px">Adopt</summary><pre class="output">${deviceYaml(r.mac)}</pre></details>
        </div>`,
      )}
      ${rows.length > 10 ? html`<div class="muted">and ${rows.length - 10} more</div>` : nothing}
    </section>`;
  }

  #failures() {
    const f = this.data.failures;
    if (f.loading && !f.value) return loadingState('failures');
    if (f.error && !f.value) return errorState(f.error, () => this.data.loadFailures());
    if (f.value!.length === 0) return emptyState('No failed jobs', html`<div>Every job the fleet ran lately succeeded.</div>`);
    const now = Date.now();
    return f.value!.slice(0, 8).map((job) => {
      const t = timelineJob(job);
      const name = this.data.devices.get(job.deviceId)?.name ?? job.deviceId;
      const why = t.failedStep ? `${t.failedStep.key}: ${t.failedStep.error ?? (t.failedStep.exitCode !== undefined ? `exit code ${t.failedStep.exitCode}` : 'failed')}` : job.state;
      return html`<div class="failure">
        <div class="row"><a href="/devices/${encodeURIComponent(job.deviceId)}">${name}</a><span class="badge s-${job.state}">${job.state}</span><span class="spacer"></span><span class="muted">${relativeTime(t.at, now)}</span></div>
        <div class="err">${why}</div>
      </div>`;
    });
  }
}
