//! A fake of the parts of Stripe's API Emporium uses: Checkout Sessions
//! (create, retrieve with `expand[]=payment_intent`, expire), Refunds, the
//! hosted payment page, and signed webhook deliveries.
//!
//! Faithful to Stripe where Emporium could get it wrong:
//! - form keys Stripe does not know are refused with Stripe's
//!   `Received unknown parameter: …`, missing required ones with
//!   `Missing required param: …`; amounts must be integers in the currency's
//!   minor unit (three-decimal currencies ending in 0, ISK whole);
//!   `expires_at` must be 30 minutes to 24 hours ahead;
//! - `Authorization: Bearer` with [`FakeStripe::secret_key`] (or basic auth
//!   with it as the user, as Stripe also takes) or 401;
//! - `Idempotency-Key`: the same key with the same endpoint and parameters
//!   replays the first response (with `Idempotent-Replayed: true`); with
//!   others, 400 `idempotency_error`. As Stripe documents, a request that
//!   failed validation saves no result;
//! - refunds never exceed what is left (`amount_too_large`,
//!   `charge_already_refunded`);
//! - a session's `url` is null once it is no longer open; since API version
//!   2022-08-01 `payment_intent` is null until the buyer pays;
//! - webhook events are `{"id": "evt_…", "object": "event", "type", "data":
//!   {"object": …}}`, posted with `Stripe-Signature: t=…,v1=…` made exactly as
//!   Stripe makes it ([`FakeStripe::sign`]).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine;
use serde_json::{Value, json};

use super::Outage;
use super::server::{self, Gate, Running, key_parts, lock, unix_now};
use crate::StripeConfig;
use crate::currency;

const SECRET_KEY: &str = "sk_test_emporium_fake_stripe";

/// How the fake delivers the webhook events it produces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Delivery {
    /// Each event once, signed, awaited before the control method returns.
    #[default]
    Normal,
    /// Each event this many times, concurrently (Stripe delivers at least once).
    Duplicate(usize),
    /// Each event after this delay, in the background: the control method
    /// returns at once (use [`FakeStripe::wait_for_deliveries`]).
    Delayed(Duration),
    /// Each event is held until the next one is produced; then the newer is
    /// delivered first and the held one after it ([`FakeStripe::flush_held`]
    /// delivers what is still held).
    Reordered,
    /// Delivered signed with the wrong secret.
    BadlySigned,
    /// Recorded but never delivered.
    Dropped,
}

/// One delivery attempt of one event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookDelivery {
    pub event_id: String,
    pub event_type: String,
    /// `data.object.id`: the session, for Checkout Session events.
    pub object_id: Option<String>,
    /// The app's answer; `None` when nothing was sent or no answer came.
    pub status: Option<u16>,
    /// Why there is no status (dropped, no endpoint set, connection failed).
    pub error: Option<String>,
    pub badly_signed: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeLineItem {
    pub name: String,
    /// Lower case, as Stripe returns it.
    pub currency: String,
    /// In the currency's minor unit.
    pub unit_amount: i64,
    pub quantity: i64,
}

/// A Checkout Session as the fake holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeCheckoutSession {
    pub id: String,
    /// `open`, `complete` or `expired`.
    pub status: String,
    /// `unpaid`, `paid` or `no_payment_required`.
    pub payment_status: String,
    /// In the currency's minor unit.
    pub amount_total: i64,
    pub currency: String,
    pub client_reference_id: Option<String>,
    pub metadata: BTreeMap<String, String>,
    pub line_items: Vec<FakeLineItem>,
    pub success_url: Option<String>,
    pub cancel_url: Option<String>,
    pub expires_at: i64,
    pub customer_email: Option<String>,
    pub payment_intent: Option<String>,
    /// The hosted page (`{base}/c/pay/{id}`): a GET pays the session as
    /// [`FakeStripe::complete_session`] does and redirects to `success_url`.
    pub url: String,
    pub created: i64,
    /// The `Idempotency-Key` it was created with.
    pub idempotency_key: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeStripeRefund {
    pub id: String,
    pub payment_intent: String,
    /// In the currency's minor unit.
    pub amount: i64,
    pub currency: String,
    pub idempotency_key: Option<String>,
}

#[derive(Debug, Clone)]
struct Intent {
    id: String,
    amount: i64,
    currency: String,
    /// `processing`, `succeeded`, `requires_payment_method`.
    status: String,
    charge: String,
    refunded: i64,
    failure: Option<String>,
}

struct Saved {
    endpoint: String,
    params: Vec<(String, String)>,
    status: StatusCode,
    body: Value,
}

#[derive(Default)]
struct StripeState {
    sessions: BTreeMap<String, FakeCheckoutSession>,
    intents: HashMap<String, Intent>,
    refunds: Vec<FakeStripeRefund>,
    saved: HashMap<String, Saved>,
    keys_seen: Vec<String>,
    webhook: Option<(String, String)>,
    delivery: Delivery,
    held: Vec<Value>,
    events: Vec<Value>,
    next_id: u64,
}

impl StripeState {
    fn id(&mut self, prefix: &str) -> String {
        self.next_id += 1;
        format!("{prefix}_fake{:014}", self.next_id)
    }
}

struct Inner {
    base_url: String,
    gate: Arc<Gate>,
    state: Mutex<StripeState>,
    deliveries: Mutex<Vec<WebhookDelivery>>,
    client: reqwest::Client,
}

/// A running fake Stripe. Cloning shares it; it stops with the last clone.
#[derive(Clone)]
pub struct FakeStripe {
    inner: Arc<Inner>,
    _server: Arc<Running>,
}

