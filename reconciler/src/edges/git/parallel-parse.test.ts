import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decodeParsedFile, encodeParsedFile, parseFilesInParallel, type ParseJob } from './parallel-parse.ts';
import { parseYamlBytes, type ParsedFile } from './parse-yaml.ts';

const encoder = new TextEncoder();

/** Files that take every path: plain documents, the general path, errors, JSON-inexact values. */
const FILES: Record<string, string | Uint8Array> = {
  'plain.yaml': 'apiVersion: deployx.dev/v1\nkind: Group\nmetadata: {name: web, labels: {"a/b": x}}\nspec:\n  devices: [a, b]\n',
  'multi.yaml': 'a: 1\n---\n# only a comment\n---\nb: [1, {c: null}]\n---\n- x\n- [k: v]\n',
  'aliases.yaml': 'base: &b {x: 1}\ncopy: *b\n',
  'broken.yaml': 'a: 1\n---\nb: [1, 2\nc: 3\n---\nd: 4\n',
  'duplicate.yaml': 'a: 1\na: 2\n',
  'tagged.yaml': 'a: !custom 1\n',
  'special-keys.yaml': '__proto__: {polluted: true}\ntoString: 2\n1: one\n"1": uno\n~: nothing\n',
  'not-json.yaml': 'nan: .nan\ninf: -.inf\nzero: -0\n',
  'crlf.yaml': '\uFEFFa: 1\r\nb:\r\n  - |\r\n    text\r\n',
  'latin1.yaml': new Uint8Array([0x61, 0x3a, 0x20, 0xe9, 0x0a]),
  'empty.yaml': '',
};

function jobs(): ParseJob[] {
  return Object.entries(FILES).map(([file, content]) => ({
    file,
    bytes: typeof content === 'string' ? encoder.encode(content) : content,
  }));
}

/** A ParsedFile as plain data (positions as entry lists), prototypes of values included. */
function snapshot(parsed: ParsedFile): unknown {
  return {
    documents: parsed.documents.map((d) => ({
      file: d.file,
      index: d.index,
      value: d.value,
      positions: [...d.positions],
      keyPositions: [...d.keyPositions],
    })),
    syntaxIssues: parsed.syntaxIssues,
  };
}

describe('parseFilesInParallel', () => {
  it('gives what parseYamlBytes gives, file for file, when workers parse everything', async () => {
    const expected = jobs().map((job) => snapshot(parseYamlBytes(job.file, job.bytes)));
    const parsed = await parseFilesInParallel(jobs(), { workers: 2, callerParses: false });
    assert.deepStrictEqual(parsed.map(snapshot), expected);
    // The own `__proto__` key is data, not a prototype.
    const special = parsed[Object.keys(FILES).indexOf('special-keys.yaml')]?.documents[0]?.value as Record<string, unknown>;
    assert.equal(Object.getPrototypeOf(special), Object.prototype);
    assert.deepStrictEqual(Object.getOwnPropertyDescriptor(special, '__proto__')?.value, { polluted: true });
  });

  it('gives the same with the calling thread taking its share', async () => {
    const expected = jobs().map((job) => snapshot(parseYamlBytes(job.file, job.bytes)));
    assert.deepStrictEqual((await parseFilesInParallel(jobs(), { workers: 1 })).map(snapshot), expected);
  });
});

describe('encodeParsedFile / decodeParsedFile', () => {
  it('round-trips values and positions, and declines what JSON cannot carry exactly', () => {
    for (const [file, content] of Object.entries(FILES)) {
      const bytes = typeof content === 'string' ? encoder.encode(content) : content;
      const parsed = parseYamlBytes(file, bytes);
      const encoded = encodeParsedFile(parsed);
      if (file === 'not-json.yaml') {
        assert.equal(encoded, undefined, 'NaN, -Infinity and -0 are parsed on the calling thread');
        continue;
      }
      assert.ok(encoded !== undefined, file);
      const decoded = decodeParsedFile(file, encoded);
      assert.deepStrictEqual(snapshot(decoded), snapshot(parsed), file);
      // Lookups work without listing: the root, and a pointer below it.
      for (const [i, doc] of parsed.documents.entries()) {
        for (const [pointer, position] of doc.positions) assert.deepStrictEqual(decoded.documents[i]?.positions.get(pointer), position);
      }
    }
  });
});
