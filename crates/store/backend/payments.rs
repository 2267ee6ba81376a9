// The payments storage, written once and compiled into each backend crate with
// its own concrete sqlx types (`Backend`, `Db`, `Conn`; see that crate's lib.rs).
// Row locks differ: PostgreSQL locks the attempt and the order (`FOR_UPDATE`),
// so concurrent deliveries on any number of servers queue on the attempt's
// row; SQLite's single write connection already runs them one at a time.

use async_trait::async_trait;
use emporium_domain::ids::{OrderId, PaymentId, RefundId, UserId};
use emporium_domain::money::Money;
use emporium_domain::orders::{OrderStatus, PaymentStatus};
use emporium_domain::payments::{AttemptStatus, PaymentMethod};
use emporium_domain::time::Timestamp;
use emporium_store::sql::orders as order_sql;
use emporium_store::sql::payments as sql;
use emporium_store::{
    Actor, ApplyOutcome, ApplyPayment, Effect, NewAttempt, NewAuditEntry, NewRefund, Observed, PaymentRecord,
    PaymentStore, RefundRecord, RefundResult, RefundStatus, StartOutcome, StoreError, StoreResult, TestSession,
};
use serde_json::json;

use crate::audit::insert_audit;
use crate::orders::load_order;
use crate::{Backend, Conn, FOR_UPDATE};

#[derive(sqlx::FromRow)]
struct PaymentRow {
    id: i64,
    order_id: i64,
    provider: String,
    reference: Option<String>,
    status: String,
    amount_minor: i64,
    currency: String,
    checkout_url: Option<String>,
    expires_at: Option<i64>,
    captured_minor: Option<i64>,
    capture_reference: Option<String>,
    refunded_minor: i64,
    needs_review: bool,
    review_reason: Option<String>,
    failure_reason: Option<String>,
    created_at: i64,
    updated_at: i64,
    version: i64,
}

impl TryFrom<PaymentRow> for PaymentRecord {
    type Error = StoreError;
    fn try_from(r: PaymentRow) -> StoreResult<Self> {
        Ok(PaymentRecord {
            id: PaymentId::new(r.id),
            order_id: OrderId::new(r.order_id),
            provider: r.provider,
            reference: r.reference,
            status: AttemptStatus::parse(&r.status).map_err(anyhow::Error::msg)?,
            amount: Money::from_minor(r.amount_minor),
            currency: r.currency,
            checkout_url: r.checkout_url,
            expires_at: r.expires_at.map(Timestamp::from_millis),
            captured: r.captured_minor.map(Money::from_minor),
            capture_reference: r.capture_reference,
            refunded: Money::from_minor(r.refunded_minor),
            needs_review: r.needs_review,
            review_reason: r.review_reason,
            failure_reason: r.failure_reason,
            created_at: Timestamp::from_millis(r.created_at),
            updated_at: Timestamp::from_millis(r.updated_at),
            version: r.version,
        })
    }
}

#[derive(sqlx::FromRow)]
struct RefundRow {
    id: i64,
    payment_id: i64,
    amount_minor: i64,
    status: String,
    reference: Option<String>,
    reason: String,
    actor_id: Option<i64>,
    restock: bool,
    created_at: i64,
    updated_at: i64,
}

impl TryFrom<RefundRow> for RefundRecord {
    type Error = StoreError;
    fn try_from(r: RefundRow) -> StoreResult<Self> {
        Ok(RefundRecord {
            id: RefundId::new(r.id),
            payment_id: PaymentId::new(r.payment_id),
            amount: Money::from_minor(r.amount_minor),
            status: RefundStatus::parse(&r.status).map_err(anyhow::Error::msg)?,
            reference: r.reference,
            reason: r.reason,
            actor_id: r.actor_id.map(UserId::new),
            restock: r.restock,
            created_at: Timestamp::from_millis(r.created_at),
            updated_at: Timestamp::from_millis(r.updated_at),
        })
    }
}

