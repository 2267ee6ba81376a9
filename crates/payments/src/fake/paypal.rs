//! A fake of the parts of PayPal's REST API Emporium uses: the OAuth2 token,
//! Orders v2 (create, show, capture), refunding a capture, and the buyer's
//! approval page.
//!
//! Faithful to PayPal where Emporium could get it wrong:
//! - `/v1/oauth2/token` takes HTTP basic auth with [`FakePayPal::client_id`]
//!   and [`FakePayPal::client_secret`] and `grant_type=client_credentials`;
//!   every other call needs a live bearer token (tokens expire after
//!   [`FakePayPal::set_token_lifetime`], and [`FakePayPal::expire_tokens`]
//!   revokes them early) or gets 401;
//! - JSON fields PayPal does not define, values of the wrong JSON type and
//!   missing required fields are refused (400 `INVALID_REQUEST`:
//!   `MALFORMED_REQUEST_JSON`, `MISSING_REQUIRED_PARAMETER`, …); amounts must
//!   be decimal strings with no more decimals than the currency has
//!   (422 `DECIMAL_PRECISION`, or `DECIMALS_NOT_SUPPORTED` for HUF, JPY,
//!   TWD), `items` need `breakdown.item_total` (`ITEM_TOTAL_REQUIRED`) equal
//!   to their sum (`ITEM_TOTAL_MISMATCH`), and `amount.value` must equal its
//!   breakdown (`AMOUNT_MISMATCH`); an invoice id already paid is
//!   `DUPLICATE_INVOICE_ID`;
//! - capturing an unapproved order is `ORDER_NOT_APPROVED`, a captured one
//!   `ORDER_ALREADY_CAPTURED`; a repeated `PayPal-Request-Id` returns the
//!   first response and never captures twice;
//! - refunds never exceed what is left of the capture (`REFUND_AMOUNT_EXCEEDED`);
//! - answers are minimal (`id`, `status`, `links`) unless the request says
//!   `Prefer: return=representation`, as PayPal's are.
//!
//! Where PayPal's documentation leaves it open, the fake saves a response for
//! `PayPal-Request-Id` replay only when the call succeeded, so a capture first
//! refused as not approved can be retried with the same id once approved.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine;
use serde_json::{Map, Value, json};

use super::Outage;
use super::server::{self, Gate, Running, lock};
use crate::PayPalConfig;
use crate::currency;

const CLIENT_ID: &str = "emporium-fake-paypal-client";
const CLIENT_SECRET: &str = "emporium-fake-paypal-secret";
const DEFAULT_TOKEN_LIFETIME: Duration = Duration::from_secs(32_400);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeItem {
    pub name: String,
    pub quantity: String,
    pub unit_amount: String,
}

/// An order as the fake holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeOrder {
    pub id: String,
    /// `CREATED`, `PAYER_ACTION_REQUIRED`, `APPROVED` or `COMPLETED`.
    pub status: String,
    pub reference_id: Option<String>,
    pub custom_id: Option<String>,
    pub invoice_id: Option<String>,
    pub currency: String,
    /// `amount.value` as sent.
    pub value: String,
    /// The amount in the currency's minor unit.
    pub amount_minor: i64,
    pub items: Vec<FakeItem>,
    pub return_url: Option<String>,
    pub cancel_url: Option<String>,
    pub payer_id: Option<String>,
    pub capture_id: Option<String>,
    /// The `PayPal-Request-Id` it was created with.
    pub request_id: Option<String>,
    breakdown: Value,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeCapture {
    pub id: String,
    pub order_id: String,
    /// `COMPLETED`, `PENDING`, `DECLINED`, `PARTIALLY_REFUNDED`, `REFUNDED`.
    pub status: String,
    pub currency: String,
    pub value: String,
    pub amount_minor: i64,
    pub refunded_minor: i64,
    pub request_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakePayPalRefund {
    pub id: String,
    pub capture_id: String,
    pub currency: String,
    pub value: String,
    pub amount_minor: i64,
    pub request_id: Option<String>,
}

enum NextCapture {
    Decline,
    Pend,
    DeclineInstrument,
}

#[derive(Default)]
struct PayPalState {
    tokens: HashMap<String, Instant>,
    token_lifetime: Option<Duration>,
    token_requests: usize,
    orders: BTreeMap<String, FakeOrder>,
    captures: BTreeMap<String, FakeCapture>,
    refunds: Vec<FakePayPalRefund>,
    saved: HashMap<(String, String), (StatusCode, Value)>,
    request_ids: Vec<String>,
    next_capture: HashMap<String, NextCapture>,
    capture_amounts: HashMap<String, i64>,
    capture_count: usize,
    next_id: u64,
}

impl PayPalState {
    fn id(&mut self, prefix: &str) -> String {
        self.next_id += 1;
        format!("{prefix}{:013}", self.next_id)
    }
}

struct Inner {
    base_url: String,
    gate: Arc<Gate>,
    state: Mutex<PayPalState>,
}

/// A running fake PayPal. Cloning shares it; it stops with the last clone.
#[derive(Clone)]
pub struct FakePayPal {
    inner: Arc<Inner>,
    _server: Arc<Running>,
}

impl std::fmt::Debug for FakePayPal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakePayPal").field("base_url", &self.inner.base_url).finish_non_exhaustive()
    }
}

/// PayPal's error body.
struct PayPalError {
    status: StatusCode,
    name: &'static str,
    message: &'static str,
    field: Option<String>,
    issue: &'static str,
    description: String,
}

