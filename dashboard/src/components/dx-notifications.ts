// The bell (unread count and the list) and the live toasts.
import { LitElement, css, html, nothing } from 'lit';
import { customElement, property, state } from 'lit/decorators.js';
import type { UiNotification } from '../../../schemas/protocol.ts';
import type { FleetData } from '../data/fleet-data.ts';
import { relativeTime } from '../view-model/format.ts';
import { badgeText, subjectRoute, toastsFor } from '../view-model/notifications.ts';
import { routePath } from '../view-model/route.ts';
import { DataController } from './data-controller.ts';
import { base } from './styles.ts';

const levelClass = (n: UiNotification) => `s-${n.level === 'success' ? 'ok' : n.level}`;

function item(n: UiNotification, now: number) {
  const route = subjectRoute(n.subject);
  const title = route ? html`<a href=${routePath(route)}>${n.title}</a>` : n.title;
  return html`<div class="item">
    <span class="dot ${levelClass(n)}"></span>
    <div><div class="title">${title}</div>${n.message ? html`<div class="msg">${n.message}</div>` : nothing}<div class="when">${relativeTime(n.at, now)}</div></div>
  </div>`;
}

const itemStyles = css`
  .item { display: flex; gap: 10px; padding: 10px 12px; border-bottom: 1px solid var(--border); }
  .item:last-child { border-bottom: none; }
  .dot { width: 8px; height: 8px; border-radius: 50%; margin-top: 6px; flex: none; background: currentColor; }
  .title { font-weight: 600; }
  .msg { color: var(--text-muted); font-size: 13px; word-break: break-word; }
  .when { color: var(--text-muted); font-size: 12px; }
`;

@customElement('dx-notifications')
export class DxNotifications extends LitElement {
  static override styles = [
    base,
    itemStyles,
    css`
      :host { position: relative; }
      .bell { position: relative; width: 34px; height: 34px; justify-content: center; padding: 0; }
      .count { position: absolute; top: -5px; right: -6px; min-width: 18px; height: 18px; padding: 0 4px; border-radius: 9px; background: var(--err); color: #fff; font-size: 11px; font-weight: 700; display: grid; place-items: center; }
      .panel { position: absolute; right: 0; top: 42px; width: min(380px, 92vw); max-height: 70vh; overflow: auto; background: var(--bg-raised); border: 1px solid var(--border); border-radius: 10px; box-shadow: var(--shadow); z-index: 30; }
      .head { display: flex; align-items: center; padding: 10px 12px; border-bottom: 1px solid var(--border); font-weight: 600; }
    `,
  ];

  @property({ attribute: false }) data!: FleetData;
  @state() private open = false;

  constructor() {
    super();
    new DataController(this, ['notifications']);
  }

  #toggle(): void {
    this.open = !this.open;
    if (this.open) this.data.markAllRead();
  }

  override render() {
    const unread = this.data.unread;
    const badge = badgeText(unread);
    const now = Date.now();
    return html`
      <button class="bell" aria-label=${`Notifications${unread ? `, ${unread} unread` : ''}`} aria-expanded=${this.open} @click=${this.#toggle}>
        <svg width="18" height="18" viewBox="0 0 24 24" fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round" stroke-linejoin="round" aria-hidden="true"><path d="M6 8a6 6 0 0 1 12 0c0 7 3 9 3 9H3s3-2 3-9"/><path d="M10.3 21a1.94 1.94 0 0 0 3.4 0"/></svg>${badge ? html`<span class="count" data-unread=${unread}>${badge}</span>` : nothing}
      </button>
      ${this.open
        ? html`<div class="panel" role="dialog" aria-label="Notifications" @click=${(e: Event) => (e.composedPath().some((n) => n instanceof HTMLAnchorElement) ? (this.open = false) : null)}>
            <div class="head">Notifications<span class="spacer"></span><button @click=${() => (this.open = false)}>Close</button></div>
            ${this.data.notifications.length === 0
              ? html`<div class="state"><strong>Nothing yet</strong>Agents connecting, rollouts finishing and rejected revisions show up here.</div>`
              : this.data.notifications.slice(0, 50).map((n) => item(n, now))}
          </div>`
        : nothing}
    `;
  }
}

@customElement('dx-toasts')
export class DxToasts extends LitElement {
  static override styles = [
    base,
    itemStyles,
    css`
      :host { position: fixed; right: 16px; bottom: 16px; z-index: 40; display: grid; gap: 8px; width: min(360px, calc(100vw - 32px)); }
      .toast { position: relative; padding-right: 24px; background: var(--bg-raised); border: 1px solid var(--border); border-radius: 10px; box-shadow: var(--shadow); animation: in 0.18s ease-out; }
      .toast .item { border: none; }
      .close { position: absolute; top: 6px; right: 6px; padding: 2px 6px; border: none; background: none; color: var(--text-muted); }
      @keyframes in { from { transform: translateY(8px); opacity: 0; } }
    `,
  ];

  @property({ attribute: false }) data!: FleetData;
  @state() private toasts: UiNotification[] = [];

  constructor() {
    super();
    new DataController(this, ['toast'], (_topic, detail) => this.#show(detail.notifications ?? []));
  }

  #show(incoming: UiNotification[]): void {
    const fresh = toastsFor(incoming);
    if (fresh.length === 0) return;
    this.toasts = [...fresh, ...this.toasts].slice(0, 4);
    for (const n of fresh) setTimeout(() => this.#dismiss(n.seq), n.level === 'error' ? 10_000 : 6_000);
  }

  #dismiss(seq: number): void {
    this.toasts = this.toasts.filter((t) => t.seq !== seq);
  }

  override render() {
    const now = Date.now();
    return this.toasts.map(
      (n) => html`<div class="toast" role=${n.level === 'error' ? 'alert' : 'status'} data-kind=${n.kind}>
        ${item(n, now)}<button class="close" aria-label="Dismiss" @click=${() => this.#dismiss(n.seq)}>✕</button>
      </div>`,
    );
  }
}
