// The dashboard's `/ui` namespace: authenticated like the REST API (session cookie or a Bearer
// API token in `auth.token`), server → browser only.
//
// Deltas are coalesced and flushed every `flushMs`: a device that changed ten times in one
// interval is sent once, read fresh from the store, so 10,000 reporting devices cost a few
// messages a second however busy the loop is. Agent connects and disconnects become one
// notification per interval ("37 agents connected"), never a flood of toasts.
//
// Notifications are kept in a ring (newest `maxNotifications`) so a page that loads or
// reconnects reads the recent ones from `GET /api/v1/notifications?after=<seq>`; the convergence
// chart reads the ring of `StatsSample`s taken every `sampleMs`.
import type { Namespace, Server } from 'socket.io';
import {
  UI_NAMESPACE,
  type DeviceSummary,
  type JobDelta,
  type NotificationKind,
  type RevisionDelta,
  type RolloutDelta,
  type StatsSample,
  type UiClientToServer,
  type UiNotification,
  type UiServerToClient,
} from '../../../../schemas/protocol.ts';
import type { Access, Principal } from '../http/access.ts';
import { summariseDevice, type SummarySources } from '../http/device-summary.ts';
import type { Logger } from '../../../../schemas/log.ts';
import type { FleetEvent } from '../notify/events.ts';
import type { ProvisioningEvent } from '../../actions/provisioning.ts';
import type { Store } from '../store/store.ts';

export interface UiGatewayOptions {
  access: Access;
  store: Pick<Store, 'getDevicesMany' | 'countDevices'>;
  log: Logger;
  now: () => Date;
  summaries: SummarySources;
  /** A device declared in Git that none has enrolled as: its row (declared-devices.ts). */
  declared?: (id: string) => DeviceSummary | undefined;
  /** The revision in force, for `hello`. */
  revision: () => string | undefined;
  /** Devices in sync and online right now, for the chart. */
  counts: () => { online: number; inSync: number };
  flushMs?: number;
  sampleMs?: number;
  maxNotifications?: number;
  maxSamples?: number;
}

interface SocketData {
  principal: Principal;
}

type UiNamespace = Namespace<UiClientToServer, UiServerToClient, Record<string, never>, SocketData>;

const LEVELS: Record<FleetEvent['type'], UiNotification['level']> = {
  'revision.accepted': 'success',
  'revision.rejected': 'error',
  'rollout.wave.completed': 'info',
  'rollout.completed': 'success',
  'rollout.partial': 'warning',
  'rollout.failed': 'error',
  'rollout.halted': 'error',
  'device.failed': 'warning',
};

const TITLES: Record<FleetEvent['type'], string> = {
  'revision.accepted': 'Revision accepted',
  'revision.rejected': 'Revision rejected',
  'rollout.wave.completed': 'Rollout wave completed',
  'rollout.completed': 'Rollout completed',
  'rollout.partial': 'Rollout partial',
  'rollout.failed': 'Rollout failed',
  'rollout.halted': 'Rollout halted',
  'device.failed': 'Device failed',
};

export class UiGateway {
  readonly #ns: UiNamespace;
  readonly #dirty = new Set<string>();
  readonly #removed = new Set<string>();
  #jobs: JobDelta[] = [];
  readonly #connected: string[] = [];
  readonly #disconnected: string[] = [];
  readonly #notifications: UiNotification[] = [];
  readonly #samples: StatsSample[] = [];
  #seq = 0;
  #flushTimer: NodeJS.Timeout | undefined;
  #sampleTimer: NodeJS.Timeout | undefined;
  #sweepTimer: NodeJS.Timeout | undefined;
  #flushing: Promise<void> = Promise.resolve();
  #closed = false;

