//! Payments: opening a checkout for an order, and the one rule for applying
//! what a provider says about it — whoever brings the news (the provider's
//! webhook, the buyer's return, the reconciliation job, an admin marking a
//! manual order paid). The news is always read from the provider itself,
//! never from query parameters or an unverified body, and the store applies
//! it in one transaction, exactly once.
//!
//! Providers are the [`PaymentProvider`] trait's implementations, chosen by
//! configuration; `manual` has none (the money arrives outside the site).

pub mod test_provider;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use emporium_domain::ids::OrderId;
use emporium_domain::money::Money;
use emporium_domain::orders::{OrderStatus, PaymentStatus};
use emporium_domain::payments::{AttemptStatus, PaymentMethod};
use emporium_domain::time::Timestamp;
use emporium_domain::{Error, Result};
use emporium_payments::{CheckoutLine, CheckoutRequest, PaymentProvider, ProviderError, ProviderState, WebhookError};
use emporium_store::{
    Actor, ApplyOutcome, ApplyPayment, Effect, NewAttempt, NewRefund, Observed, OrderRecord, PaymentRecord,
    ProviderEvent, RefundRecord, RefundResult, StartOutcome, StatusChange, StatusOutcome, Store, StoreError,
};
use serde_json::json;

use crate::orders::{Orders, Viewer};
use crate::{Principal, RequestContext};

/// How payments behave; built by the server from its configuration.
#[derive(Debug, Clone)]
pub struct PaymentSettings {
    /// The base of every URL sent to a provider (never the request's Host).
    pub public_url: String,
    /// Where buyers are sent back to; `None` answers JSON instead.
    pub frontend_url: Option<String>,
    /// An order's time to be paid: no checkout session outlives it.
    pub order_ttl: Duration,
    /// Reconciliation asks about attempts pending at least this long.
    pub reconcile_after: Duration,
}

impl Default for PaymentSettings {
    fn default() -> Self {
        Self {
            public_url: "http://localhost:3000".into(),
            frontend_url: None,
            order_ttl: Duration::from_secs(30 * 60),
            reconcile_after: Duration::from_secs(2 * 60),
        }
    }
}

/// A checkout as the buyer is shown it.
#[derive(Debug, Clone)]
pub struct Checkout {
    pub payment: PaymentRecord,
    /// False when an earlier request had opened this live attempt.
    pub created: bool,
}

/// Where a provider sends the buyer back, for a dialect whose document has
/// its own return routes (geekmobile's `execute_payment`/`cancel_payment`,
/// microservices' success and cancel pages); without them, the native return
/// routes are used. For Stripe, `success` should carry `{CHECKOUT_SESSION_ID}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReturnUrls {
    pub success: String,
    pub cancel: String,
}

/// What a round of reconciliation did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ReconcileReport {
    pub checked: u64,
    pub paid: u64,
    pub closed: u64,
    pub refunds_retried: u64,
    pub failures: u64,
}

/// A buyer's return from (or cancellation at) a provider, applied.
#[derive(Debug, Clone)]
pub struct Applied {
    pub payment: PaymentRecord,
    pub order: OrderRecord,
}

#[derive(Clone)]
pub struct Payments {
    store: Arc<dyn Store>,
    orders: Orders,
    providers: Arc<HashMap<&'static str, Arc<dyn PaymentProvider>>>,
    settings: Arc<PaymentSettings>,
}

fn upstream(provider: &str, e: ProviderError) -> Error {
    tracing::warn!(provider, error = %e, "payment provider call failed");
    Error::Upstream(format!(
        "The payment provider ({provider}) could not be reached or refused the request; nothing was changed, try again"
    ))
}

fn observed(state: ProviderState) -> Observed {
    match state {
        ProviderState::Pending => Observed::Pending,
        ProviderState::Captured { amount, currency, capture_reference } => {
            Observed::Captured { amount, currency, capture_reference }
        }
        ProviderState::Failed { reason } => Observed::Failed { reason },
        ProviderState::Canceled => Observed::Canceled,
        ProviderState::Expired => Observed::Expired,
    }
}

fn system() -> Actor {
    Actor { id: None, kind: "system".into(), ip: None }
}

fn actor_of(viewer: &Viewer, ctx: &RequestContext) -> Actor {
    let (id, kind) = match viewer {
        Viewer::Signed(p) if p.is_admin() => (Some(p.user_id), "admin"),
        Viewer::Signed(p) => (Some(p.user_id), "user"),
        Viewer::Guest { .. } => (None, "guest"),
    };
    Actor { id, kind: kind.into(), ip: ctx.ip.clone() }
}

