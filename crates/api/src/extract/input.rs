//! The values a request field can hold. Each type here both *parses* a JSON
//! value (or a query-string / path value) and *describes* what it accepts as a
//! JSON Schema, so the OpenAPI document states exactly the limits the parser
//! enforces: they sit side by side in one `impl`, built from the same
//! constants.
//!
//! utoipa's `#[schema(max_length = …)]` takes only literals, so a derived
//! schema could not share the constants the checks use; that is why these
//! schemas are built by hand, next to the check they describe.
//!
//! Every text value refuses control characters (C0 including NUL, DEL, C1):
//! PostgreSQL cannot store NUL, and neither backend should see what the other
//! refuses. [`Lines`] alone also allows tab, line feed and carriage return.

use emporium_domain::account::{Email, FullName, Password, Phone, Role, Username};
use emporium_domain::catalog::{
    CategoryKey, MAX_STOCK, ProductSort, SearchQuery, Slug, parse_image_url, parse_keywords, parse_name, parse_sku,
    parse_stock,
};
use emporium_domain::error::FieldErrors;
use emporium_domain::ids::{ProductId, UserId};
use emporium_domain::money::{Money, Percent};
use emporium_domain::orders::{MAX_QUANTITY, OrderStatus, Quantity};
use emporium_domain::paging::{MAX_LIMIT, MAX_PAGE};
use emporium_domain::payments::PaymentMethod;
use emporium_domain::time::Timestamp;
use serde_json::Value;
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{
    AnyOfBuilder, ArrayBuilder, KnownFormat, ObjectBuilder, OneOfBuilder, Schema, SchemaFormat, Type,
};

/// A value of one request field: how it is parsed, and the schema that says so.
pub trait Input: Sized {
    /// What the field accepts, as the OpenAPI document states it.
    fn schema() -> RefOr<Schema>;

    /// Parses a JSON value; the error is the message for this field.
    fn from_json(value: Value) -> Result<Self, String>;

    /// Parses a query-string or path value. Most values are strings either
    /// way; numbers and booleans override this.
    fn from_text(raw: &str) -> Result<Self, String> {
        Self::from_json(Value::String(raw.to_string()))
    }

    /// Parses a JSON value and records any problem under `field`. Nested
    /// objects and lists override this to name their own parts
    /// (`shippingAddress.city`, `items[0].quantity`).
    fn read(value: Value, field: &str, errors: &mut FieldErrors) -> Option<Self> {
        Self::from_json(value).map_err(|message| errors.push(field, message)).ok()
    }
}

// -- text ------------------------------------------------------------------

/// One line of text: no control character at all.
pub const LINE_PATTERN: &str = r"^[^\u0000-\u001f\u007f-\u009f]*$";
/// Multi-line text: no control character but tab, line feed and carriage return.
pub const LINES_PATTERN: &str = r"^[^\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]*$";
/// One line with at least one character that is not white space (Rust's
/// `char::is_whitespace`, which is what `trim` removes), so it is not empty
/// once trimmed.
pub const NOT_BLANK_PATTERN: &str = concat!(
    r"^[^\u0000-\u001f\u007f-\u009f]*",
    r"[^\u0000-\u0020\u007f-\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]",
    r"[^\u0000-\u001f\u007f-\u009f]*$"
);

/// The control characters refused in one line of text (what [`LINE_PATTERN`] excludes).
pub fn has_control(s: &str) -> bool {
    s.chars().any(char::is_control)
}

fn has_control_but_newlines(s: &str) -> bool {
    s.chars().any(|c| c.is_control() && !matches!(c, '\t' | '\n' | '\r'))
}

fn string(value: Value) -> Result<String, String> {
    match value {
        Value::String(s) => Ok(s),
        _ => Err("must be a string".into()),
    }
}

/// Checks a text as sent, before any trimming: its characters and its length
/// (in characters, as JSON Schema counts them).
fn checked_text(value: Value, max: usize, multiline: bool) -> Result<String, String> {
    let s = string(value)?;
    if if multiline { has_control_but_newlines(&s) } else { has_control(&s) } {
        return Err("must not contain control characters".into());
    }
    if s.chars().count() > max {
        return Err(format!("must be at most {max} characters"));
    }
    Ok(s)
}

