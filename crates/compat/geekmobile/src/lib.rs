//! The geekmobile API document (`../shared/contracts/geekmobile.md`, an
//! Express shop with PayPal) served under `/compat/geekmobile` over the same
//! services as the native API: the user's token in `x-token`, an admin's in
//! `Authorization`, `{ok, …}` bodies and express-validator's errors.
//!
//! This crate owns the wire format only (see `docs/compat/geekmobile.md`
//! for what maps to what, and each deliberate difference from the document).

mod error;
mod extract;
mod routes;
mod views;

use axum::http::StatusCode;
use axum::middleware;
use axum::response::{IntoResponse, Response};
use emporium_api::AppState;
use utoipa::openapi::tag::TagBuilder;
use utoipa_axum::router::OpenApiRouter;

pub use error::{GeekError, GeekResult};

/// The dialect's routes, relative to `/compat/geekmobile`, under the
/// `geekmobile` tag. Unknown paths under the base and every refusal made
/// outside the handlers (a wrong method) come out in geekmobile's shape.
pub fn routes() -> OpenApiRouter<AppState> {
    let mut router = routes::routes()
        .fallback(|| async { GeekError::msg(StatusCode::NOT_FOUND, "Route not found") })
        .layer(middleware::map_response(reshape));
    let tag = TagBuilder::new()
        .name("geekmobile")
        .description(Some(
            "The geekmobile document (an Express shop with PayPal) under /compat/geekmobile: \
             the user's token in `x-token`, an admin's in `Authorization`, `{ok, …}` bodies.",
        ))
        .build();
    router.get_openapi_mut().tags.get_or_insert_with(Vec::new).push(tag);
    router
}

/// Puts an error answered outside the dialect's handlers (axum's 405, a
/// shared layer's refusal) into geekmobile's shape, keeping its status and
/// headers.
async fn reshape(response: Response) -> Response {
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) || response.extensions().get::<error::Shaped>().is_some()
    {
        return response;
    }
    let msg = match status {
        StatusCode::METHOD_NOT_ALLOWED => "Method not allowed on this route".to_string(),
        other => other.canonical_reason().unwrap_or("Request failed").to_string(),
    };
    let (parts, _) = response.into_parts();
    let mut reshaped = GeekError::msg(status, msg).into_response();
    for (name, value) in parts.headers.iter() {
        if name != axum::http::header::CONTENT_TYPE && name != axum::http::header::CONTENT_LENGTH {
            reshaped.headers_mut().insert(name.clone(), value.clone());
        }
    }
    reshaped
}
