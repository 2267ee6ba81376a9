//! Adapters to the payment providers Emporium takes money through.
//!
//! One small trait, [`PaymentProvider`], with an implementation per provider
//! (Stripe Checkout, PayPal Orders v2). The service layer depends on the trait;
//! the server wires the implementations chosen by configuration. Nothing here
//! knows about the store, orders' lifecycle or HTTP routing: an adapter turns
//! "take this amount for this attempt" into the provider's wire format, and
//! the provider's answers back into [`ProviderState`].
//!
//! Amounts cross this boundary as the domain's [`Money`] (hundredths of the
//! store currency's major unit) plus the ISO 4217 currency code; each adapter
//! converts to the provider's minor units (JPY has none, BHD has three), in
//! one place: [`currency`].
//!
//! With the `fake` feature, [`fake`] holds contract-faithful fakes of both
//! providers (HTTP servers on 127.0.0.1) for tests that must not reach the
//! internet.

use async_trait::async_trait;
use emporium_domain::money::Money;

pub mod currency;
#[cfg(feature = "fake")]
pub mod fake;
pub mod paypal;
pub mod stripe;
mod wire;

pub use paypal::{PayPalConfig, PayPalProvider};
pub use stripe::{StripeConfig, StripeProvider};

/// A provider's configuration that cannot work (a base that is not a URL, a
/// zero timeout): reported once at start, with what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("payment provider configuration: {0}")]
pub struct ConfigError(pub String);

/// One line of what is being paid for, as the buyer sees it at the provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckoutLine {
    pub name: String,
    /// The price of one unit after its discount.
    pub unit_amount: Money,
    pub quantity: i64,
}

/// Everything a provider needs to open a checkout for one payment attempt.
#[derive(Debug, Clone)]
pub struct CheckoutRequest {
    /// Our payment attempt's id: carried in the provider's metadata and the
    /// root of every idempotency key sent for this attempt.
    pub payment_id: String,
    /// Our order's id, carried as the provider's client reference.
    pub order_id: String,
    /// The total to take; equals the sum of `lines` (unit amount × quantity).
    pub amount: Money,
    /// ISO 4217, upper case.
    pub currency: String,
    pub lines: Vec<CheckoutLine>,
    pub customer_email: Option<String>,
    /// Where the provider sends the buyer after paying. For Stripe it may
    /// contain `{CHECKOUT_SESSION_ID}`, which Stripe fills in.
    pub success_url: String,
    /// Where the provider sends a buyer who gives up.
    pub cancel_url: String,
    /// Unix seconds after which the session must no longer accept payment.
    pub expires_at: i64,
    /// Unix seconds when our payment attempt was created; fixed for the
    /// attempt. Whatever an adapter derives from time (Stripe's clamped
    /// `expires_at`) is derived from this, so every retry under the
    /// attempt's idempotency key sends identical parameters.
    pub created_at: i64,
}

impl CheckoutRequest {
    /// What the lines add up to (unit amount × quantity), or `None` when a
    /// quantity is not positive or the sum overflows.
    pub fn lines_total(&self) -> Option<Money> {
        self.lines.iter().try_fold(Money::ZERO, |total, line| {
            if line.quantity <= 0 {
                return None;
            }
            total.checked_add(line.unit_amount.checked_mul(line.quantity)?)
        })
    }

    /// The adapters' shared precondition: the lines are not empty and add up
    /// to the amount, so the provider shows the buyer exactly what is taken.
    pub(crate) fn check_lines(&self) -> Result<(), ProviderError> {
        if self.lines.is_empty() {
            return Err(ProviderError::Rejected("a checkout needs at least one line".into()));
        }
        match self.lines_total() {
            Some(total) if total == self.amount => Ok(()),
            Some(total) => Err(ProviderError::Rejected(format!(
                "the lines add up to {total} but the amount to take is {}",
                self.amount
            ))),
            None => Err(ProviderError::Rejected("a line has a quantity below 1 or the total overflows".into())),
        }
    }
}

