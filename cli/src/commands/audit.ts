// deployx audit verify [--data DIR] [--store URL]
// deployx audit list [--limit 50] [--data DIR] [--store URL]
//
// `verify` recomputes the audit log's hash chain from the server's store and compares the head
// record: exit 0 with the entry count and the head's hash (keep it somewhere else to compare with
// later), exit 1 with one line naming the first entry that was edited or removed, exit 2 when the
// store cannot be read. It may run while the server runs (SQLite allows a second reader;
// PostgreSQL any number).
import { access } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { verifyAuditLog } from '../../../reconciler/src/actions/audit.ts';
import { openStore } from '../../../reconciler/src/edges/store/open-store.ts';
import { type CommandIo, errorLine, usageLine } from '../io.ts';
import { resolveDataDir } from '../running-server.ts';
import { commandStoreSpec, STORE_HELP, STORE_OPTION } from '../store-option.ts';

export const HELP = `usage: deployx audit verify [--data DIR] [--store URL]
       deployx audit list [--limit 50] [--data DIR] [--store URL]

verify  recompute the audit log's hash chain; exit 1 naming the first edited or removed entry
list    the newest entries, one per line
  --data DIR   the server's data dir (default: the one of the server running on this machine
               (deployx serve, npm start), else .deployx/server; the choice is printed)
${STORE_HELP}`;

export async function runAudit(args: string[], io: CommandIo): Promise<number> {
  const [sub, ...rest] = args;
  let values;
  try {
    ({ values } = parseArgs({
      args: rest,
      options: {
        data: { type: 'string' },
        ...STORE_OPTION,
        limit: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (error) {
    io.err(usageLine('audit', (error as Error).message));
    return 2;
  }
  if (values.help || sub === '--help' || sub === '-h') {
    io.out(HELP);
    return 0;
  }
  if (sub !== 'verify' && sub !== 'list') {
    io.err(usageLine('audit', sub ? `unknown subcommand "${sub}"` : 'a subcommand is required'));
    return 2;
  }
  const limit = values.limit === undefined ? 50 : Number(values.limit);
  if (!Number.isInteger(limit) || limit < 1) {
    io.err(`deployx audit: --limit ${values.limit}: use a positive whole number`);
    return 2;
  }
  let store;
  try {
    const spec = commandStoreSpec(values.store, resolveDataDir('audit', values.data, io), io);
    // Reading an audit log never creates a store: a missing file is a wrong --data.
    if (spec.kind === 'sqlite') {
      try {
        await access(spec.file);
      } catch {
        io.err(`deployx audit: no store at ${spec.file}: give the server's data directory with --data DIR`);
        return 2;
      }
    }
    store = await openStore(spec);
  } catch (error) {
    io.err(errorLine('audit', error, io.debug));
    return 2;
  }
  try {
    if (sub === 'list') {
      for (const e of await store.listAudit({ limit })) {
        const details = Object.keys(e.details).length > 0 ? ` ${JSON.stringify(e.details)}` : '';
        io.out(`${String(e.seq).padStart(6)}  ${e.at}  ${e.actor}  ${e.action}  ${e.target}  ${e.outcome}${details}`);
      }
      return 0;
    }
    const result = await verifyAuditLog(store);
    if (!result.ok) {
      io.err(`deployx audit verify: ${result.message}`);
      return 1;
    }
    io.out(result.head ? `audit log intact: ${result.entries} entries, head ${result.head.seq} ${result.head.hash}` : 'audit log intact: no entries yet');
    return 0;
  } catch (error) {
    io.err(errorLine('audit', error, io.debug));
    return 2;
  } finally {
    await store.close();
  }
}