#[derive(sqlx::FromRow)]
struct TestSessionRow {
    reference: String,
    payment_id: String,
    order_id: String,
    amount_minor: i64,
    currency: String,
    status: String,
    refunded_minor: i64,
    success_url: String,
    cancel_url: String,
    expires_at: i64,
    created_at: i64,
}

impl From<TestSessionRow> for TestSession {
    fn from(r: TestSessionRow) -> Self {
        TestSession {
            reference: r.reference,
            payment_id: r.payment_id,
            order_id: r.order_id,
            amount: Money::from_minor(r.amount_minor),
            currency: r.currency,
            status: r.status,
            refunded: Money::from_minor(r.refunded_minor),
            success_url: r.success_url,
            cancel_url: r.cancel_url,
            expires_at: Timestamp::from_millis(r.expires_at),
            created_at: Timestamp::from_millis(r.created_at),
        }
    }
}

/// The order as the payment rule judges it.
#[derive(sqlx::FromRow)]
struct PayableOrder {
    status: String,
    payment_status: String,
    payment_method: Option<String>,
    total_minor: i64,
    currency: String,
}

impl PayableOrder {
    fn status(&self) -> StoreResult<OrderStatus> {
        OrderStatus::parse(&self.status).map_err(|e| StoreError::Other(anyhow::anyhow!(e)))
    }
    fn payment_status(&self) -> StoreResult<PaymentStatus> {
        PaymentStatus::parse(&self.payment_status).map_err(|e| StoreError::Other(anyhow::anyhow!(e)))
    }
    fn method(&self) -> StoreResult<Option<PaymentMethod>> {
        self.payment_method.as_deref().map(PaymentMethod::parse).transpose().map_err(|e| StoreError::Other(anyhow::anyhow!(e)))
    }
}

fn audit(actor: &Actor, at: Timestamp, action: &str, target: (&str, String), details: serde_json::Value) -> NewAuditEntry {
    NewAuditEntry {
        at,
        actor_id: actor.id,
        action: action.to_string(),
        target_type: Some(target.0.to_string()),
        target_id: Some(target.1),
        ip: actor.ip.clone(),
        details,
    }
}

async fn load_payment(conn: &mut Conn, id: i64, lock: bool) -> StoreResult<Option<PaymentRecord>> {
    let query = format!("SELECT {} FROM payments WHERE id = $1{}", sql::PAYMENT_COLUMNS, if lock { FOR_UPDATE } else { "" });
    let row: Option<PaymentRow> = sqlx::query_as(&query).bind(id).fetch_optional(&mut *conn).await?;
    row.map(TryInto::try_into).transpose()
}

async fn load_refund(conn: &mut Conn, id: i64, lock: bool) -> StoreResult<Option<RefundRecord>> {
    let query = format!("SELECT {} FROM refunds WHERE id = $1{}", sql::REFUND_COLUMNS, if lock { FOR_UPDATE } else { "" });
    let row: Option<RefundRow> = sqlx::query_as(&query).bind(id).fetch_optional(&mut *conn).await?;
    row.map(TryInto::try_into).transpose()
}

async fn payable_order(conn: &mut Conn, id: i64) -> StoreResult<Option<PayableOrder>> {
    let query = format!("{}{}", sql::SELECT_ORDER_FOR_PAYMENT, FOR_UPDATE);
    Ok(sqlx::query_as(&query).bind(id).fetch_optional(&mut *conn).await?)
}

async fn insert_order_event(
    conn: &mut Conn,
    order: i64,
    from: OrderStatus,
    to: OrderStatus,
    actor: &Actor,
    reason: &str,
    now: i64,
) -> StoreResult<()> {
    // Through the one writer of order events, so a payment's `paid` (or
    // `refunded`) queues the same mail as any other way of getting there.
    let event = emporium_store::OrderEventRecord {
        from: Some(from),
        to,
        actor_id: actor.id,
        actor: actor.kind.clone(),
        reason: Some(reason.to_string()),
        at: emporium_domain::time::Timestamp::from_millis(now),
    };
    crate::orders::record_order_event(conn, order, &event).await
}

