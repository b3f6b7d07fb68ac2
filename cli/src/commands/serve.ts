// deployx serve --repo DIR|URL [--path SUBDIR] [--branch main] [--data DIR] [--port 8080] [--host 127.0.0.1] [--poll 30s]
import { parseArgs } from 'node:util';
import { ConfigError, loadServerConfig } from '../../../reconciler/src/config.ts';
import { startServer } from '../../../reconciler/src/main.ts';
import type { CommandIo } from '../io.ts';

const HELP = `usage: deployx serve --repo DIR|URL [--path SUBDIR] [--branch main] [--data DIR]
                     [--port 8080] [--host 127.0.0.1] [--poll 30s]

Environment: DEPLOYX_GIT_USERNAME / DEPLOYX_GIT_PASSWORD / DEPLOYX_GIT_TOKEN (repository auth),
DEPLOYX_WEBHOOK_SECRET, DEPLOYX_API_TOKEN, DEPLOYX_LOG_LEVEL.`;

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
        port: { type: 'string' },
        host: { type: 'string' },
        poll: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (error) {
    io.err(`deployx serve: ${(error as Error).message}\n\n${HELP}`);
    return 2;
  }
  if (values.help) {
    io.out(HELP);
    return 0;
  }
  let config;
  try {
    config = loadServerConfig(values, process.env, io.cwd);
  } catch (error) {
    if (error instanceof ConfigError) {
      io.err(`deployx serve: ${error.message}\n\n${HELP}`);
      return 2;
    }
    throw error;
  }
  const server = await startServer(config);
  io.out(`DeployX serving ${config.branch} of ${config.repo.replace(/\/\/[^@/]+@/, '//')} on ${server.url}`);
  io.out(`admin API token: ${config.dataDir}/api-token`);
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await server.close();
  return 0;
}