fn text_schema(min: usize, max: usize, pattern: &str) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .min_length((min > 0).then_some(min))
        .max_length(Some(max))
        .pattern(Some(pattern))
}

/// Any single line of up to `MAX` characters, kept as sent (passwords, tokens, filters).
#[derive(Debug, Clone)]
pub struct Line<const MAX: usize>(pub String);

impl<const MAX: usize> Input for Line<MAX> {
    fn schema() -> RefOr<Schema> {
        text_schema(0, MAX, LINE_PATTERN).into()
    }
    fn from_json(value: Value) -> Result<Self, String> {
        checked_text(value, MAX, false).map(Line)
    }
}

/// A name: one line, trimmed, 1 to `MAX` characters.
#[derive(Debug, Clone)]
pub struct Name<const MAX: usize>(pub String);

impl<const MAX: usize> Input for Name<MAX> {
    fn schema() -> RefOr<Schema> {
        text_schema(1, MAX, NOT_BLANK_PATTERN).into()
    }
    fn from_json(value: Value) -> Result<Self, String> {
        parse_name(&checked_text(value, MAX, false)?, MAX).map(Name)
    }
}

/// Multi-line text (a description, an order's notes): trimmed, up to `MAX` characters.
#[derive(Debug, Clone)]
pub struct Lines<const MAX: usize>(pub String);

impl<const MAX: usize> Input for Lines<MAX> {
    fn schema() -> RefOr<Schema> {
        text_schema(0, MAX, LINES_PATTERN).into()
    }
    fn from_json(value: Value) -> Result<Self, String> {
        Ok(Lines(checked_text(value, MAX, true)?.trim().to_string()))
    }
}

/// A product description: multi-line, at most 10000 characters.
pub type Description = Lines<{ emporium_domain::catalog::MAX_DESCRIPTION }>;

impl Input for FullName {
    fn schema() -> RefOr<Schema> {
        text_schema(1, FullName::MAX_LEN, NOT_BLANK_PATTERN).into()
    }
    fn from_json(value: Value) -> Result<Self, String> {
        FullName::parse(&checked_text(value, FullName::MAX_LEN, false)?)
    }
}

impl Input for Username {
    fn schema() -> RefOr<Schema> {
        text_schema(3, 30, r"^[A-Za-z0-9][A-Za-z0-9_.-]{2,29}$").into()
    }
    fn from_json(value: Value) -> Result<Self, String> {
        let s = checked_text(value, 30, false)?;
        if s.trim() != s {
            return Err("must not start or end with spaces".into());
        }
        Username::parse(&s)
    }
}

impl Input for Email {
    fn schema() -> RefOr<Schema> {
        text_schema(3, Email::MAX_LEN, NOT_BLANK_PATTERN)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Email)))
            .into()
    }
    fn from_json(value: Value) -> Result<Self, String> {
        Email::parse(&checked_text(value, Email::MAX_LEN, false)?)
    }
}

impl Input for Password {
    /// The pattern is the ASCII reading of the policy (JSON Schema regexes
    /// have no Unicode letter classes); the server also counts non-ASCII
    /// upper- and lower-case letters.
    fn schema() -> RefOr<Schema> {
        text_schema(
            Password::MIN_LEN,
            Password::MAX_LEN,
            r"^(?=.*[A-Z])(?=.*[a-z])(?=.*[0-9])(?=.*[!-/:-@\[-`{-~])[^\u0000-\u001f\u007f-\u009f]*$",
        )
        .description(Some(
            "At least 8 characters with an upper-case letter, a lower-case letter, a digit and a special character.",
        ))
        .into()
    }
    fn from_json(value: Value) -> Result<Self, String> {
        Password::parse(&checked_text(value, Password::MAX_LEN, false)?)
    }
}

impl Input for Phone {
    fn schema() -> RefOr<Schema> {
        // Runs of at most three separators keep generated numbers within the
        // length (the server takes any arrangement of these characters).
        text_schema(7, Phone::MAX_LEN, r"^[ +().-]{0,3}([0-9][ +().-]{0,3}){7,15}$").into()
    }
    fn from_json(value: Value) -> Result<Self, String> {
        Phone::parse(&checked_text(value, Phone::MAX_LEN, false)?)
    }
}