impl std::fmt::Debug for FakeStripe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeStripe").field("base_url", &self.inner.base_url).finish_non_exhaustive()
    }
}

/// Stripe's error object.
struct StripeError {
    status: StatusCode,
    kind: &'static str,
    code: Option<&'static str>,
    message: String,
    param: Option<String>,
}

impl StripeError {
    fn invalid(message: impl Into<String>, param: Option<&str>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            kind: "invalid_request_error",
            code: None,
            message: message.into(),
            param: param.map(str::to_string),
        }
    }

    fn with_code(mut self, code: &'static str) -> Self {
        self.code = Some(code);
        self
    }

    fn unknown(key: &str) -> Self {
        Self::invalid(format!("Received unknown parameter: {key}"), Some(key)).with_code("parameter_unknown")
    }

    fn missing(key: &str) -> Self {
        Self::invalid(format!("Missing required param: {key}."), Some(key)).with_code("parameter_missing")
    }

    fn no_such(object: &str, id: &str, param: &str) -> Self {
        Self {
            status: StatusCode::NOT_FOUND,
            ..Self::invalid(format!("No such {object}: '{id}'"), Some(param)).with_code("resource_missing")
        }
    }

    fn body(&self) -> Value {
        let mut error = json!({ "type": self.kind, "message": self.message });
        if let Some(code) = self.code {
            error["code"] = json!(code);
        }
        if let Some(param) = &self.param {
            error["param"] = json!(param);
        }
        json!({ "error": error })
    }
}

impl IntoResponse for StripeError {
    fn into_response(self) -> Response {
        (self.status, Json(self.body())).into_response()
    }
}

type Form = Vec<(String, String)>;

fn parse_form(body: &[u8]) -> Result<Form, StripeError> {
    serde_urlencoded::from_bytes(body).map_err(|e| StripeError::invalid(format!("Invalid request body: {e}"), None))
}

fn is_index(part: &str) -> bool {
    !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit())
}

fn int(value: &str, key: &str) -> Result<i64, StripeError> {
    value.parse().map_err(|_| StripeError::invalid(format!("Invalid integer: {value}"), Some(key)))
}

fn check_amount_step(amount: i64, currency: &str, key: &str) -> Result<(), StripeError> {
    let precision = currency::stripe_precision(currency)
        .map_err(|_| StripeError::invalid(format!("Invalid currency: {currency}"), Some(key)))?;
    if amount % precision.step != 0 {
        let message = if precision.exponent == 3 {
            format!(
                "Invalid amount {amount}: amounts in {} (a three-decimal currency) must end in 0.",
                currency.to_ascii_uppercase()
            )
        } else {
            format!(
                "Invalid amount. Currency {} has become effectively zero-decimal and charged amounts must be evenly divisible by 100.",
                currency.to_ascii_uppercase()
            )
        };
        return Err(StripeError::invalid(message, Some(key)).with_code("invalid_charge_amount_no_decimal_compatible"));
    }
    Ok(())
}

fn check_url(value: &str, key: &str) -> Result<(), StripeError> {
    match reqwest::Url::parse(value) {
        Ok(url) if matches!(url.scheme(), "http" | "https") => Ok(()),
        _ => Err(StripeError::invalid(format!("Not a valid URL: {value}"), Some(key)).with_code("url_invalid")),
    }
}

#[derive(Default)]
struct LinePart {
    name: Option<String>,
    currency: Option<String>,
    unit_amount: Option<i64>,
    quantity: Option<i64>,
}

