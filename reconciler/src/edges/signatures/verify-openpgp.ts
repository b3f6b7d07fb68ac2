// Checks an OpenPGP detached signature over a commit payload with the `openpgp` package (no gpg)
// against the trusted keys: the key that made it must be one of them, and the signature valid.
import { createMessage, readSignature, verify, type Key } from 'openpgp';

export type OpenPgpCheck =
  | { ok: true; key: Key; fingerprint: string; identity: string }
  | { ok: false; untrusted: boolean; reason: string; fingerprint: string };

export async function checkOpenPgpSignature(armoured: string, payload: Uint8Array, trusted: readonly Key[]): Promise<OpenPgpCheck> {
  let signature;
  try {
    signature = await readSignature({ armoredSignature: armoured });
  } catch (error) {
    return { ok: false, untrusted: false, reason: `malformed OpenPGP signature: ${(error as Error).message}`, fingerprint: 'unknown' };
  }
  const issuers = signature.getSigningKeyIDs().map((id) => id.toHex().toUpperCase());
  // The issuer's full fingerprint when the signature carries it (gpg 2.2+ does), else its key id.
  const issuerFingerprint = signature.packets[0]?.issuerFingerprint;
  const issuer = issuerFingerprint ? Buffer.from(issuerFingerprint).toString('hex').toUpperCase() : (issuers[0] ?? 'unknown');
  const key = trusted.find((k) => k.getKeyIDs().some((id) => issuers.includes(id.toHex().toUpperCase())));
  if (!key) return { ok: false, untrusted: true, reason: 'the key is not among the trusted OpenPGP keys', fingerprint: issuer };
  const fingerprint = key.getFingerprint().toUpperCase();
  try {
    const message = await createMessage({ binary: payload });
    const result = await verify({ message, signature, verificationKeys: [key], expectSigned: false });
    const first = result.signatures[0];
    if (!first) return { ok: false, untrusted: false, reason: 'no signature found', fingerprint };
    await first.verified; // throws when invalid
  } catch (error) {
    return { ok: false, untrusted: false, reason: `the signature does not verify: ${(error as Error).message}`, fingerprint };
  }
  return { ok: true, key, fingerprint, identity: await primaryUserId(key) };
}

export async function primaryUserId(key: Key): Promise<string> {
  try {
    const primary = await key.getPrimaryUser();
    return primary.user.userID?.userID ?? key.getUserIDs()[0] ?? key.getFingerprint().toUpperCase();
  } catch {
    return key.getUserIDs()[0] ?? key.getFingerprint().toUpperCase();
  }
}
