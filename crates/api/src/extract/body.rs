use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{StatusCode, header};
use emporium_domain::error::FieldErrors;
use emporium_domain::{Error, Result};
use serde_json::{Map, Value};

use crate::error::ApiError;

/// A JSON object body. Refuses, each with the error envelope: a content type
/// other than JSON (415), a body over the limit (413), malformed JSON and
/// anything but an object (400).
pub struct JsonObject(pub Map<String, Value>);

/// Like [`JsonObject`], but an empty body (with any or no content type) is `{}`.
pub struct OptionalJsonObject(pub Map<String, Value>);

fn is_json(req: &Request) -> bool {
    let Some(value) = req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let mime = value.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    mime == "application/json" || (mime.starts_with("application/") && mime.ends_with("+json"))
}

async fn read_body<S: Send + Sync>(req: Request, state: &S) -> Result<Bytes, ApiError> {
    Bytes::from_request(req, state).await.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::http(StatusCode::PAYLOAD_TOO_LARGE, "PAYLOAD_TOO_LARGE", "Request body is too large")
        } else {
            ApiError::http(StatusCode::BAD_REQUEST, "VALIDATION_ERROR", "Could not read the request body")
        }
    })
}

fn parse_object(bytes: &[u8]) -> Result<Map<String, Value>, ApiError> {
    match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(Error::field("body", "must be a JSON object").into()),
        Err(e) => Err(ApiError::http(StatusCode::BAD_REQUEST, "VALIDATION_ERROR", format!("Malformed JSON: {e}"))),
    }
}

fn unsupported_media_type() -> ApiError {
    ApiError::http(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "UNSUPPORTED_MEDIA_TYPE",
        "Content-Type must be application/json",
    )
}

impl<S: Send + Sync> FromRequest<S> for JsonObject {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        if !is_json(&req) {
            return Err(unsupported_media_type());
        }
        let bytes = read_body(req, state).await?;
        parse_object(&bytes).map(JsonObject)
    }
}

impl<S: Send + Sync> FromRequest<S> for OptionalJsonObject {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let json = is_json(&req);
        let bytes = read_body(req, state).await?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(OptionalJsonObject(Map::new()));
        }
        if !json {
            return Err(unsupported_media_type());
        }
        parse_object(&bytes).map(OptionalJsonObject)
    }
}

/// Reads named fields out of a JSON object, collecting every problem so one
/// response names them all. Fields are taken as they are read; whatever is
/// left at [`Fields::finish`] is reported as not allowed, which is how
/// `"role": "admin"` in a registration is refused rather than ignored.
pub struct Fields {
    map: Map<String, Value>,
    prefix: String,
    pub errors: FieldErrors,
}

impl Fields {
    pub fn new(map: Map<String, Value>) -> Self {
        Self { map, prefix: String::new(), errors: FieldErrors::new() }
    }

    /// Fields of an object nested in a list, named `prefix.field` in errors;
    /// fold them back with [`Fields::absorb`].
    pub fn nested(map: Map<String, Value>, prefix: &str) -> Self {
        Self { map, prefix: format!("{prefix}."), errors: FieldErrors::new() }
    }

    fn name(&self, field: &str) -> String {
        format!("{}{field}", self.prefix)
    }

    pub fn error(&mut self, field: &str, message: impl Into<String>) {
        let name = self.name(field);
        self.errors.push(name, message);
    }

    /// Takes a field: `None` when absent or null.
    fn take(&mut self, field: &str) -> Option<Value> {
        self.map.remove(field).filter(|v| !v.is_null())
    }

    fn typed<T>(&mut self, field: &str, v: Value, kind: &str, get: impl FnOnce(Value) -> Option<T>) -> Option<T> {
        let got = get(v);
        if got.is_none() {
            self.error(field, format!("must be {kind}"));
        }
        got
    }

    pub fn optional_str(&mut self, field: &str) -> Option<String> {
        let v = self.take(field)?;
        self.typed(field, v, "a string", |v| match v {
            Value::String(s) => Some(s),
            _ => None,
        })
    }

    pub fn required_str(&mut self, field: &str) -> Option<String> {
        if self.map.get(field).is_none_or(|v| v.is_null()) {
            self.map.remove(field);
            self.error(field, "is required");
            return None;
        }
        self.optional_str(field)
    }

    /// Absent: `None`; `null`: `Some(None)` (clear it); a string: `Some(Some(s))`.
    pub fn nullable_str(&mut self, field: &str) -> Option<Option<String>> {
        match self.map.remove(field)? {
            Value::Null => Some(None),
            Value::String(s) => Some(Some(s)),
            _ => {
                self.error(field, "must be a string or null");
                None
            }
        }
    }

    pub fn optional_bool(&mut self, field: &str) -> Option<bool> {
        let v = self.take(field)?;
        self.typed(field, v, "true or false", |v| v.as_bool())
    }