impl PayPalError {
    fn invalid(field: &str, issue: &'static str, description: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            name: "INVALID_REQUEST",
            message: "Request is not well-formed, syntactically incorrect, or violates schema.",
            field: Some(field.to_string()),
            issue,
            description: description.into(),
        }
    }

    fn unprocessable(field: Option<&str>, issue: &'static str, description: impl Into<String>) -> Self {
        Self {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            name: "UNPROCESSABLE_ENTITY",
            message: "The requested action could not be performed, semantically incorrect, or failed business validation.",
            field: field.map(str::to_string),
            issue,
            description: description.into(),
        }
    }

    fn not_found() -> Self {
        Self {
            status: StatusCode::NOT_FOUND,
            name: "RESOURCE_NOT_FOUND",
            message: "The specified resource does not exist.",
            field: None,
            issue: "INVALID_RESOURCE_ID",
            description: "Specified resource ID does not exist. Please check the resource ID and try again.".into(),
        }
    }

    fn unknown_field(path: &str) -> Self {
        Self::invalid(path, "MALFORMED_REQUEST_JSON", "The request JSON is not well formed: unknown field.")
    }

    fn wrong_type(path: &str, expected: &str) -> Self {
        Self::invalid(
            path,
            "MALFORMED_REQUEST_JSON",
            format!("The request JSON is not well formed: expected {expected}."),
        )
    }

    fn missing(path: &str) -> Self {
        Self::invalid(path, "MISSING_REQUIRED_PARAMETER", "A required field / parameter is missing.")
    }
}

impl IntoResponse for PayPalError {
    fn into_response(self) -> Response {
        let mut detail = json!({ "issue": self.issue, "description": self.description });
        if let Some(field) = &self.field {
            detail["field"] = json!(field);
            detail["location"] = json!("body");
        }
        let body = json!({
            "name": self.name,
            "message": self.message,
            "debug_id": "f4k3d3bu6",
            "details": [detail],
            "links": [{
                "href": format!("https://developer.paypal.com/api/rest/reference/orders/v2/errors/#{}", self.issue),
                "rel": "information_link",
                "method": "GET",
            }],
        });
        (self.status, Json(body)).into_response()
    }
}

/// A JSON object with only the `allowed` fields.
fn object<'a>(value: &'a Value, path: &str, allowed: &[&str]) -> Result<&'a Map<String, Value>, PayPalError> {
    let map = value.as_object().ok_or_else(|| PayPalError::wrong_type(path, "an object"))?;
    if let Some(key) = map.keys().find(|key| !allowed.contains(&key.as_str())) {
        return Err(PayPalError::unknown_field(&format!("{path}/{key}")));
    }
    Ok(map)
}

fn string<'a>(
    map: &'a Map<String, Value>,
    key: &str,
    path: &str,
    required: bool,
    max_chars: usize,
) -> Result<Option<&'a str>, PayPalError> {
    let field = format!("{path}/{key}");
    match map.get(key) {
        None if required => Err(PayPalError::missing(&field)),
        None => Ok(None),
        Some(Value::String(s)) => {
            let length = s.chars().count();
            if length == 0 || length > max_chars {
                return Err(PayPalError::invalid(
                    &field,
                    "INVALID_STRING_LENGTH",
                    format!("The value of a field is either too short or too long (1 to {max_chars})."),
                ));
            }
            Ok(Some(s))
        }
        Some(_) => Err(PayPalError::wrong_type(&field, "a string")),
    }
}

fn one_of(value: Option<&str>, field: &str, allowed: &[&str]) -> Result<(), PayPalError> {
    match value {
        Some(v) if !allowed.contains(&v) => {
            Err(PayPalError::invalid(field, "INVALID_PARAMETER_VALUE", "The value of a field is invalid."))
        }
        _ => Ok(()),
    }
}

fn url_field(value: Option<&str>, field: &str) -> Result<(), PayPalError> {
    match value {
        Some(v) if reqwest::Url::parse(v).map(|u| !matches!(u.scheme(), "http" | "https")).unwrap_or(true) => {
            Err(PayPalError::invalid(
                field,
                "INVALID_PARAMETER_SYNTAX",
                "The value of a field does not conform to the expected format.",
            ))
        }
        _ => Ok(()),
    }
}

/// PayPal's amount: `{currency_code, value}`, the value in minor units.
struct Amount {
    currency: String,
    value: String,
    minor: i64,
}

fn amount(value: &Value, path: &str) -> Result<Amount, PayPalError> {
    let map = object(value, path, &["currency_code", "value"])?;
    let code = string(map, "currency_code", path, true, 3)?.unwrap_or_default();
    let text = string(map, "value", path, true, 32)?.unwrap_or_default();
    let currency_field = format!("{path}/currency_code");
    let value_field = format!("{path}/value");
    let precision = match currency::paypal_precision(code) {
        Ok(Some(precision)) if code.bytes().all(|b| b.is_ascii_uppercase()) => precision,
        Ok(None) => {
            return Err(PayPalError::unprocessable(
                Some(&currency_field),
                "CURRENCY_NOT_SUPPORTED",
                "Currency code is not currently supported.",
            ));
        }
        _ => {
            return Err(PayPalError::invalid(
                &currency_field,
                "INVALID_PARAMETER_SYNTAX",
                "The value of a field does not conform to the expected format.",
            ));
        }
    };
    let minor = minor_units(text, precision.exponent, &value_field)?;
    Ok(Amount { currency: code.to_string(), value: text.to_string(), minor })
}

