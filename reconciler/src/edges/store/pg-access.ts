// Users, sessions and API tokens (PostgreSQL). Secrets arrive here already hashed. See sqlite-access.ts.
import type { Role, SessionRecord } from './store.ts';
import { StoreError } from './store.ts';
import { iso } from './store-values.ts';
import {
  API_TOKEN_COLUMNS as TOKEN_COLUMNS,
  toApiToken as toToken,
  toUser,
  USER_COLUMNS,
  type ApiTokenRow as TokenRow,
  type UserRow,
} from './store-rows.ts';
import type { PgContext } from './pg-util.ts';
import type { AccessPart } from './store-parts.ts';

export function pgAccess({ db, now }: PgContext): AccessPart {
  return {
    async saveUser({ name, role, passwordHash, replace }) {
      const t = now();
      const row = await db.transaction((c) =>
        c.get<UserRow>(
          `INSERT INTO users (name, role, password_hash, created_at, updated_at) VALUES ($1, $2, $3, $4, $4)
           ${replace ? 'ON CONFLICT (name) DO UPDATE SET role = excluded.role, password_hash = excluded.password_hash, updated_at = excluded.updated_at, disabled_at = NULL' : ''}
           RETURNING ${USER_COLUMNS}`,
          [name, role, passwordHash, t],
        ),
      );
      if (!row) throw new StoreError('store.internal', 'insert returned no row');
      return toUser(row);
    },

    async getUser(name) {
      const row = await db.read((c) => c.get<UserRow>(`SELECT ${USER_COLUMNS} FROM users WHERE name = $1`, [name]));
      return row ? toUser(row) : undefined;
    },

    async listUsers() {
      const rows = await db.read((c) => c.all<UserRow>(`SELECT ${USER_COLUMNS} FROM users ORDER BY name`));
      return rows.map(toUser);
    },

    async deleteUser(name) {
      const { changes } = await db.transaction((c) => c.run('DELETE FROM users WHERE name = $1', [name]));
      if (changes === 0) throw new StoreError('store.not-found', `no user ${name}`);
    },

    async createSession({ idHash, user, createdAt, expiresAt }) {
      const values = [idHash, user, iso(createdAt, 'createdAt'), iso(expiresAt, 'expiresAt')];
      await db.transaction((c) => c.run('INSERT INTO sessions (id_hash, user_name, created_at, expires_at) VALUES ($1, $2, $3, $4)', values));
    },

    async getSession(idHash, at): Promise<SessionRecord | undefined> {
      const row = await db.read((c) =>
        c.get<{ id_hash: string; name: string; role: Role; created_at: string; expires_at: string }>(
          `SELECT s.id_hash, u.name, u.role, s.created_at, s.expires_at
           FROM sessions s JOIN users u ON u.name = s.user_name
           WHERE s.id_hash = $1 AND s.expires_at > $2 AND u.disabled_at IS NULL`,
          [idHash, iso(at, 'now')],
        ),
      );
      return row
        ? { idHash: row.id_hash, user: { name: row.name, role: row.role }, createdAt: row.created_at, expiresAt: row.expires_at }
        : undefined;
    },

    async deleteSession(idHash) {
      await db.transaction((c) => c.run('DELETE FROM sessions WHERE id_hash = $1', [idHash]));
    },

    async deleteExpiredSessions(at) {
      const t = iso(at, 'now');
      return (await db.transaction((c) => c.run('DELETE FROM sessions WHERE expires_at <= $1', [t]))).changes;
    },

    async createApiToken(input) {
      const values = [input.id, input.name, input.role, input.tokenHash, iso(input.createdAt, 'createdAt'), input.expiresAt === undefined ? null : iso(input.expiresAt, 'expiresAt')];
      const row = await db.transaction((c) =>
        c.get<TokenRow>(
          `INSERT INTO api_tokens (id, name, role, token_hash, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6) RETURNING ${TOKEN_COLUMNS}`,
          values,
        ),
      );
      if (!row) throw new StoreError('store.internal', 'insert returned no row');
      return toToken(row);
    },

    async findApiToken(tokenHash, at) {
      const row = await db.read((c) =>
        c.get<TokenRow>(
          `SELECT ${TOKEN_COLUMNS} FROM api_tokens
           WHERE token_hash = $1 AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > $2)`,
          [tokenHash, iso(at, 'now')],
        ),
      );
      return row ? toToken(row) : undefined;
    },

    async listApiTokens() {
      const rows = await db.read((c) => c.all<TokenRow>(`SELECT ${TOKEN_COLUMNS} FROM api_tokens ORDER BY created_at DESC, id`));
      return rows.map(toToken);
    },

    async revokeApiToken(id, at) {
      const revokedAt = at === undefined ? now() : iso(at, 'now');
      const row = await db.transaction((c) =>
        c.get<TokenRow>(`UPDATE api_tokens SET revoked_at = coalesce(revoked_at, $1) WHERE id = $2 RETURNING ${TOKEN_COLUMNS}`, [revokedAt, id]),
      );
      if (!row) throw new StoreError('store.not-found', `no API token ${id}`);
      return toToken(row);
    },
  };
}