/// A checkout opened at the provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// The provider's id for it (Stripe `cs_…`, PayPal order id): unique per provider.
    pub reference: String,
    /// Where to send the buyer to pay.
    pub redirect_url: String,
    /// Unix seconds, when the provider says it expires.
    pub expires_at: Option<i64>,
}

/// What the provider says about a session, which is the only truth Emporium
/// acts on: never query parameters or an unverified body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProviderState {
    /// Not paid yet (open, awaiting approval, or an asynchronous method still processing).
    Pending,
    /// Money was captured.
    Captured {
        amount: Money,
        currency: String,
        /// What a refund is made against: Stripe's payment intent, PayPal's capture id.
        capture_reference: String,
    },
    /// The buyer's payment failed (for example an asynchronous debit bounced).
    Failed { reason: String },
    /// The session was cancelled or voided before payment.
    Canceled,
    /// The session's time ran out.
    Expired,
}

/// A verified webhook delivery, reduced to what the payment rule needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookEvent {
    /// The provider's event id: a redelivery carries the same one.
    pub event_id: String,
    /// The provider's event type (`checkout.session.completed`, …).
    pub kind: String,
    /// The session it is about, when it is about one this adapter handles;
    /// `None` for events that are acknowledged and ignored.
    pub session_reference: Option<String>,
}

/// A refund accepted by the provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refund {
    /// The provider's refund id.
    pub reference: String,
    pub amount: Money,
    /// `succeeded`, `pending`, … as the provider words it.
    pub status: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    /// The provider could not be reached, timed out, or answered 5xx: the
    /// caller answers 502 and changes nothing; retrying later is safe.
    #[error("the payment provider is unavailable: {0}")]
    Unavailable(String),
    /// The provider refused the request (4xx). The message is the provider's.
    #[error("the payment provider refused the request: {0}")]
    Rejected(String),
    /// The provider does not know this session, capture or refund.
    #[error("the payment provider does not know {0}")]
    NotFound(String),
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum WebhookError {
    #[error("missing signature header")]
    MissingSignature,
    #[error("signature does not match")]
    BadSignature,
    #[error("signature timestamp is outside the tolerance")]
    StaleTimestamp,
    #[error("malformed webhook body: {0}")]
    Malformed(String),
    #[error("this provider does not take webhooks here")]
    Unsupported,
}

/// A payment provider Emporium can take money through.
#[async_trait]
pub trait PaymentProvider: Send + Sync + 'static {
    /// `stripe`, `paypal`: stored with each attempt.
    fn name(&self) -> &'static str;

    /// Opens a checkout for `request`. Idempotent per `request.payment_id`:
    /// a retry after a lost answer gets the same session, never a second one.
    async fn create_session(&self, request: &CheckoutRequest) -> Result<Session, ProviderError>;

    /// Reads the session's state from the provider.
    async fn session_state(&self, reference: &str) -> Result<ProviderState, ProviderError>;

    /// Completes a session the buyer has approved, where the provider needs
    /// that step (PayPal's capture), and returns the resulting state. Safe to
    /// call any number of times: `idempotency_key` makes a repeat return the
    /// first result. Providers that capture by themselves (Stripe Checkout)
    /// just read the state.
    async fn confirm(&self, reference: &str, idempotency_key: &str) -> Result<ProviderState, ProviderError>;

    /// Stops a session from accepting payment (Stripe: expire). A session that
    /// is already complete or expired is not an error: read its state after.
    async fn cancel(&self, reference: &str) -> Result<(), ProviderError>;

    /// Refunds `amount` (all that is left when `None`) of a capture.
    async fn refund(
        &self,
        capture_reference: &str,
        amount: Option<Money>,
        currency: &str,
        idempotency_key: &str,
    ) -> Result<Refund, ProviderError>;

    /// Verifies a webhook delivery's signature over its raw body and parses
    /// it. `now` is Unix seconds, passed in so tests can pin the clock.
    fn verify_webhook(&self, headers: &http::HeaderMap, body: &[u8], now: i64) -> Result<WebhookEvent, WebhookError>;
}
