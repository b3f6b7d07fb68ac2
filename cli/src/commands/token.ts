// deployx token create --name N [--expires 7d] [--max-uses N] [--labels k=v,...] [--data DIR] [--store URL]
// deployx token create --api --role viewer|operator|admin --name N [--expires 90d] [--data DIR] [--store URL]
// deployx token list [--data DIR] [--store URL]
// deployx token revoke ID [--data DIR] [--store URL]
//
// Enrollment tokens let agents enroll; API tokens (`--api`) let tools call /api/v1 and /ui with a
// role. A token is printed once; only its hash is stored.
import { randomUUID } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { cliActor, recordAudit } from '../../../reconciler/src/actions/audit.ts';
import type { Store } from '../../../reconciler/src/edges/store/store.ts';
import { formatEnrollmentToken } from '../../../schemas/enrollment-token.ts';
import { ensureKeyring, readKeyring } from '../../../reconciler/src/edges/keys/server-keys.ts';
import { hashSecret, newSecret } from '../../../reconciler/src/edges/transport/agent-gateway.ts';
import { type CommandIo, errorLine, usageLine } from '../io.ts';
import { resolveDataDir } from '../running-server.ts';
import { openCommandStore, STORE_HELP, STORE_OPTION } from '../store-option.ts';
import { readDuration } from '../../../schemas/duration.ts';
import { ROLES, type Role } from '../../../schemas/protocol.ts';

export const HELP = `usage: deployx token create --name N [--expires 7d] [--max-uses N] [--labels k=v,...] [--device ID] [--data DIR] [--store URL]
       deployx token create --api --role viewer|operator|admin --name N [--expires 90d] [--data DIR] [--store URL]
       deployx token list [--data DIR] [--store URL]
       deployx token revoke ID [--data DIR] [--store URL]

Enrollment tokens let agents enroll (printed with the server key they pin); API tokens (--api)
let tools call the API with a role. A token is printed once; only its hash is stored.
  --name N        what the token is for (shown in token list and the audit log)
  --expires 7d    when it stops working (default: never)
  --max-uses N    enrollments it allows (default unlimited)
  --labels k=v    labels given to the devices that enroll with it
  --device ID     bind it to one declared device (enrolls it without approval)
  --data DIR   the server's data dir (default: the one of the server running on this machine
               (deployx serve, npm start), else .deployx/server; the choice is printed)
${STORE_HELP}`;

export async function runToken(args: string[], io: CommandIo): Promise<number> {
  const [sub, ...rest] = args;
  let parsed;
  try {
    parsed = parseArgs({
      args: rest,
      allowPositionals: true,
      options: {
        name: { type: 'string' },
        expires: { type: 'string' },
        'max-uses': { type: 'string' },
        labels: { type: 'string' },
        device: { type: 'string' },
        api: { type: 'boolean', default: false },
        role: { type: 'string' },
        data: { type: 'string' },
        ...STORE_OPTION,
      },
    });
  } catch (error) {
    io.err(usageLine('token', (error as Error).message));
    return 2;
  }
  const { values, positionals } = parsed;
  // The data dir may not exist yet: users and tokens can be made before the first `serve`.
  const dataDir = resolveDataDir('token', values.data, io);
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  const store = await openCommandStore(values.store, dataDir, io);
  try {
    if (sub === 'create') {
      if (!values.name) return usage(io, '--name is required');
      if (values.api) {
        if (!values.role) return usage(io, '--api needs --role viewer|operator|admin');
        const created = await createApiToken(store, { name: values.name, role: values.role, ...(values.expires ? { expires: values.expires } : {}) });
        await recordAudit(store, {
          actor: cliActor(),
          action: 'api-token.create',
          target: `api-token:${created.id}`,
          outcome: 'success',
          details: { name: values.name, role: values.role, ...(values.expires ? { expires: values.expires } : {}) },
        });
        io.out(created.token);
        io.err(`API token "${values.name}" (${created.id}, ${values.role}) created; it is shown once, only its hash is stored`);
        return 0;
      }
      if (values.role) return usage(io, '--role is for API tokens: add --api');
      // Made here when the server has not started yet: the token must name the key agents pin.
      ensureKeyring(dataDir, new Date());
      const created = await createEnrollmentToken(store, {
        serverKey: readCurrentKey(dataDir),
        name: values.name,
        ...(values.expires ? { expires: values.expires } : {}),
        ...(values['max-uses'] ? { maxUses: Number(values['max-uses']) } : {}),
        ...(values.labels ? { labels: parseLabels(values.labels) } : {}),
        ...(values.device ? { device: values.device } : {}),
      });
      await recordAudit(store, {
        actor: cliActor(),
        action: 'enrollment-token.create',
        target: `enrollment-token:${created.id}`,
        outcome: 'success',
        details: {
          name: values.name,
          ...(values.expires ? { expires: values.expires } : {}),
          ...(values['max-uses'] ? { maxUses: Number(values['max-uses']) } : {}),
          ...(values.device ? { device: values.device } : {}),
        },
      });
      io.out(created.token);
      io.err(`token "${values.name}" (${created.id}) created; it is shown once, only its hash is stored`);
      return 0;
    }
    if (sub === 'list') {
      for (const t of await store.listEnrollmentTokens()) {
        const usedUp = t.maxUses !== undefined && t.uses >= t.maxUses;
        const state = t.revokedAt ? 'revoked' : t.expiresAt && t.expiresAt < new Date().toISOString() ? 'expired' : usedUp ? 'used up' : 'active';
        io.out(`${t.id}  enroll  ${t.name.padEnd(20)} ${state.padEnd(8)} uses ${t.uses}/${t.maxUses ?? '∞'}  expires ${t.expiresAt ?? 'never'}`);
      }
      for (const t of await store.listApiTokens()) {
        const state = t.revokedAt ? 'revoked' : t.expiresAt && t.expiresAt < new Date().toISOString() ? 'expired' : 'active';
        io.out(`${t.id}  api     ${t.name.padEnd(20)} ${state.padEnd(8)} role ${t.role.padEnd(8)}  expires ${t.expiresAt ?? 'never'}`);
      }
      return 0;
    }
    if (sub === 'revoke') {
      const id = positionals[0];
      if (!id) return usage(io, 'revoke needs a token ID ("deployx token list" shows them)');
      const isApi = (await store.listApiTokens()).some((t) => t.id === id);
      if (!isApi && !(await store.listEnrollmentTokens()).some((t) => t.id === id)) {
        io.err(`deployx token: no token has the id ${id}; "deployx token list" shows them`);
        return 1;
      }
      await (isApi ? store.revokeApiToken(id) : store.revokeEnrollmentToken(id));
      const kind = isApi ? 'api-token' : 'enrollment-token';
      await recordAudit(store, { actor: cliActor(), action: `${kind}.revoke`, target: `${kind}:${id}`, outcome: 'success' });
      io.out(`revoked ${positionals[0]}`);
      return 0;
    }
    return usage(io, sub ? `unknown subcommand "${sub}"` : 'a subcommand is required');
  } catch (error) {
    io.err(errorLine('token', error, io.debug));
    return 2;
  } finally {
    await store.close();
  }
}

