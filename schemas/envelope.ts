// The shape of a DSSE envelope, with no code: the dashboard's bundle reads protocol.ts, which names
// envelopes, and must not pull node:crypto in through signing.ts.

export interface EnvelopeSignature {
  keyid: string;
  /** Base64 Ed25519 signature over PAE(payloadType, payload bytes). */
  sig: string;
}

/** A DSSE envelope: the payload bytes (base64), their type, and signatures over both. */
export interface Envelope {
  payloadType: string;
  payload: string;
  signatures: EnvelopeSignature[];
}