/// A stock keeping unit.
#[derive(Debug, Clone)]
pub struct Sku(pub String);

impl Input for Sku {
    fn schema() -> RefOr<Schema> {
        text_schema(1, 64, r"^[A-Za-z0-9._-]{1,64}$").into()
    }
    fn from_json(value: Value) -> Result<Self, String> {
        let s = checked_text(value, 64, false)?;
        if s.trim() != s {
            return Err("must be 1 to 64 letters, digits, '-', '_' or '.'".into());
        }
        parse_sku(&s).map(Sku)
    }
}

impl Input for Slug {
    fn schema() -> RefOr<Schema> {
        // Lower-case letters, digits and single hyphens, with at least one letter.
        text_schema(1, 100, r"^([0-9]+-)*[0-9]*[a-z][a-z0-9]*(-[a-z0-9]+)*$").into()
    }
    fn from_json(value: Value) -> Result<Self, String> {
        let s = checked_text(value, 100, false)?;
        if s.trim() != s {
            return Err("must be 1 to 100 lower-case letters, digits and single hyphens".into());
        }
        Slug::parse(&s)
    }
}

/// A category named by id or slug, as a query parameter or path segment.
impl Input for CategoryKey {
    fn schema() -> RefOr<Schema> {
        text_schema(1, CategoryKey::MAX_LEN, NOT_BLANK_PATTERN).description(Some("A category id or slug")).into()
    }
    fn from_json(value: Value) -> Result<Self, String> {
        CategoryKey::parse(&checked_text(value, CategoryKey::MAX_LEN, false)?)
    }
}

/// A category reference in a body: its id (a string or an integer) or its slug.
#[derive(Debug, Clone)]
pub struct CategoryRef(pub CategoryKey);

impl Input for CategoryRef {
    fn schema() -> RefOr<Schema> {
        OneOfBuilder::new()
            .item(CategoryKey::schema())
            .item(integer_schema(1, MAX_INTEGER))
            .description(Some("A category id or slug"))
            .into()
    }
    fn from_json(value: Value) -> Result<Self, String> {
        match value {
            Value::Number(_) if integer(&value).is_some_and(|n| n > 0) => {
                CategoryKey::parse(&integer(&value).unwrap_or_default().to_string())
            }
            Value::String(_) => CategoryKey::from_json(value),
            _ => Err("must be an id or slug".into()),
        }
        .map(CategoryRef)
    }
}

/// A product reference in a body: an id as a string or an integer. An id
/// that names no product is a 404 later, as in a path.
#[derive(Debug, Clone)]
pub struct ProductRef(pub String);

impl Input for ProductRef {
    fn schema() -> RefOr<Schema> {
        OneOfBuilder::new()
            .item(text_schema(1, 100, NOT_BLANK_PATTERN))
            .item(integer_schema(1, MAX_INTEGER))
            .description(Some("A product id"))
            .into()
    }
    fn from_json(value: Value) -> Result<Self, String> {
        match value {
            Value::Number(_) if integer(&value).is_some_and(|n| n > 0) => {
                Ok(ProductRef(integer(&value).unwrap_or_default().to_string()))
            }
            Value::String(_) => Ok(ProductRef(Name::<100>::from_json(value)?.0)),
            _ => Err("must be a product id".into()),
        }
    }
}

/// A product id in an order line: a positive integer, as a string or a number.
impl Input for ProductId {
    fn schema() -> RefOr<Schema> {
        OneOfBuilder::new()
            .item(text_schema(1, 18, r"^0*[1-9][0-9]*$"))
            .item(integer_schema(1, MAX_INTEGER))
            .description(Some("A product id"))
            .into()
    }
    fn from_json(value: Value) -> Result<Self, String> {
        let raw = match &value {
            Value::Number(_) => integer(&value).map(|n| n.to_string()),
            Value::String(s) if !has_control(s) => Some(s.clone()),
            _ => None,
        };
        raw.and_then(|s| s.parse().ok()).ok_or_else(|| "must be a product id".into())
    }
}

