// YAML text → ParsedDocuments with the source position of every value and every key.
//
// Contract: never throws. A document with a YAML error yields a SyntaxIssue and no
// ParsedDocument; a warning (an unresolved tag, ...) yields a SyntaxIssue and the document is
// kept, so the validator can still report everything else in it. Empty documents (a file that is
// only comments, a trailing `---`) are skipped; `index` is the document's place in the stream,
// empty ones counted, so it names the same `---` section whatever the neighbours hold.
//
// Positions: `positions` maps a JSON pointer (RFC 6901: `~` → `~0`, `/` → `~1`; `` for the root;
// `/spec/targets/0` for sequence items) to where the value starts, after any `&anchor`/`!tag`;
// `keyPositions` maps the same pointer to where its key starts. An empty value (`key:`) sits right
// after the colon. Under an alias (`b: *a`) the pointer itself points at the alias and the pointers
// below it at the anchored definition. Pairs with a collection as key have no positions below them.
import {
  isAlias,
  isMap,
  isPair,
  isScalar,
  isSeq,
  LineCounter,
  parseAllDocuments,
  type Document,
  type Node,
  type Pair,
  type YAMLError,
} from 'yaml';
import type { ParsedDocument, Position, SyntaxIssue } from '../../core/model.ts';

export interface ParsedFile {
  documents: ParsedDocument[];
  syntaxIssues: SyntaxIssue[];
}

/** How many nodes the position walk may visit below aliases, per document. */
const ALIAS_VISIT_BUDGET = 100_000;

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Bytes of a file → parsed documents; invalid UTF-8 is a syntax issue. A BOM is dropped. */
export function parseYamlBytes(file: string, bytes: Uint8Array): ParsedFile {
  let text: string;
  try {
    text = utf8.decode(bytes);
  } catch {
    return {
      documents: [],
      syntaxIssues: [{ file, line: 1, col: 1, message: 'The file is not valid UTF-8 text.' }],
    };
  }
  return parseYamlFile(file, text);
}

export function parseYamlFile(file: string, text: string): ParsedFile {
  try {
    return parseText(file, text);
  } catch (err) {
    // The yaml package reports problems as document errors; this is the last line of defence.
    const reason = err instanceof Error ? err.message : String(err);
    return { documents: [], syntaxIssues: [{ file, line: 1, col: 1, message: `YAML parser failed: ${reason}` }] };
  }
}