/// Validates `POST /v1/checkout/sessions`'s form as Stripe does.
fn new_session(form: &Form, now: i64) -> Result<FakeCheckoutSession, StripeError> {
    let mut session = FakeCheckoutSession {
        id: String::new(),
        status: "open".into(),
        payment_status: "unpaid".into(),
        amount_total: 0,
        currency: String::new(),
        client_reference_id: None,
        metadata: BTreeMap::new(),
        line_items: Vec::new(),
        success_url: None,
        cancel_url: None,
        expires_at: now + 24 * 3600,
        customer_email: None,
        payment_intent: None,
        url: String::new(),
        created: now,
        idempotency_key: None,
    };
    let mut mode = None;
    let mut lines: BTreeMap<usize, LinePart> = BTreeMap::new();
    for (key, value) in form {
        let parts =
            key_parts(key).ok_or_else(|| StripeError::invalid(format!("Invalid parameter: {key}"), Some(key)))?;
        match parts.as_slice() {
            ["mode"] => mode = Some(value.clone()),
            ["success_url"] => {
                check_url(value, key)?;
                session.success_url = Some(value.clone());
            }
            ["cancel_url"] => {
                check_url(value, key)?;
                session.cancel_url = Some(value.clone());
            }
            ["client_reference_id"] => {
                if value.chars().count() > 200 {
                    return Err(StripeError::invalid("client_reference_id must be at most 200 characters.", Some(key)));
                }
                session.client_reference_id = Some(value.clone());
            }
            ["customer_email"] => {
                let ok = value.split_once('@').is_some_and(|(user, host)| !user.is_empty() && host.contains('.'))
                    && !value.contains(char::is_whitespace);
                if !ok {
                    return Err(StripeError::invalid(format!("Invalid email address: {value}"), Some(key))
                        .with_code("email_invalid"));
                }
                session.customer_email = Some(value.clone());
            }
            ["expires_at"] => {
                let at = int(value, key)?;
                if at < now + 30 * 60 {
                    return Err(StripeError::invalid(
                        "The `expires_at` timestamp must be at least 30 minutes from Checkout Session creation.",
                        Some(key),
                    ));
                }
                if at > now + 24 * 3600 {
                    return Err(StripeError::invalid(
                        "The `expires_at` timestamp must be less than 24 hours from Checkout Session creation.",
                        Some(key),
                    ));
                }
                session.expires_at = at;
            }
            ["locale"] => {}
            ["payment_method_types", i] if i.is_empty() || is_index(i) => {}
            ["expand", i] if i.is_empty() || is_index(i) => {}
            ["metadata", name] if !name.is_empty() => {
                if name.chars().count() > 40 {
                    return Err(StripeError::invalid("Metadata keys can have up to 40 characters.", Some(key)));
                }
                if value.chars().count() > 500 {
                    return Err(StripeError::invalid("Metadata values can have up to 500 characters.", Some(key)));
                }
                session.metadata.insert((*name).to_string(), value.clone());
                if session.metadata.len() > 50 {
                    return Err(StripeError::invalid("You can specify up to 50 metadata keys.", Some("metadata")));
                }
            }
            ["line_items", i, rest @ ..] if is_index(i) => {
                let index: usize = i.parse().map_err(|_| StripeError::invalid("Invalid array index", Some(key)))?;
                let line = lines.entry(index).or_default();
                match rest {
                    ["quantity"] => {
                        let quantity = int(value, key)?;
                        if quantity < 1 {
                            return Err(StripeError::invalid(
                                "This value must be greater than or equal to 1.",
                                Some(key),
                            ));
                        }
                        line.quantity = Some(quantity);
                    }
                    ["price_data", "currency"] => {
                        if value.len() != 3 || !value.bytes().all(|b| b.is_ascii_alphabetic()) {
                            return Err(StripeError::invalid(format!("Invalid currency: {value}"), Some(key)));
                        }
                        line.currency = Some(value.to_ascii_lowercase());
                    }
                    ["price_data", "unit_amount"] => {
                        let amount = int(value, key)?;
                        if amount < 0 {
                            return Err(StripeError::invalid(
                                "This value must be greater than or equal to 0.",
                                Some(key),
                            ));
                        }
                        line.unit_amount = Some(amount);
                    }
                    ["price_data", "product_data", "name"] => {
                        if value.trim().is_empty() {
                            return Err(StripeError::invalid("You passed an empty string for 'name'.", Some(key)));
                        }
                        line.name = Some(value.clone());
                    }
                    ["price_data", "product_data", "description"] => {}
                    _ => return Err(StripeError::unknown(key)),
                }
            }
            _ => return Err(StripeError::unknown(key)),
        }
    }
    match mode.as_deref() {
        None => return Err(StripeError::missing("mode")),
        Some("payment") => {}
        Some(other) => {
            return Err(StripeError::invalid(
                format!("Invalid mode: {other} (this fake implements mode=payment only)"),
                Some("mode"),
            ));
        }
    }
    if session.success_url.is_none() {
        return Err(StripeError::missing("success_url"));
    }
    if lines.is_empty() {
        return Err(StripeError::missing("line_items"));
    }
    for (position, (index, line)) in lines.into_iter().enumerate() {
        if index != position {
            return Err(StripeError::invalid(
                format!("Invalid array: line_items[{position}] is missing"),
                Some("line_items"),
            ));
        }
        let field = |suffix: &str| format!("line_items[{index}]{suffix}");
        let currency = line.currency.ok_or_else(|| StripeError::missing(&field("[price_data][currency]")))?;
        let unit_amount = line.unit_amount.ok_or_else(|| StripeError::missing(&field("[price_data][unit_amount]")))?;
        let name = line.name.ok_or_else(|| StripeError::missing(&field("[price_data][product_data][name]")))?;
        let quantity = line.quantity.ok_or_else(|| StripeError::missing(&field("[quantity]")))?;
        check_amount_step(unit_amount, &currency, &field("[price_data][unit_amount]"))?;
        if session.currency.is_empty() {
            session.currency = currency.clone();
        } else if session.currency != currency {
            return Err(StripeError::invalid("All line items must have the same currency.", Some("line_items")));
        }
        session.amount_total = unit_amount
            .checked_mul(quantity)
            .and_then(|amount| session.amount_total.checked_add(amount))
            .ok_or_else(|| StripeError::invalid("The amount is too large.", Some("line_items")))?;
        session.line_items.push(FakeLineItem { name, currency, unit_amount, quantity });
    }
    Ok(session)
}

fn intent_json(intent: &Intent) -> Value {
    json!({
        "id": intent.id,
        "object": "payment_intent",
        "amount": intent.amount,
        "amount_received": if intent.status == "succeeded" { intent.amount } else { 0 },
        "currency": intent.currency,
        "status": intent.status,
        "latest_charge": intent.charge,
        "livemode": false,
        "last_payment_error": intent.failure.as_ref().map(|message| json!({
            "type": "invalid_request_error", "code": "payment_method_provider_decline", "message": message
        })),
    })
}

fn session_json(session: &FakeCheckoutSession, expanded_intent: Option<&Intent>) -> Value {
    let payment_intent = match (expanded_intent, &session.payment_intent) {
        (Some(intent), _) => intent_json(intent),
        (None, Some(id)) => json!(id),
        (None, None) => Value::Null,
    };
    json!({
        "id": session.id,
        "object": "checkout.session",
        "amount_subtotal": session.amount_total,
        "amount_total": session.amount_total,
        "cancel_url": session.cancel_url,
        "client_reference_id": session.client_reference_id,
        "created": session.created,
        "currency": session.currency,
        "customer_details": if session.status == "complete" {
            json!({ "email": session.customer_email })
        } else {
            Value::Null
        },
        "customer_email": session.customer_email,
        "expires_at": session.expires_at,
        "livemode": false,
        "metadata": session.metadata,
        "mode": "payment",
        "payment_intent": payment_intent,
        "payment_status": session.payment_status,
        "status": session.status,
        "success_url": session.success_url,
        "url": if session.status == "open" { json!(session.url) } else { Value::Null },
    })
}

