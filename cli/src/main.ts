// `deployx` — the one entry point for every command. Each command is a module exporting
// `run(args, io) → exit code`; nothing here reads the environment (commands that need
// configuration take it from `reconciler/src/config.ts`).
import { runAgent } from './commands/agent.ts';
import { runAudit } from './commands/audit.ts';
import { runDemo } from './commands/demo.ts';
import { runDevice } from './commands/device.ts';
import { runPlan } from './commands/plan.ts';
import { runRollout } from './commands/rollout.ts';
import { runServe } from './commands/serve.ts';
import { runSimulate } from './commands/simulate.ts';
import { runToken } from './commands/token.ts';
import { runUser } from './commands/user.ts';
import { runKeys } from './commands/keys.ts';
import { runValidate } from './commands/validate.ts';
import type { CommandIo } from './io.ts';

type Command = (args: string[], io: CommandIo) => Promise<number>;

const COMMANDS: Record<string, { run: Command; summary: string }> = {
  validate: { run: runValidate, summary: 'validate a fleet repository (working tree or --ref)' },
  plan: { run: runPlan, summary: 'what merging a change does to the fleet (per profile and device)' },
  rollout: { run: runRollout, summary: 'list rollouts; promote, pause or resume one' },
  serve: { run: runServe, summary: 'run the reconciler on a Git repository' },
  device: { run: runDevice, summary: 'list devices; approve or reject pending ones; arm a machine to install' },
  token: { run: runToken, summary: 'create, list and revoke enrollment and API tokens' },
  user: { run: runUser, summary: 'create, list and delete dashboard users' },
  audit: { run: runAudit, summary: 'verify the audit log\'s hash chain; list its newest entries' },
  keys: { run: runKeys, summary: 'show and rotate the server\'s job-signing keys' },
  agent: { run: runAgent, summary: 'run the agent on this machine (or confined to --root)' },
  simulate: { run: runSimulate, summary: 'simulated devices speaking the real protocol' },
  demo: { run: runDemo, summary: 'the example fleet, simulated devices and a sandboxed agent (npm start)' },
};

const USAGE = `usage: deployx <command> [options]

commands:
${Object.entries(COMMANDS)
  .map(([name, c]) => `  ${name.padEnd(10)} ${c.summary}`)
  .join('\n')}

Run "deployx <command> --help" for a command's options.`;

export async function main(argv: string[], io: CommandIo = processIo()): Promise<number> {
  const [name, ...args] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    io.out(USAGE);
    return name === undefined ? 2 : 0;
  }
  const command = COMMANDS[name];
  if (!command) {
    io.err(`deployx: unknown command "${name}"\n\n${USAGE}`);
    return 2;
  }
  return command.run(args, io);
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
