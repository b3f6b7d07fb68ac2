import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createSchemaValidator } from '../../../../schemas/index.ts';
import type { Kind } from '../../../../schemas/kinds.ts';
import { parseYamlFile } from '../../edges/git/parse-yaml.ts';
import type { ValidationIssue } from '../errors.ts';
import { IssueList } from './issues.ts';
import { checkDocument, describePath } from './schema-check.ts';

const { validators } = createSchemaValidator();

/** Schema-checks the one document of `yaml`; its kind (when the schema accepts it) and its issues. */
function check(yaml: string): { kind: Kind | undefined; issues: ValidationIssue[] } {
  const parsed = parseYamlFile('doc.yaml', yaml);
  assert.deepEqual(parsed.syntaxIssues, []);
  assert.equal(parsed.documents.length, 1);
  const issues = new IssueList();
  const kind = checkDocument(parsed.documents[0]!, validators, issues);
  return { kind, issues: issues.items };
}

const lines = (...l: string[]): string => l.join('\n') + '\n';

const script = (...spec: string[]): string =>
  lines('apiVersion: deployx.dev/v1', 'kind: Script', 'metadata:', '  name: cleanup', 'spec:', '  interpreter: sh', '  content: rm -rf /tmp/build-*', ...spec);

const fleet = (...spec: string[]): string =>
  lines('apiVersion: deployx.dev/v1', 'kind: Fleet', 'metadata:', '  name: acme', 'spec:', ...spec);

describe('describePath', () => {
  const cases: Array<[string, string]> = [
    ['', 'the document'],
    ['/spec', 'spec'],
    ['/metadata/name', 'metadata.name'],
    ['/spec/rollout/waves/1', 'spec.rollout.waves[1]'],
    ['/spec/rollout/waves/1/size', 'spec.rollout.waves[1].size'],
    ['/spec/provisioning/tasks/0/script', 'spec.provisioning.tasks[0].script'],
    ['/spec/macAddresses/10', 'spec.macAddresses[10]'],
    ['/spec/selector/matchFacts/0/values/2', 'spec.selector.matchFacts[0].values[2]'],
    ['/0', '[0]'],
    // RFC 6901 escapes are undone: `~1` is `/`, `~0` is `~`.
    ['/metadata/labels/deployx.dev~1tier', 'metadata.labels.deployx.dev/tier'],
    ['/spec/env/A~0B', 'spec.env.A~B'],
    ['/spec/env/A~01', 'spec.env.A~1'],
  ];
  for (const [path, want] of cases) {
    it(`${JSON.stringify(path)} → ${want}`, () => {
      assert.equal(describePath(path), want);
    });
  }
});

