import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ParsedDocument, Position } from '../../core/model.ts';
import { escapePointerToken, parseYamlBytes, parseYamlFile } from './parse-yaml.ts';
import { YAML_MAX_DEPTH, YAML_MAX_FILE_BYTES } from './yaml-limits.ts';

const PROFILE = [
  'apiVersion: deployx.dev/v1', //                      1
  'kind: Profile', //                                   2
  'metadata:', //                                       3
  '  name: web', //                                     4
  '  labels: {tier: front, "a/b": x, "c~d": y}', //     5
  'spec:', //                                           6
  '  targets:', //                                      7
  '    - web', //                                       8
  '    - [db, {name: cache}]', //                       9
  '  software: [nginx]', //                            10
  '',
].join('\n');

function only(text: string): ParsedDocument {
  const { documents, syntaxIssues } = parseYamlFile('profile.yaml', text);
  assert.deepEqual(syntaxIssues, []);
  assert.equal(documents.length, 1);
  return documents[0] as ParsedDocument;
}

const pos = (line: number, col: number): Position => ({ line, col });

describe('parseYamlFile', () => {
  it('gives values as plain JS', () => {
    const doc = only(PROFILE);
    assert.equal(doc.file, 'profile.yaml');
    assert.equal(doc.index, 0);
    assert.deepEqual(doc.value, {
      apiVersion: 'deployx.dev/v1',
      kind: 'Profile',
      metadata: { name: 'web', labels: { tier: 'front', 'a/b': 'x', 'c~d': 'y' } },
      spec: { targets: ['web', ['db', { name: 'cache' }]], software: ['nginx'] },
    });
  });

  it('maps every JSON pointer to where its value starts (1-based line and column)', () => {
    const { positions } = only(PROFILE);
    const table: [string, Position][] = [
      ['', pos(1, 1)],
      ['/apiVersion', pos(1, 13)],
      ['/metadata', pos(4, 3)],
      ['/metadata/name', pos(4, 9)],
      ['/metadata/labels', pos(5, 11)],
      ['/metadata/labels/tier', pos(5, 18)],
      ['/metadata/labels/a~1b', pos(5, 32)],
      ['/metadata/labels/c~0d', pos(5, 42)],
      ['/spec/targets', pos(8, 5)],
      ['/spec/targets/0', pos(8, 7)],
      ['/spec/targets/1', pos(9, 7)],
      ['/spec/targets/1/0', pos(9, 8)],
      ['/spec/targets/1/1', pos(9, 12)],
      ['/spec/targets/1/1/name', pos(9, 19)],
      ['/spec/software/0', pos(10, 14)],
    ];
    for (const [pointer, expected] of table) assert.deepEqual(positions.get(pointer), expected, pointer);
  });

  it('maps every JSON pointer of a map entry to where its key starts', () => {
    const { keyPositions } = only(PROFILE);
    const table: [string, Position][] = [
      ['/apiVersion', pos(1, 1)],
      ['/metadata/name', pos(4, 3)],
      ['/metadata/labels/a~1b', pos(5, 25)],
      ['/spec', pos(6, 1)],
      ['/spec/targets', pos(7, 3)],
      ['/spec/targets/1/1/name', pos(9, 13)],
      ['/spec/software', pos(10, 3)],
    ];
    for (const [pointer, expected] of table) assert.deepEqual(keyPositions.get(pointer), expected, pointer);
    assert.equal(keyPositions.has(''), false);
    assert.equal(keyPositions.has('/spec/targets/0'), false, 'sequence items have no key');
  });

  it('points an empty value right after its colon and a `? key` at its key', () => {
    const doc = only('a:\nb: 1\n? c\n');
    assert.deepEqual(doc.value, { a: null, b: 1, c: null });
    assert.deepEqual(doc.positions.get('/a'), pos(1, 3));
    assert.deepEqual(doc.positions.get('/c'), pos(3, 3));
    assert.deepEqual(doc.keyPositions.get('/c'), pos(3, 3));
  });

  it('names keys the way toJS does (numbers, booleans, null)', () => {
    const doc = only('1: one\ntrue: yes\n~: nothing\n');
    assert.deepEqual(doc.value, { '1': 'one', true: 'yes', '': 'nothing' });
    assert.deepEqual(doc.positions.get('/1'), pos(1, 4));
    assert.deepEqual(doc.positions.get('/true'), pos(2, 7));
    assert.deepEqual(doc.positions.get('/'), pos(3, 4));
  });

  it('parses every document of a multi-document file with its index and file-relative lines', () => {
    const text = 'kind: Group\n---\nkind: Software\nspec:\n  version: latest\n---\n- 1\n';
    const { documents, syntaxIssues } = parseYamlFile('multi.yaml', text);
    assert.deepEqual(syntaxIssues, []);
    assert.deepEqual(
      documents.map((d) => [d.index, d.value]),
      [
        [0, { kind: 'Group' }],
        [1, { kind: 'Software', spec: { version: 'latest' } }],
        [2, [1]],
      ],
    );
    assert.deepEqual(documents[1]?.positions.get(''), pos(3, 1));
    assert.deepEqual(documents[1]?.positions.get('/spec/version'), pos(5, 12));
    assert.deepEqual(documents[2]?.positions.get('/0'), pos(7, 3));
  });

  it('reports a syntax error with line and column, drops that document, keeps the others', () => {
    const text = 'a: 1\n---\nb: [1, 2\nc: 3\n---\nd: 4\n';
    const { documents, syntaxIssues } = parseYamlFile('broken.yaml', text);
    assert.equal(syntaxIssues.length, 1);
    assert.deepEqual({ ...syntaxIssues[0], message: undefined }, { file: 'broken.yaml', line: 4, col: 1, message: undefined });
    assert.match(syntaxIssues[0]?.message ?? '', /Flow sequence/);
    assert.deepEqual(
      documents.map((d) => [d.index, d.value]),
      [
        [0, { a: 1 }],
        [2, { d: 4 }],
      ],
    );
  });

  it('never throws on malformed input', () => {
    const inputs = ['a: "unclosed\nb: 2\n', '\t- a\n', ': : :', '[[[[', '{a: 1', 'a: *missing\n', '%YAML 9.9\n---\na: 1\n', '&a\n*a\n'];
    for (const text of inputs) {
      const result = parseYamlFile('x.yaml', text);
      for (const issue of result.syntaxIssues) {
        assert.equal(issue.file, 'x.yaml');
        assert.ok(issue.line >= 1 && issue.col >= 1, JSON.stringify(issue));
      }
    }
    const unclosed = parseYamlFile('x.yaml', 'a: "unclosed\nb: 2\n');
    assert.equal(unclosed.documents.length, 0);
    assert.ok(unclosed.syntaxIssues.length > 0);
  });

  it('reports a duplicate key at the second occurrence and drops the document', () => {
    const { documents, syntaxIssues } = parseYamlFile('dup.yaml', 'spec:\n  a: 1\n  b: 2\n  a: 3\n');
    assert.deepEqual(documents, []);
    assert.equal(syntaxIssues.length, 1);
    assert.equal(syntaxIssues[0]?.line, 4);
    assert.equal(syntaxIssues[0]?.col, 3);
    assert.match(syntaxIssues[0]?.message ?? '', /unique/);
  });

  it('skips empty documents: comments only, a bare or trailing `---`, an empty file', () => {
    assert.deepEqual(parseYamlFile('e.yaml', ''), { documents: [], syntaxIssues: [], size: 0 });
    assert.deepEqual(parseYamlFile('e.yaml', '# nothing here\n# at all\n'), { documents: [], syntaxIssues: [], size: 24 });
    assert.deepEqual(parseYamlFile('e.yaml', '---\n'), { documents: [], syntaxIssues: [], size: 4 });
    const { documents } = parseYamlFile('e.yaml', '---\n# only a comment\n---\na: 1\n---\n');
    assert.deepEqual(
      documents.map((d) => [d.index, d.value]),
      [[1, { a: 1 }]],
    );
    // An explicit null is a document (the validator says it is not a mapping).
    assert.deepEqual(
      parseYamlFile('e.yaml', '~\n').documents.map((d) => d.value),
      [null],
    );
  });

  it('handles a UTF-8 BOM and CRLF line ends with the same values and positions as LF', () => {
    const lf = 'a: 1\nb:\n  - x\n  - |\n    line one\n    line two\n';
    const crlf = '\uFEFF' + lf.replace(/\n/g, '\r\n');
    const plain = only(lf);
    const windows = only(crlf);
    assert.deepEqual(windows.value, { a: 1, b: ['x', 'line one\nline two\n'] });
    assert.deepEqual(windows.value, plain.value);
    assert.deepEqual([...windows.positions], [...plain.positions]);
    assert.deepEqual([...windows.keyPositions], [...plain.keyPositions]);
    assert.deepEqual(windows.positions.get(''), pos(1, 1));

    const bytes = new TextEncoder().encode(crlf); // TextEncoder keeps the BOM as EF BB BF
    assert.deepEqual([...bytes.slice(0, 3)], [0xef, 0xbb, 0xbf]);
    const fromBytes = parseYamlBytes('w.yaml', bytes);
    assert.deepEqual(fromBytes.documents[0]?.value, plain.value);
    assert.deepEqual(fromBytes.documents[0]?.positions.get('/b/1'), pos(4, 5));
  });

  it('reports bytes that are not UTF-8 as a syntax issue', () => {
    const result = parseYamlBytes('latin1.yaml', new Uint8Array([0x61, 0x3a, 0x20, 0xe9, 0x0a]));
    assert.deepEqual(result.documents, []);
    assert.deepEqual(
      result.syntaxIssues.map((i) => [i.file, i.line, i.col]),
      [['latin1.yaml', 1, 1]],
    );
  });

  it('resolves aliases; positions below an alias point at the anchored definition', () => {
    const doc = only('base: &b\n  x: 1\n  y: [2]\ncopy: *b\n');
    assert.deepEqual(doc.value, { base: { x: 1, y: [2] }, copy: { x: 1, y: [2] } });
    assert.deepEqual(doc.positions.get('/copy'), pos(4, 7));
    assert.deepEqual(doc.positions.get('/copy/x'), pos(2, 6));
    assert.deepEqual(doc.keyPositions.get('/copy/y'), pos(3, 3));
    assert.deepEqual(doc.positions.get('/copy/y/0'), pos(3, 7));
  });

  it('reports an alias cycle and an alias bomb instead of building them', () => {
    const cycle = parseYamlFile('c.yaml', 'a: &a [*a]\n');
    assert.deepEqual(cycle.documents, []);
    assert.deepEqual(
      cycle.syntaxIssues.map((i) => [i.line, i.col]),
      [[1, 8]],
    );

    const rows = ['a: &a [1,2,3,4,5,6,7,8,9,10]'];
    for (const [name, prev] of [['b', 'a'], ['c', 'b'], ['d', 'c'], ['e', 'd']]) {
      rows.push(`${name}: &${name} [${Array(10).fill(`*${prev}`).join(',')}]`);
    }
    const bomb = parseYamlFile('bomb.yaml', rows.join('\n') + '\n');
    assert.deepEqual(bomb.documents, []);
    assert.equal(bomb.syntaxIssues.length, 1);
  });

  it('reports a warning (unresolved tag) and still yields the document', () => {
    const { documents, syntaxIssues } = parseYamlFile('t.yaml', 'a: !custom 1\n');
    assert.deepEqual(
      syntaxIssues.map((i) => [i.line, i.col]),
      [[1, 4]],
    );
    assert.deepEqual(
      documents.map((d) => d.value),
      [{ a: '1' }],
    );
  });
});

