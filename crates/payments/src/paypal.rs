//! PayPal Checkout over the Orders v2 REST API.
//!
//! What of PayPal's API this uses:
//! - `POST /v1/oauth2/token` (client credentials, HTTP basic auth): the
//!   bearer token every other call carries. It is cached until
//!   [`TOKEN_REFRESH_MARGIN`] before PayPal says it expires; one caller
//!   fetches while the others wait for it (a `tokio` mutex held across the
//!   fetch), and a call answered 401 drops the token and is retried once
//!   with a fresh one (PayPal may revoke a token before its time).
//! - `POST /v2/checkout/orders` with `intent: CAPTURE` and one purchase unit:
//!   `reference_id` = our order id, `custom_id` and `invoice_id` = our payment
//!   id, `amount.value` as a decimal string at the currency's precision with a
//!   `breakdown.item_total` that equals the sum of `items`, and the return and
//!   cancel URLs in `payment_source.paypal.experience_context`;
//!   `PayPal-Request-Id: emporium-{payment id}-create` makes a retry return
//!   the same order. The buyer's link is the order's `approve` or
//!   `payer-action` link.
//! - `GET /v2/checkout/orders/{id}`, `POST /v2/checkout/orders/{id}/capture`
//!   (with the caller's `PayPal-Request-Id`), and
//!   `POST /v2/payments/captures/{id}/refund`.
//! - Every call asks for `Prefer: return=representation`, so answers carry
//!   the amounts read here rather than PayPal's minimal default.
//!
//! Behaviour decided here:
//! - The order is paid when its **capture** is `COMPLETED` (or since
//!   refunded). An order can be `COMPLETED` with a `PENDING` capture (held by
//!   PayPal for review: still pending) or a `DECLINED` one (failed).
//! - A capture answered `ORDER_ALREADY_CAPTURED` (a double click, a second
//!   server) reads the order and reports what it says; `ORDER_NOT_APPROVED`
//!   means the buyer has not approved yet (pending); `INSTRUMENT_DECLINED`
//!   fails the attempt (the buyer starts a new one).
//! - `invoice_id` is our payment id, not the order id: PayPal accounts block
//!   a second payment with an invoice id by default, and order ids (a
//!   database sequence) repeat across databases that share a sandbox account,
//!   and a new attempt after a refunded one must still be payable. Like the
//!   idempotency keys, it assumes payment ids do not repeat within one
//!   PayPal account.
//! - Orders v2 has no expiry to set and nothing to call to withdraw an order:
//!   an order the buyer never approves lapses at PayPal by itself, and one
//!   approved is never captured unless Emporium captures it — which it does
//!   only for a live attempt. So [`PaymentProvider::cancel`] calls nothing,
//!   [`Session::expires_at`] is `None`, and an order PayPal no longer knows
//!   (404 on reading or capturing it) is reported as [`ProviderState::Expired`].
//! - Webhooks are not taken: PayPal's verification needs a call back to
//!   PayPal (`verify-webhook-signature`) per delivery, and nothing in the
//!   flow needs them — Emporium captures when the buyer returns, and the
//!   reconciliation job reads orders the buyer never came back from.
//! - A currency PayPal does not take (PayPal's list) is refused before any
//!   call, as is an amount the currency cannot carry (PayPal's HUF, JPY and
//!   TWD have no decimals).

use std::time::{Duration, Instant};

use async_trait::async_trait;
use emporium_domain::money::Money;
use reqwest::{Method, StatusCode, Url};
use serde::Deserialize;
use serde_json::json;
use tokio::sync::Mutex;

use crate::currency::{self, Precision};
use crate::wire::{self, unexpected};
use crate::{
    CheckoutRequest, ConfigError, PaymentProvider, ProviderError, ProviderState, Refund, Session, WebhookError,
    WebhookEvent,
};

pub const DEFAULT_API_BASE: &str = "https://api-m.sandbox.paypal.com";
/// A cached token is replaced this long before PayPal says it expires, so no
/// call goes out with a token that dies on the way.
pub const TOKEN_REFRESH_MARGIN: Duration = Duration::from_secs(60);
/// PayPal's limit on an item's name.
const ITEM_NAME_MAX_CHARS: usize = 127;

#[derive(Clone)]
pub struct PayPalConfig {
    pub client_id: String,
    pub client_secret: String,
    /// [`DEFAULT_API_BASE`] (the sandbox) unless configured: live is
    /// `https://api-m.paypal.com`.
    pub api_base: String,
    /// For every call, the token request included.
    pub timeout: Duration,
}

