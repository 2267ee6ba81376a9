//! Stripe Checkout over Stripe's REST API.
//!
//! What of Stripe's API this uses:
//! - `POST /v1/checkout/sessions` (form-encoded, `mode=payment`, one
//!   `line_items[i][price_data]` per line in the currency's minor units,
//!   `client_reference_id` = our order id, `metadata[order_id]` and
//!   `metadata[payment_id]`, `success_url`, `cancel_url`, `expires_at`,
//!   `customer_email`), sent with `Idempotency-Key: emporium-{payment id}-create`
//!   so a retry after a lost answer gets the same session;
//! - `GET /v1/checkout/sessions/{id}?expand[]=payment_intent`: the session's
//!   `status` and `payment_status`, and for a completed but unpaid session
//!   (an asynchronous method such as a bank debit) the payment intent's own
//!   status, which is the only place a failed debit shows;
//! - `POST /v1/checkout/sessions/{id}/expire`;
//! - `POST /v1/refunds` with `payment_intent` and an optional `amount`, with
//!   the caller's idempotency key;
//! - webhooks signed with `Stripe-Signature`, verified as Stripe documents.
//!
//! Behaviour decided here:
//! - Every request pins `Stripe-Version` ([`API_VERSION`]) so the shapes read
//!   here do not change with the account's default version.
//! - Stripe accepts `expires_at` only between 30 minutes and 24 hours ahead.
//!   A requested expiry outside that window is moved into it (with a minute's
//!   margin for clock skew), and the session's real expiry is returned in
//!   [`Session::expires_at`]: when the order expires sooner, the caller
//!   expires the session itself ([`PaymentProvider::cancel`]).
//! - Expiring a session Stripe no longer holds open (complete or expired)
//!   answers 400 at Stripe; that is not an error here — the state is read
//!   after, as the trait says.
//! - A session with `payment_status: no_payment_required` (a zero total) is
//!   captured with the session id as its capture reference: there is nothing
//!   to refund.
//! - 409 (another request with the same idempotency key is in flight) is
//!   treated as Unavailable: retrying later is the documented remedy.

use std::time::Duration;

use async_trait::async_trait;
use emporium_domain::money::Money;
use hmac::{Hmac, Mac};
use reqwest::{StatusCode, Url};
use serde::Deserialize;
use sha2::Sha256;

use crate::currency::{self, Precision};
use crate::wire::{self, unexpected};
use crate::{
    CheckoutRequest, ConfigError, PaymentProvider, ProviderError, ProviderState, Refund, Session, WebhookError,
    WebhookEvent,
};

pub const DEFAULT_API_BASE: &str = "https://api.stripe.com";
/// The Stripe API version every request is made with.
pub const API_VERSION: &str = "2024-06-20";
/// How far a webhook's signed timestamp may be from now, as Stripe's own
/// libraries default to.
pub const WEBHOOK_TOLERANCE_SECS: i64 = 300;
/// Stripe's bounds for `expires_at`, from session creation.
const MIN_EXPIRY_SECS: i64 = 30 * 60;
const MAX_EXPIRY_SECS: i64 = 24 * 60 * 60;
const EXPIRY_MARGIN_SECS: i64 = 60;

/// The webhook event types that are about a Checkout Session; every other
/// type is acknowledged and ignored.
pub const SESSION_EVENTS: &[&str] = &[
    "checkout.session.completed",
    "checkout.session.async_payment_succeeded",
    "checkout.session.async_payment_failed",
    "checkout.session.expired",
];

#[derive(Clone)]
pub struct StripeConfig {
    /// `sk_live_…` / `sk_test_…` (or a restricted `rk_…` key).
    pub secret_key: String,
    /// The webhook endpoint's signing secret (`whsec_…`); without it every
    /// delivery is refused.
    pub webhook_secret: Option<String>,
    /// [`DEFAULT_API_BASE`] unless pointed at a fake.
    pub api_base: String,
    /// For every call, connecting included.
    pub timeout: Duration,
}

impl StripeConfig {
    pub fn new(secret_key: impl Into<String>) -> Self {
        Self {
            secret_key: secret_key.into(),
            webhook_secret: None,
            api_base: DEFAULT_API_BASE.to_string(),
            timeout: Duration::from_secs(10),
        }
    }
}

