//! Writing a cart line, on PostgreSQL: each edit is one statement that reads
//! the product, writes the line only if its guard (`CartProduct::problem`'s
//! rule and the bounds) holds for the line as it is then, and returns the
//! product, on the cart pool (commits do not wait for the WAL flush).
//!
//! A relative change is `quantity = quantity + $n` in an UPDATE or an
//! upsert's DO UPDATE: PostgreSQL applies it to the row's latest version
//! (waiting for a concurrent writer), so no change is lost. Only the count of
//! lines cannot be checked that way: a statement counts the rows of its
//! snapshot, which misses a line another transaction adds meanwhile. So an
//! `Add` first locks the cart's row, and counts in a statement begun after
//! the lock is held (each statement of a READ COMMITTED transaction takes a
//! fresh snapshot); every statement that can make a line takes that lock.
//! Growing a line that is already there makes none, so an `Add` first tries
//! that alone, in one statement; only when no line grew (there is none, or
//! its guard refused) does it take the lock and upsert, which decides then.

use emporium_domain::ids::{CartId, ProductId};
use emporium_domain::orders::{MAX_ORDER_LINES, MAX_QUANTITY};
use emporium_domain::time::Timestamp;
use emporium_store::rows::PutCartLineRow;
use emporium_store::{CartLine, LineEdit, LineEditOutcome, StoreResult};

use crate::PostgresStore;

/// `$1` cart, `$2` product, `$3` how many to add, `$4` now, `$5` the most per
/// line, `$6` the most lines per cart. A new line is made only while the cart
/// has room for it; an existing one grows only while the product has the
/// stock for its new quantity.
const ADD_TO_CART_LINE: &str = "\
WITH product AS (
    SELECT id, name, price_minor, discount_bp, images, stock, available, (deleted_at IS NOT NULL) AS deleted
    FROM products WHERE id = $2
), put AS (
    INSERT INTO cart_items (cart_id, product_id, quantity, added_at)
    SELECT $1, id, $3, $4 FROM product
    WHERE NOT deleted AND available AND stock >= $3 AND $3 <= $5
        AND (EXISTS (SELECT 1 FROM cart_items WHERE cart_id = $1 AND product_id = $2)
            OR (SELECT count(*) FROM cart_items WHERE cart_id = $1) < $6)
    ON CONFLICT (cart_id, product_id) DO UPDATE SET quantity = cart_items.quantity + excluded.quantity
    WHERE cart_items.quantity + excluded.quantity <= $5
        AND cart_items.quantity + excluded.quantity <= (SELECT stock FROM product)
    RETURNING quantity
)
SELECT id AS product_id, COALESCE((SELECT quantity FROM put), 0) AS quantity, name, price_minor, discount_bp,
    images, stock, available, deleted, EXISTS (SELECT 1 FROM put) AS put
FROM product";

/// `$3` how many to add, `$4` the most per line: an existing line grows
/// while the product is live, available and has the stock for its new
/// quantity. Never makes a line, so it needs no lock on the cart.
const GROW_CART_LINE: &str = "\
WITH product AS (
    SELECT id, name, price_minor, discount_bp, images, stock, available, (deleted_at IS NOT NULL) AS deleted
    FROM products WHERE id = $2
), put AS (
    UPDATE cart_items SET quantity = quantity + $3
    WHERE cart_id = $1 AND product_id = $2 AND quantity + $3 <= $4
        AND quantity + $3 <= (SELECT stock FROM product WHERE NOT deleted AND available)
    RETURNING quantity
)
SELECT id AS product_id, COALESCE((SELECT quantity FROM put), 0) AS quantity, name, price_minor, discount_bp,
    images, stock, available, deleted, EXISTS (SELECT 1 FROM put) AS put
FROM product";

