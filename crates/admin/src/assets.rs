//! The stylesheet and htmx, compiled into the binary and served with a year's
//! cache: their URLs carry a version, so a new release is a new URL.

use axum::Router;
use axum::http::{HeaderValue, header};
use axum::response::IntoResponse;
use axum::routing::get;
use emporium_api::AppState;

pub const HTMX_PATH: &str = "/admin/assets/htmx-2.0.4.min.js";
pub const CSS_PATH: &str = concat!("/admin/assets/admin-", env!("CARGO_PKG_VERSION"), ".css");

const HTMX: &[u8] = include_bytes!("../assets/htmx-2.0.4.min.js");
const HTMX_LICENSE: &[u8] = include_bytes!("../assets/htmx-LICENSE.txt");
const CSS: &[u8] = include_bytes!("../assets/admin.css");

fn asset(body: &'static [u8], content_type: &'static str) -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=31536000, immutable")),
            (header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")),
        ],
        body,
    )
}

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(HTMX_PATH, get(|| async { asset(HTMX, "text/javascript; charset=utf-8") }))
        .route("/admin/assets/htmx-LICENSE.txt", get(|| async { asset(HTMX_LICENSE, "text/plain; charset=utf-8") }))
        .route(CSS_PATH, get(|| async { asset(CSS, "text/css; charset=utf-8") }))
}