  constructor(
    io: Server,
    private readonly options: UiGatewayOptions,
  ) {
    this.#ns = io.of(UI_NAMESPACE) as UiNamespace;
    this.#ns.use(async (socket, next) => {
      try {
        const auth = socket.handshake.auth as { token?: unknown };
        const principal = await options.access.authenticate({
          cookie: socket.handshake.headers.cookie,
          ...(typeof auth.token === 'string' ? { authorization: `Bearer ${auth.token}` } : {}),
        });
        if (!principal) return next(new Error('auth.required'));
        socket.data.principal = principal;
        // Not kept for the socket's lifetime: the token, and the session cookie's secret.
        socket.handshake.auth = {};
        delete socket.handshake.headers.cookie;
        next();
      } catch (error) {
        options.log.error('ui handshake failed', { error });
        next(new Error('internal'));
      }
    });
    this.#ns.on('connection', (socket) => {
      const { name, role } = socket.data.principal;
      socket.emit('hello', { user: { name, role }, revision: options.revision() ?? null });
    });
    const sampleMs = options.sampleMs ?? 10_000;
    if (sampleMs > 0) {
      void this.#sample();
      this.#sampleTimer = setInterval(() => void this.#sample(), sampleMs);
      this.#sampleTimer.unref();
    }
    // Sessions expire; their sockets go with them.
    this.#sweepTimer = setInterval(() => this.#dropExpired(), 30_000);
    this.#sweepTimer.unref();
  }

  /** Number of dashboard sockets connected. */
  get connectedCount(): number {
    return this.#ns.sockets.size;
  }

  deviceChanged(id: string): void {
    this.#dirty.add(id);
    this.#schedule();
  }

  devicesChanged(ids: Iterable<string>): void {
    for (const id of ids) this.#dirty.add(id);
    this.#schedule();
  }

  deviceRemoved(id: string): void {
    this.#dirty.delete(id);
    this.#removed.add(id);
    this.#schedule();
  }

  agentConnected(id: string): void {
    this.#connected.push(id);
    this.deviceChanged(id);
  }

  agentDisconnected(id: string): void {
    this.#disconnected.push(id);
    this.deviceChanged(id);
  }

  job(delta: JobDelta): void {
    this.#jobs.push(delta);
    this.#schedule();
  }

  revision(delta: RevisionDelta): void {
    this.#ns.emit('revision', delta);
  }

  rollout(delta: RolloutDelta): void {
    this.#ns.emit('rollout', delta);
  }

  /** A fleet event (the notifiers' feed) as a dashboard notification. */
  fleetEvent(event: FleetEvent): void {
    this.notify({
      kind: event.type,
      level: LEVELS[event.type],
      title: TITLES[event.type],
      message: event.summary,
      subject: subjectOf(event),
    });
  }

  /** Bare-metal provisioning, as notifications (the device page reads its timeline). */
  provisioning(event: ProvisioningEvent): void {
    switch (event.type) {
      case 'discovered':
        // Coalesced by the provisioning actions (discovery-guard.ts): `count` machines since the last notice.
        if ((event.count ?? 1) > 1) {
          this.notify({ kind: 'provisioning.discovered', level: 'info', title: `${event.count} more machines discovered`, message: `${event.count} unknown machines network-booted in the last minute (the last: ${event.mac}); see the discovered list` });
          return;
        }
        this.notify({ kind: 'provisioning.discovered', level: 'info', title: 'Machine discovered', message: `${event.mac}${event.platform ? ` (${event.platform})` : ''} network-booted; commit a Device with its MAC to adopt it` });
        return;
      case 'started':
        this.notify({ kind: 'provisioning.started', level: 'info', title: 'Provisioning started', message: `${event.device} installs profile ${event.profile} as ${event.hostname}`, subject: `device:${event.device}` });
        this.deviceChanged(event.device);
        return;
      case 'finished':
        this.notify({
          kind: 'provisioning.finished',
          level: event.status === 'succeeded' ? 'success' : 'error',
          title: event.status === 'succeeded' ? 'Provisioned' : 'Provisioning failed',
          message: `${event.device}: task sequence ${event.status}`,
          subject: `device:${event.device}`,
        });
        return;
      case 'enrolled':
        this.notify({ kind: 'provisioning.enrolled', level: 'success', title: 'Provisioned device enrolled', message: `${event.device}'s agent connected for the first time`, subject: `device:${event.device}` });
        return;
    }
  }

  notify(input: { kind: NotificationKind; level: UiNotification['level']; title: string; message: string; subject?: string | undefined }): UiNotification {
    const notification: UiNotification = {
      seq: ++this.#seq,
      at: this.options.now().toISOString(),
      kind: input.kind,
      level: input.level,
      title: input.title,
      message: input.message,
      ...(input.subject === undefined ? {} : { subject: input.subject }),
    };
    this.#notifications.push(notification);
    const max = this.options.maxNotifications ?? 500;
    if (this.#notifications.length > max) this.#notifications.splice(0, this.#notifications.length - max);
    this.#ns.emit('notification', notification);
    return notification;
  }

  /** Notifications with `seq > after`, oldest first, at most `limit` (the newest ones). */
  notifications(after: number, limit = 200): UiNotification[] {
    const newer = this.#notifications.filter((n) => n.seq > after);
    return newer.slice(Math.max(0, newer.length - limit));
  }

  history(): StatsSample[] {
    return [...this.#samples];
  }

  /** Sends what is pending now (tests, and close). */
  flush(): Promise<void> {
    clearTimeout(this.#flushTimer);
    this.#flushTimer = undefined;
    this.#flushing = this.#flushing.then(() => this.#flush()).catch((error: unknown) => {
      this.options.log.error('ui flush failed', { error });
    });
    return this.#flushing;
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#sampleTimer);
    clearInterval(this.#sweepTimer);
    clearTimeout(this.#flushTimer);
    await this.#flushing;
    this.#ns.disconnectSockets(true);
  }

  #schedule(): void {
    if (this.#closed || this.#flushTimer) return;
    this.#flushTimer = setTimeout(() => void this.flush(), this.options.flushMs ?? 250);
    this.#flushTimer.unref();
  }

  async #flush(): Promise<void> {
    // Notifications are kept for pages that load later, watched or not.
    this.#announceAgents();
    const removed = [...this.#removed];
    const jobs = this.#jobs;
    const ids = [...this.#dirty];
    this.#removed.clear();
    this.#jobs = [];
    this.#dirty.clear();
    // Nobody is watching: nothing to read or encode (a page that connects re-reads the REST API).
    if (this.#ns.sockets.size === 0) return;
    if (removed.length > 0) this.#ns.emit('devices:removed', removed);
    if (jobs.length > 0) this.#ns.emit('jobs', jobs);
    for (let i = 0; i < ids.length; i += 2_000) {
      const chunk = ids.slice(i, i + 2_000);
      const devices = await this.options.store.getDevicesMany(chunk);
      const rows: DeviceSummary[] = [];
      const gone: string[] = [];
      for (const id of chunk) {
        const device = devices.get(id);
        if (device && !device.deletedAt) rows.push(summariseDevice(device, this.options.summaries));
        else {
          // Not enrolled: declared in Git (awaiting enrollment), or no longer a device at all.
          const declared = this.options.declared?.(id);
          if (declared) rows.push(declared);
          else if (this.options.declared) gone.push(id);
        }
      }
      if (rows.length > 0) this.#ns.emit('devices', rows);
      if (gone.length > 0) this.#ns.emit('devices:removed', gone);
    }
  }

  #announceAgents(): void {
    const phrase = (ids: string[], verb: string) =>
      ids.length === 1 ? `${ids[0]} ${verb}` : `${ids.length} agents ${verb} (${ids.slice(0, 3).join(', ')}${ids.length > 3 ? ', …' : ''})`;
    if (this.#connected.length > 0) {
      const ids = this.#connected.splice(0);
      this.notify({ kind: 'agent.connected', level: 'info', title: 'Agent connected', message: phrase(ids, 'connected'), ...(ids.length === 1 ? { subject: `device:${ids[0]}` } : {}) });
    }
    if (this.#disconnected.length > 0) {
      const ids = this.#disconnected.splice(0);
      this.notify({ kind: 'agent.disconnected', level: 'warning', title: 'Agent disconnected', message: phrase(ids, 'disconnected'), ...(ids.length === 1 ? { subject: `device:${ids[0]}` } : {}) });
    }
  }

  async #sample(): Promise<void> {
    try {
      const total = await this.options.store.countDevices();
      const { online, inSync } = this.options.counts();
      const sample: StatsSample = { at: this.options.now().toISOString(), total, online, inSync };
      this.#samples.push(sample);
      const max = this.options.maxSamples ?? 360;
      if (this.#samples.length > max) this.#samples.splice(0, this.#samples.length - max);
      this.#ns.emit('stats', sample);
    } catch (error) {
      if (!this.#closed) this.options.log.warn('stats sample failed', { error });
    }
  }

  #dropExpired(): void {
    const now = this.options.now().toISOString();
    for (const socket of this.#ns.sockets.values()) {
      const expiresAt = socket.data.principal.session?.expiresAt;
      if (expiresAt !== undefined && expiresAt <= now) socket.disconnect(true);
    }
  }
}

function subjectOf(event: FleetEvent): string | undefined {
  switch (event.type) {
    case 'revision.accepted':
    case 'revision.rejected':
      return `revision:${event.revision}`;
    case 'device.failed':
      return `device:${event.device}`;
    default:
      return `rollout:${event.rolloutId}`;
  }
}
