// Reading one of the agent's JSON state files: undefined when it does not exist yet, and
// `state.corrupt` (naming the file, never quoting it: it may hold a key) when it is not JSON.
import { readFile } from 'node:fs/promises';
import { AgentError } from '../errors.ts';

export const STATE_REMEDY = "remove the agent's state dir and enroll again with a new token";

/** A state file's text; undefined when it does not exist yet (any other read error is thrown). */
export async function readStateText(file: string): Promise<string | undefined> {
  try {
    return await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

export async function readStateJson(file: string): Promise<unknown> {
  const text = await readStateText(file);
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new AgentError('state.corrupt', `${file} is not valid JSON; ${STATE_REMEDY}`);
  }
}
