-- Payments: one row per attempt (written before the provider is called),
-- the provider events already applied (so a redelivery is a no-op), refunds,
-- and the sessions of Emporium's own test payment page. An order remembers
-- how it is to be paid, chosen when its checkout starts.

ALTER TABLE orders ADD COLUMN payment_method TEXT CHECK (payment_method IN ('manual', 'stripe', 'paypal', 'test'));

CREATE TABLE payments (
    id                INTEGER PRIMARY KEY,
    order_id          INTEGER NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    provider          TEXT    NOT NULL,
    -- The provider's session id; NULL until the provider has answered.
    reference         TEXT,
    status            TEXT    NOT NULL CHECK (status IN ('pending', 'captured', 'failed', 'canceled', 'expired')),
    amount_minor      INTEGER NOT NULL,
    currency          TEXT    NOT NULL,
    checkout_url      TEXT,
    expires_at        INTEGER,
    captured_minor    INTEGER,
    capture_reference TEXT,
    refunded_minor    INTEGER NOT NULL DEFAULT 0 CHECK (refunded_minor >= 0),
    needs_review      BOOLEAN NOT NULL DEFAULT FALSE,
    review_reason     TEXT,
    failure_reason    TEXT,
    created_at        INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL,
    version           INTEGER NOT NULL DEFAULT 0,
    CHECK (captured_minor IS NULL OR refunded_minor <= captured_minor)
);
CREATE UNIQUE INDEX payments_provider_reference ON payments (provider, reference);
-- One live attempt per order.
CREATE UNIQUE INDEX payments_live_per_order ON payments (order_id) WHERE status = 'pending';
CREATE INDEX payments_order_id ON payments (order_id, id);
CREATE INDEX payments_pending_created_at ON payments (created_at) WHERE status = 'pending';

CREATE TABLE payment_events (
    provider    TEXT    NOT NULL,
    event_id    TEXT    NOT NULL,
    payment_id  INTEGER REFERENCES payments (id) ON DELETE CASCADE,
    kind        TEXT    NOT NULL,
    received_at INTEGER NOT NULL,
    PRIMARY KEY (provider, event_id)
);

CREATE TABLE refunds (
    id           INTEGER PRIMARY KEY,
    payment_id   INTEGER NOT NULL REFERENCES payments (id) ON DELETE CASCADE,
    amount_minor INTEGER NOT NULL CHECK (amount_minor > 0),
    status       TEXT    NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed')),
    reference    TEXT,
    reason       TEXT    NOT NULL,
    actor_id     INTEGER,
    restock      BOOLEAN NOT NULL DEFAULT FALSE,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL
);
CREATE INDEX refunds_payment_id ON refunds (payment_id, id);
CREATE INDEX refunds_pending ON refunds (created_at) WHERE status = 'pending';

CREATE TABLE test_payment_sessions (
    reference      TEXT    PRIMARY KEY,
    payment_id     TEXT    NOT NULL UNIQUE,
    order_id       TEXT    NOT NULL,
    amount_minor   INTEGER NOT NULL,
    currency       TEXT    NOT NULL,
    status         TEXT    NOT NULL CHECK (status IN ('open', 'paid', 'canceled', 'expired')),
    refunded_minor INTEGER NOT NULL DEFAULT 0,
    success_url    TEXT    NOT NULL,
    cancel_url     TEXT    NOT NULL,
    expires_at     INTEGER NOT NULL,
    created_at     INTEGER NOT NULL,
    CHECK (refunded_minor <= amount_minor)
);
