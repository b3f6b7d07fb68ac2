// Use-cases on people: create (or reset) a user. Called by `deployx user`, the demo and tests.
import { ROLES, type Role } from '../../../schemas/protocol.ts';
import { hashPassword, passwordProblem } from '../edges/http/access.ts';
import type { Store, UserRecord } from '../edges/store/store.ts';

export class UserInputError extends Error {
  readonly code = 'user.invalid';
}

const NAME = /^[a-z0-9][a-z0-9._@-]{0,63}$/i;

export interface CreateUserInput {
  name: string;
  role: string;
  password: string;
  /** Replace the role and password of an existing user instead of refusing (`store.conflict`). */
  replace?: boolean;
}

/** Validates and stores a user with a bcrypt hash of the password. */
export async function createUser(store: Pick<Store, 'saveUser'>, input: CreateUserInput): Promise<UserRecord> {
  if (!NAME.test(input.name)) {
    throw new UserInputError(`user name "${input.name}": use letters, digits, . _ @ - (at most 64)`);
  }
  if (!ROLES.includes(input.role as Role)) {
    throw new UserInputError(`role "${input.role}": use ${ROLES.join(', ')}`);
  }
  const problem = passwordProblem(input.password);
  if (problem) throw new UserInputError(problem);
  return store.saveUser({
    name: input.name,
    role: input.role as Role,
    passwordHash: await hashPassword(input.password),
    ...(input.replace ? { replace: true } : {}),
  });
}
