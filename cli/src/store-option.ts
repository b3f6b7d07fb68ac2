// `--store URL|FILE` for the commands that open the server's store (token, user, keys, audit):
// the same choice as `deployx serve --store` (reconciler/src/edges/store/open-store.ts), with
// DEPLOYX_STORE when the option is absent and the data dir's SQLite file when both are.
import type { Store } from '../../reconciler/src/edges/store/store.ts';
import { openStore, StoreOpenError, storeSpecFrom, type StoreSpec } from '../../reconciler/src/edges/store/open-store.ts';
import type { CommandIo } from './io.ts';
import { runningServers } from './running-server.ts';

export const STORE_OPTION = { store: { type: 'string' } } as const;

/** The help line of --store, the same in every command. */
export const STORE_HELP = `  --store URL  the server's store when it is not the data dir's SQLite file: postgres://USER
               [:PASSWORD]@HOST[:PORT]/DB or a file (default: DEPLOYX_STORE, else DATA/deployx.sqlite)`;

/**
 * The store a command names. Without --store or DEPLOYX_STORE, a server running on this data dir
 * with PostgreSQL is not silently passed by: the command stops and says which store to give.
 */
export function commandStoreSpec(store: string | undefined, dataDir: string, io: CommandIo, env: NodeJS.ProcessEnv = process.env): StoreSpec {
  const value = store ?? env.DEPLOYX_STORE;
  if ((value === undefined || value === '') && !(env.DEPLOYX_STORE ?? '')) {
    const elsewhere = runningServers(env).find((s) => s.dataDir === dataDir && s.store !== undefined && s.store.kind !== 'sqlite');
    if (elsewhere?.store) {
      throw new StoreOpenError(`the server running at ${elsewhere.url} keeps its state in ${elsewhere.store.label}: give its URL with --store (or DEPLOYX_STORE)`);
    }
  }
  return storeSpecFrom(value, dataDir, io.cwd);
}

export function openCommandStore(store: string | undefined, dataDir: string, io: CommandIo, env: NodeJS.ProcessEnv = process.env): Promise<Store> {
  return openStore(commandStoreSpec(store, dataDir, io, env));
}
