// deployx agent --server URL [--token T] [--state DIR] [--root DIR] [--heartbeat 30s]
//               [--labels k=v,...] [--log-level info] [--ca FILE]
//
// Runs the DeployX agent until SIGINT/SIGTERM: enrolls with the token on first contact, then
// connects with the stored credential; runs jobs; reports every heartbeat. Logs are JSON lines
// on stdout. On the first signal it stops gracefully (the running job finishes — or, after 30 s,
// is cancelled — and its result is delivered or stays spooled for the next start); a second
// signal cancels the running job at once.
//
// Exit status: 0 stopped by a signal, 1 unexpected error, 2 usage, 3 the server refused the
// credential and there is no token to enroll again (or neither exists).
import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Agent } from '../../../agent/src/agent.ts';
import { describeError, isAgentError } from '../../../agent/src/errors.ts';
import { exec } from '../../../agent/src/system/exec.ts';
import { createLogger, SecretSet } from '../../../schemas/log.ts';
import { UsageError, type CommandIo, usageLine } from '../io.ts';
import { onTermination, parseInterval, parseLabels, parseLogLevel, parseServerUrl, plainHttpWarning, type LogLevelName } from './agent-args.ts';

export const HELP = `usage: deployx agent --server URL [--token T] [--state DIR] [--root DIR]
                     [--heartbeat 30s] [--labels k=v,...] [--log-level info] [--ca FILE]

Runs the DeployX agent on this machine until SIGINT or SIGTERM.
  --server URL      the DeployX server (http:// or https://)
  --token T         enrollment token for the first connection (or env DEPLOYX_ENROLLMENT_TOKEN);
                    not needed once the agent holds a credential
  --state DIR       the agent's private state: credential, spool, inventory
                    (default ./.deployx/agent)
  --root DIR        confine every managed path under DIR (/etc/x → DIR/etc/x): for trials
  --heartbeat D     how often to send a report (default 30s)
  --labels k=v,...  labels this device reports (facts.labels)
  --log-level L     debug, info, warn or error (default info)
  --ca FILE         PEM CA certificate(s) that issued the server's certificate: trusted instead
                    of the system's CAs for https:// (NODE_EXTRA_CA_CERTS=FILE adds to them)

Exit status: 0 stopped by a signal, 1 error, 2 usage, 3 refused by the server (enroll again
with a token).`;

export interface AgentCommandOptions {
  server: string;
  token: string | undefined;
  stateDir: string;
  root: string | undefined;
  heartbeatMs: number;
  labels: Record<string, string> | undefined;
  logLevel: LogLevelName;
  /** PATH for package managers and scripts. */
  searchPath: string | undefined;
  /** `--ca FILE`, resolved. */
  caFile: string | undefined;
}

/**
 * Option resolution — the one place this command reads the environment: the enrollment token
 * may come from DEPLOYX_ENROLLMENT_TOKEN (so it stays out of `ps` output and shell history),
 * and PATH is where package managers and script interpreters are looked up. Pure given `env`.
 */
export function resolveAgentOptions(args: string[], cwd: string, env: NodeJS.ProcessEnv): AgentCommandOptions | 'help' {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      server: { type: 'string' },
      token: { type: 'string' },
      state: { type: 'string' },
      root: { type: 'string' },
      heartbeat: { type: 'string' },
      labels: { type: 'string' },
      'log-level': { type: 'string' },
      ca: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) return 'help';
  if (positionals.length > 0) throw new UsageError(`unexpected argument ${JSON.stringify(positionals[0])}`);
  const token = values.token ?? (env.DEPLOYX_ENROLLMENT_TOKEN || undefined);
  return {
    server: parseServerUrl(values.server),
    token,
    stateDir: path.resolve(cwd, values.state ?? '.deployx/agent'),
    root: values.root === undefined ? undefined : path.resolve(cwd, values.root),
    heartbeatMs: values.heartbeat === undefined ? 30_000 : parseInterval('heartbeat', values.heartbeat),
    labels: values.labels === undefined ? undefined : parseLabels(values.labels),
    logLevel: values['log-level'] === undefined ? 'info' : parseLogLevel(values['log-level']),
    searchPath: env.PATH,
    caFile: values.ca === undefined ? undefined : path.resolve(cwd, values.ca),
  };
}

export async function runAgent(args: string[], io: CommandIo): Promise<number> {
  let options: AgentCommandOptions | 'help';
  try {
    options = resolveAgentOptions(args, io.cwd, process.env);
  } catch (error) {
    io.err(usageLine('agent', (error as Error).message));
    return 2;
  }
  if (options === 'help') {
    io.out(HELP);
    return 0;
  }
  if (options.heartbeatMs < 1000) {
    io.err(usageLine('agent', '--heartbeat must be at least 1s'));
    return 2;
  }

  let ca: string | undefined;
  if (options.caFile !== undefined) {
    try {
      ca = await readFile(options.caFile, 'utf8');
    } catch (error) {
      io.err(`deployx agent: --ca ${options.caFile}: cannot read it (${(error as NodeJS.ErrnoException).code ?? (error as Error).message}); give the PEM file of the CA that issued the server's certificate`);
      return 2;
    }
    if (!ca.includes('-----BEGIN CERTIFICATE-----')) {
      io.err(`deployx agent: --ca ${options.caFile}: not a PEM certificate (no BEGIN CERTIFICATE line)`);
      return 2;
    }
  }
  const warning = plainHttpWarning(options.server);
  if (warning !== undefined) io.err(`deployx agent: ${warning}`);

  const secrets = new SecretSet();
  const logger = createLogger({ write: io.out, level: options.logLevel, secrets });
  if (options.root !== undefined) await mkdir(options.root, { recursive: true });
  const agent = new Agent({
    server: options.server,
    ...(options.token === undefined ? {} : { token: options.token }),
    stateDir: options.stateDir,
    ...(options.root === undefined ? {} : { root: options.root }),
    exec,
    logger,
    secrets,
    heartbeatMs: options.heartbeatMs,
    ...(ca === undefined ? {} : { ca }),
    ...(options.labels === undefined ? {} : { labels: options.labels }),
    ...(options.searchPath === undefined ? {} : { searchPath: options.searchPath }),
  });

  const termination = onTermination(() => {
    logger.warn('second signal: cancelling the running job');
    void agent.stop({ graceMs: 0 });
  });
  try {
    await agent.start();
    const outcome = await Promise.race([
      agent.finished.then(() => ({ kind: 'finished' as const })),
      termination.signal.then((signal) => ({ kind: 'signal' as const, signal })),
    ]);
    if (outcome.kind === 'signal') {
      logger.info('stopping', { signal: outcome.signal });
      await agent.stop({ graceMs: 30_000 });
      logger.info('stopped');
    }
    return 0;
  } catch (error) {
    if (isAgentError(error, 'transport.refused') || isAgentError(error, 'transport.not-enrolled')) {
      io.err(`deployx agent: ${error.message} (${error.code})`);
      return 3;
    }
    io.err(`deployx agent: ${describeError(error)}`);
    return 1;
  } finally {
    termination.dispose();
    await agent.stop({ graceMs: 0, flushMs: 0 }).catch(() => undefined);
  }
}
