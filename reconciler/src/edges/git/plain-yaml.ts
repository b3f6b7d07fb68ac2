// A reader for the regular part of YAML that fleet repositories are written in, ~8× faster than
// the yaml package: a cold load of 10,000 devices is megabytes of YAML, which the package parses at
// ~2 MB/s. For a text inside the subset it gives exactly what parse-yaml.ts's general path gives
// (values, positions, document indexes; the yaml package's core schema resolves every plain
// scalar); for anything outside it, it gives up (undefined) and the caller parses the text with
// the yaml package. Both are run over the same inputs in plain-yaml.test.ts, including thousands
// of mutated ones, and must agree whenever this reader answers.
//
// The subset, per line (only spaces for indentation; printable ASCII only; `\n` line ends):
//   - documents separated by `---` lines; comment and blank lines anywhere;
//   - block mappings `key: value` and `key:` with the value on the following, more indented lines
//     (or a block sequence at the key's own indentation); keys plain or quoted on one line;
//   - block sequences `- value`, `- key: value` (a mapping starting on the dash line), `-` with the
//     value on the following lines;
//   - flow collections `[a, b]`, `{k: v}`, nested, on one line, no trailing comma;
//   - plain scalars on one line; double-quoted without escapes; single-quoted without `''`;
//   - trailing ` # comments`.
// Not in it (the yaml package reads those): directives, `...`, anchors, aliases, tags, block
// scalars, multi-line scalars and flow collections, `?` keys, empty sequence items, `key:`
// followed by spaces or a comment, escapes, tabs, non-ASCII text, duplicate keys, and anything
// the yaml package would call an error.
import { isScalar, Schema, type ScalarTag } from 'yaml';
import type { ParsedDocument } from '../../core/model.ts';
import type { ParsedFile } from './parse-yaml.ts';
import { POSITION_KIND, PositionTable, ROOT_NODE } from './position-table.ts';
import { YAML_MAX_DEPTH } from './yaml-limits.ts';

const { VALUE, KEY } = POSITION_KIND;

/** The plain-scalar tags of the schema parse-yaml.ts documents get (YAML 1.2 core), in its order. */
const CORE_TAGS: readonly ScalarTag[] = new Schema({ schema: 'core' }).tags.filter(
  (tag): tag is ScalarTag => tag.default === true && 'test' in tag && tag.test instanceof RegExp,
);

/** Thrown anywhere below when the text leaves the subset. */
const OUTSIDE: unique symbol = Symbol('outside the subset');

const SPACE = 0x20;
const HASH = 0x23;
const DASH = 0x2d;
const COLON = 0x3a;
const COMMA = 0x2c;
const DQUOTE = 0x22;
const SQUOTE = 0x27;
const LBRACKET = 0x5b;
const RBRACKET = 0x5d;
const LBRACE = 0x7b;
const RBRACE = 0x7d;
const BACKSLASH = 0x5c;

/** Only `\n` and printable ASCII. */
const OUTSIDE_CHARSET = /[^\n\x20-\x7e]/;
/** Keys longer than this are an error for the yaml package (implicit block keys, quotes included). */
const MAX_KEY_LENGTH = 1024;

/** `source` (BOM dropped, `\n` line ends) read as the subset, or undefined when it is not in it. */
export function readPlainYaml(file: string, source: string): ParsedFile | undefined {
  if (OUTSIDE_CHARSET.test(source)) return undefined;
  try {
    return new PlainReader(file, source).read();
  } catch (err) {
    if (err === OUTSIDE) return undefined;
    throw err;
  }
}

function outside(): never {
  throw OUTSIDE;
}

class PlainReader {
  readonly #file: string;
  readonly #src: string;
  /** Offset of the first character of each line, and one past its last (the `\n` or the end). */
  readonly #starts: number[] = [];
  readonly #ends: number[] = [];
  /** Leading spaces of each line; -1 for a blank or comment-only line. */
  readonly #indents: number[] = [];
  /** The line being read, and the first line after the current document. */
  #line = 0;
  #end = 0;
  #table = new PositionTable();
  /**
   * Collections open at once. Near YAML_MAX_DEPTH the text leaves the subset: parse-yaml.ts then
   * decides with the yaml package's parser (`yaml.too-deep` at the same place for both paths), and
   * this reader never recurses deeper.
   */
  #depth = 0;

