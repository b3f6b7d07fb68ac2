// Users, sessions and API tokens (migration 005). Secrets arrive here already hashed.
import type { Role, SessionRecord } from './store.ts';
import { StoreError } from './store.ts';
import { iso, type SqliteContext } from './sqlite-util.ts';
import {
  API_TOKEN_COLUMNS as TOKEN_COLUMNS,
  toApiToken as toToken,
  toUser,
  USER_COLUMNS,
  type ApiTokenRow as TokenRow,
  type UserRow,
} from './store-rows.ts';
import type { AccessPart } from './store-parts.ts';

export function sqliteAccess({ db, now }: SqliteContext): AccessPart {
  return {
    async saveUser({ name, role, passwordHash, replace }) {
      const t = now();
      const row = await db.transaction((c) =>
        replace
          ? c.get<UserRow>(
              `INSERT INTO users (name, role, password_hash, created_at, updated_at) VALUES (?, ?, ?, ?, ?)
               ON CONFLICT (name) DO UPDATE SET role = excluded.role, password_hash = excluded.password_hash,
                 updated_at = excluded.updated_at, disabled_at = NULL
               RETURNING ${USER_COLUMNS}`,
              [name, role, passwordHash, t, t],
            )
          : c.get<UserRow>(
              `INSERT INTO users (name, role, password_hash, created_at, updated_at) VALUES (?, ?, ?, ?, ?)
               RETURNING ${USER_COLUMNS}`,
              [name, role, passwordHash, t, t],
            ),
      );
      if (!row) throw new StoreError('store.internal', 'insert returned no row');
      return toUser(row);
    },

    async getUser(name) {
      const row = await db.read((c) => c.get<UserRow>(`SELECT ${USER_COLUMNS} FROM users WHERE name = ?`, [name]));
      return row ? toUser(row) : undefined;
    },

    async listUsers() {
      const rows = await db.read((c) => c.all<UserRow>(`SELECT ${USER_COLUMNS} FROM users ORDER BY name`));
      return rows.map(toUser);
    },

    async deleteUser(name) {
      const changes = await db.transaction(async (c) => (await c.run('DELETE FROM users WHERE name = ?', [name])).changes);
      if (changes === 0) throw new StoreError('store.not-found', `no user ${name}`);
    },

    async createSession({ idHash, user, createdAt, expiresAt }) {
      await db.transaction((c) =>
        c.run('INSERT INTO sessions (id_hash, user_name, created_at, expires_at) VALUES (?, ?, ?, ?)', [
          idHash,
          user,
          iso(createdAt, 'createdAt'),
          iso(expiresAt, 'expiresAt'),
        ]),
      );
    },

    async getSession(idHash, at): Promise<SessionRecord | undefined> {
      const row = await db.read((c) =>
        c.get<{ id_hash: string; name: string; role: Role; created_at: string; expires_at: string }>(
          `SELECT s.id_hash, u.name, u.role, s.created_at, s.expires_at
           FROM sessions s JOIN users u ON u.name = s.user_name
           WHERE s.id_hash = ? AND s.expires_at > ? AND u.disabled_at IS NULL`,
          [idHash, iso(at, 'now')],
        ),
      );
      return row
        ? { idHash: row.id_hash, user: { name: row.name, role: row.role }, createdAt: row.created_at, expiresAt: row.expires_at }
        : undefined;
    },

    async deleteSession(idHash) {
      await db.transaction((c) => c.run('DELETE FROM sessions WHERE id_hash = ?', [idHash]));
    },

    async deleteExpiredSessions(at) {
      return db.transaction(async (c) => (await c.run('DELETE FROM sessions WHERE expires_at <= ?', [iso(at, 'now')])).changes);
    },

    async createApiToken(input) {
      const row = await db.transaction((c) =>
        c.get<TokenRow>(
          `INSERT INTO api_tokens (id, name, role, token_hash, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)
           RETURNING ${TOKEN_COLUMNS}`,
          [input.id, input.name, input.role, input.tokenHash, iso(input.createdAt, 'createdAt'), input.expiresAt === undefined ? null : iso(input.expiresAt, 'expiresAt')],
        ),
      );
      if (!row) throw new StoreError('store.internal', 'insert returned no row');
      return toToken(row);
    },

    async findApiToken(tokenHash, at) {
      const row = await db.read((c) =>
        c.get<TokenRow>(
          `SELECT ${TOKEN_COLUMNS} FROM api_tokens
           WHERE token_hash = ? AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > ?)`,
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
        c.get<TokenRow>(
          `UPDATE api_tokens SET revoked_at = coalesce(revoked_at, ?) WHERE id = ? RETURNING ${TOKEN_COLUMNS}`,
          [revokedAt, id],
        ),
      );
      if (!row) throw new StoreError('store.not-found', `no API token ${id}`);
      return toToken(row);
    },
  };
}
