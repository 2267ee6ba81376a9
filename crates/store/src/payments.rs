//! Payments: attempts (written before a provider is called), applying what a
//! provider says about them (once, whoever brings the news), refunds, and the
//! sessions of Emporium's own test payment page.

use async_trait::async_trait;
use emporium_domain::ids::{OrderId, PaymentId, RefundId, UserId};
use emporium_domain::money::Money;
use emporium_domain::orders::{OrderStatus, PaymentStatus};
use emporium_domain::payments::{AttemptStatus, PaymentMethod};
use emporium_domain::time::Timestamp;

use crate::{OrderRecord, StoreResult};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentRecord {
    pub id: PaymentId,
    pub order_id: OrderId,
    /// `stripe`, `paypal`, `test` or `manual`.
    pub provider: String,
    /// The provider's session id; `None` until the provider has answered.
    pub reference: Option<String>,
    pub status: AttemptStatus,
    /// What the order asked the provider to take.
    pub amount: Money,
    pub currency: String,
    pub checkout_url: Option<String>,
    pub expires_at: Option<Timestamp>,
    /// What the provider says it captured.
    pub captured: Option<Money>,
    pub capture_reference: Option<String>,
    /// Refunded or being refunded; never more than `captured`.
    pub refunded: Money,
    pub needs_review: bool,
    pub review_reason: Option<String>,
    pub failure_reason: Option<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub version: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefundStatus {
    /// Reserved against the capture; the provider has not confirmed it yet.
    Pending,
    Succeeded,
    Failed,
}

impl RefundStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RefundStatus::Pending => "pending",
            RefundStatus::Succeeded => "succeeded",
            RefundStatus::Failed => "failed",
        }
    }
    pub fn parse(raw: &str) -> Result<Self, String> {
        match raw {
            "pending" => Ok(Self::Pending),
            "succeeded" => Ok(Self::Succeeded),
            "failed" => Ok(Self::Failed),
            _ => Err(format!("unknown refund status {raw:?}")),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefundRecord {
    pub id: RefundId,
    pub payment_id: PaymentId,
    pub amount: Money,
    pub status: RefundStatus,
    pub reference: Option<String>,
    pub reason: String,
    pub actor_id: Option<UserId>,
    /// Whether the order's goods go back on the shelf when it completes a full refund.
    pub restock: bool,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// Who brings the news or makes the change, for order events and the audit log.
#[derive(Debug, Clone)]
pub struct Actor {
    pub id: Option<UserId>,
    /// `user`, `admin`, `guest` or `system`.
    pub kind: String,
    pub ip: Option<String>,
}

/// A checkout about to be opened for an order.
#[derive(Debug, Clone)]
pub struct NewAttempt {
    pub order_id: OrderId,
    pub method: PaymentMethod,
    pub expires_at: Option<Timestamp>,
    pub now: Timestamp,
    pub actor: Actor,
}

#[derive(Debug, Clone)]
pub enum StartOutcome {
    /// A new pending attempt for the order's total; the order's payment
    /// method is now the attempt's.
    Started(PaymentRecord),
    /// The order already has this live attempt; nothing was written.
    Live(PaymentRecord),
    /// Only a pending, unpaid order can be checked out.
    NotPayable {
        status: OrderStatus,
        payment_status: PaymentStatus,
    },
    OrderNotFound,
}

/// A provider's event, recorded so that its redelivery changes nothing.
#[derive(Debug, Clone)]
pub struct ProviderEvent {
    pub provider: String,
    pub event_id: String,
    pub kind: String,
}

/// What the provider says about an attempt, read from the provider itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Observed {
    Pending,
    Captured { amount: Money, currency: String, capture_reference: String },
    Failed { reason: String },
    Canceled,
    Expired,
}

#[derive(Debug, Clone)]
pub struct ApplyPayment {
    pub payment_id: PaymentId,
    pub event: Option<ProviderEvent>,
    pub observed: Observed,
    pub now: Timestamp,
    pub actor: Actor,
}

/// What applying the provider's news did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Nothing changed: a redelivered event, news the attempt already
    /// reflects, or a provider that has nothing new to say.
    Nothing,
    /// The attempt closed without money (failed, canceled, expired).
    Closed,
    /// The order is now paid.
    OrderPaid,
    /// The order had been cancelled meanwhile; its stock was still there and
    /// was taken again, and the order is paid.
    OrderRevived,
    /// The amount or currency captured is not the order's total: the order
    /// stays unpaid and the attempt is marked for review.
    ReviewNeeded,
    /// The money cannot be kept (the order was cancelled and its stock is
    /// gone, or it was already paid by another attempt): refund it all.
    RefundDue,
}

#[derive(Debug, Clone)]
pub struct ApplyOutcome {
    pub effect: Effect,
    /// True when the event had been applied before.
    pub duplicate: bool,
    pub payment: PaymentRecord,
    pub order: OrderRecord,
}

#[derive(Debug, Clone)]
pub struct NewRefund {
    pub payment_id: PaymentId,
    pub amount: Money,
    pub reason: String,
    pub restock: bool,
    pub now: Timestamp,
    pub actor: Actor,
}

/// How the provider answered a refund.
#[derive(Debug, Clone)]
pub enum RefundResult {
    Succeeded {
        reference: String,
    },
    /// The provider refused or could not be reached: the reservation is released.
    Failed {
        reason: String,
    },
}

/// A session of the test provider (Emporium's own payment page).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestSession {
    pub reference: String,
    pub payment_id: String,
    pub order_id: String,
    pub amount: Money,
    pub currency: String,
    /// `open`, `paid`, `canceled` or `expired`.
    pub status: String,
    pub refunded: Money,
    pub success_url: String,
    pub cancel_url: String,
    pub expires_at: Timestamp,
    pub created_at: Timestamp,
}

