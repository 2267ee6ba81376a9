//! The `microservices.md` dialect: a Django REST Framework + SimpleJWT shop
//! split into services (products, cart, orders, users, payments), served
//! under `/compat/microservices` over Emporium's own services. This crate
//! owns only the wire format — DRF's bare JSON, integer ids, decimals as
//! strings, `{"detail"}` and `{"field": [...]}` errors — and calls the same
//! services as the native API (see `docs/compat/microservices.md`).
//!
//! The document's Log Service is the audit log (every write here is audited
//! by the services, visible to admins at `/api/v1/admin/audit-log`); its
//! Notification Service is the e-mail outbox.

mod cart;
mod catalog;
pub mod error;
mod extract;
mod orders;
mod payments;
mod users;

use emporium_api::AppState;
use utoipa::openapi::tag::TagBuilder;
use utoipa_axum::router::{OpenApiRouter, UtoipaMethodRouter};

/// Where the dialect is mounted.
pub const BASE_PATH: &str = "/compat/microservices";
/// The OpenAPI tag of every operation.
pub const TAG: &str = "microservices";

/// This dialect's answer to a refusal made before its routes run (the shared
/// rate limit's 429, a panic's 500), as DRF words them; see
/// `emporium_api::Dialect::refusal`.
pub fn refusal(status: axum::http::StatusCode) -> axum::response::Response {
    use axum::response::IntoResponse;
    let detail = match status {
        axum::http::StatusCode::TOO_MANY_REQUESTS => "Request was throttled.",
        axum::http::StatusCode::INTERNAL_SERVER_ERROR => "A server error occurred.",
        other => other.canonical_reason().unwrap_or("Request failed"),
    };
    error::DrfError::detail(status, detail).into_response()
}

/// Every route of the document, relative to [`BASE_PATH`], with DRF's error
/// shapes for anything that fails (unknown paths and methods included).
pub fn routes() -> OpenApiRouter<AppState> {
    let mut router = OpenApiRouter::new()
        .merge(catalog::routes())
        .merge(cart::routes())
        .merge(orders::routes())
        .merge(users::routes())
        .merge(payments::routes())
        .fallback(error::not_found)
        .layer(axum::middleware::map_response(error::drf_errors));
    let tag = TagBuilder::new()
        .name(TAG)
        .description(Some(
            "microservices.md (Django REST Framework + SimpleJWT) under /compat/microservices: products, cart, \
             orders, users and Stripe payments over the same services as the native API. See docs/compat/microservices.md.",
        ))
        .build();
    router.get_openapi_mut().tags.get_or_insert_with(Vec::new).push(tag);
    router
}

/// A route's method router with DRF's 405 for the methods it does not take
/// (set here, where the route is declared, so the native 405 never applies).
///
/// Its operation ids are prefixed with the dialect's name, so they never
/// collide with the native API's (`get_cart`, `register`, …).
pub(crate) fn drf(routes: UtoipaMethodRouter<AppState>) -> UtoipaMethodRouter<AppState> {
    let (schemas, mut paths, method_router) = routes;
    for item in paths.paths.values_mut() {
        let operations = [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.options,
            &mut item.head,
            &mut item.patch,
            &mut item.trace,
        ];
        for operation in operations.into_iter().flatten() {
            if let Some(id) = &operation.operation_id {
                operation.operation_id = Some(format!("{TAG}_{id}"));
            }
        }
    }
    (schemas, paths, method_router.fallback(error::method_not_allowed))
}
