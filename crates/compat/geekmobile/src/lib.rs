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

/// This dialect's answer to a refusal made before its routes run (the shared
/// rate limit's 429, a panic's 500); see `emporium_api::Dialect::refusal`.
pub fn refusal(status: axum::http::StatusCode) -> axum::response::Response {
    use axum::response::IntoResponse;
    let message = match status {
        axum::http::StatusCode::TOO_MANY_REQUESTS => "Too many requests; try again later",
        other => other.canonical_reason().unwrap_or("Request failed"),
    };
    GeekError::msg(status, message).into_response()
}

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
    let openapi = router.get_openapi_mut();
    openapi.tags.get_or_insert_with(Vec::new).push(tag);
    for item in openapi.paths.paths.values_mut() {
        let operations = [&mut item.get, &mut item.put, &mut item.post, &mut item.delete, &mut item.patch];
        for operation in operations.into_iter().flatten() {
            describe_shared_refusals(operation);
        }
    }
    router
}

/// Names each operation apart from the native ones (`geekmobile_sign_in`)
/// and declares what every geekmobile route may answer besides its own
/// results: the rate limit, and for a body, its size and type.
fn describe_shared_refusals(operation: &mut utoipa::openapi::path::Operation) {
    use utoipa::openapi::ResponseBuilder;
    if let Some(id) = operation.operation_id.as_mut()
        && !id.starts_with("geekmobile_")
    {
        *id = format!("geekmobile_{id}");
    }
    let mut declare = |status: &str, description: &str| {
        operation
            .responses
            .responses
            .entry(status.to_string())
            .or_insert_with(|| ResponseBuilder::new().description(description).build().into());
    };
    declare("429", "Too many requests (the shared per-IP budget, or sign-in's own limits)");
    if operation.request_body.is_some() {
        declare("400", "`{ok: false, errors}` naming each bad field, or `{ok: false, msg}` for malformed JSON");
        declare("413", "`{ok: false, msg}`: the body is over the size limit");
        declare("415", "`{ok: false, msg}`: the body is not JSON");
    }
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
