// Reading one of the agent's JSON state files: undefined when it does not exist yet, and
// `state.corrupt` (naming the file, never quoting it: it may hold a key) when it is not JSON.
import { readFile } from 'node:fs/promises';
import { AgentError } from '../errors.ts';

export const STATE_REMEDY = "remove the agent's state dir and enroll again with a new token";

export async function readStateJson(file: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new AgentError('state.corrupt', `${file} is not valid JSON; ${STATE_REMEDY}`);
  }
}
