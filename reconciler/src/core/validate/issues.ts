// Collects validation issues and places them: every issue points at the node it is about, or at
// its nearest ancestor that has a position.
import type { IssueCode, ValidationIssue } from '../errors.ts';
import type { ParsedDocument, Position } from '../model.ts';

export class IssueList {
  readonly items: ValidationIssue[] = [];

  /**
   * An issue about the value at `path` in `doc` (or about its key, when `onKey`: for unknown and
   * duplicate keys the key is what the author must change).
   */
  at(
    doc: ParsedDocument,
    path: string,
    code: IssueCode,
    message: string,
    options: { onKey?: boolean; suggestion?: string | undefined } = {},
  ): void {
    const position = locate(doc, path, options.onKey ?? false);
    const issue: ValidationIssue = {
      code,
      message,
      file: doc.file,
      line: position.line,
      col: position.col,
      path,
      document: doc.index,
    };
    if (options.suggestion !== undefined) issue.suggestion = options.suggestion;
    this.items.push(issue);
  }

  inFile(file: string, position: Position, code: IssueCode, message: string): void {
    this.items.push({ code, message, file, line: position.line, col: position.col, path: '', document: -1 });
  }

  get size(): number {
    return this.items.length;
  }
}

function locate(doc: ParsedDocument, path: string, onKey: boolean): Position {
  if (onKey) {
    const key = doc.keyPositions.get(path);
    if (key) return key;
  }
  let pointer = path;
  for (;;) {
    const found = doc.positions.get(pointer);
    if (found) return found;
    if (pointer === '') return { line: 1, col: 1 };
    pointer = pointer.slice(0, pointer.lastIndexOf('/'));
  }
}

/** `/spec/targets/0` from segments, escaping `~` and `/` per RFC 6901. */
export function pointer(...segments: Array<string | number>): string {
  return segments.map((s) => '/' + String(s).replaceAll('~', '~0').replaceAll('/', '~1')).join('');
}