/// `$3` the change, `$4` the most per line; only to a quantity above 0
/// (taking it lower removes the line instead). A decrease is always allowed:
/// it asks for less of what may no longer be in stock, or bought at all.
const CHANGE_CART_LINE_BY: &str = "\
WITH product AS (
    SELECT id, name, price_minor, discount_bp, images, stock, available, (deleted_at IS NOT NULL) AS deleted
    FROM products WHERE id = $2
), put AS (
    UPDATE cart_items SET quantity = quantity + $3
    WHERE cart_id = $1 AND product_id = $2 AND quantity + $3 > 0 AND quantity + $3 <= $4
        AND ($3 < 0 OR quantity + $3 <= (SELECT stock FROM product WHERE NOT deleted AND available))
    RETURNING quantity
)
SELECT id AS product_id, COALESCE((SELECT quantity FROM put), 0) AS quantity, name, price_minor, discount_bp,
    images, stock, available, deleted, EXISTS (SELECT 1 FROM put) AS put
FROM product";

/// `$3` the new quantity (> 0), `$4` the most per line.
const SET_CART_LINE_TO: &str = "\
WITH product AS (
    SELECT id, name, price_minor, discount_bp, images, stock, available, (deleted_at IS NOT NULL) AS deleted
    FROM products WHERE id = $2
), put AS (
    UPDATE cart_items SET quantity = $3
    WHERE cart_id = $1 AND product_id = $2 AND $3 <= $4
        AND $3 <= (SELECT stock FROM product WHERE NOT deleted AND available)
    RETURNING quantity
)
SELECT id AS product_id, COALESCE((SELECT quantity FROM put), 0) AS quantity, name, price_minor, discount_bp,
    images, stock, available, deleted, EXISTS (SELECT 1 FROM put) AS put
FROM product";

/// Taken by every transaction that can add a line to the cart, until its commit.
pub(crate) const LOCK_CART: &str = "SELECT id FROM carts WHERE id = $1 FOR UPDATE";

/// The edit, written if its guard holds now; `None` if nothing was written.
pub(crate) async fn write_line(
    store: &PostgresStore,
    cart: CartId,
    product: ProductId,
    edit: LineEdit,
    now: Timestamp,
) -> StoreResult<Option<LineEditOutcome>> {
    let row: Option<PutCartLineRow> = match edit {
        LineEdit::Add(n) => {
            let grown: Option<PutCartLineRow> = sqlx::query_as(GROW_CART_LINE)
                .bind(cart.get())
                .bind(product.get())
                .bind(n)
                .bind(MAX_QUANTITY)
                .fetch_optional(store.cart_writer())
                .await?;
            match grown {
                // No such product: nothing to lock for.
                None => None,
                Some(row) if row.put => Some(row),
                Some(_) => {
                    let mut tx = store.cart_writer().begin().await?;
                    PostgresStore::lock_cart(&mut tx, cart).await?;
                    let row = sqlx::query_as(ADD_TO_CART_LINE)
                        .bind(cart.get())
                        .bind(product.get())
                        .bind(n)
                        .bind(now.millis())
                        .bind(MAX_QUANTITY)
                        .bind(MAX_ORDER_LINES as i64)
                        .fetch_optional(&mut *tx)
                        .await?;
                    tx.commit().await?;
                    row
                }
            }
        }
        LineEdit::By(change) => {
            sqlx::query_as(CHANGE_CART_LINE_BY)
                .bind(cart.get())
                .bind(product.get())
                .bind(change)
                .bind(MAX_QUANTITY)
                .fetch_optional(store.cart_writer())
                .await?
        }
        LineEdit::To(n) => {
            sqlx::query_as(SET_CART_LINE_TO)
                .bind(cart.get())
                .bind(product.get())
                .bind(n)
                .bind(MAX_QUANTITY)
                .fetch_optional(store.cart_writer())
                .await?
        }
    };
    match row {
        Some(row) if row.put => {
            let line = CartLine::try_from(row.line)?;
            Ok(Some(LineEditOutcome::Written { quantity: line.quantity, product: line.product }))
        }
        None if matches!(edit, LineEdit::Add(_)) => Ok(Some(LineEditOutcome::NoProduct)),
        _ => Ok(None),
    }
}
