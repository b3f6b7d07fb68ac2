import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { test } from 'node:test';
import { newCryptSalt, sha512Crypt, unattendPasswordValue } from './sha512-crypt.ts';

test('the specification test vectors (Drepper, SHA-crypt)', () => {
  assert.equal(
    sha512Crypt('Hello world!', 'saltstring'),
    '$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1',
  );
  assert.equal(
    sha512Crypt('Hello world!', 'saltstringsaltstring', 10000),
    '$6$rounds=10000$saltstringsaltst$OW1/O6BYHV6BcXZu8QVeXbDWra3Oeqh0sbHbbMCVNSnCM/UrjmM0Dp8vOuZeHBy/YTBmSK6H9qs/y3RnOaw5v.',
  );
  assert.equal(
    sha512Crypt('we have a short salt string but not a short password', 'short', 77777),
    '$6$rounds=77777$short$WuQyW2YR.hBNpjjRhpYD/ifIw05xdfeEyQoMxIXbkvr0gge1a1x3yRULJ5CCaUeOxFmtlcGZelFl5CxtgfiAc0',
  );
});

test('agrees with openssl passwd -6 for passwords of every length class', (t) => {
  let openssl = true;
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
  } catch {
    openssl = false;
  }
  if (!openssl) {
    t.skip('openssl is not installed');
    return;
  }
  for (const password of ['a', 'correct horse battery staple', 'ü'.repeat(40), 'x'.repeat(200)]) {
    const salt = newCryptSalt();
    const expected = execFileSync('openssl', ['passwd', '-6', '-salt', salt, '-stdin'], { input: password + '\n' }).toString().trim();
    assert.equal(sha512Crypt(password, salt), expected, `password of length ${password.length}`);
  }
});

test('unattend password value: base64 of UTF-16LE password + field name', () => {
  assert.equal(Buffer.from(unattendPasswordValue('P@ss'), 'base64').toString('utf16le'), 'P@ssAdministratorPassword');
});
