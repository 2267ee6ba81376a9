//! The error envelope, `{"success": false, "error": {"code", "message", "details"?}}`,
//! produced here and nowhere else.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use emporium_domain::{Error, FieldError};
use serde::Serialize;
use utoipa::ToSchema;

#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorEnvelope {
    pub success: bool,
    pub error: ErrorBody,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// VALIDATION_ERROR, AUTHENTICATION_ERROR, AUTHORIZATION_ERROR, NOT_FOUND,
    /// CONFLICT, INSUFFICIENT_STOCK, RATE_LIMITED, PAYLOAD_TOO_LARGE,
    /// METHOD_NOT_ALLOWED, UNSUPPORTED_MEDIA_TYPE, SERVICE_UNAVAILABLE, PAYMENT_PROVIDER_ERROR (502) or SERVER_ERROR.
    pub code: &'static str,
    pub message: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[schema(value_type = Vec<Object>)]
    pub details: Vec<serde_json::Value>,
}

/// Every way a request can fail, as the HTTP layer sees it.
#[derive(Debug)]
pub enum ApiError {
    /// A rule or lookup failed in a service.
    Domain(Error),
    /// A failure of the HTTP exchange itself (body too large, wrong method, …).
    Http { status: StatusCode, code: &'static str, message: String },
}

impl ApiError {
    pub fn http(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError::Http { status, code, message: message.into() }
    }
    pub fn not_found_route() -> Self {
        Self::http(StatusCode::NOT_FOUND, "NOT_FOUND", "Route not found")
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        ApiError::Domain(e)
    }
}

impl From<Vec<FieldError>> for ApiError {
    fn from(errors: Vec<FieldError>) -> Self {
        ApiError::Domain(Error::Validation(errors))
    }
}

fn envelope(status: StatusCode, code: &'static str, message: String, details: Vec<serde_json::Value>) -> Response {
    (status, Json(ErrorEnvelope { success: false, error: ErrorBody { code, message, details } })).into_response()
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let err = match self {
            ApiError::Http { status, code, message } => {
                let mut response = envelope(status, code, message, Vec::new());
                if status == StatusCode::PAYLOAD_TOO_LARGE {
                    // The rest of the body was never read, so this connection
                    // cannot carry another request; say so, or a client's
                    // pool would reuse it and see its next request fail.
                    response.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
                }
                return response;
            }
            ApiError::Domain(err) => err,
        };
        match err {
            Error::Validation(fields) => {
                let message = match fields.as_slice() {
                    [only] => format!("Validation failed: {only}"),
                    _ => "Validation failed".to_string(),
                };
                let details =
                    fields.iter().map(|f| serde_json::json!({ "field": f.field, "message": f.message })).collect();
                envelope(StatusCode::BAD_REQUEST, "VALIDATION_ERROR", message, details)
            }
            Error::Unauthenticated(message) => {
                let mut response = envelope(StatusCode::UNAUTHORIZED, "AUTHENTICATION_ERROR", message, Vec::new());
                response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
                response
            }
            Error::Forbidden(message) => envelope(StatusCode::FORBIDDEN, "AUTHORIZATION_ERROR", message, Vec::new()),
            Error::NotFound(message) => envelope(StatusCode::NOT_FOUND, "NOT_FOUND", message, Vec::new()),
            Error::Conflict(message) => envelope(StatusCode::CONFLICT, "CONFLICT", message, Vec::new()),
            Error::Upstream(message) => {
                envelope(StatusCode::BAD_GATEWAY, "PAYMENT_PROVIDER_ERROR", message, Vec::new())
            }
            e @ Error::InsufficientStock { .. } => {
                let Error::InsufficientStock { product_id, product_name, requested, available } = &e else {
                    unreachable!()
                };
                let detail = serde_json::json!({
                    "field": "quantity", "message": format!("only {available} available"),
                    "productId": product_id, "name": product_name, "requested": requested, "available": available,
                });
                envelope(StatusCode::CONFLICT, "INSUFFICIENT_STOCK", e.to_string(), vec![detail])
            }
            Error::RateLimited { retry_after_secs } => {
                let mut response = envelope(
                    StatusCode::TOO_MANY_REQUESTS,
                    "RATE_LIMITED",
                    "Too many requests, please try again later".into(),
                    Vec::new(),
                );
                response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs.max(1)));
                response
            }
            Error::Unavailable { message, retry_after_secs } => {
                // The cause is logged where it is found, once per outage, not per request.
                tracing::debug!(reason = %message, "refused: temporarily unavailable");
                let mut response = envelope(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "SERVICE_UNAVAILABLE",
                    "Temporarily unavailable, please try again shortly".into(),
                    Vec::new(),
                );
                response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs.max(1)));
                response
            }
            Error::Internal(e) => {
                // The details stay in the log (with the request id from the span), never in the body.
                tracing::error!(error = ?e, "internal error");
                envelope(StatusCode::INTERNAL_SERVER_ERROR, "SERVER_ERROR", "Internal server error".into(), Vec::new())
            }
        }
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