fn minor_units(text: &str, exponent: u32, field: &str) -> Result<i64, PayPalError> {
    let syntax = || {
        PayPalError::invalid(
            field,
            "INVALID_PARAMETER_SYNTAX",
            "The value of a field does not conform to the expected format.",
        )
    };
    if text.starts_with('-') {
        return Err(PayPalError::unprocessable(
            Some(field),
            "CANNOT_BE_NEGATIVE",
            "Must be greater than or equal to 0.",
        ));
    }
    let (whole, frac) = text.split_once('.').unwrap_or((text, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty() || !digits(whole) || !digits(frac) || (text.contains('.') && frac.is_empty()) {
        return Err(syntax());
    }
    if frac.len() > exponent as usize {
        return Err(if exponent == 0 {
            PayPalError::unprocessable(Some(field), "DECIMALS_NOT_SUPPORTED", "Currency does not support decimals.")
        } else {
            PayPalError::unprocessable(
                Some(field),
                "DECIMAL_PRECISION",
                "If the currency supports decimals, only two decimal place precision is supported.",
            )
        });
    }
    let padded = format!("{whole}{frac:0<width$}", width = exponent as usize);
    padded.parse().map_err(|_| syntax())
}

fn format_minor(minor: i64, currency: &str) -> String {
    match currency::paypal_precision(currency) {
        Ok(Some(precision)) if precision.exponent > 0 => {
            let scale = 10_i64.pow(precision.exponent);
            format!("{}.{:0width$}", minor / scale, minor % scale, width = precision.exponent as usize)
        }
        _ => minor.to_string(),
    }
}

/// Validates `POST /v2/checkout/orders` as PayPal does.
fn new_order(body: &Value, invoices_paid: &HashSet<String>) -> Result<FakeOrder, PayPalError> {
    let top = object(body, "", &["intent", "purchase_units", "payment_source", "application_context"])?;
    let intent = string(top, "intent", "", true, 255)?;
    match intent {
        Some("CAPTURE") => {}
        Some("AUTHORIZE") => {
            return Err(PayPalError::invalid(
                "/intent",
                "INVALID_PARAMETER_VALUE",
                "This fake implements intent CAPTURE only.",
            ));
        }
        _ => {
            return Err(PayPalError::invalid("/intent", "INVALID_PARAMETER_VALUE", "The value of a field is invalid."));
        }
    }
    let units = top.get("purchase_units").ok_or_else(|| PayPalError::missing("/purchase_units"))?;
    let units = units.as_array().ok_or_else(|| PayPalError::wrong_type("/purchase_units", "an array"))?;
    match units.len() {
        0 => return Err(PayPalError::missing("/purchase_units")),
        1 => {}
        _ => {
            return Err(PayPalError::invalid(
                "/purchase_units",
                "INVALID_ARRAY_MAX_ITEMS",
                "This fake takes one purchase unit.",
            ));
        }
    }
    let path = "/purchase_units/0";
    let unit = object(
        &units[0],
        path,
        &["reference_id", "description", "custom_id", "invoice_id", "soft_descriptor", "amount", "items"],
    )?;
    let reference_id = string(unit, "reference_id", path, false, 256)?.map(str::to_string);
    string(unit, "description", path, false, 127)?;
    let custom_id = string(unit, "custom_id", path, false, 127)?.map(str::to_string);
    let invoice_id = string(unit, "invoice_id", path, false, 127)?.map(str::to_string);
    string(unit, "soft_descriptor", path, false, 22)?;

    let amount_path = format!("{path}/amount");
    let amount_value = unit.get("amount").ok_or_else(|| PayPalError::missing(&amount_path))?;
    let amount_map = object(amount_value, &amount_path, &["currency_code", "value", "breakdown"])?;
    let mut plain = amount_map.clone();
    let breakdown = plain.remove("breakdown");
    let total = amount(&Value::Object(plain), &amount_path)?;
    if total.minor == 0 {
        return Err(PayPalError::unprocessable(
            Some(&format!("{amount_path}/value")),
            "CANNOT_BE_ZERO_OR_NEGATIVE",
            "Must be greater than zero.",
        ));
    }
    let same_currency = |a: &Amount, field: &str| {
        if a.currency == total.currency {
            Ok(())
        } else {
            Err(PayPalError::unprocessable(
                Some(field),
                "CURRENCY_MISMATCH",
                "Currency code should be the same for all amounts in a purchase unit.",
            ))
        }
    };

    let breakdown_path = format!("{amount_path}/breakdown");
    let mut parts: BTreeMap<&str, i64> = BTreeMap::new();
    if let Some(breakdown) = &breakdown {
        const PARTS: &[&str] =
            &["item_total", "shipping", "handling", "tax_total", "insurance", "shipping_discount", "discount"];
        let map = object(breakdown, &breakdown_path, PARTS)?;
        for part in PARTS {
            if let Some(value) = map.get(*part) {
                let field = format!("{breakdown_path}/{part}");
                let part_amount = amount(value, &field)?;
                same_currency(&part_amount, &field)?;
                parts.insert(part, part_amount.minor);
            }
        }
        let sum = parts.iter().fold(0_i64, |sum, (part, minor)| {
            if matches!(*part, "shipping_discount" | "discount") { sum - minor } else { sum + minor }
        });
        if sum != total.minor {
            return Err(PayPalError::unprocessable(
                Some(&format!("{amount_path}/value")),
                "AMOUNT_MISMATCH",
                "Should equal item_total + tax_total + shipping + handling + insurance - shipping_discount - discount.",
            ));
        }
    }

    let mut items = Vec::new();
    if let Some(list) = unit.get("items") {
        let list = list.as_array().ok_or_else(|| PayPalError::wrong_type(&format!("{path}/items"), "an array"))?;
        let mut items_minor = 0_i64;
        for (i, item) in list.iter().enumerate() {
            let item_path = format!("{path}/items/{i}");
            let map = object(
                item,
                &item_path,
                &["name", "quantity", "unit_amount", "description", "sku", "category", "tax", "url", "image_url"],
            )?;
            let name = string(map, "name", &item_path, true, 127)?.unwrap_or_default();
            let quantity = string(map, "quantity", &item_path, true, 10)?.unwrap_or_default();
            string(map, "description", &item_path, false, 127)?;
            string(map, "sku", &item_path, false, 127)?;
            one_of(
                string(map, "category", &item_path, false, 20)?,
                &format!("{item_path}/category"),
                &["DIGITAL_GOODS", "PHYSICAL_GOODS", "DONATION"],
            )?;
            let count: i64 =
                quantity.parse().ok().filter(|q| *q > 0 && quantity.bytes().all(|b| b.is_ascii_digit())).ok_or_else(
                    || {
                        PayPalError::invalid(
                            &format!("{item_path}/quantity"),
                            "INVALID_PARAMETER_SYNTAX",
                            "The value of a field does not conform to the expected format.",
                        )
                    },
                )?;
            let unit_field = format!("{item_path}/unit_amount");
            let unit_amount =
                amount(map.get("unit_amount").ok_or_else(|| PayPalError::missing(&unit_field))?, &unit_field)?;
            same_currency(&unit_amount, &unit_field)?;
            if let Some(tax) = map.get("tax") {
                same_currency(&amount(tax, &format!("{item_path}/tax"))?, &format!("{item_path}/tax"))?;
            }
            items_minor = unit_amount
                .minor
                .checked_mul(count)
                .and_then(|line| items_minor.checked_add(line))
                .ok_or_else(|| PayPalError::unprocessable(Some(&unit_field), "MAX_VALUE_EXCEEDED", "Too large."))?;
            items.push(FakeItem {
                name: name.to_string(),
                quantity: quantity.to_string(),
                unit_amount: unit_amount.value,
            });
        }
        match parts.get("item_total") {
            None => {
                return Err(PayPalError::unprocessable(
                    Some(&format!("{breakdown_path}/item_total")),
                    "ITEM_TOTAL_REQUIRED",
                    "If item details are specified (items.unit_amount and items.quantity) corresponding amount.breakdown.item_total is required.",
                ));
            }
            Some(item_total) if *item_total != items_minor => {
                return Err(PayPalError::unprocessable(
                    Some(&format!("{breakdown_path}/item_total")),
                    "ITEM_TOTAL_MISMATCH",
                    "Should equal sum of (unit_amount * quantity) across all items for a given purchase_unit.",
                ));
            }
            Some(_) => {}
        }
    }

    let (mut return_url, mut cancel_url) = (None, None);
    let experience_fields =
        ["return_url", "cancel_url", "brand_name", "locale", "landing_page", "shipping_preference", "user_action"];
    if let Some(source) = top.get("payment_source") {
        let source = object(source, "/payment_source", &["paypal"])?;
        if let Some(paypal) = source.get("paypal") {
            let paypal = object(paypal, "/payment_source/paypal", &["experience_context", "email_address"])?;
            if let Some(context) = paypal.get("experience_context") {
                let path = "/payment_source/paypal/experience_context";
                let mut allowed = experience_fields.to_vec();
                allowed.push("payment_method_preference");
                let context = object(context, path, &allowed)?;
                return_url = string(context, "return_url", path, false, 4000)?.map(str::to_string);
                cancel_url = string(context, "cancel_url", path, false, 4000)?.map(str::to_string);
                url_field(return_url.as_deref(), &format!("{path}/return_url"))?;
                url_field(cancel_url.as_deref(), &format!("{path}/cancel_url"))?;
                string(context, "brand_name", path, false, 127)?;
                one_of(
                    string(context, "user_action", path, false, 20)?,
                    &format!("{path}/user_action"),
                    &["CONTINUE", "PAY_NOW"],
                )?;
                one_of(
                    string(context, "shipping_preference", path, false, 24)?,
                    &format!("{path}/shipping_preference"),
                    &["GET_FROM_FILE", "NO_SHIPPING", "SET_PROVIDED_ADDRESS"],
                )?;
                one_of(
                    string(context, "landing_page", path, false, 20)?,
                    &format!("{path}/landing_page"),
                    &["LOGIN", "GUEST_CHECKOUT", "NO_PREFERENCE"],
                )?;
            }
        }
    }
    if let Some(context) = top.get("application_context") {
        let path = "/application_context";
        let context = object(context, path, &experience_fields)?;
        return_url = return_url.or(string(context, "return_url", path, false, 4000)?.map(str::to_string));
        cancel_url = cancel_url.or(string(context, "cancel_url", path, false, 4000)?.map(str::to_string));
        url_field(return_url.as_deref(), &format!("{path}/return_url"))?;
        url_field(cancel_url.as_deref(), &format!("{path}/cancel_url"))?;
    }

    if let Some(invoice) = &invoice_id
        && invoices_paid.contains(invoice)
    {
        return Err(PayPalError::unprocessable(
            Some(&format!("{path}/invoice_id")),
            "DUPLICATE_INVOICE_ID",
            "Duplicate Invoice ID detected. To avoid a potential duplicate transaction your account setting requires that Invoice Id be unique for each transaction.",
        ));
    }

    let status = if top.contains_key("payment_source") { "PAYER_ACTION_REQUIRED" } else { "CREATED" };
    Ok(FakeOrder {
        id: String::new(),
        status: status.into(),
        reference_id,
        custom_id,
        invoice_id,
        currency: total.currency,
        value: total.value,
        amount_minor: total.minor,
        items,
        return_url,
        cancel_url,
        payer_id: None,
        capture_id: None,
        request_id: None,
        breakdown: breakdown.unwrap_or(Value::Null),
    })
}

fn link(href: String, rel: &str, method: &str) -> Value {
    json!({ "href": href, "rel": rel, "method": method })
}

fn capture_json(capture: &FakeCapture, order: &FakeOrder, base: &str) -> Value {
    let mut value = json!({
        "id": capture.id,
        "status": capture.status,
        "amount": { "currency_code": capture.currency, "value": capture.value },
        "final_capture": true,
        "invoice_id": order.invoice_id,
        "custom_id": order.custom_id,
        "create_time": "2026-01-01T00:00:00Z",
        "update_time": "2026-01-01T00:00:00Z",
        "links": [
            link(format!("{base}/v2/payments/captures/{}", capture.id), "self", "GET"),
            link(format!("{base}/v2/payments/captures/{}/refund", capture.id), "refund", "POST"),
            link(format!("{base}/v2/checkout/orders/{}", order.id), "up", "GET"),
        ],
    });
    match capture.status.as_str() {
        "PENDING" => value["status_details"] = json!({ "reason": "PENDING_REVIEW" }),
        "DECLINED" => value["status_details"] = json!({ "reason": "DECLINED_BY_RISK_FRAUD_FILTERS" }),
        _ => {}
    }
    value
}

fn order_json(order: &FakeOrder, capture: Option<&FakeCapture>, base: &str) -> Value {
    let mut amount = json!({ "currency_code": order.currency, "value": order.value });
    if !order.breakdown.is_null() {
        amount["breakdown"] = order.breakdown.clone();
    }
    let items: Vec<Value> = order
        .items
        .iter()
        .map(|item| {
            json!({
                "name": item.name,
                "quantity": item.quantity,
                "unit_amount": { "currency_code": order.currency, "value": item.unit_amount },
            })
        })
        .collect();
    let mut unit = json!({
        "reference_id": order.reference_id.as_deref().unwrap_or("default"),
        "amount": amount,
        "payee": { "merchant_id": "FAKEMERCHANT01" },
        "items": items,
    });
    if let Some(custom_id) = &order.custom_id {
        unit["custom_id"] = json!(custom_id);
    }
    if let Some(invoice_id) = &order.invoice_id {
        unit["invoice_id"] = json!(invoice_id);
    }
    if let Some(capture) = capture {
        unit["payments"] = json!({ "captures": [capture_json(capture, order, base)] });
    }
    let mut links = vec![link(format!("{base}/v2/checkout/orders/{}", order.id), "self", "GET")];
    match order.status.as_str() {
        "CREATED" => links.push(link(format!("{base}/checkoutnow?token={}", order.id), "approve", "GET")),
        "PAYER_ACTION_REQUIRED" => {
            links.push(link(format!("{base}/checkoutnow?token={}", order.id), "payer-action", "GET"))
        }
        _ => {}
    }
    if order.status != "COMPLETED" {
        links.push(link(format!("{base}/v2/checkout/orders/{}", order.id), "update", "PATCH"));
        links.push(link(format!("{base}/v2/checkout/orders/{}/capture", order.id), "capture", "POST"));
    }
    let mut value = json!({
        "id": order.id,
        "intent": "CAPTURE",
        "status": order.status,
        "purchase_units": [unit],
        "create_time": "2026-01-01T00:00:00Z",
        "links": links,
    });
    if let Some(payer_id) = &order.payer_id {
        let email = format!("{}@buyer.example", payer_id.to_ascii_lowercase());
        value["payment_source"] = json!({ "paypal": { "email_address": email, "account_id": payer_id } });
        value["payer"] = json!({ "payer_id": payer_id, "email_address": email, "name": { "given_name": "Test", "surname": "Buyer" } });
    }
    value
}

fn wants_representation(headers: &HeaderMap) -> bool {
    headers
        .get_all("prefer")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .any(|value| value.split(',').any(|part| part.trim() == "return=representation"))
}

fn minimal(body: &Value) -> Value {
    json!({ "id": body["id"], "status": body["status"], "links": body["links"] })
}

fn request_id(headers: &HeaderMap) -> Option<String> {
    headers.get("paypal-request-id").and_then(|value| value.to_str().ok()).map(str::to_string)
}

/// The JSON body of a POST, `{}` when empty; PayPal takes JSON only.
fn json_body(headers: &HeaderMap, body: &[u8]) -> Result<Value, PayPalError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(json!({}));
    }
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("application/json"));
    if !is_json {
        return Err(PayPalError {
            status: StatusCode::UNSUPPORTED_MEDIA_TYPE,
            name: "UNSUPPORTED_MEDIA_TYPE",
            message: "The server does not support the request payload's media type.",
            field: None,
            issue: "UNSUPPORTED_MEDIA_TYPE",
            description: "The API cannot process the media type of the request payload: send application/json.".into(),
        });
    }
    serde_json::from_slice(body)
        .map_err(|_| PayPalError::invalid("/", "MALFORMED_REQUEST_JSON", "The request JSON is not well formed."))
}

