//! Putting a line in a cart, on PostgreSQL: reading the product and writing
//! the line only if the product can hold it is one statement, on the cart
//! pool (commits do not wait for the WAL flush).

use emporium_domain::ids::{CartId, ProductId};
use emporium_domain::time::Timestamp;
use emporium_store::rows::PutCartLineRow;
use emporium_store::{CartLine, CartProduct, StoreResult};

use crate::PostgresStore;

/// The write's guard is `CartProduct::problem`'s rule: live, available, in stock.
const PUT_CART_LINE: &str = "\
WITH product AS (
    SELECT id, name, price_minor, discount_bp, images, stock, available, (deleted_at IS NOT NULL) AS deleted
    FROM products WHERE id = $2
), put AS (
    INSERT INTO cart_items (cart_id, product_id, quantity, added_at)
    SELECT $1, id, $3, $4 FROM product WHERE NOT deleted AND available AND stock >= $3
    ON CONFLICT (cart_id, product_id) DO UPDATE SET quantity = excluded.quantity
    RETURNING product_id
)
SELECT id AS product_id, $3 AS quantity, name, price_minor, discount_bp, images, stock, available, deleted,
    EXISTS (SELECT 1 FROM put) AS put
FROM product";

pub(crate) async fn put_cart_line(
    store: &PostgresStore,
    cart: CartId,
    product: ProductId,
    quantity: i64,
    now: Timestamp,
) -> StoreResult<Option<(CartProduct, bool)>> {
    let row: Option<PutCartLineRow> = sqlx::query_as(PUT_CART_LINE)
        .bind(cart.get())
        .bind(product.get())
        .bind(quantity)
        .bind(now.millis())
        .fetch_optional(store.cart_writer())
        .await?;
    let Some(row) = row else { return Ok(None) };
    Ok(Some((CartLine::try_from(row.line)?.product, row.put)))
}
