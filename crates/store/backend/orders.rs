// The orders storage, written once and compiled into each backend crate with
// its own concrete sqlx types (`Backend`, `Db`, `Conn`; see that crate's lib.rs).

use async_trait::async_trait;
use emporium_domain::ids::{OrderId, ProductId};
use emporium_domain::money::{Money, Percent};
use emporium_domain::orders::{OrderStatus, PricedLine, Totals};
use emporium_domain::paging::Page;
use emporium_domain::time::Timestamp;
use emporium_store::rows::{OrderEventRow, OrderItemRow, OrderRow};
use emporium_store::sql::orders as sql;
use emporium_store::{
    LineProblem, NewOrder, OrderFilter, OrderItemRecord, OrderRecord, OrderStore, PlaceOutcome, StatusChange,
    StatusOutcome, StoreError, StoreResult,
};
use sqlx::QueryBuilder;

use crate::{Conn, Db};

use crate::Backend;
use crate::audit::insert_audit;

/// An order with its items and, if asked, its events.
async fn load_order(conn: &mut Conn, id: i64, with_events: bool) -> StoreResult<Option<OrderRecord>> {
    let Some(row) = sqlx::query_as::<_, OrderRow>(sql::SELECT_ORDER).bind(id).fetch_optional(&mut *conn).await? else {
        return Ok(None);
    };
    let items: Vec<OrderItemRow> = sqlx::query_as(sql::SELECT_ORDER_ITEMS).bind(id).fetch_all(&mut *conn).await?;
    let items = items.into_iter().map(OrderItemRow::into_record).collect::<StoreResult<_>>()?;
    let events = if with_events {
        let rows: Vec<OrderEventRow> = sqlx::query_as(sql::SELECT_ORDER_EVENTS).bind(id).fetch_all(&mut *conn).await?;
        rows.into_iter().map(TryInto::try_into).collect::<StoreResult<_>>()?
    } else {
        Vec::new()
    };
    row.into_record(items, events).map(Some)
}

/// Why stock could not be taken for a line.
async fn diagnose(conn: &mut Conn, product: ProductId, requested: i64) -> StoreResult<LineProblem> {
    let row: Option<(String, i64, bool, bool)> =
        sqlx::query_as(sql::DIAGNOSE_PRODUCT).bind(product.get()).fetch_optional(conn).await?;
    Ok(match row {
        None | Some((_, _, _, true)) => LineProblem::NotFound { product_id: product },
        Some((name, _, false, _)) => LineProblem::Unavailable { product_id: product, name },
        Some((name, stock, true, false)) => {
            LineProblem::Insufficient { product_id: product, name, requested, available: stock }
        }
    })
}