impl std::fmt::Debug for StripeConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StripeConfig")
            .field("secret_key", &"[redacted]")
            .field("webhook_secret", &self.webhook_secret.as_ref().map(|_| "[redacted]"))
            .field("api_base", &self.api_base)
            .field("timeout", &self.timeout)
            .finish()
    }
}

pub struct StripeProvider {
    client: reqwest::Client,
    base: Url,
    secret_key: String,
    webhook_secret: Option<String>,
}

impl std::fmt::Debug for StripeProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StripeProvider").field("base", &self.base.as_str()).finish_non_exhaustive()
    }
}

impl StripeProvider {
    pub fn new(config: StripeConfig) -> Result<Self, ConfigError> {
        if config.secret_key.trim().is_empty() {
            return Err(ConfigError("the Stripe secret key is empty".into()));
        }
        if config.webhook_secret.as_deref().is_some_and(|s| s.trim().is_empty()) {
            return Err(ConfigError("the Stripe webhook secret is empty".into()));
        }
        Ok(Self {
            client: wire::client(config.timeout)?,
            base: wire::base_url(&config.api_base, "the Stripe API base")?,
            secret_key: config.secret_key,
            webhook_secret: config.webhook_secret,
        })
    }

    fn request(&self, method: reqwest::Method, segments: &[&str]) -> reqwest::RequestBuilder {
        self.client
            .request(method, wire::endpoint(&self.base, segments))
            .bearer_auth(&self.secret_key)
            .header("Stripe-Version", API_VERSION)
    }

    /// Sends and decodes a 2xx answer as `T`, or maps Stripe's error object.
    async fn call<T: serde::de::DeserializeOwned>(
        &self,
        request: reqwest::RequestBuilder,
        what: &str,
    ) -> Result<T, ProviderError> {
        let (status, body) = wire::send(request, what).await?;
        if status.is_success() {
            serde_json::from_slice(&body).map_err(|e| unexpected(what, e))
        } else {
            Err(stripe_error(status, &body, what))
        }
    }

    async fn retrieve(&self, reference: &str) -> Result<SessionObject, ProviderError> {
        let request = self
            .request(reqwest::Method::GET, &["v1", "checkout", "sessions", reference])
            .query(&[("expand[]", "payment_intent")]);
        self.call(request, "retrieving a Stripe checkout session").await
    }
}

/// Stripe's error object: `{"error": {"type", "code"?, "message", "param"?}}`.
fn stripe_error(status: StatusCode, body: &[u8], what: &str) -> ProviderError {
    #[derive(Deserialize)]
    struct Envelope {
        error: Detail,
    }
    #[derive(Deserialize)]
    struct Detail {
        message: Option<String>,
        code: Option<String>,
        #[serde(rename = "type")]
        kind: Option<String>,
    }
    let message = match serde_json::from_slice::<Envelope>(body) {
        Ok(Envelope { error }) => {
            let message = error.message.unwrap_or_else(|| "no message".into());
            match error.code.or(error.kind) {
                Some(code) => format!("{message} ({code})"),
                None => message,
            }
        }
        Err(_) => String::from_utf8_lossy(body).chars().take(200).collect(),
    };
    if status == StatusCode::CONFLICT {
        return ProviderError::Unavailable(format!("{what}: {message}"));
    }
    wire::status_error(status, message, what)
}

fn precision(currency: &str) -> Result<Precision, ProviderError> {
    currency::precision(currency::Rules::Stripe, currency)
}

/// Stripe's bounds for `expires_at`, with a margin so a request that takes a
/// few seconds is still inside them when Stripe checks. Measured from the
/// attempt's creation, not from now: the idempotency key is the attempt's,
/// and Stripe refuses a key reused with other parameters, so a retry must
/// send the very same `expires_at`. A retry later than the margin after the
/// attempt was created may fall below Stripe's 30 minutes; Stripe then
/// refuses it, which is the answer a retry that late deserves anyway.
fn clamp_expiry(requested: i64, created_at: i64) -> i64 {
    requested
        .clamp(created_at + MIN_EXPIRY_SECS + EXPIRY_MARGIN_SECS, created_at + MAX_EXPIRY_SECS - EXPIRY_MARGIN_SECS)
}