/// The outcome of one POST: status, full representation.
type Outcome = Result<(StatusCode, Value), PayPalError>;

impl Inner {
    /// Runs a POST under `PayPal-Request-Id`: a repeat of a successful call
    /// (same path, same id) returns the first answer and does nothing.
    fn once(
        &self,
        uri: &Uri,
        headers: &HeaderMap,
        run: impl FnOnce(&mut PayPalState, Option<&str>) -> Outcome,
    ) -> Response {
        let id = request_id(headers);
        let representation = wants_representation(headers);
        let answer = |status: StatusCode, body: &Value| {
            let body = if representation { body.clone() } else { minimal(body) };
            (status, Json(body)).into_response()
        };
        let mut state = lock(&self.state);
        let key = id.as_ref().map(|id| (uri.path().to_string(), id.clone()));
        if let Some(id) = &id {
            state.request_ids.push(id.clone());
        }
        if let Some(key) = &key
            && let Some((status, body)) = state.saved.get(key)
        {
            return answer(*status, body);
        }
        match run(&mut state, id.as_deref()) {
            Ok((status, body)) => {
                if let Some(key) = key {
                    state.saved.insert(key, (status, body.clone()));
                }
                answer(status, &body)
            }
            Err(error) => error.into_response(),
        }
    }
}

