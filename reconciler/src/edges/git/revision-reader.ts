// One revision of a fleet repository, as files under its fleet root. Implemented by
// DirectoryReader (a working tree) and GitCommitReader (a commit, read without a checkout).

export interface RevisionEntry {
  /** Relative to the fleet root, POSIX separators, normalised. */
  readonly path: string;
  /**
   * A content id known without reading the file (a git blob oid): equal ids ⇔ equal bytes.
   * Undefined when only reading tells (a working tree file).
   */
  readonly id: string | undefined;
}

export interface RevisionReader {
  /** `main@sha1:<oid>` for a commit, `worktree` for a directory; fixed for the reader's life. */
  readonly revision: string;
  /**
   * Every regular file under the fleet root, sorted by path (UTF-16 code units). Dot-directories,
   * `node_modules`, symbolic links and submodules are not part of a revision. Listed once per
   * reader: a reader is one revision.
   */
  list(): Promise<readonly RevisionEntry[]>;
  /** The bytes of a listed file; `RevisionError` `revision.file-not-found` for any other path. */
  read(path: string): Promise<Uint8Array>;
  /**
   * The symbolic links under the fleet root (outside ignored directories), sorted: never followed
   * nor read, but named so the loader can warn about YAML the author expected to count.
   */
  links?(): Promise<readonly string[]>;
}
