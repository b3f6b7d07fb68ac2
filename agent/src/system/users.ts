// User and group names ↔ numeric ids, for chown and for reporting a file's owner.
//
// Resolved with `getent` through the injected Exec, so NSS sources (LDAP, SSSD) count like on
// any other tool of the machine; where getent does not exist (minimal images) /etc/passwd and
// /etc/group of the real system are read. Never the sandbox root's: ownership is the host's.
import { readFile } from 'node:fs/promises';
import { isAgentError } from '../errors.ts';
import type { Exec } from './exec.ts';

export interface Account {
  name: string;
  id: number;
}

export type AccountDatabase = 'passwd' | 'group';

/** Looks up by name or by numeric id; undefined when it does not exist. */
export async function lookupAccount(exec: Exec, database: AccountDatabase, nameOrId: string): Promise<Account | undefined> {
  try {
    const result = await exec('getent', [database, nameOrId], { timeoutMs: 10_000 });
    if (result.exitCode === 0) return parseAccountLine(result.stdout.split('\n')[0] ?? '');
    if (result.exitCode === 2) return undefined;
  } catch (error) {
    if (!isAgentError(error, 'exec.not-found')) throw error;
  }
  const text = await readFile(database === 'passwd' ? '/etc/passwd' : '/etc/group', 'utf8').catch(() => '');
  for (const line of text.split('\n')) {
    const account = parseAccountLine(line);
    if (account && (account.name === nameOrId || String(account.id) === nameOrId)) return account;
  }
  return undefined;
}

/** `name:x:id:...` (passwd and group share the first three fields). */
export function parseAccountLine(line: string): Account | undefined {
  const [name, , id] = line.trim().split(':');
  if (!name || id === undefined || !/^\d+$/.test(id)) return undefined;
  return { name, id: Number(id) };
}

/** A cache per use: one file step resolves the same few names several times. */
export function createAccountResolver(exec: Exec): (database: AccountDatabase, nameOrId: string) => Promise<Account | undefined> {
  const cache = new Map<string, Promise<Account | undefined>>();
  return (database, nameOrId) => {
    const key = `${database}:${nameOrId}`;
    let hit = cache.get(key);
    if (hit === undefined) {
      hit = lookupAccount(exec, database, nameOrId);
      cache.set(key, hit);
    }
    return hit;
  };
}
