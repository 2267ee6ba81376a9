use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{StatusCode, header};
use emporium_domain::{Error, Result};
use serde_json::{Map, Value};

use crate::error::ApiError;

/// A JSON object body. Refuses, each with the error envelope: a content type
/// other than JSON (415), a body over the limit (413), malformed JSON and
/// anything but an object (400).
pub struct JsonObject(pub Map<String, Value>);

/// Like [`JsonObject`], but an empty body (with any or no content type), or
/// a JSON `null`, is `{}`.
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
        if matches!(serde_json::from_slice::<Value>(&bytes), Ok(Value::Null)) {
            return Ok(OptionalJsonObject(Map::new()));
        }
        parse_object(&bytes).map(OptionalJsonObject)
    }
}
