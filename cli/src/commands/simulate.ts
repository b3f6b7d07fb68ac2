// deployx simulate --server URL --agents N [--token T] [--labels k=v,...] [--failure-rate 0.1]
//                  [--fail-devices a,b] [--latency 50ms] [--prefix sim] [--state DIR]
//                  [--heartbeat 30s] [--batch 200] [--duration D] [--stats-every 10s]
//
// N simulated devices in this process, each with its own connection speaking the real agent
// protocol (agent/src/simulator). Runs until SIGINT/SIGTERM (or --duration), printing a JSON
// stats line every --stats-every. Exit status: 0 done, 1 error, 2 usage.
import path from 'node:path';
import { parseArgs } from 'node:util';
import { describeError } from '../../../agent/src/errors.ts';
import { startSimulation, type SimulationOptions } from '../../../agent/src/simulator/index.ts';
import { createLogger, SecretSet } from '../../../schemas/log.ts';
import { UsageError, type CommandIo, usageLine } from '../io.ts';
import { onTermination, parseInterval, parseLabels, parseList, parseLogLevel, parseServerUrl, type LogLevelName } from './agent-args.ts';

export const HELP = `usage: deployx simulate --server URL --agents N [--token T] [--labels k=v,...]
                        [--failure-rate 0.1] [--fail-devices a,b] [--latency 50ms]
                        [--prefix sim] [--state DIR] [--heartbeat 30s] [--batch 200]
                        [--duration D] [--stats-every 10s] [--log-level warn]

Simulates N devices that speak the real agent protocol, each over its own connection, with an
in-memory package database and file system.
  --agents N          how many devices (<prefix>-1 … <prefix>-N)
                      (send the process SIGUSR2 to make every device report at once)
  --token T           enrollment token (or env DEPLOYX_ENROLLMENT_TOKEN); devices that already
                      hold a credential in --state reconnect with it
  --labels k=v,...    labels of every device (each also gets index=<n>); role=desktop|kiosk
                      makes Windows devices with Chocolatey, anything else Linux with apt
  --failure-rate R    share of (device, job) pairs that fail, deterministic per pair (default 0)
  --fail-devices a,b  devices that fail every job
  --latency D         added to every step that changes something (default 0ms)
  --prefix P          hostname prefix (default sim)
  --state DIR         where the devices' credentials are kept (default ./.deployx/simulator)
  --heartbeat D       report interval per device (default 30s)
  --batch N           connections opened at a time (default 200)
  --duration D        stop after D (default: run until a signal)
  --stats-every D     print counters every D (default 10s; 0s for never)
  --log-level L       per-device logs at or above L (default warn)`;

export interface SimulateCommandOptions extends Omit<SimulationOptions, 'logger' | 'stateDir'> {
  stateDir: string;
  durationMs: number | undefined;
  statsEveryMs: number;
  logLevel: LogLevelName;
}

/**
 * Option resolution — the one place this command reads the environment: the enrollment token
 * may come from DEPLOYX_ENROLLMENT_TOKEN. Pure given `env`.
 */
