//! Writing an order, on SQLite: one transaction on the single write
//! connection, a statement at a time (SQLite has no data-modifying CTEs, and
//! a statement here costs no network round trip).

use emporium_domain::orders::OrderStatus;
use emporium_store::sql::orders as sql;
use emporium_store::{NewOrder, OrderEventRecord, StoreResult};
use sqlx::QueryBuilder;

use crate::SqliteStore;
use crate::audit::insert_audit;

/// Takes the stock and records the order; `None`, with nothing changed, if
/// some line could not be taken as priced.
pub(crate) async fn write_order(store: &SqliteStore, o: &NewOrder) -> StoreResult<Option<i64>> {
    let now = o.now.millis();
    let mut tx = store.writer().begin().await?;
    for item in &o.items {
        let taken = sqlx::query(sql::TAKE_STOCK)
            .bind(item.product_id.get())
            .bind(item.quantity)
            .bind(now)
            .bind(item.unit_price.minor())
            .bind(item.discount.basis_points())
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if taken == 0 {
            // Dropping the transaction rolls back the lines already taken.
            return Ok(None);
        }
    }
    let order_id: i64 = sqlx::query_scalar(sql::INSERT_ORDER)
        .bind(o.user_id.map(|u| u.get()))
        .bind(&o.email)
        .bind(o.email.to_lowercase())
        .bind(&o.currency)
        .bind(o.totals.subtotal.minor())
        .bind(o.totals.discount_total.minor())
        .bind(o.totals.total.minor())
        .bind(serde_json::to_string(&o.shipping_address)?)
        .bind(o.notes.as_deref())
        .bind(now)
        .bind(o.access_token_hash.as_deref())
        .fetch_one(&mut *tx)
        .await?;
    let mut insert: QueryBuilder<sqlx::Sqlite> =
        QueryBuilder::new(format!("INSERT INTO order_items ({}) ", sql::ITEM_COLUMNS));
    insert.push_values(&o.items, |mut row, item| {
        row.push_bind(order_id)
            .push_bind(item.product_id.get())
            .push_bind(&item.name)
            .push_bind(item.quantity)
            .push_bind(item.unit_price.minor())
            .push_bind(item.discount.basis_points())
            .push_bind(item.unit_sell_price.minor())
            .push_bind(item.line_total.minor());
    });
    insert.build().execute(&mut *tx).await?;
    // The first event, and with it the order confirmation mail.
    let first = OrderEventRecord {
        from: None,
        to: OrderStatus::Pending,
        actor_id: o.user_id,
        actor: o.actor.clone(),
        reason: None,
        at: o.now,
    };
    crate::orders::record_order_event_with_token(&mut tx, order_id, &first, o.access_token.as_deref()).await?;
    if let Some(claim) = &o.idempotency {
        sqlx::query(sql::INSERT_CLAIM)
            .bind(&claim.scope)
            .bind(&claim.key)
            .bind(&claim.request_hash)
            .bind(order_id)
            .bind(now)
            .execute(&mut *tx)
            .await?;
    }
    if let Some(cart) = o.from_cart {
        sqlx::query(sql::CLEAR_CART).bind(cart.get()).execute(&mut *tx).await?;
    }
    let mut audit = o.audit.clone();
    audit.target_id = Some(order_id.to_string());
    insert_audit(&mut tx, &audit).await?;
    tx.commit().await?;
    Ok(Some(order_id))
}
