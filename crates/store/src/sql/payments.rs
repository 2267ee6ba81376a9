//! Payment SQL both backends share. Row locks differ (see each backend's
//! `FOR_UPDATE`), and are appended by the shared code.

pub const PAYMENT_COLUMNS: &str = "id, order_id, provider, reference, status, amount_minor, currency, checkout_url, expires_at, \
     captured_minor, capture_reference, refunded_minor, needs_review, review_reason, failure_reason, created_at, updated_at, version";
pub const REFUND_COLUMNS: &str =
    "id, payment_id, amount_minor, status, reference, reason, actor_id, restock, created_at, updated_at";
pub const TEST_SESSION_COLUMNS: &str = "reference, payment_id, order_id, amount_minor, currency, status, refunded_minor, success_url, \
     cancel_url, expires_at, created_at";

/// The order as checkout judges it; the caller appends the backend's row lock.
pub const SELECT_ORDER_FOR_PAYMENT: &str =
    "SELECT status, payment_status, payment_method, total_minor, currency FROM orders WHERE id = $1";
pub const INSERT_PAYMENT: &str = "INSERT INTO payments (order_id, provider, status, amount_minor, currency, expires_at, created_at, updated_at) \
     VALUES ($1, $2, 'pending', $3, $4, $5, $6, $6) RETURNING id";
pub const SET_PAYMENT_METHOD: &str =
    "UPDATE orders SET payment_method = $2, updated_at = $3, version = version + 1 WHERE id = $1";
pub const RECORD_SESSION: &str = "UPDATE payments SET reference = $2, checkout_url = $3, expires_at = COALESCE($4, expires_at), \
     updated_at = $5, version = version + 1 WHERE id = $1 AND reference IS NULL";
pub const INSERT_EVENT: &str = "INSERT INTO payment_events (provider, event_id, payment_id, kind, received_at) VALUES ($1, $2, $3, $4, $5) \
     ON CONFLICT (provider, event_id) DO NOTHING";
pub const CAPTURE_PAYMENT: &str = "UPDATE payments SET status = 'captured', captured_minor = $2, capture_reference = $3, failure_reason = NULL, \
     updated_at = $4, version = version + 1 WHERE id = $1 AND status <> 'captured'";
pub const CLOSE_PAYMENT: &str = "UPDATE payments SET status = $2, failure_reason = $3, updated_at = $4, version = version + 1 \
     WHERE id = $1 AND status = 'pending'";
pub const FLAG_PAYMENT: &str =
    "UPDATE payments SET needs_review = TRUE, review_reason = $2, updated_at = $3 WHERE id = $1";
/// Pays a pending (or, for a manual order, processing/shipped/delivered)
/// unpaid order; `$2` is the status it is at, `$3` the status it goes to.
pub const PAY_ORDER: &str = "UPDATE orders SET status = $3, payment_status = 'paid', payment_method = $4, updated_at = $5, \
     version = version + 1 WHERE id = $1 AND status = $2 AND payment_status = 'unpaid'";
/// Takes stock back for an order revived by a late payment: any stock
/// there is will do (the price was paid as ordered).
pub const RETAKE_STOCK: &str =
    "UPDATE products SET stock = stock - $2, version = version + 1, updated_at = $3 WHERE id = $1 AND stock >= $2";
pub const RESERVE_REFUND: &str = "UPDATE payments SET refunded_minor = refunded_minor + $2, updated_at = $3, version = version + 1 \
     WHERE id = $1 AND status = 'captured' AND captured_minor - refunded_minor >= $2";
pub const INSERT_REFUND: &str = "INSERT INTO refunds (payment_id, amount_minor, status, reason, actor_id, restock, created_at, updated_at) \
     VALUES ($1, $2, 'pending', $3, $4, $5, $6, $6) RETURNING id";
pub const REFUND_SUCCEEDED: &str =
    "UPDATE refunds SET status = 'succeeded', reference = $2, updated_at = $3 WHERE id = $1 AND status = 'pending'";
pub const REFUND_FAILED: &str = "UPDATE refunds SET status = 'failed', reason = reason || ': ' || $2, updated_at = $3 \
     WHERE id = $1 AND status = 'pending'";
pub const RELEASE_REFUND: &str = "UPDATE payments SET refunded_minor = refunded_minor - $2, updated_at = $3, version = version + 1 \
     WHERE id = $1";

pub const INSERT_TEST_SESSION: &str = "INSERT INTO test_payment_sessions (reference, payment_id, order_id, amount_minor, currency, status, \
     success_url, cancel_url, expires_at, created_at) VALUES ($1, $2, $3, $4, $5, 'open', $6, $7, $8, $9) \
     ON CONFLICT (payment_id) DO NOTHING";
pub const CLOSE_TEST_SESSION: &str =
    "UPDATE test_payment_sessions SET status = $2 WHERE reference = $1 AND status = 'open'";
/// Paying needs the session open and not past its time.
pub const PAY_TEST_SESSION: &str =
    "UPDATE test_payment_sessions SET status = 'paid' WHERE reference = $1 AND status = 'open' AND expires_at > $2";
pub const REFUND_TEST_SESSION: &str = "UPDATE test_payment_sessions SET refunded_minor = refunded_minor + $2 \
     WHERE reference = $1 AND status = 'paid' AND amount_minor - refunded_minor >= $2 RETURNING refunded_minor";
