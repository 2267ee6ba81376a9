-- E-mail: the transactional outbox and password-reset tokens.
-- A message row is written in the transaction that decides the change it
-- announces; a background worker sends it later and records the outcome.

CREATE TABLE outbox (
    id              INTEGER PRIMARY KEY,
    -- One event queues one message: `order:{id}:paid`, `user:{id}:welcome`, …
    mail_key        TEXT    NOT NULL UNIQUE,
    kind            TEXT    NOT NULL,
    to_address      TEXT    NOT NULL,
    -- Lower-cased address: per-address budgets and the admin filter.
    to_key          TEXT    NOT NULL,
    to_name         TEXT,
    -- The message's facts (JSON); NULL once a message carrying a secret is sent.
    payload         TEXT,
    sensitive       BOOLEAN NOT NULL DEFAULT FALSE,
    status          TEXT    NOT NULL CHECK (status IN ('pending', 'sent', 'dead')),
    attempts        INTEGER  NOT NULL DEFAULT 0,
    -- When a pending message is next due; a claim moves it past its lease.
    next_attempt_at INTEGER  NOT NULL,
    -- Set by the worker that claimed it; only that worker may record the outcome.
    lease_token     TEXT,
    last_error      TEXT,
    created_at      INTEGER  NOT NULL,
    sent_at         INTEGER,
    updated_at      INTEGER  NOT NULL
);
CREATE INDEX outbox_due ON outbox (next_attempt_at, id) WHERE status = 'pending';
CREATE INDEX outbox_recipient ON outbox (to_key, kind, created_at);
CREATE INDEX outbox_listing ON outbox (status, created_at);

-- Reset tokens are kept only as SHA-256 hashes; each works once, until it
-- expires or a newer request replaces it.
CREATE TABLE password_resets (
    token_hash TEXT   PRIMARY KEY,
    user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at    INTEGER
);
CREATE INDEX password_resets_user ON password_resets (user_id) WHERE used_at IS NULL;
