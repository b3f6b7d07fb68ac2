// Hostnames from `Profile.spec.provisioning.hostnamePattern`: `{label}` takes the device's label,
// `{seq}` / `{seq:NN}` a number from a sequence the store allocates (never reused). A sequence is
// per *scope*: the pattern with its labels filled in, so `web-{site}-{seq:02}` counts web-eu-01,
// web-eu-02 … apart from web-us-01. Validation (semantic-check.ts) already guarantees the pattern
// is well formed and that a declared device has every label its profile's pattern names.

const PLACEHOLDER = /\{([^{}]*)\}/g;
const SEQ = /^seq(?::(\d{1,2}))?$/;

export type HostnamePlan =
  /** The hostname is fixed (no `{seq}`): no allocation needed. */
  | { kind: 'fixed'; hostname: string }
  /** Allocate the next number of `scope`, then `format(seq)`. */
  | { kind: 'sequence'; scope: string; width: number; prefix: string; suffix: string }
  | { kind: 'invalid'; reason: string };

export function planHostname(pattern: string, labels: Readonly<Record<string, string>>): HostnamePlan {
  let out = '';
  let last = 0;
  let seq: { at: number; width: number } | undefined;
  for (const match of pattern.matchAll(PLACEHOLDER)) {
    out += pattern.slice(last, match.index);
    last = match.index + match[0].length;
    const body = match[1]!;
    const s = SEQ.exec(body);
    if (s) {
      if (seq) return { kind: 'invalid', reason: 'more than one {seq}' };
      seq = { at: out.length, width: Number(s[1] ?? '1') };
      continue;
    }
    const value = labels[body];
    if (value === undefined) return { kind: 'invalid', reason: `the device has no label "${body}"` };
    out += value;
  }
  out += pattern.slice(last);
  if (!seq) {
    return isHostname(out) ? { kind: 'fixed', hostname: out } : { kind: 'invalid', reason: `"${out}" is not a hostname` };
  }
  const prefix = out.slice(0, seq.at);
  const suffix = out.slice(seq.at);
  if (!isHostname(`${prefix}${'0'.repeat(seq.width)}${suffix}`)) {
    return { kind: 'invalid', reason: `"${prefix}{seq}${suffix}" cannot make a hostname` };
  }
  return { kind: 'sequence', scope: `${prefix}{seq}${suffix}`, width: seq.width, prefix, suffix };
}

/** The hostname for sequence number `seq` (1-based) of a `sequence` plan. */
export function formatHostname(plan: Extract<HostnamePlan, { kind: 'sequence' }>, seq: number): string {
  return `${plan.prefix}${String(seq).padStart(plan.width, '0')}${plan.suffix}`;
}

/** RFC 1123 label, lowercase. */
export function isHostname(name: string): boolean {
  return /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/.test(name);
}