describe('parseYamlFile: bounded input', () => {
  // Each case runs through the fast paths and through the yaml package alone: both must stop at
  // the same place, before anything recurses once per level.
  const modes = [{ fastPaths: true }, { fastPaths: false }];
  const tooDeep = (text: string, line: number, col: number): void => {
    for (const mode of modes) {
      const started = performance.now();
      const parsed = parseYamlFile('deep.yaml', text, mode);
      assert.ok(performance.now() - started < 2000, 'bounded time');
      assert.deepEqual(parsed.documents, [], JSON.stringify(mode));
      assert.deepEqual(
        parsed.syntaxIssues.map((i) => [i.code, i.file, i.line, i.col]),
        [['yaml.too-deep', 'deep.yaml', line, col]],
        JSON.stringify(mode),
      );
    }
  };

  it('refuses 64 KB of nested flow sequences with yaml.too-deep where the limit is crossed', () => {
    // The document is level 1 and the mapping level 2: the first `[` (column 4) is level 3.
    tooDeep('a: ' + '['.repeat(65_536), 1, 4 + YAML_MAX_DEPTH - 2);
    tooDeep('a: ' + '['.repeat(32_768) + ']'.repeat(32_768), 1, 4 + YAML_MAX_DEPTH - 2);
  });

  it('refuses nested flow mappings and mixed collections on a later line', () => {
    tooDeep('ok: 1\nb: ' + '{k: '.repeat(16_000), 2, 4 + 4 * (YAML_MAX_DEPTH - 2));
    tooDeep('- x\n- ' + '[{'.repeat(20_000), 2, 3 + YAML_MAX_DEPTH - 2);
  });

  it('refuses a block mapping nested past the limit', () => {
    const lines = Array.from({ length: YAML_MAX_DEPTH + 10 }, (_, i) => `${' '.repeat(i)}k${i}:`);
    // Line n (1-based) opens level n + 1 (the document is level 1).
    tooDeep(lines.join('\n') + '\n', YAML_MAX_DEPTH, YAML_MAX_DEPTH);
  });

  it('reads a document nested just within the limit', () => {
    const depth = YAML_MAX_DEPTH - 2;
    const text = 'a: ' + '['.repeat(depth) + ']'.repeat(depth) + '\n';
    for (const mode of modes) {
      const parsed = parseYamlFile('ok.yaml', text, mode);
      assert.deepEqual(parsed.syntaxIssues, []);
      assert.equal(parsed.documents.length, 1);
    }
  });

  it('refuses a file over the size limit with file.too-large before parsing it', () => {
    const bytes = new TextEncoder().encode('a: [' + '1, '.repeat(Math.ceil(YAML_MAX_FILE_BYTES / 3)) + '1]\n');
    const started = performance.now();
    const parsed = parseYamlBytes('big.yaml', bytes);
    assert.ok(performance.now() - started < 200, 'not parsed');
    assert.deepEqual(parsed.documents, []);
    assert.deepEqual(parsed.syntaxIssues.map((i) => [i.code, i.file, i.line, i.col]), [['file.too-large', 'big.yaml', 1, 1]]);
  });
});

