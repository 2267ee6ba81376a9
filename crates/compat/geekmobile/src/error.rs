//! geekmobile's two error shapes, produced here and nowhere else:
//! `{ok: false, msg}` for a refusal, and express-validator's
//! `{ok: false, errors: {"address.zip": {msg, location, value}}}` for bad input.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use emporium_api::error::ApiError;
use emporium_domain::Error;
use serde_json::{Map, Value, json};

/// Marks a response as already in geekmobile's shape, so the dialect's
/// response layer leaves it alone (see [`crate::reshape`]).
#[derive(Clone, Copy)]
pub struct Shaped;

/// Where a bad value was found, as express-validator names it.
#[derive(Debug, Clone, Copy)]
pub enum Location {
    Body,
    Query,
    Params,
}

impl Location {
    fn as_str(self) -> &'static str {
        match self {
            Location::Body => "body",
            Location::Query => "query",
            Location::Params => "params",
        }
    }
}

/// Every way a geekmobile request can fail.
#[derive(Debug)]
pub enum GeekError {
    /// `{ok: false, msg}`.
    Msg { status: StatusCode, msg: String, retry_after: Option<u64> },
    /// `{ok: false, errors: {field: {msg, location, value}}}`, fields in order.
    Fields { status: StatusCode, location: Location, fields: Vec<(String, String)> },
}

impl GeekError {
    pub fn msg(status: StatusCode, msg: impl Into<String>) -> Self {
        GeekError::Msg { status, msg: msg.into(), retry_after: None }
    }
    pub fn field(location: Location, field: impl Into<String>, msg: impl Into<String>) -> Self {
        GeekError::Fields { status: StatusCode::BAD_REQUEST, location, fields: vec![(field.into(), msg.into())] }
    }
    pub fn fields(location: Location, fields: Vec<(String, String)>) -> Self {
        GeekError::Fields { status: StatusCode::BAD_REQUEST, location, fields }
    }
    pub fn with_status(self, status: StatusCode) -> Self {
        match self {
            GeekError::Msg { msg, retry_after, .. } => GeekError::Msg { status, msg, retry_after },
            GeekError::Fields { location, fields, .. } => GeekError::Fields { status, location, fields },
        }
    }
}

pub type GeekResult<T> = Result<T, GeekError>;

/// A domain error in geekmobile's shape. Routes turn the errors the document
/// names (no such product, no such order) into its own messages first; what
/// reaches this is everything else, with the native message.
impl From<Error> for GeekError {
    fn from(e: Error) -> Self {
        match e {
            Error::Validation(fields) => GeekError::fields(
                Location::Body,
                fields.into_iter().map(|f| (f.field.to_string(), f.message.to_string())).collect(),
            ),
            Error::Unauthenticated(m) => GeekError::msg(StatusCode::UNAUTHORIZED, m),
            Error::Forbidden(m) => GeekError::msg(StatusCode::FORBIDDEN, m),
            Error::NotFound(m) => GeekError::msg(StatusCode::NOT_FOUND, m),
            Error::Conflict(m) => GeekError::msg(StatusCode::CONFLICT, m),
            Error::Upstream(m) => GeekError::msg(StatusCode::BAD_GATEWAY, m),
            e @ Error::InsufficientStock { .. } => GeekError::msg(StatusCode::CONFLICT, e.to_string()),
            Error::RateLimited { retry_after_secs } => GeekError::Msg {
                status: StatusCode::TOO_MANY_REQUESTS,
                msg: "Too many requests, please try again later".into(),
                retry_after: Some(retry_after_secs.max(1)),
            },
            Error::Unavailable { message, retry_after_secs } => {
                tracing::debug!(reason = %message, "refused: temporarily unavailable");
                GeekError::Msg {
                    status: StatusCode::SERVICE_UNAVAILABLE,
                    msg: "Temporarily unavailable, please try again shortly".into(),
                    retry_after: Some(retry_after_secs.max(1)),
                }
            }
            Error::Internal(e) => {
                // The details stay in the log (with the request id), never in the body.
                tracing::error!(error = ?e, "internal error");
                GeekError::msg(StatusCode::INTERNAL_SERVER_ERROR, "Internal server error")
            }
        }
    }
}

/// The body reader's and the shared extractors' refusals (413, 415,
/// malformed JSON), in geekmobile's shape.
impl From<ApiError> for GeekError {
    fn from(e: ApiError) -> Self {
        match e {
            ApiError::Domain(e) => e.into(),
            ApiError::Http { status, message, .. } => GeekError::msg(status, message),
        }
    }
}

impl IntoResponse for GeekError {
    fn into_response(self) -> Response {
        let (status, body, retry_after) = match self {
            GeekError::Msg { status, msg, retry_after } => (status, json!({ "ok": false, "msg": msg }), retry_after),
            GeekError::Fields { status, location, fields } => {
                let mut errors = Map::new();
                for (field, msg) in fields {
                    // express-validator keeps the first message per field.
                    if errors.contains_key(&field) {
                        continue;
                    }
                    // The document's `value` is the field's path, whatever
                    // was sent: echoing values back would echo passwords.
                    let entry = json!({ "msg": msg, "location": location.as_str(), "value": field });
                    errors.insert(field, entry);
                }
                (status, json!({ "ok": false, "errors": Value::Object(errors) }), None)
            }
        };
        let mut response = (status, Json(body)).into_response();
        if let Some(secs) = retry_after {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if status == StatusCode::PAYLOAD_TOO_LARGE {
            // The rest of the body was never read; this connection cannot be reused.
            response.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        response.extensions_mut().insert(Shaped);
        response
    }
}
