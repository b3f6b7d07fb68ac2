// Worker thread entry for parallel-parse.ts: parses the files it is sent, one message per file.
// Loaded through tsx's `tsImport` by the bootstrap in parallel-parse.ts; never imported otherwise.
import { parentPort } from 'node:worker_threads';
import { encodeParsedFile, type ParseJobMessage, type ParseResultMessage } from './parallel-parse.ts';
import { parseYamlBytes } from './parse-yaml.ts';

const port = parentPort;
if (port === null) throw new Error('parse-worker.ts runs only as a worker thread');

port.on('message', (job: ParseJobMessage) => {
  let reply: ParseResultMessage;
  try {
    reply = { seq: job.seq, encoded: encodeParsedFile(parseYamlBytes(job.file, job.bytes)) };
  } catch (err) {
    reply = { seq: job.seq, encoded: undefined, error: err instanceof Error ? err.message : String(err) };
  }
  port.postMessage(reply);
});
port.postMessage({ ready: true });
