-- The catalog's change feed: every write to a product or a category (admin
-- edits, orders taking stock, cancellations putting it back, imports) adds a
-- row here in the same transaction, by trigger, so no write path can forget
-- it. Each server's in-memory catalog (crates/service/src/read_model.rs)
-- applies the rows in `seq` order and reloads what they name; the rows say
-- only *what* changed, the tables stay the truth. Old rows are pruned.
CREATE TABLE catalog_changes (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    product_id  INTEGER,
    category_id INTEGER,
    at          INTEGER NOT NULL
);
CREATE INDEX catalog_changes_at ON catalog_changes (at);

CREATE TRIGGER products_changed_after_insert AFTER INSERT ON products BEGIN
    INSERT INTO catalog_changes (product_id, at) VALUES (new.id, CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER));
END;
CREATE TRIGGER products_changed_after_update AFTER UPDATE ON products BEGIN
    INSERT INTO catalog_changes (product_id, at) VALUES (new.id, CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER));
END;
CREATE TRIGGER products_changed_after_delete AFTER DELETE ON products BEGIN
    INSERT INTO catalog_changes (product_id, at) VALUES (old.id, CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER));
END;
CREATE TRIGGER categories_changed_after_insert AFTER INSERT ON categories BEGIN
    INSERT INTO catalog_changes (category_id, at) VALUES (new.id, CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER));
END;
CREATE TRIGGER categories_changed_after_update AFTER UPDATE ON categories BEGIN
    INSERT INTO catalog_changes (category_id, at) VALUES (new.id, CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER));
END;
CREATE TRIGGER categories_changed_after_delete AFTER DELETE ON categories BEGIN
    INSERT INTO catalog_changes (category_id, at) VALUES (old.id, CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER));
END;

-- Search is answered from memory now (one implementation for both backends):
-- the FTS5 index and its triggers are no longer read.
DROP TRIGGER products_fts_after_insert;
DROP TRIGGER products_fts_after_delete;
DROP TRIGGER products_fts_after_update;
DROP TABLE products_fts;