#[async_trait]
pub trait PaymentStore {
    /// In one transaction: checks the order is pending and unpaid and has no
    /// live attempt, writes a pending attempt for its total, and sets the
    /// order's payment method. A concurrent start for the same order is a
    /// `UniqueViolation` (one live attempt per order), with nothing written.
    async fn start_attempt(&self, attempt: &NewAttempt) -> StoreResult<StartOutcome>;
    /// Records the provider's session for an attempt that had none.
    async fn record_session(
        &self,
        id: PaymentId,
        reference: &str,
        checkout_url: &str,
        expires_at: Option<Timestamp>,
        now: Timestamp,
    ) -> StoreResult<Option<PaymentRecord>>;
    async fn payment(&self, id: PaymentId) -> StoreResult<Option<PaymentRecord>>;
    async fn payment_by_reference(&self, provider: &str, reference: &str) -> StoreResult<Option<PaymentRecord>>;
    /// The order's pending attempt, if any.
    async fn live_payment(&self, order: OrderId) -> StoreResult<Option<PaymentRecord>>;
    /// Every attempt of the order, oldest first, and every refund of them.
    async fn order_payments(&self, order: OrderId) -> StoreResult<(Vec<PaymentRecord>, Vec<RefundRecord>)>;
    /// The one rule, in one transaction: record the event (a redelivery
    /// changes nothing), compare-and-set the attempt, check the amount and
    /// currency against the order's total, and pay the order (with its event
    /// and audit entries) — exactly once, however many deliveries race.
    async fn apply_payment(&self, apply: &ApplyPayment) -> StoreResult<Option<ApplyOutcome>>;
    /// Pending attempts created before `before`, oldest first.
    async fn stale_pending_payments(&self, before: Timestamp, limit: u32) -> StoreResult<Vec<PaymentRecord>>;
    /// Reserves a refund against a captured attempt: `None` (nothing written)
    /// if it would take the refunds past what was captured.
    async fn reserve_refund(&self, refund: &NewRefund) -> StoreResult<Option<RefundRecord>>;
    /// Records the provider's answer to a pending refund; a failure releases
    /// the reservation. Returns the refund as it now is.
    async fn finish_refund(&self, id: RefundId, result: &RefundResult, now: Timestamp) -> StoreResult<RefundRecord>;
    /// Pending refunds created before `before` (their provider call never answered).
    async fn stale_pending_refunds(&self, before: Timestamp, limit: u32) -> StoreResult<Vec<RefundRecord>>;

    /// Opens a test-provider session, or returns the one already opened for
    /// the same payment (the provider's idempotency).
    async fn open_test_session(&self, session: &TestSession) -> StoreResult<TestSession>;
    async fn test_session(&self, reference: &str) -> StoreResult<Option<TestSession>>;
    /// Moves an open session to `canceled` or `expired`; false if it was not open.
    async fn close_test_session(&self, reference: &str, to: &str) -> StoreResult<bool>;
    /// Marks an open session paid if it is not past its time; false otherwise.
    async fn pay_test_session(&self, reference: &str, now: Timestamp) -> StoreResult<bool>;
    /// Adds a refund to a paid session; `None` if it would exceed what was paid.
    async fn refund_test_session(&self, reference: &str, amount: Money) -> StoreResult<Option<Money>>;
}
