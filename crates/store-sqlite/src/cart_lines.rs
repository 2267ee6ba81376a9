//! Writing a cart line, on SQLite: each edit is one statement on the single
//! write connection whose guard (`CartProduct::problem`'s rule and the
//! bounds, in SQL) reads the line as it is then, so the connection is held
//! for that statement only and no edit is lost to another. The product the
//! line shows is read afterwards on a read connection.

use emporium_domain::ids::{CartId, ProductId};
use emporium_domain::orders::{MAX_ORDER_LINES, MAX_QUANTITY};
use emporium_domain::time::Timestamp;
use emporium_store::rows::CartLineRow;
use emporium_store::sql::orders as sql;
use emporium_store::{CartLine, CartProduct, LineEdit, LineEditOutcome, StoreResult};

use crate::SqliteStore;

/// `$1` cart, `$2` product, `$3` how many to add, `$4` now, `$5` the most
/// per line, `$6` the most lines per cart. A new line is made only while the
/// cart has room for it; an existing one grows only while the product has
/// the stock for its new quantity. (The WHERE clause also keeps SQLite from
/// reading `ON CONFLICT` as a join constraint.)
const ADD_TO_CART_LINE: &str = "INSERT INTO cart_items (cart_id, product_id, quantity, added_at) \
     SELECT $1, p.id, $3, $4 FROM products p \
     WHERE p.id = $2 AND p.deleted_at IS NULL AND p.available AND p.stock >= $3 AND $3 <= $5 \
     AND (EXISTS (SELECT 1 FROM cart_items WHERE cart_id = $1 AND product_id = $2) \
          OR (SELECT COUNT(*) FROM cart_items WHERE cart_id = $1) < $6) \
     ON CONFLICT (cart_id, product_id) DO UPDATE SET quantity = cart_items.quantity + excluded.quantity \
     WHERE cart_items.quantity + excluded.quantity <= $5 \
     AND cart_items.quantity + excluded.quantity <= (SELECT stock FROM products WHERE id = excluded.product_id) \
     RETURNING quantity";

/// `$3` the change; only to a quantity above 0 (taking it lower removes the line instead).
/// A decrease is always allowed: it asks for less of what may no longer be
/// in stock, or bought at all.
const CHANGE_CART_LINE_BY: &str = "UPDATE cart_items SET quantity = quantity + $3 \
     WHERE cart_id = $1 AND product_id = $2 AND quantity + $3 > 0 AND quantity + $3 <= $4 \
     AND ($3 < 0 OR EXISTS (SELECT 1 FROM products p WHERE p.id = $2 AND p.deleted_at IS NULL AND p.available \
                 AND p.stock >= cart_items.quantity + $3)) \
     RETURNING quantity";

/// `$3` the new quantity (> 0).
const SET_CART_LINE_TO: &str = "UPDATE cart_items SET quantity = $3 \
     WHERE cart_id = $1 AND product_id = $2 AND $3 <= $4 \
     AND EXISTS (SELECT 1 FROM products p WHERE p.id = $2 AND p.deleted_at IS NULL AND p.available AND p.stock >= $3) \
     RETURNING quantity";

async fn read_product(store: &SqliteStore, product: ProductId) -> StoreResult<Option<CartProduct>> {
    let row: Option<CartLineRow> = sqlx::query_as(&format!("{} ($1)", sql::SELECT_PRODUCTS_TO_ORDER))
        .bind(product.get())
        .fetch_optional(store.reader())
        .await?;
    row.map(|row| CartLine::try_from(row).map(|line| line.product)).transpose()
}

/// The edit, written if its guard holds now; `None` if nothing was written.
pub(crate) async fn write_line(
    store: &SqliteStore,
    cart: CartId,
    product: ProductId,
    edit: LineEdit,
    now: Timestamp,
) -> StoreResult<Option<LineEditOutcome>> {
    let written: Option<i64> = match edit {
        LineEdit::Add(n) => {
            sqlx::query_scalar(ADD_TO_CART_LINE)
                .bind(cart.get())
                .bind(product.get())
                .bind(n)
                .bind(now.millis())
                .bind(MAX_QUANTITY)
                .bind(MAX_ORDER_LINES as i64)
                .fetch_optional(store.writer())
                .await?
        }
        LineEdit::By(delta) => {
            sqlx::query_scalar(CHANGE_CART_LINE_BY)
                .bind(cart.get())
                .bind(product.get())
                .bind(delta)
                .bind(MAX_QUANTITY)
                .fetch_optional(store.writer())
                .await?
        }
        LineEdit::To(n) => {
            sqlx::query_scalar(SET_CART_LINE_TO)
                .bind(cart.get())
                .bind(product.get())
                .bind(n)
                .bind(MAX_QUANTITY)
                .fetch_optional(store.writer())
                .await?
        }
    };
    let Some(quantity) = written else { return Ok(None) };
    // A product is never deleted, only marked so: a line's product is there.
    let product = read_product(store, product)
        .await?
        .ok_or_else(|| anyhow::anyhow!("product {product} of a cart line is gone"))?;
    Ok(Some(LineEditOutcome::Written { quantity, product }))
}
