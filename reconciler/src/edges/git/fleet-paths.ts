// Path rules shared by every reader, so a working tree and a commit of the same content list the
// same files: POSIX separators, relative to the fleet root, sorted by UTF-16 code units.
import { posix } from 'node:path';

/**
 * Directories no reader descends into: every dot-directory (`.git`, `.github`, `.vscode`, ...) and
 * `node_modules`. Dot-files are ordinary files.
 */
export function isIgnoredDirectory(name: string): boolean {
  return name.startsWith('.') || name === 'node_modules';
}

/** `*.yaml` / `*.yml`, extension compared case-insensitively. */
export function isYamlPath(path: string): boolean {
  const dot = path.lastIndexOf('.');
  if (dot < 0 || dot < path.lastIndexOf('/')) return false;
  const ext = path.slice(dot + 1).toLowerCase();
  return ext === 'yaml' || ext === 'yml';
}

/**
 * A repository path (a `source` field, a blob request) as a path relative to the fleet root:
 * `./files/../files/motd` → `files/motd`, `files/` → `files`. Undefined when the path is empty,
 * absolute (`/x`, `\x`, `C:x`) or leaves the root (`../x`, `a/../../x`): such a path is refused,
 * never read. Backslashes are ordinary characters (POSIX rules).
 */
export function normaliseFleetPath(path: string): string | undefined {
  if (path === '' || path.includes('\0')) return undefined;
  if (path.startsWith('/') || path.startsWith('\\') || /^[A-Za-z]:/.test(path)) return undefined;
  const normal = posix.normalize(path).replace(/\/+$/, '');
  if (normal === '' || normal === '.' || normal === '..' || normal.startsWith('../')) return undefined;
  return normal;
}

/**
 * A fleet root inside a repository (`--path`): `''` for the repository root. Undefined when it
 * leaves the repository.
 */
export function normaliseRootPath(path: string | undefined): string | undefined {
  if (path === undefined) return '';
  const trimmed = path.replace(/^\/+/, '');
  if (trimmed === '' || trimmed === '.') return '';
  return normaliseFleetPath(trimmed);
}

/** Total order on paths by UTF-16 code units (locale-independent, deterministic). */
export function comparePaths(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
