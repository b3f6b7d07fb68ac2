// Revisions: every commit the server saw, accepted or rejected; a rejected one lists its errors
// with file and line, linked to the repository's web view when `repoWebUrl` is configured.
// A commit the server verified shows its signer (identity; the key in the badge's title).
import { LitElement, css, html, nothing } from 'lit';
import { customElement, property } from 'lit/decorators.js';
import type { FleetData } from '../data/fleet-data.ts';
import { relativeTime, shortRevision, formatTimestamp } from '../view-model/format.ts';
import { commitTitle, errorLocation, errorsByFile, hiddenErrorCount, signerLabel, sortRevisions, sourceLink } from '../view-model/revisions.ts';
import type { RevisionView } from '../view-model/wire.ts';
import { DataController } from './data-controller.ts';
import { emptyState, errorState, loadingState } from './states.ts';
import { base } from './styles.ts';

@customElement('dx-revisions')
export class DxRevisions extends LitElement {
  static override styles = [
    base,
    css`
      .rev { padding: 12px 16px; border-bottom: 1px solid var(--border); }
      .rev:last-child { border-bottom: none; }
      .rev.rejected { box-shadow: inset 3px 0 0 var(--err); }
      .title { font-weight: 600; }
      .errors { margin: 10px 0 0; display: grid; gap: 8px; }
      .file { font-weight: 600; font-size: 13px; }
      .error { display: grid; grid-template-columns: auto 1fr; gap: 2px 12px; padding: 8px 10px; background: var(--err-bg); border-radius: 7px; font-size: 13px; }
      .error .loc { font-family: var(--mono); font-weight: 600; }
      .error .code { font-family: var(--mono); color: var(--err); }
      .hint { color: var(--text-muted); }
      .list { padding: 0; overflow: hidden; }
    `,
  ];

  @property({ attribute: false }) data!: FleetData;

  constructor() {
    super();
    new DataController(this, ['revisions']);
  }

  override render() {
    const r = this.data.revisions;
    if (r.loading && !r.value) return html`<h1>Revisions</h1><div class="card">${loadingState('revisions')}</div>`;
    if (r.error && !r.value) return html`<h1>Revisions</h1><div class="card">${errorState(r.error, () => this.data.loadRevisions())}</div>`;
    const { revisions, current, webUrlTemplate } = r.value!;
    if (revisions.length === 0) return html`<h1>Revisions</h1><div class="card">${emptyState('No revision seen yet', 'The server reads the fleet repository on start and on every push.')}</div>`;
    return html`<h1>Revisions</h1>
      <div class="card list">${sortRevisions(revisions).map((rev) => this.#revision(rev, rev.revision === current, webUrlTemplate ?? null))}</div>`;
  }

  #revision(rev: RevisionView, inForce: boolean, template: string | null) {
    const now = Date.now();
    const signer = signerLabel(rev);
    return html`<div class="rev ${rev.status}" data-oid=${rev.oid} data-status=${rev.status}>
      <div class="row">
        <span class="badge s-${rev.status}">${rev.status === 'accepted' ? 'Accepted' : 'Rejected'}</span>
        ${inForce ? html`<span class="badge s-info plain">In force</span>` : nothing}
        <code>${shortRevision(rev.revision)}</code>
        <span class="title">${commitTitle(rev.message)}</span>
        <span class="spacer"></span>
        ${signer ? html`<span class="badge s-ok plain" data-testid="revision-signer" title=${signer.title}>${signer.text}</span>` : nothing}
        <span class="muted" title=${formatTimestamp(rev.committedAt)}>${rev.author.replace(/ <.*>$/, '')} · ${relativeTime(rev.committedAt, now)}</span>
      </div>
      ${rev.status === 'rejected'
        ? html`<div class="errors">
            <div class="muted">${rev.errorCount} error${rev.errorCount === 1 ? '' : 's'} — the revision before it stays in force.</div>
            ${errorsByFile(rev.errors).map(
              (group) => html`<div class="file">${group.file || '(repository)'}</div>
                ${group.errors.map((e) => {
                  const link = sourceLink(template, { path: e.file, line: e.line, oid: rev.oid });
                  const loc = errorLocation(e);
                  return html`<div class="error" data-testid="revision-error">
                    <span class="loc">${link ? html`<a href=${link} target="_blank" rel="noopener">${loc}</a>` : loc}</span>
                    <span><span class="code">${e.code}</span> ${e.message}</span>
                    ${e.path ? html`<span></span><span class="hint">at <code>${e.path}</code></span>` : nothing}
                    ${e.suggestion ? html`<span></span><span class="hint">Did you mean <code>${e.suggestion}</code>?</span>` : nothing}
                  </div>`;
                })}`,
            )}
            ${hiddenErrorCount(rev) > 0
              ? html`<div class="muted" data-testid="revision-more-errors">${hiddenErrorCount(rev)} more — <code>deployx validate --ref ${rev.oid.slice(0, 12)}</code> lists them all.</div>`
              : nothing}
          </div>`
        : nothing}
    </div>`;
  }
}
