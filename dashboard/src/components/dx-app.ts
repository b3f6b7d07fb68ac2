// The shell: session gate (login page or the app), navigation, theme, connection banner, the bell
// and toasts, and the page for the current route.
import { LitElement, css, html, nothing } from 'lit';
import { customElement, state } from 'lit/decorators.js';
import type { SessionInfo } from '../../../schemas/protocol.ts';
import { ApiClient, ApiError } from '../data/api.ts';
import { FleetData } from '../data/fleet-data.ts';
import { applyTheme, initialTheme, type Theme } from '../data/prefs.ts';
import { parseRoute, sectionOf, type Route } from '../view-model/route.ts';
import { DataController } from './data-controller.ts';
import { NAVIGATE } from './events.ts';
import { base } from './styles.ts';
import './dx-login.ts';
import './dx-overview.ts';
import './dx-devices.ts';
import './dx-device-detail.ts';
import './dx-revisions.ts';
import './dx-rollouts.ts';
import './dx-notifications.ts';
import './dx-audit.ts';

type Phase = { kind: 'checking' } | { kind: 'login'; message?: string } | { kind: 'ready' } | { kind: 'unreachable'; error: Error };

@customElement('dx-app')
export class DxApp extends LitElement {
  static override styles = [
    base,
    css`
      :host { min-height: 100vh; display: flex; flex-direction: column; }
      header {
        position: sticky; top: 0; z-index: 20; display: flex; align-items: center; gap: 20px; padding: 0 20px; height: 56px;
        background: var(--bg-raised); border-bottom: 1px solid var(--border);
      }
      .brand { display: flex; align-items: center; gap: 8px; font-weight: 700; font-size: 16px; color: var(--text); }
      .brand img { width: 24px; height: 24px; }
      nav { display: flex; gap: 4px; }
      nav a { color: var(--text-muted); padding: 6px 10px; border-radius: 7px; font-weight: 500; }
      nav a:hover { background: var(--bg-hover); text-decoration: none; color: var(--text); }
      nav a[aria-current='page'] { color: var(--text); background: var(--bg-hover); }
      .user { display: flex; align-items: center; gap: 10px; color: var(--text-muted); font-size: 13px; }
      .role { font-size: 11px; text-transform: uppercase; letter-spacing: 0.05em; }
      .icon { width: 34px; height: 34px; justify-content: center; padding: 0; }
      main { flex: 1; padding: 20px; max-width: 1480px; width: 100%; margin: 0 auto; min-width: 0; }
      .banner { padding: 8px 20px; text-align: center; font-weight: 500; background: var(--warn-bg); color: var(--warn); border-bottom: 1px solid var(--border); }
      .live { display: inline-flex; align-items: center; gap: 6px; font-size: 12px; color: var(--text-muted); }
      .live::before { content: ''; width: 8px; height: 8px; border-radius: 50%; background: var(--ok); }
      .live.off::before { background: var(--warn); }
      .center { display: grid; place-items: center; min-height: 100vh; }
      @media (max-width: 760px) { header { flex-wrap: wrap; height: auto; padding: 8px 12px; gap: 8px; } main { padding: 12px; } }
    `,
  ];

  readonly api = new ApiClient();
  @state() data: FleetData | undefined;
  @state() private phase: Phase = { kind: 'checking' };
  @state() private route: Route = parseRoute(location.pathname);
  @state() private theme: Theme = initialTheme();

