// Validation issues: every problem of a revision, with where it is and what to do about it.
//
// Codes are stable (tests and tools match on them, never on message text). The catalogue lives
// in `ISSUE_CODES` so docs and the CLI can list them.

export interface ValidationIssue {
  code: IssueCode;
  message: string;
  /** Path relative to the fleet root. */
  file: string;
  line: number;
  col: number;
  /** JSON pointer inside the document (`/spec/packages/apt`), `` for the whole document. */
  path: string;
  /** 0-based index of the document inside its file; -1 for a file-level issue. */
  document: number;
  /** "did you mean" candidate, when there is one. */
  suggestion?: string;
}

export const ISSUE_CODES = {
  'yaml.syntax': 'The file is not valid YAML.',
  'yaml.too-deep': 'Collections nested deeper than the loader reads (64 levels); the file is not parsed.',
  'file.too-large': 'A YAML file larger than the loader reads (1 MiB); the file is not parsed.',
  'file.symlink': 'A warning, not an error: a YAML file that is a symbolic link is not read.',
  'revision.too-large': 'The YAML files of the revision together are larger than the loader reads (32 MiB).',
  'document.not-object': 'A YAML document is not a mapping.',
  'document.api-version': 'apiVersion is missing or not deployx.dev/v1.',
  'document.kind': 'kind is missing or not one of the known kinds.',
  'schema.unknown-key': 'A key the schema does not define (with a "did you mean").',
  'schema.required': 'A required field is missing.',
  'schema.type': 'A field has the wrong type.',
  'schema.enum': 'A field is not one of its allowed values.',
  'schema.format': 'A field does not match its format (MAC, mode, sha256, duration, ...).',
  'schema.pattern': 'A field does not match its pattern.',
  'schema.range': 'A number or list is out of its allowed range or size.',
  'schema.invalid': 'Any other schema violation.',
  'name.duplicate': 'Two documents of one kind share a name.',
  'fleet.duplicate': 'More than one Fleet document.',
  'ref.group': 'A reference to a Group that does not exist.',
  'ref.device': 'A reference to a Device that does not exist.',
  'ref.software': 'A reference to a Software that does not exist.',
  'ref.file': 'A reference to a FileDeployment that does not exist.',
  'ref.script': 'A reference to a Script that does not exist.',
  'ref.profile': 'A reference to a Profile that does not exist.',
  'ref.image': 'A reference to an OSImage that does not exist.',
  'source.missing': 'A `source` names a repository file that does not exist.',
  'source.outside': 'A `source` path leaves the fleet root or is absolute.',
  'source.ambiguous': 'A file or script names none, or more than one, of source/content/url.',
  'file.path': 'A FileDeployment path is not absolute or not normalised.',
  'device.duplicate-mac': 'Two devices declare the same MAC address.',
  'device.duplicate-hostname': 'Two devices declare the same hostname.',
  'selector.empty': 'A group has neither a selector nor devices, or an empty selector.',
  'selector.values': 'In/NotIn without values, or Exists/DoesNotExist with values.',
  'hostname.pattern': 'A hostnamePattern cannot produce a valid hostname.',
  'conflict.file': 'Two profiles give one device the same path with different content.',
  'conflict.package': 'Two profiles give one device the same package with different versions.',
  'provisioning.image': 'An OS image lacks the artifacts its installer needs to boot, or has unsafe kernel arguments.',
  'artifact.mismatch': 'An OS image artifact in the repository does not match its declared sha256 (or size).',
  'provisioning.task': 'A provisioning task list that cannot run (order, missing fields).',
  'rollout.waves': 'Rollout waves that cannot be scheduled.',
  'notifier.url': 'A notifier has neither or both of url and urlSecret.',
  'schedule.time-zone': 'A timeZone that is not an IANA time zone (with a "did you mean").',
} as const;

export type IssueCode = keyof typeof ISSUE_CODES;

/** The documented total order of issues: file, line, column, code, path, message. */
export function compareIssues(a: ValidationIssue, b: ValidationIssue): number {
  return (
    cmp(a.file, b.file) ||
    a.line - b.line ||
    a.col - b.col ||
    cmp(a.code, b.code) ||
    cmp(a.path, b.path) ||
    cmp(a.message, b.message)
  );
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
