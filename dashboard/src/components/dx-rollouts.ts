// Rollouts: waves with device counts per state, halted reasons, and the operator's promote /
// pause / resume. Viewers see the buttons disabled; the server refuses them anyway (403).
import { LitElement, css, html, nothing, type PropertyValues } from 'lit';
import { customElement, property, state } from 'lit/decorators.js';
import { ApiError } from '../data/api.ts';
import type { FleetData } from '../data/fleet-data.ts';
import { relativeTime, shortRevision } from '../view-model/format.ts';
import { haltedReason, progressOf, rolloutCommands, sortRollouts, waitingText, wavePhase, type RolloutCommand } from '../view-model/rollouts.ts';
import type { RolloutDetail, RolloutView } from '../view-model/wire.ts';
import { DataController } from './data-controller.ts';
import { emptyState, errorState, loadingState } from './states.ts';
import { base } from './styles.ts';

const COUNT_ORDER = ['succeeded', 'running', 'retrying', 'waiting', 'failed', 'offline'] as const;

@customElement('dx-rollouts')
export class DxRollouts extends LitElement {
  static override styles = [
    base,
    css`
      .rollout { margin-bottom: 16px; }
      .rollout.halted { border-color: var(--err); }
      .counts { display: flex; gap: 14px; flex-wrap: wrap; font-size: 13px; margin: 8px 0; }
      .counts b { font-variant-numeric: tabular-nums; }
      .waves { display: grid; gap: 8px; margin-top: 12px; }
      .wave { display: grid; grid-template-columns: 180px 1fr 150px; gap: 12px; align-items: center; font-size: 13px; }
      @media (max-width: 760px) { .wave { grid-template-columns: 1fr; } }
      .halt { background: var(--err-bg); color: var(--err); padding: 8px 10px; border-radius: 7px; margin-top: 10px; font-weight: 500; }
      .waiting { background: var(--warn-bg); color: var(--warn); padding: 8px 10px; border-radius: 7px; margin-top: 10px; }
      .msg { margin-top: 8px; padding: 8px 10px; border-radius: 7px; font-size: 13px; }
      .msg.err { background: var(--err-bg); color: var(--err); }
      .msg.ok { background: var(--ok-bg); color: var(--ok); }
      .failed { margin-top: 10px; }
      .failed .dev { padding: 6px 0; border-top: 1px solid var(--border); font-size: 13px; }
    `,
  ];

  @property({ attribute: false }) data!: FleetData;
  /** Set: show this one rollout with its devices. */
  @property() rolloutId: string | undefined;
  @state() private detail: RolloutDetail | undefined;
  @state() private detailError: Error | undefined;
  @state() private busy = new Set<string>();
  @state() private messages = new Map<string, { ok: boolean; text: string }>();

  constructor() {
    super();
    new DataController(this, ['rollouts', 'session'], (topic) => {
      if (topic === 'rollouts' && this.rolloutId && !this.data.rollouts.loading) void this.#loadDetail();
    });
  }

  override willUpdate(changed: PropertyValues<this>): void {
    if (changed.has('rolloutId')) {
      this.detail = undefined;
      this.detailError = undefined;
      if (this.rolloutId) void this.#loadDetail();
    }
  }

