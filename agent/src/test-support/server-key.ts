// A server signing key for agent tests (a fake server signs with it) and tokens that pin it.
import { formatEnrollmentToken } from '../../../schemas/enrollment-token.ts';
import { generateSigningKeyPair, publicKeyToPem, SERVER_HELLO_PAYLOAD_TYPE, signEnvelope, signingKey, type Envelope, type SigningKey } from '../../../schemas/signing.ts';
import { MemoryServerTrust } from '../state/server-trust.ts';
import { ServerTrust } from '../transport/server-trust.ts';

export const TEST_SERVER_KEY: SigningKey = signingKey(generateSigningKeyPair().privateKey);

/** `<secret>.<hex of key>`: an enrollment token that pins `key` (default TEST_SERVER_KEY). */
export function pinnedToken(secret: string, key: SigningKey = TEST_SERVER_KEY): string {
  return formatEnrollmentToken(secret, key.keyid);
}

/** A trust in memory pinning `key`. */
export function testTrust(key: SigningKey = TEST_SERVER_KEY): ServerTrust {
  return new ServerTrust(new MemoryServerTrust(), pinnedToken('test', key));
}

/** A correct `server:hello` envelope answering `challenge`, signed by `key`. */
export function signedHello(challenge: string, deviceId?: string, key: SigningKey = TEST_SERVER_KEY): Envelope {
  return signEnvelope(
    SERVER_HELLO_PAYLOAD_TYPE,
    { challenge, ...(deviceId === undefined ? {} : { deviceId }), keys: [{ keyid: key.keyid, publicKey: publicKeyToPem(key.privateKey) }], issuedAt: new Date().toISOString() },
    key,
  );
}
