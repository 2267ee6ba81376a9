//! The `test` provider: Emporium's own payment page (`/payments/test/{id}`),
//! so checkout can be tried end to end without a provider account. Its
//! sessions live in the database, so every server behind a load balancer
//! agrees on them. Anyone who can reach the page can "pay": it is off unless
//! `EMPORIUM_TEST_PAYMENTS=on`.

use std::sync::Arc;

use async_trait::async_trait;
use emporium_domain::money::Money;
use emporium_domain::time::Timestamp;
use emporium_payments::{
    CheckoutRequest, PaymentProvider, ProviderError, ProviderState, Refund, Session, WebhookError, WebhookEvent,
};
use emporium_store::{Store, StoreError, TestSession};

pub struct TestProvider {
    store: Arc<dyn Store>,
    /// Where the payment page is served: `{public_url}/payments/test/{reference}`.
    public_url: String,
}

impl TestProvider {
    pub fn new(store: Arc<dyn Store>, public_url: &str) -> Self {
        Self { store, public_url: public_url.trim_end_matches('/').to_string() }
    }
}

fn unavailable(e: StoreError) -> ProviderError {
    ProviderError::Unavailable(e.to_string())
}

/// The provider's view of one of its sessions.
pub fn state_of(session: &TestSession, now: Timestamp) -> ProviderState {
    match session.status.as_str() {
        "paid" => ProviderState::Captured {
            amount: session.amount,
            currency: session.currency.clone(),
            capture_reference: session.reference.clone(),
        },
        "canceled" => ProviderState::Canceled,
        "expired" => ProviderState::Expired,
        _ if session.expires_at <= now => ProviderState::Expired,
        _ => ProviderState::Pending,
    }
}

#[async_trait]
impl PaymentProvider for TestProvider {
    fn name(&self) -> &'static str {
        "test"
    }

    async fn create_session(&self, r: &CheckoutRequest) -> Result<Session, ProviderError> {
        let wanted = TestSession {
            reference: format!("tp_{}", crate::tokens::random_token(32)),
            payment_id: r.payment_id.clone(),
            order_id: r.order_id.clone(),
            amount: r.amount,
            currency: r.currency.clone(),
            status: "open".into(),
            refunded: Money::ZERO,
            success_url: r.success_url.clone(),
            cancel_url: r.cancel_url.clone(),
            expires_at: Timestamp::from_millis(r.expires_at.saturating_mul(1000)),
            created_at: Timestamp::now(),
        };
        // Idempotent per payment: a retry finds the session already opened.
        let session = self.store.open_test_session(&wanted).await.map_err(unavailable)?;
        Ok(Session {
            redirect_url: format!("{}/payments/test/{}", self.public_url, session.reference),
            expires_at: Some(session.expires_at.unix_secs()),
            reference: session.reference,
        })
    }

    async fn session_state(&self, reference: &str) -> Result<ProviderState, ProviderError> {
        let session = self.store.test_session(reference).await.map_err(unavailable)?;
        let session = session.ok_or_else(|| ProviderError::NotFound(format!("session {reference}")))?;
        Ok(state_of(&session, Timestamp::now()))
    }

    async fn confirm(&self, reference: &str, _idempotency_key: &str) -> Result<ProviderState, ProviderError> {
        self.session_state(reference).await
    }

    async fn cancel(&self, reference: &str) -> Result<(), ProviderError> {
        self.store.close_test_session(reference, "expired").await.map_err(unavailable)?;
        Ok(())
    }

    async fn refund(
        &self,
        capture_reference: &str,
        amount: Option<Money>,
        _currency: &str,
        idempotency_key: &str,
    ) -> Result<Refund, ProviderError> {
        let session = self.store.test_session(capture_reference).await.map_err(unavailable)?;
        let session = session.ok_or_else(|| ProviderError::NotFound(format!("capture {capture_reference}")))?;
        let amount = amount.unwrap_or(Money::from_minor(session.amount.minor() - session.refunded.minor()));
        match self.store.refund_test_session(capture_reference, amount).await.map_err(unavailable)? {
            Some(_) => Ok(Refund { reference: format!("tr_{idempotency_key}"), amount, status: "succeeded".into() }),
            None => Err(ProviderError::Rejected(format!("a refund of {amount} is more than is left of the payment"))),
        }
    }

    fn verify_webhook(
        &self,
        _headers: &http::HeaderMap,
        _body: &[u8],
        _now: i64,
    ) -> Result<WebhookEvent, WebhookError> {
        Err(WebhookError::Unsupported)
    }
}
