// Enrollment tokens: stored hashed; consumed atomically.
import type { ConsumeResult, EnrollmentTokenInput } from './store.ts';
import { StoreError } from './store.ts';
import { iso, type SqliteContext } from './sqlite-util.ts';
import { ENROLLMENT_TOKEN_COLUMNS as COLUMNS, toEnrollmentToken as toToken, type EnrollmentTokenRow as TokenRow } from './store-rows.ts';
import { ENROLLMENT_TOKEN_INSERT, enrollmentTokenValues, refusalOf } from './store-rules.ts';
import type { TokensPart } from './store-parts.ts';

export function sqliteTokens({ db, now }: SqliteContext): TokensPart {
  return {
    async createEnrollmentToken(input: EnrollmentTokenInput) {
      const params = enrollmentTokenValues(input, now());
      const row = await db.transaction((c) =>
        c.get<TokenRow>(
          `INSERT INTO enrollment_tokens (${ENROLLMENT_TOKEN_INSERT})
           VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING ${COLUMNS}`,
          params,
        ),
      );
      if (!row) throw new StoreError('store.internal', 'insert returned no row');
      return toToken(row);
    },

    async listEnrollmentTokens() {
      const rows = await db.read((c) =>
        c.all<TokenRow>(`SELECT ${COLUMNS} FROM enrollment_tokens ORDER BY created_at DESC, seq DESC`),
      );
      return rows.map(toToken);
    },

    async revokeEnrollmentToken(id, at) {
      const revokedAt = at === undefined ? now() : iso(at, 'now');
      const row = await db.transaction((c) =>
        c.get<TokenRow>(
          `UPDATE enrollment_tokens SET revoked_at = coalesce(revoked_at, ?) WHERE id = ?
           RETURNING ${COLUMNS}`,
          [revokedAt, id],
        ),
      );
      if (!row) throw new StoreError('store.not-found', `no enrollment token ${id}`);
      return toToken(row);
    },

    async consumeEnrollmentToken(tokenHash, at): Promise<ConsumeResult> {
      const t = iso(at, 'now');
      return db.transaction(async (c) => {
        // One conditional UPDATE: atomic even against another process on the same file.
        const used = await c.get<TokenRow>(
          `UPDATE enrollment_tokens SET uses = uses + 1
           WHERE token_hash = ? AND revoked_at IS NULL
             AND (expires_at IS NULL OR expires_at > ?)
             AND (max_uses IS NULL OR uses < max_uses)
           RETURNING ${COLUMNS}`,
          [tokenHash, t],
        );
        if (used) return { ok: true, token: toToken(used) };
        const row = await c.get<TokenRow>(
          `SELECT ${COLUMNS} FROM enrollment_tokens WHERE token_hash = ?`,
          [tokenHash],
        );
        return { ok: false, reason: refusalOf(row, t) };
      });
    },
  };
}
