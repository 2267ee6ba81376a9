//! Writing an order, on PostgreSQL: one statement, so one round trip.
//!
//! Taking the stock of every line, the order, its items, first event,
//! idempotency claim, audit entry and confirmation mail, and emptying the cart are
//! data-modifying CTEs of a single statement, which PostgreSQL runs
//! atomically (and in autocommit, so it commits at once). Row locks on the products are held only from that statement
//! to its commit, not across a dozen round trips, so buyers of a popular
//! product queue behind each other for far less time.

use emporium_domain::ids::OrderId;
use emporium_domain::orders::OrderStatus;
use emporium_store::{NewOrder, StoreResult};

use crate::PostgresStore;

/// The products of every line are locked first, in product-id order, so
/// concurrent orders sharing products queue rather than deadlock. Locking
/// re-checks each row as it now is: only a product that is live, available,
/// has enough stock and still has the price and discount the line was priced
/// at is locked. Unless every line's product was, nothing is written (each
/// write below is conditional on `ready`) and the statement returns no row.
/// The update itself needs no guard: the rows it changes are the ones locked
/// and checked (and `CHECK (stock >= 0)` would refuse it anyway).
///
/// Price and discount are compared with `IS NOT DISTINCT FROM` (both columns
/// are NOT NULL, so it means `=`) because no index serves it: with `=`, a
/// generic plan may reach the rows through the discount index and scan every
/// product with that discount, instead of one primary-key lookup per line.
const PLACE_ORDER: &str = "\
WITH line AS (
    SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::bigint[])
        AS l (product_id, quantity, unit_price_minor, discount_bp)
), locked AS (
    SELECT p.id FROM products p JOIN line ON p.id = line.product_id
    WHERE p.deleted_at IS NULL AND p.available AND p.stock >= line.quantity
        AND (p.price_minor, p.discount_bp) IS NOT DISTINCT FROM (line.unit_price_minor, line.discount_bp)
    ORDER BY p.id
    FOR NO KEY UPDATE OF p
), ready AS (
    SELECT count(*) = cardinality($1::bigint[]) AS every_line FROM locked
), taken AS (
    UPDATE products p
    SET stock = p.stock - line.quantity, version = p.version + 1, updated_at = $5
    FROM line, ready
    WHERE p.id = line.product_id AND ready.every_line
    RETURNING p.id
), placed AS (
    INSERT INTO orders (user_id, email, email_key, status, payment_status, currency, subtotal_minor,
        discount_total_minor, total_minor, shipping_address, notes, created_at, updated_at, version, access_token_hash)
    SELECT $6, $7, $8, $18, 'unpaid', $9, $10, $11, $12, $13, $14, $5, $5, 0, $30 FROM ready WHERE ready.every_line
    RETURNING id
), items AS (
    INSERT INTO order_items (order_id, product_id, name, quantity, unit_price_minor, discount_bp,
        unit_sell_price_minor, line_total_minor)
    SELECT placed.id, i.product_id, i.name, i.quantity, i.unit_price_minor, i.discount_bp,
        i.unit_sell_price_minor, i.line_total_minor
    FROM placed, unnest($1::bigint[], $15::text[], $2::bigint[], $3::bigint[], $4::bigint[], $16::bigint[],
        $17::bigint[]) AS i (product_id, name, quantity, unit_price_minor, discount_bp, unit_sell_price_minor,
        line_total_minor)
), event AS (
    INSERT INTO order_events (order_id, from_status, to_status, actor_id, actor, reason, at)
    SELECT placed.id, NULL, $18, $6, $19, NULL, $5 FROM placed
), claim AS (
    INSERT INTO idempotency_keys (scope, key, request_hash, order_id, created_at)
    SELECT $20, $21, $22, placed.id, $5 FROM placed WHERE $21::text IS NOT NULL
), emptied AS (
    DELETE FROM cart_items WHERE cart_id = $23 AND EXISTS (SELECT 1 FROM placed)
), audited AS (
    INSERT INTO audit_log (at, actor_id, action, target_type, target_id, ip, details)
    SELECT $24, $25, $26, $27, placed.id::text, $28, $29 FROM placed
), mailed AS (
    INSERT INTO outbox (mail_key, kind, to_address, to_key, to_name, payload, sensitive, status, attempts,
        next_attempt_at, created_at, updated_at)
    SELECT $31 || placed.id || $32, $33, $34, $35, $36,
        jsonb_set(CAST($37::text AS jsonb), '{order,orderId}', to_jsonb(placed.id))::text, $38, 'pending', 0, $5, $5, $5
    FROM placed WHERE $37::text IS NOT NULL
    ON CONFLICT (mail_key) DO NOTHING
)
SELECT placed.id FROM placed";