  constructor() {
    super();
    new DataController(this, ['connection', 'session']);
    this.api.onUnauthorized(() => this.#sessionLost());
  }

  override connectedCallback(): void {
    super.connectedCallback();
    applyTheme(this.theme, false);
    window.addEventListener('popstate', this.#onPopState);
    this.addEventListener(NAVIGATE, this.#onNavigate);
    this.addEventListener('click', this.#onClick);
    void this.#checkSession();
  }

  override disconnectedCallback(): void {
    super.disconnectedCallback();
    window.removeEventListener('popstate', this.#onPopState);
    this.removeEventListener(NAVIGATE, this.#onNavigate);
    this.removeEventListener('click', this.#onClick);
    this.data?.stop();
  }

  async #checkSession(): Promise<void> {
    try {
      this.#startSession(await this.api.session());
    } catch (error) {
      if (error instanceof ApiError && error.unauthenticated) this.phase = { kind: 'login' };
      else {
        this.phase = { kind: 'unreachable', error: error as Error };
        setTimeout(() => void this.#checkSession(), 2000);
      }
    }
  }

  #startSession(session: SessionInfo): void {
    this.data?.stop();
    const data = new FleetData(this.api, session);
    data.onSessionLost = () => this.#sessionLost();
    this.data = data;
    this.phase = { kind: 'ready' };
    data.start();
  }

  #sessionLost(): void {
    if (this.phase.kind !== 'ready') return;
    this.data?.stop();
    this.data = undefined;
    this.phase = { kind: 'login', message: 'Your session has ended. Sign in again.' };
  }

  async #logout(): Promise<void> {
    try {
      await this.api.logout();
    } catch {
      // The cookie is cleared by the server when it answers; if it does not, the session expires.
    }
    this.data?.stop();
    this.data = undefined;
    this.phase = { kind: 'login' };
  }

  #navigate(path: string, replace = false): void {
    if (path !== location.pathname + location.search) {
      if (replace) history.replaceState(null, '', path);
      else history.pushState(null, '', path);
    }
    this.route = parseRoute(location.pathname);
    window.scrollTo(0, 0);
  }

  readonly #onPopState = () => {
    this.route = parseRoute(location.pathname);
  };

  readonly #onNavigate = (event: CustomEvent<{ path: string }>) => this.#navigate(event.detail.path);

  /** Same-origin links anywhere in the app (shadow roots included) navigate without a reload. */
  readonly #onClick = (event: MouseEvent) => {
    if (event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
    const anchor = event.composedPath().find((n): n is HTMLAnchorElement => n instanceof HTMLAnchorElement);
    if (!anchor || anchor.target === '_blank' || anchor.hasAttribute('download')) return;
    const url = new URL(anchor.href, location.href);
    if (url.origin !== location.origin || url.pathname.startsWith('/api/')) return;
    event.preventDefault();
    this.#navigate(url.pathname + url.search);
  };

  #toggleTheme(): void {
    this.theme = this.theme === 'dark' ? 'light' : 'dark';
    applyTheme(this.theme, true);
  }

  override render() {
    switch (this.phase.kind) {
      case 'checking':
        return html`<div class="center"><span class="muted"><span class="spinner"></span> Connecting to DeployX…</span></div>`;
      case 'unreachable':
        return html`<div class="center"><div class="state error" role="alert"><strong>The server cannot be reached</strong>Retrying every few seconds…</div></div>`;
      case 'login':
        return html`<dx-login .api=${this.api} .message=${this.phase.message} @dx-login=${(e: CustomEvent<SessionInfo>) => this.#startSession(e.detail)}></dx-login>`;
      case 'ready':
        return this.#renderApp();
    }
  }

  #renderApp() {
    const data = this.data!;
    const section = sectionOf(this.route);
    const link = (path: string, name: string, key: string) => html`<a href=${path} aria-current=${section === key ? 'page' : 'false'}>${name}</a>`;
    const live = data.connection === 'live';
    return html`
      <header>
        <a class="brand" href="/"><img src="/favicon.svg" alt="" />DeployX</a>
        <nav aria-label="Main">
          ${link('/', 'Overview', 'overview')} ${link('/devices', 'Devices', 'devices')} ${link('/revisions', 'Revisions', 'revisions')}
          ${link('/rollouts', 'Rollouts', 'rollouts')} ${data.session.user.role === 'admin' ? link('/audit', 'Audit', 'audit') : nothing}
        </nav>
        <span class="spacer"></span>
        <span class="live ${live ? '' : 'off'}" data-connection=${data.connection}>${live ? 'Live' : data.connection === 'connecting' ? 'Connecting…' : 'Reconnecting…'}</span>
        <dx-notifications .data=${data}></dx-notifications>
        <button class="icon" title=${`Switch to the ${this.theme === 'dark' ? 'light' : 'dark'} theme`} aria-label="Toggle theme" @click=${this.#toggleTheme}>
          ${this.theme === 'dark'
            ? html`<svg width="18" height="18" viewBox="0 0 24 24" fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round" aria-hidden="true"><circle cx="12" cy="12" r="4"/><path d="M12 2v2M12 20v2M4.9 4.9l1.4 1.4M17.7 17.7l1.4 1.4M2 12h2M20 12h2M4.9 19.1l1.4-1.4M17.7 6.3l1.4-1.4"/></svg>`
            : html`<svg width="18" height="18" viewBox="0 0 24 24" fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round" stroke-linejoin="round" aria-hidden="true"><path d="M21 12.8A9 9 0 1 1 11.2 3a7 7 0 0 0 9.8 9.8z"/></svg>`}
        </button>
        <span class="user"><span>${data.session.user.name}${data.session.user.name === data.session.user.role ? nothing : html` <span class="role">${data.session.user.role}</span>`}</span><button @click=${this.#logout}>Sign out</button></span>
      </header>
      ${data.connection === 'reconnecting'
        ? html`<div class="banner" role="status">Connection to the server lost — reconnecting. What you see may be out of date.</div>`
        : nothing}
      <main>${this.#renderPage(data)}</main>
      <dx-toasts .data=${data}></dx-toasts>
    `;
  }

  #renderPage(data: FleetData) {
    const r = this.route;
    switch (r.page) {
      case 'overview':
        return html`<dx-overview .data=${data}></dx-overview>`;
      case 'devices':
        return html`<dx-devices .data=${data}></dx-devices>`;
      case 'device':
        return html`<dx-device-detail .data=${data} .deviceId=${r.id}></dx-device-detail>`;
      case 'revisions':
        return html`<dx-revisions .data=${data}></dx-revisions>`;
      case 'rollouts':
        return html`<dx-rollouts .data=${data}></dx-rollouts>`;
      case 'rollout':
        return html`<dx-rollouts .data=${data} .rolloutId=${r.id}></dx-rollouts>`;
      case 'audit':
        return html`<dx-audit .data=${data}></dx-audit>`;
      case 'not-found':
        return html`<div class="card state"><strong>No such page</strong><a href="/">Back to the overview</a></div>`;
    }
  }
}

declare global {
  interface HTMLElementTagNameMap {
    'dx-app': DxApp;
  }
}
