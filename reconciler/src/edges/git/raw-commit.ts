// A commit object's bytes exactly as stored, for what must see them unaltered (signature checks:
// edges/signatures/). isomorphic-git's readCommit re-renders and normalises the text.
import git, { type FsClient } from 'isomorphic-git';
import { gitErrorCode, RevisionError } from './errors.ts';

/** A commit object's content, byte for byte; `revision.ref-not-found` when `oid` is not a commit. */
export async function readRawCommit(fs: FsClient, gitdir: string, oid: string, cache: object, where: string): Promise<Uint8Array> {
  try {
    const result = await git.readObject({ fs, gitdir, oid, format: 'content', cache });
    if (result.type !== 'commit') throw new RevisionError('revision.ref-not-found', `${oid} is a ${result.type}, not a commit of ${where}`);
    return result.object as Uint8Array;
  } catch (err) {
    const code = gitErrorCode(err);
    if (code === 'NotFoundError') throw new RevisionError('revision.ref-not-found', `${oid} is not a commit of ${where}`, { cause: err });
    throw err;
  }
}

