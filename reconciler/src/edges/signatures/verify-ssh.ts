// Checks an SSHSIG signature over a commit payload with node:crypto (no ssh-keygen): ssh-ed25519,
// ssh-rsa with rsa-sha2-256/512, ecdsa-sha2-nistp256/384/521. Parsing is core/signatures/sshsig.ts.
import { createHash, createPublicKey, verify, type KeyObject } from 'node:crypto';
import { ecdsaToP1363, parseSshSignature, sshsigSignedData, type SshPublicKey, type SshSignature } from '../../core/signatures/sshsig.ts';

export type SshCheck = { ok: true; signature: SshSignature; fingerprint: string } | { ok: false; reason: string; fingerprint?: string };

const HASHES = new Set(['sha256', 'sha512']);
const CURVES: Record<string, { crv: string; hash: string; size: number }> = {
  'ecdsa-sha2-nistp256': { crv: 'P-256', hash: 'sha256', size: 32 },
  'ecdsa-sha2-nistp384': { crv: 'P-384', hash: 'sha384', size: 48 },
  'ecdsa-sha2-nistp521': { crv: 'P-521', hash: 'sha512', size: 66 },
};

/** `SHA256:<base64, unpadded>` of a key blob, as `ssh-keygen -l` prints it. */
export function sshFingerprint(blob: Uint8Array): string {
  return `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`;
}

/** Whether `armoured` is a valid SSH signature over `payload` in `namespace` by the key it names. */
export function checkSshSignature(armoured: string, payload: Uint8Array, namespace: string): SshCheck {
  let sig: SshSignature;
  try {
    sig = parseSshSignature(armoured);
  } catch (error) {
    return { ok: false, reason: (error as Error).message };
  }
  const fingerprint = sshFingerprint(sig.publicKeyBlob);
  if (sig.namespace !== namespace) return { ok: false, fingerprint, reason: `signed for namespace "${sig.namespace}", not "${namespace}"` };
  if (!HASHES.has(sig.hashAlgorithm)) return { ok: false, fingerprint, reason: `hash algorithm ${sig.hashAlgorithm} is not supported` };
  const signed = sshsigSignedData(sig.namespace, sig.hashAlgorithm, createHash(sig.hashAlgorithm).update(payload).digest());
  try {
    const valid = verifyBlob(sig.publicKey, sig.signatureFormat, signed, sig.signatureBytes);
    if (valid === undefined) return { ok: false, fingerprint, reason: `${sig.publicKey.type} keys with ${sig.signatureFormat} signatures are not supported` };
    return valid ? { ok: true, signature: sig, fingerprint } : { ok: false, fingerprint, reason: 'the signature does not match the commit' };
  } catch (error) {
    return { ok: false, fingerprint, reason: `the signature cannot be checked: ${(error as Error).message}` };
  }
}

/** true/false: checked; undefined: a key or signature type this does not support. */
function verifyBlob(key: SshPublicKey | { type: string }, format: string, data: Uint8Array, signature: Uint8Array): boolean | undefined {
  if (key.type === 'ssh-ed25519' && format === 'ssh-ed25519' && 'key' in key) {
    return verify(null, data, jwk({ kty: 'OKP', crv: 'Ed25519', x: b64url(key.key) }), signature);
  }
  if (key.type === 'ssh-rsa' && 'n' in key && (format === 'rsa-sha2-256' || format === 'rsa-sha2-512')) {
    // `ssh-rsa` (SHA-1) signatures are refused, as OpenSSH does by default.
    return verify(format === 'rsa-sha2-256' ? 'sha256' : 'sha512', data, jwk({ kty: 'RSA', n: b64url(key.n), e: b64url(key.e) }), signature);
  }
  const curve = CURVES[key.type];
  if (curve && 'q' in key && format === key.type) {
    const q = key.q;
    if (q[0] !== 4 || q.length !== 1 + 2 * curve.size) throw new Error('the ECDSA point is not uncompressed');
    const pub = jwk({ kty: 'EC', crv: curve.crv, x: b64url(q.subarray(1, 1 + curve.size)), y: b64url(q.subarray(1 + curve.size)) });
    return verify(curve.hash, data, { key: pub, dsaEncoding: 'ieee-p1363' }, ecdsaToP1363(signature, curve.size));
  }
  return undefined;
}

function jwk(key: Record<string, string>): KeyObject {
  return createPublicKey({ key, format: 'jwk' });
}

function b64url(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('base64url');
}
