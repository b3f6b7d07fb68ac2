// The server's Ed25519 signing keys (schemas/signing.ts), in `<data>/keys/`:
//
//   keyring.json         { version: 1, keys: [{ keyid, file, createdAt, retiredAt?, validUntil? }] }
//                        exactly one key has no `retiredAt`: the current one, which signs new work;
//                        a retired key stays valid (still signs, still listed to agents) until
//                        `validUntil`, then signs nothing and is no longer listed.
//   server-<hex12>.key   each key's private key, PKCS#8 PEM, mode 0600 (the directory 0700).
//
// Made at first start (`loadServerKeys` with `create: true`); `rotateServerKeys` (deployx keys
// rotate) adds a new current key and retires the old one for a grace period. A running server
// notices a rotation without a restart: `ServerKeys` looks at keyring.json's stat at most every
// `recheckMs` (2 s) when asked for keys, and re-reads it when it changed. Every file is written
// to a temp name, fsynced and renamed, so a reader sees the old keyring or the new one.
//
// Why every valid key signs during the grace period (DSSE allows several signatures): an agent
// that trusts only the old key (it was offline, or has not reconnected since the rotation) still
// verifies every job and hello; on its next connection the hello — signed by the old key too —
// teaches it the new one. When the grace period ends, the old key's signature stops appearing
// and the hello stops listing it, so agents drop it.
import { randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, statSync, writeSync } from 'node:fs';
import path from 'node:path';
import type { ServerPublicKey } from '../../../../schemas/protocol.ts';
import {
  generateSigningKeyPair,
  keyFingerprint,
  privateKeyFromPem,
  privateKeyToPem,
  publicKeyToPem,
  signingKey,
  type SigningKey,
} from '../../../../schemas/signing.ts';

export interface KeyringEntry {
  keyid: string;
  /** File name of the private key, in the keys directory. */
  file: string;
  createdAt: string;
  /** When it stopped being the current key. */
  retiredAt?: string;
  /** A retired key signs and is trusted until then. */
  validUntil?: string;
}

export interface Keyring {
  version: 1;
  keys: KeyringEntry[];
}

export class KeyringError extends Error {
  constructor(
    readonly code: 'keys.missing' | 'keys.corrupt',
    message: string,
  ) {
    super(message);
    this.name = 'KeyringError';
  }
}

export function keysDir(dataDir: string): string {
  return path.join(dataDir, 'keys');
}

export function keyringPath(dataDir: string): string {
  return path.join(keysDir(dataDir), 'keyring.json');
}

interface LoadedKey extends KeyringEntry {
  signer: SigningKey;
  publicKeyPem: string;
}

/** The keys valid at `now`, the current one first. */
function validAt(keys: readonly LoadedKey[], now: Date): LoadedKey[] {
  const t = now.getTime();
  const current = keys.filter((k) => k.retiredAt === undefined);
  const retired = keys
    .filter((k) => k.retiredAt !== undefined && k.validUntil !== undefined && Date.parse(k.validUntil) > t)
    .sort((a, b) => Date.parse(b.retiredAt!) - Date.parse(a.retiredAt!));
  return [...current, ...retired];
}

/** The server's signing keys, re-read when keyring.json changes (checked at most every recheckMs). */
export class ServerKeys {
  #keys: LoadedKey[];
  #stamp: string;
  #checkedAt = 0;
  readonly #recheckMs: number;

  private constructor(
    readonly dataDir: string,
    private readonly now: () => Date,
    recheckMs: number,
    onReload: ((keys: { current: string; valid: string[] }) => void) | undefined,
  ) {
    this.#recheckMs = recheckMs;
    this.#onReload = onReload;
    const { keys, stamp } = readKeys(dataDir);
    this.#keys = keys;
    this.#stamp = stamp;
    this.#checkedAt = Date.now();
  }

  readonly #onReload: ((keys: { current: string; valid: string[] }) => void) | undefined;

