import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ContentHasher, sha256Hex } from './content-hasher.ts';
import { ParseCache } from './parse-cache.ts';

describe('ParseCache', () => {
  it('parses a content id once and answers from the cache afterwards', () => {
    const cache = new ParseCache();
    const first = cache.get('a.yaml', 'oid-1', 'kind: Group\n');
    const second = cache.get('a.yaml', 'oid-1', 'this text is not even read\n');
    assert.equal(second, first, 'the very same result object');
    assert.deepEqual(cache.stats, { entries: 1, hits: 1, parses: 1 });
    assert.equal(cache.peek('a.yaml', 'oid-2'), undefined);
  });

  it('re-labels a cached result with the file it moved to, values and positions unchanged', () => {
    const cache = new ParseCache();
    const original = cache.get('old/a.yaml', 'oid-1', 'a: 1\n---\nb: [\n');
    const moved = cache.get('new/a.yaml', 'oid-1', '');
    assert.equal(cache.stats.parses, 1);
    assert.deepEqual(
      moved.documents.map((d) => d.file),
      ['new/a.yaml'],
    );
    assert.deepEqual(
      moved.syntaxIssues.map((i) => i.file),
      ['new/a.yaml'],
    );
    assert.equal(moved.documents[0]?.value, original.documents[0]?.value);
    assert.equal(moved.documents[0]?.positions, original.documents[0]?.positions);
    // The original result handed out earlier is not mutated.
    assert.equal(original.documents[0]?.file, 'old/a.yaml');
  });

  it('drops the least recently used entry beyond maxEntries', () => {
    const cache = new ParseCache({ maxEntries: 2 });
    cache.get('a.yaml', 'a', 'a: 1\n');
    cache.get('b.yaml', 'b', 'b: 1\n');
    cache.get('a.yaml', 'a', ''); // a is now the most recent
    cache.get('c.yaml', 'c', 'c: 1\n'); // evicts b
    assert.equal(cache.stats.entries, 2);
    assert.notEqual(cache.peek('a.yaml', 'a'), undefined);
    assert.notEqual(cache.peek('c.yaml', 'c'), undefined);
    assert.equal(cache.peek('b.yaml', 'b'), undefined);
    assert.throws(() => new ParseCache({ maxEntries: 0 }), RangeError);
  });

  it('works out a derived value once per result', () => {
    const cache = new ParseCache();
    const parsed = cache.get('a.yaml', 'oid-1', 'a: 1\n---\nb: 2\n');
    let calls = 0;
    const count = (file: typeof parsed): number => {
      calls++;
      return file.documents.length;
    };
    assert.equal(cache.derived(parsed, 'count', count), 2);
    assert.equal(cache.derived(cache.get('a.yaml', 'oid-1', ''), 'count', count), 2);
    assert.equal(calls, 1, 'the same result object: computed once');
    assert.equal(cache.derived(parsed, 'other', () => 'x'), 'x', 'keys are separate');
  });

  it('decodes bytes (BOM dropped) when given bytes', () => {
    const cache = new ParseCache();
    const bytes = new TextEncoder().encode('\uFEFFa: 1\n');
    assert.deepEqual(cache.get('a.yaml', sha256Hex(bytes), bytes).documents[0]?.value, { a: 1 });
  });
});

describe('ContentHasher', () => {
  it('hashes a content id once and never reads it again', async () => {
    const hasher = new ContentHasher({ maxEntries: 1 });
    const bytes = new TextEncoder().encode('hello\n');
    let reads = 0;
    const read = async (): Promise<Uint8Array> => {
      reads++;
      return bytes;
    };
    const expected = { sha256: '5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03', size: 6 };
    assert.deepEqual(await hasher.digest('blob-1', read), expected);
    assert.deepEqual(await hasher.digest('blob-1', read), expected);
    assert.equal(reads, 1);
    await hasher.digest(undefined, read); // no id: always read, never kept
    await hasher.digest('blob-2', read); // evicts blob-1
    await hasher.digest('blob-1', read);
    assert.equal(reads, 4);
    assert.deepEqual(hasher.stats, { entries: 1, hits: 1, hashes: 4 });
  });
});
