#!/usr/bin/env node
// The `deployx` command. The sources are TypeScript, run through tsx's loader.
import { register } from 'tsx/esm/api';

register();
// `deployx validate | head` closes the pipe early; that is not an error.
process.stdout.on('error', (error) => {
  if (error.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  throw error;
});
const { main } = await import('../src/main.ts');
process.exitCode = await main(process.argv.slice(2));