function parseText(file: string, text: string): ParsedFile {
  // A BOM is not content. Line breaks become `\n`: YAML folds them to `\n` in values anyway, and
  // dropping a `\r` at the end of a line changes no line or column number.
  let source = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  if (source.includes('\r')) source = source.replace(/\r\n?/g, '\n');

  const lineCounter = new LineCounter();
  const stream = parseAllDocuments(source, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const at = (offset: number): Position => lineCounter.linePos(offset);

  const documents: ParsedDocument[] = [];
  const syntaxIssues: SyntaxIssue[] = [];
  const issue = (offset: number, message: string): void => {
    const { line, col } = at(offset);
    syntaxIssues.push({ file, line, col, message });
  };
  const report = (e: YAMLError): void => issue(e.pos[0], e.message);

  // An empty stream (`''`, only comments) is not an array and holds no documents.
  if (!Array.isArray(stream)) return { documents, syntaxIssues };

  stream.forEach((doc, index) => {
    doc.errors.forEach(report);
    doc.warnings.forEach(report);
    if (doc.errors.length > 0 || isEmptyDocument(doc)) return;

    const start = doc.contents?.range?.[0] ?? doc.range[0];
    let value: unknown;
    try {
      value = doc.toJS({ maxAliasCount: 100 });
    } catch (err) {
      issue(start, err instanceof Error ? err.message : String(err));
      return;
    }
    const walk = new PositionWalk(doc, at);
    const cycle = walk.run();
    if (cycle !== undefined) {
      issue(cycle, 'An alias refers to a node that contains it (a cycle).');
      return;
    }
    documents.push({ file, index, value, positions: walk.positions, keyPositions: walk.keyPositions });
  });
  return { documents, syntaxIssues };
}

/** Nothing but comments or a bare `---`: an implicit null with no source, tag or anchor. */
function isEmptyDocument(doc: Document.Parsed): boolean {
  const node = doc.contents;
  if (node === null) return true;
  return isScalar(node) && node.value === null && node.source === '' && !node.tag && !node.anchor;
}

class PositionWalk {
  readonly positions = new Map<string, Position>();
  readonly keyPositions = new Map<string, Position>();
  /** Collections being walked, to find aliases that refer to an ancestor. */
  readonly #ancestors = new Set<Node>();
  #aliasDepth = 0;
  #aliasVisits = 0;

  constructor(
    readonly doc: Document.Parsed,
    readonly at: (offset: number) => Position,
  ) {}

  /** Fills the maps; the offset of a cyclic alias, if there is one. */
  run(): number | undefined {
    try {
      this.#value(this.doc.contents, '');
      return undefined;
    } catch (err) {
      if (err instanceof AliasCycle) return err.offset;
      throw err;
    }
  }

  #value(node: unknown, pointer: string): void {
    if (isAlias(node)) {
      if (node.range) this.positions.set(pointer, this.at(node.range[0]));
      const target = node.resolve(this.doc);
      if (target === undefined) return;
      if (this.#ancestors.has(target)) throw new AliasCycle(node.range?.[0] ?? 0);
      this.#aliasDepth++;
      try {
        this.#children(target, pointer);
      } finally {
        this.#aliasDepth--;
      }
      return;
    }
    if (!isScalar(node) && !isMap(node) && !isSeq(node)) return;
    if (this.#aliasDepth > 0 && ++this.#aliasVisits > ALIAS_VISIT_BUDGET) return;
    if (node.range) this.positions.set(pointer, this.at(node.range[0]));
    this.#children(node, pointer);
  }

  #children(node: Node, pointer: string): void {
    if (isMap(node)) {
      this.#ancestors.add(node);
      for (const pair of node.items) this.#pair(pair, pointer);
      this.#ancestors.delete(node);
    } else if (isSeq(node)) {
      this.#ancestors.add(node);
      node.items.forEach((item, i) => {
        const itemPointer = `${pointer}/${i}`;
        if (isPair(item)) {
          // `[a: 1]`: a single-pair map inside a flow sequence.
          const keyStart = rangeStart(item.key);
          if (keyStart !== undefined) this.positions.set(itemPointer, this.at(keyStart));
          this.#pair(item, itemPointer);
        } else {
          this.#value(item, itemPointer);
        }
      });
      this.#ancestors.delete(node);
    }
  }

  #pair(pair: Pair<unknown, unknown>, pointer: string): void {
    const key = this.#keyString(pair.key);
    if (key === undefined) return;
    const childPointer = `${pointer}/${escapePointerToken(key)}`;
    const keyStart = rangeStart(pair.key);
    const keyPosition = keyStart === undefined ? undefined : this.at(keyStart);
    if (keyPosition) this.keyPositions.set(childPointer, keyPosition);
    if (pair.value === null || pair.value === undefined) {
      // `? key` with no value: the key is the best place to point at.
      if (keyPosition) this.positions.set(childPointer, keyPosition);
      return;
    }
    this.#value(pair.value, childPointer);
  }

  /** The key as `toJS()` names it: null → ``, scalars → `String(value)`. */
  #keyString(key: unknown): string | undefined {
    const node = isAlias(key) ? key.resolve(this.doc) : key;
    if (node === null || node === undefined) return '';
    if (!isScalar(node)) return undefined;
    const value = node.value;
    if (value === null || value === undefined) return '';
    return typeof value === 'object' ? undefined : String(value);
  }
}

class AliasCycle extends Error {
  constructor(readonly offset: number) {
    super('alias cycle');
  }
}

function rangeStart(node: unknown): number | undefined {
  if (typeof node !== 'object' || node === null || !('range' in node)) return undefined;
  const range = (node as { range?: [number, number, number] | null }).range;
  return range ? range[0] : undefined;
}

/** RFC 6901 reference token: `~` → `~0`, `/` → `~1`. */
export function escapePointerToken(token: string): string {
  if (!token.includes('~') && !token.includes('/')) return token;
  return token.replace(/~/g, '~0').replace(/\//g, '~1');
}
