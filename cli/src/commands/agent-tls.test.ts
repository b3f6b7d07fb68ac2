// `deployx agent`'s transport security options: the one-line warning for plain HTTP to anything
// but loopback, and `--ca` read at start (a missing file is a usage error, not a stack trace).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { plainHttpWarning } from './agent-args.ts';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const CLI = join(ROOT, 'cli', 'bin', 'deployx.js');

describe('deployx agent and TLS', () => {
  it('warns for http:// to anything but loopback', () => {
    for (const url of ['http://deployx.corp:8080', 'http://10.0.0.5', 'http://127.0.0.1.nip.io']) {
      const warning = plainHttpWarning(url);
      assert.ok(warning, url);
      assert.doesNotMatch(warning, /\n/, 'one line');
      assert.match(warning, /https:\/\//);
    }
    for (const url of ['http://127.0.0.1:8080', 'http://localhost:8080', 'http://[::1]:8080', 'http://127.3.4.5', 'https://deployx.corp']) {
      assert.equal(plainHttpWarning(url), undefined, url);
    }
  });

  it('a missing --ca file is one line and exit 2', async () => {
    const { code, stderr } = await new Promise<{ code: number; stderr: string }>((resolve) => {
      execFile(process.execPath, [CLI, 'agent', '--server', 'https://127.0.0.1:9', '--ca', '/nonexistent/ca.pem', '--token', 't'], { cwd: ROOT, timeout: 20_000 }, (error, _out, err) =>
        resolve({ code: error ? (error.code as number) : 0, stderr: err }),
      );
    });
    assert.equal(code, 2);
    assert.match(stderr.split('\n')[0]!, /--ca \/nonexistent\/ca\.pem/);
    assert.doesNotMatch(stderr, /    at /, 'no stack trace');
  });
});
