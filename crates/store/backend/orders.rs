// The orders storage, written once and compiled into each backend crate with
// its own concrete sqlx types (`Backend`, `Db`, `Conn`; see that crate's lib.rs).

use async_trait::async_trait;
use emporium_domain::ids::{OrderId, PaymentId, ProductId};
use emporium_domain::money::Money;
use emporium_domain::orders::OrderStatus;
use emporium_domain::paging::Page;
use emporium_domain::time::Timestamp;
use emporium_store::rows::{CartLineRow, OrderEventRow, OrderItemRow, OrderRow};
use emporium_store::sql::orders as sql;
use emporium_store::{
    CartLine, CartProduct, EarlierOrder, IdempotencyClaim, LineProblem, NewOrder, OrderEventRecord, OrderFigures, OrderFilter, OrderItemRecord, OrderRecord, OrderStore, PlaceOutcome, StatusChange,
    StatusOutcome, StoreError, StoreResult,
};
use sqlx::QueryBuilder;

use crate::{Conn, Db};

use crate::Backend;
use crate::audit::insert_audit;
use crate::outbox::enqueue_mail;

/// Writes an order event and queues the mail that announces it (placed,
/// paid, shipped, cancelled, refunded), in the caller's transaction. This is
/// the one way an order event is written, so every path that moves an order
/// (the native API, a dialect, the sweep, a payment confirmation) sends the
/// same mail, once: the mail's key names the order and the status.
pub(crate) async fn record_order_event(conn: &mut Conn, order_id: i64, event: &OrderEventRecord) -> StoreResult<()> {
    record_order_event_with_token(conn, order_id, event, None).await
}

/// [`record_order_event`], for an order's first event: the confirmation of
/// a guest's order carries its access token.
pub(crate) async fn record_order_event_with_token(
    conn: &mut Conn,
    order_id: i64,
    event: &OrderEventRecord,
    access_token: Option<&str>,
) -> StoreResult<()> {
    sqlx::query::<Db>(sql::INSERT_ORDER_EVENT)
        .bind(order_id)
        .bind(event.from.map(OrderStatus::as_str))
        .bind(event.to.as_str())
        .bind(event.actor_id.map(|u| u.get()))
        .bind(&event.actor)
        .bind(event.reason.as_deref())
        .bind(event.at.millis())
        .execute(&mut *conn)
        .await?;
    let order = load_order(conn, order_id, false).await?.ok_or_else(|| anyhow::anyhow!("order {order_id} vanished"))?;
    let mail = match event.to {
        OrderStatus::Pending => emporium_store::mail::placed_mail(&order, access_token),
        to => emporium_store::mail::order_mail(&order, to, event.reason.as_deref()),
    };
    if let Some(mail) = mail {
        enqueue_mail(conn, &mail, event.at).await?;
    }
    Ok(())
}