export function resolveSimulateOptions(args: string[], cwd: string, env: NodeJS.ProcessEnv): SimulateCommandOptions | 'help' {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      server: { type: 'string' },
      agents: { type: 'string' },
      token: { type: 'string' },
      labels: { type: 'string' },
      'failure-rate': { type: 'string' },
      'fail-devices': { type: 'string' },
      latency: { type: 'string' },
      prefix: { type: 'string' },
      state: { type: 'string' },
      heartbeat: { type: 'string' },
      batch: { type: 'string' },
      duration: { type: 'string' },
      'stats-every': { type: 'string' },
      'log-level': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) return 'help';
  if (positionals.length > 0) throw new UsageError(`unexpected argument ${JSON.stringify(positionals[0])}`);
  const server = parseServerUrl(values.server);
  const agents = Number(values.agents);
  if (values.agents === undefined || !Number.isInteger(agents) || agents < 1 || agents > 100_000) {
    throw new UsageError('--agents N is required (1 to 100000)');
  }
  const failureRate = values['failure-rate'] === undefined ? 0 : Number(values['failure-rate']);
  if (!(failureRate >= 0 && failureRate <= 1)) throw new UsageError('--failure-rate: a number from 0 to 1');
  const batchSize = values.batch === undefined ? 200 : Number(values.batch);
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new UsageError('--batch: a positive integer');
  const prefix = values.prefix ?? 'sim';
  if (!/^[a-z0-9]([a-z0-9-]{0,40}[a-z0-9])?$/.test(prefix)) throw new UsageError('--prefix: lowercase letters, digits and dashes');
  const heartbeatMs = values.heartbeat === undefined ? 30_000 : parseInterval('heartbeat', values.heartbeat);
  if (heartbeatMs < 1000) throw new UsageError('--heartbeat must be at least 1s');
  const token = values.token ?? (env.DEPLOYX_ENROLLMENT_TOKEN || undefined);
  return {
    server,
    agents,
    ...(token === undefined ? {} : { token }),
    ...(values.labels === undefined ? {} : { labels: parseLabels(values.labels) }),
    failureRate,
    ...(values['fail-devices'] === undefined ? {} : { failDevices: parseList(values['fail-devices']) }),
    latencyMs: values.latency === undefined ? 0 : parseInterval('latency', values.latency),
    prefix,
    stateDir: path.resolve(cwd, values.state ?? '.deployx/simulator'),
    heartbeatMs,
    batchSize,
    durationMs: values.duration === undefined ? undefined : parseInterval('duration', values.duration),
    statsEveryMs: values['stats-every'] === undefined ? 10_000 : parseInterval('stats-every', values['stats-every']),
    logLevel: values['log-level'] === undefined ? 'warn' : parseLogLevel(values['log-level']),
  };
}

export async function runSimulate(args: string[], io: CommandIo): Promise<number> {
  let options: SimulateCommandOptions | 'help';
  try {
    options = resolveSimulateOptions(args, io.cwd, process.env);
  } catch (error) {
    io.err(usageLine('simulate', (error as Error).message));
    return 2;
  }
  if (options === 'help') {
    io.out(HELP);
    return 0;
  }
  const { durationMs, statsEveryMs, logLevel, ...simulation } = options;
  const secrets = new SecretSet();
  secrets.add(simulation.token);
  const logger = createLogger({ write: io.out, level: logLevel, secrets });
  const summary = createLogger({ write: io.out, level: 'info', secrets });
  const termination = onTermination(() => undefined);
  let sim: Awaited<ReturnType<typeof startSimulation>> | undefined;
  let ticker: ReturnType<typeof setInterval> | undefined;
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    const started = Date.now();
    sim = await startSimulation({ ...simulation, logger });
    summary.info('simulator starting', { server: simulation.server, agents: simulation.agents, stateDir: simulation.stateDir });
    const current = sim;
    // Load tests: `kill -USR2 <pid>` makes every device report at once (a report burst).
    const burst = () => {
      summary.info('report burst', { devices: current.devices.length });
      for (const device of current.devices) void device.link.sendReport().catch(() => undefined);
    };
    process.on('SIGUSR2', burst);
    if (statsEveryMs > 0) ticker = setInterval(() => summary.info('simulator stats', { ...current.stats() }), statsEveryMs);
    void sim.ready.then(() => summary.info('simulator connected', { ms: Date.now() - started, ...current.stats() }));
    const deadline = new Promise<'duration'>((resolve) => {
      if (durationMs !== undefined) timer = setTimeout(() => resolve('duration'), durationMs);
    });
    const why = await Promise.race([termination.signal, deadline]);
    summary.info('simulator stopping', { reason: why });
    clearInterval(ticker);
    await sim.stop();
    summary.info('simulator stopped', { ...sim.stats() });
    return 0;
  } catch (error) {
    io.err(`deployx simulate: ${describeError(error)}`);
    return 1;
  } finally {
    clearInterval(ticker);
    clearTimeout(timer);
    termination.dispose();
    process.removeAllListeners('SIGUSR2');
    await sim?.stop().catch(() => undefined);
  }
}
