//! HTML form bodies (`application/x-www-form-urlencoded`), read into name/value
//! pairs. Kept apart from the API's JSON parsing on purpose: a form sends
//! every field as text, repeats names for multiple values (checkboxes) and
//! omits unchecked boxes, none of which the JSON request types model.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

/// A parsed form: every field in the order sent.
pub struct Form(Vec<(String, String)>);

impl Form {
    /// The first value of `name`, trimmed of a browser's `\r`; empty when absent.
    pub fn text(&self, name: &str) -> &str {
        self.0.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str()).unwrap_or("")
    }

    /// The value of `name`, `None` when absent or blank.
    pub fn optional(&self, name: &str) -> Option<&str> {
        Some(self.text(name).trim()).filter(|s| !s.is_empty())
    }

    /// Every value sent under `name` (checkbox groups).
    pub fn all(&self, name: &str) -> Vec<&str> {
        self.0.iter().filter(|(k, _)| k == name).map(|(_, v)| v.as_str()).collect()
    }

    /// Whether a checkbox named `name` was ticked.
    pub fn checked(&self, name: &str) -> bool {
        self.0.iter().any(|(k, _)| k == name)
    }

    pub fn parse(bytes: &[u8]) -> Result<Self, String> {
        let pairs: Vec<(String, String)> =
            serde_urlencoded::from_bytes(bytes).map_err(|_| "The form could not be read.".to_string())?;
        Ok(Self(pairs.into_iter().map(|(k, v)| (k, v.replace("\r\n", "\n"))).collect()))
    }
}

impl<S: Send + Sync> FromRequest<S> for Form {
    type Rejection = Response;

    async fn from_request(request: Request, state: &S) -> Result<Self, Response> {
        let is_form = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ct| ct.starts_with("application/x-www-form-urlencoded"));
        if !is_form {
            return Err(crate::render::PageError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "Send this form from the page.",
            )
            .into_response());
        }
        let bytes = Bytes::from_request(request, state).await.map_err(IntoResponse::into_response)?;
        Form::parse(&bytes).map_err(|m| crate::render::PageError::new(StatusCode::BAD_REQUEST, m).into_response())
    }
}

/// Percent-encodes a query value.
pub fn encode(value: &str) -> String {
    form_urlencoded::byte_serialize(value.as_bytes()).collect()
}