function usage(io: CommandIo, message: string): number {
  io.err(usageLine('token', message));
  return 2;
}

export interface CreateTokenOptions {
  name: string;
  expires?: string;
  maxUses?: number;
  labels?: Record<string, string>;
  device?: string;
  now?: Date;
  /** Fingerprint of the server's current signing key, which the token carries for agents to pin. */
  serverKey: string;
}

/** Creates an enrollment token (`dxe_<secret>.<key hex>`, schemas/enrollment-token.ts); returns it (shown once) and its id. */
export async function createEnrollmentToken(
  store: Store,
  options: CreateTokenOptions,
): Promise<{ id: string; token: string }> {
  const now = options.now ?? new Date();
  const expiresAt = expiryFrom(options.expires, now);
  if (options.maxUses !== undefined && !(Number.isInteger(options.maxUses) && options.maxUses > 0)) {
    throw new Error('--max-uses must be a positive integer');
  }
  const secret = newSecret('dxe');
  const token = formatEnrollmentToken(secret, options.serverKey);
  const id = randomUUID();
  await store.createEnrollmentToken({
    id,
    name: options.name,
    tokenHash: hashSecret(secret),
    createdAt: now.toISOString(),
    ...(expiresAt ? { expiresAt } : {}),
    ...(options.maxUses !== undefined ? { maxUses: options.maxUses } : {}),
    labels: options.labels ?? {},
    ...(options.device ? { boundDevice: options.device } : {}),
  });
  return { id, token };
}

/** Creates an API token with a role; returns the secret (shown once) and its id. */
export async function createApiToken(
  store: Store,
  options: { name: string; role: string; expires?: string; now?: Date },
): Promise<{ id: string; token: string }> {
  if (!ROLES.includes(options.role as Role)) throw new Error(`--role ${options.role}: use ${ROLES.join(', ')}`);
  const now = options.now ?? new Date();
  const expiresAt = expiryFrom(options.expires, now);
  const token = newSecret('dxa');
  const id = randomUUID();
  await store.createApiToken({
    id,
    name: options.name,
    role: options.role as Role,
    tokenHash: hashSecret(token),
    createdAt: now.toISOString(),
    ...(expiresAt ? { expiresAt } : {}),
  });
  return { id, token };
}

export function parseLabels(text: string): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const pair of text.split(',').filter(Boolean)) {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new Error(`label "${pair}" must be key=value`);
    labels[pair.slice(0, eq).trim()] = pair.slice(eq + 1).trim();
  }
  return labels;
}

/** `--expires 7d` → the ISO time that far from `now`; undefined without the option. */
function expiryFrom(expires: string | undefined, now: Date): string | undefined {
  if (!expires) return undefined;
  const ms = readDuration(expires);
  if (ms === undefined) throw new Error(`--expires ${expires}: use a duration like 7d, 12h or 30m`);
  return new Date(now.getTime() + ms).toISOString();
}


/** The current key's fingerprint from the keyring of `dataDir`. */
function readCurrentKey(dataDir: string): string {
  return readKeyring(dataDir).keys.find((k) => k.retiredAt === undefined)!.keyid;
}