/// An order with its items and, if asked, its events.
pub(crate) async fn load_order(conn: &mut Conn, id: i64, with_events: bool) -> StoreResult<Option<OrderRecord>> {
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

impl Backend {
    /// Why stock could not be taken for an order: the first line that cannot
    /// be bought as priced. `None` if every line could be now (a concurrent
    /// change came and went), so the order may be tried again.
    async fn diagnose(&self, items: &[OrderItemRecord]) -> StoreResult<Option<LineProblem>> {
        let ids: Vec<ProductId> = items.iter().map(|i| i.product_id).collect();
        let products = self.products_to_order(&ids).await?;
        for item in items {
            let product_id = item.product_id;
            let Some((_, product)) = products.iter().find(|(id, _)| *id == product_id) else {
                return Ok(Some(LineProblem::NotFound { product_id }));
            };
            if let Some(problem) = product.problem(product_id, item.quantity) {
                return Ok(Some(problem));
            }
            if product.price != item.unit_price || product.discount != item.discount {
                return Ok(Some(LineProblem::PriceChanged { product_id }));
            }
        }
        Ok(None)
    }
}

#[async_trait]
impl OrderStore for Backend {
    async fn earlier_order(&self, claim: &IdempotencyClaim) -> StoreResult<Option<EarlierOrder>> {
        let mut conn = self.writer().acquire().await?;
        sqlx::query(sql::DELETE_EXPIRED_CLAIM)
            .bind(&claim.scope)
            .bind(&claim.key)
            .bind(claim.not_before.millis())
            .execute(&mut *conn)
            .await?;
        let seen: Option<(String, i64)> =
            sqlx::query_as(sql::SELECT_CLAIM).bind(&claim.scope).bind(&claim.key).fetch_optional(&mut *conn).await?;
        let Some((hash, order_id)) = seen else { return Ok(None) };
        if hash != claim.request_hash {
            return Ok(Some(EarlierOrder::OtherRequest));
        }
        let order =
            load_order(&mut conn, order_id, true).await?.ok_or_else(|| anyhow::anyhow!("claimed order {order_id} is gone"))?;
        Ok(Some(EarlierOrder::Same(Box::new(order))))
    }

    async fn place_order(&self, o: &NewOrder) -> StoreResult<PlaceOutcome> {
        // A concurrent duplicate under the same key fails on the claim's
        // unique key, and nothing it wrote remains; the caller asks again.
        let Some(order_id) = crate::checkout::write_order(self, o).await? else {
            return Ok(match self.diagnose(&o.items).await? {
                Some(problem) => PlaceOutcome::Refused(problem),
                None => PlaceOutcome::Contended,
            });
        };
        Ok(PlaceOutcome::Placed(Box::new(o.placed_record(OrderId::new(order_id)))))
    }

    async fn products_to_order(&self, ids: &[ProductId]) -> StoreResult<Vec<(ProductId, CartProduct)>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut query: QueryBuilder<Db> = QueryBuilder::new(sql::SELECT_PRODUCTS_TO_ORDER);
        query.push(" (");
        let mut list = query.separated(", ");
        for id in ids {
            list.push_bind(id.get());
        }
        list.push_unseparated(")");
        let rows: Vec<CartLineRow> = query.build_query_as().fetch_all(self.reader()).await?;
        rows.into_iter()
            .map(|row| CartLine::try_from(row).map(|line| (line.product_id, line.product)))
            .collect()
    }

    async fn order(&self, id: OrderId) -> StoreResult<Option<OrderRecord>> {
        let mut conn = self.reader().acquire().await?;
        load_order(&mut conn, id.get(), true).await
    }

    async fn list_orders(&self, f: &OrderFilter, page: Page) -> StoreResult<(Vec<OrderRecord>, u64)> {
        let mut conn = self.reader().acquire().await?;
        let (user, status) = (f.user_id.map(|u| u.get()), f.status.map(OrderStatus::as_str));
        let (since, until) = (f.since.map(Timestamp::millis), f.until.map(Timestamp::millis));
        let search = f.search.as_deref().map(str::trim).filter(|s| !s.is_empty());
        let pattern = search.map(emporium_store::like_pattern);
        let number = search.map(|s| s.trim_start_matches('#').to_string());
        let total: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM orders WHERE {}", sql::ORDER_FILTER))
            .bind(user)
            .bind(status)
            .bind(since)
            .bind(until)
            .bind(pattern.as_deref())
            .bind(number.as_deref())
            .bind(f.guest_token_hash.as_deref())
            .fetch_one(&mut *conn)
            .await?;
        let rows: Vec<OrderRow> = sqlx::query_as(&format!(
            "SELECT {} FROM orders WHERE {} ORDER BY created_at DESC, id DESC LIMIT $8 OFFSET $9",
            sql::ORDER_COLUMNS,
            sql::ORDER_FILTER
        ))
        .bind(user)
        .bind(status)
        .bind(since)
        .bind(until)
        .bind(pattern.as_deref())
        .bind(number.as_deref())
        .bind(f.guest_token_hash.as_deref())
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

    async fn order_figures(&self, today: Timestamp, week: Timestamp, low_stock: i64) -> StoreResult<OrderFigures> {
        let mut conn = self.reader().acquire().await?;
        let (orders_today, sales_today): (i64, i64) =
            sqlx::query_as(sql::ORDER_FIGURES).bind(today.millis()).fetch_one(&mut *conn).await?;
        let (orders_week, sales_week): (i64, i64) =
            sqlx::query_as(sql::ORDER_FIGURES).bind(week.millis()).fetch_one(&mut *conn).await?;
        let awaiting: i64 = sqlx::query_scalar(sql::AWAITING_FULFILMENT).fetch_one(&mut *conn).await?;
        let review: Vec<(i64, i64, Option<String>)> =
            sqlx::query_as(sql::PAYMENTS_TO_REVIEW).fetch_all(&mut *conn).await?;
        let low: Vec<i64> = sqlx::query_scalar(sql::LOW_STOCK).bind(low_stock).fetch_all(&mut *conn).await?;
        Ok(OrderFigures {
            orders_today: orders_today as u64,
            sales_today: Money::from_minor(sales_today),
            orders_week: orders_week as u64,
            sales_week: Money::from_minor(sales_week),
            awaiting_fulfilment: awaiting as u64,
            payments_to_review: review
                .into_iter()
                .map(|(p, o, reason)| (PaymentId::new(p), OrderId::new(o), reason))
                .collect(),
            low_stock: low.into_iter().map(ProductId::new).collect(),
        })
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
        let event = OrderEventRecord {
            from: Some(c.from),
            to: c.to,
            actor_id: c.actor_id,
            actor: c.actor.clone(),
            reason: c.reason.clone(),
            at: c.now,
        };
        record_order_event(&mut tx, id.get(), &event).await?;
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
