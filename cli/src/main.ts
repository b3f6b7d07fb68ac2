// `deployx` — the one entry point for every command. Each command is a module exporting
// `run(args, io) → exit code`; nothing here reads the environment (commands that need
// configuration take it from `reconciler/src/config.ts`).
import { type CommandIo, errorLine, UsageError, usageLine } from './io.ts';

type Command = (args: string[], io: CommandIo) => Promise<number>;

/**
 * Each command's module is loaded when that command runs: `deployx agent` and `deployx simulate`
 * do not load the server (express, socket.io's server, isomorphic-git, openpgp), and `deployx
 * serve` does not load the agent. A server restarted in a reconnect storm listens that much sooner.
 */
const COMMANDS: Record<string, { load: () => Promise<{ run: Command; help: string }>; summary: string }> = {
  validate: { load: async () => { const m = await import('./commands/validate.ts'); return { run: m.runValidate, help: m.HELP }; }, summary: 'validate a fleet repository (working tree or --ref)' },
  plan: { load: async () => { const m = await import('./commands/plan.ts'); return { run: m.runPlan, help: m.HELP }; }, summary: 'what merging a change does to the fleet (per profile and device)' },
  rollout: { load: async () => { const m = await import('./commands/rollout.ts'); return { run: m.runRollout, help: m.HELP }; }, summary: 'list rollouts; promote, pause or resume one' },
  serve: { load: async () => { const m = await import('./commands/serve.ts'); return { run: m.runServe, help: m.HELP }; }, summary: 'run the reconciler on a Git repository' },
  device: { load: async () => { const m = await import('./commands/device.ts'); return { run: m.runDevice, help: m.HELP }; }, summary: 'list devices; approve or reject pending ones; arm a machine to install' },
  token: { load: async () => { const m = await import('./commands/token.ts'); return { run: m.runToken, help: m.HELP }; }, summary: 'create, list and revoke enrollment and API tokens' },
  user: { load: async () => { const m = await import('./commands/user.ts'); return { run: m.runUser, help: m.HELP }; }, summary: 'create, list and delete dashboard users' },
  audit: { load: async () => { const m = await import('./commands/audit.ts'); return { run: m.runAudit, help: m.HELP }; }, summary: 'verify the audit log\'s hash chain; list its newest entries' },
  keys: { load: async () => { const m = await import('./commands/keys.ts'); return { run: m.runKeys, help: m.HELP }; }, summary: 'show and rotate the server\'s job-signing keys' },
  agent: { load: async () => { const m = await import('./commands/agent.ts'); return { run: m.runAgent, help: m.HELP }; }, summary: 'run the agent on this machine (or confined to --root)' },
  simulate: { load: async () => { const m = await import('./commands/simulate.ts'); return { run: m.runSimulate, help: m.HELP }; }, summary: 'simulated devices speaking the real protocol' },
  demo: { load: async () => { const m = await import('./commands/demo.ts'); return { run: m.runDemo, help: m.HELP }; }, summary: 'the example fleet, simulated devices and a sandboxed agent (npm start)' },
};

const USAGE = `usage: deployx <command> [options]

commands:
${Object.entries(COMMANDS)
  .map(([name, c]) => `  ${name.padEnd(10)} ${c.summary}`)
  .join('\n')}

Run "deployx <command> --help" for a command's options. Every command also takes --debug,
which prints the stack of an unexpected error.`;

export async function main(argv: string[], io: CommandIo = processIo()): Promise<number> {
  // `--debug` belongs to every command: an unexpected error is printed with its stack.
  const debug = argv.includes('--debug');
  const [name, ...args] = debug ? argv.filter((a) => a !== '--debug') : argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    io.out(USAGE);
    return name === undefined ? 2 : 0;
  }
  const entry = Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
  if (!entry) {
    io.err(`deployx: unknown command "${name}" (see "deployx --help" for the commands)`);
    return 2;
  }
  const command = await entry.load();
  if (wantsHelp(args)) {
    io.out(command.help);
    return 0;
  }
  try {
    return await command.run(args, { ...io, debug });
  } catch (error) {
    return reportUnexpected(name, error, args, { ...io, debug });
  }
}

/** `--help` or `-h` anywhere before a `--` (`deployx token create --help` too). */
function wantsHelp(args: readonly string[]): boolean {
  for (const arg of args) {
    if (arg === '--') return false;
    if (arg === '--help' || arg === '-h') return true;
  }
  return false;
}

/**
 * An error a command did not turn into its own message, as one line: what, why, what to do. The
 * stack (and a store's own text) only with --debug.
 */
function reportUnexpected(name: string, error: unknown, args: readonly string[], io: CommandIo): number {
  const code = (error as { code?: unknown }).code;
  const message = error instanceof Error ? error.message : String(error);
  if (error instanceof UsageError || (typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS_'))) {
    io.err(usageLine(name, message));
    return 2;
  }
  if (code === 'EADDRINUSE') {
    const port = (error as { port?: number }).port ?? portOf(args);
    io.err(`deployx ${name}: port ${port ?? '(the one asked for)'} is in use by another program; stop it, or pick another port with --port`);
  } else if (code === 'EACCES' && (error as { syscall?: string }).syscall === 'listen') {
    io.err(`deployx ${name}: not allowed to listen on port ${(error as { port?: number }).port ?? portOf(args) ?? '?'}; pick one above 1023 with --port`);
  } else {
    const line = errorLine(name, error, io.debug);
    io.err(line.includes('--debug') || io.debug ? line : `${line} (run again with --debug for details)`);
  }
  if (io.debug && error instanceof Error && error.stack) io.err(error.stack);
  return 1;
}

function portOf(args: readonly string[]): string | undefined {
  const at = args.indexOf('--port');
  if (at >= 0) return args[at + 1];
  return args.find((a) => a.startsWith('--port='))?.slice('--port='.length);
}

function processIo(): CommandIo {
  return {
    out: (line) => process.stdout.write(line + '\n'),
    err: (line) => process.stderr.write(line + '\n'),
    cwd: process.cwd(),
    readSecret,
  };
}

/** Reads one line from stdin; on a terminal, prompts and does not echo what is typed. */
async function readSecret(prompt: string): Promise<string> {
  const { createInterface } = await import('node:readline');
  const terminal = process.stdin.isTTY === true;
  const rl = createInterface({ input: process.stdin, output: terminal ? process.stderr : undefined, terminal });
  if (terminal) {
    process.stderr.write(prompt);
    // Swallow the echo of typed characters; readline still collects them.
    (rl as unknown as { _writeToOutput: (s: string) => void })._writeToOutput = () => undefined;
  }
  try {
    const line = await new Promise<string>((resolve, reject) => {
      rl.once('line', resolve);
      rl.once('close', () => reject(new Error('no password given on stdin')));
    });
    if (terminal) process.stderr.write('\n');
    return line;
  } finally {
    rl.close();
  }
}
