// The sign-in page. Dispatches `dx-login` with the SessionInfo when the server accepts.
import { LitElement, css, html } from 'lit';
import { customElement, property, state } from 'lit/decorators.js';
import { ApiError, type ApiClient } from '../data/api.ts';
import { base } from './styles.ts';

@customElement('dx-login')
export class DxLogin extends LitElement {
  static override styles = [
    base,
    css`
      :host { min-height: 100vh; display: grid; place-items: center; padding: 16px; }
      form { width: min(360px, 100%); display: grid; gap: 14px; }
      .brand { display: flex; align-items: center; gap: 10px; font-size: 22px; font-weight: 700; margin-bottom: 4px; }
      .brand img { width: 34px; height: 34px; }
      label { display: grid; gap: 6px; font-weight: 500; font-size: 13px; }
      input { padding: 9px 12px; }
      button { justify-content: center; padding: 9px; }
      .error { color: var(--err); background: var(--err-bg); border-radius: 7px; padding: 8px 10px; font-size: 13px; }
      .note { color: var(--text-muted); background: var(--info-bg); border-radius: 7px; padding: 8px 10px; font-size: 13px; }
    `,
  ];

  @property({ attribute: false }) api!: ApiClient;
  @property() message: string | undefined;
  @state() private error = '';
  @state() private busy = false;

  async #submit(event: SubmitEvent): Promise<void> {
    event.preventDefault();
    const form = new FormData(event.target as HTMLFormElement);
    this.busy = true;
    this.error = '';
    try {
      const session = await this.api.login(String(form.get('name') ?? ''), String(form.get('password') ?? ''));
      this.dispatchEvent(new CustomEvent('dx-login', { detail: session, bubbles: true, composed: true }));
    } catch (error) {
      const e = error as ApiError;
      this.error =
        e instanceof ApiError && e.code === 'auth.bad-credentials'
          ? 'Wrong name or password.'
          : e instanceof ApiError && e.code === 'auth.throttled'
            ? 'Too many attempts. Wait a minute and try again.'
            : e instanceof ApiError && e.code === 'network'
              ? 'The server cannot be reached.'
              : e.message;
    } finally {
      this.busy = false;
    }
  }

  override render() {
    return html`
      <form class="card" @submit=${this.#submit} aria-label="Sign in">
        <div class="brand"><img src="/favicon.svg" alt="" />DeployX</div>
        <div class="muted">Sign in to watch your fleet converge.</div>
        ${this.message && !this.error ? html`<div class="note" role="status">${this.message}</div>` : ''}
        ${this.error ? html`<div class="error" role="alert">${this.error}</div>` : ''}
        <label>Name <input name="name" autocomplete="username" required autofocus /></label>
        <label>Password <input name="password" type="password" autocomplete="current-password" required /></label>
        <button class="primary" type="submit" ?disabled=${this.busy}>${this.busy ? 'Signing in…' : 'Sign in'}</button>
      </form>
    `;
  }
}