/// Takes every line's stock again for an order cancelled meanwhile, inside
/// a savepoint: all lines or none.
async fn retake_stock(conn: &mut Conn, order: i64, now: i64) -> StoreResult<bool> {
    let lines: Vec<(i64, i64)> =
        sqlx::query_as(order_sql::SELECT_ITEM_QUANTITIES).bind(order).fetch_all(&mut *conn).await?;
    let mut savepoint = sqlx::Connection::begin(&mut *conn).await?;
    for (product, quantity) in lines {
        let taken = sqlx::query(sql::RETAKE_STOCK)
            .bind(product)
            .bind(quantity)
            .bind(now)
            .execute(&mut *savepoint)
            .await?
            .rows_affected();
        if taken == 0 {
            savepoint.rollback().await?;
            return Ok(false);
        }
    }
    savepoint.commit().await?;
    Ok(true)
}

/// The captured half of the payment rule, inside the caller's transaction:
/// the attempt is already marked captured.
async fn settle_capture(
    conn: &mut Conn,
    payment: &PaymentRecord,
    amount: Money,
    currency: &str,
    a: &ApplyPayment,
) -> StoreResult<Effect> {
    let now = a.now.millis();
    let order_id = payment.order_id.get();
    let target = ("order", payment.order_id.to_string());
    let order = payable_order(conn, order_id).await?.ok_or_else(|| anyhow::anyhow!("order {order_id} vanished"))?;
    let details = json!({
        "paymentId": payment.id.to_string(), "provider": payment.provider,
        "amount": amount.to_string(), "currency": currency,
    });
    insert_audit(conn, &audit(&a.actor, a.now, "payment.captured", target.clone(), details.clone())).await?;
    if amount.minor() != order.total_minor || !currency.eq_ignore_ascii_case(&order.currency) {
        let reason = format!(
            "captured {amount} {currency}, but the order's total is {} {}",
            Money::from_minor(order.total_minor),
            order.currency
        );
        sqlx::query(sql::FLAG_PAYMENT).bind(payment.id.get()).bind(&reason).bind(now).execute(&mut *conn).await?;
        let details = json!({ "paymentId": payment.id.to_string(), "reason": reason });
        insert_audit(conn, &audit(&a.actor, a.now, "payment.amount_mismatch", target, details)).await?;
        return Ok(Effect::ReviewNeeded);
    }
    let (status, payment_status, method) = (order.status()?, order.payment_status()?, order.method()?);
    let provider = payment.provider.as_str();
    let reason = format!("paid with {provider}");
    let pay = |from: OrderStatus, to: OrderStatus| {
        sqlx::query(sql::PAY_ORDER)
            .bind(order_id)
            .bind(from.as_str())
            .bind(to.as_str())
            .bind(provider.to_string())
            .bind(now)
    };
    if payment_status != PaymentStatus::Unpaid {
        // Paid already (another attempt got there first) or refunded: this money cannot be kept.
        let details = json!({ "paymentId": payment.id.to_string(), "reason": "the order was already paid" });
        insert_audit(conn, &audit(&a.actor, a.now, "payment.refund_due", target, details)).await?;
        return Ok(Effect::RefundDue);
    }
    match status {
        OrderStatus::Pending => {
            pay(OrderStatus::Pending, OrderStatus::Paid).execute(&mut *conn).await?;
            insert_order_event(conn, order_id, OrderStatus::Pending, OrderStatus::Paid, &a.actor, &reason, now).await?;
            let details = json!({ "from": "pending", "to": "paid", "by": a.actor.kind, "paymentId": payment.id.to_string() });
            insert_audit(conn, &audit(&a.actor, a.now, "order.status_changed", target, details)).await?;
            Ok(Effect::OrderPaid)
        }
        // A manual order may be processed and shipped before it is paid:
        // paying it leaves its status alone.
        OrderStatus::Processing | OrderStatus::Shipped | OrderStatus::Delivered
            if method == Some(PaymentMethod::Manual) =>
        {
            pay(status, status).execute(&mut *conn).await?;
            Ok(Effect::OrderPaid)
        }
        OrderStatus::Cancelled => {
            if retake_stock(conn, order_id, now).await? {
                pay(OrderStatus::Cancelled, OrderStatus::Paid).execute(&mut *conn).await?;
                let why = format!("paid with {provider} after it was cancelled; its stock was taken again");
                insert_order_event(conn, order_id, OrderStatus::Cancelled, OrderStatus::Paid, &a.actor, &why, now)
                    .await?;
                let details = json!({ "from": "cancelled", "to": "paid", "by": a.actor.kind, "paymentId": payment.id.to_string() });
                insert_audit(conn, &audit(&a.actor, a.now, "payment.order_revived", target, details)).await?;
                Ok(Effect::OrderRevived)
            } else {
                let details = json!({ "paymentId": payment.id.to_string(), "reason": "the order was cancelled and its stock is gone" });
                insert_audit(conn, &audit(&a.actor, a.now, "payment.refund_due", target, details)).await?;
                Ok(Effect::RefundDue)
            }
        }
        other => {
            let details = json!({ "paymentId": payment.id.to_string(), "reason": format!("the order is {other}") });
            insert_audit(conn, &audit(&a.actor, a.now, "payment.refund_due", target, details)).await?;
            Ok(Effect::RefundDue)
        }
    }
}