async fn token(State(inner): State<Arc<Inner>>, headers: HeaderMap, body: Bytes) -> Response {
    let credentials = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Basic "))
        .and_then(|basic| base64::engine::general_purpose::STANDARD.decode(basic.trim()).ok())
        .and_then(|decoded| String::from_utf8(decoded).ok());
    if credentials.as_deref() != Some(&format!("{CLIENT_ID}:{CLIENT_SECRET}")) {
        let body = json!({ "error": "invalid_client", "error_description": "Client Authentication failed" });
        return (StatusCode::UNAUTHORIZED, Json(body)).into_response();
    }
    let form: Vec<(String, String)> = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    let grant = form.iter().find(|(key, _)| key == "grant_type").map(|(_, value)| value.as_str());
    if grant != Some("client_credentials") {
        let description = if grant.is_none() { "Grant Type is NULL" } else { "Grant Type is not supported" };
        let body = json!({ "error": "unsupported_grant_type", "error_description": description });
        return (StatusCode::BAD_REQUEST, Json(body)).into_response();
    }
    let mut state = lock(&inner.state);
    state.token_requests += 1;
    let lifetime = state.token_lifetime.unwrap_or(DEFAULT_TOKEN_LIFETIME);
    let access_token = format!("A21AAfake{}", state.id("TOKEN"));
    state.tokens.insert(access_token.clone(), Instant::now() + lifetime);
    Json(json!({
        "scope": "https://uri.paypal.com/services/payments/payment https://uri.paypal.com/services/payments/refund",
        "access_token": access_token,
        "token_type": "Bearer",
        "app_id": "APP-80W284485P519543T",
        "expires_in": lifetime.as_secs(),
        "nonce": "2026-01-01T00:00:00Zfake",
    }))
    .into_response()
}

