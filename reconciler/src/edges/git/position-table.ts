// The positions of one parsed document, kept as flat arrays: what a fleet of 10,000 devices needs
// (a few hundred thousand pointers) without a pointer string, a Map entry and a Position object
// per node until something looks one up. Validation reads only the root position of a valid
// document; the other positions are read when an issue is reported, so most tables never build
// their Maps.
//
// Nodes: node 0 is the document root (pointer ``); `child(parent, token)` adds a node whose
// pointer is the parent's plus `/` and the escaped token (a mapping key, or a sequence index).
//
// Contract: `record` is called in the order the parse walk meets the nodes, exactly as the walk
// would call `Map.set` on `positions` (kind VALUE) and `keyPositions` (kind KEY); the two views
// replay those calls, so they hold the same entries in the same order (a pointer set twice keeps
// its first place and its last position, as a Map does).
import type { Position } from '../../core/model.ts';

const VALUE = 0;
const KEY = 1;
export type PositionKind = typeof VALUE | typeof KEY;
export const POSITION_KIND = { VALUE, KEY } as const;

/** The root node of every table. */
export const ROOT_NODE = 0;

export class PositionTable {
  /** Per node: its parent (-1 for the root) and its token. */
  readonly #parents: number[] = [-1];
  readonly #tokens: (string | number)[] = [''];
  /** `[node, kind, line, col]` per record, flattened. */
  readonly #records: number[] = [];
  #pointers: string[] | undefined;

  /** A node below `parent`: a mapping entry (`token` its key) or a sequence item (its index). */
  child(parent: number, token: string | number): number {
    this.#parents.push(parent);
    this.#tokens.push(token);
    return this.#parents.length - 1;
  }

  record(kind: PositionKind, node: number, line: number, col: number): void {
    this.#records.push(node, kind, line, col);
  }

  /** The two views: value positions and key positions. */
  views(): { positions: ReadonlyMap<string, Position>; keyPositions: ReadonlyMap<string, Position> } {
    return { positions: new PositionView(this, VALUE), keyPositions: new PositionView(this, KEY) };
  }

  /** The root's value position, when it is the first record (it always is for a parsed document). */
  rootPosition(): Position | undefined {
    const records = this.#records;
    if (records[0] !== ROOT_NODE || records[1] !== VALUE) return undefined;
    return { line: records[2]!, col: records[3]! };
  }

  /** Replays the records of `kind` into a Map. */
  build(kind: PositionKind): Map<string, Position> {
    const pointers = this.#pointerList();
    const records = this.#records;
    const map = new Map<string, Position>();
    for (let i = 0; i < records.length; i += 4) {
      if (records[i + 1] === kind) map.set(pointers[records[i]!]!, { line: records[i + 2]!, col: records[i + 3]! });
    }
    return map;
  }

  #pointerList(): string[] {
    if (this.#pointers === undefined) {
      const pointers: string[] = [''];
      for (let node = 1; node < this.#parents.length; node++) {
        pointers.push(`${pointers[this.#parents[node]!]}/${escapePointerToken(String(this.#tokens[node]))}`);
      }
      this.#pointers = pointers;
    }
    return this.#pointers;
  }
}

/** A read-only Map over one kind of a table's records, built on the first lookup that needs it. */
class PositionView implements ReadonlyMap<string, Position> {
  readonly #table: PositionTable;
  readonly #kind: PositionKind;
  #map: Map<string, Position> | undefined;

  constructor(table: PositionTable, kind: PositionKind) {
    this.#table = table;
    this.#kind = kind;
  }

  get(pointer: string): Position | undefined {
    // The root is the first record of a value table and never set again (every other pointer
    // starts with `/`): answer it without building the Map.
    if (pointer === '' && this.#map === undefined && this.#kind === VALUE) {
      const root = this.#table.rootPosition();
      if (root !== undefined) return root;
    }
    return this.#built().get(pointer);
  }

  has(pointer: string): boolean {
    return this.#built().has(pointer);
  }

  get size(): number {
    return this.#built().size;
  }

  forEach(callback: (value: Position, key: string, map: ReadonlyMap<string, Position>) => void, thisArg?: unknown): void {
    this.#built().forEach((value, key) => callback.call(thisArg, value, key, this));
  }

  entries(): MapIterator<[string, Position]> {
    return this.#built().entries();
  }

  keys(): MapIterator<string> {
    return this.#built().keys();
  }

  values(): MapIterator<Position> {
    return this.#built().values();
  }

  [Symbol.iterator](): MapIterator<[string, Position]> {
    return this.#built().entries();
  }

  #built(): Map<string, Position> {
    this.#map ??= this.#table.build(this.#kind);
    return this.#map;
  }
}

/** RFC 6901 reference token: `~` → `~0`, `/` → `~1`. */
export function escapePointerToken(token: string): string {
  if (!token.includes('~') && !token.includes('/')) return token;
  return token.replace(/~/g, '~0').replace(/\//g, '~1');
}