/// An id in a query string (`userId`, `actorId`).
impl Input for UserId {
    fn schema() -> RefOr<Schema> {
        text_schema(1, 18, r"^0*[1-9][0-9]*$").description(Some("A user id")).into()
    }
    fn from_json(value: Value) -> Result<Self, String> {
        checked_text(value, 18, false)?.parse().map_err(|_| "must be a user id".to_string())
    }
}

/// A search box's text.
impl Input for SearchQuery {
    fn schema() -> RefOr<Schema> {
        text_schema(1, SearchQuery::MAX_LEN, LINE_PATTERN).into()
    }
    fn from_json(value: Value) -> Result<Self, String> {
        SearchQuery::parse(&checked_text(value, SearchQuery::MAX_LEN, false)?)
    }
}

/// `YYYY-MM-DD` or an RFC 3339 date-time. The pattern leaves out days 29 to
/// 31, which not every month has; the server takes every real date.
impl Input for Timestamp {
    fn schema() -> RefOr<Schema> {
        text_schema(
            10,
            40,
            concat!(
                r"^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|1[0-9]|2[0-8])",
                r"(T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]{1,9})?(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9]))?$"
            ),
        )
        .description(Some("A date (YYYY-MM-DD, midnight UTC) or an RFC 3339 date-time"))
        .into()
    }
    fn from_json(value: Value) -> Result<Self, String> {
        Timestamp::parse(&checked_text(value, 40, false)?)
    }
}

fn enum_schema(values: &[&str]) -> RefOr<Schema> {
    ObjectBuilder::new().schema_type(Type::String).enum_values(Some(values.iter().copied())).into()
}

impl Input for Role {
    fn schema() -> RefOr<Schema> {
        enum_schema(&["user", "admin"])
    }
    fn from_json(value: Value) -> Result<Self, String> {
        Role::parse(&checked_text(value, 20, false)?)
    }
}

impl Input for OrderStatus {
    fn schema() -> RefOr<Schema> {
        let all: Vec<&str> = OrderStatus::ALL.iter().map(|s| s.as_str()).collect();
        enum_schema(&all)
    }
    fn from_json(value: Value) -> Result<Self, String> {
        OrderStatus::parse(&checked_text(value, 20, false)?)
    }
}

impl Input for PaymentMethod {
    fn schema() -> RefOr<Schema> {
        let all: Vec<&str> = PaymentMethod::ALL.iter().map(|m| m.as_str()).collect();
        enum_schema(&all)
    }
    fn from_json(value: Value) -> Result<Self, String> {
        PaymentMethod::parse(&checked_text(value, 20, false)?)
    }
}

impl Input for ProductSort {
    fn schema() -> RefOr<Schema> {
        enum_schema(ProductSort::NAMES)
    }
    fn from_json(value: Value) -> Result<Self, String> {
        ProductSort::parse(&checked_text(value, 20, false)?)
    }
}

// -- numbers and booleans --------------------------------------------------

/// The largest integer read from JSON. serde_json reads a number with more
/// than 15 significant digits approximately, so `2251799813685247.0` may come
/// back with a fraction; up to 14 digits (plus `.0`) it is always exact.
const MAX_INTEGER: i64 = 99_999_999_999_999;

/// A whole JSON number that fits in 64 bits (`2.0` counts; `2.5` does not).
fn integer(value: &Value) -> Option<i64> {
    match value {
        Value::Number(n) => n
            .as_i64()
            .or_else(|| n.as_f64().filter(|f| f.fract() == 0.0 && f.abs() <= MAX_INTEGER as f64).map(|f| f as i64)),
        _ => None,
    }
}

/// A decimal integer as a query string writes it: digits with an optional `-`.
fn integer_text(raw: &str) -> Option<i64> {
    let digits = raw.strip_prefix('-').unwrap_or(raw);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    raw.parse().ok()
}

fn integer_schema(min: i64, max: i64) -> ObjectBuilder {
    ObjectBuilder::new().schema_type(Type::Integer).minimum(Some(min)).maximum(Some(max))
}

/// An integer between `MIN` and `MAX`, with the message naming the range.
#[derive(Debug, Clone, Copy)]
pub struct Int<const MIN: i64, const MAX: i64>(pub i64);

impl<const MIN: i64, const MAX: i64> Int<MIN, MAX> {
    fn check(n: Option<i64>) -> Result<Self, String> {
        match n {
            Some(n) if (MIN..=MAX).contains(&n) => Ok(Int(n)),
            _ => Err(format!("must be an integer from {MIN} to {MAX}")),
        }
    }
}