/// The form body of `POST /v1/checkout/sessions`.
fn session_form(request: &CheckoutRequest) -> Result<Vec<(String, String)>, ProviderError> {
    request.check_lines()?;
    let precision = precision(&request.currency)?;
    let currency = request.currency.to_ascii_lowercase();
    let mut form: Vec<(String, String)> = vec![
        ("mode".into(), "payment".into()),
        ("client_reference_id".into(), request.order_id.clone()),
        ("metadata[order_id]".into(), request.order_id.clone()),
        ("metadata[payment_id]".into(), request.payment_id.clone()),
        ("success_url".into(), request.success_url.clone()),
        ("cancel_url".into(), request.cancel_url.clone()),
        ("expires_at".into(), clamp_expiry(request.expires_at, request.created_at).to_string()),
    ];
    if let Some(email) = &request.customer_email {
        form.push(("customer_email".into(), email.clone()));
    }
    for (i, line) in request.lines.iter().enumerate() {
        let unit_amount = currency::to_minor(line.unit_amount, precision, &currency)
            .map_err(|e| ProviderError::Rejected(e.to_string()))?;
        form.push((format!("line_items[{i}][price_data][currency]"), currency.clone()));
        form.push((format!("line_items[{i}][price_data][unit_amount]"), unit_amount.to_string()));
        form.push((format!("line_items[{i}][price_data][product_data][name]"), line.name.clone()));
        form.push((format!("line_items[{i}][quantity]"), line.quantity.to_string()));
    }
    Ok(form)
}

#[derive(Debug, Deserialize)]
struct SessionObject {
    id: String,
    url: Option<String>,
    status: Option<String>,
    payment_status: Option<String>,
    amount_total: Option<i64>,
    currency: Option<String>,
    payment_intent: Option<PaymentIntentField>,
    expires_at: Option<i64>,
}

/// `payment_intent` is an id, or the object when expanded.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum PaymentIntentField {
    Id(String),
    Object(PaymentIntentObject),
}

#[derive(Debug, Deserialize)]
struct PaymentIntentObject {
    id: String,
    status: String,
    last_payment_error: Option<PaymentError>,
}

#[derive(Debug, Deserialize)]
struct PaymentError {
    message: Option<String>,
    code: Option<String>,
}

impl PaymentIntentField {
    fn id(&self) -> &str {
        match self {
            Self::Id(id) => id,
            Self::Object(object) => &object.id,
        }
    }
}

const RETRIEVE: &str = "reading a Stripe checkout session";

/// What a retrieved session means for us.
fn session_state(session: &SessionObject) -> Result<ProviderState, ProviderError> {
    match session.status.as_deref() {
        Some("expired") => return Ok(ProviderState::Expired),
        Some("complete") => {}
        // `open`, or a status this version does not know: not paid.
        _ => return Ok(ProviderState::Pending),
    }
    let captured = |capture_reference: String| {
        let currency = session.currency.as_deref().ok_or_else(|| unexpected(RETRIEVE, "no currency"))?;
        let amount_total = session.amount_total.ok_or_else(|| unexpected(RETRIEVE, "no amount_total"))?;
        let amount =
            currency::from_minor(amount_total, precision(currency)?, currency).map_err(|e| unexpected(RETRIEVE, e))?;
        Ok(ProviderState::Captured { amount, currency: currency.to_ascii_uppercase(), capture_reference })
    };
    match session.payment_status.as_deref() {
        Some("paid") => {
            let intent =
                session.payment_intent.as_ref().ok_or_else(|| unexpected(RETRIEVE, "paid without a payment intent"))?;
            captured(intent.id().to_string())
        }
        Some("no_payment_required") => {
            captured(session.payment_intent.as_ref().map_or_else(|| session.id.clone(), |i| i.id().to_string()))
        }
        // Complete but unpaid: an asynchronous method; its intent says how it went.
        _ => Ok(match &session.payment_intent {
            Some(PaymentIntentField::Object(intent)) => match intent.status.as_str() {
                "requires_payment_method" => {
                    let error = intent.last_payment_error.as_ref();
                    let reason = error
                        .and_then(|e| e.message.clone().or_else(|| e.code.clone()))
                        .unwrap_or_else(|| "the payment failed".into());
                    ProviderState::Failed { reason }
                }
                "canceled" => ProviderState::Canceled,
                _ => ProviderState::Pending,
            },
            _ => ProviderState::Pending,
        }),
    }
}

