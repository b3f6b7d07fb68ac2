import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createLogger, SecretSet } from './log.ts';

describe('createLogger', () => {
  it('writes one JSON object per line with ts, level, msg and the fields', () => {
    const lines: string[] = [];
    const log = createLogger({ write: (l) => lines.push(l), now: () => new Date('2025-01-02T03:04:05Z') }).child({ device: 'a' });
    log.info('job received', { jobId: 'j1', steps: 2 });
    log.debug('not shown at info');
    assert.equal(lines.length, 1);
    assert.deepEqual(JSON.parse(lines[0]!), { ts: '2025-01-02T03:04:05.000Z', level: 'info', msg: 'job received', device: 'a', jobId: 'j1', steps: 2 });
  });

  it('never writes a credential or token: secret-looking fields and known secret values are masked', () => {
    const lines: string[] = [];
    const secrets = new SecretSet();
    secrets.add('s3cr3t-credential-value');
    const log = createLogger({ write: (l) => lines.push(l), secrets });
    log.error('server said s3cr3t-credential-value is bad', {
      credential: 'x',
      enrollmentToken: 'y',
      nested: { authorization: 'Basic zzz', note: 'has s3cr3t-credential-value inside', privateKey: 'MC4CAQAwBQYDK2VwBCIEIkey' },
      error: new Error('echo s3cr3t-credential-value'),
    });
    const text = lines.join('\n');
    assert.doesNotMatch(text, /s3cr3t-credential-value|Basic zzz|MC4CAQAwBQYDK2VwBCIEIkey/);
    const line = JSON.parse(lines[0]!);
    assert.equal(line.credential, '[redacted]');
    assert.equal(line.enrollmentToken, '[redacted]');
    assert.equal(line.nested.authorization, '[redacted]');
  });
});

describe('one logger for server and agent', () => {
  it('redacts secret-named fields at any depth, cookies included (the server logger printed nested ones)', () => {
    const lines: string[] = [];
    const log = createLogger({ level: 'info', write: (l) => lines.push(l) });
    log.warn('handshake refused', { auth: { deviceId: 'd1', credential: 'c-123456' }, headers: { cookie: 'sid=abc' } });
    assert.doesNotMatch(lines.join('\n'), /c-123456|sid=abc/);
    assert.equal(JSON.parse(lines[0]!).auth.deviceId, 'd1');
  });

  it('a field that cannot be serialised drops the line, not the process', () => {
    const lines: string[] = [];
    const log = createLogger({ write: (l) => lines.push(l) });
    log.info('big', { n: 10n });
    log.info('after');
    assert.equal(lines.length, 1);
    assert.equal(JSON.parse(lines[0]!).msg, 'after');
  });
});
