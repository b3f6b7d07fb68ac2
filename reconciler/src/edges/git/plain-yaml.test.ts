import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { generateFleet } from '../../../../bench/generate-fleet.ts';
import { parseYamlFile, type ParsedFile } from './parse-yaml.ts';
import { Schema, type ScalarTag } from 'yaml';
import { NON_STRING_FIRST, readPlainYaml, resolvePlain } from './plain-yaml.ts';

/** A ParsedFile as plain data: positions as entry lists, and every lookup answered the same. */
function snapshot(parsed: ParsedFile): unknown {
  return {
    documents: parsed.documents.map((d) => ({
      file: d.file,
      index: d.index,
      value: d.value,
      positions: [...d.positions],
      keyPositions: [...d.keyPositions],
      root: d.positions.get(''),
    })),
    syntaxIssues: parsed.syntaxIssues,
  };
}

/** The yaml package's answer, through the general path. */
function general(text: string): ParsedFile {
  return parseYamlFile('x.yaml', text, { fastPaths: false });
}

/** readPlainYaml agrees with the yaml package whenever it answers; whether it answered. */
function agrees(text: string): boolean {
  const plain = readPlainYaml('x.yaml', text);
  if (plain === undefined) return false;
  assert.deepStrictEqual(snapshot(plain), snapshot(general(text)), JSON.stringify(text));
  return true;
}

const ANSWERED: Record<string, string> = {
  'a profile': 'apiVersion: deployx.dev/v1\nkind: Profile\nmetadata:\n  name: web\n  labels: {tier: front, "a/b": x, \'c~d\': y}\nspec:\n  targets:\n    - web\n    - [db, {name: cache}]\n  software: [nginx]\n',
  'documents, empty ones counted': 'a: 1\n---\n# only a comment\n---\nb: [1, {c: null}]\n---\n- x\n---\n',
  'comments before the first marker': '# head\n\n---\na: 1\n',
  'a leading marker': '---\na: 1\n---\nb: 2\n',
  'only markers': '---\n---\n',
  'nothing at all': '',
  'comments only': '# one\n  # two\n',
  'scalar documents': '~\n---\nhello world\n---\n"quoted"\n---\n42\n',
  'core schema scalars': 'a: [0o17, 0x1F, 1e3, -0, .inf, -.Inf, .nan, 12_3, "12", 1.50, +5, -1, true, False, NULL, ~, yes, no]\n',
  'scalar keys': '1: one\n"1": uno\ntrue: yes\n~: nothing\n1.50: x\n0x1F: hex\n',
  'inherited and special keys': '__proto__: {a: 1}\ntoString: 2\nconstructor: [3]\nhasOwnProperty: x\n',
  'empty values': 'a:\nb: 1\nc:\n',
  'nested blocks': 'a:\n  b:\n    c:\n      - d: 1\n        e: [f, {g: h}]\n      -\n        i: j\n      - k\n',
  'comment lines at any column': 'a:\n# c\n  b: 1\n    # d\n  c:\n  # e\n  - 1\n',
  'a sequence at its key\'s column': 'list:\n- a\n- b: 1\n  c: 2\nnext: x\n',
  'sequence of mappings': 'waves:\n  - size: 1\n  - {size: "10%"}\n  -   size: rest\n      extra: 1\n',
  'plain scalars with punctuation': 'url: http://example.invalid/a?b=c&d#frag\nmac: 52:54:00:ab:cd:ef\ntext: it\'s a "quote", [not] {flow}\ntime: 12:30\nhash: a#b\n',
  'trailing comments and spaces': 'a: 1 # one\nb: "x"   # two\nc: [1, 2]  # three\nd: plain words   \n',
  'flow details': 'a: [ 1 , 2 ]\nb: {x: 1,y: 2}\nc: []\nd: {}\ne: [a b, c:d, "e f"]\nf: [[1, [2]], {g: {h: i}}]\n',
  'quoted keys and escapes-free strings': '"a b": \'c " d\'\n\'e\': "f \' g"\n"": empty key\n',
  'indented root': '  a: 1\n  b:\n    - 2\n',
  'dash-started plain scalars': 'a: -1\nb: -foo\nc: [-2, -.5, -x_y]\n',
  'a double-quoted key of 1,024 characters with its quotes': `"${'k'.repeat(1022)}": v\n`,
  'a quoted key inside a flow mapping, which has no length limit': `a: {"${'k'.repeat(1100)}": v}\n`,
};

