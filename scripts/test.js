#!/usr/bin/env node
// npm test: runs every *.test.ts file under the project's source folders through node:test + tsx.
// (node --test only expands glob patterns from Node 21 on; we support Node 20.19.)
// Arguments narrow the run to files whose path contains one of them: `npm test -- agent/ compile`.
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const ROOTS = ['schemas', 'reconciler', 'agent', 'cli', 'dashboard', 'pxe', 'e2e', 'scripts', 'bench'];
const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');

function* walk(dir) {
  let entries;
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return;
  }
  for (const entry of entries) {
    if (entry.name === 'node_modules' || entry.name.startsWith('.') || entry.name === 'fixtures') continue;
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) yield* walk(full);
    else if (entry.name.endsWith('.test.ts')) yield path.relative(root, full);
  }
}

const filters = process.argv.slice(2);
const files = ROOTS.flatMap((r) => [...walk(path.join(root, r))])
  .filter((f) => filters.length === 0 || filters.some((x) => f.includes(x)))
  .sort();
if (files.length === 0) {
  console.error('no test files matched');
  process.exit(1);
}
const concurrency = process.env.DEPLOYX_TEST_CONCURRENCY ?? '2';
// Servers the tests start announce themselves here, not where `deployx token` … would find a
// server the developer runs (cli/src/running-server.ts); and the tests see none of those.
const runtimeDir = mkdtempSync(path.join(os.tmpdir(), 'deployx-test-runtime-'));
const child = spawn(process.execPath, ['--import', 'tsx', '--test', `--test-concurrency=${concurrency}`, ...files], {
  cwd: root,
  stdio: 'inherit',
  // A developer's DEPLOYX_STORE would send the servers and commands the tests start to that
  // store; each test picks its own (the store tests take DEPLOYX_TEST_PG).
  env: { ...process.env, DEPLOYX_RUNTIME_DIR: runtimeDir, DEPLOYX_STORE: '' },
});
child.on('exit', (code, signal) => {
  rmSync(runtimeDir, { recursive: true, force: true });
  process.exit(code ?? (signal ? 1 : 0));
});
