// The positions of one parsed document, kept as flat arrays: what a fleet of 10,000 devices needs
// (a few hundred thousand pointers) without a Map entry and a Position object per node until
// something looks one up. Validation reads only the root position of a valid document; the other
// positions are read when an issue is reported, so most tables never build their Maps.
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

/** The plain-data form of a table: what crosses a worker boundary (JSON-safe). */
export interface PositionRecords {
  pointers: string[];
  /** `[kind, line, col]` per record, flattened. */
  data: number[];
}

export class PositionTable {
  readonly pointers: string[];
  readonly data: number[];

  constructor(records: PositionRecords = { pointers: [], data: [] }) {
    this.pointers = records.pointers;
    this.data = records.data;
  }

  record(kind: PositionKind, pointer: string, line: number, col: number): void {
    this.pointers.push(pointer);
    this.data.push(kind, line, col);
  }

  /** The two views: value positions and key positions. */
  views(): { positions: ReadonlyMap<string, Position>; keyPositions: ReadonlyMap<string, Position> } {
    return { positions: new PositionView(this, VALUE), keyPositions: new PositionView(this, KEY) };
  }

  toRecords(): PositionRecords {
    return { pointers: this.pointers, data: this.data };
  }
}

/** A read-only Map over one kind of a table's records, built on the first lookup that needs it. */
class PositionView implements ReadonlyMap<string, Position> {
  readonly table: PositionTable;
  readonly #kind: PositionKind;
  #map: Map<string, Position> | undefined;

  constructor(table: PositionTable, kind: PositionKind) {
    this.table = table;
    this.#kind = kind;
  }

  get(pointer: string): Position | undefined {
    // The root is the first record of a value table and is never set again (every other pointer
    // starts with `/`): answer it without building the Map.
    if (pointer === '' && this.#map === undefined && this.#kind === VALUE) {
      const { pointers, data } = this.table;
      if (pointers[0] === '' && data[0] === VALUE) return { line: data[1]!, col: data[2]! };
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
    if (this.#map !== undefined) return this.#map;
    const map = new Map<string, Position>();
    const { pointers, data } = this.table;
    for (let i = 0; i < pointers.length; i++) {
      if (data[i * 3] === this.#kind) map.set(pointers[i]!, { line: data[i * 3 + 1]!, col: data[i * 3 + 2]! });
    }
    this.#map = map;
    return map;
  }
}

/**
 * The records of a document's two position maps: the table behind them when they are its views,
 * else their entries (value positions first; replaying them gives maps equal to these).
 */
export function positionRecordsOf(
  positions: ReadonlyMap<string, Position>,
  keyPositions: ReadonlyMap<string, Position>,
): PositionRecords {
  if (positions instanceof PositionView && keyPositions instanceof PositionView && positions.table === keyPositions.table) {
    return positions.table.toRecords();
  }
  const table = new PositionTable();
  for (const [pointer, { line, col }] of positions) table.record(VALUE, pointer, line, col);
  for (const [pointer, { line, col }] of keyPositions) table.record(KEY, pointer, line, col);
  return table.toRecords();
}
