// The dashboard's live state: REST for the first view and after every (re)connect, then the `/ui`
// namespace's deltas. Elements read the fields and subscribe to topics; nothing here renders.
//
// Server restarts: socket.io-client reconnects by itself with backoff; on `connect` every list is
// fetched again (deltas sent while we were away are lost, the REST state is not), and deltas that
// arrive while that fetch runs are applied on top of its answer.
import { io, type Socket } from 'socket.io-client';
import { UI_NAMESPACE, type DeviceSummary, type DiscoveredMachine, type JobDelta, type ProvisioningTimeline, type SessionInfo, type StatsSample, type UiClientToServer, type UiNotification, type UiServerToClient } from '../../../schemas/protocol.ts';
import { appendSample } from '../view-model/chart.ts';
import { applyDeviceDelta } from '../view-model/devices.ts';
import { mergeNotifications, unreadCount } from '../view-model/notifications.ts';
import type { DeviceDetail, JobRecord, RevisionsResponse, RolloutDetail, RolloutView, StatsResponse } from '../view-model/wire.ts';
import { ApiError, type ApiClient } from './api.ts';

export type Topic = 'connection' | 'session' | 'devices' | 'stats' | 'revisions' | 'rollouts' | 'failures' | 'notifications' | 'jobs' | 'toast' | 'discovered';
export type ConnectionState = 'connecting' | 'live' | 'reconnecting';

export interface Loadable<T> {
  value: T | undefined;
  loading: boolean;
  error: Error | undefined;
}

export interface TopicDetail {
  /** `jobs`: the devices whose jobs changed. `toast`: the notifications to show. `devices`: ids changed. */
  deviceIds?: string[];
  notifications?: UiNotification[];
}

type Listener = (detail: TopicDetail) => void;

const DEVICE_PAGE = 10_000;
const HISTORY_MAX = 720;
const LAST_READ_KEY = 'deployx.notifications.lastRead';

function loadable<T>(): Loadable<T> {
  return { value: undefined, loading: true, error: undefined };
}

export class FleetData {
  connection: ConnectionState = 'connecting';
  session: SessionInfo;
  readonly devices = new Map<string, DeviceSummary>();
  /** Bumped on every change to `devices`: memo key for derived lists. */
  devicesVersion = 0;
  devicesLoad: Loadable<true> = loadable();
  stats: Loadable<StatsResponse> = loadable();
  history: StatsSample[] = [];
  revisions: Loadable<RevisionsResponse> = loadable();
  rollouts: Loadable<RolloutView[]> = loadable();
  failures: Loadable<JobRecord[]> = loadable();
  /** Machines that network-booted and no Device matches (empty when PXE is not served). */
  discovered: Loadable<DiscoveredMachine[]> = loadable();
  notifications: UiNotification[] = [];
  lastReadSeq: number;
  /** Set when the server refused the socket or an API call for lack of a session. */
  onSessionLost: (() => void) | undefined;

  readonly #listeners = new Map<Topic, Set<Listener>>();
  #socket: Socket<UiServerToClient, UiClientToServer> | undefined;
  #refreshing: Promise<void> | undefined;
  /** Device deltas received while the device list is being fetched, applied on top of it. */
  #buffered: { upserts: DeviceSummary[]; removed: string[] } | undefined;
  readonly #timers = new Map<string, ReturnType<typeof setTimeout>>();

  constructor(
    readonly api: ApiClient,
    session: SessionInfo,
  ) {
    this.session = session;
    this.lastReadSeq = Number(safeStorage()?.getItem(LAST_READ_KEY) ?? 0) || 0;
  }

  // ---- subscriptions ----

  subscribe(topics: Topic | readonly Topic[], listener: Listener): () => void {
    const list = typeof topics === 'string' ? [topics] : topics;
    for (const t of list) {
      let set = this.#listeners.get(t);
      if (!set) this.#listeners.set(t, (set = new Set()));
      set.add(listener);
    }
    return () => {
      for (const t of list) this.#listeners.get(t)?.delete(listener);
    };
  }

