//! Putting a line in a cart, on SQLite: the product is read on a read
//! connection, and the line written by an upsert that re-checks the product
//! itself (`CartProduct::problem`'s rule, in SQL), so the single write connection
//! is held for one statement only and nothing that changed in between slips
//! through.

use emporium_domain::ids::{CartId, ProductId};
use emporium_domain::time::Timestamp;
use emporium_store::rows::CartLineRow;
use emporium_store::sql::orders as sql;
use emporium_store::{CartLine, CartProduct, StoreResult};

use crate::SqliteStore;

/// The upsert, guarded by the rule of `CartProduct::problem`. (The WHERE
/// clause also keeps SQLite from reading `ON CONFLICT` as a join constraint.)
const PUT_CART_LINE: &str = "INSERT INTO cart_items (cart_id, product_id, quantity, added_at) \
     SELECT $1, id, $3, $4 FROM products WHERE id = $2 AND deleted_at IS NULL AND available AND stock >= $3 \
     ON CONFLICT (cart_id, product_id) DO UPDATE SET quantity = excluded.quantity";

async fn read_product(store: &SqliteStore, product: ProductId) -> StoreResult<Option<CartProduct>> {
    let row: Option<CartLineRow> = sqlx::query_as(&format!("{} ($1)", sql::SELECT_PRODUCTS_TO_ORDER))
        .bind(product.get())
        .fetch_optional(store.reader())
        .await?;
    row.map(|row| CartLine::try_from(row).map(|line| line.product)).transpose()
}

pub(crate) async fn put_cart_line(
    store: &SqliteStore,
    cart: CartId,
    product: ProductId,
    quantity: i64,
    now: Timestamp,
) -> StoreResult<Option<(CartProduct, bool)>> {
    let Some(found) = read_product(store, product).await? else { return Ok(None) };
    if found.problem(product, quantity).is_some() {
        return Ok(Some((found, false)));
    }
    let put = sqlx::query(PUT_CART_LINE)
        .bind(cart.get())
        .bind(product.get())
        .bind(quantity)
        .bind(now.millis())
        .execute(store.writer())
        .await?
        .rows_affected();
    if put == 0 {
        // The product changed after it was read: show it as it is now.
        return Ok(read_product(store, product).await?.map(|now| (now, false)));
    }
    Ok(Some((found, true)))
}
