// Serves a stored blob from disk in constant memory (a file stream, never the whole blob), with
// the HTTP semantics downloads rely on (RFC 9110): the hash is the strong ETag; one `Range:
// bytes=a-b | a- | -n` gives 206 + Content-Range; a range that starts at or past the end gives 416
// with `Content-Range: bytes */size`; a Range that is malformed, has several parts, or fails its
// `If-Range` is ignored (the whole blob, 200); `If-None-Match` with the ETag gives 304; HEAD gives
// the headers alone. Content-addressed bytes never change: they may be cached for ever.
import { createReadStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import type { Request, Response } from 'express';
import type { StoredBlob } from '../blobs/blob-store.ts';

export async function sendBlob(req: Request, res: Response, blob: StoredBlob): Promise<void> {
  const etag = `"${blob.sha256}"`;
  res.setHeader('Accept-Ranges', 'bytes');
  res.setHeader('ETag', etag);
  res.setHeader('Cache-Control', 'private, max-age=31536000, immutable');
  res.setHeader('Content-Type', 'application/octet-stream');
  if (matchesEtag(req.headers['if-none-match'], etag)) {
    res.status(304).end();
    return;
  }
  const range = selectRange(req, blob.size, etag);
  if (range === 'unsatisfiable') {
    res.status(416).setHeader('Content-Range', `bytes */${blob.size}`);
    res.end();
    return;
  }
  if (range) {
    res.status(206).setHeader('Content-Range', `bytes ${range.start}-${range.end}/${blob.size}`);
    res.setHeader('Content-Length', String(range.end - range.start + 1));
  } else {
    res.status(200).setHeader('Content-Length', String(blob.size));
  }
  if (req.method === 'HEAD' || blob.size === 0) {
    res.end();
    return;
  }
  const file = createReadStream(blob.path, range ?? {});
  try {
    await pipeline(file, res);
  } catch {
    // The client went away or the file could not be read after the headers were sent: the
    // response can only be cut short (the client sees a truncated body and resumes with Range).
    res.destroy();
  }
}

function matchesEtag(header: string | undefined, etag: string): boolean {
  if (header === undefined) return false;
  return header.split(',').some((tag) => {
    const t = tag.trim();
    return t === '*' || t === etag || t === `W/${etag}`;
  });
}

/** The one range to send, `unsatisfiable`, or undefined for the whole blob. */
function selectRange(req: Request, size: number, etag: string): { start: number; end: number } | 'unsatisfiable' | undefined {
  const header = req.headers.range;
  if (header === undefined) return undefined;
  const ifRange = req.get('if-range');
  if (ifRange !== undefined && ifRange.trim() !== etag) return undefined;
  const match = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!match || (match[1] === '' && match[2] === '')) return undefined;
  if (match[1] === '') {
    // Suffix range: the last n bytes.
    const n = Number(match[2]);
    if (n === 0 || size === 0) return 'unsatisfiable';
    return { start: Math.max(0, size - n), end: size - 1 };
  }
  const start = Number(match[1]);
  if (match[2] !== '' && Number(match[2]) < start) return undefined; // invalid: ignored
  if (start >= size) return 'unsatisfiable';
  const last = match[2] === '' ? size - 1 : Number(match[2]);
  return { start, end: Math.min(last, size - 1) };
}