#[async_trait]
impl OrderStore for Backend {
    async fn place_order(&self, o: &NewOrder) -> StoreResult<PlaceOutcome> {
        let now = o.now.millis();
        let mut tx = self.writer().begin().await?;
        if let Some(claim) = &o.idempotency {
            sqlx::query(sql::DELETE_EXPIRED_CLAIM)
                .bind(&claim.scope)
                .bind(&claim.key)
                .bind(claim.not_before.millis())
                .execute(&mut *tx)
                .await?;
            let seen: Option<(String, i64)> =
                sqlx::query_as(sql::SELECT_CLAIM).bind(&claim.scope).bind(&claim.key).fetch_optional(&mut *tx).await?;
            if let Some((hash, order_id)) = seen {
                if hash != claim.request_hash {
                    return Ok(PlaceOutcome::IdempotencyMismatch);
                }
                let order = load_order(&mut tx, order_id, true)
                    .await?
                    .ok_or_else(|| anyhow::anyhow!("claimed order {order_id} is gone"))?;
                return Ok(PlaceOutcome::Replayed(Box::new(order)));
            }
        }
        let mut lines = Vec::with_capacity(o.lines.len());
        for (product, quantity) in &o.lines {
            let taken: Option<(String, i64, i64)> = sqlx::query_as(sql::TAKE_STOCK)
                .bind(product.get())
                .bind(quantity.get())
                .bind(now)
                .fetch_optional(&mut *tx)
                .await?;
            let Some((name, price, discount)) = taken else {
                // Dropping the transaction rolls back the lines already taken.
                return Ok(PlaceOutcome::Refused(diagnose(&mut tx, *product, quantity.get()).await?));
            };
            let discount = Percent::from_basis_points(discount).map_err(anyhow::Error::msg)?;
            lines.push((
                *product,
                name,
                PricedLine { unit_price: Money::from_minor(price), discount, quantity: quantity.get() },
            ));
        }
        let totals = Totals::of(lines.iter().map(|(_, _, l)| l));
        let order_id: i64 = sqlx::query_scalar(sql::INSERT_ORDER)
            .bind(o.user_id.map(|u| u.get()))
            .bind(&o.email)
            .bind(o.email.to_lowercase())
            .bind(&o.currency)
            .bind(totals.subtotal.minor())
            .bind(totals.discount_total.minor())
            .bind(totals.total.minor())
            .bind(serde_json::to_string(&o.shipping_address)?)
            .bind(o.notes.as_deref())
            .bind(now)
            .fetch_one(&mut *tx)
            .await?;
        let items: Vec<OrderItemRecord> =
            lines.into_iter().map(|(product, name, line)| OrderItemRecord::snapshot(product, name, &line)).collect();
        let mut insert: QueryBuilder<Db> =
            QueryBuilder::new(format!("INSERT INTO order_items ({}) ", sql::ITEM_COLUMNS));
        insert.push_values(&items, |mut row, item| {
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
        sqlx::query(sql::INSERT_ORDER_EVENT)
            .bind(order_id)
            .bind(None::<&str>)
            .bind(OrderStatus::Pending.as_str())
            .bind(o.user_id.map(|u| u.get()))
            .bind(&o.actor)
            .bind(None::<&str>)
            .bind(now)
            .execute(&mut *tx)
            .await?;
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
            sqlx::query(emporium_store::sql::orders::CLEAR_CART).bind(cart.get()).execute(&mut *tx).await?;
            sqlx::query(sql::TOUCH_CART).bind(cart.get()).bind(now).execute(&mut *tx).await?;
        }
        let mut audit = o.audit.clone();
        audit.target_id = Some(order_id.to_string());
        insert_audit(&mut tx, &audit).await?;
        tx.commit().await?;
        Ok(PlaceOutcome::Placed(Box::new(o.placed_record(OrderId::new(order_id), items, totals))))
    }

    async fn order(&self, id: OrderId) -> StoreResult<Option<OrderRecord>> {
        let mut conn = self.reader().acquire().await?;
        load_order(&mut conn, id.get(), true).await
    }

    async fn list_orders(&self, f: &OrderFilter, page: Page) -> StoreResult<(Vec<OrderRecord>, u64)> {
        let mut conn = self.reader().acquire().await?;
        let (user, status) = (f.user_id.map(|u| u.get()), f.status.map(OrderStatus::as_str));
        let (since, until) = (f.since.map(Timestamp::millis), f.until.map(Timestamp::millis));
        let total: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM orders WHERE {}", sql::ORDER_FILTER))
            .bind(user)
            .bind(status)
            .bind(since)
            .bind(until)
            .fetch_one(&mut *conn)
            .await?;
        let rows: Vec<OrderRow> = sqlx::query_as(&format!(
            "SELECT {} FROM orders WHERE {} ORDER BY created_at DESC, id DESC LIMIT $5 OFFSET $6",
            sql::ORDER_COLUMNS,
            sql::ORDER_FILTER
        ))
        .bind(user)
        .bind(status)
        .bind(since)
        .bind(until)
        .bind(i64::from(page.limit()))
        .bind(page.offset() as i64)
        .fetch_all(&mut *conn)
        .await?;
        let mut items: Vec<OrderItemRow> = Vec::new();
        if !rows.is_empty() {
            let placeholders: Vec<String> = (1..=rows.len()).map(|i| format!("${i}")).collect();
            let query = format!(
                "SELECT {} FROM order_items WHERE order_id IN ({}) ORDER BY order_id, id",
                sql::ITEM_COLUMNS,
                placeholders.join(", ")
            );
            let mut q = sqlx::query_as::<_, OrderItemRow>(&query);
            for row in &rows {
                q = q.bind(row.id);
            }
            items = q.fetch_all(&mut *conn).await?;
        }
        let mut orders = Vec::with_capacity(rows.len());
        for row in rows {
            let mine = items.iter().filter(|i| i.order_id == row.id);
            let mine = mine.cloned().map(OrderItemRow::into_record).collect::<StoreResult<_>>()?;
            orders.push(row.into_record(mine, Vec::new())?);
        }
        Ok((orders, total as u64))
    }

    async fn change_order_status(&self, id: OrderId, c: &StatusChange) -> StoreResult<StatusOutcome> {
        let now = c.now.millis();
        let mut tx = self.writer().begin().await?;
        let changed = sqlx::query(sql::CHANGE_STATUS)
            .bind(id.get())
            .bind(c.from.as_str())
            .bind(c.to.as_str())
            .bind(c.payment_status.as_str())
            .bind(now)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if changed == 0 {
            let current: Option<String> =
                sqlx::query_scalar(sql::SELECT_STATUS).bind(id.get()).fetch_optional(&mut *tx).await?;
            return match current {
                None => Ok(StatusOutcome::NotFound),
                Some(s) => {
                    Ok(StatusOutcome::Moved(OrderStatus::parse(&s).map_err(|e| StoreError::Other(anyhow::anyhow!(e)))?))
                }
            };
        }
        if c.restock {
            let lines: Vec<(i64, i64)> =
                sqlx::query_as(sql::SELECT_ITEM_QUANTITIES).bind(id.get()).fetch_all(&mut *tx).await?;
            for (product, quantity) in lines {
                sqlx::query(sql::RETURN_STOCK).bind(product).bind(quantity).bind(now).execute(&mut *tx).await?;
            }
        }
        sqlx::query(sql::INSERT_ORDER_EVENT)
            .bind(id.get())
            .bind(c.from.as_str())
            .bind(c.to.as_str())
            .bind(c.actor_id.map(|u| u.get()))
            .bind(&c.actor)
            .bind(c.reason.as_deref())
            .bind(now)
            .execute(&mut *tx)
            .await?;
        insert_audit(&mut tx, &c.audit).await?;
        let order = load_order(&mut tx, id.get(), true).await?.ok_or_else(|| anyhow::anyhow!("order {id} vanished"))?;
        tx.commit().await?;
        Ok(StatusOutcome::Changed(Box::new(order)))
    }

    async fn stale_pending_orders(&self, placed_before: Timestamp, limit: u32) -> StoreResult<Vec<OrderId>> {
        let ids: Vec<i64> = sqlx::query_scalar(sql::STALE_PENDING)
            .bind(placed_before.millis())
            .bind(i64::from(limit))
            .fetch_all(self.reader())
            .await?;
        Ok(ids.into_iter().map(OrderId::new).collect())
    }

    async fn purge_idempotency_keys(&self, older_than: Timestamp) -> StoreResult<u64> {
        Ok(sqlx::query(sql::PURGE_CLAIMS).bind(older_than.millis()).execute(self.writer()).await?.rows_affected())
    }
}