fn payment_not_found() -> Error {
    Error::NotFound("Payment not found".into())
}

impl Payments {
    pub fn new(
        store: Arc<dyn Store>,
        orders: Orders,
        providers: Vec<Arc<dyn PaymentProvider>>,
        settings: PaymentSettings,
    ) -> Self {
        let providers = providers.into_iter().map(|p| (p.name(), p)).collect();
        Self { store, orders, providers: Arc::new(providers), settings: Arc::new(settings) }
    }

    pub fn settings(&self) -> &PaymentSettings {
        &self.settings
    }

    /// The providers this server is configured with, by name.
    pub fn configured(&self) -> Vec<&'static str> {
        let mut names: Vec<&'static str> = self.providers.keys().copied().collect();
        names.sort();
        names
    }

    fn provider(&self, name: &str) -> Result<&Arc<dyn PaymentProvider>> {
        self.providers
            .get(name)
            .ok_or_else(|| Error::field("provider", format!("{name} is not configured on this server")))
    }

    /// A provider's own endpoint (webhook, return, cancel, test page): on a
    /// server without that provider it does not exist, so 404 rather than a
    /// complaint about a request that was well formed.
    fn endpoint_provider(&self, name: &str) -> Result<&Arc<dyn PaymentProvider>> {
        self.providers.get(name).ok_or_else(|| Error::NotFound(format!("This server takes no {name} payments")))
    }

    /// Opens (or returns) the order's checkout. One live attempt per order:
    /// asking again for the same provider returns the live attempt (retrying
    /// the provider call if it never answered); asking for another closes the
    /// live one at its provider first and then opens a new one.
    pub async fn checkout(
        &self,
        viewer: &Viewer,
        id: OrderId,
        method: PaymentMethod,
        ctx: &RequestContext,
    ) -> Result<Checkout> {
        self.checkout_returning_to(viewer, id, method, None, ctx).await
    }

    /// [`Payments::checkout`], with the buyer sent back to a dialect's own
    /// pages instead of the native ones. They are fixed when the attempt's
    /// session is opened: a live session opened earlier keeps its own.
    pub async fn checkout_returning_to(
        &self,
        viewer: &Viewer,
        id: OrderId,
        method: PaymentMethod,
        return_to: Option<&ReturnUrls>,
        ctx: &RequestContext,
    ) -> Result<Checkout> {
        let order = self.orders.get(viewer, id).await?;
        if !method.is_manual() {
            self.provider(method.as_str())?;
        }
        let actor = actor_of(viewer, ctx);
        let deadline = order.created_at.plus_secs(self.settings.order_ttl.as_secs() as i64);
        let expires_at = (!method.is_manual()).then_some(deadline);
        if !method.is_manual() && deadline <= Timestamp::now() {
            return Err(Error::Conflict("This order is past its time to be paid".into()));
        }
        let mut rounds = 0;
        let (payment, created) = loop {
            rounds += 1;
            if rounds > 5 {
                return Err(Error::Conflict("The order's checkout changed while it was opened; try again".into()));
            }
            let attempt = NewAttempt { order_id: id, method, expires_at, now: Timestamp::now(), actor: actor.clone() };
            match self.store.start_attempt(&attempt).await {
                // A concurrent checkout of the same order won; see what it opened.
                Err(StoreError::UniqueViolation) => continue,
                Err(e) => return Err(e.into()),
                Ok(StartOutcome::Started(p)) => break (p, true),
                Ok(StartOutcome::Live(p)) if p.provider == method.as_str() => break (p, false),
                Ok(StartOutcome::Live(p)) => {
                    self.close_attempt(&p, &actor, Observed::Canceled).await?;
                }
                Ok(StartOutcome::NotPayable { status, payment_status }) => {
                    return Err(Error::Conflict(format!(
                        "Only a pending, unpaid order can be checked out; this one is {status} and {}",
                        payment_status.as_str()
                    )));
                }
                Ok(StartOutcome::OrderNotFound) => return Err(Error::NotFound("Order not found".into())),
            }
        };
        if method.is_manual() || payment.reference.is_some() {
            return Ok(Checkout { payment, created });
        }
        let payment = self.open_session(&order, payment, method, return_to).await?;
        Ok(Checkout { payment, created })
    }

    /// Asks the provider for the attempt's session. Idempotent per attempt,
    /// so after a lost answer the next checkout retries the same one.
    async fn open_session(
        &self,
        order: &OrderRecord,
        payment: PaymentRecord,
        method: PaymentMethod,
        return_to: Option<&ReturnUrls>,
    ) -> Result<PaymentRecord> {
        let provider = self.provider(method.as_str())?.clone();
        let mut request = self.checkout_request(order, &payment, method);
        if let Some(urls) = return_to {
            request.success_url = urls.success.clone();
            request.cancel_url = urls.cancel.clone();
        }
        match provider.create_session(&request).await {
            Ok(session) => {
                // A provider may keep a session open longer than the order
                // (Stripe's shortest is 30 minutes): the order's deadline
                // stands, and the sweep closes the session at it.
                let at_provider = session.expires_at.map(|s| Timestamp::from_millis(s.saturating_mul(1000)));
                let expires_at = match (at_provider, payment.expires_at) {
                    (Some(provider), Some(order)) => Some(provider.min(order)),
                    (provider, order) => provider.or(order),
                };
                let recorded = self
                    .store
                    .record_session(payment.id, &session.reference, &session.redirect_url, expires_at, Timestamp::now())
                    .await?;
                recorded.ok_or_else(payment_not_found)
            }
            Err(ProviderError::Rejected(reason)) => {
                // Refused outright: close the attempt so the order can be checked out again.
                let observed = Observed::Failed { reason: format!("the provider refused the checkout: {reason}") };
                self.apply(&payment, None, observed, system()).await?;
                Err(upstream(method.as_str(), ProviderError::Rejected(reason)))
            }
            Err(e) => Err(upstream(method.as_str(), e)),
        }
    }

    fn checkout_request(&self, order: &OrderRecord, payment: &PaymentRecord, method: PaymentMethod) -> CheckoutRequest {
        let public = self.settings.public_url.trim_end_matches('/');
        let (success_url, cancel_url) = match method {
            PaymentMethod::Stripe => (
                format!("{public}/api/v1/payments/stripe/return?session_id={{CHECKOUT_SESSION_ID}}"),
                self.buyer_gave_up_url(order.id),
            ),
            PaymentMethod::PayPal => {
                (format!("{public}/api/v1/payments/paypal/return"), format!("{public}/api/v1/payments/paypal/cancel"))
            }
            PaymentMethod::Test | PaymentMethod::Manual => {
                (self.success_url(order.id), self.buyer_gave_up_url(order.id))
            }
        };
        CheckoutRequest {
            payment_id: payment.id.to_string(),
            order_id: order.id.to_string(),
            amount: payment.amount,
            currency: payment.currency.clone(),
            lines: order
                .items
                .iter()
                .map(|i| CheckoutLine { name: i.name.clone(), unit_amount: i.unit_sell_price, quantity: i.quantity })
                .collect(),
            customer_email: Some(order.email.clone()),
            success_url,
            cancel_url,
            expires_at: payment.expires_at.map(Timestamp::unix_secs).unwrap_or_else(|| Timestamp::now().unix_secs()),
            // Fixed for the attempt, so every retry sends the same parameters.
            created_at: payment.created_at.unix_secs(),
        }
    }

    /// Where a buyer goes after paying: the front end's success page, or
    /// (without one) the order's payments in this API.
    pub fn success_url(&self, order: OrderId) -> String {
        match &self.settings.frontend_url {
            Some(front) => format!("{}/checkout/success?order={order}", front.trim_end_matches('/')),
            None => format!("{}/api/v1/orders/{order}/payments", self.settings.public_url.trim_end_matches('/')),
        }
    }

    /// Where a buyer goes after giving up: the front end's cart.
    pub fn buyer_gave_up_url(&self, order: OrderId) -> String {
        match &self.settings.frontend_url {
            Some(front) => format!("{}/cart", front.trim_end_matches('/')),
            None => format!("{}/api/v1/orders/{order}/payments", self.settings.public_url.trim_end_matches('/')),
        }
    }

    /// Applies what a provider says about an attempt, then does what that
    /// calls for outside the transaction (an automatic refund).
    async fn apply(
        &self,
        payment: &PaymentRecord,
        event: Option<ProviderEvent>,
        observed: Observed,
        actor: Actor,
    ) -> Result<ApplyOutcome> {
        let apply = ApplyPayment { payment_id: payment.id, event, observed, now: Timestamp::now(), actor };
        let outcome = self.store.apply_payment(&apply).await?.ok_or_else(payment_not_found)?;
        // A paid (or revived) order's event queued its mail in that transaction.
        self.orders.event_recorded();
        match outcome.effect {
            Effect::OrderPaid => tracing::info!(order = %outcome.order.id, payment = %payment.id, "order paid"),
            Effect::OrderRevived => {
                self.orders.stock_changed().await;
                tracing::warn!(order = %outcome.order.id, payment = %payment.id, "payment arrived for a cancelled order; its stock was taken again and it is paid");
            }
            Effect::ReviewNeeded => {
                tracing::warn!(order = %outcome.order.id, payment = %payment.id, "captured amount differs from the order's total; marked for review");
            }
            Effect::RefundDue => {
                tracing::warn!(order = %outcome.order.id, payment = %payment.id, "payment cannot be kept; refunding it");
                if let Err(e) = self.refund_all(&outcome.payment).await {
                    tracing::warn!(payment = %payment.id, error = %e, "automatic refund did not complete; reconciliation retries it");
                }
            }
            Effect::Nothing | Effect::Closed => {}
        }
        Ok(outcome)
    }

    /// Closes an attempt that is no longer wanted (another provider chosen,
    /// the order cancelled or expired): the provider first, so the buyer can
    /// no longer pay, then whatever the provider then says is applied — a
    /// payment that got through is never lost.
    ///
    /// `closed_as` is what the attempt becomes if no payment got through:
    /// `Canceled` when it was given up, `Expired` when its time ran out.
    async fn close_attempt(&self, payment: &PaymentRecord, actor: &Actor, closed_as: Observed) -> Result<ApplyOutcome> {
        let Some(reference) = payment.reference.as_deref().filter(|_| payment.provider != "manual") else {
            // No session was ever handed to the buyer: nothing to close outside.
            return self.apply(payment, None, closed_as, actor.clone()).await;
        };
        let provider = self.provider(&payment.provider)?.clone();
        provider.cancel(reference).await.map_err(|e| upstream(&payment.provider, e))?;
        let state = provider.session_state(reference).await.map_err(|e| upstream(&payment.provider, e))?;
        // Closing it is what made it expire at the provider (Stripe reports
        // an expired session): record why it closed.
        let observed = match observed(state) {
            Observed::Pending | Observed::Expired | Observed::Canceled => closed_as,
            other => other,
        };
        self.apply(payment, None, observed, actor.clone()).await
    }

    /// Refunds everything left of a capture that cannot be kept. The refund
    /// is reserved first; if the provider does not answer, it stays pending
    /// and reconciliation asks again with the same idempotency key.
    async fn refund_all(&self, payment: &PaymentRecord) -> Result<()> {
        let (Some(captured), Some(capture)) = (payment.captured, payment.capture_reference.clone()) else {
            return Ok(());
        };
        let left = Money::from_minor(captured.minor() - payment.refunded.minor());
        if left == Money::ZERO {
            return Ok(());
        }
        let refund = NewRefund {
            payment_id: payment.id,
            amount: left,
            reason: "automatic: the payment could not be kept".into(),
            restock: false,
            now: Timestamp::now(),
            actor: system(),
        };
        let Some(refund) = self.store.reserve_refund(&refund).await? else { return Ok(()) };
        self.send_refund(payment, &capture, &refund, true).await.map(|_| ())
    }

    /// Asks the provider for a reserved refund and records its answer. With
    /// `keep_pending`, an unreachable provider leaves the refund for
    /// reconciliation instead of releasing it.
    async fn send_refund(
        &self,
        payment: &PaymentRecord,
        capture: &str,
        refund: &RefundRecord,
        keep_pending: bool,
    ) -> Result<RefundRecord> {
        let key = format!("refund-{}", refund.id);
        let answer = if payment.provider == "manual" {
            // Paid outside the site, so refunded outside it too: this records it.
            Ok(format!("manual-{}", refund.id))
        } else {
            let provider = self.provider(&payment.provider)?.clone();
            provider.refund(capture, Some(refund.amount), &payment.currency, &key).await.map(|r| r.reference)
        };
        match answer {
            Ok(reference) => Ok(self
                .store
                .finish_refund(refund.id, &RefundResult::Succeeded { reference }, Timestamp::now())
                .await?),
            Err(ProviderError::Unavailable(reason)) if keep_pending => {
                Err(upstream(&payment.provider, ProviderError::Unavailable(reason)))
            }
            Err(e) => {
                let reason = e.to_string();
                self.store.finish_refund(refund.id, &RefundResult::Failed { reason }, Timestamp::now()).await?;
                Err(upstream(&payment.provider, e))
            }
        }
    }

    /// The order's attempts and refunds, to whoever may see the order.
    pub async fn of_order(&self, viewer: &Viewer, id: OrderId) -> Result<(Vec<PaymentRecord>, Vec<RefundRecord>)> {
        self.orders.get(viewer, id).await?;
        Ok(self.store.order_payments(id).await?)
    }

    /// A webhook delivery: verified over its raw body, then the session's
    /// state is read from the provider and applied under the event's id (so
    /// a redelivery changes nothing). Events about sessions Emporium did not
    /// open are acknowledged and ignored.
    pub async fn webhook(&self, provider: &str, headers: &http::HeaderMap, body: &[u8]) -> Result<Option<Applied>> {
        let adapter = self.endpoint_provider(provider)?.clone();
        let event = adapter.verify_webhook(headers, body, Timestamp::now().unix_secs()).map_err(|e| match e {
            WebhookError::Malformed(m) => Error::field("body", format!("is not a valid webhook: {m}")),
            WebhookError::Unsupported => Error::field("provider", format!("{provider} does not send webhooks here")),
            other => Error::field("signature", other.to_string()),
        })?;
        let Some(reference) = event.session_reference.clone() else { return Ok(None) };
        let Some(payment) = self.store.payment_by_reference(provider, &reference).await? else {
            tracing::info!(provider, event = %event.event_id, "webhook about a session this shop did not open; ignored");
            return Ok(None);
        };
        let state = adapter.session_state(&reference).await.map_err(|e| upstream(provider, e))?;
        let event = ProviderEvent { provider: provider.to_string(), event_id: event.event_id, kind: event.kind };
        let outcome = self.apply(&payment, Some(event), observed(state), system()).await?;
        Ok(Some(Applied { payment: outcome.payment, order: outcome.order }))
    }

    /// The buyer is back from the provider: complete the session where the
    /// provider needs it (PayPal's capture, idempotent per attempt) and apply
    /// what the provider then says. A double click captures once.
    pub async fn buyer_returned(&self, provider: &str, reference: &str) -> Result<Applied> {
        let adapter = self.endpoint_provider(provider)?.clone();
        let payment = self.store.payment_by_reference(provider, reference).await?.ok_or_else(payment_not_found)?;
        // Only a live attempt is completed (captured); one Emporium closed
        // is only read, so a late return cannot take money for it.
        let state = if payment.status == AttemptStatus::Pending {
            adapter.confirm(reference, &format!("capture-{}", payment.id)).await
        } else {
            adapter.session_state(reference).await
        };
        let state = state.map_err(|e| upstream(provider, e))?;
        let outcome = self.apply(&payment, None, observed(state), system()).await?;
        Ok(Applied { payment: outcome.payment, order: outcome.order })
    }

    /// The buyer gave up at the provider: the session is closed there (the
    /// query only says which one; what happened is read from the provider).
    pub async fn buyer_cancelled(&self, provider: &str, reference: &str) -> Result<Applied> {
        self.endpoint_provider(provider)?;
        let payment = self.store.payment_by_reference(provider, reference).await?.ok_or_else(payment_not_found)?;
        let outcome = self.close_attempt(&payment, &system(), Observed::Canceled).await?;
        Ok(Applied { payment: outcome.payment, order: outcome.order })
    }

    /// The buyer gave up at the provider and the order goes with it: the
    /// session is closed there (a payment that got through is applied, not
    /// lost), then the order, if still pending and unpaid, is cancelled and
    /// restocked. The reference is the only proof the caller has; it names
    /// one checkout and is known only to its buyer and the provider.
    pub async fn buyer_abandoned(&self, provider: &str, reference: &str) -> Result<Applied> {
        let applied = self.buyer_cancelled(provider, reference).await?;
        if applied.order.status == OrderStatus::Pending && applied.order.payment_status == PaymentStatus::Unpaid {
            self.orders.abandon_order(applied.order.id).await?;
        }
        let order = self.store.order(applied.order.id).await?.unwrap_or(applied.order);
        Ok(Applied { payment: applied.payment, order })
    }

    /// The test provider's page: the session, and the order it is for.
    pub async fn test_session(&self, reference: &str) -> Result<emporium_store::TestSession> {
        self.endpoint_provider("test")?;
        self.store.test_session(reference).await?.ok_or_else(|| Error::NotFound("Payment session not found".into()))
    }

    /// The test page's Pay button: the session is paid (if still open and
    /// in time), and the payment applied as for any provider.
    pub async fn test_pay(&self, reference: &str) -> Result<Applied> {
        let session = self.test_session(reference).await?;
        if !self.store.pay_test_session(&session.reference, Timestamp::now()).await? {
            let now = self.test_session(reference).await?;
            if now.status != "paid" {
                return Err(Error::Conflict(format!("This payment session is {}", describe(&now))));
            }
        }
        self.buyer_returned("test", reference).await
    }

    /// The test page's Cancel button.
    pub async fn test_cancel(&self, reference: &str) -> Result<Applied> {
        let session = self.test_session(reference).await?;
        self.store.close_test_session(&session.reference, "canceled").await?;
        self.buyer_cancelled("test", reference).await
    }

    /// An admin records that a manual order's money arrived. An order not
    /// yet checked out is taken as manual.
    pub async fn mark_paid(&self, principal: &Principal, id: OrderId, ctx: &RequestContext) -> Result<Applied> {
        crate::admin::require_admin(principal)?;
        let order = self.store.order(id).await?.ok_or_else(|| Error::NotFound("Order not found".into()))?;
        if let Some(method) = order.payment_method.filter(|m| !m.is_manual()) {
            return Err(Error::Conflict(format!(
                "This order is paid with {method}, through its provider; only manual orders are marked paid by hand"
            )));
        }
        if order.payment_status != PaymentStatus::Unpaid {
            return Err(Error::Conflict(format!("This order is already {}", order.payment_status.as_str())));
        }
        let actor = Actor { id: Some(principal.user_id), kind: "admin".into(), ip: ctx.ip.clone() };
        let payment = match self.store.live_payment(id).await? {
            Some(p) if p.provider == "manual" => p,
            Some(other) => {
                return Err(Error::Conflict(format!("This order has a live {} checkout", other.provider)));
            }
            None => {
                let attempt = NewAttempt {
                    order_id: id,
                    method: PaymentMethod::Manual,
                    expires_at: None,
                    now: Timestamp::now(),
                    actor: actor.clone(),
                };
                match self.store.start_attempt(&attempt).await? {
                    StartOutcome::Started(p) | StartOutcome::Live(p) if p.provider == "manual" => p,
                    _ => return Err(Error::Conflict("This order cannot be marked paid now".into())),
                }
            }
        };
        let observed = Observed::Captured {
            amount: order.totals.total,
            currency: order.currency.clone(),
            capture_reference: format!("manual-{}", principal.user_id),
        };
        let outcome = self.apply(&payment, None, observed, actor).await?;
        if outcome.effect != Effect::OrderPaid {
            return Err(Error::Conflict("This order was paid meanwhile".into()));
        }
        Ok(Applied { payment: outcome.payment, order: outcome.order })
    }

    /// An admin refunds (part of) what the order's payment captured, through
    /// the provider that captured it; never more than is left of it. A full
    /// refund moves the order to `refunded`, restocking (by default) only
    /// goods that have not shipped.
    pub async fn refund(
        &self,
        principal: &Principal,
        id: OrderId,
        amount: Option<Money>,
        restock: Option<bool>,
        ctx: &RequestContext,
    ) -> Result<(OrderRecord, RefundRecord)> {
        crate::admin::require_admin(principal)?;
        let order = self.store.order(id).await?.ok_or_else(|| Error::NotFound("Order not found".into()))?;
        let (payments, _) = self.store.order_payments(id).await?;
        let left = |p: &PaymentRecord| p.captured.map(|c| c.minor() - p.refunded.minor()).unwrap_or(0);
        let Some(payment) = payments
            .iter()
            .rev()
            .filter(|p| p.status == AttemptStatus::Captured && left(p) > 0)
            .min_by_key(|p| p.needs_review)
            .cloned()
        else {
            return Err(Error::Conflict("Nothing to refund: this order has no captured payment left".into()));
        };
        let available = Money::from_minor(left(&payment));
        let amount = amount.unwrap_or(available);
        if amount == Money::ZERO {
            return Err(Error::field("amount", "must be greater than 0"));
        }
        if amount > available {
            return Err(Error::field("amount", format!("must be at most {available}, what is left of the payment")));
        }
        let full = amount == available && !payment.needs_review && order.payment_status == PaymentStatus::Paid;
        if full {
            order.status.transition(OrderStatus::Refunded)?;
        }
        let restock = restock.unwrap_or(matches!(order.status, OrderStatus::Paid | OrderStatus::Processing));
        let actor = Actor { id: Some(principal.user_id), kind: "admin".into(), ip: ctx.ip.clone() };
        let reserve = NewRefund {
            payment_id: payment.id,
            amount,
            reason: "refunded by an admin".into(),
            restock,
            now: Timestamp::now(),
            actor,
        };
        let refund = self
            .store
            .reserve_refund(&reserve)
            .await?
            .ok_or_else(|| Error::Conflict("A concurrent refund took what was left of the payment".into()))?;
        let capture = payment.capture_reference.clone().unwrap_or_default();
        let refund = self.send_refund(&payment, &capture, &refund, false).await?;
        if !full {
            let order = self.store.order(id).await?.ok_or_else(|| Error::NotFound("Order not found".into()))?;
            return Ok((order, refund));
        }
        let change = StatusChange {
            from: order.status,
            to: OrderStatus::Refunded,
            payment_status: PaymentStatus::Refunded,
            restock,
            actor_id: Some(principal.user_id),
            actor: "admin".into(),
            reason: Some(format!("refunded {amount} {}", payment.currency)),
            now: Timestamp::now(),
            audit: ctx.audit(
                Some(principal.user_id),
                "order.status_changed",
                Some(("order", id.to_string())),
                json!({ "from": order.status.as_str(), "to": "refunded", "by": "admin", "refundId": refund.id.to_string() }),
            ),
        };
        let order = match self.store.change_order_status(id, &change).await? {
            StatusOutcome::Changed(order) => {
                if restock {
                    self.orders.stock_changed().await;
                }
                self.orders.event_recorded();
                *order
            }
            StatusOutcome::Moved(now) => {
                tracing::warn!(order = %id, status = %now, "order moved while it was refunded; the money is refunded, its status is left");
                self.store.order(id).await?.ok_or_else(|| Error::NotFound("Order not found".into()))?
            }
            StatusOutcome::NotFound => return Err(Error::NotFound("Order not found".into())),
        };
        Ok((order, refund))
    }

    /// Places a signed-in user's order from explicit lines, to be paid
    /// outside the site (`manual`), for the API documents that have no
    /// payment step (the promarket and flask-orders dialects). Stock is taken
    /// exactly as for any order; the order goes to the account's saved
    /// address, or to one marked "to be arranged" (those documents send
    /// none). Being manual, an admin may prepare and ship it before it is
    /// paid, and the unpaid-order sweep never cancels it.
    ///
    /// The method is recorded just after the order is placed (as the native
    /// checkout with `manual` does): if that second step fails, the error is
    /// returned and the order stays an ordinary unpaid one.
    pub async fn place_manual(
        &self,
        principal: &Principal,
        items: Vec<(emporium_domain::ids::ProductId, emporium_domain::orders::Quantity)>,
        ctx: &RequestContext,
    ) -> Result<OrderRecord> {
        let account = self
            .store
            .user_by_id(principal.user_id)
            .await?
            .ok_or_else(|| Error::Unauthenticated("Account not found".into()))?;
        let request = crate::orders::OrderRequest {
            items: Some(items),
            shipping_address: account
                .shipping_address
                .unwrap_or_else(emporium_domain::address::ShippingAddress::to_be_arranged),
            email: None,
            notes: None,
            idempotency_key: None,
            request_hash: String::new(),
        };
        let placed = self.orders.place(Some(principal), None, request, ctx).await?;
        let viewer = Viewer::Signed(principal.clone());
        self.checkout(&viewer, placed.order.id, PaymentMethod::Manual, ctx).await?;
        self.store.order(placed.order.id).await?.ok_or_else(|| Error::NotFound("Order not found".into()))
    }

    /// Cancels an order at the buyer's or an admin's request and closes its
    /// live checkout session, so nobody pays for it afterwards.
    pub async fn cancel_order(&self, viewer: &Viewer, id: OrderId, ctx: &RequestContext) -> Result<OrderRecord> {
        let order = self.orders.cancel(viewer, id, ctx).await?;
        self.close_live(id, &actor_of(viewer, ctx), Observed::Canceled).await;
        // A payment that got through as the session closed has revived or refunded it.
        Ok(self.store.order(id).await?.unwrap_or(order))
    }

    async fn close_live(&self, id: OrderId, actor: &Actor, closed_as: Observed) {
        match self.store.live_payment(id).await {
            Ok(Some(live)) => {
                if let Err(e) = self.close_attempt(&live, actor, closed_as).await {
                    tracing::warn!(order = %id, error = %e, "could not close the order's checkout session; reconciliation retries");
                }
            }
            Ok(None) => {}
            Err(e) => tracing::warn!(order = %id, error = %e, "could not read the order's checkout"),
        }
    }

    /// The sweep: unpaid orders past their time have their checkout session
    /// closed (a payment that got through is applied, not lost) and are then
    /// cancelled and restocked. Manual orders are never swept.
    pub async fn expire_unpaid(&self) -> Result<u64> {
        let mut cancelled = 0;
        for id in self.orders.stale_unpaid(self.settings.order_ttl).await? {
            self.close_live(id, &system(), Observed::Expired).await;
            if self.orders.expire_order(id).await? {
                cancelled += 1;
            }
        }
        Ok(cancelled)
    }

    /// Asks the providers about attempts pending longer than
    /// `reconcile_after` (the missed webhook), closes sessions past their
    /// time, and retries refunds whose provider never answered.
    pub async fn reconcile(&self) -> Result<ReconcileReport> {
        let mut report = ReconcileReport::default();
        let now = Timestamp::now();
        let before = now.minus_secs(self.settings.reconcile_after.as_secs() as i64);
        for payment in self.store.stale_pending_payments(before, 200).await? {
            report.checked += 1;
            match self.reconcile_one(&payment, now).await {
                Ok(Effect::OrderPaid | Effect::OrderRevived) => report.paid += 1,
                Ok(Effect::Closed) => report.closed += 1,
                Ok(_) => {}
                Err(e) => {
                    report.failures += 1;
                    tracing::warn!(payment = %payment.id, error = %e, "reconciliation could not settle an attempt");
                }
            }
        }
        for refund in self.store.stale_pending_refunds(before, 200).await? {
            let Some(payment) = self.store.payment(refund.payment_id).await? else { continue };
            let capture = payment.capture_reference.clone().unwrap_or_default();
            report.refunds_retried += 1;
            if let Err(e) = self.send_refund(&payment, &capture, &refund, true).await {
                report.failures += 1;
                tracing::warn!(refund = %refund.id, error = %e, "reconciliation could not complete a refund");
            }
        }
        Ok(report)
    }

    async fn reconcile_one(&self, payment: &PaymentRecord, now: Timestamp) -> Result<Effect> {
        let past_time = payment.expires_at.is_some_and(|t| t <= now);
        let Some(reference) = payment.reference.as_deref() else {
            // The provider never answered the checkout, so no buyer holds a
            // session for it; once past its time it can only expire.
            if past_time {
                return Ok(self.apply(payment, None, Observed::Expired, system()).await?.effect);
            }
            return Ok(Effect::Nothing);
        };
        let provider = self.provider(&payment.provider)?.clone();
        // Completing is what a buyer's return would have done (PayPal's
        // capture of an approved order, idempotent per attempt); past its
        // time, an attempt is only read, then closed.
        let state = if past_time {
            provider.session_state(reference).await
        } else {
            provider.confirm(reference, &format!("capture-{}", payment.id)).await
        };
        let mut state = state.map_err(|e| upstream(&payment.provider, e))?;
        if state == ProviderState::Pending && past_time {
            provider.cancel(reference).await.map_err(|e| upstream(&payment.provider, e))?;
            state = provider.session_state(reference).await.map_err(|e| upstream(&payment.provider, e))?;
            if state == ProviderState::Pending {
                state = ProviderState::Expired;
            }
        }
        Ok(self.apply(payment, None, observed(state), system()).await?.effect)
    }
}

/// A test session's state in words, for the page and its errors.
pub fn describe(session: &emporium_store::TestSession) -> &'static str {
    match session.status.as_str() {
        "paid" => "paid",
        "canceled" => "cancelled",
        "expired" => "expired",
        _ if session.expires_at <= Timestamp::now() => "expired",
        _ => "open",
    }
}