#[async_trait]
impl PaymentStore for Backend {
    async fn start_attempt(&self, n: &NewAttempt) -> StoreResult<StartOutcome> {
        let mut tx = self.writer().begin().await?;
        let Some(order) = payable_order(&mut tx, n.order_id.get()).await? else {
            return Ok(StartOutcome::OrderNotFound);
        };
        if let Some(live) = live(&mut tx, n.order_id).await? {
            return Ok(StartOutcome::Live(live));
        }
        let (status, payment_status) = (order.status()?, order.payment_status()?);
        if status != OrderStatus::Pending || payment_status != PaymentStatus::Unpaid {
            return Ok(StartOutcome::NotPayable { status, payment_status });
        }
        let now = n.now.millis();
        let id: i64 = sqlx::query_scalar(sql::INSERT_PAYMENT)
            .bind(n.order_id.get())
            .bind(n.method.as_str())
            .bind(order.total_minor)
            .bind(&order.currency)
            .bind(n.expires_at.map(Timestamp::millis))
            .bind(now)
            .fetch_one(&mut *tx)
            .await?;
        sqlx::query(sql::SET_PAYMENT_METHOD).bind(n.order_id.get()).bind(n.method.as_str()).bind(now).execute(&mut *tx).await?;
        let details = json!({ "paymentId": id.to_string(), "provider": n.method.as_str() });
        insert_audit(&mut tx, &audit(&n.actor, n.now, "payment.started", ("order", n.order_id.to_string()), details)).await?;
        let payment = load_payment(&mut tx, id, false).await?.ok_or_else(|| anyhow::anyhow!("payment {id} vanished"))?;
        tx.commit().await?;
        Ok(StartOutcome::Started(payment))
    }

    async fn record_session(
        &self,
        id: PaymentId,
        reference: &str,
        checkout_url: &str,
        expires_at: Option<Timestamp>,
        now: Timestamp,
    ) -> StoreResult<Option<PaymentRecord>> {
        let mut conn = self.writer().acquire().await?;
        sqlx::query(sql::RECORD_SESSION)
            .bind(id.get())
            .bind(reference)
            .bind(checkout_url)
            .bind(expires_at.map(Timestamp::millis))
            .bind(now.millis())
            .execute(&mut *conn)
            .await?;
        load_payment(&mut conn, id.get(), false).await
    }

    async fn payment(&self, id: PaymentId) -> StoreResult<Option<PaymentRecord>> {
        let mut conn = self.reader().acquire().await?;
        load_payment(&mut conn, id.get(), false).await
    }

