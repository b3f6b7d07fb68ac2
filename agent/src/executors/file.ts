// file.write / file.delete: observe → apply → observe.
//
// file.write
// - Already right (same SHA-256, and mode/owner when requested and enforceable) → skipped,
//   nothing fetched.
// - Same bytes, wrong mode/owner → chmod/chown in place.
// - Otherwise fetch the blob, verify SHA-256 and size (a mismatch fails the step and writes
//   nothing), create missing parent directories (0755), write atomically with the mode and
//   owner set on the temp file, so the final name never exists with the wrong permissions.
// - Without a mode in the step an existing file keeps its mode (a new one gets 0644); without
//   an owner it keeps its owner (a new one belongs to the agent's user).
// - Ownership is enforced only when the agent runs as root (ctx.privileged); otherwise it is
//   left as is and the step output says so. Names are resolved with getent on the real system
//   (system/users.ts); an unknown user or group fails the step (`file.owner-unknown`).
// - Mode and owner are POSIX-only: on Windows they are neither enforced nor reported.
import type { Stats } from 'node:fs';
import { chmod, chown, lstat, mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import type { ObservedFile, Step } from '../../../schemas/protocol.ts';
import { AgentError, describeError } from '../errors.ts';
import { formatMode, fsyncDir, parseMode, sha256Bytes, sha256File, writeFileAtomic } from '../system/fs-atomic.ts';
import { resolveManagedPath, type ManagedPath } from '../system/paths.ts';
import { createAccountResolver, type Account, type AccountDatabase } from '../system/users.ts';
import type { ExecContext, StepOutcome } from './context.ts';

type WriteStep = Extract<Step, { action: 'file.write' }>;
type DeleteStep = Extract<Step, { action: 'file.delete' }>;
type Accounts = (database: AccountDatabase, nameOrId: string) => Promise<Account | undefined>;

interface Observation {
  observed: ObservedFile;
  stats?: Stats;
}

export async function writeFile(step: WriteStep, ctx: ExecContext): Promise<StepOutcome> {
  const target = await resolve(step.path, ctx);
  const accounts = createAccountResolver(ctx.exec);
  const posix = ctx.platform !== 'win32';
  const desiredMode = posix && step.mode !== undefined ? formatMode(parseMode(step.mode)) : undefined;
  const wantsOwnership = posix && (step.owner !== undefined || step.group !== undefined);
  const enforceOwnership = wantsOwnership && ctx.privileged;
  const notes = wantsOwnership && !ctx.privileged ? ['owner/group not enforced: the agent is not running as root'] : [];

  const before = await observeAt(step.key, target, ctx, accounts);
  if (before.stats && !before.stats.isFile() && !before.stats.isSymbolicLink()) {
    throw new AgentError('file.not-a-file', `${target.devicePath} exists and is not a regular file`);
  }
  const uid = enforceOwnership && step.owner !== undefined ? (await account(accounts, 'passwd', step.owner)).id : undefined;
  const gid = enforceOwnership && step.group !== undefined ? (await account(accounts, 'group', step.group)).id : undefined;

  const regular = before.stats?.isFile() === true;
  const contentRight = regular && before.observed.sha256 === step.sha256;
  const modeRight = desiredMode === undefined || before.observed.mode === desiredMode;
  const ownerRight = (uid === undefined || before.stats?.uid === uid) && (gid === undefined || before.stats?.gid === gid);
  if (contentRight && modeRight && ownerRight) {
    return { status: 'skipped', observed: before.observed, output: ['already in the desired state', ...notes].join('\n') };
  }

  if (contentRight) {
    if (!modeRight) await chmod(target.hostPath, parseMode(desiredMode!));
    if (!ownerRight) await chown(target.hostPath, uid ?? -1, gid ?? -1);
    notes.unshift('content already right: mode/owner updated');
  } else {
    let bytes: Uint8Array;
    try {
      bytes = await ctx.fetchBlob(step.sha256, { signal: ctx.signal });
    } catch (error) {
      throw new AgentError('blob.fetch', `blob ${step.sha256}: ${describeError(error)}`, { cause: error });
    }
    const actual = sha256Bytes(bytes);
    if (actual !== step.sha256 || (step.size >= 0 && bytes.length !== step.size)) {
      return {
        status: 'failed',
        observed: before.observed,
        error: describeError(
          new AgentError(
            'blob.hash-mismatch',
            `blob for ${target.devicePath} has sha256 ${actual} (${bytes.length} bytes), expected ${step.sha256} (${step.size} bytes); nothing written`,
          ),
        ),
      };
    }
    await mkdir(path.dirname(target.hostPath), { recursive: true, mode: 0o755 });
    const keep = regular ? before.stats : undefined;
    await writeFileAtomic(target.hostPath, bytes, {
      mode: posix ? (desiredMode ?? (keep ? keep.mode & 0o7777 : 0o644)) : undefined,
      uid: uid ?? (ctx.privileged && keep ? keep.uid : undefined),
      gid: gid ?? (ctx.privileged && keep ? keep.gid : undefined),
    });
  }

  const after = await observeAt(step.key, target, ctx, accounts);
  if (after.observed.sha256 !== step.sha256) {
    return {
      status: 'failed',
      observed: after.observed,
      error: `${target.devicePath} has sha256 ${after.observed.sha256 ?? 'none'} after the write`,
    };
  }
  return { status: 'succeeded', observed: after.observed, ...(notes.length ? { output: notes.join('\n') } : {}) };
}

export async function deleteFile(step: DeleteStep, ctx: ExecContext): Promise<StepOutcome> {
  const target = await resolve(step.path, ctx);
  const accounts = createAccountResolver(ctx.exec);
  const before = await observeAt(step.key, target, ctx, accounts);
  if (!before.stats) return { status: 'skipped', observed: before.observed, output: 'not present' };
  if (before.stats.isDirectory()) {
    throw new AgentError('file.not-a-file', `${target.devicePath} is a directory; only files are deleted`);
  }
  await rm(target.hostPath);
  await fsyncDir(path.dirname(target.hostPath));
  const after = await observeAt(step.key, target, ctx, accounts);
  return { status: after.observed.exists ? 'failed' : 'succeeded', observed: after.observed };
}

export async function observeFile(step: WriteStep | DeleteStep, ctx: ExecContext): Promise<ObservedFile> {
  const target = await resolve(step.path, ctx);
  return (await observeAt(step.key, target, ctx, createAccountResolver(ctx.exec))).observed;
}

function resolve(devicePath: string, ctx: ExecContext): Promise<ManagedPath> {
  return resolveManagedPath(ctx.root, devicePath, ctx.platform, { allowedRoots: ctx.allowedRoots });
}

async function observeAt(key: string, target: ManagedPath, ctx: ExecContext, accounts: Accounts): Promise<Observation> {
  let stats: Stats;
  try {
    stats = await lstat(target.hostPath);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') {
      return { observed: { key, type: 'file', path: target.devicePath, exists: false } };
    }
    throw error;
  }
  const observed: ObservedFile = { key, type: 'file', path: target.devicePath, exists: true };
  if (stats.isFile()) {
    observed.sha256 = await sha256File(target.hostPath);
    observed.size = stats.size;
  }
  if (ctx.platform !== 'win32') {
    observed.mode = formatMode(stats.mode);
    observed.owner = (await accounts('passwd', String(stats.uid)))?.name ?? String(stats.uid);
    observed.group = (await accounts('group', String(stats.gid)))?.name ?? String(stats.gid);
  }
  return { observed, stats };
}

async function account(accounts: Accounts, database: AccountDatabase, nameOrId: string): Promise<Account> {
  const found = await accounts(database, nameOrId);
  if (found === undefined) {
    throw new AgentError('file.owner-unknown', `${database === 'passwd' ? 'user' : 'group'} ${nameOrId} does not exist`);
  }
  return found;
}