impl<const MIN: i64, const MAX: i64> Input for Int<MIN, MAX> {
    fn schema() -> RefOr<Schema> {
        integer_schema(MIN, MAX).into()
    }
    fn from_json(value: Value) -> Result<Self, String> {
        Self::check(integer(&value))
    }
    fn from_text(raw: &str) -> Result<Self, String> {
        Self::check(integer_text(raw))
    }
}

/// `page`: from 1.
pub type PageNumber = Int<1, { MAX_PAGE as i64 }>;
/// `limit`: from 1 to 100.
pub type PageLimit = Int<1, { MAX_LIMIT as i64 }>;

/// A row version (`__v`): any integer; a stale one is a 409 later.
#[derive(Debug, Clone, Copy)]
pub struct Version(pub i64);

impl Input for Version {
    fn schema() -> RefOr<Schema> {
        integer_schema(-MAX_INTEGER, MAX_INTEGER).into()
    }
    fn from_json(value: Value) -> Result<Self, String> {
        integer(&value).filter(|n| n.abs() <= MAX_INTEGER).map(Version).ok_or_else(|| "must be an integer".into())
    }
}

impl Input for Quantity {
    fn schema() -> RefOr<Schema> {
        integer_schema(1, MAX_QUANTITY).into()
    }
    fn from_json(value: Value) -> Result<Self, String> {
        integer(&value).ok_or_else(|| "must be an integer".to_string()).and_then(Quantity::new)
    }
}

/// A stock level: 0 to a billion.
#[derive(Debug, Clone, Copy)]
pub struct Stock(pub i64);

impl Input for Stock {
    fn schema() -> RefOr<Schema> {
        integer_schema(0, MAX_STOCK).into()
    }
    fn from_json(value: Value) -> Result<Self, String> {
        integer(&value).ok_or_else(|| "must be an integer".to_string()).and_then(parse_stock).map(Stock)
    }
}

impl Input for bool {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new().schema_type(Type::Boolean).into()
    }
    fn from_json(value: Value) -> Result<Self, String> {
        value.as_bool().ok_or_else(|| "must be true or false".into())
    }
    /// Exactly `true` or `false`, as the document's `boolean` says.
    fn from_text(raw: &str) -> Result<Self, String> {
        match raw {
            "true" => Ok(true),
            "false" => Ok(false),
            _ => Err("must be true or false".into()),
        }
    }
}

fn money_number_schema(max: f64) -> ObjectBuilder {
    ObjectBuilder::new().schema_type(Type::Number).minimum(Some(0)).maximum(Some(max)).multiple_of(Some(0.01))
}

fn finite_number(raw: &str) -> Result<f64, String> {
    raw.parse::<f64>().ok().filter(|n| n.is_finite()).ok_or_else(|| "must be a number".to_string())
}

/// An amount of money: a JSON number or a decimal string, at most 2 places.
impl Input for Money {
    fn schema() -> RefOr<Schema> {
        OneOfBuilder::new()
            .item(money_number_schema(Money::MAX_MAJOR))
            .item(text_schema(1, 40, r"^0*([0-9]{1,9}(\.[0-9]{0,2})?|\.[0-9]{1,2})$"))
            .description(Some("At least 0, at most 2 decimal places; a number or a decimal string"))
            .into()
    }
    fn from_json(value: Value) -> Result<Self, String> {
        match value {
            Value::Number(n) => {
                n.as_f64().ok_or_else(|| "must be a number".to_string()).and_then(Money::from_json_number)
            }
            Value::String(s) => Money::from_decimal_str(&checked_text(Value::String(s), 40, false)?),
            _ => Err("must be a number".into()),
        }
    }
    fn from_text(raw: &str) -> Result<Self, String> {
        if raw.starts_with('-') {
            return Err("must be >= 0".into());
        }
        Money::from_json_number(finite_number(raw)?)
    }
}

/// In a query string, money is a number (`minPrice=9.99`).
#[derive(Debug, Clone, Copy)]
pub struct MoneyParam(pub Money);

