// A ValidationCache is only an accelerator: validating a sequence of revisions with one shared
// cache (and one shared ParseCache, as the server does) must give exactly what validating each
// revision on its own gives, issues, model and all, whatever came before.
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { createSchemaValidator } from '../../../../schemas/index.ts';
import { DirectoryReader } from '../../edges/git/directory-reader.ts';
import { loadRevision } from '../../edges/git/load-revision.ts';
import { ParseCache } from '../../edges/git/parse-cache.ts';
import type { LoadedRevision } from '../model.ts';
import { validateRevision, type ValidationResult } from './validate-revision.ts';
import { ValidationCache } from './validation-cache.ts';

const FIXTURES = fileURLToPath(new URL('./fixtures/', import.meta.url));
const EXAMPLE = fileURLToPath(new URL('../../../../fleet-repo-example/', import.meta.url));
const schema = createSchemaValidator();

/** The result as plain data: the model's documents by kind and name, the issues. */
function snapshot(result: ValidationResult): unknown {
  const model = result.model;
  return {
    revision: result.revision,
    issues: result.issues,
    documentCount: result.documentCount,
    model:
      model &&
      Object.fromEntries(
        (['groups', 'devices', 'software', 'files', 'scripts', 'profiles', 'images'] as const).map((kind) => [
          kind,
          [...model[kind]].map(([name, located]) => [name, located.doc, located.origin]),
        ]),
      ),
    fleet: model?.fleet?.doc,
    repoFiles: model && [...model.repoFiles],
  };
}

describe('validateRevision with a ValidationCache', () => {
  it('gives what a fresh validation gives, revision after revision', async () => {
    const parseCache = new ParseCache();
    const load = (root: string): Promise<LoadedRevision> => loadRevision(new DirectoryReader({ root }), { cache: parseCache });
    const roots = [
      EXAMPLE,
      ...readdirSync(FIXTURES, { withFileTypes: true })
        .filter((d) => d.isDirectory())
        .map((d) => `${FIXTURES}${d.name}`)
        .sort(),
    ];
    // The example, then each fixture with the example in between and each one twice in a row.
    const sequence = roots.flatMap((root) => [root, root, EXAMPLE]);
    const cache = new ValidationCache();
    let valid = 0;
    for (const root of sequence) {
      const loaded = await load(root);
      const cached = validateRevision(loaded, schema.validators, { cache });
      const fresh = validateRevision(loaded, schema.validators);
      assert.deepStrictEqual(snapshot(cached), snapshot(fresh), root);
      if (cached.model) valid++;
    }
    assert.ok(valid >= roots.length, 'the example (and any valid fixture) came out valid every time');
  });

  it('keeps its verdicts per validator set', async () => {
    const loaded = await loadRevision(new DirectoryReader({ root: EXAMPLE }), { cache: new ParseCache() });
    const cache = new ValidationCache();
    const other = createSchemaValidator();
    const first = validateRevision(loaded, schema.validators, { cache });
    const second = validateRevision(loaded, other.validators, { cache });
    assert.deepStrictEqual(snapshot(second), snapshot(first));
  });
});
