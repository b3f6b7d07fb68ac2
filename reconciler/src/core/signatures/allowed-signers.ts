// The SSH `allowed_signers` file (ssh-keygen(1), ALLOWED SIGNERS) and the decision whether an SSH
// key may sign a commit. Pure: the file's text in, entries and a verdict out.
//
//   # comment
//   principals [options] keytype base64-key [comment]
//
// `principals` is a comma-separated list of patterns (quoted when it has spaces); options are
// comma-separated: `namespaces="git,file"`, `valid-after="YYYYMMDD[HHMM[SS]][Z]"`, `valid-before=…`,
// `cert-authority`. Times without `Z` are read as UTC here (ssh-keygen reads them in local time):
// write them with `Z`. A `cert-authority` entry trusts certificates signed by that key; commit
// signatures made with SSH certificates are not supported, so such an entry matches no signature.

export interface AllowedSigner {
  /** 1-based line in the file. */
  line: number;
  principals: string[];
  /** Patterns; undefined: every namespace. */
  namespaces: string[] | undefined;
  /** Seconds since the epoch. */
  validAfter: number | undefined;
  validBefore: number | undefined;
  certAuthority: boolean;
  keyType: string;
  /** The key blob, base64 as written (compared after decoding). */
  key: string;
}

export interface AllowedSignersProblem {
  line: number;
  message: string;
}

const KEY_TYPE = /^(ssh-ed25519|ssh-rsa|ssh-dss|ecdsa-sha2-nistp(256|384|521)|sk-ssh-ed25519@openssh\.com|sk-ecdsa-sha2-nistp256@openssh\.com)$/;

export function parseAllowedSigners(text: string): { signers: AllowedSigner[]; problems: AllowedSignersProblem[] } {
  const signers: AllowedSigner[] = [];
  const problems: AllowedSignersProblem[] = [];
  text.split(/\r?\n/).forEach((raw, index) => {
    const line = index + 1;
    const trimmed = raw.trim();
    if (trimmed === '' || trimmed.startsWith('#')) return;
    try {
      signers.push(parseLine(trimmed, line));
    } catch (error) {
      problems.push({ line, message: (error as Error).message });
    }
  });
  return { signers, problems };
}

function parseLine(text: string, line: number): AllowedSigner {
  const tokens = tokenize(text);
  const principalsToken = tokens.shift();
  if (principalsToken === undefined) throw new Error('no principals');
  let optionsToken: string | undefined;
  if (tokens[0] !== undefined && !KEY_TYPE.test(tokens[0])) optionsToken = tokens.shift();
  const keyType = tokens.shift();
  const key = tokens.shift();
  if (keyType === undefined || !KEY_TYPE.test(keyType)) throw new Error(`expected a key type (ssh-ed25519, ssh-rsa, ecdsa-sha2-nistp256, …), found ${JSON.stringify(keyType ?? '')}`);
  if (key === undefined || !/^[A-Za-z0-9+/]+={0,2}$/.test(key)) throw new Error('expected a base64 public key after the key type');
  const signer: AllowedSigner = {
    line,
    principals: unquote(principalsToken).split(',').map((p) => p.trim()).filter((p) => p !== ''),
    namespaces: undefined,
    validAfter: undefined,
    validBefore: undefined,
    certAuthority: false,
    keyType,
    key,
  };
  if (signer.principals.length === 0) throw new Error('no principals');
  for (const option of optionsToken === undefined ? [] : splitOutsideQuotes(optionsToken, ',')) {
    const eq = option.indexOf('=');
    const name = (eq === -1 ? option : option.slice(0, eq)).toLowerCase();
    const value = eq === -1 ? undefined : unquote(option.slice(eq + 1));
    if (name === 'cert-authority' && value === undefined) signer.certAuthority = true;
    else if (name === 'namespaces' && value !== undefined) signer.namespaces = value.split(',').map((n) => n.trim()).filter((n) => n !== '');
    else if ((name === 'valid-after' || name === 'valid-before') && value !== undefined) {
      const time = parseSshTime(value);
      if (time === undefined) throw new Error(`${name}="${value}": use YYYYMMDD[HHMM[SS]]Z`);
      if (name === 'valid-after') signer.validAfter = time;
      else signer.validBefore = time;
    } else throw new Error(`unknown option ${JSON.stringify(option)} (known: namespaces="…", valid-after="…", valid-before="…", cert-authority)`);
  }
  return signer;
}