fn refund_json(refund: &FakeStripeRefund, charge: &str) -> Value {
    json!({
        "id": refund.id,
        "object": "refund",
        "amount": refund.amount,
        "charge": charge,
        "created": unix_now(),
        "currency": refund.currency,
        "metadata": {},
        "payment_intent": refund.payment_intent,
        "reason": null,
        "status": "succeeded",
    })
}

async fn authorize(request: Request, next: Next) -> Response {
    let given = request.headers().get(header::AUTHORIZATION).and_then(|value| value.to_str().ok()).map(str::to_string);
    let key = given.as_deref().and_then(|value| {
        if let Some(token) = value.strip_prefix("Bearer ") {
            Some(token.trim().to_string())
        } else {
            let basic = value.strip_prefix("Basic ")?;
            let decoded = base64::engine::general_purpose::STANDARD.decode(basic.trim()).ok()?;
            let decoded = String::from_utf8(decoded).ok()?;
            Some(decoded.split_once(':').map_or(decoded.clone(), |(user, _)| user.to_string()))
        }
    });
    match key {
        Some(key) if key == SECRET_KEY => next.run(request).await,
        Some(key) => {
            let tail: String = key.chars().rev().take(4).collect::<Vec<_>>().into_iter().rev().collect();
            StripeError {
                status: StatusCode::UNAUTHORIZED,
                ..StripeError::invalid(format!("Invalid API Key provided: sk_test_****{tail}"), None)
            }
            .into_response()
        }
        None => StripeError {
            status: StatusCode::UNAUTHORIZED,
            ..StripeError::invalid(
                "You did not provide an API key. You need to provide your API key in the Authorization header, \
                 using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY').",
                None,
            )
        }
        .into_response(),
    }
}

fn idempotency_key(headers: &HeaderMap) -> Option<String> {
    headers.get("idempotency-key").and_then(|value| value.to_str().ok()).map(str::to_string)
}

/// The outcome of one creating POST: its status and body.
type Outcome = Result<(StatusCode, Value), StripeError>;

impl Inner {
    /// Runs a creating POST under Stripe's idempotency rules.
    fn idempotent(
        &self,
        endpoint: &str,
        headers: &HeaderMap,
        form: Form,
        run: impl FnOnce(&mut StripeState, Option<&str>) -> Outcome,
    ) -> Response {
        let key = idempotency_key(headers);
        let mut sorted = form.clone();
        sorted.sort();
        let outcome = {
            let mut state = lock(&self.state);
            if let Some(key) = &key {
                state.keys_seen.push(key.clone());
                if let Some(saved) = state.saved.get(key) {
                    if saved.endpoint != endpoint {
                        return idempotency_error(format!(
                            "Keys for idempotent requests can only be used for the same endpoint they were first used \
                             for ('{}' vs '{endpoint}'). Try using a key other than '{key}' if you meant to execute a \
                             different request.",
                            saved.endpoint
                        ));
                    }
                    if saved.params != sorted {
                        return idempotency_error(format!(
                            "Keys for idempotent requests can only be used with the same parameters they were first \
                             used with. Try using a key other than '{key}' if you meant to execute a different request."
                        ));
                    }
                    let mut response = (saved.status, Json(saved.body.clone())).into_response();
                    response.headers_mut().insert("idempotent-replayed", HeaderValue::from_static("true"));
                    return response;
                }
            }
            let outcome = run(&mut state, key.as_deref());
            if let (Some(key), Ok((status, body))) = (&key, &outcome) {
                state.saved.insert(
                    key.clone(),
                    Saved { endpoint: endpoint.to_string(), params: sorted, status: *status, body: body.clone() },
                );
            }
            outcome
        };
        match outcome {
            Ok((status, body)) => {
                let mut response = (status, Json(body)).into_response();
                if let Some(key) = key.and_then(|key| HeaderValue::from_str(&key).ok()) {
                    response.headers_mut().insert("idempotency-key", key);
                }
                response
            }
            Err(error) => error.into_response(),
        }
    }

    fn event(&self, state: &mut StripeState, kind: &str, object: Value) -> Value {
        let event = json!({
            "id": state.id("evt"),
            "object": "event",
            "api_version": crate::stripe::API_VERSION,
            "created": unix_now(),
            "data": { "object": object },
            "livemode": false,
            "pending_webhooks": 1,
            "request": { "id": null, "idempotency_key": null },
            "type": kind,
        });
        state.events.push(event.clone());
        event
    }

