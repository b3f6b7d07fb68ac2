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
//
// Paths, fastest first, all giving the same result (parse-yaml.test.ts and plain-yaml.test.ts run
// them on the same inputs): a text inside the regular subset of YAML that fleet files are written
// in is read without the yaml package (plain-yaml.ts, ~8× faster); any other text is parsed by the
// yaml package, and then each document is read in one walk when it is plain (`readPlainDocument`)
// or through `toJS` and `PositionWalk` otherwise (aliases, collection keys, ...). Positions of the
// fast paths are PositionTables (position-table.ts): Maps are built only when looked up.
import {
  Composer,
  isAlias,
  isMap,
  isPair,
  isScalar,
  isSeq,
  Lexer,
  LineCounter,
  Pair,
  Parser,
  Scalar,
  YAMLMap,
  YAMLSeq,
  type Document,
  type Node,
  type YAMLError,
} from 'yaml';
import type { ParsedDocument, Position, SyntaxIssue } from '../../core/model.ts';
import { readPlainYaml } from './plain-yaml.ts';
import { escapePointerToken, POSITION_KIND, PositionTable, ROOT_NODE, type PositionKind } from './position-table.ts';
import { YAML_MAX_DEPTH, YAML_MAX_FILE_BYTES } from './yaml-limits.ts';

export { escapePointerToken };

export interface ParsedFile {
  documents: ParsedDocument[];
  syntaxIssues: SyntaxIssue[];
  /** Bytes of the file (UTF-16 units when parsed from a string), for the revision's size limit. */
  size?: number;
}

/** How many nodes the position walk may visit below aliases, per document. */
const ALIAS_VISIT_BUDGET = 100_000;

const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Bytes of a file → parsed documents; invalid UTF-8 is a syntax issue. A BOM is dropped. A file
 * over YAML_MAX_FILE_BYTES is `file.too-large` and is not decoded.
 */
export function parseYamlBytes(file: string, bytes: Uint8Array): ParsedFile {
  if (bytes.byteLength > YAML_MAX_FILE_BYTES) return tooLarge(file, bytes.byteLength);
  let text: string;
  try {
    text = utf8.decode(bytes);
  } catch {
    return {
      documents: [],
      syntaxIssues: [{ file, line: 1, col: 1, message: 'The file is not valid UTF-8 text.' }],
      size: bytes.byteLength,
    };
  }
  return { ...parseYamlFile(file, text), size: bytes.byteLength };
}

export interface ParseYamlOptions {
  /**
   * Take the fast paths: read a text inside the regular subset of plain-yaml.ts without the yaml
   * package, and plain documents in one walk (`readPlainDocument`). Default true; false sends every
   * text through the yaml package and every document through the general path, so tests can check
   * that all paths give the same result.
   */
  fastPaths?: boolean;
}

/**
 * Bounded: a text over YAML_MAX_FILE_BYTES is `file.too-large`, and one nested deeper than
 * YAML_MAX_DEPTH is `yaml.too-deep` where the limit is crossed; neither yields documents, and
 * neither reaches the yaml package's composer (which recurses once per level).
 */
export function parseYamlFile(file: string, text: string, options: ParseYamlOptions = {}): ParsedFile {
  // UTF-16 units, never more than the UTF-8 bytes: parseYamlBytes checks the bytes.
  if (text.length > YAML_MAX_FILE_BYTES) return tooLarge(file, text.length);
  try {
    return { ...parseText(file, text, options.fastPaths ?? true), size: text.length };
  } catch (err) {
    // The yaml package reports problems as document errors; this is the last line of defence.
    const reason = err instanceof Error ? err.message : String(err);
    return { documents: [], syntaxIssues: [{ file, line: 1, col: 1, message: `YAML parser failed: ${reason}` }] };
  }
}