async fn authorize(State(inner): State<Arc<Inner>>, request: Request, next: Next) -> Response {
    let bearer = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .map(|token| token.trim().to_string());
    let Some(bearer) = bearer else {
        let body = json!({
            "name": "AUTHENTICATION_FAILURE",
            "message": "Authentication failed due to invalid authentication credentials or a missing Authorization header.",
            "links": [link("https://developer.paypal.com/api/rest/reference/orders/v2/errors/#AUTHENTICATION_FAILURE".into(), "information_link", "GET")],
        });
        return (StatusCode::UNAUTHORIZED, Json(body)).into_response();
    };
    let live = lock(&inner.state).tokens.get(&bearer).is_some_and(|until| Instant::now() < *until);
    if !live {
        let body = json!({ "error": "invalid_token", "error_description": "Access Token not found in cache" });
        return (StatusCode::UNAUTHORIZED, Json(body)).into_response();
    }
    next.run(request).await
}

async fn create_order(State(inner): State<Arc<Inner>>, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    let body = match json_body(&headers, &body) {
        Ok(body) => body,
        Err(error) => return error.into_response(),
    };
    let base = inner.base_url.clone();
    inner.once(&uri, &headers, |state, request_id| {
        let paid: HashSet<String> = state
            .orders
            .values()
            .filter(|order| {
                order.capture_id.as_ref().and_then(|id| state.captures.get(id)).is_some_and(|c| c.status != "DECLINED")
            })
            .filter_map(|order| order.invoice_id.clone())
            .collect();
        let mut order = new_order(&body, &paid)?;
        order.id = state.id("5O");
        order.request_id = request_id.map(str::to_string);
        let json = order_json(&order, None, &base);
        state.orders.insert(order.id.clone(), order);
        Ok((StatusCode::CREATED, json))
    })
}

async fn show_order(State(inner): State<Arc<Inner>>, Path(id): Path<String>) -> Response {
    let state = lock(&inner.state);
    match state.orders.get(&id) {
        Some(order) => {
            let capture = order.capture_id.as_ref().and_then(|id| state.captures.get(id));
            Json(order_json(order, capture, &inner.base_url)).into_response()
        }
        None => PayPalError::not_found().into_response(),
    }
}

async fn capture_order(
    State(inner): State<Arc<Inner>>,
    Path(id): Path<String>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let body = match json_body(&headers, &body) {
        Ok(body) => body,
        Err(error) => return error.into_response(),
    };
    if let Err(error) = object(&body, "", &["payment_source"]) {
        return error.into_response();
    }
    let base = inner.base_url.clone();
    inner.once(&uri, &headers, |state, request_id| {
        let order = state.orders.get(&id).cloned().ok_or_else(PayPalError::not_found)?;
        match order.status.as_str() {
            "APPROVED" => {}
            "COMPLETED" => {
                return Err(PayPalError::unprocessable(
                    None,
                    "ORDER_ALREADY_CAPTURED",
                    "Order already captured. If 'intent=CAPTURE' only one capture per order is allowed.",
                ));
            }
            _ => {
                return Err(PayPalError::unprocessable(
                    None,
                    "ORDER_NOT_APPROVED",
                    "Payer has not yet approved the Order for payment. Please redirect the payer to the 'rel':'approve' url returned as part of the HATEOAS links within the Create Order call or provide a valid payment_source in the request.",
                ));
            }
        }
        let status = match state.next_capture.remove(&id) {
            Some(NextCapture::Decline) => "DECLINED",
            Some(NextCapture::Pend) => "PENDING",
            Some(NextCapture::DeclineInstrument) => {
                return Err(PayPalError::unprocessable(
                    None,
                    "INSTRUMENT_DECLINED",
                    "The instrument presented was either declined by the processor or bank, or it can't be used for this payment.",
                ));
            }
            None => "COMPLETED",
        };
        state.capture_count += 1;
        let captured_minor = state.capture_amounts.remove(&id).unwrap_or(order.amount_minor);
        let capture = FakeCapture {
            id: state.id("3C"),
            order_id: id.clone(),
            status: status.into(),
            currency: order.currency.clone(),
            value: format_minor(captured_minor, &order.currency),
            amount_minor: captured_minor,
            refunded_minor: 0,
            request_id: request_id.map(str::to_string),
        };
        let stored = state.orders.get_mut(&id).expect("looked up above");
        stored.status = "COMPLETED".into();
        stored.capture_id = Some(capture.id.clone());
        let json = order_json(stored, Some(&capture), &base);
        state.captures.insert(capture.id.clone(), capture);
        Ok((StatusCode::CREATED, json))
    })
}

