// deployx keys show [--data DIR]
// deployx keys rotate [--grace 7d] [--data DIR] [--store URL]
//
// The server's job-signing keys (reconciler/src/edges/keys/server-keys.ts). `rotate` makes a new
// current key and keeps the old one valid (it still signs, agents still trust it) for the grace
// period; a running server picks the change up within seconds, and agents learn the new key
// from the hello of their next connection.
import { parseArgs } from 'node:util';
import { parseDuration } from '../../../schemas/duration.ts';
import { readKeyring, rotateServerKeys } from '../../../reconciler/src/edges/keys/server-keys.ts';
import { cliActor, recordAudit } from '../../../reconciler/src/actions/audit.ts';
import { type CommandIo, errorLine, usageLine } from '../io.ts';
import { resolveDataDir } from '../running-server.ts';
import { openCommandStore, STORE_HELP, STORE_OPTION } from '../store-option.ts';

export const HELP = `usage: deployx keys show [--data DIR]
       deployx keys rotate [--grace 7d] [--data DIR] [--store URL]

show    each server signing key: fingerprint, state (current, valid until …, expired), created
rotate  a new key signs from now on; the old one stays valid for --grace (default 7d) so agents
        that trust only it keep verifying jobs until they reconnect and learn the new one
  --data DIR   the server's data dir (default: the one of the server running on this machine
               (deployx serve, npm start), else .deployx/server; the choice is printed)
${STORE_HELP}`;

export async function runKeys(args: string[], io: CommandIo): Promise<number> {
  const [sub, ...rest] = args;
  if (sub === '--help' || sub === '-h' || rest.includes('--help') || rest.includes('-h')) {
    io.out(HELP);
    return 0;
  }
  let values;
  try {
    ({ values } = parseArgs({ args: rest, options: { grace: { type: 'string', default: '7d' }, data: { type: 'string' }, ...STORE_OPTION } }));
  } catch (error) {
    io.err(usageLine('keys', (error as Error).message));
    return 2;
  }
  const dataDir = resolveDataDir('keys', values.data, io);
  try {
    if (sub === 'show') {
      const now = Date.now();
      for (const k of readKeyring(dataDir).keys) {
        const state =
          k.retiredAt === undefined ? 'current' : k.validUntil !== undefined && Date.parse(k.validUntil) > now ? `valid until ${k.validUntil}` : 'expired';
        io.out(`${k.keyid}  ${state.padEnd(36)} created ${k.createdAt}`);
      }
      return 0;
    }
    if (sub === 'rotate') {
      const graceMs = parseDuration(values.grace, { zero: true });
      // Opened first: a store that cannot be reached stops the rotation before it happens.
      const store = await openCommandStore(values.store, dataDir, io);
      let rotation;
      try {
        rotation = rotateServerKeys(dataDir, graceMs, new Date());
      } catch (error) {
        await store.close();
        throw error;
      }
      // An operator action: recorded in the audit log of the server's store.
      try {
        await recordAudit(store, {
          actor: cliActor(),
          action: 'server-key.rotate',
          target: `server-key:${rotation.current.keyid}`,
          outcome: 'success',
          details: { retired: rotation.retired.keyid, validUntil: rotation.retired.validUntil },
        });
      } finally {
        await store.close();
      }
      io.out(rotation.current.keyid);
      io.err(`new signing key ${rotation.current.keyid}; ${rotation.retired.keyid} stays valid until ${rotation.retired.validUntil}`);
      return 0;
    }
    io.err(usageLine('keys', sub ? `unknown subcommand "${sub}"` : 'a subcommand is required'));
    return 2;
  } catch (error) {
    io.err(errorLine('keys', error, io.debug));
    return 2;
  }
}
