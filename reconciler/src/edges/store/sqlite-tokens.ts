// Enrollment tokens: stored hashed; consumed atomically.
import type { ConsumeResult, EnrollmentToken, EnrollmentTokenInput, Store } from './store.ts';
import { StoreError } from './store.ts';
import { iso, isoOrNull, setIf, type SqliteContext } from './sqlite-util.ts';

type TokensPart = Pick<
  Store,
  'createEnrollmentToken' | 'listEnrollmentTokens' | 'revokeEnrollmentToken' | 'consumeEnrollmentToken'
>;

interface TokenRow {
  id: string;
  name: string;
  token_hash: string;
  created_at: string;
  expires_at: string | null;
  max_uses: number | null;
  uses: number;
  revoked_at: string | null;
  labels: string;
  bound_device: string | null;
}

const COLUMNS =
  'id, name, token_hash, created_at, expires_at, max_uses, uses, revoked_at, labels, bound_device';

export function sqliteTokens({ db, now }: SqliteContext): TokensPart {
  return {
    async createEnrollmentToken(input: EnrollmentTokenInput) {
      if (input.maxUses !== undefined && (!Number.isInteger(input.maxUses) || input.maxUses < 0)) {
        throw new StoreError('store.invalid', `maxUses must be a non-negative integer`);
      }
      const params = [
        input.id,
        input.name,
        input.tokenHash,
        input.createdAt === undefined ? now() : iso(input.createdAt, 'createdAt'),
        isoOrNull(input.expiresAt, 'expiresAt'),
        input.maxUses ?? null,
        JSON.stringify(input.labels ?? {}),
        input.boundDevice ?? null,
      ];
      const row = await db.transaction((c) =>
        c.get<TokenRow>(
          `INSERT INTO enrollment_tokens
             (id, name, token_hash, created_at, expires_at, max_uses, labels, bound_device)
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
        if (!row) return { ok: false, reason: 'unknown' };
        if (row.revoked_at !== null) return { ok: false, reason: 'revoked' };
        if (row.expires_at !== null && row.expires_at <= t) return { ok: false, reason: 'expired' };
        return { ok: false, reason: 'exhausted' };
      });
    },
  };
}

function toToken(row: TokenRow): EnrollmentToken {
  const token: EnrollmentToken = {
    id: row.id,
    name: row.name,
    tokenHash: row.token_hash,
    createdAt: row.created_at,
    uses: row.uses,
    labels: JSON.parse(row.labels) as EnrollmentToken['labels'],
  };
  setIf(token, 'expiresAt', row.expires_at);
  setIf(token, 'maxUses', row.max_uses);
  setIf(token, 'revokedAt', row.revoked_at);
  setIf(token, 'boundDevice', row.bound_device);
  return token;
}
