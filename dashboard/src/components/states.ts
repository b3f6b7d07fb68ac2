// The designed loading, empty and error states every page uses, so none is ever blank.
import { html, type TemplateResult } from 'lit';

export function loadingState(what: string): TemplateResult {
  return html`<div class="state" role="status" aria-live="polite"><span class="spinner"></span> Loading ${what}…</div>`;
}

export function emptyState(title: string, hint: TemplateResult | string = ''): TemplateResult {
  return html`<div class="state empty"><strong>${title}</strong>${hint}</div>`;
}

export function errorState(error: Error, retry?: () => void): TemplateResult {
  const offline = (error as { code?: string }).code === 'network';
  return html`<div class="state error" role="alert">
    <strong>${offline ? 'The server cannot be reached' : 'Something went wrong'}</strong>
    <span>${offline ? 'The dashboard keeps trying; this page refreshes by itself when it is back.' : error.message}</span>
    ${retry ? html`<div><button @click=${retry}>Try again</button></div>` : ''}
  </div>`;
}
