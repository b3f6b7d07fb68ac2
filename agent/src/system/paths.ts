// Device paths → host paths, with the agent's write boundary enforced.
//
// A device path (`/etc/nginx/nginx.conf`, `C:\ProgramData\Acme\x.ini`) is what the fleet repo
// declares. It must be absolute, free of NUL bytes, and — after normalisation — strictly inside
// one of the allowed roots. With a sandbox root `R` (`deployx agent --root R`) every device path
// lives under R: `/etc/x` → `R/etc/x`, `C:\ProgramData\x` → `R/C/ProgramData/x`.
//
// Symlinks: the deepest existing ancestor of the target (the target itself when it exists) is
// resolved with realpath and must stay inside the (realpath of the) allowed root, and inside R
// when R is set. A dangling symlink on the way is refused. This is checked at resolve time; the
// window between the check and the write is accepted (an attacker who can create symlinks in
// /etc already owns the machine).
import { lstat, realpath } from 'node:fs/promises';
import path from 'node:path';
import { AgentError } from '../errors.ts';

export const DEFAULT_ALLOWED_ROOTS: { readonly posix: readonly string[]; readonly win32: readonly string[] } = {
  posix: ['/etc', '/opt', '/usr/local', '/var/lib', '/srv', '/home'],
  win32: ['C:\\ProgramData', 'C:\\Program Files'],
};

export function defaultAllowedRoots(platform: NodeJS.Platform): readonly string[] {
  return platform === 'win32' ? DEFAULT_ALLOWED_ROOTS.win32 : DEFAULT_ALLOWED_ROOTS.posix;
}

export interface ManagedPath {
  /** The normalised device path (what observed keys and reports use). */
  devicePath: string;
  /** Where the agent actually reads and writes. */
  hostPath: string;
}

export interface ResolveManagedPathOptions {
  /** Device-side roots that may be written; defaults per platform (DEFAULT_ALLOWED_ROOTS). */
  allowedRoots?: readonly string[];
}

export async function resolveManagedPath(
  root: string | undefined,
  devicePath: string,
  platform: NodeJS.Platform,
  options: ResolveManagedPathOptions = {},
): Promise<ManagedPath> {
  const normalized = normalizeDevicePath(devicePath, platform);
  const allowedRoots = (options.allowedRoots ?? defaultAllowedRoots(platform)).map((r) =>
    normalizeDevicePath(r, platform),
  );
  const devicePathApi = platform === 'win32' ? path.win32 : path.posix;
  const allowedRoot = allowedRoots.find((r) => isStrictlyInside(devicePathApi, normalized, r));
  if (allowedRoot === undefined) {
    throw new AgentError(
      'path.outside-allowed',
      `${normalized} is not under an allowed root (${allowedRoots.join(', ')})`,
    );
  }

  const hostRoot = root === undefined ? undefined : path.resolve(root);
  const hostPath = toHostPath(hostRoot, normalized, platform);
  const hostAllowedRoot = toHostPath(hostRoot, allowedRoot, platform);

  const realTarget = await realpathDeepest(hostPath);
  const realAllowed = await realpathDeepest(hostAllowedRoot);
  const insideRoot = hostRoot === undefined || isStrictlyInside(path, realTarget, await realpathDeepest(hostRoot));
  if (!insideRoot || !isStrictlyInside(path, realTarget, realAllowed)) {
    throw new AgentError('path.escape', `${normalized} resolves to ${realTarget}, outside ${allowedRoot}`);
  }
  return { devicePath: normalized, hostPath };
}

/** Absolute, NUL-free, normalised, without a trailing separator. Throws `path.*` codes. */
export function normalizeDevicePath(devicePath: string, platform: NodeJS.Platform): string {
  if (devicePath.includes('\0')) throw new AgentError('path.nul', 'device path contains a NUL byte');
  if (platform === 'win32') {
    if (/^[\\/]{2}/.test(devicePath)) {
      throw new AgentError('path.invalid', `UNC and device paths are not managed: ${devicePath}`);
    }
    if (!/^[A-Za-z]:[\\/]/.test(devicePath)) {
      throw new AgentError('path.relative', `not an absolute Windows path: ${devicePath}`);
    }
    let normalized = path.win32.normalize(devicePath);
    normalized = normalized[0]!.toUpperCase() + normalized.slice(1);
    const rest = normalized.slice(2);
    if (/[<>:"|?*\x01-\x1f]/.test(rest)) {
      throw new AgentError('path.invalid', `reserved character in Windows path: ${devicePath}`);
    }
    return normalized.length > 3 ? normalized.replace(/\\+$/, '') : normalized;
  }
  if (!devicePath.startsWith('/')) throw new AgentError('path.relative', `not an absolute path: ${devicePath}`);
  const normalized = path.posix.normalize(devicePath);
  return normalized.length > 1 ? normalized.replace(/\/+$/, '') : normalized;
}

function toHostPath(hostRoot: string | undefined, devicePath: string, platform: NodeJS.Platform): string {
  if (hostRoot === undefined) return devicePath;
  const segments =
    platform === 'win32'
      ? [devicePath[0]!, ...devicePath.slice(3).split('\\')]
      : devicePath.split('/');
  return path.join(hostRoot, ...segments.filter((s) => s !== ''));
}

function isStrictlyInside(api: path.PlatformPath, child: string, parent: string): boolean {
  const relative = api.relative(parent, child);
  return relative !== '' && relative !== '..' && !relative.startsWith(`..${api.sep}`) && !api.isAbsolute(relative);
}

/** realpath of the deepest existing ancestor, with the missing tail re-appended. */
async function realpathDeepest(hostPath: string): Promise<string> {
  const missing: string[] = [];
  let current = hostPath;
  for (;;) {
    try {
      const real = await realpath(current);
      return path.join(real, ...missing.reverse());
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT' && code !== 'ENOTDIR') throw error;
      const link = await lstat(current).catch(() => undefined);
      if (link?.isSymbolicLink()) {
        throw new AgentError('path.escape', `dangling symlink on the way to ${hostPath}: ${current}`);
      }
      const parent = path.dirname(current);
      if (parent === current) return hostPath;
      missing.push(path.basename(current));
      current = parent;
    }
  }
}