#[derive(Deserialize)]
struct RefundObject {
    id: String,
    amount: i64,
    currency: String,
    status: Option<String>,
}

#[async_trait]
impl PaymentProvider for StripeProvider {
    fn name(&self) -> &'static str {
        "stripe"
    }

    async fn create_session(&self, request: &CheckoutRequest) -> Result<Session, ProviderError> {
        const WHAT: &str = "creating a Stripe checkout session";
        let form = session_form(request)?;
        let call = self
            .request(reqwest::Method::POST, &["v1", "checkout", "sessions"])
            .header("Idempotency-Key", format!("emporium-{}-create", request.payment_id))
            .form(&form);
        let session: SessionObject = self.call(call, WHAT).await?;
        let redirect_url = session.url.ok_or_else(|| unexpected(WHAT, "the session has no url"))?;
        Ok(Session { reference: session.id, redirect_url, expires_at: session.expires_at })
    }

    async fn session_state(&self, reference: &str) -> Result<ProviderState, ProviderError> {
        session_state(&self.retrieve(reference).await?)
    }

    /// Stripe Checkout captures by itself: confirming is reading the state.
    async fn confirm(&self, reference: &str, _idempotency_key: &str) -> Result<ProviderState, ProviderError> {
        self.session_state(reference).await
    }

    async fn cancel(&self, reference: &str) -> Result<(), ProviderError> {
        const WHAT: &str = "expiring a Stripe checkout session";
        let call = self.request(reqwest::Method::POST, &["v1", "checkout", "sessions", reference, "expire"]);
        let (status, body) = wire::send(call, WHAT).await?;
        if status.is_success() {
            return Ok(());
        }
        let error = stripe_error(status, &body, WHAT);
        // Stripe refuses to expire a session that is no longer open (complete,
        // even with an asynchronous payment still processing, or expired).
        if status == StatusCode::BAD_REQUEST && self.retrieve(reference).await?.status.as_deref() != Some("open") {
            return Ok(());
        }
        Err(error)
    }

    async fn refund(
        &self,
        capture_reference: &str,
        amount: Option<Money>,
        currency: &str,
        idempotency_key: &str,
    ) -> Result<Refund, ProviderError> {
        const WHAT: &str = "refunding a Stripe payment";
        let mut form = vec![("payment_intent".to_string(), capture_reference.to_string())];
        if let Some(amount) = amount {
            let minor = currency::to_minor(amount, precision(currency)?, currency)
                .map_err(|e| ProviderError::Rejected(e.to_string()))?;
            form.push(("amount".into(), minor.to_string()));
        }
        let call = self
            .request(reqwest::Method::POST, &["v1", "refunds"])
            .header("Idempotency-Key", idempotency_key)
            .form(&form);
        let refund: RefundObject = self.call(call, WHAT).await?;
        let amount = currency::from_minor(refund.amount, precision(&refund.currency)?, &refund.currency)
            .map_err(|e| unexpected(WHAT, e))?;
        Ok(Refund { reference: refund.id, amount, status: refund.status.unwrap_or_else(|| "pending".into()) })
    }

    fn verify_webhook(&self, headers: &http::HeaderMap, body: &[u8], now: i64) -> Result<WebhookEvent, WebhookError> {
        let secret = self.webhook_secret.as_deref().ok_or(WebhookError::Unsupported)?;
        let header = headers.get("stripe-signature").ok_or(WebhookError::MissingSignature)?;
        let header = header.to_str().map_err(|_| WebhookError::BadSignature)?;
        verify_signature(header, body, secret, now)?;
        parse_event(body)
    }
}

type HmacSha256 = Hmac<Sha256>;

fn mac(secret: &str, timestamp: &str, payload: &[u8]) -> HmacSha256 {
    let mut mac = HmacSha256::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(payload);
    mac
}

/// The `Stripe-Signature` value Stripe sends for `payload` signed with
/// `secret` at Unix time `t`: `t={t},v1={hex HMAC-SHA256("{t}.{payload}")}`.
pub fn signature_header(payload: &[u8], secret: &str, t: i64) -> String {
    let signature = mac(secret, &t.to_string(), payload).finalize().into_bytes();
    format!("t={t},v1={}", hex::encode(signature))
}

