// Devices: every device in one table, filtered, sorted, and virtualised — only the rows in view
// are in the DOM, so 10,000 devices scroll as smoothly as forty. Filters live in the URL.
import { LitElement, css, html, nothing } from 'lit';
import { customElement, property, query, state } from 'lit/decorators.js';
import { guard } from 'lit/directives/guard.js';
import type { DeviceSummary } from '../../../schemas/protocol.ts';
import type { FleetData } from '../data/fleet-data.ts';
import {
  DEFAULT_SORT,
  DEVICE_STATES,
  EMPTY_FILTER,
  STATE_LABELS,
  filterChoices,
  filterDevices,
  filterFromQuery,
  filterToQuery,
  isFilterEmpty,
  osLabel,
  sortDevices,
  summarizeDevices,
  toggleSort,
  type DeviceFilter,
  type DeviceSort,
  type SortKey,
} from '../view-model/devices.ts';
import { relativeTime, shortRevision } from '../view-model/format.ts';
import { visibleWindow } from '../view-model/virtual-window.ts';
import { DataController } from './data-controller.ts';
import { navigateEvent } from './events.ts';
import { emptyState, errorState, loadingState } from './states.ts';
import { base } from './styles.ts';

const ROW_HEIGHT = 40;
const COLUMNS: Array<[SortKey, string]> = [
  ['name', 'Device'],
  ['state', 'State'],
  ['profiles', 'Profiles'],
  ['groups', 'Groups'],
  ['lastSeen', 'Last seen'],
  ['os', 'OS'],
  ['revision', 'Revision'],
];

@customElement('dx-devices')
export class DxDevices extends LitElement {
  static override styles = [
    base,
    css`
      .filters { display: flex; gap: 8px; flex-wrap: wrap; margin-bottom: 12px; align-items: center; }
      .filters input[type='search'] { flex: 1 1 220px; min-width: 160px; }
      .filters .label { width: 170px; }
      .table { border: 1px solid var(--border); border-radius: 10px; background: var(--bg-raised); overflow: hidden; }
      .cols { display: grid; grid-template-columns: minmax(140px, 1.6fr) 130px minmax(90px, 1fr) minmax(90px, 1fr) 100px minmax(110px, 1fr) 120px; align-items: center; }
      .head { border-bottom: 1px solid var(--border); background: var(--bg-sunken); }
      .head button { border: none; background: none; border-radius: 0; width: 100%; justify-content: flex-start; padding: 9px 10px; color: var(--text-muted); font-size: 12px; font-weight: 600; }
      .head button[aria-sort='ascending'], .head button[aria-sort='descending'] { color: var(--text); }
      .scroller { height: calc(100vh - 250px); min-height: 320px; overflow-y: auto; overflow-x: hidden; position: relative; contain: strict; }
      .spacer-y { position: relative; width: 100%; }
      .rows { position: absolute; left: 0; right: 0; top: 0; will-change: transform; }
      .r { height: ${ROW_HEIGHT}px; border-bottom: 1px solid var(--border); cursor: pointer; }
      .r:hover { background: var(--bg-hover); }
      .r > span { padding: 0 10px; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
      .name { font-weight: 600; display: flex; align-items: center; gap: 8px; }
      .online { width: 8px; height: 8px; border-radius: 50%; flex: none; background: var(--ok); }
      .online.off { background: var(--unknown); }
      .foot { display: flex; gap: 12px; padding: 8px 12px; border-top: 1px solid var(--border); color: var(--text-muted); font-size: 12px; }
      @media (max-width: 900px) { .cols { grid-template-columns: minmax(140px, 1fr) 120px 100px; } .cols > :nth-child(n + 4) { display: none; } }
    `,
  ];

  @property({ attribute: false }) data!: FleetData;
  @state() private filter: DeviceFilter = filterFromQuery(location.search);
  @state() private sort: DeviceSort = DEFAULT_SORT;
  @state() private listScrollTop = 0;
  @state() private viewport = 600;
  @state() private textDraft = this.filter.text;
  @query(".scroller") private scroller!: HTMLElement | null;

