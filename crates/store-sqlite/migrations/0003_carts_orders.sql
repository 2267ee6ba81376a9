-- Carts (a user's, or a guest's found by the hash of its key), orders with
-- price-snapshotted lines, their status history, and idempotency claims.

CREATE TABLE carts (
    id         INTEGER PRIMARY KEY,
    user_id    INTEGER UNIQUE REFERENCES users (id) ON DELETE CASCADE,
    key_hash   TEXT    UNIQUE,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    CHECK ((user_id IS NULL) <> (key_hash IS NULL))
);
CREATE INDEX carts_guest_updated_at ON carts (updated_at) WHERE user_id IS NULL;

CREATE TABLE cart_items (
    cart_id    INTEGER NOT NULL REFERENCES carts (id) ON DELETE CASCADE,
    product_id INTEGER NOT NULL REFERENCES products (id),
    quantity   INTEGER NOT NULL CHECK (quantity > 0),
    added_at   INTEGER NOT NULL,
    PRIMARY KEY (cart_id, product_id)
);

CREATE TABLE orders (
    id                   INTEGER PRIMARY KEY,
    user_id              INTEGER REFERENCES users (id) ON DELETE SET NULL,
    email                TEXT    NOT NULL,
    email_key            TEXT    NOT NULL,
    status               TEXT    NOT NULL CHECK (status IN ('pending', 'paid', 'processing', 'shipped', 'delivered', 'cancelled', 'refunded')),
    payment_status       TEXT    NOT NULL CHECK (payment_status IN ('unpaid', 'paid', 'refunded')),
    currency             TEXT    NOT NULL,
    subtotal_minor       INTEGER NOT NULL,
    discount_total_minor INTEGER NOT NULL,
    total_minor          INTEGER NOT NULL,
    shipping_address     TEXT    NOT NULL,
    notes                TEXT,
    created_at           INTEGER NOT NULL,
    updated_at           INTEGER NOT NULL,
    version              INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX orders_user_created_at ON orders (user_id, created_at);
CREATE INDEX orders_status_created_at ON orders (status, created_at);
CREATE INDEX orders_created_at ON orders (created_at);

CREATE TABLE order_items (
    id                    INTEGER PRIMARY KEY,
    order_id              INTEGER NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    product_id            INTEGER NOT NULL REFERENCES products (id),
    name                  TEXT    NOT NULL,
    quantity              INTEGER NOT NULL CHECK (quantity > 0),
    unit_price_minor      INTEGER NOT NULL,
    discount_bp           INTEGER NOT NULL,
    unit_sell_price_minor INTEGER NOT NULL,
    line_total_minor      INTEGER NOT NULL
);
CREATE INDEX order_items_order_id ON order_items (order_id);
CREATE INDEX order_items_product_id ON order_items (product_id);

CREATE TABLE order_events (
    id          INTEGER PRIMARY KEY,
    order_id    INTEGER NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    from_status TEXT,
    to_status   TEXT    NOT NULL,
    actor_id    INTEGER,
    actor       TEXT    NOT NULL,
    reason      TEXT,
    at          INTEGER NOT NULL
);
CREATE INDEX order_events_order_id ON order_events (order_id, id);

CREATE TABLE idempotency_keys (
    scope        TEXT    NOT NULL,
    key          TEXT    NOT NULL,
    request_hash TEXT    NOT NULL,
    order_id     INTEGER NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    created_at   INTEGER NOT NULL,
    PRIMARY KEY (scope, key)
);
CREATE INDEX idempotency_keys_created_at ON idempotency_keys (created_at);
