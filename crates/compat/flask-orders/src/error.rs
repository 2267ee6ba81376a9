//! flask-orders' error bodies, produced here and nowhere else in this
//! dialect: `{"message": "…"}` with the right status, and token problems in
//! flask-jwt-extended's shape, `{"msg": "…"}`.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use emporium_api::error::ApiError;
use emporium_domain::Error;
use serde::Serialize;
use serde_json::json;
use utoipa::ToSchema;

/// A request the API refused.
#[derive(Debug, Serialize, ToSchema)]
pub struct FlaskMessage {
    pub message: String,
}

/// A missing or no longer valid token, as flask-jwt-extended says it.
#[derive(Debug, Serialize, ToSchema)]
pub struct FlaskJwtError {
    pub msg: String,
}

/// Every way a flask-orders request can fail.
#[derive(Debug)]
pub enum FlaskError {
    /// `{"message": …}`.
    Message { status: StatusCode, message: String, retry_after: Option<u64> },
    /// `{"msg": …}`, 401.
    Token(&'static str),
}

impl FlaskError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        FlaskError::Message { status, message: message.into(), retry_after: None }
    }
    pub const MISSING_TOKEN: FlaskError = FlaskError::Token("Missing Authorization Header");
    /// Said of every token that no longer (or never did) name a live
    /// session: expired, revoked by a logout or password change, or forged.
    pub const BAD_TOKEN: FlaskError = FlaskError::Token("Token has expired");
}

impl From<Error> for FlaskError {
    fn from(e: Error) -> Self {
        match e {
            Error::Validation(fields) => FlaskError::new(
                StatusCode::BAD_REQUEST,
                fields.iter().map(|f| format!("{} {}", f.field, f.message)).collect::<Vec<_>>().join("; "),
            ),
            Error::Unauthenticated(m) => FlaskError::new(StatusCode::UNAUTHORIZED, m),
            Error::Forbidden(m) => FlaskError::new(StatusCode::FORBIDDEN, m),
            Error::NotFound(m) => FlaskError::new(StatusCode::NOT_FOUND, m),
            Error::Conflict(m) => FlaskError::new(StatusCode::CONFLICT, m),
            e @ Error::InsufficientStock { .. } => FlaskError::new(StatusCode::CONFLICT, e.to_string()),
            Error::Upstream(m) => FlaskError::new(StatusCode::BAD_GATEWAY, m),
            Error::RateLimited { retry_after_secs } => FlaskError::Message {
                status: StatusCode::TOO_MANY_REQUESTS,
                message: "Too many requests, please try again later".into(),
                retry_after: Some(retry_after_secs.max(1)),
            },
            Error::Unavailable { message, retry_after_secs } => {
                tracing::debug!(reason = %message, "refused: temporarily unavailable");
                FlaskError::Message {
                    status: StatusCode::SERVICE_UNAVAILABLE,
                    message: "Temporarily unavailable, please try again shortly".into(),
                    retry_after: Some(retry_after_secs.max(1)),
                }
            }
            Error::Internal(e) => {
                // The details stay in the log, never in the body.
                tracing::error!(error = ?e, "internal error");
                FlaskError::new(StatusCode::INTERNAL_SERVER_ERROR, "Internal server error")
            }
        }
    }
}

/// The shared extractors refuse with the native error; it is re-said here.
impl From<ApiError> for FlaskError {
    fn from(e: ApiError) -> Self {
        match e {
            ApiError::Domain(e) => e.into(),
            ApiError::Http { status, message, .. } => FlaskError::new(status, message),
        }
    }
}

impl IntoResponse for FlaskError {
    fn into_response(self) -> Response {
        match self {
            FlaskError::Token(msg) => {
                let mut response = (StatusCode::UNAUTHORIZED, Json(json!({ "msg": msg }))).into_response();
                response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
                response
            }
            FlaskError::Message { status, message, retry_after } => {
                let mut response = (status, Json(FlaskMessage { message })).into_response();
                if let Some(secs) = retry_after {
                    response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
                }
                if status == StatusCode::PAYLOAD_TOO_LARGE {
                    // The rest of the body was never read: this connection cannot carry another request.
                    response.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
                }
                response
            }
        }
    }
}

pub type FlaskResult<T> = Result<T, FlaskError>;