    /// Delivers `events` as the delivery mode says; returns the attempts made
    /// before returning (none for a delayed delivery).
    async fn dispatch(self: &Arc<Self>, events: Vec<Value>) -> Vec<WebhookDelivery> {
        if events.is_empty() {
            return Vec::new();
        }
        let (target, mode, events) = {
            let mut state = lock(&self.state);
            let mode = state.delivery;
            let events = if mode == Delivery::Reordered {
                if state.held.is_empty() {
                    state.held = events;
                    Vec::new()
                } else {
                    let held = std::mem::take(&mut state.held);
                    events.into_iter().rev().chain(held.into_iter().rev()).collect()
                }
            } else {
                events
            };
            (state.webhook.clone(), mode, events)
        };
        let mut made = Vec::new();
        for event in events {
            match mode {
                Delivery::Normal | Delivery::Reordered => made.push(self.send(&event, target.as_ref(), false).await),
                Delivery::BadlySigned => made.push(self.send(&event, target.as_ref(), true).await),
                Delivery::Duplicate(times) => {
                    let mut sends = tokio::task::JoinSet::new();
                    for _ in 0..times.max(1) {
                        let (inner, event, target) = (self.clone(), event.clone(), target.clone());
                        sends.spawn(async move { inner.send(&event, target.as_ref(), false).await });
                    }
                    while let Some(delivery) = sends.join_next().await {
                        made.push(delivery.expect("a webhook delivery task"));
                    }
                }
                Delivery::Delayed(delay) => {
                    let (inner, target) = (self.clone(), target.clone());
                    tokio::spawn(async move {
                        tokio::time::sleep(delay).await;
                        inner.send(&event, target.as_ref(), false).await;
                    });
                }
                Delivery::Dropped => {
                    let delivery =
                        WebhookDelivery { status: None, error: Some("dropped".into()), ..delivery_of(&event, false) };
                    lock(&self.deliveries).push(delivery.clone());
                    made.push(delivery);
                }
            }
        }
        made
    }

    async fn send(&self, event: &Value, target: Option<&(String, String)>, badly_signed: bool) -> WebhookDelivery {
        let mut delivery = delivery_of(event, badly_signed);
        match target {
            None => delivery.error = Some("no webhook endpoint set".into()),
            Some((url, secret)) => {
                let body = serde_json::to_vec(event).expect("an event serializes");
                let secret = if badly_signed { format!("{secret}_not") } else { secret.clone() };
                let signature = FakeStripe::sign(&body, &secret, unix_now());
                let sent = self
                    .client
                    .post(url)
                    .header(header::CONTENT_TYPE, "application/json; charset=utf-8")
                    .header(header::USER_AGENT, "Stripe/1.0 (+https://stripe.com/docs/webhooks)")
                    .header("Stripe-Signature", signature)
                    .body(body)
                    .send()
                    .await;
                match sent {
                    Ok(response) => delivery.status = Some(response.status().as_u16()),
                    Err(error) => delivery.error = Some(error.to_string()),
                }
            }
        }
        lock(&self.deliveries).push(delivery.clone());
        delivery
    }
}

fn delivery_of(event: &Value, badly_signed: bool) -> WebhookDelivery {
    WebhookDelivery {
        event_id: event["id"].as_str().unwrap_or_default().to_string(),
        event_type: event["type"].as_str().unwrap_or_default().to_string(),
        object_id: event["data"]["object"]["id"].as_str().map(str::to_string),
        status: None,
        error: None,
        badly_signed,
    }
}

fn idempotency_error(message: String) -> Response {
    StripeError { kind: "idempotency_error", ..StripeError::invalid(message, None) }.into_response()
}

async fn create_session(State(inner): State<Arc<Inner>>, headers: HeaderMap, body: Bytes) -> Response {
    let form = match parse_form(&body) {
        Ok(form) => form,
        Err(error) => return error.into_response(),
    };
    let base = inner.base_url.clone();
    inner.idempotent("POST /v1/checkout/sessions", &headers, form.clone(), |state, key| {
        let mut session = new_session(&form, unix_now())?;
        session.id = state.id("cs_test");
        session.url = format!("{base}/c/pay/{}", session.id);
        session.idempotency_key = key.map(str::to_string);
        let body = session_json(&session, None);
        state.sessions.insert(session.id.clone(), session);
        Ok((StatusCode::OK, body))
    })
}