  async #loadDetail(): Promise<void> {
    const id = this.rolloutId;
    if (!id) return;
    try {
      const detail = await this.data.rollout(id);
      if (id === this.rolloutId) {
        this.detail = detail;
        this.detailError = undefined;
      }
    } catch (error) {
      if (id === this.rolloutId) this.detailError = error as Error;
    }
  }

  async #command(rollout: RolloutView, command: RolloutCommand): Promise<void> {
    // Start now overrides a window or a pause someone chose: the audit log keeps why.
    let reason: string | undefined;
    if (command === 'start-now') {
      reason = prompt(`Start the waiting wave of ${rollout.profile ?? 'this rollout'} now, outside its window or pause. Why? (kept in the audit log)`)?.trim();
      if (!reason) return;
    }
    const key = `${rollout.id}:${command}`;
    this.busy = new Set(this.busy).add(key);
    const messages = new Map(this.messages);
    try {
      const after = await this.data.command(rollout.id, command, reason);
      const done = command === 'start-now' ? 'Started now' : `${command[0]!.toUpperCase()}${command.slice(1)}d`;
      messages.set(rollout.id, { ok: true, text: `${done} — now ${after.status}.` });
      if (this.rolloutId) void this.#loadDetail();
    } catch (error) {
      const e = error as ApiError;
      const text =
        e instanceof ApiError && e.code === 'auth.forbidden'
          ? `Refused by the server: your role (${this.data.session.user.role}) may not ${command} rollouts.`
          : e instanceof ApiError && e.code === 'auth.csrf'
            ? 'Refused: the page’s security token is stale. Reload the page and try again.'
            : e.message;
      messages.set(rollout.id, { ok: false, text });
    } finally {
      const busy = new Set(this.busy);
      busy.delete(key);
      this.busy = busy;
      this.messages = messages;
    }
  }

  override render() {
    if (this.rolloutId) return this.#renderDetail();
    const r = this.data.rollouts;
    if (r.loading && !r.value) return html`<h1>Rollouts</h1><div class="card">${loadingState('rollouts')}</div>`;
    if (r.error && !r.value) return html`<h1>Rollouts</h1><div class="card">${errorState(r.error, () => this.data.loadRollouts())}</div>`;
    if (r.value!.length === 0) {
      return html`<h1>Rollouts</h1><div class="card">${emptyState('No rollouts yet', html`<div>A commit that changes what devices must hold starts a rollout per profile, wave by wave.</div>`)}</div>`;
    }
    return html`<h1>Rollouts</h1>${sortRollouts(r.value!).map((ro) => this.#rollout(ro, false))}`;
  }

  #renderDetail() {
    const back = html`<p><a href="/rollouts">← Rollouts</a></p>`;
    if (this.detailError && !this.detail) {
      const notFound = this.detailError instanceof ApiError && this.detailError.status === 404;
      return html`${back}<div class="card">${notFound ? emptyState(`No rollout "${this.rolloutId}"`) : errorState(this.detailError, () => this.#loadDetail())}</div>`;
    }
    if (!this.detail) return html`${back}<div class="card">${loadingState('the rollout')}</div>`;
    const d = this.detail;
    return html`${back}${this.#rollout(d, true)}
      ${d.devices?.length
        ? html`<section class="card"><h2>Devices</h2><table>
            <thead><tr><th>Device</th><th>Wave</th><th>Status</th><th>Attempts</th><th>Failures</th></tr></thead>
            <tbody>${d.devices
              .slice()
              .sort((a, b) => a.wave - b.wave || a.name.localeCompare(b.name))
              .slice(0, 1000)
              .map((x) => html`<tr><td>${x.name}${x.online ? '' : html` <span class="muted">(offline)</span>`}</td><td>${d.waves[x.wave]?.name ?? x.wave + 1}</td><td><span class="badge s-${x.status}">${x.status}</span></td><td>${x.attempts}</td><td>${x.failures}</td></tr>`)}</tbody>
          </table></section>`
        : nothing}`;
  }

  #rollout(ro: RolloutView | RolloutDetail, detail: boolean) {
    const p = progressOf(ro.counts);
    const role = this.data.session.user.role;
    const buttons = rolloutCommands(ro, role).filter((b) => b.applicable);
    const message = this.messages.get(ro.id);
    const failed = 'failedDevices' in ro ? ro.failedDevices : [];
    return html`<section class="card rollout ${ro.status}" data-rollout=${ro.id}>
      <div class="row">
        ${detail ? html`<h1 style="margin:0">${ro.profile ?? 'All devices'}</h1>` : html`<a href="/rollouts/${encodeURIComponent(ro.id)}"><strong>${ro.profile ?? 'All devices'}</strong></a>`}
        <span class="badge s-${ro.status}" data-testid="rollout-status">${ro.status}</span>
        <code>${shortRevision(ro.revision)}</code>
        <span class="muted">started ${relativeTime(ro.createdAt, Date.now())}</span>
        <span class="spacer"></span>
        ${buttons.map(
          (b) => html`<button data-command=${b.command} ?disabled=${!b.allowed || this.busy.has(`${ro.id}:${b.command}`)} title=${b.hint ?? ''} @click=${() => this.#command(ro, b.command)}>${b.label}</button>`,
        )}
      </div>
      ${message ? html`<div class="msg ${message.ok ? 'ok' : 'err'}" role=${message.ok ? 'status' : 'alert'}>${message.text}</div>` : nothing}
      ${ro.halted ? html`<div class="halt" role="alert">${haltedReason(ro)}</div>` : nothing}
      ${ro.waiting ? html`<div class="waiting" role="status" data-testid="rollout-waiting">${waitingText(ro.waiting)}</div>` : nothing}
      <div class="counts">
        <span><b>${p.done}</b>/${p.total} done (${p.percent} %)</span>
        ${COUNT_ORDER.filter((k) => ro.counts[k]).map((k) => html`<span class="badge s-${k}">${ro.counts[k]} ${k}</span>`)}
      </div>
      <div class="bar">${p.segments.map((s) => html`<span class=${s.status} style="width:${s.percent}%"></span>`)}</div>
      <div class="waves">
        ${ro.waves.map((w) => {
          const wp = progressOf(w.counts);
          const phase = wavePhase(ro, w);
          return html`<div class="wave" data-wave=${w.index}>
            <span><strong>${w.index + 1}. ${w.name}</strong>${w.manualPromotion ? html` <span class="muted">(manual)</span>` : nothing}</span>
            <div class="bar">${wp.segments.map((s) => html`<span class=${s.status} style="width:${s.percent}%"></span>`)}</div>
            <span><span class="badge plain s-${phase === 'done' ? 'ok' : phase === 'halted' ? 'error' : phase === 'running' ? 'info' : phase === 'awaiting-promotion' || phase === 'waiting' ? 'warning' : 'pending'}">${phase.replace('-', ' ')}</span> ${wp.done}/${wp.total}</span>
          </div>`;
        })}
      </div>
      ${failed.length
        ? html`<div class="failed"><h2 style="margin-top:12px">Failed devices</h2>${failed.slice(0, detail ? 100 : 5).map(
            (f) => html`<div class="dev"><a href="/devices/${encodeURIComponent(f.device)}">${f.device}</a> <span class="muted">${f.error ?? ''}</span>${f.output ? html`<pre class="output">${f.output}</pre>` : nothing}</div>`,
          )}</div>`
        : nothing}
    </section>`;
  }
}