    async fn payment_by_reference(&self, provider: &str, reference: &str) -> StoreResult<Option<PaymentRecord>> {
        let query = format!("SELECT {} FROM payments WHERE provider = $1 AND reference = $2", sql::PAYMENT_COLUMNS);
        let row: Option<PaymentRow> =
            sqlx::query_as(&query).bind(provider).bind(reference).fetch_optional(self.writer()).await?;
        row.map(TryInto::try_into).transpose()
    }

    async fn live_payment(&self, order: OrderId) -> StoreResult<Option<PaymentRecord>> {
        let mut conn = self.writer().acquire().await?;
        live(&mut conn, order).await
    }

    async fn order_payments(&self, order: OrderId) -> StoreResult<(Vec<PaymentRecord>, Vec<RefundRecord>)> {
        let mut conn = self.reader().acquire().await?;
        let query = format!("SELECT {} FROM payments WHERE order_id = $1 ORDER BY id", sql::PAYMENT_COLUMNS);
        let rows: Vec<PaymentRow> = sqlx::query_as(&query).bind(order.get()).fetch_all(&mut *conn).await?;
        let query = format!(
            "SELECT {} FROM refunds WHERE payment_id IN (SELECT id FROM payments WHERE order_id = $1) ORDER BY id",
            sql::REFUND_COLUMNS
        );
        let refunds: Vec<RefundRow> = sqlx::query_as(&query).bind(order.get()).fetch_all(&mut *conn).await?;
        Ok((
            rows.into_iter().map(TryInto::try_into).collect::<StoreResult<_>>()?,
            refunds.into_iter().map(TryInto::try_into).collect::<StoreResult<_>>()?,
        ))
    }

    async fn apply_payment(&self, a: &ApplyPayment) -> StoreResult<Option<ApplyOutcome>> {
        let now = a.now.millis();
        let mut tx = self.writer().begin().await?;
        let mut duplicate = false;
        if let Some(event) = &a.event {
            // A concurrent delivery of the same event waits here for this
            // one's commit, then finds the event recorded.
            let recorded = sqlx::query(sql::INSERT_EVENT)
                .bind(&event.provider)
                .bind(&event.event_id)
                .bind(a.payment_id.get())
                .bind(&event.kind)
                .bind(now)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            duplicate = recorded == 0;
        }
        let Some(payment) = load_payment(&mut tx, a.payment_id.get(), true).await? else {
            return Ok(None);
        };
        let next = match &a.observed {
            Observed::Pending => None,
            Observed::Captured { .. } => Some(AttemptStatus::Captured),
            Observed::Failed { .. } => Some(AttemptStatus::Failed),
            Observed::Canceled => Some(AttemptStatus::Canceled),
            Observed::Expired => Some(AttemptStatus::Expired),
        };
        let moves = next.filter(|next| !duplicate && payment.status.can_become(*next));
        let Some(next) = moves else {
            // Nothing to change; leave no trace, so a later delivery of the
            // same event (with newer news at the provider) is still heard.
            drop(tx);
            let mut conn = self.writer().acquire().await?;
            let order = load_order(&mut conn, payment.order_id.get(), true)
                .await?
                .ok_or_else(|| anyhow::anyhow!("order of payment {} vanished", payment.id))?;
            return Ok(Some(ApplyOutcome { effect: Effect::Nothing, duplicate, payment, order }));
        };
        let effect = match &a.observed {
            Observed::Captured { amount, currency, capture_reference } => {
                sqlx::query(sql::CAPTURE_PAYMENT)
                    .bind(payment.id.get())
                    .bind(amount.minor())
                    .bind(capture_reference)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                settle_capture(&mut tx, &payment, *amount, currency, a).await?
            }
            other => {
                let reason = match other {
                    Observed::Failed { reason } => Some(reason.as_str()),
                    _ => None,
                };
                sqlx::query(sql::CLOSE_PAYMENT)
                    .bind(payment.id.get())
                    .bind(next.as_str())
                    .bind(reason)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                let details = json!({ "paymentId": payment.id.to_string(), "provider": payment.provider, "reason": reason });
                let action = format!("payment.{next}");
                insert_audit(&mut tx, &audit(&a.actor, a.now, &action, ("order", payment.order_id.to_string()), details))
                    .await?;
                Effect::Closed
            }
        };
        let payment =
            load_payment(&mut tx, payment.id.get(), false).await?.ok_or_else(|| anyhow::anyhow!("payment vanished"))?;
        let order = load_order(&mut tx, payment.order_id.get(), true)
            .await?
            .ok_or_else(|| anyhow::anyhow!("order of payment {} vanished", payment.id))?;
        tx.commit().await?;
        Ok(Some(ApplyOutcome { effect, duplicate, payment, order }))
    }