/// Verifies a `Stripe-Signature` header as Stripe documents: the `t` element
/// is the signed timestamp, any `v1` element may carry the signature (several
/// appear while a secret is being rolled), other schemes (`v0`) are ignored;
/// the comparison is constant-time (`hmac`'s `verify_slice`), and a timestamp
/// more than [`WEBHOOK_TOLERANCE_SECS`] from `now` either way is refused so a
/// captured delivery cannot be replayed later.
pub fn verify_signature(header: &str, payload: &[u8], secret: &str, now: i64) -> Result<(), WebhookError> {
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for element in header.split(',') {
        let Some((key, value)) = element.trim().split_once('=') else { continue };
        match key {
            "t" if timestamp.is_none() => timestamp = Some(value),
            "v1" => signatures.push(value),
            _ => {}
        }
    }
    let timestamp = timestamp.ok_or(WebhookError::BadSignature)?;
    let t: i64 = timestamp.parse().map_err(|_| WebhookError::BadSignature)?;
    let expected = mac(secret, timestamp, payload);
    let matched = signatures
        .iter()
        .filter_map(|signature| hex::decode(signature).ok())
        .any(|signature| expected.clone().verify_slice(&signature).is_ok());
    if !matched {
        return Err(WebhookError::BadSignature);
    }
    if (now - t).abs() > WEBHOOK_TOLERANCE_SECS {
        return Err(WebhookError::StaleTimestamp);
    }
    Ok(())
}

