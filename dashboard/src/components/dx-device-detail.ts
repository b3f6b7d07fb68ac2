// Device detail: identity, facts and inventory; desired beside observed with drift highlighted;
// the job timeline with each step's output, exit code and duration; provisioning state.
// Re-fetched when the device's row or jobs change on the live socket.
import { LitElement, css, html, nothing, type PropertyValues } from 'lit';
import { customElement, property, state } from 'lit/decorators.js';
import { ApiError } from '../data/api.ts';
import type { FleetData } from '../data/fleet-data.ts';
import { STATE_LABELS, osLabel } from '../view-model/devices.ts';
import { formatDuration, formatTimestamp, relativeTime, shortRevision } from '../view-model/format.ts';
import { flattenFacts, pairResources, type Field, type ResourceRow } from '../view-model/resources.ts';
import { hardwareFields, otherFacts } from '../view-model/hardware.ts';
import { JOB_STATE_LABELS, jobTimeline, type TimelineJob } from '../view-model/timeline.ts';
import type { ProvisioningTimeline } from '../../../schemas/protocol.ts';
import { summarizeProvisioning, type TaskStatus } from '../view-model/provisioning.ts';
import type { DeviceDetail } from '../view-model/wire.ts';
import { DataController } from './data-controller.ts';
import { emptyState, errorState, loadingState } from './states.ts';
import { base } from './styles.ts';

@customElement('dx-device-detail')
export class DxDeviceDetail extends LitElement {
  static override styles = [
    base,
    css`
      .head { display: flex; align-items: center; gap: 12px; flex-wrap: wrap; margin-bottom: 16px; }
      .head h1 { margin: 0; }
      .meta { display: grid; grid-template-columns: repeat(auto-fit, minmax(160px, 1fr)); gap: 12px; margin-bottom: 16px; }
      .meta .k { color: var(--text-muted); font-size: 12px; }
      .cols2 { display: grid; grid-template-columns: minmax(0, 1fr) minmax(0, 1fr); gap: 16px; }
      @media (max-width: 980px) { .cols2 { grid-template-columns: 1fr; } }
      .kv td:first-child { color: var(--text-muted); white-space: nowrap; width: 1%; }
      .kv td { font-size: 13px; word-break: break-word; }
      .res td { font-size: 13px; }
      .res .key { font-family: var(--mono); font-size: 12.5px; word-break: break-all; }
      .res dl { margin: 0; display: grid; grid-template-columns: auto 1fr; gap: 1px 10px; }
      .res dt { color: var(--text-muted); }
      .res dd { margin: 0; font-family: var(--mono); font-size: 12px; word-break: break-all; }
      .res dd.diff, .res dt.diff { color: var(--warn); font-weight: 700; }
      tr.drift { background: var(--warn-bg); box-shadow: inset 3px 0 0 var(--warn); }
      tr.pending { background: var(--busy-bg); }
      .day { color: var(--text-muted); font-size: 12px; font-weight: 600; margin: 14px 0 6px; }
      .job { border: 1px solid var(--border); border-radius: 8px; padding: 10px 12px; margin-bottom: 8px; }
      .job.failed, .job.timed_out { border-color: var(--err); }
      .step { padding: 6px 0 0 12px; border-left: 2px solid var(--border); margin: 6px 0 0 4px; font-size: 13px; }
      .step.failed, .step.interrupted { border-left-color: var(--err); }
      .step.succeeded { border-left-color: var(--ok); }
      details summary { cursor: pointer; color: var(--text-muted); font-size: 12px; }
      .err { color: var(--err); }
      .prov-steps { list-style: none; padding: 0; margin: 8px 0 0; }
      .prov-steps li { padding: 4px 0; display: flex; gap: 8px; align-items: center; flex-wrap: wrap; }
      .prov-steps li details { flex-basis: 100%; }
      section { margin-bottom: 16px; }
      .actions .danger { color: var(--err); border-color: var(--err); }
      /* A phone (390 px): resources stack as cards, one field per line; nothing is wider than the screen. */
      @media (max-width: 640px) {
        :host { overflow-wrap: anywhere; }
        .res thead { display: none; }
        .res, .res tbody, .res tr, .res td { display: block; width: auto; }
        .res tr { border-bottom: 1px solid var(--border); padding: 6px 0; }
        .res td { border: 0; padding: 2px 4px; }
        .res td[data-label]::before { content: attr(data-label); display: block; color: var(--text-muted); font-size: 11px; text-transform: uppercase; letter-spacing: 0.04em; }
        .res dd { word-break: normal; overflow-wrap: anywhere; }
        .kv td:first-child { white-space: normal; width: 35%; }
      }
    `,
  ];