impl PayPalConfig {
    pub fn new(client_id: impl Into<String>, client_secret: impl Into<String>) -> Self {
        Self {
            client_id: client_id.into(),
            client_secret: client_secret.into(),
            api_base: DEFAULT_API_BASE.to_string(),
            timeout: Duration::from_secs(10),
        }
    }
}

impl std::fmt::Debug for PayPalConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PayPalConfig")
            .field("client_id", &self.client_id)
            .field("client_secret", &"[redacted]")
            .field("api_base", &self.api_base)
            .field("timeout", &self.timeout)
            .finish()
    }
}

struct CachedToken {
    value: String,
    fresh_until: Instant,
}

pub struct PayPalProvider {
    client: reqwest::Client,
    base: Url,
    client_id: String,
    client_secret: String,
    token: Mutex<Option<CachedToken>>,
    /// Bounds getting a token as a whole, the wait for the lock included.
    timeout: Duration,
}

impl std::fmt::Debug for PayPalProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PayPalProvider")
            .field("base", &self.base.as_str())
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

/// PayPal's error bodies: `{"name", "message", "details": [{"issue",
/// "description"}]}` from the REST APIs, `{"error", "error_description"}`
/// from the token endpoint.
#[derive(Debug, Default, Deserialize)]
struct ErrorBody {
    name: Option<String>,
    message: Option<String>,
    details: Option<Vec<ErrorDetail>>,
    error: Option<String>,
    error_description: Option<String>,
}

#[derive(Debug, Deserialize)]
struct ErrorDetail {
    issue: Option<String>,
    description: Option<String>,
}

impl ErrorBody {
    fn parse(body: &[u8]) -> Self {
        serde_json::from_slice(body).unwrap_or_default()
    }

    fn first_issue(&self) -> Option<&str> {
        self.details.as_ref()?.first()?.issue.as_deref()
    }

    fn message(&self, body: &[u8]) -> String {
        if let Some(error) = &self.error {
            return format!("{error}: {}", self.error_description.as_deref().unwrap_or("no description"));
        }
        let Some(name) = &self.name else {
            return String::from_utf8_lossy(body).chars().take(200).collect();
        };
        let mut message = format!("{name}: {}", self.message.as_deref().unwrap_or("no message"));
        for detail in self.details.iter().flatten() {
            message.push_str(&format!(
                " [{}: {}]",
                detail.issue.as_deref().unwrap_or("?"),
                detail.description.as_deref().unwrap_or("")
            ));
        }
        message
    }
}

fn paypal_error(status: StatusCode, body: &[u8], what: &str) -> ProviderError {
    wire::status_error(status, ErrorBody::parse(body).message(body), what)
}

fn precision(currency: &str) -> Result<Precision, ProviderError> {
    currency::precision(currency::Rules::PayPal, currency)
}

fn amount_json(amount: Money, currency: &str, precision: Precision) -> Result<serde_json::Value, ProviderError> {
    let value =
        currency::to_decimal_string(amount, precision, currency).map_err(|e| ProviderError::Rejected(e.to_string()))?;
    Ok(json!({ "currency_code": currency.to_ascii_uppercase(), "value": value }))
}

/// The body of `POST /v2/checkout/orders`.
fn order_body(request: &CheckoutRequest) -> Result<serde_json::Value, ProviderError> {
    request.check_lines()?;
    let precision = precision(&request.currency)?;
    let currency = request.currency.as_str();
    let items = request
        .lines
        .iter()
        .map(|line| {
            Ok(json!({
                "name": line.name.chars().take(ITEM_NAME_MAX_CHARS).collect::<String>(),
                "quantity": line.quantity.to_string(),
                "unit_amount": amount_json(line.unit_amount, currency, precision)?,
            }))
        })
        .collect::<Result<Vec<_>, ProviderError>>()?;
    let mut amount = amount_json(request.amount, currency, precision)?;
    amount["breakdown"] = json!({ "item_total": amount_json(request.amount, currency, precision)? });
    Ok(json!({
        "intent": "CAPTURE",
        "purchase_units": [{
            "reference_id": request.order_id,
            "custom_id": request.payment_id,
            "invoice_id": request.payment_id,
            "amount": amount,
            "items": items,
        }],
        "payment_source": { "paypal": { "experience_context": {
            "return_url": request.success_url,
            "cancel_url": request.cancel_url,
            "user_action": "PAY_NOW",
            "shipping_preference": "NO_SHIPPING",
        }}},
    }))
}

#[derive(Debug, Deserialize)]
struct OrderObject {
    id: String,
    status: String,
    #[serde(default)]
    links: Vec<Link>,
    #[serde(default)]
    purchase_units: Vec<PurchaseUnit>,
}

