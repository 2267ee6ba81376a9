-- Categories, products, and full-text search over products (FTS5).

CREATE TABLE categories (
    id          INTEGER PRIMARY KEY,
    name        TEXT    NOT NULL,
    slug        TEXT    NOT NULL UNIQUE,
    description TEXT,
    parent_id   INTEGER REFERENCES categories (id) ON DELETE RESTRICT,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    version     INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX categories_parent_id ON categories (parent_id);

-- Money in minor units; sell_price_minor is derived (price less discount) and
-- kept so it can be filtered and sorted on an index. Deleted products stay
-- (deleted_at set) so orders and carts keep a valid reference.
CREATE TABLE products (
    id               INTEGER PRIMARY KEY,
    name             TEXT    NOT NULL,
    sort_name        TEXT    NOT NULL,
    description      TEXT    NOT NULL DEFAULT '',
    price_minor      INTEGER NOT NULL CHECK (price_minor >= 0),
    discount_bp      INTEGER NOT NULL DEFAULT 0 CHECK (discount_bp BETWEEN 0 AND 10000),
    sell_price_minor INTEGER NOT NULL CHECK (sell_price_minor >= 0),
    category_id      INTEGER REFERENCES categories (id) ON DELETE SET NULL,
    images           TEXT    NOT NULL DEFAULT '[]',
    stock            INTEGER NOT NULL DEFAULT 0 CHECK (stock >= 0),
    available        INTEGER NOT NULL DEFAULT 1,
    keywords         TEXT    NOT NULL DEFAULT '[]',
    sku              TEXT,
    created_by       INTEGER REFERENCES users (id) ON DELETE SET NULL,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL,
    version          INTEGER NOT NULL DEFAULT 0,
    deleted_at       INTEGER
);
CREATE UNIQUE INDEX products_sku ON products (sku) WHERE sku IS NOT NULL AND deleted_at IS NULL;
-- One index per sort and per selective filter, over live products only.
CREATE INDEX products_live_created ON products (created_at, id) WHERE deleted_at IS NULL;
CREATE INDEX products_live_sell_price ON products (sell_price_minor, id) WHERE deleted_at IS NULL;
CREATE INDEX products_live_sort_name ON products (sort_name, id) WHERE deleted_at IS NULL;
CREATE INDEX products_live_category ON products (category_id, sell_price_minor) WHERE deleted_at IS NULL;
CREATE INDEX products_live_discount ON products (discount_bp) WHERE deleted_at IS NULL;

-- Search index over live products: name (weighted most), keywords, description.
-- unicode61 without diacritic folding splits on what is not a letter or digit,
-- as PostgreSQL's index and the query parser do, so a query means the same on both.
CREATE VIRTUAL TABLE products_fts USING fts5(
    name, keywords, description,
    content = 'products', content_rowid = 'id',
    tokenize = 'unicode61 remove_diacritics 0'
);

CREATE TRIGGER products_fts_after_insert AFTER INSERT ON products WHEN new.deleted_at IS NULL BEGIN
    INSERT INTO products_fts (rowid, name, keywords, description) VALUES (new.id, new.name, new.keywords, new.description);
END;

CREATE TRIGGER products_fts_after_delete AFTER DELETE ON products WHEN old.deleted_at IS NULL BEGIN
    INSERT INTO products_fts (products_fts, rowid, name, keywords, description) VALUES ('delete', old.id, old.name, old.keywords, old.description);
END;

CREATE TRIGGER products_fts_after_update AFTER UPDATE OF name, keywords, description, deleted_at ON products BEGIN
    INSERT INTO products_fts (products_fts, rowid, name, keywords, description)
        SELECT 'delete', old.id, old.name, old.keywords, old.description WHERE old.deleted_at IS NULL;
    INSERT INTO products_fts (rowid, name, keywords, description)
        SELECT new.id, new.name, new.keywords, new.description WHERE new.deleted_at IS NULL;
END;