  #emit(topic: Topic, detail: TopicDetail = {}): void {
    for (const listener of [...(this.#listeners.get(topic) ?? [])]) {
      try {
        listener(detail);
      } catch (error) {
        console.error(`listener for ${topic} failed`, error);
      }
    }
  }

  // ---- lifecycle ----

  start(): void {
    if (this.#socket) return;
    const socket: Socket<UiServerToClient, UiClientToServer> = io(location.origin + UI_NAMESPACE, {
      transports: ['websocket'],
      withCredentials: true,
      reconnectionDelay: 500,
      reconnectionDelayMax: 3000,
    });
    this.#socket = socket;
    socket.on('connect', () => {
      this.#setConnection('live');
      void this.refresh();
    });
    socket.on('disconnect', (reason) => {
      this.#setConnection('reconnecting');
      // The server closed this socket on purpose (logout elsewhere, shutdown): socket.io does
      // not retry those by itself.
      if (reason === 'io server disconnect') this.#later('reconnect', 1000, () => socket.connect());
    });
    socket.on('connect_error', (error) => {
      this.#setConnection('reconnecting');
      if (error.message === 'auth.required' || error.message === 'auth.expired') {
        void this.#checkSession();
        return;
      }
      // A middleware refusal is not retried by socket.io; a transport error is.
      if (!socket.active) this.#later('reconnect', 2000, () => socket.connect());
    });
    socket.on('hello', (info) => {
      if (info.user.role !== this.session.user.role || info.user.name !== this.session.user.name) {
        this.session = { ...this.session, user: info.user };
        this.#emit('session');
      }
    });
    socket.on('devices', (rows) => this.#applyDevices(rows, []));
    socket.on('devices:removed', (ids) => this.#applyDevices([], ids));
    socket.on('jobs', (rows) => this.#onJobs(rows));
    socket.on('revision', () => this.#later('revisions', 200, () => this.loadRevisions()));
    socket.on('rollout', () => this.#later('rollouts', 300, () => this.loadRollouts()));
    socket.on('notification', (n) => this.#onNotifications([n], true));
    socket.on('stats', (sample) => {
      this.history = appendSample(this.history, sample, HISTORY_MAX);
      this.#emit('stats');
    });
  }

  stop(): void {
    this.#socket?.removeAllListeners();
    this.#socket?.disconnect();
    this.#socket = undefined;
    for (const t of this.#timers.values()) clearTimeout(t);
    this.#timers.clear();
    this.#listeners.clear();
  }

  /** Fetches every list again (first view, and after each reconnect). */
  refresh(): Promise<void> {
    this.#refreshing ??= Promise.all([this.loadDevices(), this.loadStats(), this.loadHistory(), this.loadRevisions(), this.loadRollouts(), this.loadFailures(), this.loadNotifications(), this.loadDiscovered()])
      .then(() => undefined)
      .finally(() => (this.#refreshing = undefined));
    return this.#refreshing;
  }

  // ---- loaders ----

  async loadDevices(): Promise<void> {
    this.#buffered = { upserts: [], removed: [] };
    this.devicesLoad = { ...this.devicesLoad, loading: true };
    this.#emit('devices');
    try {
      const rows: DeviceSummary[] = [];
      for (let offset = 0; ; offset += DEVICE_PAGE) {
        const page = await this.api.get<{ total: number; devices: DeviceSummary[] }>(`/api/v1/devices?limit=${DEVICE_PAGE}&offset=${offset}`);
        rows.push(...page.devices);
        if (page.devices.length < DEVICE_PAGE || rows.length >= page.total) break;
      }
      this.devices.clear();
      applyDeviceDelta(this.devices, rows);
      const late = this.#buffered;
      if (late) applyDeviceDelta(this.devices, late.upserts, late.removed);
      this.devicesLoad = { value: true, loading: false, error: undefined };
    } catch (error) {
      this.devicesLoad = { value: this.devicesLoad.value, loading: false, error: this.#failed(error) };
    } finally {
      this.#buffered = undefined;
      this.devicesVersion++;
      this.#emit('devices');
    }
  }

  loadStats(): Promise<void> {
    return this.#load('stats', () => this.api.get<StatsResponse>('/api/v1/stats'), (v) => (this.stats = v), () => this.stats);
  }

  async loadHistory(): Promise<void> {
    try {
      const { samples } = await this.api.get<{ samples: StatsSample[] }>('/api/v1/stats/history');
      let merged: StatsSample[] = [];
      for (const s of [...samples, ...this.history]) merged = appendSample(merged, s, HISTORY_MAX);
      this.history = merged;
    } catch (error) {
      this.#failed(error);
    }
    this.#emit('stats');
  }

  loadRevisions(): Promise<void> {
    return this.#load('revisions', () => this.api.get<RevisionsResponse>('/api/v1/revisions?limit=100'), (v) => (this.revisions = v), () => this.revisions);
  }

  loadRollouts(): Promise<void> {
    return this.#load(
      'rollouts',
      async () => (await this.api.get<{ rollouts: RolloutView[] }>('/api/v1/rollouts?limit=50')).rollouts,
      (v) => (this.rollouts = v),
      () => this.rollouts,
    );
  }

  loadFailures(): Promise<void> {
    return this.#load(
      'failures',
      async () => {
        const [failed, timedOut] = await Promise.all([
          this.api.get<{ jobs: JobRecord[] }>('/api/v1/jobs?state=failed&limit=20'),
          this.api.get<{ jobs: JobRecord[] }>('/api/v1/jobs?state=timed_out&limit=20'),
        ]);
        return [...failed.jobs, ...timedOut.jobs].sort((a, b) => Date.parse(b.finishedAt ?? b.createdAt) - Date.parse(a.finishedAt ?? a.createdAt)).slice(0, 20);
      },
      (v) => (this.failures = v),
      () => this.failures,
    );
  }

  loadDiscovered(): Promise<void> {
    return this.#load(
      'discovered',
      async () => (await this.api.optional<{ machines: DiscoveredMachine[] }>('/api/v1/provisioning/discovered'))?.machines ?? [],
      (v) => (this.discovered = v),
      () => this.discovered,
    );
  }

  async loadNotifications(): Promise<void> {
    try {
      const { notifications } = await this.api.get<{ notifications: UiNotification[] }>('/api/v1/notifications');
      this.#onNotifications(notifications, false);
    } catch (error) {
      this.#failed(error);
    }
  }

  device(id: string, signal?: AbortSignal): Promise<DeviceDetail> {
    return this.api.get<DeviceDetail>(`/api/v1/devices/${encodeURIComponent(id)}`, signal ? { signal } : {});
  }

  /** A device's provisioning state; undefined when DeployX did not provision it (404). */
  provisioning(id: string, signal?: AbortSignal): Promise<ProvisioningTimeline | undefined> {
    return this.api.optional<ProvisioningTimeline>(`/api/v1/devices/${encodeURIComponent(id)}/provisioning`, signal ? { signal } : {});
  }

  /** A rollout with its failed devices and every device's status. */
  rollout(id: string, signal?: AbortSignal): Promise<RolloutDetail> {
    return this.api.get<RolloutDetail>(`/api/v1/rollouts/${encodeURIComponent(id)}?devices=1`, signal ? { signal } : {});
  }

  async command(id: string, command: 'promote' | 'pause' | 'resume' | 'start-now', reason?: string): Promise<RolloutView> {
    const view = await this.api.post<RolloutView>(`/api/v1/rollouts/${encodeURIComponent(id)}/${command}`, reason === undefined ? undefined : { reason });
    this.#later('rollouts', 0, () => this.loadRollouts());
    return view;
  }

  // ---- notifications ----

  get unread(): number {
    return unreadCount(this.notifications, this.lastReadSeq);
  }

  markAllRead(): void {
    const top = this.notifications[0]?.seq ?? 0;
    if (top <= this.lastReadSeq) return;
    this.lastReadSeq = top;
    safeStorage()?.setItem(LAST_READ_KEY, String(top));
    this.#emit('notifications');
  }

  #onNotifications(incoming: UiNotification[], live: boolean): void {
    const known = new Set(this.notifications.map((n) => n.seq));
    const fresh = incoming.filter((n) => !known.has(n.seq));
    this.notifications = mergeNotifications(this.notifications, incoming);
    this.#emit('notifications');
    if (live && fresh.length > 0) this.#emit('toast', { notifications: fresh });
    if (live && fresh.some((n) => n.kind.startsWith('provisioning.'))) this.#later('discovered', 300, () => this.loadDiscovered());
  }

  // ---- deltas ----

  #applyDevices(upserts: DeviceSummary[], removed: string[]): void {
    if (this.#buffered) {
      this.#buffered.upserts.push(...upserts);
      this.#buffered.removed.push(...removed);
    }
    if (applyDeviceDelta(this.devices, upserts, removed)) {
      this.devicesVersion++;
      this.#emit('devices', { deviceIds: [...upserts.map((d) => d.id), ...removed] });
    }
  }

  #onJobs(rows: JobDelta[]): void {
    this.#emit('jobs', { deviceIds: [...new Set(rows.map((r) => r.deviceId))] });
    if (rows.some((r) => r.state === 'failed' || r.state === 'timed_out')) this.#later('failures', 1000, () => this.loadFailures());
    this.#later('stats', 2000, () => this.loadStats());
  }

  // ---- helpers ----

  async #load<T>(topic: Topic, fetcher: () => Promise<T>, set: (v: Loadable<T>) => void, get: () => Loadable<T>): Promise<void> {
    set({ ...get(), loading: true });
    this.#emit(topic);
    try {
      set({ value: await fetcher(), loading: false, error: undefined });
    } catch (error) {
      set({ value: get().value, loading: false, error: this.#failed(error) });
    }
    this.#emit(topic);
  }

  #failed(error: unknown): Error {
    if (error instanceof ApiError && error.unauthenticated) this.onSessionLost?.();
    return error instanceof Error ? error : new Error(String(error));
  }

  async #checkSession(): Promise<void> {
    try {
      await this.api.session();
      // Still logged in: the refusal was a race with a restart; try again shortly.
      this.#later('reconnect', 1000, () => this.#socket?.connect());
    } catch (error) {
      if (error instanceof ApiError && error.unauthenticated) this.onSessionLost?.();
      else this.#later('reconnect', 2000, () => this.#socket?.connect());
    }
  }

  #setConnection(state: ConnectionState): void {
    if (this.connection === state) return;
    this.connection = state;
    this.#emit('connection');
  }

  /** Runs `work` once after `ms`, however many times it is asked for meanwhile. */
  #later(key: string, ms: number, work: () => unknown): void {
    if (this.#timers.has(key)) return;
    this.#timers.set(
      key,
      setTimeout(() => {
        this.#timers.delete(key);
        void work();
      }, ms),
    );
  }
}

function safeStorage(): Storage | undefined {
  try {
    return globalThis.localStorage;
  } catch {
    return undefined;
  }
}