/// Reads a verified event: its id and type, and for the Checkout Session
/// events the session's id in `data.object.id`.
pub fn parse_event(body: &[u8]) -> Result<WebhookEvent, WebhookError> {
    #[derive(Deserialize)]
    struct Event {
        id: String,
        #[serde(rename = "type")]
        kind: String,
        data: Option<Data>,
    }
    #[derive(Deserialize)]
    struct Data {
        object: serde_json::Value,
    }
    let event: Event = serde_json::from_slice(body).map_err(|e| WebhookError::Malformed(e.to_string()))?;
    let session_reference = if SESSION_EVENTS.contains(&event.kind.as_str()) {
        let id = event
            .data
            .as_ref()
            .and_then(|data| data.object.get("id"))
            .and_then(|id| id.as_str())
            .filter(|id| !id.is_empty())
            .ok_or_else(|| WebhookError::Malformed(format!("{} without data.object.id", event.kind)))?;
        Some(id.to_string())
    } else {
        None
    };
    Ok(WebhookEvent { event_id: event.id, kind: event.kind, session_reference })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::CheckoutLine;

    const SECRET: &str = "whsec_test_secret";
    const BODY: &[u8] = br#"{"id":"evt_1","type":"checkout.session.completed","data":{"object":{"id":"cs_1","object":"checkout.session"}}}"#;

    /// The digest was computed outside Rust, so this does not check the
    /// adapter against itself:
    /// `printf '%s' "1700000000.$BODY" | openssl dgst -sha256 -hmac whsec_test_secret`
    /// (and the same from Python's `hmac`).
    const KNOWN_V1: &str = "54f5e980ff6b49f650e1821a9bc1e06053bf85082393e0b64aca736d845fff1d";

    #[test]
    fn a_signature_computed_outside_rust_verifies_and_is_what_we_would_sign() {
        let header = format!("t=1700000000,v1={KNOWN_V1}");
        assert_eq!(verify_signature(&header, BODY, SECRET, 1_700_000_100), Ok(()));
        assert_eq!(signature_header(BODY, SECRET, 1_700_000_000), header);
        let other = format!("t=1700000000,v1={}", KNOWN_V1.replace("54f5", "54f6"));
        assert_eq!(verify_signature(&other, BODY, SECRET, 1_700_000_100), Err(WebhookError::BadSignature));
    }

    #[test]
    fn a_signature_made_as_stripe_makes_it_verifies() {
        let header = signature_header(BODY, SECRET, 1_700_000_000);
        assert_eq!(verify_signature(&header, BODY, SECRET, 1_700_000_100), Ok(()));
    }

    #[test]
    fn any_v1_may_match_and_v0_is_ignored() {
        let good = signature_header(BODY, SECRET, 1_700_000_000);
        let good_v1 = good.split_once(",v1=").unwrap().1;
        let header = format!("t=1700000000,v1={},v1={good_v1},v0=deadbeef", "ab".repeat(32));
        assert_eq!(verify_signature(&header, BODY, SECRET, 1_700_000_000), Ok(()));
        let only_v0 = format!("t=1700000000,v0={good_v1}");
        assert_eq!(verify_signature(&only_v0, BODY, SECRET, 1_700_000_000), Err(WebhookError::BadSignature));
    }

    #[test]
    fn a_tampered_body_a_wrong_secret_or_a_stale_timestamp_is_refused() {
        let header = signature_header(BODY, SECRET, 1_700_000_000);
        let tampered = String::from_utf8(BODY.to_vec()).unwrap().replace("cs_1", "cs_2");
        assert_eq!(
            verify_signature(&header, tampered.as_bytes(), SECRET, 1_700_000_000),
            Err(WebhookError::BadSignature)
        );
        assert_eq!(verify_signature(&header, BODY, "whsec_other", 1_700_000_000), Err(WebhookError::BadSignature));
        assert_eq!(verify_signature(&header, BODY, SECRET, 1_700_000_301), Err(WebhookError::StaleTimestamp));
        assert_eq!(verify_signature(&header, BODY, SECRET, 1_699_999_699), Err(WebhookError::StaleTimestamp));
        for garbage in ["", "t=abc,v1=00", "v1=00", "t=1700000000", "t=1700000000,v1=zz"] {
            assert_eq!(verify_signature(garbage, BODY, SECRET, 1_700_000_000), Err(WebhookError::BadSignature));
        }
    }

    #[test]
    fn only_session_events_name_a_session() {
        let event = parse_event(BODY).unwrap();
        assert_eq!(event.session_reference.as_deref(), Some("cs_1"));
        let other = parse_event(br#"{"id":"evt_2","type":"charge.refunded","data":{"object":{"id":"ch_1"}}}"#).unwrap();
        assert_eq!(other.session_reference, None);
        assert_eq!(other.kind, "charge.refunded");
        assert!(matches!(parse_event(b"not json"), Err(WebhookError::Malformed(_))));
        assert!(matches!(
            parse_event(br#"{"id":"evt_3","type":"checkout.session.expired","data":{"object":{}}}"#),
            Err(WebhookError::Malformed(_))
        ));
    }

    fn request(currency: &str, unit: i64, quantity: i64) -> CheckoutRequest {
        CheckoutRequest {
            payment_id: "pay_1".into(),
            order_id: "ord_1".into(),
            amount: Money::from_minor(unit * quantity),
            currency: currency.into(),
            lines: vec![CheckoutLine { name: "Mug".into(), unit_amount: Money::from_minor(unit), quantity }],
            customer_email: None,
            success_url: "https://shop.example/ok".into(),
            cancel_url: "https://shop.example/cart".into(),
            expires_at: 0,
            created_at: 1_700_000_000,
        }
    }

    #[test]
    fn the_form_carries_minor_units_and_a_window_stripe_accepts() {
        let now = 1_700_000_000;
        let form = session_form(&request("JPY", 150_000, 2)).unwrap();
        let get = |key: &str| form.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str());
        assert_eq!(get("line_items[0][price_data][unit_amount]"), Some("1500"));
        assert_eq!(get("line_items[0][price_data][currency]"), Some("jpy"));
        assert_eq!(get("expires_at"), Some((now + 31 * 60).to_string().as_str()));
        let mut late = request("USD", 100, 1);
        late.expires_at = now + 7 * 24 * 3600;
        let form = session_form(&late).unwrap();
        assert!(form.contains(&("expires_at".into(), (now + 24 * 3600 - 60).to_string())));
    }

    #[test]
    fn a_form_that_would_take_another_amount_is_not_sent() {
        let mut wrong = request("USD", 100, 2);
        wrong.amount = Money::from_minor(150);
        assert!(matches!(session_form(&wrong), Err(ProviderError::Rejected(_))));
        assert!(matches!(session_form(&request("JPY", 10_050, 1)), Err(ProviderError::Rejected(_))));
    }

    #[test]
    fn debug_never_prints_secrets() {
        let mut config = StripeConfig::new("sk_test_very_secret");
        config.webhook_secret = Some("whsec_very_secret".into());
        let printed = format!("{config:?}");
        assert!(!printed.contains("very_secret"), "{printed}");
        assert!(printed.contains("[redacted]"));
    }
}