/// Takes the stock and records the order; `None`, with nothing changed, if
/// some line could not be taken as priced.
pub(crate) async fn write_order(store: &PostgresStore, o: &NewOrder) -> StoreResult<Option<i64>> {
    let items = &o.items;
    let product_ids: Vec<i64> = items.iter().map(|i| i.product_id.get()).collect();
    let quantities: Vec<i64> = items.iter().map(|i| i.quantity).collect();
    let unit_prices: Vec<i64> = items.iter().map(|i| i.unit_price.minor()).collect();
    let discounts: Vec<i64> = items.iter().map(|i| i.discount.basis_points()).collect();
    let names: Vec<&str> = items.iter().map(|i| i.name.as_str()).collect();
    let sell_prices: Vec<i64> = items.iter().map(|i| i.unit_sell_price.minor()).collect();
    let line_totals: Vec<i64> = items.iter().map(|i| i.line_total.minor()).collect();
    let shipping_address = serde_json::to_string(&o.shipping_address)?;
    let claim = o.idempotency.as_ref();
    let audit = &o.audit;
    let details = audit.details.to_string();
    // The confirmation mail, as `record_order_event` queues it on SQLite; its
    // order id (and so its key) is filled in by the statement.
    let mail = emporium_store::mail::placed_mail(&o.placed_record(OrderId::new(0)), o.access_token.as_deref());
    let (key_prefix, key_suffix) = emporium_store::mail::order_mail_key_around(OrderStatus::Pending);
    let payload = mail.as_ref().map(|m| serde_json::to_string(&m.content)).transpose()?;
    Ok(sqlx::query_scalar::<_, i64>(PLACE_ORDER)
        .bind(&product_ids)
        .bind(&quantities)
        .bind(&unit_prices)
        .bind(&discounts)
        .bind(o.now.millis())
        .bind(o.user_id.map(|u| u.get()))
        .bind(&o.email)
        .bind(o.email.to_lowercase())
        .bind(&o.currency)
        .bind(o.totals.subtotal.minor())
        .bind(o.totals.discount_total.minor())
        .bind(o.totals.total.minor())
        .bind(&shipping_address)
        .bind(o.notes.as_deref())
        .bind(&names)
        .bind(&sell_prices)
        .bind(&line_totals)
        .bind(OrderStatus::Pending.as_str())
        .bind(&o.actor)
        .bind(claim.map(|c| c.scope.as_str()))
        .bind(claim.map(|c| c.key.as_str()))
        .bind(claim.map(|c| c.request_hash.as_str()))
        .bind(o.from_cart.map(|c| c.get()))
        .bind(audit.at.millis())
        .bind(audit.actor_id.map(|a| a.get()))
        .bind(&audit.action)
        .bind(audit.target_type.as_deref())
        .bind(audit.ip.as_deref())
        .bind(&details)
        .bind(o.access_token_hash.as_deref())
        .bind(key_prefix)
        .bind(&key_suffix)
        .bind(mail.as_ref().map(|m| m.content.kind()))
        .bind(mail.as_ref().map(|m| m.to_address.clone()))
        .bind(mail.as_ref().map(|m| m.to_address.to_lowercase()))
        .bind(mail.as_ref().and_then(|m| m.to_name.clone()))
        .bind(payload)
        .bind(mail.as_ref().is_some_and(|m| m.content.is_sensitive()))
        .fetch_optional(store.checkout_writer())
        .await?)
}
