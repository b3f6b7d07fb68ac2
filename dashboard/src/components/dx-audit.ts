// The audit log (admins): who did what to which and how it ended, newest first, a page at a time.
// The server refuses it to other roles (403); the nav shows the page to admins only.
import { LitElement, css, html, nothing } from 'lit';
import { customElement, property, state } from 'lit/decorators.js';
import type { FleetData } from '../data/fleet-data.ts';
import { auditRow, filterAudit, mergeAuditPages } from '../view-model/audit.ts';
import { formatTimestamp, relativeTime } from '../view-model/format.ts';
import type { AuditEntryView, AuditPage } from '../view-model/wire.ts';
import { emptyState, errorState, loadingState } from './states.ts';
import { base } from './styles.ts';

const PAGE = 100;

@customElement('dx-audit')
export class DxAudit extends LitElement {
  static override styles = [
    base,
    css`
      .list { padding: 0; overflow-x: auto; }
      td { padding: 6px 8px; border-bottom: 1px solid var(--border); font-size: 13px; vertical-align: top; }
      td.seq { font-family: var(--mono); color: var(--text-muted); text-align: right; }
      .kind { font-size: 11px; text-transform: uppercase; letter-spacing: 0.05em; color: var(--text-muted); margin-right: 4px; }
      .details { font-family: var(--mono); font-size: 12px; color: var(--text-muted); word-break: break-word; }
      .tools { display: flex; gap: 12px; align-items: center; margin-bottom: 12px; }
      .tools input { min-width: 260px; }
      .more { padding: 12px; text-align: center; }
    `,
  ];

  @property({ attribute: false }) data!: FleetData;
  @state() private entries: AuditEntryView[] = [];
  @state() private next: number | null = null;
  @state() private loading = false;
  @state() private error: Error | undefined;
  @state() private filter = '';

  override connectedCallback(): void {
    super.connectedCallback();
    void this.#load();
  }

  async #load(before?: number): Promise<void> {
    this.loading = true;
    this.error = undefined;
    try {
      const page = await this.data.api.get<AuditPage>(`/api/v1/audit?limit=${PAGE}${before === undefined ? '' : `&before=${before}`}`);
      this.entries = before === undefined ? page.entries : mergeAuditPages([this.entries, page.entries]);
      this.next = page.next;
    } catch (error) {
      this.error = error as Error;
    } finally {
      this.loading = false;
    }
  }

  override render() {
    const head = html`<h1>Audit log</h1>`;
    if (this.loading && this.entries.length === 0) return html`${head}<div class="card">${loadingState('the audit log')}</div>`;
    if (this.error && this.entries.length === 0) return html`${head}<div class="card">${errorState(this.error, () => void this.#load())}</div>`;
    if (this.entries.length === 0) return html`${head}<div class="card">${emptyState('Nothing recorded yet', 'Logins, token and user changes, operator actions and revisions appear here.')}</div>`;
    const now = Date.now();
    const rows = filterAudit(this.entries.map(auditRow), this.filter);
    return html`${head}
      <div class="tools">
        <input type="search" placeholder="Filter by actor, action, target or outcome" aria-label="Filter the audit log" .value=${this.filter}
          @input=${(e: Event) => (this.filter = (e.target as HTMLInputElement).value)} />
        <button @click=${() => void this.#load()} ?disabled=${this.loading}>Refresh</button>
        <span class="muted"><code>deployx audit verify</code> checks the hash chain on the server.</span>
      </div>
      <div class="card list">
        <table>
          <thead><tr><th>#</th><th>When</th><th>Actor</th><th>Action</th><th>Target</th><th>Outcome</th><th>Details</th></tr></thead>
          <tbody>
            ${rows.map(
              (r) => html`<tr data-seq=${r.seq} data-action=${r.action}>
                <td class="seq">${r.seq}</td>
                <td title=${formatTimestamp(r.at)}>${relativeTime(r.at, now)}</td>
                <td><span class="kind">${r.actorKind}</span>${r.actorName}</td>
                <td><code>${r.action}</code></td>
                <td>${r.target}</td>
                <td><span class="badge s-${r.tone}">${r.outcome}</span></td>
                <td class="details">${r.details.join(' ')}</td>
              </tr>`,
            )}
          </tbody>
        </table>
        ${this.next !== null
          ? html`<div class="more"><button @click=${() => void this.#load(this.next!)} ?disabled=${this.loading}>${this.loading ? 'Loading…' : 'Older entries'}</button></div>`
          : nothing}
        ${this.error ? html`<div class="more">${errorState(this.error)}</div>` : nothing}
      </div>`;
  }
}

declare global {
  interface HTMLElementTagNameMap {
    'dx-audit': DxAudit;
  }
}