    async fn stale_pending_payments(&self, before: Timestamp, limit: u32) -> StoreResult<Vec<PaymentRecord>> {
        let query = format!(
            "SELECT {} FROM payments WHERE status = 'pending' AND provider <> 'manual' AND created_at < $1 \
             ORDER BY created_at, id LIMIT $2",
            sql::PAYMENT_COLUMNS
        );
        let rows: Vec<PaymentRow> =
            sqlx::query_as(&query).bind(before.millis()).bind(i64::from(limit)).fetch_all(self.reader()).await?;
        rows.into_iter().map(TryInto::try_into).collect()
    }

    async fn reserve_refund(&self, r: &NewRefund) -> StoreResult<Option<RefundRecord>> {
        let now = r.now.millis();
        let mut tx = self.writer().begin().await?;
        let reserved = sqlx::query(sql::RESERVE_REFUND)
            .bind(r.payment_id.get())
            .bind(r.amount.minor())
            .bind(now)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if reserved == 0 {
            return Ok(None);
        }
        let id: i64 = sqlx::query_scalar(sql::INSERT_REFUND)
            .bind(r.payment_id.get())
            .bind(r.amount.minor())
            .bind(&r.reason)
            .bind(r.actor.id.map(|u| u.get()))
            .bind(r.restock)
            .bind(now)
            .fetch_one(&mut *tx)
            .await?;
        let payment = load_payment(&mut tx, r.payment_id.get(), false).await?.ok_or_else(|| anyhow::anyhow!("payment vanished"))?;
        let details = json!({
            "paymentId": r.payment_id.to_string(), "refundId": id.to_string(),
            "amount": r.amount.to_string(), "reason": r.reason,
        });
        insert_audit(&mut tx, &audit(&r.actor, r.now, "payment.refund_requested", ("order", payment.order_id.to_string()), details))
            .await?;
        let refund = load_refund(&mut tx, id, false).await?.ok_or_else(|| anyhow::anyhow!("refund vanished"))?;
        tx.commit().await?;
        Ok(Some(refund))
    }

    async fn finish_refund(&self, id: RefundId, result: &RefundResult, now: Timestamp) -> StoreResult<RefundRecord> {
        let mut tx = self.writer().begin().await?;
        let refund = load_refund(&mut tx, id.get(), true).await?.ok_or_else(|| anyhow::anyhow!("refund {id} vanished"))?;
        if refund.status != RefundStatus::Pending {
            return Ok(refund);
        }
        let payment =
            load_payment(&mut tx, refund.payment_id.get(), false).await?.ok_or_else(|| anyhow::anyhow!("payment vanished"))?;
        let system = Actor { id: refund.actor_id, kind: "system".into(), ip: None };
        let (action, details) = match result {
            RefundResult::Succeeded { reference } => {
                sqlx::query(sql::REFUND_SUCCEEDED).bind(id.get()).bind(reference).bind(now.millis()).execute(&mut *tx).await?;
                ("payment.refunded", json!({ "refundId": id.to_string(), "amount": refund.amount.to_string(), "reference": reference }))
            }
            RefundResult::Failed { reason } => {
                sqlx::query(sql::REFUND_FAILED).bind(id.get()).bind(reason).bind(now.millis()).execute(&mut *tx).await?;
                sqlx::query(sql::RELEASE_REFUND)
                    .bind(refund.payment_id.get())
                    .bind(refund.amount.minor())
                    .bind(now.millis())
                    .execute(&mut *tx)
                    .await?;
                ("payment.refund_failed", json!({ "refundId": id.to_string(), "reason": reason }))
            }
        };
        insert_audit(&mut tx, &audit(&system, now, action, ("order", payment.order_id.to_string()), details)).await?;
        let refund = load_refund(&mut tx, id.get(), false).await?.ok_or_else(|| anyhow::anyhow!("refund vanished"))?;
        tx.commit().await?;
        Ok(refund)
    }