const DECLINED: Record<string, string> = {
  'a directive': '%YAML 1.2\n---\na: 1\n',
  'a document end marker': 'a: 1\n...\n',
  'an anchor and an alias': 'a: &x 1\nb: *x\n',
  'a tag': 'a: !custom 1\n',
  'a block scalar': 'a: |\n  text\n',
  'a multi-line plain scalar': 'a: one\n  two\n',
  'a scalar on the line after its key': 'a:\n#c\n  2\n',
  'a multi-line flow collection': 'a: [1,\n  2]\n',
  'a ? key': '? a\n: 1\n',
  'an empty sequence item': '- \n- a\n',
  'a comment after key:': 'a: # c\n  b: 1\n',
  'spaces after key:': 'a:  \n  b: 1\n',
  'an escape': 'a: "x\\ty"\n',
  "a '' escape": "a: 'it''s'\n",
  'a tab': 'a:\t1\n',
  'non-ASCII text': 'a: café\n',
  'a duplicate key': 'a: 1\na: 2\n',
  'a duplicate flow key': '{a: 1, a: 2}\n',
  'a nested compact mapping': 'a: b: c\n',
  'a pair in a flow sequence': '[a: 1]\n',
  'a trailing comma': '[1, 2, ]\n',
  'an unclosed flow collection': 'a: [1, 2\n',
  'a bad indentation': 'a:\n  b: 1\n c: 2\n',
  'a sequence after a mapping value at its column': 'a: 1\n- b\n',
  'trailing content': 'a: [1] x\n',
  'a reserved first character': 'a: @x\n',
  // The yaml package counts a block key's source, quotes included: 1,023 characters in quotes are 1,025.
  'a double-quoted key over 1,024 characters': `"${'k'.repeat(1023)}": v\n`,
  'a single-quoted key over 1,024 characters': `- '${'k'.repeat(1023)}': v\n`,
  'flow nesting deeper than the depth limit': `a: ${'['.repeat(100)}${']'.repeat(100)}\n`,
};

describe('readPlainYaml', () => {
  for (const [name, text] of Object.entries(ANSWERED)) {
    it(`reads ${name} as the yaml package does`, () => {
      assert.ok(agrees(text), 'answered');
    });
  }
  for (const [name, text] of Object.entries(DECLINED)) {
    it(`leaves ${name} to the yaml package`, () => {
      assert.equal(readPlainYaml('x.yaml', text), undefined);
      // and parseYamlFile still gives the yaml package's answer
      assert.deepStrictEqual(snapshot(parseYamlFile('x.yaml', text)), snapshot(general(text)));
    });
  }

  it('skips the tag tests only for plain scalars no core tag can match', () => {
    const tags = new Schema({ schema: 'core' }).tags.filter((tag): tag is ScalarTag => 'test' in tag && tag.test instanceof RegExp);
    const tails = ['', '0', '1', '.5', 'e3', 'x1F', 'o17', 'ull', 'rue', 'alse', 'nf', 'an', 'Inf', '~'];
    for (let code = 0x21; code < 0x7f; code++) {
      const first = String.fromCharCode(code);
      if (NON_STRING_FIRST.has(first)) continue;
      for (const tail of tails) {
        const text = first + tail;
        assert.ok(!tags.some((tag) => tag.test!.test(text)), `${JSON.stringify(text)} matches a core tag`);
        assert.equal(resolvePlain(text), text);
      }
    }
  });

  it('reads every file of a generated fleet, as the yaml package does', () => {
    const tree = generateFleet({ devices: 400, groups: 40, software: 60, files: 60, profiles: 20, perFile: 50 });
    let count = 0;
    for (const [path, content] of Object.entries(tree)) {
      if (!path.endsWith('.yaml') || typeof content !== 'string') continue;
      assert.ok(agrees(content), path);
      count++;
    }
    assert.ok(count > 10);
  });

  it('agrees with the yaml package on every YAML file of the repository it reads', () => {
    const root = join(import.meta.dirname, '../../../..');
    const files: string[] = [];
    const walk = (dir: string): void => {
      for (const entry of readdirSync(dir)) {
        if (entry === 'node_modules' || entry.startsWith('.')) continue;
        const full = join(dir, entry);
        if (statSync(full).isDirectory()) walk(full);
        else if (/\.ya?ml$/i.test(entry)) files.push(full);
      }
    };
    for (const dir of ['fleet-repo-example', 'reconciler/src/core/validate/fixtures']) walk(join(root, dir));
    assert.ok(files.length > 20, `${files.length} files`);
    let answered = 0;
    for (const file of files) {
      const text = readFileSync(file, 'utf8').replace(/\r\n?/g, '\n').replace(/^\uFEFF/, '');
      if (agrees(text)) answered++;
    }
    assert.ok(answered > files.length / 2, `answered ${answered} of ${files.length}`);
  });

  it('agrees with the yaml package on thousands of mutated texts whenever it answers', () => {
    // Deterministic: a fixed seed, so a failure names a reproducible input.
    let seed = 0x2545f491;
    const random = (n: number): number => {
      seed ^= seed << 13;
      seed ^= seed >>> 17;
      seed ^= seed << 5;
      return (seed >>> 0) % n;
    };
    const corpus = Object.values(ANSWERED).filter((t) => t.length > 0);
    const pieces = [' ', '  ', ':', ': ', '-', '- ', '#', ' #', '\n', '\n  ', '"', "'", '[', ']', '{', '}', ',', 'a', '1', '.', '~', '---\n', '0x', '-.', 'e3', 'true', '__proto__', '/'];
    let answered = 0;
    for (let round = 0; round < 4000; round++) {
      let text = corpus[random(corpus.length)]!;
      for (let edits = 1 + random(3); edits > 0; edits--) {
        const at = random(text.length + 1);
        const piece = pieces[random(pieces.length)]!;
        switch (random(3)) {
          case 0:
            text = text.slice(0, at) + piece + text.slice(at);
            break;
          case 1:
            text = text.slice(0, at) + text.slice(at + 1 + random(3));
            break;
          default:
            text = text.slice(0, at) + piece + text.slice(at + piece.length);
        }
      }
      if (agrees(text)) answered++;
    }
    assert.ok(answered > 500, `answered ${answered} of 4000`);
  });
});