  static open(dataDir: string, options: { now?: () => Date; recheckMs?: number; onReload?: (keys: { current: string; valid: string[] }) => void } = {}): ServerKeys {
    return new ServerKeys(dataDir, options.now ?? (() => new Date()), options.recheckMs ?? 2_000, options.onReload);
  }

  /** Fingerprint of the key that signs new work. */
  get current(): string {
    return this.#valid()[0]!.keyid;
  }

  /** The keys that sign now, the current one first. */
  signers(): SigningKey[] {
    return this.#valid().map((k) => k.signer);
  }

  /** The public keys valid now, the current one first (what `server:hello` lists). */
  publicKeys(): ServerPublicKey[] {
    return this.#valid().map((k) => ({ keyid: k.keyid, publicKey: k.publicKeyPem }));
  }

  #valid(): LoadedKey[] {
    this.#recheck();
    const valid = validAt(this.#keys, this.now());
    if (valid.length === 0) throw new KeyringError('keys.corrupt', `${keyringPath(this.dataDir)} has no current key; run \`deployx keys rotate --data ${this.dataDir}\``);
    return valid;
  }

  #recheck(): void {
    const t = Date.now();
    if (t - this.#checkedAt < this.#recheckMs) return;
    this.#checkedAt = t;
    let stamp: string;
    try {
      stamp = statStamp(keyringPath(this.dataDir));
    } catch {
      return; // keep the keys in memory; a missing file is an operator's mistake, not a reason to stop signing
    }
    if (stamp === this.#stamp) return;
    try {
      const { keys, stamp: read } = readKeys(this.dataDir);
      this.#keys = keys;
      this.#stamp = read;
      const valid = validAt(keys, this.now());
      this.#onReload?.({ current: valid[0]?.keyid ?? '', valid: valid.map((k) => k.keyid) });
    } catch {
      // A half-written or broken keyring: keep signing with what we have; checked again later.
    }
  }
}

/**
 * The keyring of `dataDir`; with `create`, makes the first key when there is none (first start).
 * Throws KeyringError `keys.missing` (no keyring, not creating) or `keys.corrupt`.
 */
export function loadServerKeys(dataDir: string, options: { create?: boolean; now?: () => Date; recheckMs?: number; onReload?: (keys: { current: string; valid: string[] }) => void } = {}): ServerKeys {
  const now = options.now ?? (() => new Date());
  if (options.create) ensureKeyring(dataDir, now());
  return ServerKeys.open(dataDir, options);
}

/** Makes the first key when `dataDir` has no keyring. Returns whether it made one. */
export function ensureKeyring(dataDir: string, now: Date): boolean {
  try {
    statSync(keyringPath(dataDir));
    return false;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  const entry = writeNewKey(dataDir, now);
  writeKeyring(dataDir, { version: 1, keys: [entry] });
  return true;
}

export function readKeyring(dataDir: string): Keyring {
  const file = keyringPath(dataDir);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new KeyringError('keys.missing', `no server keys in ${keysDir(dataDir)}: start the server once (deployx serve --data ${dataDir}) to make one`);
    }
    throw error;
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new KeyringError('keys.corrupt', `${file} is not valid JSON; restore it from a backup`);
  }
  const keys = (value as Keyring | null)?.keys;
  if (!Array.isArray(keys) || !keys.every(isEntry) || keys.filter((k) => k.retiredAt === undefined).length !== 1) {
    throw new KeyringError('keys.corrupt', `${file} must list keys with exactly one current (not retired) key; restore it from a backup`);
  }
  return { version: 1, keys };
}

export interface Rotation {
  current: KeyringEntry;
  retired: KeyringEntry;
  /** Keys whose grace period had ended: their private key files were deleted. */
  pruned: string[];
}

/**
 * `deployx keys rotate`: a new key becomes current; the current one is retired and stays valid
 * for `graceMs`. Private key files of keys whose grace period ended are deleted (the keyring
 * keeps their record). A running server picks the change up within seconds.
 */