  constructor(file: string, src: string) {
    this.#file = file;
    this.#src = src;
    let start = 0;
    for (;;) {
      const nl = src.indexOf('\n', start);
      const end = nl < 0 ? src.length : nl;
      this.#starts.push(start);
      this.#ends.push(end);
      let i = start;
      while (i < end && src.charCodeAt(i) === SPACE) i++;
      this.#indents.push(i === end || src.charCodeAt(i) === HASH ? -1 : i - start);
      if (nl < 0) break;
      start = nl + 1;
    }
  }

  read(): ParsedFile {
    const lines = this.#starts.length;
    /** Document sections: [first line, end line, index in the stream]. */
    const sections: [number, number, number][] = [];
    let from = 0;
    let index = 0;
    let marked = false;
    for (let line = 0; line < lines; line++) {
      if (this.#indents[line] !== 0 || !this.#isMarker(line)) continue;
      // Before the first `---`, comments alone are not a document; after one, even nothing is.
      if (marked || this.#nextContent(from, line) >= 0) sections.push([from, line, index++]);
      marked = true;
      from = line + 1;
    }
    if (marked || this.#nextContent(from, lines) >= 0) sections.push([from, lines, index++]);

    const documents: ParsedDocument[] = [];
    for (const [first, end, docIndex] of sections) {
      const line = this.#nextContent(first, end);
      if (line < 0) continue; // an empty document: skipped, its index counted
      this.#end = end;
      this.#line = line;
      this.#table = new PositionTable();
      this.#depth = 0;
      const value = this.#block(ROOT_NODE, -1);
      if (this.#nextContent(this.#line, end) >= 0) outside();
      documents.push({ file: this.#file, index: docIndex, value, ...this.#table.views() });
    }
    return { documents, syntaxIssues: [] };
  }

  /** A `---` line; any other line starting with `---`, `...` or `%` leaves the subset. */
  #isMarker(line: number): boolean {
    const src = this.#src;
    const start = this.#starts[line]!;
    const end = this.#ends[line]!;
    const c = src.charCodeAt(start);
    if (c === 0x25 /* % */) outside();
    if (src.startsWith('---', start)) {
      if (end === start + 3) return true;
      outside();
    }
    if (src.startsWith('...', start)) outside();
    return false;
  }

  /** The first line in [from, end) with content, or -1. */
  #nextContent(from: number, end: number): number {
    for (let line = from; line < end; line++) if (this.#indents[line]! >= 0) return line;
    return -1;
  }

  /** A position record for `node` (a PositionTable node) at `offset` of `line`. */
  #record(kind: typeof VALUE | typeof KEY, node: number, offset: number, line: number): void {
    this.#table.record(kind, node, line + 1, offset - this.#starts[line]! + 1);
  }

  // ---- block structure ----

  /** The node starting at the current (content) line, more indented than `parent`. */
  #block(node: number, parent: number): unknown {
    const line = this.#line;
    const indent = this.#indents[line]!;
    if (indent <= parent) outside();
    const at = this.#starts[line]! + indent;
    const c = this.#src.charCodeAt(at);
    if (c === DASH && this.#isBlank(at + 1)) return this.#sequence(node, indent);
    if (this.#startsMapping(at)) return this.#mapping(node, indent, at);
    // A scalar or flow collection on the line after `key:` or `-`: rare, and the yaml package
    // rejects some forms of it (a comment line in between), so it reads them all.
    if (parent >= 0) outside();
    const value = this.#inlineValue(node, at, line);
    this.#line = line + 1;
    this.#noContinuation(parent);
    return value;
  }

  /** Whether a key (plain or quoted) followed by `:` and a space or the line end starts at `at`. */
  #startsMapping(at: number): boolean {
    const src = this.#src;
    const c = src.charCodeAt(at);
    if (c === DQUOTE || c === SQUOTE) {
      const close = this.#quoteEnd(at);
      return close >= 0 && src.charCodeAt(close + 1) === COLON;
    }
    if (c === LBRACKET || c === LBRACE) return false;
    const end = this.#ends[this.#line]!;
    for (let i = at; i < end; i++) {
      const ch = src.charCodeAt(i);
      if (ch === COLON && this.#isBlank(i + 1)) return true;
      if (ch === HASH && src.charCodeAt(i - 1) === SPACE) return false;
    }
    return false;
  }

  /** One more collection open; leaves the subset past the depth the yaml package path allows. */
  #enter(): void {
    // The yaml package's parser also counts the document and the scalar being read.
    if (++this.#depth > YAML_MAX_DEPTH - 4) outside();
  }

  /** A block mapping whose first key is at `at` on the current line; its keys sit at column `indent`. */
  #mapping(node: number, indent: number, at: number): Record<string, unknown> {
    this.#enter();
    const src = this.#src;
    const map: Record<string, unknown> = {};
    const keys = new Set<unknown>();
    this.#record(VALUE, node, at, this.#line);
    for (;;) {
      const line = this.#line;
      const { name, resolved, end: keyEnd } = this.#key(at, line);
      if (src.charCodeAt(keyEnd) !== COLON) outside();
      if (!(typeof resolved === 'number' && Number.isNaN(resolved))) {
        if (keys.has(resolved)) outside(); // the yaml package reports the duplicate
        keys.add(resolved);
      }
      const child = this.#table.child(node, name);
      this.#record(KEY, child, at, line);
      let value: unknown;
      const lineEnd = this.#ends[line]!;
      if (keyEnd + 1 === lineEnd) {
        // `key:` — the value is on the following lines, or empty.
        const next = this.#nextContent(line + 1, this.#end);
        const nextIndent = next < 0 ? -1 : this.#indents[next]!;
        const nextAt = next < 0 ? 0 : this.#starts[next]! + nextIndent;
        if (next >= 0 && nextIndent > indent) {
          this.#line = next;
          value = this.#block(child, indent);
        } else if (next >= 0 && nextIndent === indent && src.charCodeAt(nextAt) === DASH && this.#isBlank(nextAt + 1, next)) {
          this.#line = next;
          value = this.#sequence(child, indent);
        } else {
          this.#record(VALUE, child, keyEnd + 1, line);
          value = null;
          this.#line = line + 1;
        }
      } else {
        if (src.charCodeAt(keyEnd + 1) !== SPACE) outside();
        let v = keyEnd + 2;
        while (v < lineEnd && src.charCodeAt(v) === SPACE) v++;
        if (v === lineEnd || src.charCodeAt(v) === HASH) outside(); // `key:` + spaces or a comment
        value = this.#inlineValue(child, v, line);
        this.#line = line + 1;
        this.#noContinuation(indent);
      }
      setEntry(map, name, value);

      const next = this.#nextContent(this.#line, this.#end);
      const nextIndent = next < 0 ? -1 : this.#indents[next]!;
      if (nextIndent < indent) {
        this.#depth--;
        return map;
      }
      if (nextIndent > indent) outside();
      this.#line = next;
      at = this.#starts[next]! + indent;
      if (src.charCodeAt(at) === DASH && this.#isBlank(at + 1)) {
        // A sequence at the mapping's own column ends it only when it is a value of the mapping
        // above (handled there); here it is an error for the yaml package.
        outside();
      }
    }
  }

  /** A block sequence whose dashes sit at column `indent`, starting at the current line. */
  #sequence(node: number, indent: number): unknown[] {
    this.#enter();
    const src = this.#src;
    const seq: unknown[] = [];
    this.#record(VALUE, node, this.#starts[this.#line]! + indent, this.#line);
    for (;;) {
      const line = this.#line;
      const dash = this.#starts[line]! + indent;
      const lineEnd = this.#ends[line]!;
      const item = this.#table.child(node, seq.length);
      if (dash + 1 === lineEnd) {
        // `-` alone: the item is on the following, more indented lines.
        const next = this.#nextContent(line + 1, this.#end);
        if (next < 0 || this.#indents[next]! <= indent) outside();
        this.#line = next;
        seq.push(this.#block(item, indent));
      } else {
        let at = dash + 2;
        while (at < lineEnd && src.charCodeAt(at) === SPACE) at++;
        if (at === lineEnd || src.charCodeAt(at) === HASH) outside();
        const c = src.charCodeAt(at);
        if (c === DASH && this.#isBlank(at + 1)) outside(); // `- - x`
        if (this.#startsMapping(at)) {
          seq.push(this.#mapping(item, at - this.#starts[line]!, at));
        } else {
          seq.push(this.#inlineValue(item, at, line));
          this.#line = line + 1;
          this.#noContinuation(indent);
        }
      }
      const next = this.#nextContent(this.#line, this.#end);
      const nextIndent = next < 0 ? -1 : this.#indents[next]!;
      if (nextIndent > indent) outside();
      const nextAt = this.#starts[next]! + indent;
      // The end, or the mapping above goes on.
      if (nextIndent < indent || !(src.charCodeAt(nextAt) === DASH && this.#isBlank(nextAt + 1, next))) {
        this.#depth--;
        return seq;
      }
      this.#line = next;
    }
  }

  /** After a value that ended its line: a more indented line next would continue it (multi-line). */
  #noContinuation(parent: number): void {
    const next = this.#nextContent(this.#line, this.#end);
    if (next >= 0 && this.#indents[next]! > parent) outside();
  }

  /** Space, or the end of line `line` (default: the current line), at `i`. */
  #isBlank(i: number, line = this.#line): boolean {
    return i >= this.#ends[line]! || this.#src.charCodeAt(i) === SPACE;
  }

  // ---- keys and values on one line ----

  /** A block mapping key at `at`: its name as toJS names it, its resolved value, where it ends. */
  #key(at: number, line: number): { name: string; resolved: unknown; end: number } {
    const src = this.#src;
    const c = src.charCodeAt(at);
    if (c === DQUOTE || c === SQUOTE) {
      const close = this.#quoteEnd(at);
      if (close < 0) outside();
      // The yaml package counts a block key's source, quotes included.
      if (close + 1 - at > MAX_KEY_LENGTH) outside();
      const name = src.slice(at + 1, close);
      return { name, resolved: name, end: close + 1 };
    }
    if (!isPlainStart(src, at)) outside();
    const lineEnd = this.#ends[line]!;
    let i = at;
    while (i < lineEnd) {
      const ch = src.charCodeAt(i);
      if (ch === COLON && (i + 1 === lineEnd || src.charCodeAt(i + 1) === SPACE)) break;
      if (ch === HASH && src.charCodeAt(i - 1) === SPACE) outside();
      i++;
    }
    let end = i;
    while (src.charCodeAt(end - 1) === SPACE) end--;
    if (end - at > MAX_KEY_LENGTH) outside();
    if (end !== i) outside(); // `key :` — spaces before the colon
    const resolved = resolvePlain(src.slice(at, end));
    return { name: keyName(resolved), resolved, end: i };
  }

  /** A value that must end its line (spaces and a comment may follow): flow collection or scalar. */
  #inlineValue(node: number, at: number, line: number): unknown {
    const src = this.#src;
    const lineEnd = this.#ends[line]!;
    const c = src.charCodeAt(at);
    let value: unknown;
    let end: number;
    if (c === LBRACKET || c === LBRACE) {
      [value, end] = this.#flow(node, at, line);
    } else if (c === DQUOTE || c === SQUOTE) {
      const close = this.#quoteEnd(at);
      if (close < 0) outside();
      this.#record(VALUE, node, at, line);
      value = src.slice(at + 1, close);
      end = close + 1;
    } else {
      if (!isPlainStart(src, at)) outside();
      let i = at;
      while (i < lineEnd) {
        const ch = src.charCodeAt(i);
        if (ch === COLON && (i + 1 === lineEnd || src.charCodeAt(i + 1) === SPACE)) outside(); // `a: b: c`
        if (ch === HASH && src.charCodeAt(i - 1) === SPACE) break;
        i++;
      }
      end = i;
      while (src.charCodeAt(end - 1) === SPACE) end--;
      this.#record(VALUE, node, at, line);
      value = resolvePlain(src.slice(at, end));
    }
    this.#lineRest(end, lineEnd);
    return value;
  }

  /** Only spaces, then optionally a ` #` comment, from `i` to the line end. */
  #lineRest(i: number, lineEnd: number): void {
    const src = this.#src;
    const from = i;
    while (i < lineEnd && src.charCodeAt(i) === SPACE) i++;
    if (i === lineEnd) return;
    if (src.charCodeAt(i) === HASH && i > from) return;
    outside();
  }

  /** The closing quote of the quoted scalar at `at` on the current line, or -1 (escapes: -1). */
  #quoteEnd(at: number): number {
    const src = this.#src;
    const quote = src.charCodeAt(at);
    const lineEnd = this.#ends[this.#line]!;
    for (let i = at + 1; i < lineEnd; i++) {
      const ch = src.charCodeAt(i);
      if (ch === quote) return quote === SQUOTE && src.charCodeAt(i + 1) === SQUOTE ? -1 : i;
      if (ch === BACKSLASH && quote === DQUOTE) return -1;
    }
    return -1;
  }

  /** A flow collection at `at`, closed on this line: its value and the offset after it. */
  #flow(node: number, at: number, line: number): [unknown, number] {
    this.#enter();
    const src = this.#src;
    const lineEnd = this.#ends[line]!;
    const open = src.charCodeAt(at);
    const close = open === LBRACKET ? RBRACKET : RBRACE;
    this.#record(VALUE, node, at, line);
    const seq: unknown[] = [];
    const map: Record<string, unknown> = {};
    const keys = new Set<unknown>();
    let i = this.#skipSpaces(at + 1, lineEnd);
    if (src.charCodeAt(i) === close) {
      this.#depth--;
      return [open === LBRACKET ? seq : map, i + 1];
    }
    for (;;) {
      if (i >= lineEnd) outside();
      if (open === LBRACKET) {
        const [value, end] = this.#flowNode(this.#table.child(node, seq.length), i, line);
        seq.push(value);
        i = end;
      } else {
        const c = src.charCodeAt(i);
        let name: string;
        let resolved: unknown;
        let keyEnd: number;
        if (c === DQUOTE || c === SQUOTE) {
          const q = this.#quoteEnd(i);
          if (q < 0) outside();
          name = src.slice(i + 1, q);
          resolved = name;
          keyEnd = q + 1;
        } else {
          keyEnd = this.#flowPlainEnd(i, lineEnd);
          resolved = resolvePlain(src.slice(i, keyEnd));
          name = keyName(resolved);
        }
        // `key: value` only: no `{a}`, `{a:b}`, `{"a":b}`, `{a : b}`.
        if (src.charCodeAt(keyEnd) !== COLON || src.charCodeAt(keyEnd + 1) !== SPACE) outside();
        if (!(typeof resolved === 'number' && Number.isNaN(resolved))) {
          if (keys.has(resolved)) outside();
          keys.add(resolved);
        }
        const child = this.#table.child(node, name);
        this.#record(KEY, child, i, line);
        const v = this.#skipSpaces(keyEnd + 2, lineEnd);
        const [value, end] = this.#flowNode(child, v, line);
        setEntry(map, name, value);
        i = end;
      }
      i = this.#skipSpaces(i, lineEnd);
      const c = src.charCodeAt(i);
      if (c === close) {
        this.#depth--;
        return [open === LBRACKET ? seq : map, i + 1];
      }
      if (c !== COMMA) outside();
      i = this.#skipSpaces(i + 1, lineEnd);
      if (src.charCodeAt(i) === close) outside(); // trailing comma
    }
  }

  #skipSpaces(i: number, lineEnd: number): number {
    while (i < lineEnd && this.#src.charCodeAt(i) === SPACE) i++;
    return i;
  }

  /** A node inside a flow collection: a nested collection, a quoted or a plain scalar. */
  #flowNode(node: number, at: number, line: number): [unknown, number] {
    const src = this.#src;
    const c = src.charCodeAt(at);
    if (c === LBRACKET || c === LBRACE) return this.#flow(node, at, line);
    if (c === DQUOTE || c === SQUOTE) {
      const close = this.#quoteEnd(at);
      if (close < 0) outside();
      this.#record(VALUE, node, at, line);
      return [src.slice(at + 1, close), close + 1];
    }
    const end = this.#flowPlainEnd(at, this.#ends[line]!);
    // A pair in a sequence (`[a: b]`) or a nested mapping in a map value (`{a: b: c}`).
    if (src.charCodeAt(end) === COLON) outside();
    this.#record(VALUE, node, at, line);
    return [resolvePlain(src.slice(at, end)), end];
  }

  /** The end of a plain scalar inside a flow collection (trailing spaces excluded). */
  #flowPlainEnd(at: number, lineEnd: number): number {
    const src = this.#src;
    if (!isPlainStart(src, at)) outside();
    let i = at;
    while (i < lineEnd) {
      const ch = src.charCodeAt(i);
      if (ch === COMMA || ch === LBRACKET || ch === RBRACKET || ch === LBRACE || ch === RBRACE) break;
      if (ch === COLON) {
        const next = src.charCodeAt(i + 1);
        if (i + 1 >= lineEnd || next === SPACE || next === COMMA || next === LBRACKET || next === RBRACKET || next === LBRACE || next === RBRACE) break;
      }
      if (ch === HASH && src.charCodeAt(i - 1) === SPACE) outside();
      if (ch === DQUOTE || ch === SQUOTE) outside();
      i++;
    }
    if (i >= lineEnd) outside(); // a flow collection left open on this line
    let end = i;
    while (src.charCodeAt(end - 1) === SPACE) end--;
    return end;
  }
}

/**
 * A plain scalar may start here: not an indicator (`-?:,[]{}#&*!|>'"%@` and backtick), not a
 * space; `-` only before a letter, digit, `.` or `_` (`-1`, `-foo`).
 */
function isPlainStart(src: string, at: number): boolean {
  const c = src.charCodeAt(at);
  if (c === DASH) {
    const n = src.charCodeAt(at + 1);
    return (n >= 0x30 && n <= 0x39) || (n >= 0x41 && n <= 0x5a) || (n >= 0x61 && n <= 0x7a) || n === 0x2e || n === 0x5f;
  }
  return c > SPACE && c < 0x7f && !'?:,[]{}#&*!|>\'"%@`'.includes(String.fromCharCode(c));
}

/**
 * First characters a core-schema null, bool, int or float can start with (`~`, `null`, `true`,
 * `0x1F`, `-1`, `+.5`, `.inf`, ...): a plain scalar starting with anything else is a string, and
 * the eight tag tests are skipped (plain-yaml.test.ts checks this against the tags themselves).
 */
export const NON_STRING_FIRST = new Set('~nNtTfF0123456789+-.');

/** A plain scalar's value as the yaml package composes it with the core schema. */
export function resolvePlain(text: string): unknown {
  if (text.length > 0 && !NON_STRING_FIRST.has(text[0]!)) return text;
  for (const tag of CORE_TAGS) {
    if (!tag.test!.test(text)) continue;
    let res: unknown;
    try {
      res = tag.resolve(text, outside, {} as never);
    } catch {
      outside(); // a tag that cannot resolve it: the yaml package reports that
    }
    return isScalar(res) ? res.value : res;
  }
  return text;
}

/** The object key toJS makes of a resolved scalar key. */
function keyName(resolved: unknown): string {
  if (resolved === null) return '';
  if (typeof resolved === 'string') return resolved;
  if (typeof resolved === 'number' || typeof resolved === 'boolean') return String(resolved);
  return outside();
}

/** As the yaml package's addPairToJSMap: a key the object already has becomes an own data property. */
function setEntry(map: Record<string, unknown>, name: string, value: unknown): void {
  if (name in map) Object.defineProperty(map, name, { value, writable: true, enumerable: true, configurable: true });
  else map[name] = value;
}
