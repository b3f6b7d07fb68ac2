import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createJsonLogger, SecretSet } from './logger.ts';

describe('createJsonLogger', () => {
  it('writes one JSON object per line with ts, level, msg and the fields', () => {
    const lines: string[] = [];
    const log = createJsonLogger({ write: (l) => lines.push(l), now: () => new Date('2025-01-02T03:04:05Z') }).child({ device: 'a' });
    log.info('job received', { jobId: 'j1', steps: 2 });
    log.debug('not shown at info');
    assert.equal(lines.length, 1);
    assert.deepEqual(JSON.parse(lines[0]!), { ts: '2025-01-02T03:04:05.000Z', level: 'info', msg: 'job received', device: 'a', jobId: 'j1', steps: 2 });
  });

  it('never writes a credential or token: secret-looking fields and known secret values are masked', () => {
    const lines: string[] = [];
    const secrets = new SecretSet();
    secrets.add('s3cr3t-credential-value');
    const log = createJsonLogger({ write: (l) => lines.push(l), secrets });
    log.error('server said s3cr3t-credential-value is bad', {
      credential: 'x',
      enrollmentToken: 'y',
      nested: { authorization: 'Basic zzz', note: 'has s3cr3t-credential-value inside' },
      error: new Error('echo s3cr3t-credential-value'),
    });
    const text = lines.join('\n');
    assert.doesNotMatch(text, /s3cr3t-credential-value|Basic zzz/);
    const line = JSON.parse(lines[0]!);
    assert.equal(line.credential, '[redacted]');
    assert.equal(line.enrollmentToken, '[redacted]');
    assert.equal(line.nested.authorization, '[redacted]');
  });
});
