import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { KINDS } from '../schemas/kinds.ts';
import { createSchemaValidator, schemaIdFor } from '../schemas/index.ts';
import { collectSchemaFields } from '../schemas/schema-fields.ts';
import {
  DOCS_PATH,
  describeStaleDocs,
  exampleFor,
  generateFleetRepoDocs,
  runDocsGenerator,
} from './gen-fleet-repo-docs.ts';

/** Runs `fn` with console output captured, so expected failures do not clutter the test log. */
async function quietly<T>(fn: () => Promise<T>): Promise<{ result: T; stderr: string }> {
  const { log, error } = console;
  let stderr = '';
  console.log = () => {};
  console.error = (...args: unknown[]) => {
    stderr += `${args.join(' ')}\n`;
  };
  try {
    return { result: await fn(), stderr };
  } finally {
    console.log = log;
    console.error = error;
  }
}

describe('docs/fleet-repo.md', () => {
  it('is up to date with the schemas (run `npm run docs` when this fails)', async () => {
    const problem = describeStaleDocs(generateFleetRepoDocs(), await readFile(DOCS_PATH, 'utf8').catch(() => undefined));
    assert.equal(problem, undefined, problem);
    const { result } = await quietly(() => runDocsGenerator(['--check']));
    assert.equal(result, 0);
  });

  it('is generated deterministically', () => {
    assert.equal(generateFleetRepoDocs(), generateFleetRepoDocs());
  });

  it('lists every field of every kind and how to enable editor validation', () => {
    const docs = generateFleetRepoDocs();
    for (const kind of KINDS) {
      assert.ok(docs.includes(`## ${kind}\n`), kind);
      assert.ok(docs.includes(`# yaml-language-server: $schema=${schemaIdFor(kind)}`), kind);
      for (const { path } of collectSchemaFields(kind)) assert.ok(docs.includes(`| \`${path}\` |`), `${kind} ${path}`);
    }
    assert.ok(docs.includes('| `spec.rollout.waves[].size` | integer or string |'));
  });

  it('has an example per kind that validates against its schema', () => {
    const { validators } = createSchemaValidator();
    for (const kind of KINDS) {
      const text = exampleFor(kind);
      assert.ok(text.startsWith(`# yaml-language-server: $schema=${schemaIdFor(kind)}\n`), kind);
      const docs = parseAllDocuments(text);
      assert.ok(!Array.isArray(docs) || docs.length === 1, kind);
      const [doc] = Array.isArray(docs) ? docs : [docs];
      assert.deepEqual(doc?.errors, [], kind);
      const value: unknown = doc?.toJS();
      assert.equal(validators[kind](value), true, `${kind}: ${JSON.stringify(validators[kind].errors, null, 1)}`);
      assert.equal((value as { kind: string }).kind, kind);
      assert.ok(generateFleetRepoDocs().includes(text.trimEnd()), kind);
    }
  });
});

describe('runDocsGenerator', () => {
  it('writes the file, then --check passes; a stale file fails --check with the line that differs', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'deployx-docs-'));
    try {
      const path = join(dir, 'fleet-repo.md');
      const missing = await quietly(() => runDocsGenerator(['--check'], path));
      assert.equal(missing.result, 1);
      assert.match(missing.stderr, /does not exist; run `npm run docs`/);

      assert.equal((await quietly(() => runDocsGenerator([], path))).result, 0);
      assert.equal(await readFile(path, 'utf8'), generateFleetRepoDocs());
      assert.equal((await quietly(() => runDocsGenerator(['--check'], path))).result, 0);

      const lines = generateFleetRepoDocs().split('\n');
      lines[4] = 'edited by hand';
      await writeFile(path, lines.join('\n'));
      const stale = await quietly(() => runDocsGenerator(['--check'], path));
      assert.equal(stale.result, 1);
      assert.match(stale.stderr, /out of date .*first difference at line 5\).*npm run docs/);
      assert.match(stale.stderr, /on disk: {3}"edited by hand"/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('rejects unknown arguments', async () => {
    const { result, stderr } = await quietly(() => runDocsGenerator(['--chek']));
    assert.equal(result, 2);
    assert.match(stderr, /unknown argument --chek/);
  });
});
