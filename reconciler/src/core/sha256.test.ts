import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { sha256, sha256Hex, toHex, utf8Encode } from './sha256.ts';

function nodeSha256(data: string | Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

/** Deterministic pseudo-random bytes (xorshift32), so failures reproduce. */
function bytesOf(length: number, seed = 0x9e3779b9): Uint8Array {
  const out = new Uint8Array(length);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out[i] = x & 0xff;
  }
  return out;
}

test('sha256Hex matches known vectors', () => {
  const cases: Array<{ input: string; hex: string }> = [
    { input: '', hex: 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855' },
    { input: 'abc', hex: 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad' },
    {
      input: 'abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq',
      hex: '248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1',
    },
  ];
  for (const { input, hex } of cases) {
    assert.equal(sha256Hex(input), hex, JSON.stringify(input));
    assert.equal(sha256Hex(utf8Encode(input)), hex, `bytes of ${JSON.stringify(input)}`);
  }
});

test('sha256Hex matches node:crypto around the padding boundaries', () => {
  const lengths = [0, 1, 3, 55, 56, 57, 63, 64, 65, 119, 120, 127, 128, 129, 1000];
  for (const length of lengths) {
    const data = bytesOf(length, length + 1);
    assert.equal(sha256Hex(data), nodeSha256(data), `length ${length}`);
  }
});

test('sha256Hex matches node:crypto on 1 MB and 2 MB buffers', () => {
  // Past 2 MB the bit length needs a third byte, so every length byte is exercised.
  for (const length of [1 << 20, (1 << 20) + 17, (1 << 21) + 5]) {
    const data = bytesOf(length);
    assert.equal(sha256Hex(data), nodeSha256(data), `length ${length}`);
  }
});

test('sha256Hex hashes strings as UTF-8', () => {
  const cases = ['héllo wörld', '日本語', '🙂 emoji', 'line\nbreak\r\n', '\u0000nul'];
  for (const input of cases) assert.equal(sha256Hex(input), nodeSha256(Buffer.from(input, 'utf8')), input);
});

test('sha256 returns 32 bytes whose hex is sha256Hex', () => {
  const digest = sha256('abc');
  assert.equal(digest.length, 32);
  assert.equal(toHex(digest), sha256Hex('abc'));
});

test('sha256 does not modify its input', () => {
  const data = bytesOf(100);
  const copy = data.slice();
  sha256(data);
  assert.deepEqual(data, copy);
});
