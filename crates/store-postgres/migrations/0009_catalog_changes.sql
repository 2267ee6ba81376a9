-- The catalog's change feed: every write to a product or a category (admin
-- edits, orders taking stock, cancellations putting it back, imports) adds a
-- row here in the same transaction, by trigger, so no write path can forget
-- it. Each server's in-memory catalog (crates/service/src/read_model.rs)
-- applies the rows in `seq` order and reloads what they name; the rows say
-- only *what* changed, the tables stay the truth. The NOTIFY (sent on commit)
-- only wakes the other servers early: a missed one delays, never loses, a
-- change. Old rows are pruned.
CREATE TABLE catalog_changes (
    seq         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    product_id  BIGINT,
    category_id BIGINT,
    at          BIGINT NOT NULL
);
CREATE INDEX catalog_changes_at ON catalog_changes (at);

CREATE FUNCTION record_catalog_change() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    changed BIGINT := CASE WHEN TG_OP = 'DELETE' THEN OLD.id ELSE NEW.id END;
BEGIN
    IF TG_TABLE_NAME = 'products' THEN
        INSERT INTO catalog_changes (product_id, at)
            VALUES (changed, (extract(epoch FROM clock_timestamp()) * 1000)::bigint);
    ELSE
        INSERT INTO catalog_changes (category_id, at)
            VALUES (changed, (extract(epoch FROM clock_timestamp()) * 1000)::bigint);
    END IF;
    PERFORM pg_notify('emporium_catalog', '');
    RETURN NULL;
END
$$;

CREATE TRIGGER products_changed AFTER INSERT OR UPDATE OR DELETE ON products
    FOR EACH ROW EXECUTE FUNCTION record_catalog_change();
CREATE TRIGGER categories_changed AFTER INSERT OR UPDATE OR DELETE ON categories
    FOR EACH ROW EXECUTE FUNCTION record_catalog_change();

-- Search is answered from memory now (one implementation for both backends):
-- the tsvector, its trigger and its index are no longer read.
DROP TRIGGER products_search_vector ON products;
DROP FUNCTION products_search_vector();
DROP INDEX products_search;
ALTER TABLE products DROP COLUMN search_vector;