export function rotateServerKeys(dataDir: string, graceMs: number, now: Date): Rotation {
  const keyring = readKeyring(dataDir);
  const entry = writeNewKey(dataDir, now);
  const pruned: string[] = [];
  let retired: KeyringEntry | undefined;
  const keys = keyring.keys.map((k) => {
    if (k.retiredAt === undefined) {
      retired = { ...k, retiredAt: now.toISOString(), validUntil: new Date(now.getTime() + graceMs).toISOString() };
      return retired;
    }
    if (k.validUntil !== undefined && Date.parse(k.validUntil) <= now.getTime() && k.file !== '') {
      rmSync(path.join(keysDir(dataDir), k.file), { force: true });
      pruned.push(k.keyid);
      return { ...k, file: '' };
    }
    return k;
  });
  writeKeyring(dataDir, { version: 1, keys: [...keys, entry] });
  return { current: entry, retired: retired!, pruned };
}

function writeNewKey(dataDir: string, now: Date): KeyringEntry {
  const dir = keysDir(dataDir);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const { privateKey } = generateSigningKeyPair();
  const keyid = keyFingerprint(privateKey);
  const file = `server-${keyid.slice('sha256:'.length, 'sha256:'.length + 12)}.key`;
  writeFileDurably(path.join(dir, file), privateKeyToPem(privateKey), 0o600);
  return { keyid, file, createdAt: now.toISOString() };
}

function writeKeyring(dataDir: string, keyring: Keyring): void {
  writeFileDurably(keyringPath(dataDir), `${JSON.stringify(keyring, null, 2)}\n`, 0o600);
}

function readKeys(dataDir: string): { keys: LoadedKey[]; stamp: string } {
  const stamp = statStamp(keyringPath(dataDir));
  const keyring = readKeyring(dataDir);
  const keys: LoadedKey[] = [];
  for (const entry of keyring.keys) {
    if (entry.file === '') continue;
    const file = path.join(keysDir(dataDir), entry.file);
    let privateKey;
    try {
      privateKey = privateKeyFromPem(readFileSync(file, 'utf8'));
    } catch (error) {
      if (entry.retiredAt !== undefined) continue; // a retired key's file may be gone
      throw new KeyringError('keys.corrupt', `cannot read the current server key ${file} (${(error as Error).message}); restore it from a backup or rotate`);
    }
    if (keyFingerprint(privateKey) !== entry.keyid) {
      throw new KeyringError('keys.corrupt', `${file} does not hold key ${entry.keyid}; restore it from a backup`);
    }
    keys.push({ ...entry, signer: signingKey(privateKey), publicKeyPem: publicKeyToPem(privateKey) });
  }
  return { keys, stamp };
}

function statStamp(file: string): string {
  const s = statSync(file);
  return `${s.ino}:${s.size}:${s.mtimeMs}`;
}

function writeFileDurably(file: string, text: string, mode: number): void {
  const temp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}-${randomBytes(6).toString('hex')}.tmp`);
  const fd = openSync(temp, 'wx', mode);
  try {
    writeSync(fd, text);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(temp, file);
  const dir = openSync(path.dirname(file), 'r');
  try {
    fsyncSync(dir);
  } finally {
    closeSync(dir);
  }
}

function isEntry(value: unknown): value is KeyringEntry {
  if (typeof value !== 'object' || value === null) return false;
  const e = value as Record<string, unknown>;
  return (
    typeof e.keyid === 'string' &&
    typeof e.file === 'string' &&
    typeof e.createdAt === 'string' &&
    (e.retiredAt === undefined || typeof e.retiredAt === 'string') &&
    (e.validUntil === undefined || typeof e.validUntil === 'string')
  );
}

/** Keys held in memory only (tests, benchmarks): the same SigningKeys a ServerKeys gives, current first. */
export function memorySigningKeys(keys: readonly SigningKey[] = [signingKey(generateSigningKeyPair().privateKey)]): {
  current: string;
  signers(): SigningKey[];
  publicKeys(): ServerPublicKey[];
} {
  const list = [...keys];
  return {
    current: list[0]!.keyid,
    signers: () => list,
    publicKeys: () => list.map((k) => ({ keyid: k.keyid, publicKey: publicKeyToPem(k.privateKey) })),
  };
}
