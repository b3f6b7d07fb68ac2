// Revisions: where an error points in the repository, and which revisions matter now. Pure.
import type { RevisionError, RevisionView } from './wire.ts';

/** `profiles.yaml:10:3`; the column is left out when unknown. */
export function errorLocation(error: Pick<RevisionError, 'file' | 'line' | 'col'>): string {
  if (!error.file) return '(repository)';
  if (!error.line) return error.file;
  return error.col ? `${error.file}:${error.line}:${error.col}` : `${error.file}:${error.line}`;
}

/**
 * The repository web view's URL for a file and line, from `Fleet.spec.repoWebUrl`: `{path}`,
 * `{line}` and `{oid}` are substituted (path segments URL-encoded, slashes kept). Without a
 * template, or with one that needs a value we lack, there is no link.
 */
export function sourceLink(template: string | null | undefined, at: { path: string; line?: number; oid: string }): string | undefined {
  if (!template) return undefined;
  if (template.includes('{line}') && !at.line) {
    // A link to the file is still useful; drop a `#L{line}`-style anchor rather than print `#L`.
    template = template.replace(/#[^{}]*\{line\}.*$/, '').replace('{line}', '');
  }
  if ((template.includes('{path}') && !at.path) || (template.includes('{oid}') && !at.oid)) return undefined;
  const path = at.path.split('/').map(encodeURIComponent).join('/');
  const url = template.replaceAll('{path}', path).replaceAll('{line}', String(at.line ?? '')).replaceAll('{oid}', encodeURIComponent(at.oid));
  return /^https?:\/\//.test(url) ? url : undefined;
}

export interface RevisionHeadline {
  current: RevisionView | undefined;
  /** The newest rejected revision seen after the one in force (nothing to warn about otherwise). */
  newestRejected: RevisionView | undefined;
}

/** The revision in force, and the newest rejected one if it is newer than that. */
export function revisionHeadline(revisions: readonly RevisionView[], current: string | null): RevisionHeadline {
  const byNewest = sortRevisions(revisions);
  const inForce = byNewest.find((r) => r.revision === current);
  const rejected = byNewest.find((r) => r.status === 'rejected');
  const newer = rejected && (!inForce || Date.parse(rejected.lastSeenAt) >= Date.parse(inForce.lastSeenAt));
  return { current: inForce, newestRejected: newer ? rejected : undefined };
}

/** Newest first by when the server last saw them, then by commit time. */
export function sortRevisions(revisions: readonly RevisionView[]): RevisionView[] {
  return revisions
    .slice()
    .sort((a, b) => Date.parse(b.lastSeenAt) - Date.parse(a.lastSeenAt) || Date.parse(b.committedAt) - Date.parse(a.committedAt) || (a.oid < b.oid ? -1 : 1));
}

/** Errors grouped by file, files and lines in order: what a reader fixes one file at a time. */
export function errorsByFile(errors: readonly RevisionError[]): Array<{ file: string; errors: RevisionError[] }> {
  const files = new Map<string, RevisionError[]>();
  for (const e of errors) {
    const list = files.get(e.file) ?? [];
    list.push(e);
    files.set(e.file, list);
  }
  return [...files.entries()]
    .sort((a, b) => a[0].localeCompare(b[0]))
    .map(([file, list]) => ({ file, errors: list.slice().sort((a, b) => a.line - b.line || a.col - b.col) }));
}

/** First line of a commit message. */
export function commitTitle(message: string): string {
  return message.split('\n', 1)[0]!.trim();
}

/** Errors of a rejected revision that the listing does not carry (the server keeps the first ones and the total). */
export function hiddenErrorCount(revision: Pick<RevisionView, 'errors' | 'errorCount'>): number {
  return Math.max(0, revision.errorCount - revision.errors.length);
}

/**
 * The signer of a verified commit as the revisions page shows it: the identity in the badge, the
 * key (the fingerprint an operator compares with `ssh-keygen -l` or `gpg --fingerprint`) in its
 * title. Undefined when the server did not verify the commit.
 */
export function signerLabel(rev: Pick<RevisionView, 'signer'>): { text: string; title: string } | undefined {
  const signer = rev.signer;
  if (!signer) return undefined;
  const kind = signer.method === 'ssh' ? 'SSH' : 'OpenPGP';
  return { text: `Signed by ${signer.identity}`, title: `Verified ${kind} signature, key ${signer.fingerprint}` };
}
