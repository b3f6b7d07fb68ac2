// deployx serve --repo DIR|URL [--path SUBDIR] [--branch main] [--data DIR] [--store URL|FILE] [--port 8080] [--host 127.0.0.1] [--poll 30s]
//               [--verify-commits off|head|all] [--trusted-ssh-signers FILE] [--trusted-openpgp-keys FILE]...
//               [--tls-cert FILE --tls-key FILE] [--trust-proxy loopback|ADDRS|N|true]
import { parseArgs } from 'node:util';
import { ConfigError, loadServerConfig } from '../../../reconciler/src/config.ts';
import { startServer } from '../../../reconciler/src/main.ts';
import { TrustedKeysError } from '../../../reconciler/src/edges/signatures/commit-verifier.ts';
import { StoreOpenError, storeLabel } from '../../../reconciler/src/edges/store/open-store.ts';
import { type CommandIo, usageLine } from '../io.ts';
import { announceServer } from '../running-server.ts';

export const HELP = `usage: deployx serve --repo DIR|URL [--path SUBDIR] [--branch main] [--data DIR]
                     [--store postgres://USER@HOST/DB|FILE]
                     [--port 8080] [--host 127.0.0.1] [--poll 30s]
                     [--verify-commits off|head|all] [--trusted-ssh-signers FILE]
                     [--trusted-openpgp-keys FILE]...
                     [--tls-cert FILE --tls-key FILE] [--trust-proxy loopback|ADDRS|N|true]

Store (docs/operations.md, "Choosing the store"):
  --store URL|FILE    where the state lives: a PostgreSQL database (postgres://USER[:PASSWORD]
                      @HOST[:PORT]/DB) or a SQLite file (default: DATA/deployx.sqlite);
                      DEPLOYX_STORE is read when absent

Commit signatures (docs/security.md, "Commit signatures"):
  --verify-commits off         accept unsigned commits (default)
  --verify-commits head        the branch head must be signed by a trusted key
  --verify-commits all         every commit since the last accepted revision must be
                               (on the first start, just the head)
  --trusted-ssh-signers FILE   an SSH allowed_signers file (principals, options, key)
  --trusted-openpgp-keys FILE  armored OpenPGP public keys (gpg --armor --export);
                               repeat it or separate files with commas
  The keys are the server's own files, never read from the repository it verifies.

TLS:
  --tls-cert FILE     serve HTTPS and WSS (dashboard, API, agents) on the port: the certificate
  --tls-key FILE      chain and its private key, PEM; session cookies are then always Secure
  --trust-proxy P     a TLS-terminating reverse proxy is in front: believe X-Forwarded-Proto/-For
                      from P (loopback, addresses or CIDRs, a hop count, or true for any peer);
                      requests it received over HTTPS get Secure cookies

Environment: DEPLOYX_GIT_USERNAME / DEPLOYX_GIT_PASSWORD / DEPLOYX_GIT_TOKEN (repository auth),
DEPLOYX_STORE, DEPLOYX_WEBHOOK_SECRET, DEPLOYX_API_TOKEN, DEPLOYX_LOG_LEVEL, DEPLOYX_VERIFY_COMMITS,
DEPLOYX_TRUSTED_SSH_SIGNERS, DEPLOYX_TRUSTED_OPENPGP_KEYS, DEPLOYX_TLS_CERT, DEPLOYX_TLS_KEY,
DEPLOYX_TRUST_PROXY.`;

export async function runServe(args: string[], io: CommandIo): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args,
      options: {
        repo: { type: 'string' },
        path: { type: 'string' },
        branch: { type: 'string' },
        data: { type: 'string' },
        store: { type: 'string' },
        port: { type: 'string' },
        host: { type: 'string' },
        poll: { type: 'string' },
        'verify-commits': { type: 'string' },
        'trusted-ssh-signers': { type: 'string' },
        'trusted-openpgp-keys': { type: 'string', multiple: true },
        'tls-cert': { type: 'string' },
        'tls-key': { type: 'string' },
        'trust-proxy': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (error) {
    io.err(usageLine('serve', (error as Error).message));
    return 2;
  }
  if (values.help) {
    io.out(HELP);
    return 0;
  }
  let config;
  try {
    const { 'tls-cert': tlsCert, 'tls-key': tlsKey, 'trust-proxy': trustProxy, ...rest } = values;
    config = loadServerConfig(
      { ...rest, ...(tlsCert === undefined ? {} : { tlsCert }), ...(tlsKey === undefined ? {} : { tlsKey }), ...(trustProxy === undefined ? {} : { trustProxy }) },
      process.env,
      io.cwd,
    );
  } catch (error) {
    if (error instanceof ConfigError) {
      io.err(usageLine('serve', error.message));
      return 2;
    }
    throw error;
  }
  let server;
  try {
    server = await startServer(config);
  } catch (error) {
    if (error instanceof TrustedKeysError || error instanceof ConfigError) {
      io.err(`deployx serve: ${error.message}`);
      return 2;
    }
    if (error instanceof StoreOpenError) {
      io.err(`deployx serve: ${error.message}`);
      return 1;
    }
    throw error;
  }
  io.out(`DeployX serving ${config.branch} of ${config.repo.replace(/\/\/[^@/]+@/, '//')} on ${server.url}`);
  io.out(`admin API token: ${config.dataDir}/api-token`);
  // deployx token, user, rollout … run on this machine find this server (running-server.ts).
  const unannounce = announceServer({
    url: server.url,
    dataDir: config.dataDir,
    ...(config.store === undefined ? {} : { store: { kind: config.store.kind, label: storeLabel(config.store) } }),
  });
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  unannounce();
  await server.close();
  return 0;
}