function parseText(file: string, text: string, fastPaths: boolean): ParsedFile {
  // A BOM is not content. Line breaks become `\n`: YAML folds them to `\n` in values anyway, and
  // dropping a `\r` at the end of a line changes no line or column number.
  let source = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  if (source.includes('\r')) source = source.replace(/\r\n?/g, '\n');
  if (fastPaths) {
    const plain = readPlainYaml(file, source);
    if (plain !== undefined) return plain;
  }

  const lineCounter = new LineCounter();
  const at = (offset: number): Position => lineCounter.linePos(offset);
  const stream = withYamlDebugEnv(() => parseBounded(source, lineCounter));
  if (typeof stream === 'number') {
    const { line, col } = at(stream);
    const message = `Collections are nested more than ${YAML_MAX_DEPTH} levels deep here, so the file is not parsed; flatten it (fleet documents need about ten levels).`;
    return { documents: [], syntaxIssues: [{ file, line, col, message, code: 'yaml.too-deep' }] };
  }
  const lines = new LineIndex(lineCounter.lineStarts);

  const documents: ParsedDocument[] = [];
  const syntaxIssues: SyntaxIssue[] = [];
  const issue = (offset: number, message: string): void => {
    const { line, col } = at(offset);
    syntaxIssues.push({ file, line, col, message });
  };
  const report = (e: YAMLError): void => issue(e.pos[0], e.message);

  stream.forEach((doc, index) => {
    doc.errors.forEach(report);
    doc.warnings.forEach(report);
    if (doc.errors.length > 0 || isEmptyDocument(doc)) return;

    const plain = fastPaths ? readPlainDocument(doc, lines) : undefined;
    if (plain !== undefined) {
      documents.push({ file, index, value: plain.value, positions: plain.positions, keyPositions: plain.keyPositions });
      return;
    }

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

/**
 * `parseAllDocuments(source, { lineCounter, prettyErrors: false, uniqueKeys: true })`, with the
 * parser's stack watched token by token: the offset of the token that opens one node more than
 * YAML_MAX_DEPTH instead, before the composer (recursive) sees anything. The parser and the lexer
 * keep their own stacks in arrays, so they read any depth.
 */
function parseBounded(source: string, lineCounter: LineCounter): Document.Parsed[] | number {
  const parser = new Parser(lineCounter.addNewLine);
  const composer = new Composer({ prettyErrors: false, uniqueKeys: true });
  const docs: Document.Parsed[] = [];
  lineCounter.addNewLine(0);
  for (const lexeme of new Lexer().lex(source)) {
    const offset = parser.offset;
    // A document token leaves the parser only once it is complete, so only whole documents within
    // the limit reach the composer.
    for (const token of parser.next(lexeme)) for (const doc of composer.next(token)) docs.push(doc);
    if (parser.stack.length > YAML_MAX_DEPTH) return offset;
  }
  for (const token of parser.end()) for (const doc of composer.next(token)) docs.push(doc);
  for (const doc of composer.end()) docs.push(doc);
  return docs;
}

function tooLarge(file: string, size: number): ParsedFile {
  const message = `The file is ${size} bytes, over the ${YAML_MAX_FILE_BYTES / 1024 / 1024} MiB a YAML file may hold, so it is not parsed; split it into several files.`;
  return { documents: [], syntaxIssues: [{ file, line: 1, col: 1, message, code: 'file.too-large' }], size };
}

/**
 * Runs `parse` with `process.env` replaced by a plain object holding only the two variables the
 * yaml package reads (its debug switches LOG_TOKENS and LOG_STREAM, with their current values).
 *
 * Why: yaml 2.x reads `process.env.LOG_TOKENS` once per token; on Node every `process.env` read
 * is a call into the C++ environment store (~0.2 µs), about a fifth of the parse time of a large
 * fleet. What stays the same: `parse` is synchronous, so no other code runs while the plain object
 * is in place; it is put back even when `parse` throws; the real environment of the process (what
 * native code and child processes see) is never touched; yaml sees the same values it would have read.
 */
function withYamlDebugEnv<T>(parse: () => T): T {
  const env = process.env;
  const seen: Record<string, string> = {};
  if (env.LOG_TOKENS !== undefined) seen.LOG_TOKENS = env.LOG_TOKENS;
  if (env.LOG_STREAM !== undefined) seen.LOG_STREAM = env.LOG_STREAM;
  process.env = seen;
  try {
    return parse();
  } finally {
    process.env = env;
  }
}

interface PlainDocument {
  value: unknown;
  positions: ReadonlyMap<string, Position>;
  keyPositions: ReadonlyMap<string, Position>;
}

/** Thrown inside `readPlainDocument` when the document needs the general path. */
const NOT_PLAIN: unique symbol = Symbol('not plain');

const { VALUE, KEY } = POSITION_KIND;

/**
 * The value and positions of a document in one walk, for the documents almost every fleet file
 * holds: maps, sequences and scalars with string, number, boolean or null values and scalar keys.
 * Undefined for anything else (aliases, collection keys, tags that build other types, `<<` merge
 * keys), which takes the general path: `toJS` and then `PositionWalk`. The result is what the
 * general path gives for the same document, value for value and position for position (both paths
 * run on the same inputs in parse-yaml.test.ts): the value is built the way the yaml package's
 * `toJS` builds it (`addPairToJSMap`), and the positions are recorded in `PositionWalk`'s order.
 */
function readPlainDocument(doc: Document.Parsed, lines: LineIndex): PlainDocument | undefined {
  const table = new PositionTable();
  const record = (kind: PositionKind, at: number, offset: number): void => {
    const line = lines.lineOf(offset);
    table.record(kind, at, line, lines.colOf(offset, line));
  };

  const node = (n: unknown, at: number): unknown => {
    if (n instanceof Scalar && n.constructor === Scalar) {
      const value: unknown = n.value;
      if (value === undefined || typeof value === 'symbol' || typeof value === 'bigint' || (typeof value === 'object' && value !== null)) {
        throw NOT_PLAIN;
      }
      if (n.range) record(VALUE, at, n.range[0]);
      return value;
    }
    if (n instanceof YAMLMap && n.constructor === YAMLMap) {
      if (n.range) record(VALUE, at, n.range[0]);
      const map: Record<string, unknown> = {};
      for (const item of n.items as unknown[]) {
        if (!(item instanceof Pair)) throw NOT_PLAIN;
        pair(map, item, at);
      }
      return map;
    }
    if (n instanceof YAMLSeq && n.constructor === YAMLSeq) {
      if (n.range) record(VALUE, at, n.range[0]);
      const items = n.items as unknown[];
      const seq: unknown[] = [];
      for (let i = 0; i < items.length; i++) {
        const item = items[i];
        const itemAt = table.child(at, i);
        if (item instanceof Pair) {
          // `[a: 1]`: a single-pair map inside a flow sequence.
          const keyStart = rangeStart(item.key);
          if (keyStart !== undefined) record(VALUE, itemAt, keyStart);
          const map: Record<string, unknown> = {};
          pair(map, item, itemAt);
          seq.push(map);
        } else {
          seq.push(node(item, itemAt));
        }
      }
      return seq;
    }
    throw NOT_PLAIN;
  };

  const pair = (map: Record<string, unknown>, p: Pair<unknown, unknown>, at: number): void => {
    const key = p.key;
    let name: string;
    let keyStart: number | undefined;
    if (key === null || key === undefined) {
      name = '';
    } else if (key instanceof Scalar && key.constructor === Scalar && !('addToJSMap' in key)) {
      const value: unknown = key.value;
      if (value === null) name = '';
      else if (typeof value === 'string') name = value;
      else if (typeof value === 'number' || typeof value === 'boolean') name = String(value);
      else throw NOT_PLAIN;
      keyStart = key.range?.[0];
    } else {
      throw NOT_PLAIN;
    }
    const childAt = table.child(at, name);
    if (keyStart !== undefined) record(KEY, childAt, keyStart);
    const v = p.value;
    let value: unknown;
    if (v === null || v === undefined) {
      // `? key` with no value: the key is the best place to point at.
      if (keyStart !== undefined) record(VALUE, childAt, keyStart);
      value = v;
    } else {
      value = node(v, childAt);
    }
    // As addPairToJSMap: a key the object already has, own or inherited (`__proto__`,
    // `toString`), becomes an own data property instead of going through a setter.
    if (name in map) Object.defineProperty(map, name, { value, writable: true, enumerable: true, configurable: true });
    else map[name] = value;
  };

  let value: unknown;
  try {
    value = node(doc.contents, ROOT_NODE);
  } catch (err) {
    if (err === NOT_PLAIN) return undefined;
    throw err;
  }
  return { value, ...table.views() };
}

/**
 * `LineCounter.linePos` without an object per call. `linePos` finds `low`, the first line start at
 * or after the offset, by binary search; the walk mostly moves forward a line at a time, so the
 * previous answer and the one after it are tried first.
 */
class LineIndex {
  #low = 0;
  constructor(readonly starts: readonly number[]) {}

  /** As `linePos(offset).line`. */
  lineOf(offset: number): number {
    const low = this.#lowerBound(offset);
    this.#low = low;
    return this.starts[low] === offset ? low + 1 : low;
  }

  /** As `linePos(offset).col`, given `line = lineOf(offset)`. */
  colOf(offset: number, line: number): number {
    const starts = this.starts;
    if (line > 0 && starts[line - 1] === offset) return 1;
    if (line === 0) return offset;
    return offset - starts[line - 1]! + 1;
  }

  #lowerBound(offset: number): number {
    const starts = this.starts;
    for (let low = this.#low; low <= this.#low + 1 && low <= starts.length; low++) {
      if ((low === 0 || starts[low - 1]! < offset) && (low === starts.length || offset <= starts[low]!)) return low;
    }
    let low = 0;
    let high = starts.length;
    while (low < high) {
      const mid = (low + high) >> 1;
      if (starts[mid]! < offset) low = mid + 1;
      else high = mid;
    }
    return low;
  }
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