  #memo: { key: string; rows: DeviceSummary[] } | undefined;
  #choices: { version: number; value: ReturnType<typeof filterChoices>; summary: ReturnType<typeof summarizeDevices> } | undefined;
  #frame = 0;
  #textTimer: ReturnType<typeof setTimeout> | undefined;
  #resize = new ResizeObserver((entries) => {
    const h = entries[0]?.contentRect.height;
    if (h && Math.abs(h - this.viewport) > 1) this.viewport = h;
  });

  constructor() {
    super();
    new DataController(this, ['devices']);
  }

  override disconnectedCallback(): void {
    super.disconnectedCallback();
    this.#resize.disconnect();
    cancelAnimationFrame(this.#frame);
    clearTimeout(this.#textTimer);
  }

  override updated(): void {
    if (this.scroller) this.#resize.observe(this.scroller);
  }

  #rows(): DeviceSummary[] {
    const key = `${this.data.devicesVersion}|${JSON.stringify(this.filter)}|${this.sort.key}|${this.sort.direction}`;
    if (this.#memo?.key !== key) this.#memo = { key, rows: sortDevices(filterDevices([...this.data.devices.values()], this.filter), this.sort) };
    return this.#memo.rows;
  }

  #setFilter(patch: Partial<DeviceFilter>): void {
    this.filter = { ...this.filter, ...patch };
    history.replaceState(null, '', location.pathname + filterToQuery(this.filter));
    if (this.scroller) this.scroller.scrollTop = 0;
    this.listScrollTop = 0;
  }

  #onScroll = (event: Event) => {
    const target = event.currentTarget as HTMLElement;
    if (this.#frame) return;
    this.#frame = requestAnimationFrame(() => {
      this.#frame = 0;
      this.listScrollTop = target.scrollTop;
    });
  };

  #onText(value: string): void {
    this.textDraft = value;
    clearTimeout(this.#textTimer);
    this.#textTimer = setTimeout(() => this.#setFilter({ text: value }), 120);
  }

  #open(row: DeviceSummary, event: MouseEvent): void {
    if (event.composedPath().some((n) => n instanceof HTMLAnchorElement)) return;
    this.dispatchEvent(navigateEvent(`/devices/${encodeURIComponent(row.id)}`));
  }

  override render() {
    const d = this.data;
    if (d.devicesLoad.loading && !d.devicesLoad.value) return html`<h1>Devices</h1><div class="card">${loadingState('devices')}</div>`;
    if (d.devicesLoad.error && !d.devicesLoad.value) return html`<h1>Devices</h1><div class="card">${errorState(d.devicesLoad.error, () => d.loadDevices())}</div>`;
    if (d.devices.size === 0) {
      return html`<h1>Devices</h1><div class="card">${emptyState('No devices yet', html`<div>Create an enrollment token with <code>deployx token create --name N</code> and start an agent with it.</div>`)}</div>`;
    }
    // Derived once per device change, not once per scrolled frame.
    if (this.#choices?.version !== d.devicesVersion) {
      this.#choices = { version: d.devicesVersion, value: filterChoices(d.devices.values()), summary: summarizeDevices(d.devices.values()) };
    }
    const { value: choices, summary } = this.#choices;
    const rows = this.#rows();
    const w = visibleWindow({ scrollTop: this.listScrollTop, viewportHeight: this.viewport, rowHeight: ROW_HEIGHT, total: rows.length, overscan: 8 });
    const now = Date.now();
    return html`
      <h1>Devices</h1>
      ${guard([d.devicesVersion, this.filter, this.textDraft], () => this.#filters(choices, summary))}
      <div class="table" role="table" aria-label="Devices" aria-rowcount=${rows.length}>
        <div class="cols head" role="row">
          ${COLUMNS.map(([key, label]) => {
            const sorted = this.sort.key === key ? (this.sort.direction === 'asc' ? 'ascending' : 'descending') : 'none';
            return html`<button role="columnheader" aria-sort=${sorted} @click=${() => (this.sort = toggleSort(this.sort, key))}>${label}${sorted === 'ascending' ? ' ▲' : sorted === 'descending' ? ' ▼' : ''}</button>`;
          })}
        </div>
        ${rows.length === 0
          ? emptyState('No device matches these filters', html`<div><button @click=${() => { this.textDraft = ''; this.#setFilter(EMPTY_FILTER); }}>Clear filters</button></div>`)
          : html`<div class="scroller" @scroll=${this.#onScroll}>
              <div class="spacer-y" style="height:${w.totalHeight}px">
                <div class="rows" style="transform:translateY(${w.offsetTop}px)">
                  ${rows.slice(w.start, w.end).map((row, i) => this.#row(row, w.start + i, now))}
                </div>
              </div>
            </div>`}
        <div class="foot" aria-live="polite"><span data-testid="device-count">${rows.length === summary.total ? `${summary.total} devices` : `${rows.length} of ${summary.total} devices`}</span><span class="spacer"></span><span>${summary.convergedPercent} % in sync</span></div>
      </div>
    `;
  }

  #filters(choices: ReturnType<typeof filterChoices>, summary: ReturnType<typeof summarizeDevices>) {
    return html`<div class="filters" role="search">
        <input type="search" placeholder="Search name, OS, label, profile, revision…" aria-label="Search devices" .value=${this.textDraft} @input=${(e: InputEvent) => this.#onText((e.target as HTMLInputElement).value)} />
        <select aria-label="State" .value=${this.filter.state} @change=${(e: Event) => this.#setFilter({ state: (e.target as HTMLSelectElement).value as DeviceFilter['state'] })}>
          <option value="all">All states (${summary.total})</option>
          ${DEVICE_STATES.map((s) => html`<option value=${s} ?selected=${this.filter.state === s}>${STATE_LABELS[s]} (${summary.byState[s]})</option>`)}
        </select>
        <select aria-label="Connection" .value=${this.filter.connection} @change=${(e: Event) => this.#setFilter({ connection: (e.target as HTMLSelectElement).value as DeviceFilter['connection'] })}>
          <option value="all">Online and offline</option>
          <option value="online" ?selected=${this.filter.connection === 'online'}>Online (${summary.online})</option>
          <option value="offline" ?selected=${this.filter.connection === 'offline'}>Offline (${summary.offline})</option>
        </select>
        <select aria-label="Group" .value=${this.filter.group} @change=${(e: Event) => this.#setFilter({ group: (e.target as HTMLSelectElement).value })}>
          <option value="">All groups</option>
          ${choices.groups.map(([g, n]) => html`<option value=${g} ?selected=${this.filter.group === g}>${g} (${n})</option>`)}
          ${this.filter.group && !choices.groups.some(([g]) => g === this.filter.group)
            ? html`<option value=${this.filter.group} selected>${this.filter.group} (no device is in it)</option>`
            : nothing}
        </select>
        <input class="label" list="label-choices" placeholder="label=value" aria-label="Label" .value=${this.filter.label} @change=${(e: Event) => this.#setFilter({ label: (e.target as HTMLInputElement).value })} />
        <datalist id="label-choices">${choices.labels.slice(0, 500).map(([l]) => html`<option value=${l}></option>`)}</datalist>
        ${isFilterEmpty(this.filter) ? nothing : html`<button @click=${() => { this.textDraft = ''; this.#setFilter(EMPTY_FILTER); }}>Clear filters</button>`}
      </div>`;
  }

  #row(row: DeviceSummary, index: number, now: number) {
    return html`<div class="cols r" role="row" aria-rowindex=${index + 1} data-device=${row.id} data-state=${row.state} @click=${(e: MouseEvent) => this.#open(row, e)}>
      <span class="name"><span class="online ${row.online ? '' : 'off'}" title=${row.online ? 'online' : 'offline'}></span><a href="/devices/${encodeURIComponent(row.id)}">${row.name}</a></span>
      <span><span class="badge s-${row.state}" title=${row.reason}>${STATE_LABELS[row.state] ?? row.state}</span></span>
      <span title=${row.profiles.join(', ')}>${row.profiles.join(', ') || '—'}</span>
      <span title=${row.groups.join(', ')}>${row.groups.join(', ') || '—'}</span>
      <span class="muted" title=${row.lastSeenAt ?? ''}>${row.online ? 'now' : relativeTime(row.lastSeenAt, now)}</span>
      <span>${osLabel(row) || '—'}</span>
      <span class="mono">${shortRevision(row.revision)}</span>
    </div>`;
  }
}