async fn refund_capture(
    State(inner): State<Arc<Inner>>,
    Path(id): Path<String>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let body = match json_body(&headers, &body) {
        Ok(body) => body,
        Err(error) => return error.into_response(),
    };
    let base = inner.base_url.clone();
    inner.once(&uri, &headers, |state, request_id| {
        let fields = object(&body, "", &["amount", "invoice_id", "note_to_payer", "custom_id"])?;
        string(fields, "invoice_id", "", false, 127)?;
        string(fields, "note_to_payer", "", false, 255)?;
        string(fields, "custom_id", "", false, 127)?;
        let requested = fields.get("amount").map(|value| amount(value, "/amount")).transpose()?;
        let capture = state.captures.get(&id).cloned().ok_or_else(PayPalError::not_found)?;
        match capture.status.as_str() {
            "COMPLETED" | "PARTIALLY_REFUNDED" => {}
            "REFUNDED" => {
                return Err(PayPalError::unprocessable(
                    None,
                    "CAPTURE_FULLY_REFUNDED",
                    "The capture has already been fully refunded.",
                ));
            }
            _ => {
                return Err(PayPalError::unprocessable(
                    None,
                    "REFUND_NOT_ALLOWED",
                    "Refund cannot be issued for a capture that is not completed.",
                ));
            }
        }
        let left = capture.amount_minor - capture.refunded_minor;
        let minor = match requested {
            Some(requested) => {
                if requested.currency != capture.currency {
                    return Err(PayPalError::unprocessable(
                        Some("/amount/currency_code"),
                        "REFUND_CURRENCY_MISMATCH",
                        "Refund must be in the same currency as the capture.",
                    ));
                }
                if requested.minor == 0 {
                    return Err(PayPalError::unprocessable(
                        Some("/amount/value"),
                        "CANNOT_BE_ZERO_OR_NEGATIVE",
                        "Must be greater than zero.",
                    ));
                }
                if requested.minor > left {
                    return Err(PayPalError::unprocessable(
                        Some("/amount/value"),
                        "REFUND_AMOUNT_EXCEEDED",
                        "The refund amount must be less than or equal to the capture amount that has not yet been refunded.",
                    ));
                }
                requested.minor
            }
            None => left,
        };
        let refund = FakePayPalRefund {
            id: state.id("1R"),
            capture_id: id.clone(),
            currency: capture.currency.clone(),
            value: format_minor(minor, &capture.currency),
            amount_minor: minor,
            request_id: request_id.map(str::to_string),
        };
        let stored = state.captures.get_mut(&id).expect("looked up above");
        stored.refunded_minor += minor;
        stored.status = if stored.refunded_minor == stored.amount_minor { "REFUNDED" } else { "PARTIALLY_REFUNDED" }.into();
        let json = json!({
            "id": refund.id,
            "status": "COMPLETED",
            "amount": { "currency_code": refund.currency, "value": refund.value },
            "invoice_id": state.orders.get(&capture.order_id).and_then(|order| order.invoice_id.clone()),
            "create_time": "2026-01-01T00:00:00Z",
            "links": [
                link(format!("{base}/v2/payments/refunds/{}", refund.id), "self", "GET"),
                link(format!("{base}/v2/payments/captures/{id}"), "up", "GET"),
            ],
        });
        state.refunds.push(refund);
        Ok((StatusCode::CREATED, json))
    })
}

#[derive(serde::Deserialize)]
struct ApproveQuery {
    token: String,
}

/// PayPal's approval page, reduced to "the buyer approves": a GET approves
/// the order (as [`FakePayPal::approve`]) and redirects to its `return_url`
/// with `token` and `PayerID`, as PayPal does.
async fn approval_page(State(inner): State<Arc<Inner>>, Query(query): Query<ApproveQuery>) -> Response {
    let handle = FakePayPalHandle(inner.clone());
    let Some(order) = handle.approve(&query.token) else {
        return (StatusCode::NOT_FOUND, Html("This order cannot be approved.")).into_response();
    };
    match order.return_url.as_deref().and_then(|url| reqwest::Url::parse(url).ok()) {
        Some(mut url) => {
            url.query_pairs_mut()
                .append_pair("token", &order.id)
                .append_pair("PayerID", order.payer_id.as_deref().unwrap_or_default());
            Redirect::to(url.as_str()).into_response()
        }
        None => Html("Approved. You can close this page.").into_response(),
    }
}

struct FakePayPalHandle(Arc<Inner>);

impl FakePayPalHandle {
    /// Approves an order awaiting the buyer; `None` when there is none.
    fn approve(&self, id: &str) -> Option<FakeOrder> {
        let mut state = lock(&self.0.state);
        let payer_id = state.id("PAYER");
        let order = state.orders.get_mut(id)?;
        if !matches!(order.status.as_str(), "CREATED" | "PAYER_ACTION_REQUIRED") {
            return None;
        }
        order.status = "APPROVED".into();
        order.payer_id = Some(payer_id);
        Some(order.clone())
    }
}

