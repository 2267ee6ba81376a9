//! NestJS's default error shape, `{"statusCode": 400, "message": "…" | ["…"], "error": "Bad Request"}`,
//! produced here and nowhere else in this dialect.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use emporium_api::error::ApiError;
use emporium_domain::Error;
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

/// The error body every promarket route answers with.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NestError {
    pub status_code: u16,
    /// One message, or one per invalid field (as class-validator lists them).
    #[schema(schema_with = message_schema)]
    pub message: Value,
    /// The status's reason phrase (`Bad Request`, `Not Found`, …).
    pub error: String,
}

/// A string, or an array of strings.
fn message_schema() -> utoipa::openapi::schema::Schema {
    use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, OneOfBuilder, Type};
    OneOfBuilder::new()
        .item(ObjectBuilder::new().schema_type(Type::String))
        .item(ArrayBuilder::new().items(ObjectBuilder::new().schema_type(Type::String)))
        .build()
        .into()
}

/// Every way a promarket request can fail.
#[derive(Debug)]
pub struct PromarketError {
    status: StatusCode,
    message: Value,
    retry_after: Option<u64>,
}

impl PromarketError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self { status, message: Value::String(message.into()), retry_after: None }
    }

    pub fn not_found_route() -> Self {
        Self::new(StatusCode::NOT_FOUND, "Cannot find this route")
    }
}

impl From<Error> for PromarketError {
    fn from(e: Error) -> Self {
        let status = |s: StatusCode, m: String| PromarketError::new(s, m);
        match e {
            Error::Validation(fields) => PromarketError {
                status: StatusCode::BAD_REQUEST,
                message: Value::Array(
                    fields.iter().map(|f| Value::String(format!("{} {}", f.field, f.message))).collect(),
                ),
                retry_after: None,
            },
            Error::Unauthenticated(m) => status(StatusCode::UNAUTHORIZED, m),
            Error::Forbidden(m) => status(StatusCode::FORBIDDEN, m),
            Error::NotFound(m) => status(StatusCode::NOT_FOUND, m),
            Error::Conflict(m) => status(StatusCode::CONFLICT, m),
            e @ Error::InsufficientStock { .. } => status(StatusCode::CONFLICT, e.to_string()),
            Error::Upstream(m) => status(StatusCode::BAD_GATEWAY, m),
            Error::RateLimited { retry_after_secs } => PromarketError {
                retry_after: Some(retry_after_secs.max(1)),
                ..status(StatusCode::TOO_MANY_REQUESTS, "Too many requests, please try again later".into())
            },
            Error::Unavailable { message, retry_after_secs } => {
                tracing::debug!(reason = %message, "refused: temporarily unavailable");
                PromarketError {
                    retry_after: Some(retry_after_secs.max(1)),
                    ..status(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "Temporarily unavailable, please try again shortly".into(),
                    )
                }
            }
            Error::Internal(e) => {
                // The details stay in the log, never in the body.
                tracing::error!(error = ?e, "internal error");
                status(StatusCode::INTERNAL_SERVER_ERROR, "Internal server error".into())
            }
        }
    }
}

/// The shared extractors (body, auth, query) refuse with the native error;
/// it is re-said here in this dialect's shape.
impl From<ApiError> for PromarketError {
    fn from(e: ApiError) -> Self {
        match e {
            ApiError::Domain(e) => e.into(),
            ApiError::Http { status, message, .. } => PromarketError::new(status, message),
        }
    }
}

impl IntoResponse for PromarketError {
    fn into_response(self) -> Response {
        let error = self.status.canonical_reason().unwrap_or("Error").to_string();
        let body = NestError { status_code: self.status.as_u16(), message: self.message, error };
        let mut response = (self.status, Json(body)).into_response();
        if let Some(secs) = self.retry_after {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if self.status == StatusCode::PAYLOAD_TOO_LARGE {
            // The rest of the body was never read: this connection cannot carry another request.
            response.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        response
    }
}

pub type PromarketResult<T> = Result<T, PromarketError>;