async fn retrieve_session(
    State(inner): State<Arc<Inner>>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Json<Value>, StripeError> {
    let params: Form = serde_urlencoded::from_str(query.as_deref().unwrap_or(""))
        .map_err(|e| StripeError::invalid(format!("Invalid query string: {e}"), None))?;
    let mut expand_intent = false;
    for (key, value) in &params {
        match key_parts(key).as_deref() {
            Some(["expand", i]) if i.is_empty() || is_index(i) => match value.as_str() {
                "payment_intent" => expand_intent = true,
                other => {
                    return Err(StripeError::invalid(
                        format!("This property cannot be expanded ({other})."),
                        Some(key),
                    ));
                }
            },
            _ => return Err(StripeError::unknown(key)),
        }
    }
    let state = lock(&inner.state);
    let session = state.sessions.get(&id).ok_or_else(|| StripeError::no_such("checkout.session", &id, "session"))?;
    let intent = session.payment_intent.as_ref().filter(|_| expand_intent).and_then(|id| state.intents.get(id));
    Ok(Json(session_json(session, intent)))
}

async fn expire_session(State(inner): State<Arc<Inner>>, Path(id): Path<String>, body: Bytes) -> Response {
    let form = match parse_form(&body) {
        Ok(form) => form,
        Err(error) => return error.into_response(),
    };
    if let Some((key, _)) = form.iter().find(|(key, _)| !key.starts_with("expand[")) {
        return StripeError::unknown(key).into_response();
    }
    let event = {
        let mut state = lock(&inner.state);
        let Some(session) = state.sessions.get_mut(&id) else {
            return StripeError::no_such("checkout.session", &id, "session").into_response();
        };
        if session.status != "open" {
            return StripeError::invalid(
                format!(
                    "Only Checkout Sessions with a status in [\"open\"] can be expired. This Checkout Session has a \
                     status of {}.",
                    session.status
                ),
                None,
            )
            .into_response();
        }
        session.status = "expired".into();
        let object = session_json(session, None);
        (inner.event(&mut state, "checkout.session.expired", object.clone()), object)
    };
    inner.dispatch(vec![event.0]).await;
    Json(event.1).into_response()
}

async fn create_refund(State(inner): State<Arc<Inner>>, headers: HeaderMap, body: Bytes) -> Response {
    let form = match parse_form(&body) {
        Ok(form) => form,
        Err(error) => return error.into_response(),
    };
    inner.idempotent("POST /v1/refunds", &headers, form.clone(), |state, key| {
        let (mut intent_id, mut charge, mut amount) = (None, None, None);
        for (name, value) in &form {
            match key_parts(name).as_deref() {
                Some(["payment_intent"]) => intent_id = Some(value.clone()),
                Some(["charge"]) => charge = Some(value.clone()),
                Some(["amount"]) => {
                    let parsed: i64 = value.parse().ok().filter(|a| *a > 0).ok_or_else(|| {
                        StripeError::invalid(format!("Invalid positive integer: {value}"), Some("amount"))
                    })?;
                    amount = Some(parsed);
                }
                Some(["reason"]) => {
                    if !matches!(value.as_str(), "duplicate" | "fraudulent" | "requested_by_customer") {
                        return Err(StripeError::invalid(
                            "Invalid reason: must be one of duplicate, fraudulent, or requested_by_customer",
                            Some("reason"),
                        ));
                    }
                }
                Some(["metadata", k]) if !k.is_empty() => {}
                Some(["expand", i]) if i.is_empty() || is_index(i) => {}
                _ => return Err(StripeError::unknown(name)),
            }
        }
        let intent_id = match (intent_id, charge) {
            (Some(id), None) => id,
            (None, Some(charge)) => state
                .intents
                .values()
                .find(|intent| intent.charge == charge)
                .map(|intent| intent.id.clone())
                .ok_or_else(|| StripeError::no_such("charge", &charge, "charge"))?,
            (Some(_), Some(_)) => {
                return Err(StripeError::invalid(
                    "You cannot specify both charge and payment_intent.",
                    Some("payment_intent"),
                ));
            }
            (None, None) => {
                return Err(StripeError::invalid(
                    "One of the following params should be provided for this request: payment_intent or charge.",
                    None,
                ));
            }
        };
        let intent = state
            .intents
            .get(&intent_id)
            .cloned()
            .ok_or_else(|| StripeError::no_such("payment_intent", &intent_id, "payment_intent"))?;
        if intent.status != "succeeded" {
            return Err(StripeError::invalid(
                format!("This PaymentIntent ({intent_id}) does not have a successful charge to refund."),
                Some("payment_intent"),
            )
            .with_code("charge_not_refundable"));
        }
        let left = intent.amount - intent.refunded;
        if left == 0 {
            return Err(StripeError::invalid(format!("Charge {} has already been refunded.", intent.charge), None)
                .with_code("charge_already_refunded"));
        }
        let amount = amount.unwrap_or(left);
        if amount > left {
            return Err(StripeError::invalid(
                format!("Refund amount ({amount}) is greater than unrefunded amount on charge ({left})"),
                Some("amount"),
            )
            .with_code("amount_too_large"));
        }
        check_amount_step(amount, &intent.currency, "amount")?;
        let refund = FakeStripeRefund {
            id: state.id("re"),
            payment_intent: intent_id.clone(),
            amount,
            currency: intent.currency.clone(),
            idempotency_key: key.map(str::to_string),
        };
        if let Some(stored) = state.intents.get_mut(&intent_id) {
            stored.refunded += amount;
        }
        let body = refund_json(&refund, &intent.charge);
        state.refunds.push(refund);
        Ok((StatusCode::OK, body))
    })
}

/// Stripe's hosted page, reduced to "the buyer pays": a GET pays an open
/// session (as [`FakeStripe::complete_session`]) and redirects to its
/// `success_url` with `{CHECKOUT_SESSION_ID}` filled in.
async fn hosted_page(State(inner): State<Arc<Inner>>, Path(id): Path<String>) -> Response {
    let Some(success_url) = lock(&inner.state).sessions.get(&id).map(|s| s.success_url.clone().unwrap_or_default())
    else {
        return (StatusCode::NOT_FOUND, Html("No such Checkout Session.")).into_response();
    };
    let handle = Handle(inner.clone());
    if handle.pay(&id, true).is_err() {
        return (StatusCode::GONE, Html("This Checkout Session is no longer active.")).into_response();
    }
    let event = handle.completed_event(&id);
    inner.dispatch(vec![event]).await;
    Redirect::to(&success_url.replace("{CHECKOUT_SESSION_ID}", &id)).into_response()
}

async fn unknown_url(request: Request) -> StripeError {
    StripeError {
        status: StatusCode::NOT_FOUND,
        ..StripeError::invalid(
            format!("Unrecognized request URL ({}: {}).", request.method(), request.uri().path()),
            None,
        )
    }
}

/// The state changes the controls and the hosted page share.
struct Handle(Arc<Inner>);

impl Handle {
    /// The buyer pays: `synchronous` for a card (paid at once), otherwise an
    /// asynchronous method still processing. Only an open session can be paid.
    fn pay(&self, id: &str, synchronous: bool) -> Result<(), String> {
        let mut state = lock(&self.0.state);
        match state.sessions.get(id) {
            None => return Err(format!("FakeStripe: no session {id}")),
            Some(session) if session.status != "open" => {
                return Err(format!("FakeStripe: session {id} is {}, not open", session.status));
            }
            Some(_) => {}
        }
        let intent_id = state.id("pi");
        let charge = state.id("ch");
        let session = state.sessions.get_mut(id).expect("looked up above");
        session.status = "complete".into();
        session.payment_status = match (synchronous, session.amount_total) {
            (true, 0) => "no_payment_required",
            (true, _) => "paid",
            (false, _) => "unpaid",
        }
        .into();
        session.payment_intent = Some(intent_id.clone());
        if session.customer_email.is_none() {
            session.customer_email = Some("buyer@example.com".into());
        }
        let intent = Intent {
            id: intent_id.clone(),
            amount: session.amount_total,
            currency: session.currency.clone(),
            status: if synchronous { "succeeded" } else { "processing" }.into(),
            charge,
            refunded: 0,
            failure: None,
        };
        state.intents.insert(intent_id, intent);
        Ok(())
    }

    fn completed_event(&self, id: &str) -> Value {
        let mut state = lock(&self.0.state);
        let object = session_json(&state.sessions[id], None);
        self.0.event(&mut state, "checkout.session.completed", object)
    }
}

impl FakeStripe {
    /// Starts a fake Stripe on 127.0.0.1 with an ephemeral port.
    pub async fn start() -> Self {
        let (listener, addr) = server::bind().await;
        let gate = Gate::new(json!({ "error": {
            "type": "api_error",
            "message": "The fake Stripe is unavailable (test outage)."
        }}));
        let inner = Arc::new(Inner {
            base_url: format!("http://{addr}"),
            gate: gate.clone(),
            state: Mutex::default(),
            deliveries: Mutex::default(),
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .expect("build the fake's webhook client"),
        });
        let api = Router::new()
            .route("/v1/checkout/sessions", post(create_session))
            .route("/v1/checkout/sessions/{id}", get(retrieve_session))
            .route("/v1/checkout/sessions/{id}/expire", post(expire_session))
            .route("/v1/refunds", post(create_refund))
            .route_layer(middleware::from_fn(authorize))
            .route_layer(middleware::from_fn_with_state(gate, server::gate));
        let router = api.route("/c/pay/{id}", get(hosted_page)).fallback(unknown_url).with_state(inner.clone());
        let server = server::serve(listener, router);
        Self { inner, _server: server }
    }

    /// `http://127.0.0.1:{port}`: the `api_base` to configure.
    pub fn base_url(&self) -> String {
        self.inner.base_url.clone()
    }

    /// The one secret key the fake accepts.
    pub fn secret_key(&self) -> String {
        SECRET_KEY.to_string()
    }

    /// A configuration for [`crate::StripeProvider`] pointed at this fake
    /// (no webhook secret; a 5-second timeout).
    pub fn provider_config(&self) -> StripeConfig {
        StripeConfig {
            secret_key: self.secret_key(),
            webhook_secret: None,
            api_base: self.base_url(),
            timeout: Duration::from_secs(5),
        }
    }

    /// The `Stripe-Signature` header Stripe would send for `payload` signed
    /// with `secret` at Unix time `t`, for crafting deliveries by hand.
    /// Computed here with its own HMAC, not with the adapter's code, so the
    /// adapter's verification is checked against something it did not make.
    pub fn sign(payload: &[u8], secret: &str, t: i64) -> String {
        use hmac::{Hmac, Mac};
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any length");
        mac.update(format!("{t}.").as_bytes());
        mac.update(payload);
        format!("t={t},v1={}", hex::encode(mac.finalize().into_bytes()))
    }

    /// Where events are delivered and the endpoint secret they are signed with.
    pub async fn set_webhook(&self, url: impl Into<String>, secret: impl Into<String>) {
        lock(&self.inner.state).webhook = Some((url.into(), secret.into()));
    }

    pub async fn set_delivery(&self, delivery: Delivery) {
        lock(&self.inner.state).delivery = delivery;
    }

    pub async fn set_outage(&self, outage: Outage) {
        self.inner.gate.set_outage(outage);
    }

    /// The buyer pays by card: the session becomes `complete` and `paid`
    /// with a succeeded payment intent, and `checkout.session.completed` is
    /// delivered. Panics if the session is unknown or not open.
    pub async fn complete_session(&self, id: &str) -> Vec<WebhookDelivery> {
        let handle = Handle(self.inner.clone());
        handle.pay(id, true).unwrap_or_else(|message| panic!("{message}"));
        let event = handle.completed_event(id);
        self.inner.dispatch(vec![event]).await
    }

    /// The buyer pays with an asynchronous method (a bank debit): the session
    /// becomes `complete` but `unpaid`, its payment intent `processing`, and
    /// `checkout.session.completed` is delivered; [`Self::async_outcome`]
    /// settles it.
    pub async fn complete_session_async(&self, id: &str) -> Vec<WebhookDelivery> {
        let handle = Handle(self.inner.clone());
        handle.pay(id, false).unwrap_or_else(|message| panic!("{message}"));
        let event = handle.completed_event(id);
        self.inner.dispatch(vec![event]).await
    }

    /// Settles an asynchronous payment: succeeded → `paid` and
    /// `checkout.session.async_payment_succeeded`; failed → the intent needs
    /// a new payment method, the session stays `unpaid`, and
    /// `checkout.session.async_payment_failed`.
    pub async fn async_outcome(&self, id: &str, succeeded: bool) -> Vec<WebhookDelivery> {
        let event = {
            let mut state = lock(&self.inner.state);
            let session = state.sessions.get(id).unwrap_or_else(|| panic!("FakeStripe: no session {id}")).clone();
            let intent_id = session.payment_intent.clone().unwrap_or_else(|| panic!("FakeStripe: {id} was not paid"));
            let intent = state.intents.get_mut(&intent_id).expect("the session's intent");
            assert_eq!(intent.status, "processing", "FakeStripe: {id}'s payment is not processing");
            if succeeded {
                intent.status = "succeeded".into();
            } else {
                intent.status = "requires_payment_method".into();
                intent.failure = Some("The customer's bank account could not be debited.".into());
            }
            let session = state.sessions.get_mut(id).expect("looked up above");
            if succeeded {
                session.payment_status = "paid".into();
            }
            let object = session_json(session, None);
            let kind = if succeeded {
                "checkout.session.async_payment_succeeded"
            } else {
                "checkout.session.async_payment_failed"
            };
            self.inner.event(&mut state, kind, object)
        };
        self.inner.dispatch(vec![event]).await
    }

    /// Stripe expires the session (its time ran out): `expired`, and
    /// `checkout.session.expired` is delivered. Panics unless it is open.
    pub async fn expire(&self, id: &str) -> Vec<WebhookDelivery> {
        let event = {
            let mut state = lock(&self.inner.state);
            let session = state.sessions.get_mut(id).unwrap_or_else(|| panic!("FakeStripe: no session {id}"));
            assert_eq!(session.status, "open", "FakeStripe: session {id} is not open");
            session.status = "expired".into();
            let object = session_json(session, None);
            self.inner.event(&mut state, "checkout.session.expired", object)
        };
        self.inner.dispatch(vec![event]).await
    }

    /// Makes Stripe report another total for the session (and its payment
    /// intent, if paid), in minor units: for testing that a payment whose
    /// amount differs from the order's is never accepted as paying it.
    pub async fn set_amount_total(&self, id: &str, amount_total: i64) {
        let mut state = lock(&self.inner.state);
        let session = state.sessions.get_mut(id).unwrap_or_else(|| panic!("FakeStripe: no session {id}"));
        session.amount_total = amount_total;
        let intent = session.payment_intent.clone();
        if let Some(intent) = intent.and_then(|intent| state.intents.get_mut(&intent)) {
            intent.amount = amount_total;
        }
    }

    /// Produces and delivers an event of any type (`charge.refunded`, …)
    /// with `object` as its `data.object`.
    pub async fn deliver_event(&self, kind: &str, object: Value) -> Vec<WebhookDelivery> {
        let event = {
            let mut state = lock(&self.inner.state);
            self.inner.event(&mut state, kind, object)
        };
        self.inner.dispatch(vec![event]).await
    }

    /// Sends an event already produced once more, properly signed, whatever
    /// the delivery mode (Stripe's retries and "resend").
    pub async fn redeliver(&self, event_id: &str) -> WebhookDelivery {
        let (event, target) = {
            let state = lock(&self.inner.state);
            let event = state.events.iter().find(|event| event["id"] == event_id).cloned();
            (event.unwrap_or_else(|| panic!("FakeStripe: no event {event_id}")), state.webhook.clone())
        };
        self.inner.send(&event, target.as_ref(), false).await
    }

    /// Delivers the events [`Delivery::Reordered`] still holds.
    pub async fn flush_held(&self) -> Vec<WebhookDelivery> {
        let (held, target) = {
            let mut state = lock(&self.inner.state);
            (std::mem::take(&mut state.held), state.webhook.clone())
        };
        let mut made = Vec::new();
        for event in held {
            made.push(self.inner.send(&event, target.as_ref(), false).await);
        }
        made
    }

    /// Every event produced, oldest first, as delivered (`{"id", "type",
    /// "data": {"object"}, …}`).
    pub fn events(&self) -> Vec<Value> {
        lock(&self.inner.state).events.clone()
    }

    /// Every delivery attempt so far, in the order they finished.
    pub fn deliveries(&self) -> Vec<WebhookDelivery> {
        lock(&self.inner.deliveries).clone()
    }

    /// Waits (polling, up to 10 s) until at least `count` deliveries have
    /// finished, and returns them all. Panics on timeout.
    pub async fn wait_for_deliveries(&self, count: usize) -> Vec<WebhookDelivery> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let deliveries = self.deliveries();
            if deliveries.len() >= count {
                return deliveries;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "FakeStripe: {} of {count} deliveries after 10 s",
                deliveries.len()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    pub fn sessions(&self) -> Vec<FakeCheckoutSession> {
        lock(&self.inner.state).sessions.values().cloned().collect()
    }

    pub fn session(&self, id: &str) -> Option<FakeCheckoutSession> {
        lock(&self.inner.state).sessions.get(id).cloned()
    }

    pub fn refunds(&self) -> Vec<FakeStripeRefund> {
        lock(&self.inner.state).refunds.clone()
    }

    /// Requests received by endpoint, keyed `"{METHOD} {route}"`:
    /// `POST /v1/checkout/sessions`, `GET /v1/checkout/sessions/{id}`,
    /// `POST /v1/checkout/sessions/{id}/expire`, `POST /v1/refunds`. Counted
    /// before authentication and the outage switch.
    pub fn request_count(&self, endpoint: &str) -> usize {
        self.inner.gate.count(endpoint)
    }

    pub fn request_counts(&self) -> BTreeMap<String, usize> {
        self.inner.gate.counts()
    }

    /// Every `Idempotency-Key` received on a creating call, in order (repeats included).
    pub fn idempotency_keys(&self) -> Vec<String> {
        lock(&self.inner.state).keys_seen.clone()
    }
}