impl Input for MoneyParam {
    fn schema() -> RefOr<Schema> {
        money_number_schema(Money::MAX_MAJOR).into()
    }
    fn from_json(value: Value) -> Result<Self, String> {
        Money::from_json(value).map(MoneyParam)
    }
    fn from_text(raw: &str) -> Result<Self, String> {
        Money::from_text(raw).map(MoneyParam)
    }
}

/// A percentage from 0 to 100: a JSON number or a decimal string.
impl Input for Percent {
    fn schema() -> RefOr<Schema> {
        OneOfBuilder::new()
            .item(money_number_schema(100.0))
            .item(text_schema(1, 10, r"^0*(100(\.0{0,2})?|[0-9]{1,2}(\.[0-9]{0,2})?|\.[0-9]{1,2})$"))
            .description(Some("Percent, 0 to 100, at most 2 decimal places; a number or a decimal string"))
            .into()
    }
    fn from_json(value: Value) -> Result<Self, String> {
        match value {
            Value::Number(n) => {
                n.as_f64().ok_or_else(|| "must be a number".to_string()).and_then(Percent::from_json_number)
            }
            Value::String(s) => {
                let s = checked_text(Value::String(s), 10, false)?;
                let money = Money::from_decimal_str(&s).map_err(|_| "must be a number from 0 to 100".to_string())?;
                Percent::from_basis_points(money.minor())
            }
            _ => Err("must be a number".into()),
        }
    }
    fn from_text(raw: &str) -> Result<Self, String> {
        Percent::from_json_number(finite_number(raw)?)
    }
}

/// In a query string, a percentage is a number (`minDiscount=10`).
#[derive(Debug, Clone, Copy)]
pub struct PercentParam(pub Percent);

impl Input for PercentParam {
    fn schema() -> RefOr<Schema> {
        money_number_schema(100.0).into()
    }
    fn from_json(value: Value) -> Result<Self, String> {
        Percent::from_json(value).map(PercentParam)
    }
    fn from_text(raw: &str) -> Result<Self, String> {
        Percent::from_text(raw).map(PercentParam)
    }
}

// -- lists -----------------------------------------------------------------

fn strings(value: Value) -> Result<Vec<String>, String> {
    let Value::Array(items) = value else { return Err("must be an array of strings".into()) };
    items.into_iter().map(|v| string(v).map_err(|_| "must be an array of strings".to_string())).collect()
}

/// A product's image URLs: up to 20 absolute http(s) URLs.
#[derive(Debug, Clone)]
pub struct Images(pub Vec<String>);

impl Images {
    const MAX: usize = 20;
    const MAX_URL: usize = 2048;
}

impl Input for Images {
    fn schema() -> RefOr<Schema> {
        let url = ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(SchemaFormat::Custom("uri".into())))
            .pattern(Some(r"^https?://[^\u0000-\u0020\u007f-\u009f]+$"))
            .max_length(Some(Self::MAX_URL));
        ArrayBuilder::new().items(url).max_items(Some(Self::MAX)).into()
    }
    fn from_json(value: Value) -> Result<Self, String> {
        let urls = strings(value)?;
        if urls.len() > Self::MAX {
            return Err(format!("must have at most {} images", Self::MAX));
        }
        let mut parsed = Vec::with_capacity(urls.len());
        for url in urls {
            if has_control(&url) {
                return Err("must not contain control characters".into());
            }
            if url.chars().count() > Self::MAX_URL {
                return Err(format!("must be at most {} characters", Self::MAX_URL));
            }
            parsed.push(parse_image_url(&url)?);
        }
        Ok(Images(parsed))
    }
}

/// Search keywords: up to 50, each 1 to 50 characters; duplicates fold.
#[derive(Debug, Clone)]
pub struct Keywords(pub Vec<String>);

impl Input for Keywords {
    fn schema() -> RefOr<Schema> {
        ArrayBuilder::new().items(text_schema(1, 50, NOT_BLANK_PATTERN)).max_items(Some(50)).into()
    }
    fn from_json(value: Value) -> Result<Self, String> {
        let words = strings(value)?;
        if words.iter().any(|w| has_control(w)) {
            return Err("must not contain control characters".into());
        }
        if words.iter().any(|w| w.chars().count() > 50) {
            return Err("each keyword must be 1 to 50 characters".into());
        }
        parse_keywords(words).map(Keywords)
    }
}