impl FakePayPal {
    /// Starts a fake PayPal on 127.0.0.1 with an ephemeral port.
    pub async fn start() -> Self {
        let (listener, addr) = server::bind().await;
        let gate = Gate::new(json!({
            "name": "SERVICE_UNAVAILABLE",
            "message": "Service Unavailable.",
            "debug_id": "f4k3d3bu6",
        }));
        let inner = Arc::new(Inner { base_url: format!("http://{addr}"), gate: gate.clone(), state: Mutex::default() });
        let api = Router::new()
            .route("/v2/checkout/orders", post(create_order))
            .route("/v2/checkout/orders/{id}", get(show_order))
            .route("/v2/checkout/orders/{id}/capture", post(capture_order))
            .route("/v2/payments/captures/{id}/refund", post(refund_capture))
            .route_layer(middleware::from_fn_with_state(inner.clone(), authorize))
            .route("/v1/oauth2/token", post(token))
            .route_layer(middleware::from_fn_with_state(gate, server::gate));
        let router = api
            .route("/checkoutnow", get(approval_page))
            .fallback(|| async { PayPalError::not_found() })
            .with_state(inner.clone());
        let server = server::serve(listener, router);
        Self { inner, _server: server }
    }

    /// `http://127.0.0.1:{port}`: the `api_base` to configure.
    pub fn base_url(&self) -> String {
        self.inner.base_url.clone()
    }

    pub fn client_id(&self) -> String {
        CLIENT_ID.to_string()
    }

    pub fn client_secret(&self) -> String {
        CLIENT_SECRET.to_string()
    }

    /// A configuration for [`crate::PayPalProvider`] pointed at this fake
    /// (a 5-second timeout).
    pub fn provider_config(&self) -> PayPalConfig {
        PayPalConfig {
            client_id: self.client_id(),
            client_secret: self.client_secret(),
            api_base: self.base_url(),
            timeout: Duration::from_secs(5),
        }
    }

    pub async fn set_outage(&self, outage: Outage) {
        self.inner.gate.set_outage(outage);
    }

    /// The `expires_in` of tokens issued from now on (PayPal's is about 9 hours).
    pub async fn set_token_lifetime(&self, lifetime: Duration) {
        lock(&self.inner.state).token_lifetime = Some(lifetime);
    }

    /// Revokes every token issued so far: calls with them get 401.
    pub async fn expire_tokens(&self) {
        lock(&self.inner.state).tokens.clear();
    }

    /// The buyer approves the order at PayPal. Panics unless it awaits approval.
    pub async fn approve(&self, order_id: &str) {
        if FakePayPalHandle(self.inner.clone()).approve(order_id).is_none() {
            panic!("FakePayPal: order {order_id} is unknown or not awaiting approval");
        }
    }

    /// The next capture of this order is `DECLINED` (the order still
    /// becomes `COMPLETED`, as PayPal's does).
    pub async fn decline_capture(&self, order_id: &str) {
        lock(&self.inner.state).next_capture.insert(order_id.to_string(), NextCapture::Decline);
    }

    /// The next capture of this order is refused with 422
    /// `INSTRUMENT_DECLINED` (the buyer's funding source was declined; the
    /// order stays `APPROVED` and nothing is captured).
    pub async fn decline_instrument(&self, order_id: &str) {
        lock(&self.inner.state).next_capture.insert(order_id.to_string(), NextCapture::DeclineInstrument);
    }

    /// The next capture of this order is `PENDING` (held for review) until
    /// [`Self::settle_capture`].
    pub async fn pend_capture(&self, order_id: &str) {
        lock(&self.inner.state).next_capture.insert(order_id.to_string(), NextCapture::Pend);
    }

    /// A `PENDING` capture of this order completes.
    pub async fn settle_capture(&self, order_id: &str) {
        let mut state = lock(&self.inner.state);
        let capture_id = state.orders.get(order_id).and_then(|order| order.capture_id.clone());
        let capture = capture_id.and_then(|id| state.captures.get_mut(&id));
        match capture {
            Some(capture) if capture.status == "PENDING" => capture.status = "COMPLETED".into(),
            _ => panic!("FakePayPal: order {order_id} has no pending capture"),
        }
    }

    /// The next capture of this order takes `amount_minor` (in the
    /// currency's minor unit) instead of the order's amount: for testing that
    /// a payment whose amount differs from the order's is never accepted as
    /// paying it.
    pub async fn set_capture_amount(&self, order_id: &str, amount_minor: i64) {
        lock(&self.inner.state).capture_amounts.insert(order_id.to_string(), amount_minor);
    }

    /// PayPal forgets an order (an unapproved order lapsing): reading it is 404.
    pub async fn lapse(&self, order_id: &str) {
        lock(&self.inner.state).orders.remove(order_id);
    }

    /// Captures actually performed (replays and refusals not counted).
    pub fn capture_count(&self) -> usize {
        lock(&self.inner.state).capture_count
    }

    /// Tokens issued.
    pub fn token_requests(&self) -> usize {
        lock(&self.inner.state).token_requests
    }

    pub fn orders(&self) -> Vec<FakeOrder> {
        lock(&self.inner.state).orders.values().cloned().collect()
    }

    pub fn order(&self, id: &str) -> Option<FakeOrder> {
        lock(&self.inner.state).orders.get(id).cloned()
    }

    pub fn captures(&self) -> Vec<FakeCapture> {
        lock(&self.inner.state).captures.values().cloned().collect()
    }

    pub fn refunds(&self) -> Vec<FakePayPalRefund> {
        lock(&self.inner.state).refunds.clone()
    }

    /// Every `PayPal-Request-Id` received, in order (repeats included).
    pub fn request_ids(&self) -> Vec<String> {
        lock(&self.inner.state).request_ids.clone()
    }

    /// Requests received by endpoint, keyed `"{METHOD} {route}"`:
    /// `POST /v1/oauth2/token`, `POST /v2/checkout/orders`,
    /// `GET /v2/checkout/orders/{id}`, `POST /v2/checkout/orders/{id}/capture`,
    /// `POST /v2/payments/captures/{id}/refund`. Counted before
    /// authentication and the outage switch.
    pub fn request_count(&self, endpoint: &str) -> usize {
        self.inner.gate.count(endpoint)
    }

    pub fn request_counts(&self) -> BTreeMap<String, usize> {
        self.inner.gate.counts()
    }
}