  @property({ attribute: false }) data!: FleetData;
  @property() deviceId = '';
  @state() private detail: DeviceDetail | undefined;
  @state() private error: Error | undefined;
  @state() private provisioning: ProvisioningTimeline | null | undefined;
  @state() private provisioningError: Error | undefined;
  /** The outcome of the last operator action on this page (approve, reject, arm). */
  @state() private actionMessage: { ok: boolean; text: string } | undefined;
  #abort: AbortController | undefined;
  #timer: ReturnType<typeof setTimeout> | undefined;

  constructor() {
    super();
    new DataController(this, ['devices', 'jobs', 'connection'], (topic, detail) => {
      if (topic === 'connection' ? this.data.connection === 'live' : detail.deviceIds?.includes(this.deviceId)) this.#refetchSoon();
    });
  }

  override willUpdate(changed: PropertyValues<this>): void {
    if (changed.has('deviceId')) {
      this.detail = undefined;
      this.error = undefined;
      this.provisioning = undefined;
      void this.#load();
    }
  }

  override disconnectedCallback(): void {
    super.disconnectedCallback();
    this.#abort?.abort();
    clearTimeout(this.#timer);
  }

  #refetchSoon(): void {
    if (this.#timer) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      void this.#load();
    }, 300);
  }

  async #load(): Promise<void> {
    this.#abort?.abort();
    const abort = (this.#abort = new AbortController());
    const id = this.deviceId;
    const [detail, provisioning] = await Promise.allSettled([this.data.device(id, abort.signal), this.data.provisioning(id, abort.signal)]);
    if (abort.signal.aborted || id !== this.deviceId) return;
    if (detail.status === 'fulfilled') {
      this.detail = detail.value;
      this.error = undefined;
    } else if ((detail.reason as Error).name !== 'AbortError') this.error = detail.reason as Error;
    if (provisioning.status === 'fulfilled') {
      this.provisioning = provisioning.value ?? null;
      this.provisioningError = undefined;
    } else if ((provisioning.reason as Error).name !== 'AbortError') this.provisioningError = provisioning.reason as Error;
  }

  /**
   * Operator actions (the server checks the role and the CSRF token): approve or reject a device
   * that claimed a declared name with an unbound token; arm a machine's one install boot (2 h).
   */
  #renderActions(pending: boolean) {
    const role = this.data.session.user.role;
    if (role === 'viewer') return nothing;
    const id = encodeURIComponent(this.deviceId);
    return html`<div class="actions" data-testid="device-actions">
      ${pending
        ? html`<button data-testid="approve" @click=${() => this.#act(`/api/v1/devices/${id}/approve`, 'Approved: its jobs go out now.')}>Approve</button>
            <button data-testid="reject" @click=${() => this.#act(`/api/v1/devices/${id}/reject`, 'Rejected: the device was removed and disconnected.')}>Reject</button>`
        : nothing}
      ${this.provisioning
        ? html`<button data-testid="arm" @click=${() => this.#act(`/api/v1/devices/${id}/provisioning/arm`, 'Armed: its next network boot within 2 h installs it (once).', {})}>Provision (arm 2 h)</button>`
        : nothing}
      ${role === 'admin' && this.detail && this.detail.state !== 'awaiting_enrollment' ? html`<button class="danger" data-testid="revoke" @click=${this.#revoke}>Revoke device</button>` : nothing}
      ${this.actionMessage ? html`<span class="msg ${this.actionMessage.ok ? 'ok' : 'err'}" role=${this.actionMessage.ok ? 'status' : 'alert'}>${this.actionMessage.text}</span>` : nothing}
    </div>`;
  }

  /**
   * Deletes the device (admin): its key is forgotten and its agent disconnected; the page says so
   * instead of only "Agent disconnected". A Device declared in Git stays listed, awaiting enrollment.
   */
  #revoke = async (): Promise<void> => {
    const name = this.detail?.name ?? this.deviceId;
    if (!confirm(`Revoke ${name}? Its agent is disconnected and its key forgotten; it must enroll again with a new token.`)) return;
    try {
      await this.data.api.delete(`/api/v1/devices/${encodeURIComponent(this.deviceId)}`);
      this.actionMessage = { ok: true, text: `Revoked: ${name} was removed and its agent disconnected. It must enroll again with a new token.` };
      void this.#load();
    } catch (error) {
      this.actionMessage = { ok: false, text: (error as Error).message };
    }
  };

  async #act(path: string, done: string, body?: unknown): Promise<void> {
    try {
      await this.data.api.post(path, body);
      this.actionMessage = { ok: true, text: done };
      void this.#load();
    } catch (error) {
      const e = error as ApiError;
      this.actionMessage = {
        ok: false,
        text: e instanceof ApiError && e.code === 'auth.csrf' ? 'Refused: the page’s security token is stale. Reload the page and try again.' : e.message,
      };
    }
  }

  override render() {
    if (this.error && !this.detail) {
      const notFound = this.error instanceof ApiError && this.error.status === 404;
      return html`<p><a href="/devices">← Devices</a></p><div class="card">${notFound ? emptyState(`No device "${this.deviceId}"`, html`<div>It may have been deleted. <a href="/devices">All devices</a></div>`) : errorState(this.error, () => this.#load())}</div>`;
    }
    if (!this.detail) return html`<p><a href="/devices">← Devices</a></p><div class="card">${loadingState('the device')}</div>`;
    const d = this.detail;
    const now = Date.now();
    const rows = pairResources(d.desired?.resources ?? [], d.observed, d.changes);
    const drifted = rows.filter((r) => r.drift).length;
    return html`
      <p><a href="/devices">← Devices</a></p>
      <div class="head">
        <h1>${d.name}</h1>
        <span class="badge s-${d.state}" data-testid="device-state">${STATE_LABELS[d.state] ?? d.state}</span>
        <span class="badge ${d.online ? 's-ok' : 's-unknown'}">${d.online ? 'Online' : 'Offline'}</span>
        <span class="muted">${d.reason}</span>
        ${d.approval === 'pending' ? html`<span class="badge s-unknown" data-testid="device-pending">Pending approval</span>` : nothing}
      </div>
      ${this.#renderActions(d.approval === 'pending')}
      <div class="card meta">
        ${[
          ['Device id', html`<code>${d.id}</code>`],
          ['Last seen', d.online ? 'now (connected)' : relativeTime(d.lastSeenAt, now)],
          ['Last report', relativeTime(d.lastReportAt, now)],
          ['Revision applied', html`<code>${shortRevision(d.revision)}</code>`],
          ['OS', osLabel(d) || '—'],
          ['Agent', d.agentVersion ?? '—'],
          ['Profiles', d.profiles.join(', ') || '—'],
          ['Groups', d.groups.join(', ') || '—'],
        ].map(([k, v]) => html`<div><div class="k">${k}</div><div>${v}</div></div>`)}
      </div>
      ${d.desired?.issues?.length
        ? html`<section class="card"><h2>Compile issues</h2>${d.desired.issues.map((i) => html`<div class="err"><code>${i.code}</code> ${i.subject}: ${i.message}</div>`)}</section>`
        : nothing}
      <section class="card">
        <div class="row"><h2>Desired vs observed</h2><span class="spacer"></span>${drifted ? html`<span class="badge s-drifted" data-testid="drift-count">${drifted} drifted</span>` : nothing}</div>
        ${rows.length === 0 ? emptyState('No resources', 'Nothing in Git targets this device, and DeployX applied nothing to it.') : this.#resources(rows)}
      </section>
      <section class="card"><h2>Jobs</h2>${this.#jobs(now)}</section>
      <div class="cols2">
        <section class="card"><h2>Facts</h2>${this.#kv(flattenFacts(otherFacts(d.facts)), 'No facts reported yet.')}</section>
        <div>
          <section class="card"><h2>Labels</h2>${this.#kv(Object.entries(d.labels ?? {}).map(([name, value]) => ({ name, value })), 'No labels.')}</section>
          <section class="card"><h2>Hardware</h2>${this.#kv(hardwareFields(d.facts), 'Not reported yet.', 'hardware')}</section>
          <section class="card"><h2>Provisioning</h2>${this.#provisioning()}</section>
          <section class="card"><h2>Applied by DeployX</h2>${this.#inventory(now)}</section>
        </div>
      </div>
    `;
  }

  #kv(fields: Field[], empty: string, testId?: string) {
    if (fields.length === 0) return html`<div class="muted">${empty}</div>`;
    return html`<table class="kv" data-testid=${testId ?? nothing}><tbody>${fields.map((f) => html`<tr><td>${f.name}</td><td>${f.value}</td></tr>`)}</tbody></table>`;
  }

  #fields(fields: Field[] | null, differs: string[], what: string) {
    if (!fields) return html`<span class="muted">${what}</span>`;
    return html`<dl>${fields.map((f) => {
      const diff = differs.includes(f.name) ? 'diff' : '';
      return html`<dt class=${diff}>${f.name}</dt><dd class=${diff}>${f.value}</dd>`;
    })}</dl>`;
  }

  #resources(rows: ResourceRow[]) {
    return html`<table class="res">
      <thead><tr><th>Resource</th><th>Desired</th><th>Observed</th><th>Plan</th></tr></thead>
      <tbody>
        ${rows.map(
          (r) => html`<tr class=${r.drift ? 'drift' : r.action !== 'unchanged' && r.action !== 'unmanaged' ? 'pending' : ''} data-key=${r.key} data-drift=${r.drift}>
            <td class="key">${r.key}</td>
            <td data-label="Desired">${this.#fields(r.desired, r.differs, 'not desired')}</td>
            <td data-label="Observed">${this.#fields(r.observed, r.differs, 'not observed')}</td>
            <td data-label="Plan">
              ${r.drift ? html`<span class="badge s-drifted">Drifted${r.reportOnly ? ' (report only)' : ''}</span><br />` : nothing}
              <span class="badge plain s-${r.action === 'unchanged' ? 'ok' : r.action === 'unmanaged' ? 'unknown' : 'info'}">${r.action === 'unchanged' ? 'in sync' : r.action}</span>
              ${r.reason ? html`<div class="muted" style="font-size:12px">${r.reason}</div>` : nothing}
            </td>
          </tr>`,
        )}
      </tbody>
    </table>`;
  }

  #jobs(now: number) {
    const days = jobTimeline(this.detail!.jobs ?? []);
    if (days.length === 0) return emptyState('No jobs yet', 'Jobs appear when the device needs a change.');
    return days.map((day) => html`<div class="day">${day.day}</div>${day.jobs.map((j) => this.#job(j, now))}`);
  }

  #job(j: TimelineJob, now: number) {
    return html`<div class="job ${j.state}" data-job=${j.id}>
      <div class="row">
        <span class="badge s-${j.state}">${JOB_STATE_LABELS[j.state] ?? j.state}</span>
        <code>${shortRevision(j.revision)}</code>
        <span class="muted">${j.steps.length} step${j.steps.length === 1 ? '' : 's'} · ${formatDuration(j.durationMs)}${j.attempts > 1 ? ` · ${j.attempts} attempts` : ''}</span>
        <span class="spacer"></span><span class="muted" title=${formatTimestamp(j.at)}>${relativeTime(j.at, now)}</span>
      </div>
      ${j.steps.map(
        (s) => html`<div class="step ${s.status}">
          <div class="row"><code>${s.key}</code><span class="muted">${s.action}</span><span class="badge plain s-${s.planned ? s.status : 'pending'}">${s.planned ? s.status : 'not run'}</span>
            ${s.exitCode !== undefined ? html`<span class="muted">exit ${s.exitCode}</span>` : nothing}
            ${s.planned ? html`<span class="muted">${formatDuration(s.durationMs)}</span>` : nothing}
          </div>
          ${s.error ? html`<div class="err">${s.error}</div>` : nothing}
          ${s.output ? html`<details ?open=${s.status === 'failed' || s.status === 'interrupted'}><summary>Output</summary><pre class="output">${s.output}</pre></details>` : nothing}
        </div>`,
      )}
    </div>`;
  }

  #inventory(now: number) {
    const inv = this.detail!.inventory ?? [];
    if (inv.length === 0) return html`<div class="muted">DeployX has applied nothing to this device yet.</div>`;
    return html`<table class="kv"><tbody>${inv.map((i) => html`<tr><td><code>${i.key}</code></td><td><code>${shortRevision(i.revision)}</code> · ${relativeTime(i.appliedAt, now)}</td></tr>`)}</tbody></table>`;
  }

  #provisioning() {
    if (this.provisioningError) return errorState(this.provisioningError);
    if (this.provisioning === undefined) return loadingState('provisioning');
    if (this.provisioning === null) {
      return html`<div class="muted" data-testid="not-provisioned">${
        this.detail?.state === 'awaiting_enrollment'
          ? 'Not enrolled yet: an agent enrolls as this device with a token bound to it (or claims its MAC or hostname, then waits for approval), or a network boot installs it once armed.'
          : 'Not provisioned by DeployX — this device enrolled with a token.'
      }</div>`;
    }
    const p = summarizeProvisioning(this.provisioning);
    const now = Date.now();
    const stateClass = p.state === 'enrolled' || p.state === 'provisioned' ? 's-ok' : p.run?.status === 'failed' ? 's-error' : 's-info';
    return html`
      <div class="row" data-testid="provisioning-state">
        <span class="badge ${stateClass}">${p.state ?? 'unknown'}</span>
        ${p.mac ? html`<code>${p.mac}</code>` : nothing}
        ${p.enrolledAt ? html`<span class="muted">enrolled ${relativeTime(p.enrolledAt, now)}</span>` : p.provisionedAt ? html`<span class="muted">provisioned ${relativeTime(p.provisionedAt, now)}</span>` : nothing}
      </div>
      ${p.run
        ? html`<div class="muted" style="margin-top:6px">Install as <strong>${p.run.hostname}</strong> · profile <strong>${p.run.profile}</strong> · image ${p.run.image} ·
              <code>${shortRevision(p.run.revision)}</code> · started ${relativeTime(p.run.createdAt, now)} · run ${p.run.status}${p.earlier ? ` · ${p.earlier} earlier run${p.earlier === 1 ? '' : 's'}` : ''}</div>
            <ol class="prov-steps" data-testid="provisioning-tasks">
              ${p.run.tasks.map(
                (t) => html`<li data-status=${t.status}>
                  <span class="badge plain ${TASK_CLASS[t.status]}">${t.status}</span>
                  <span>${t.index + 1}. ${t.name}</span><span class="muted">${t.type}</span>
                  ${t.exitCode !== undefined && t.exitCode !== 0 ? html`<span class="err">exit ${t.exitCode}</span>` : nothing}
                  ${t.at ? html`<span class="muted">${relativeTime(t.at, now)}</span>` : nothing}
                  ${t.log ? html`<details ?open=${t.status === 'failed'}><summary>Log</summary><pre class="output">${t.log}</pre></details>` : nothing}
                </li>`,
              )}
            </ol>`
        : html`<div class="muted">Seen at network boot; no install has started.</div>`}
    `;
  }
}

const TASK_CLASS: Record<TaskStatus, string> = {
  pending: 's-pending',
  started: 's-running',
  succeeded: 's-succeeded',
  failed: 's-failed',
  skipped: 's-cancelled',
};