/** Whitespace-separated tokens; double quotes group (and are kept, for the option parser). */
function tokenize(text: string): string[] {
  const tokens: string[] = [];
  let current = '';
  let quoted = false;
  for (const ch of text) {
    if (ch === '"') quoted = !quoted;
    if (!quoted && /\s/.test(ch)) {
      if (current !== '') tokens.push(current);
      current = '';
    } else current += ch;
  }
  if (quoted) throw new Error('unterminated quote');
  if (current !== '') tokens.push(current);
  return tokens;
}

function splitOutsideQuotes(text: string, separator: string): string[] {
  const parts: string[] = [];
  let current = '';
  let quoted = false;
  for (const ch of text) {
    if (ch === '"') quoted = !quoted;
    if (!quoted && ch === separator) {
      parts.push(current);
      current = '';
    } else current += ch;
  }
  parts.push(current);
  return parts.filter((p) => p !== '');
}

function unquote(text: string): string {
  return text.length >= 2 && text.startsWith('"') && text.endsWith('"') ? text.slice(1, -1) : text;
}

/** `YYYYMMDD`, `YYYYMMDDHHMM` or `YYYYMMDDHHMMSS`, optional `Z`; read as UTC. */
export function parseSshTime(text: string): number | undefined {
  const m = /^(\d{4})(\d{2})(\d{2})(?:(\d{2})(\d{2})(\d{2})?)?Z?$/i.exec(text);
  if (!m) return undefined;
  const [, y, mo, d, h = '0', mi = '0', s = '0'] = m;
  const ms = Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s));
  return Number.isNaN(ms) ? undefined : ms / 1000;
}

/** OpenSSH's `match_pattern`: `*` any run, `?` one character. */
export function matchPattern(value: string, pattern: string): boolean {
  const re = new RegExp(`^${pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`, 's');
  return re.test(value);
}

/** OpenSSH's `match_pattern_list`: a match on a `!pattern` refuses, else any positive match accepts. */
export function matchPatternList(value: string, patterns: readonly string[]): boolean {
  let matched = false;
  for (const pattern of patterns) {
    if (pattern.startsWith('!')) {
      if (matchPattern(value, pattern.slice(1))) return false;
    } else if (matchPattern(value, pattern)) matched = true;
  }
  return matched;
}

export type SshTrust =
  | { trusted: true; signer: AllowedSigner; identity: string }
  | { trusted: false; reason: string };

/**
 * Whether the key that made an SSH signature may sign in `namespace` at `time` (the commit's
 * committer time, as git passes it to `ssh-keygen -Y verify`). `keyBlob` is the key as the
 * signature carries it; entries are compared by their decoded bytes.
 */
export function findAllowedSigner(
  signers: readonly AllowedSigner[],
  keyBlob: Uint8Array,
  { namespace, time }: { namespace: string; time: number },
): SshTrust {
  const matching = signers.filter((s) => !s.certAuthority && equalBytes(Buffer.from(s.key, 'base64'), keyBlob));
  if (matching.length === 0) return { trusted: false, reason: 'the key is not in the allowed signers file' };
  const reasons: string[] = [];
  for (const signer of matching) {
    if (signer.namespaces !== undefined && !matchPatternList(namespace, signer.namespaces)) {
      reasons.push(`line ${signer.line} does not allow namespace "${namespace}"`);
    } else if (signer.validAfter !== undefined && time < signer.validAfter) {
      reasons.push(`line ${signer.line} is valid only after ${new Date(signer.validAfter * 1000).toISOString()}`);
    } else if (signer.validBefore !== undefined && time > signer.validBefore) {
      reasons.push(`line ${signer.line} expired at ${new Date(signer.validBefore * 1000).toISOString()}`);
    } else {
      return { trusted: true, signer, identity: signer.principals.join(',') };
    }
  }
  return { trusted: false, reason: `the key is in the allowed signers file, but ${reasons.join('; ')}` };
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