describe('checkDocument', () => {
  it('returns the kind of a document its schema accepts, and reports nothing', () => {
    const { kind, issues } = check(script());
    assert.equal(kind, 'Script');
    assert.deepEqual(issues, []);
  });

  describe('anyOf: the failed branches collapse into one issue at the node', () => {
    const cases: Array<{ name: string; yaml: string; path: string; line: number; col: number }> = [
      {
        name: 'wave size -1 (integer branch: minimum; string branch: type)',
        yaml: fleet('  rollout:', '    waves:', '      - size: -1'),
        path: '/spec/rollout/waves/0/size',
        line: 8,
        col: 15,
      },
      {
        name: 'wave size "half" (integer branch: type; string branch: pattern)',
        yaml: fleet('  rollout:', '    waves:', '      - size: half'),
        path: '/spec/rollout/waves/0/size',
        line: 8,
        col: 15,
      },
      {
        name: 'maxParallel "abc"',
        yaml: fleet('  rollout:', '    maxParallel: abc'),
        path: '/spec/rollout/maxParallel',
        line: 7,
        col: 18,
      },
      {
        name: 'run "sometimes" (string branch: enum; object branch: type)',
        yaml: script('  run: sometimes'),
        path: '/spec/run',
        line: 8,
        col: 8,
      },
      {
        name: 'run {evry: 5m} (object branch: unknown key and missing "every")',
        yaml: script('  run: {evry: 5m}'),
        path: '/spec/run',
        line: 8,
        col: 8,
      },
      {
        name: 'run {every: 5 minutes} (object branch: a format error below the node)',
        yaml: script('  run: {every: 5 minutes}'),
        path: '/spec/run',
        line: 8,
        col: 8,
      },
    ];
    for (const { name, yaml, path, line, col } of cases) {
      it(name, () => {
        const { kind, issues } = check(yaml);
        assert.equal(kind, undefined);
        assert.deepEqual(
          issues.map((i) => ({ code: i.code, path: i.path, line: i.line, col: i.col })),
          [{ code: 'schema.invalid', path, line, col }],
        );
        assert.ok(issues[0]!.message.startsWith(describePath(path)), issues[0]!.message);
      });
    }

    it('keeps issues of other nodes beside the collapsed one', () => {
      const { issues } = check(fleet('  rollout:', '    waves:', '      - size: -1', '    retries: -1', '    pauseBetweenWaves: soon'));
      assert.deepEqual(
        issues.map((i) => `${i.code} ${i.path}`).sort(),
        [
          'schema.format /spec/rollout/pauseBetweenWaves',
          'schema.invalid /spec/rollout/waves/0/size',
          'schema.range /spec/rollout/retries',
        ],
      );
    });
  });

  describe('each issue names its field, at its position', () => {
    const cases: Array<{
      name: string;
      yaml: string;
      code: ValidationIssue['code'];
      path: string;
      line: number;
      col: number;
      mentions: string[];
      suggestion?: string;
    }> = [
      {
        name: 'unknown key, with a suggestion, points at the key',
        yaml: lines('apiVersion: deployx.dev/v1', 'kind: Device', 'metadata:', '  name: web-01', 'spec:', '  hostnmae: web-01'),
        code: 'schema.unknown-key',
        path: '/spec/hostnmae',
        line: 6,
        col: 3,
        mentions: ['"hostnmae"', 'spec', 'did you mean "hostname"?'],
        suggestion: 'hostname',
      },
      {
        name: 'unknown key without a close match lists the known keys',
        yaml: script('  bogus: 1'),
        code: 'schema.unknown-key',
        path: '/spec/bogus',
        line: 8,
        col: 3,
        mentions: ['"bogus"', 'known keys: check, content, description, env, interpreter, onInterrupt, run'],
      },
      {
        name: 'required',
        yaml: lines('apiVersion: deployx.dev/v1', 'kind: Software', 'metadata:', '  name: curl', 'spec:', '  version: "8.5.0"'),
        code: 'schema.required',
        path: '/spec',
        line: 6,
        col: 3,
        mentions: ['spec', '"packages"'],
      },
      {
        name: 'type',
        yaml: script('  timeoutSeconds: "30"'),
        code: 'schema.type',
        path: '/spec/timeoutSeconds',
        line: 8,
        col: 19,
        mentions: ['spec.timeoutSeconds', 'an integer', '"30"'],
      },
      {
        name: 'enum, with a suggestion',
        yaml: lines('apiVersion: deployx.dev/v1', 'kind: Script', 'metadata:', '  name: a', 'spec:', '  interpreter: bsh', '  content: x'),
        code: 'schema.enum',
        path: '/spec/interpreter',
        line: 6,
        col: 16,
        mentions: ['spec.interpreter', '"bsh"', 'sh, bash, powershell, pwsh, python', 'did you mean "bash"?'],
        suggestion: 'bash',
      },
      {
        name: 'format: a file mode',
        yaml: lines('apiVersion: deployx.dev/v1', 'kind: FileDeployment', 'metadata:', '  name: motd', 'spec:', '  path: /etc/motd', '  content: hi', '  mode: "644x"'),
        code: 'schema.format',
        path: '/spec/mode',
        line: 8,
        col: 9,
        mentions: ['spec.mode', '"644x"', 'octal file mode'],
      },
      {
        name: 'format: a MAC address in a list',
        yaml: lines('apiVersion: deployx.dev/v1', 'kind: Device', 'metadata:', '  name: web-01', 'spec:', '  macAddresses:', '    - "52:54:00:00:00:01"', '    - "52:54:00:00:00:zz"'),
        code: 'schema.format',
        path: '/spec/macAddresses/1',
        line: 8,
        col: 7,
        mentions: ['spec.macAddresses[1]', 'MAC address'],
      },
      {
        name: 'pattern',
        yaml: lines('apiVersion: deployx.dev/v1', 'kind: Software', 'metadata:', '  name: Curl', 'spec:', '  packages: {apt: curl}'),
        code: 'schema.pattern',
        path: '/metadata/name',
        line: 4,
        col: 9,
        mentions: ['metadata.name', '"Curl"'],
      },
      {
        name: 'pattern of a map key (a label key)',
        yaml: lines('apiVersion: deployx.dev/v1', 'kind: Device', 'metadata:', '  name: web-01', '  labels:', '    "bad key": x', 'spec: {}'),
        code: 'schema.pattern',
        path: '/metadata/labels/bad key',
        line: 6,
        col: 5,
        mentions: ['"bad key"', 'metadata.labels'],
      },
      {
        name: 'range',
        yaml: script('  timeoutSeconds: 0'),
        code: 'schema.range',
        path: '/spec/timeoutSeconds',
        line: 8,
        col: 19,
        mentions: ['spec.timeoutSeconds'],
      },
    ];
    for (const c of cases) {
      it(`${c.name}: ${c.code} at ${c.path}`, () => {
        const { kind, issues } = check(c.yaml);
        assert.equal(kind, undefined);
        assert.deepEqual(
          issues.map((i) => ({ code: i.code, path: i.path, line: i.line, col: i.col, suggestion: i.suggestion })),
          [{ code: c.code, path: c.path, line: c.line, col: c.col, suggestion: c.suggestion }],
        );
        for (const fragment of c.mentions) assert.ok(issues[0]!.message.includes(fragment), `${issues[0]!.message} lacks ${fragment}`);
      });
    }
  });

  describe('the envelope', () => {
    it('a document that is not a mapping is one issue at its start', () => {
      const { kind, issues } = check('- a\n- b\n');
      assert.equal(kind, undefined);
      assert.deepEqual(issues.map((i) => [i.code, i.line, i.col]), [['document.not-object', 1, 1]]);
    });

    it('a missing apiVersion is reported once, not again as a missing required field', () => {
      const { kind, issues } = check(lines('kind: Software', 'metadata:', '  name: curl', 'spec:', '  packages: {apt: curl}'));
      assert.equal(kind, undefined);
      assert.deepEqual(issues.map((i) => [i.code, i.path]), [['document.api-version', '/apiVersion']]);
    });

    it('a wrong apiVersion is reported once, and the rest of the document is still checked', () => {
      const { kind, issues } = check(lines('apiVersion: deployx.dev/v2', 'kind: Software', 'metadata:', '  name: curl', 'spec:', '  packages: {apt: curl}', '  prune: "yes"'));
      assert.equal(kind, undefined);
      assert.deepEqual(
        issues.map((i) => [i.code, i.path, i.line, i.col]),
        [
          ['document.api-version', '/apiVersion', 1, 13],
          ['schema.type', '/spec/prune', 7, 10],
        ],
      );
    });

    it('an unknown kind gets a suggestion, and no schema runs', () => {
      const { kind, issues } = check(lines('apiVersion: deployx.dev/v1', 'kind: Softwear', 'metadata:', '  name: Curl', 'spec: {}'));
      assert.equal(kind, undefined);
      assert.deepEqual(
        issues.map((i) => [i.code, i.path, i.line, i.col, i.suggestion]),
        [['document.kind', '/kind', 2, 7, 'Software']],
      );
      assert.ok(issues[0]!.message.includes('did you mean "Software"?'));
    });

    it('a missing kind has no suggestion', () => {
      const { issues } = check(lines('apiVersion: deployx.dev/v1', 'metadata:', '  name: curl'));
      assert.deepEqual(issues.map((i) => [i.code, i.suggestion]), [['document.kind', undefined]]);
    });
  });
});
