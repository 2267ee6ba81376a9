//! The success envelope: `{"statusCode", "data", "message", "success", "meta"?}`.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use emporium_domain::paging::Page;
use serde::Serialize;
use utoipa::ToSchema;

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Envelope<T> {
    pub status_code: u16,
    pub data: T,
    pub message: String,
    pub success: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub meta: Option<ListMeta>,
}

/// Where a page sits in the whole list.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ListMeta {
    pub page: u32,
    pub limit: u32,
    pub total: u64,
    pub total_pages: u64,
}

impl ListMeta {
    pub fn new(page: Page, total: u64) -> Self {
        Self { page: page.page(), limit: page.limit(), total, total_pages: page.total_pages(total) }
    }
}

/// A success response: the envelope with its HTTP status.
pub struct Reply<T>(StatusCode, Envelope<T>);

impl<T: Serialize> Reply<T> {
    pub fn ok(data: T, message: &str) -> Self {
        Self::with_status(StatusCode::OK, data, message)
    }
    pub fn created(data: T, message: &str) -> Self {
        Self::with_status(StatusCode::CREATED, data, message)
    }
    pub fn list(data: T, meta: ListMeta, message: &str) -> Self {
        let mut reply = Self::ok(data, message);
        reply.1.meta = Some(meta);
        reply
    }
    fn with_status(status: StatusCode, data: T, message: &str) -> Self {
        Self(
            status,
            Envelope { status_code: status.as_u16(), data, message: message.to_string(), success: true, meta: None },
        )
    }
}

impl Reply<Option<()>> {
    /// A success that carries only a message (`data` is `null`).
    pub fn message(message: &str) -> Self {
        Self::ok(None, message)
    }
}

impl<T: Serialize> Reply<T> {
    /// The body as it would be sent, for the response cache.
    pub fn to_bytes(&self) -> emporium_domain::Result<Vec<u8>> {
        serde_json::to_vec(&self.1).map_err(|e| emporium_domain::Error::internal(format!("rendering a response: {e}")))
    }
}

/// A 200 JSON response rendered earlier and kept in the read cache.
pub struct CachedJson(pub std::sync::Arc<Vec<u8>>);

impl IntoResponse for CachedJson {
    fn into_response(self) -> Response {
        ([(axum::http::header::CONTENT_TYPE, "application/json")], self.0.as_ref().clone()).into_response()
    }
}

impl<T: Serialize> IntoResponse for Reply<T> {
    fn into_response(self) -> Response {
        (self.0, Json(self.1)).into_response()
    }
}