#[derive(Debug, Deserialize)]
struct Link {
    href: String,
    rel: String,
}

#[derive(Debug, Deserialize)]
struct PurchaseUnit {
    payments: Option<Payments>,
}

#[derive(Debug, Deserialize)]
struct Payments {
    #[serde(default)]
    captures: Vec<Capture>,
}

#[derive(Debug, Deserialize)]
struct Capture {
    id: String,
    status: String,
    amount: Option<AmountObject>,
    status_details: Option<StatusDetails>,
}

#[derive(Debug, Deserialize)]
struct AmountObject {
    currency_code: String,
    value: String,
}

#[derive(Debug, Deserialize)]
struct StatusDetails {
    reason: Option<String>,
}

const READ: &str = "reading a PayPal order";

/// What an order means for us; the capture decides, not the order's status.
fn order_state(order: &OrderObject) -> Result<ProviderState, ProviderError> {
    match order.status.as_str() {
        "COMPLETED" => {}
        "VOIDED" => return Ok(ProviderState::Canceled),
        // CREATED, SAVED, APPROVED, PAYER_ACTION_REQUIRED: not paid yet.
        _ => return Ok(ProviderState::Pending),
    }
    let capture = order.purchase_units.first().and_then(|unit| unit.payments.as_ref()).and_then(|p| p.captures.first());
    let Some(capture) = capture else { return Ok(ProviderState::Pending) };
    match capture.status.as_str() {
        "COMPLETED" | "PARTIALLY_REFUNDED" | "REFUNDED" => {
            let amount = capture.amount.as_ref().ok_or_else(|| unexpected(READ, "a capture without an amount"))?;
            let value =
                currency::parse_decimal(&amount.value, &amount.currency_code).map_err(|e| unexpected(READ, e))?;
            Ok(ProviderState::Captured {
                amount: value,
                currency: amount.currency_code.to_ascii_uppercase(),
                capture_reference: capture.id.clone(),
            })
        }
        "DECLINED" | "FAILED" => {
            let reason = capture.status_details.as_ref().and_then(|d| d.reason.clone());
            Ok(ProviderState::Failed {
                reason: match reason {
                    Some(reason) => format!("the capture was {}: {reason}", capture.status),
                    None => format!("the capture was {}", capture.status),
                },
            })
        }
        // PENDING: PayPal holds the money for review; it settles later.
        _ => Ok(ProviderState::Pending),
    }
}

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
    expires_in: u64,
}

#[derive(Deserialize)]
struct RefundObject {
    id: String,
    status: String,
    amount: Option<AmountObject>,
}

impl PayPalProvider {
    pub fn new(config: PayPalConfig) -> Result<Self, ConfigError> {
        if config.client_id.trim().is_empty() || config.client_secret.trim().is_empty() {
            return Err(ConfigError("the PayPal client id and secret must both be set".into()));
        }
        Ok(Self {
            client: wire::client(config.timeout)?,
            base: wire::base_url(&config.api_base, "the PayPal API base")?,
            client_id: config.client_id,
            client_secret: config.client_secret,
            token: Mutex::new(None),
            timeout: config.timeout,
        })
    }

    /// The cached token, or a fresh one. One fetch at a time holds the lock,
    /// so the others reuse its token; the whole wait is bounded by the
    /// timeout, or behind a stalled fetch the Nth caller would wait N times it.
    async fn token(&self) -> Result<String, ProviderError> {
        tokio::time::timeout(self.timeout, self.cached_or_fetched_token()).await.unwrap_or_else(|_| {
            Err(ProviderError::Unavailable("getting a PayPal access token: the provider did not answer in time".into()))
        })
    }

    async fn cached_or_fetched_token(&self) -> Result<String, ProviderError> {
        let mut cached = self.token.lock().await;
        if let Some(token) = cached.as_ref()
            && Instant::now() < token.fresh_until
        {
            return Ok(token.value.clone());
        }
        const WHAT: &str = "getting a PayPal access token";
        let fetched_at = Instant::now();
        let request = self
            .client
            .post(wire::endpoint(&self.base, &["v1", "oauth2", "token"]))
            .basic_auth(&self.client_id, Some(&self.client_secret))
            .header(reqwest::header::ACCEPT, "application/json")
            .form(&[("grant_type", "client_credentials")]);
        let (status, body) = wire::send(request, WHAT).await?;
        if !status.is_success() {
            return Err(paypal_error(status, &body, WHAT));
        }
        let answer: TokenAnswer = serde_json::from_slice(&body).map_err(|e| unexpected(WHAT, e))?;
        let lifetime = Duration::from_secs(answer.expires_in).saturating_sub(TOKEN_REFRESH_MARGIN);
        *cached = Some(CachedToken { value: answer.access_token.clone(), fresh_until: fetched_at + lifetime });
        Ok(answer.access_token)
    }

