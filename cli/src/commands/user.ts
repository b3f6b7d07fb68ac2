// deployx user create --name N --role viewer|operator|admin [--reset] [--data DIR]
// deployx user list [--data DIR]
// deployx user delete NAME [--data DIR]
//
// The password is prompted (not echoed) on a terminal, or read from the first line of stdin
// (`printf '%s\n' "$PW" | deployx user create ...`); never from an argument, which `ps` shows.
import { mkdir } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { cliActor, recordAudit } from '../../../reconciler/src/actions/audit.ts';
import { createUser } from '../../../reconciler/src/actions/users.ts';
import { type CommandIo, errorLine, usageLine } from '../io.ts';
import { resolveDataDir } from '../running-server.ts';
import { openCommandStore, STORE_HELP, STORE_OPTION } from '../store-option.ts';

export const HELP = `usage: deployx user create --name N --role viewer|operator|admin [--reset] [--data DIR] [--store URL]
       deployx user list [--data DIR] [--store URL]
       deployx user delete NAME [--data DIR] [--store URL]

The password is prompted for, or read from the first line of stdin.
  --reset      change an existing user's role and password
  --data DIR   the server's data dir (default: the one of the server running on this machine
               (deployx serve, npm start), else .deployx/server; the choice is printed)
${STORE_HELP}`;

export async function runUser(args: string[], io: CommandIo): Promise<number> {
  const [sub, ...rest] = args;
  let parsed;
  try {
    parsed = parseArgs({
      args: rest,
      allowPositionals: true,
      options: {
        name: { type: 'string' },
        role: { type: 'string' },
        reset: { type: 'boolean', default: false },
        data: { type: 'string' },
        ...STORE_OPTION,
      },
    });
  } catch (error) {
    io.err(usageLine('user', (error as Error).message));
    return 2;
  }
  const { values, positionals } = parsed;
  if (sub !== 'create' && sub !== 'list' && sub !== 'delete') {
    io.err(usageLine('user', sub ? `unknown subcommand "${sub}"` : 'a subcommand is required'));
    return 2;
  }
  if (sub === 'delete' && !positionals[0]) {
    io.err(usageLine('user', 'delete needs a user NAME ("deployx user list" shows them)'));
    return 2;
  }
  if (sub === 'create' && (!values.name || !values.role)) {
    io.err(usageLine('user', '--name and --role are required'));
    return 2;
  }
  // The data dir may not exist yet: users and tokens can be made before the first `serve`.
  const dataDir = resolveDataDir('user', values.data, io);
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  const store = await openCommandStore(values.store, dataDir, io);
  try {
    if (sub === 'create') {
      if (!io.readSecret) throw new Error('no way to read a password here');
      const password = await io.readSecret(`password for ${values.name}: `);
      const existed = values.reset && (await store.getUser(values.name!)) !== undefined;
      const user = await createUser(store, { name: values.name!, role: values.role!, password, replace: values.reset });
      // A reset changes the role and the password; the entry says which role, never the password.
      await recordAudit(store, { actor: cliActor(), action: existed ? 'user.update' : 'user.create', target: `user:${user.name}`, outcome: 'success', details: { role: user.role } });
      io.err(`user ${user.name} (${user.role}) ${values.reset ? 'saved' : 'created'}`);
      return 0;
    }
    if (sub === 'list') {
      for (const u of await store.listUsers()) io.out(`${u.name.padEnd(24)} ${u.role.padEnd(9)} created ${u.createdAt}`);
      return 0;
    }
    await store.deleteUser(positionals[0]!);
    await recordAudit(store, { actor: cliActor(), action: 'user.delete', target: `user:${positionals[0]!}`, outcome: 'success' });
    io.err(`user ${positionals[0]} deleted (with their sessions)`);
    return 0;
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (code === 'store.conflict') io.err(`deployx user: a user named ${values.name} exists; add --reset to change its role and password`);
    else if (code === 'store.not-found') io.err(`deployx user: no user is named ${positionals[0] ?? values.name}; "deployx user list" shows them`);
    else io.err(errorLine('user', error, io.debug));
    return code === 'user.invalid' || code === 'store.conflict' || code === 'store.not-found' ? 1 : 2;
  } finally {
    await store.close();
  }
}
