// The agent's live view of what it trusts of the server, shared by the Connection (server hello)
// and the DeviceLink (jobs), backed by a ServerTrustStore (state/server-trust.ts).
//
// Trusted keys start as the enrollment token's pin (used only when nothing is stored yet: a
// stored set, learnt from verified hellos, is newer than any token on the command line) and are
// replaced by the key list of each verified hello. The job high-water mark is read once per
// device and advanced (durably) one job at a time.
import type { KeyObject } from 'node:crypto';
import { parseEnrollmentToken } from '../../../schemas/enrollment-token.ts';
import { trustedKeyMap, verifyJob, verifyServerHello, type HelloVerdict, type JobVerdict, type TrustedServerKey } from '../core/verify-server.ts';
import { AgentError } from '../errors.ts';
import type { ServerTrustStore } from '../state/server-trust.ts';

export class ServerTrust {
  private keys: TrustedServerKey[] = [];
  private map: Map<string, KeyObject> = new Map();
  private loaded: Promise<void> | undefined;
  private readonly highest = new Map<string, number>();
  /** One job's check-and-advance at a time. */
  private turn: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly store: ServerTrustStore,
    private readonly token?: string,
  ) {}

  /** Reads the stored keys, or pins the token's fingerprint. Throws `trust.no-pin` when there is neither. */
  load(): Promise<void> {
    this.loaded ??= (async () => {
      const stored = await this.store.readKeys();
      if (stored !== undefined && stored.length > 0) {
        this.set(stored);
        return;
      }
      const pin = this.token === undefined ? undefined : parseEnrollmentToken(this.token).serverKey;
      if (pin === undefined) {
        this.loaded = undefined;
        throw new AgentError(
          'trust.no-pin',
          this.token === undefined
            ? 'no trusted server key in the state dir: enroll with a token from `deployx token create` (it carries the server key)'
            : 'the enrollment token carries no server key fingerprint (`<secret>.<64 hex>`): make a new one with `deployx token create`',
        );
      }
      await this.store.writeKeys([{ keyid: pin }]);
      this.set([{ keyid: pin }]);
    })();
    return this.loaded;
  }

  get trusted(): readonly TrustedServerKey[] {
    return this.keys;
  }

  /** Checks a hello; when it verifies, the keys it lists become the trusted set (stored first). */
  async acceptHello(envelope: unknown, challenge: string, deviceId: string | undefined): Promise<HelloVerdict> {
    await this.load();
    const verdict = verifyServerHello(envelope, { trusted: this.keys, challenge, ...(deviceId === undefined ? {} : { deviceId }) });
    if (!verdict.ok) return verdict;
    const next = verdict.keys.map((k) => ({ keyid: k.keyid, publicKey: k.publicKey }));
    if (!sameKeys(next, this.keys)) {
      await this.store.writeKeys(next);
      this.set(next);
    }
    return verdict;
  }

  /**
   * Verifies a job and, when it is new, stores its sequence as the high-water mark BEFORE
   * resolving. `holds(job)` says whether a `job.replayed` job is one this agent already holds or
   * finished (a redelivery): then the verdict is ok with `redelivery: true` and the mark is kept.
   */
  verifyAndAdvance(
    envelope: unknown,
    deviceId: string,
    now: () => Date,
    holds: (job: NonNullable<Extract<JobVerdict, { ok: false }>['job']>) => Promise<boolean>,
  ): Promise<(JobVerdict & { redelivery?: boolean }) | { ok: false; code: 'state.write-failed'; error: string }> {
    const run = this.turn.then(async () => {
      await this.load();
      let highest = this.highest.get(deviceId);
      if (highest === undefined) {
        highest = await this.store.readHighest(deviceId);
        this.highest.set(deviceId, highest);
      }
      const verdict = verifyJob(envelope, { trusted: this.map, deviceId, now: now(), highest });
      if (!verdict.ok) {
        if (verdict.code === 'job.replayed' && verdict.job !== undefined && (await holds(verdict.job))) {
          return { ok: true as const, job: verdict.job, sequence: highest, keyid: '', redelivery: true };
        }
        return { ...verdict, highest };
      }
      try {
        await this.store.writeHighest(deviceId, verdict.sequence);
      } catch {
        return { ok: false as const, code: 'state.write-failed' as const, error: 'the agent could not record the job sequence' };
      }
      this.highest.set(deviceId, verdict.sequence);
      return verdict;
    });
    this.turn = run.catch(() => undefined);
    return run;
  }

  private set(keys: TrustedServerKey[]): void {
    this.keys = keys;
    this.map = trustedKeyMap(keys);
  }
}

function sameKeys(a: readonly TrustedServerKey[], b: readonly TrustedServerKey[]): boolean {
  return a.length === b.length && a.every((k, i) => k.keyid === b[i]!.keyid && k.publicKey === b[i]!.publicKey);
}