    async fn stale_pending_refunds(&self, before: Timestamp, limit: u32) -> StoreResult<Vec<RefundRecord>> {
        let query = format!(
            "SELECT {} FROM refunds WHERE status = 'pending' AND created_at < $1 ORDER BY created_at, id LIMIT $2",
            sql::REFUND_COLUMNS
        );
        let rows: Vec<RefundRow> =
            sqlx::query_as(&query).bind(before.millis()).bind(i64::from(limit)).fetch_all(self.reader()).await?;
        rows.into_iter().map(TryInto::try_into).collect()
    }

    async fn open_test_session(&self, s: &TestSession) -> StoreResult<TestSession> {
        let mut conn = self.writer().acquire().await?;
        sqlx::query(sql::INSERT_TEST_SESSION)
            .bind(&s.reference)
            .bind(&s.payment_id)
            .bind(&s.order_id)
            .bind(s.amount.minor())
            .bind(&s.currency)
            .bind(&s.success_url)
            .bind(&s.cancel_url)
            .bind(s.expires_at.millis())
            .bind(s.created_at.millis())
            .execute(&mut *conn)
            .await?;
        let query = format!("SELECT {} FROM test_payment_sessions WHERE payment_id = $1", sql::TEST_SESSION_COLUMNS);
        let row: TestSessionRow = sqlx::query_as(&query).bind(&s.payment_id).fetch_one(&mut *conn).await?;
        Ok(row.into())
    }

    async fn test_session(&self, reference: &str) -> StoreResult<Option<TestSession>> {
        let query = format!("SELECT {} FROM test_payment_sessions WHERE reference = $1", sql::TEST_SESSION_COLUMNS);
        let row: Option<TestSessionRow> = sqlx::query_as(&query).bind(reference).fetch_optional(self.writer()).await?;
        Ok(row.map(Into::into))
    }

    async fn close_test_session(&self, reference: &str, to: &str) -> StoreResult<bool> {
        let n = sqlx::query(sql::CLOSE_TEST_SESSION).bind(reference).bind(to).execute(self.writer()).await?.rows_affected();
        Ok(n > 0)
    }

    async fn pay_test_session(&self, reference: &str, now: Timestamp) -> StoreResult<bool> {
        let n = sqlx::query(sql::PAY_TEST_SESSION).bind(reference).bind(now.millis()).execute(self.writer()).await?.rows_affected();
        Ok(n > 0)
    }

    async fn refund_test_session(&self, reference: &str, amount: Money) -> StoreResult<Option<Money>> {
        let total: Option<i64> = sqlx::query_scalar(sql::REFUND_TEST_SESSION)
            .bind(reference)
            .bind(amount.minor())
            .fetch_optional(self.writer())
            .await?;
        Ok(total.map(Money::from_minor))
    }
}

async fn live(conn: &mut Conn, order: OrderId) -> StoreResult<Option<PaymentRecord>> {
    let query = format!("SELECT {} FROM payments WHERE order_id = $1 AND status = 'pending'", sql::PAYMENT_COLUMNS);
    let row: Option<PaymentRow> = sqlx::query_as(&query).bind(order.get()).fetch_optional(&mut *conn).await?;
    row.map(TryInto::try_into).transpose()
}
