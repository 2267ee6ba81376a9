-- Accounts, sign-in sessions and the audit log.
-- Instants are INTEGER milliseconds since the Unix epoch, as on PostgreSQL.

CREATE TABLE users (
    id               INTEGER PRIMARY KEY,
    username         TEXT    NOT NULL,
    username_key     TEXT    NOT NULL UNIQUE,
    full_name        TEXT    NOT NULL,
    email            TEXT    NOT NULL,
    email_key        TEXT    NOT NULL UNIQUE,
    password_hash    TEXT    NOT NULL,
    role             TEXT    NOT NULL CHECK (role IN ('user', 'admin')),
    phone            TEXT,
    shipping_address TEXT,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL,
    version          INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX users_role ON users (role);
CREATE INDEX users_created_at ON users (created_at);

-- A session is one refresh-token family; access tokens name it, so revoking
-- it ends both.
CREATE TABLE sessions (
    id         TEXT    PRIMARY KEY,
    user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    revoked_at INTEGER
);
CREATE INDEX sessions_user_id ON sessions (user_id);

-- Refresh tokens are kept only as SHA-256 hashes. Spent ones stay, so that a
-- re-use is recognised and revokes the family.
CREATE TABLE refresh_tokens (
    hash       TEXT    PRIMARY KEY,
    session_id TEXT    NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    issued_at  INTEGER NOT NULL,
    spent_at   INTEGER
);
CREATE INDEX refresh_tokens_session_id ON refresh_tokens (session_id);

-- No foreign key on actor_id: the log outlives the accounts it mentions.
CREATE TABLE audit_log (
    id          INTEGER PRIMARY KEY,
    at          INTEGER NOT NULL,
    actor_id    INTEGER,
    action      TEXT    NOT NULL,
    target_type TEXT,
    target_id   TEXT,
    ip          TEXT,
    details     TEXT    NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_log_at ON audit_log (at);
CREATE INDEX audit_log_action_at ON audit_log (action, at);
CREATE INDEX audit_log_target ON audit_log (target_type, target_id);
