// A commit object split the way git splits it to verify a signature (commit.c
// `parse_buffer_signed_by_header`): the `gpgsig` header with its continuation lines is the
// signature; every other byte, in order, is the signed payload. Other `gpgsig*` headers (a
// SHA-256 repository's `gpgsig-sha256`) are left out of the payload too, as git does.
//
// Pure and byte-exact: isomorphic-git's `readCommit().payload` renormalises newlines and looks for
// a PGP armour end line, so it is wrong for SSH signatures and for messages without a final
// newline; this reads the raw object instead (GitSource.rawCommit).

export interface SignedCommit {
  /** The bytes the signature covers. */
  payload: Uint8Array;
  /** The armoured signature (`-----BEGIN SSH SIGNATURE-----` or `-----BEGIN PGP SIGNATURE-----`), when signed. */
  signature: string | undefined;
  parents: string[];
  /** The committer time, seconds since the epoch (what `valid-after`/`valid-before` are checked against). */
  committerTime: number;
}

const SIGNATURE_HEADER = 'gpgsig';

/** `raw` is the commit object's content (no `commit <size>\0` header). */
export function splitSignedCommit(raw: Uint8Array): SignedCommit {
  // latin1 maps every byte to one UTF-16 unit and back: the payload stays byte-exact whatever the
  // commit's encoding.
  const text = Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength).toString('latin1');
  let payload = '';
  let signature = '';
  let sawSignature = false;
  let inSignature = false;
  let otherSignature = false;
  const parents: string[] = [];
  let committerTime = 0;
  let at = 0;
  while (at < text.length) {
    const newline = text.indexOf('\n', at);
    let next = newline === -1 ? text.length : newline + 1;
    const line = text.slice(at, next);
    let sig: string | undefined;
    if (inSignature && line.startsWith(' ')) sig = line.slice(1);
    else if (line.startsWith(`${SIGNATURE_HEADER} `)) {
      sig = line.slice(SIGNATURE_HEADER.length + 1);
      otherSignature = false;
    } else if (line.startsWith('gpgsig')) otherSignature = true;
    else if (otherSignature && !line.startsWith(' ')) otherSignature = false;
    if (sig !== undefined) {
      signature += sig;
      sawSignature = true;
      inSignature = true;
    } else {
      if (line === '\n' || line === '') next = text.length; // the message: the rest, as is
      const kept = line === '\n' ? text.slice(at) : line;
      if (!otherSignature) payload += kept;
      inSignature = false;
      if (line.startsWith('parent ')) parents.push(line.slice(7).trim());
      else if (line.startsWith('committer ')) {
        const match = / (\d+) [+-]\d{4}\s*$/.exec(line);
        if (match) committerTime = Number(match[1]);
      }
    }
    at = next;
  }
  return {
    payload: new Uint8Array(Buffer.from(payload, 'latin1')),
    signature: sawSignature ? signature : undefined,
    parents,
    committerTime,
  };
}

/** Which kind of signature an armoured block is. */
export function signatureKind(signature: string): 'ssh' | 'openpgp' | 'x509' | 'unknown' {
  if (signature.startsWith('-----BEGIN SSH SIGNATURE-----')) return 'ssh';
  if (signature.startsWith('-----BEGIN PGP SIGNATURE-----') || signature.startsWith('-----BEGIN PGP MESSAGE-----')) return 'openpgp';
  if (signature.startsWith('-----BEGIN SIGNED MESSAGE-----')) return 'x509';
  return 'unknown';
}
