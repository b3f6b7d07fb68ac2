-- 005: people and tools that use the dashboard and the API.
--
-- users: one row per person; `password_hash` is a bcrypt hash (salted, slow), never the password.
-- sessions: one row per login; `id_hash` is SHA-256 of the cookie's secret, so a copy of the
-- database cannot be replayed as a cookie. Expired rows are deleted by the server's sweep.
-- api_tokens: tokens for tools (`deployx token create --api --role R`), stored hashed, each with
-- a role. The admin token in the data dir (`api-token`) is separate and always admin.
CREATE TABLE users (
  name          TEXT PRIMARY KEY,
  role          TEXT NOT NULL CHECK (role IN ('viewer', 'operator', 'admin')),
  password_hash TEXT NOT NULL,
  created_at    TEXT NOT NULL,
  updated_at    TEXT NOT NULL,
  disabled_at   TEXT
);

CREATE TABLE sessions (
  id_hash      TEXT PRIMARY KEY,
  user_name    TEXT NOT NULL REFERENCES users (name) ON DELETE CASCADE,
  created_at   TEXT NOT NULL,
  expires_at   TEXT NOT NULL
);
CREATE INDEX sessions_expiry ON sessions (expires_at);
CREATE INDEX sessions_user ON sessions (user_name);

CREATE TABLE api_tokens (
  id          TEXT PRIMARY KEY,
  name        TEXT NOT NULL,
  role        TEXT NOT NULL CHECK (role IN ('viewer', 'operator', 'admin')),
  token_hash  TEXT NOT NULL UNIQUE,
  created_at  TEXT NOT NULL,
  expires_at  TEXT,
  revoked_at  TEXT
);
