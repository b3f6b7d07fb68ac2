// The enrollment token's format: `<secret>.<64 hex>` — the secret the server stores only hashed
// (`dxe_<base64url>` for tokens DeployX makes), then the SHA-256 (hex) of the server signing key
// the agent must pin (the `<hex>` of its `sha256:<hex>` fingerprint, schemas/signing.ts).
// `deployx token create`, the demo and the PXE task sequence all hand out this form; the server
// hashes only the secret, so the key part may name a key rotated since (the agent learns the new
// one from the server's hello, signed by the pinned key).
const PIN = /^[0-9a-f]{64}$/;

export interface ParsedEnrollmentToken {
  /** The part the server checks (hashed at rest). */
  secret: string;
  /** `sha256:<hex>` of the server key to pin; undefined for a token without one. */
  serverKey?: string;
}

/** `<secret>.<hex>`: the token an operator hands to an agent. */
export function formatEnrollmentToken(secret: string, serverKey: string): string {
  const hex = serverKey.startsWith('sha256:') ? serverKey.slice('sha256:'.length) : serverKey;
  if (!PIN.test(hex)) throw new Error(`not a server key fingerprint: ${JSON.stringify(serverKey.slice(0, 80))}`);
  if (secret === '' || secret.includes('.')) throw new Error('an enrollment token secret is non-empty and has no "."');
  return `${secret}.${hex}`;
}

/** Splits a token at its last `.`; a token without a valid key part has no `serverKey`. Never throws. */
export function parseEnrollmentToken(token: string): ParsedEnrollmentToken {
  const dot = token.lastIndexOf('.');
  if (dot > 0) {
    const hex = token.slice(dot + 1).toLowerCase();
    if (PIN.test(hex)) return { secret: token.slice(0, dot), serverKey: `sha256:${hex}` };
  }
  return { secret: token };
}