/// A list of nested objects (`items`), each read with its index in the
/// field names (`items[2].quantity`).
#[derive(Debug, Clone)]
pub struct List<T, const MIN: usize, const MAX: usize>(pub Vec<T>);

impl<T: Input, const MIN: usize, const MAX: usize> Input for List<T, MIN, MAX> {
    fn schema() -> RefOr<Schema> {
        ArrayBuilder::new().items(T::schema()).min_items(Some(MIN)).max_items(Some(MAX)).into()
    }
    fn from_json(value: Value) -> Result<Self, String> {
        let mut errors = FieldErrors::new();
        let list = Self::read(value, "", &mut errors);
        match list {
            Some(list) if errors.is_empty() => Ok(list),
            _ => Err(errors.into_vec().into_iter().next().map(|e| e.message).unwrap_or_default()),
        }
    }
    fn read(value: Value, field: &str, errors: &mut FieldErrors) -> Option<Self> {
        let Value::Array(items) = value else {
            errors.push(field, "must be an array");
            return None;
        };
        if items.len() < MIN {
            errors.push(field, format!("must contain at least {MIN} item{}", if MIN == 1 { "" } else { "s" }));
            return None;
        }
        if items.len() > MAX {
            errors.push(field, format!("must contain at most {MAX} items"));
            return None;
        }
        let before = errors.len();
        let parsed: Vec<Option<T>> =
            items.into_iter().enumerate().map(|(i, v)| T::read(v, &format!("{field}[{i}]"), errors)).collect();
        if errors.len() > before {
            return None;
        }
        parsed.into_iter().collect::<Option<Vec<T>>>().map(List)
    }
}

/// A query parameter's schema: a string one is never empty (`?page=` is
/// refused, not read as absent).
pub fn non_empty(schema: RefOr<Schema>) -> RefOr<Schema> {
    match schema {
        RefOr::T(Schema::Object(mut object))
            if object.schema_type == utoipa::openapi::schema::SchemaType::Type(Type::String)
                && object.min_length.is_none_or(|m| m == 0) =>
        {
            object.min_length = Some(1);
            RefOr::T(Schema::Object(object))
        }
        other => other,
    }
}

/// The schema of `T` or `null`.
pub fn nullable(schema: RefOr<Schema>) -> RefOr<Schema> {
    match schema {
        RefOr::T(Schema::Object(mut object)) if object.enum_values.is_none() => {
            object.schema_type = match object.schema_type {
                utoipa::openapi::schema::SchemaType::Type(t) => {
                    utoipa::openapi::schema::SchemaType::Array(vec![t, Type::Null])
                }
                other => other,
            };
            RefOr::T(Schema::Object(object))
        }
        other => OneOfBuilder::new().item(other).item(ObjectBuilder::new().schema_type(Type::Null)).into(),
    }
}

/// Requires at least one of the schemas to match (`email` or `username`).
pub fn any_of(schemas: impl IntoIterator<Item = RefOr<Schema>>) -> RefOr<Schema> {
    let mut builder = AnyOfBuilder::new();
    for schema in schemas {
        builder = builder.item(schema);
    }
    builder.into()
}

/// Exactly one of the schemas must match (`quantity` or `change`).
pub fn one_of(schemas: impl IntoIterator<Item = RefOr<Schema>>) -> RefOr<Schema> {
    let mut builder = OneOfBuilder::new();
    for schema in schemas {
        builder = builder.item(schema);
    }
    builder.into()
}

/// Description text for the schema.
pub fn describe(schema: RefOr<Schema>, text: &str) -> RefOr<Schema> {
    if text.is_empty() {
        return schema;
    }
    match schema {
        RefOr::T(Schema::Object(mut o)) => {
            o.description = Some(text.to_string());
            RefOr::T(Schema::Object(o))
        }
        RefOr::T(Schema::Array(mut a)) => {
            a.description = Some(text.to_string());
            RefOr::T(Schema::Array(a))
        }
        RefOr::T(Schema::OneOf(mut o)) => {
            o.description = Some(text.to_string());
            RefOr::T(Schema::OneOf(o))
        }
        other => other,
    }
}