    async fn forget_token(&self, used: &str) {
        let mut cached = self.token.lock().await;
        if cached.as_ref().is_some_and(|token| token.value == used) {
            *cached = None;
        }
    }

    /// Sends an authorized call; a 401 (token revoked or expired early) gets
    /// one retry with a fresh token.
    async fn call(
        &self,
        what: &str,
        build: impl Fn(&str) -> reqwest::RequestBuilder,
    ) -> Result<(StatusCode, Vec<u8>), ProviderError> {
        let token = self.token().await?;
        let (status, body) = wire::send(build(&token), what).await?;
        if status != StatusCode::UNAUTHORIZED {
            return Ok((status, body));
        }
        self.forget_token(&token).await;
        let token = self.token().await?;
        wire::send(build(&token), what).await
    }

    fn request(&self, method: Method, segments: &[&str], token: &str) -> reqwest::RequestBuilder {
        self.client
            .request(method, wire::endpoint(&self.base, segments))
            .bearer_auth(token)
            .header("Prefer", "return=representation")
    }

    fn decode_order(body: &[u8], what: &str) -> Result<OrderObject, ProviderError> {
        serde_json::from_slice(body).map_err(|e| unexpected(what, e))
    }
}

#[async_trait]
impl PaymentProvider for PayPalProvider {
    fn name(&self) -> &'static str {
        "paypal"
    }

    async fn create_session(&self, request: &CheckoutRequest) -> Result<Session, ProviderError> {
        const WHAT: &str = "creating a PayPal order";
        let body = order_body(request)?;
        let request_id = format!("emporium-{}-create", request.payment_id);
        let (status, answer) = self
            .call(WHAT, |token| {
                self.request(Method::POST, &["v2", "checkout", "orders"], token)
                    .header("PayPal-Request-Id", &request_id)
                    .json(&body)
            })
            .await?;
        if !status.is_success() {
            return Err(paypal_error(status, &answer, WHAT));
        }
        let order = Self::decode_order(&answer, WHAT)?;
        let link = order
            .links
            .iter()
            .find(|link| link.rel == "approve" || link.rel == "payer-action")
            .ok_or_else(|| unexpected(WHAT, "the order has no approve or payer-action link"))?;
        Ok(Session { reference: order.id.clone(), redirect_url: link.href.clone(), expires_at: None })
    }

    async fn session_state(&self, reference: &str) -> Result<ProviderState, ProviderError> {
        let (status, body) =
            self.call(READ, |token| self.request(Method::GET, &["v2", "checkout", "orders", reference], token)).await?;
        if status == StatusCode::NOT_FOUND {
            // Only orders we created are asked about: one PayPal no longer
            // holds lapsed unapproved (paid orders are kept).
            return Ok(ProviderState::Expired);
        }
        if !status.is_success() {
            return Err(paypal_error(status, &body, READ));
        }
        order_state(&Self::decode_order(&body, READ)?)
    }

    async fn confirm(&self, reference: &str, idempotency_key: &str) -> Result<ProviderState, ProviderError> {
        const WHAT: &str = "capturing a PayPal order";
        let (status, body) = self
            .call(WHAT, |token| {
                self.request(Method::POST, &["v2", "checkout", "orders", reference, "capture"], token)
                    .header("PayPal-Request-Id", idempotency_key)
                    .json(&json!({}))
            })
            .await?;
        if status.is_success() {
            return order_state(&Self::decode_order(&body, WHAT)?);
        }
        let error = ErrorBody::parse(&body);
        if status == StatusCode::UNPROCESSABLE_ENTITY {
            match error.first_issue() {
                Some("ORDER_ALREADY_CAPTURED") => return self.session_state(reference).await,
                Some("ORDER_NOT_APPROVED") => return Ok(ProviderState::Pending),
                Some("INSTRUMENT_DECLINED") => {
                    return Ok(ProviderState::Failed { reason: error.message(&body) });
                }
                _ => {}
            }
        }
        if status == StatusCode::NOT_FOUND {
            // As when reading it: an order of ours PayPal no longer holds lapsed.
            return Ok(ProviderState::Expired);
        }
        Err(wire::status_error(status, error.message(&body), WHAT))
    }

    /// Nothing to call: see the module's documentation.
    async fn cancel(&self, _reference: &str) -> Result<(), ProviderError> {
        Ok(())
    }

    async fn refund(
        &self,
        capture_reference: &str,
        amount: Option<Money>,
        currency: &str,
        idempotency_key: &str,
    ) -> Result<Refund, ProviderError> {
        const WHAT: &str = "refunding a PayPal capture";
        let body = match amount {
            Some(amount) => json!({ "amount": amount_json(amount, currency, precision(currency)?)? }),
            None => json!({}),
        };
        let (status, answer) = self
            .call(WHAT, |token| {
                self.request(Method::POST, &["v2", "payments", "captures", capture_reference, "refund"], token)
                    .header("PayPal-Request-Id", idempotency_key)
                    .json(&body)
            })
            .await?;
        if !status.is_success() {
            return Err(paypal_error(status, &answer, WHAT));
        }
        let refund: RefundObject = serde_json::from_slice(&answer).map_err(|e| unexpected(WHAT, e))?;
        let amount = refund.amount.ok_or_else(|| unexpected(WHAT, "a refund without an amount"))?;
        let amount = currency::parse_decimal(&amount.value, &amount.currency_code).map_err(|e| unexpected(WHAT, e))?;
        Ok(Refund { reference: refund.id, amount, status: refund.status })
    }

    /// PayPal's webhook verification is an API call per delivery
    /// (`POST /v1/notifications/verify-webhook-signature`); Emporium does not
    /// take PayPal webhooks at all and relies on the buyer's return (which
    /// captures) and the reconciliation job (which reads the order).
    fn verify_webhook(
        &self,
        _headers: &http::HeaderMap,
        _body: &[u8],
        _now: i64,
    ) -> Result<WebhookEvent, WebhookError> {
        Err(WebhookError::Unsupported)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::CheckoutLine;

    fn order(status: &str, capture: Option<serde_json::Value>) -> OrderObject {
        let mut value = json!({ "id": "O1", "status": status, "purchase_units": [{}] });
        if let Some(capture) = capture {
            value["purchase_units"][0]["payments"] = json!({ "captures": [capture] });
        }
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn the_capture_decides_whether_a_completed_order_is_paid() {
        let captured = order(
            "COMPLETED",
            Some(json!({"id": "C1", "status": "COMPLETED", "amount": {"currency_code": "JPY", "value": "1500"}})),
        );
        assert_eq!(
            order_state(&captured).unwrap(),
            ProviderState::Captured {
                amount: Money::from_minor(150_000),
                currency: "JPY".into(),
                capture_reference: "C1".into()
            }
        );
        let pending = order("COMPLETED", Some(json!({"id": "C1", "status": "PENDING"})));
        assert_eq!(order_state(&pending).unwrap(), ProviderState::Pending);
        let declined = order("COMPLETED", Some(json!({"id": "C1", "status": "DECLINED"})));
        assert!(matches!(order_state(&declined).unwrap(), ProviderState::Failed { .. }));
        assert_eq!(order_state(&order("APPROVED", None)).unwrap(), ProviderState::Pending);
        assert_eq!(order_state(&order("PAYER_ACTION_REQUIRED", None)).unwrap(), ProviderState::Pending);
        assert_eq!(order_state(&order("VOIDED", None)).unwrap(), ProviderState::Canceled);
    }

    #[test]
    fn the_order_body_adds_up_at_the_currency_precision() {
        let request = CheckoutRequest {
            payment_id: "pay_1".into(),
            order_id: "ord_1".into(),
            amount: Money::from_minor(3_998),
            currency: "USD".into(),
            lines: vec![CheckoutLine { name: "Mug".repeat(60), unit_amount: Money::from_minor(1_999), quantity: 2 }],
            customer_email: None,
            success_url: "https://shop.example/ok".into(),
            cancel_url: "https://shop.example/cart".into(),
            expires_at: 0,
            created_at: 1_700_000_000,
        };
        let body = order_body(&request).unwrap();
        let unit = &body["purchase_units"][0];
        assert_eq!(unit["amount"]["value"], "39.98");
        assert_eq!(unit["amount"]["breakdown"]["item_total"]["value"], "39.98");
        assert_eq!(unit["items"][0]["quantity"], "2");
        assert_eq!(unit["items"][0]["unit_amount"]["value"], "19.99");
        assert_eq!(unit["items"][0]["name"].as_str().unwrap().chars().count(), 127);
        let mut bhd = request.clone();
        bhd.currency = "BHD".into();
        assert!(matches!(order_body(&bhd), Err(ProviderError::Rejected(_))));
    }

    #[test]
    fn debug_never_prints_the_secret() {
        let printed = format!("{:?}", PayPalConfig::new("client-id", "very-secret"));
        assert!(!printed.contains("very-secret"), "{printed}");
        assert!(printed.contains("[redacted]"));
    }
}