    /// A whole number that fits in 64 bits (`2.0` counts; `2.5` does not).
    pub fn optional_i64(&mut self, field: &str) -> Option<i64> {
        let v = self.take(field)?;
        self.typed(field, v, "an integer", |v| match v {
            Value::Number(n) => {
                n.as_i64().or_else(|| n.as_f64().filter(|f| f.fract() == 0.0 && f.abs() < 9.0e15).map(|f| f as i64))
            }
            _ => None,
        })
    }

    pub fn required_i64(&mut self, field: &str) -> Option<i64> {
        if self.map.get(field).is_none_or(|v| v.is_null()) {
            self.map.remove(field);
            self.error(field, "is required");
            return None;
        }
        self.optional_i64(field)
    }

    pub fn optional_number(&mut self, field: &str) -> Option<f64> {
        let v = self.take(field)?;
        self.typed(field, v, "a number", |v| v.as_f64())
    }

    /// An amount of money: a JSON number or a decimal string, at most 2 places.
    pub fn optional_money(&mut self, field: &str) -> Option<emporium_domain::money::Money> {
        use emporium_domain::money::Money;
        let parsed = match self.take(field)? {
            Value::Number(n) => {
                n.as_f64().ok_or_else(|| "must be a number".to_string()).and_then(Money::from_json_number)
            }
            Value::String(s) => Money::from_decimal_str(&s),
            _ => Err("must be a number".to_string()),
        };
        parsed.map_err(|e| self.error(field, e)).ok()
    }

    /// A percentage from 0 to 100: a JSON number or a decimal string.
    pub fn optional_percent(&mut self, field: &str) -> Option<emporium_domain::money::Percent> {
        use emporium_domain::money::Percent;
        let parsed = match self.take(field)? {
            Value::Number(n) => {
                n.as_f64().ok_or_else(|| "must be a number".to_string()).and_then(Percent::from_json_number)
            }
            Value::String(s) => {
                s.trim().parse::<f64>().map_err(|_| "must be a number".to_string()).and_then(Percent::from_json_number)
            }
            _ => Err("must be a number".to_string()),
        };
        parsed.map_err(|e| self.error(field, e)).ok()
    }

    /// An array of strings.
    pub fn optional_strings(&mut self, field: &str) -> Option<Vec<String>> {
        let items = self.optional_array(field)?;
        let strings: Option<Vec<String>> = items.into_iter().map(|v| v.as_str().map(String::from)).collect();
        if strings.is_none() {
            self.error(field, "must be an array of strings");
        }
        strings
    }

    /// A string or an integer, as ids and slugs arrive; `Some(None)` for null.
    pub fn nullable_key(&mut self, field: &str) -> Option<Option<String>> {
        match self.map.remove(field)? {
            Value::Null => Some(None),
            Value::String(s) => Some(Some(s)),
            Value::Number(n) if n.is_u64() => Some(Some(n.to_string())),
            _ => {
                self.error(field, "must be an id or slug");
                None
            }
        }
    }

    pub fn present(&self, field: &str) -> bool {
        self.map.contains_key(field)
    }

    pub fn optional_array(&mut self, field: &str) -> Option<Vec<Value>> {
        let v = self.take(field)?;
        self.typed(field, v, "an array", |v| match v {
            Value::Array(a) => Some(a),
            _ => None,
        })
    }

    /// A nested object, read with its own `Fields` whose errors are prefixed
    /// `field.`; merge them back with [`Fields::absorb`].
    pub fn nullable_object(&mut self, field: &str) -> Option<Option<Fields>> {
        match self.map.remove(field)? {
            Value::Null => Some(None),
            Value::Object(map) => {
                Some(Some(Fields { map, prefix: format!("{}.", self.name(field)), errors: FieldErrors::new() }))
            }
            _ => {
                self.error(field, "must be an object");
                None
            }
        }
    }

    pub fn required_object(&mut self, field: &str) -> Option<Fields> {
        if self.map.get(field).is_none_or(|v| v.is_null()) {
            self.map.remove(field);
            self.error(field, "is required");
            return None;
        }
        self.nullable_object(field).flatten()
    }

    /// Applies a domain parser to a value that was read, recording its error.
    pub fn parse<T>(
        &mut self,
        field: &str,
        value: Option<String>,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Option<T> {
        let value = value?;
        match parse(&value) {
            Ok(v) => Some(v),
            Err(message) => {
                self.error(field, message);
                None
            }
        }
    }

    /// Reports the fields nobody asked for, and ends a nested object's reading.
    fn leftovers(&mut self) {
        let unknown: Vec<String> = self.map.keys().cloned().collect();
        for key in unknown {
            self.error(&key, "is not allowed");
        }
        self.map.clear();
    }

    /// Folds a nested object's errors (and its unknown fields) into this one.
    pub fn absorb(&mut self, mut nested: Fields) {
        nested.leftovers();
        for e in nested.errors.into_vec() {
            self.errors.push(e.field, e.message);
        }
    }

    /// Ends the reading: `Ok` only if every field was known and valid.
    pub fn finish(mut self) -> Result<()> {
        self.leftovers();
        self.errors.into_result()
    }
}
