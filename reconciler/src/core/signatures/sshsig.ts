// SSH signatures as git makes them (`gpg.format ssh`): OpenSSH's SSHSIG format (PROTOCOL.sshsig)
// and the key and signature blobs it carries (RFC 4253 §6.6, RFC 5656, RFC 8332, RFC 8709).
// Pure parsing only; the cryptographic check is edges/signatures/verify-ssh.ts (node:crypto).
//
//   armoured: -----BEGIN SSH SIGNATURE----- base64(blob) -----END SSH SIGNATURE-----
//   blob:     "SSHSIG" uint32(1) string(publickey) string(namespace) string(reserved)
//             string(hash_algorithm) string(signature)
//   signed:   "SSHSIG" string(namespace) string(reserved) string(hash_algorithm) string(H(message))

export class SshFormatError extends Error {
  readonly code = 'signature.malformed';
}

export type SshPublicKey =
  | { type: 'ssh-ed25519'; key: Uint8Array }
  | { type: 'ssh-rsa'; e: Uint8Array; n: Uint8Array }
  | { type: 'ecdsa-sha2-nistp256' | 'ecdsa-sha2-nistp384' | 'ecdsa-sha2-nistp521'; curve: string; q: Uint8Array };

export interface SshSignature {
  /** The signer's public key blob, as in an `allowed_signers` line (base64 of these bytes). */
  publicKeyBlob: Uint8Array;
  publicKey: SshPublicKey | { type: string };
  namespace: string;
  hashAlgorithm: string;
  /** `ssh-ed25519`, `rsa-sha2-256`, `rsa-sha2-512`, `ecdsa-sha2-nistp256`, … */
  signatureFormat: string;
  /** The raw signature bytes (for ECDSA: the SSH encoding of mpint r, mpint s). */
  signatureBytes: Uint8Array;
}

const MAGIC = 'SSHSIG';
const BEGIN = '-----BEGIN SSH SIGNATURE-----';
const END = '-----END SSH SIGNATURE-----';

export function parseSshSignature(armoured: string): SshSignature {
  const start = armoured.indexOf(BEGIN);
  const end = armoured.indexOf(END);
  if (start === -1 || end === -1 || end < start) throw new SshFormatError('not an armoured SSH signature');
  const body = armoured.slice(start + BEGIN.length, end).replace(/\s+/g, '');
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(body)) throw new SshFormatError('the SSH signature is not base64');
  const blob = new Uint8Array(Buffer.from(body, 'base64'));
  const r = new SshReader(blob);
  if (ascii(r.bytes(6)) !== MAGIC) throw new SshFormatError('the SSH signature does not start with SSHSIG');
  const version = r.uint32();
  if (version !== 1) throw new SshFormatError(`SSH signature version ${version} is not supported`);
  const publicKeyBlob = r.string();
  const namespace = ascii(r.string());
  r.string(); // reserved
  const hashAlgorithm = ascii(r.string());
  const sig = new SshReader(r.string());
  r.end('SSH signature');
  const signatureFormat = ascii(sig.string());
  const signatureBytes = sig.string();
  sig.end('SSH signature blob');
  return { publicKeyBlob, publicKey: parseSshPublicKey(publicKeyBlob), namespace, hashAlgorithm, signatureFormat, signatureBytes };
}

/** Decodes a public key blob; an unknown type (a security key, a certificate) keeps only its type. */
export function parseSshPublicKey(blob: Uint8Array): SshPublicKey | { type: string } {
  const r = new SshReader(blob);
  const type = ascii(r.string());
  switch (type) {
    case 'ssh-ed25519': {
      const key = r.string();
      if (key.length !== 32) throw new SshFormatError('an ssh-ed25519 key is 32 bytes');
      r.end('ssh-ed25519 key');
      return { type, key };
    }
    case 'ssh-rsa': {
      const e = r.string();
      const n = r.string();
      r.end('ssh-rsa key');
      return { type, e: unsignedInt(e), n: unsignedInt(n) };
    }
    case 'ecdsa-sha2-nistp256':
    case 'ecdsa-sha2-nistp384':
    case 'ecdsa-sha2-nistp521': {
      const curve = ascii(r.string());
      const q = r.string();
      r.end(`${type} key`);
      if (`ecdsa-sha2-${curve}` !== type) throw new SshFormatError(`${type} key names curve ${curve}`);
      return { type, curve, q };
    }
    default:
      return { type };
  }
}

/** The bytes an SSHSIG signature is made over, given the hash of the message. */
export function sshsigSignedData(namespace: string, hashAlgorithm: string, digest: Uint8Array): Uint8Array {
  return concat([new TextEncoder().encode(MAGIC), sshString(namespace), sshString(''), sshString(hashAlgorithm), sshString(digest)]);
}

/** An ECDSA signature blob (mpint r, mpint s) as IEEE P1363 (r ‖ s, each `size` bytes). */
export function ecdsaToP1363(signature: Uint8Array, size: number): Uint8Array {
  const r = new SshReader(signature);
  const parts = [unsignedInt(r.string()), unsignedInt(r.string())];
  r.end('ECDSA signature');
  const out = new Uint8Array(size * 2);
  parts.forEach((part, i) => {
    if (part.length > size) throw new SshFormatError('ECDSA signature value too large');
    out.set(part, i * size + (size - part.length));
  });
  return out;
}

export function sshString(value: string | Uint8Array): Uint8Array {
  const bytes = typeof value === 'string' ? new TextEncoder().encode(value) : value;
  const out = new Uint8Array(4 + bytes.length);
  new DataView(out.buffer).setUint32(0, bytes.length);
  out.set(bytes, 4);
  return out;
}

export function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

class SshReader {
  #at = 0;
  constructor(private readonly buf: Uint8Array) {}
  bytes(n: number): Uint8Array {
    if (this.#at + n > this.buf.length) throw new SshFormatError('truncated SSH data');
    const out = this.buf.subarray(this.#at, this.#at + n);
    this.#at += n;
    return out;
  }
  uint32(): number {
    const b = this.bytes(4);
    return new DataView(b.buffer, b.byteOffset, 4).getUint32(0);
  }
  string(): Uint8Array {
    return this.bytes(this.uint32());
  }
  end(what: string): void {
    if (this.#at !== this.buf.length) throw new SshFormatError(`trailing bytes after the ${what}`);
  }
}

/** An mpint without its sign byte (the values here are positive). */
function unsignedInt(bytes: Uint8Array): Uint8Array {
  let i = 0;
  while (i < bytes.length - 1 && bytes[i] === 0) i++;
  return bytes.subarray(i);
}

function ascii(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1');
}