describe('parseYamlFile: the one-walk reading of plain documents', () => {
  // Every row is read by readPlainDocument (or falls back from it) and by the general path
  // (toJS, then PositionWalk); the two must agree on everything.
  const rows: Record<string, string> = {
    profile: PROFILE,
    'empty values and ? keys': 'a:\nb: 1\n? c\n: d\n',
    'scalar keys named as toJS names them': '1: one\n"1": uno\ntrue: yes\n~: nothing\n1.50: x\n0x1F: hex\n',
    'inherited and special keys': '__proto__: {a: 1}\ntoString: 2\nconstructor: [3]\nhasOwnProperty: ~\n',
    'numbers of the core schema': 'a: [0o17, 0x1F, 1e3, -0, .inf, -.Inf, .nan, 12_3, "12"]\n',
    'escaped pointer tokens': '"a/b": {"c~d": {"~1": x}}\n',
    'single-pair maps in flow sequences': 'a: [k: v, {x: y}, [m: n]]\n',
    'block scalars and multi-line plain scalars': 'a: |\n  one\n  two\nb: >-\n  folded\n  text\nc: plain\n  continued\n',
    'anchors without aliases': 'a: &x {b: &y [1, 2]}\nc: &z 3\n',
    aliases: 'a: &x {b: 1}\nc: *x\nd: [*x]\n',
    'alias as a key': 'a: &k key\n*k : value\n',
    'collection keys': '? [a, b]\n: 1\n? {c: d}\n: 2\n',
    'merge keys stay plain keys': 'base: &b {x: 1}\nderived:\n  <<: *b\n  y: 2\n',
    tags: 'a: !custom 1\nb: !!str 2\nc: !!int "3"\nd: !!set {x}\n',
    'multi-document with errors': 'a: 1\n---\nb: [1, 2\nc: 3\n---\nd: 4\n---\n- 1\n- [2]\n',
    'quoted scalars': "a: 'it''s'\nb: \"tab\\there\"\nc: \"multi\n  line\"\n",
    'comments everywhere': '# head\na: 1 # one\n# mid\nb:\n  - x # item\n',
    'deep nesting': 'a:\n  b:\n    c:\n      - d:\n          e: [f, {g: h}]\n',
  };
  for (const [name, text] of Object.entries(rows)) {
    it(`agrees with the general path: ${name}`, () => {
      const plain = parseYamlFile('x.yaml', text);
      const general = parseYamlFile('x.yaml', text, { fastPaths: false });
      assert.deepStrictEqual(plain.syntaxIssues, general.syntaxIssues);
      assert.equal(plain.documents.length, general.documents.length);
      plain.documents.forEach((doc, i) => {
        const other = general.documents[i]!;
        assert.deepStrictEqual([doc.file, doc.index, doc.value], [other.file, other.index, other.value]);
        assert.deepStrictEqual([...doc.positions], [...other.positions]);
        assert.deepStrictEqual([...doc.keyPositions], [...other.keyPositions]);
        for (const [pointer, position] of other.positions) assert.deepStrictEqual(doc.positions.get(pointer), position, pointer);
        for (const [pointer, position] of other.keyPositions) assert.deepStrictEqual(doc.keyPositions.get(pointer), position, pointer);
        assert.equal(doc.positions.size, other.positions.size);
        assert.equal(doc.positions.has('/no/such/pointer'), false);
      });
    });
  }

  it('keeps an own `__proto__` key as data', () => {
    const value = only('__proto__: {polluted: true}\n').value as Record<string, unknown>;
    assert.equal(Object.getPrototypeOf(value), Object.prototype);
    assert.deepStrictEqual(Object.getOwnPropertyDescriptor(value, '__proto__')?.value, { polluted: true });
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
  });

  it('leaves process.env as it found it, also when the parser reads it', () => {
    const env = process.env;
    parseYamlFile('x.yaml', PROFILE);
    assert.equal(process.env, env);
  });
});

describe('escapePointerToken', () => {
  it('escapes ~ before / (RFC 6901)', () => {
    assert.equal(escapePointerToken('plain'), 'plain');
    assert.equal(escapePointerToken('a/b'), 'a~1b');
    assert.equal(escapePointerToken('~1'), '~01');
    assert.equal(escapePointerToken('/~'), '~1~0');
  });
});
