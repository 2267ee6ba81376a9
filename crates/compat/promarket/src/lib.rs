//! The promarket dialect: `promarket.md` (a NestJS/Mongoose-style API)
//! served under `/compat/promarket`, as a thin mapping onto the same
//! services, accounts and data as the native API.
//!
//! This crate owns only the wire format: request parsing into domain types
//! (through the shared `emporium_api::extract` inputs), the mapping of
//! statuses and fields (`_id`, `__v`, `preparing` for `processing`, a
//! category *name*, one `image`), and NestJS's error shape
//! (`{statusCode, message, error}`). Every rule, query and auth check is the
//! services'. Where it deliberately differs from its document, and why, is
//! in `docs/compat/promarket.md`.

mod auth;
mod error;
mod orders;
mod products;

use axum::routing::get;
use emporium_api::AppState;
use utoipa::OpenApi;
use utoipa_axum::router::{OpenApiRouter, UtoipaMethodRouter};
use utoipa_axum::routes;

pub use error::{NestError, PromarketError};

/// This dialect's answer to a refusal made before its routes run (the shared
/// rate limit's 429, a panic's 500); see `emporium_api::Dialect::refusal`.
pub fn refusal(status: axum::http::StatusCode) -> axum::response::Response {
    use axum::response::IntoResponse;
    let message = match status {
        axum::http::StatusCode::TOO_MANY_REQUESTS => "Too many requests; try again later",
        other => other.canonical_reason().unwrap_or("Request failed"),
    };
    PromarketError::new(status, message).into_response()
}

#[derive(OpenApi)]
#[openapi(tags((name = "promarket", description = "The promarket.md dialect (a NestJS/Mongoose-style API) under `/compat/promarket`: \
the same accounts, catalog and orders as the native API, in that document's shapes, with NestJS's error body \
`{statusCode, message, error}`. Orders placed here are manual-payment orders. See docs/compat/promarket.md.")))]
struct PromarketDoc;

/// The dialect's routes, relative to its base path.
pub fn routes() -> OpenApiRouter<AppState> {
    let mut router = OpenApiRouter::with_openapi(PromarketDoc::openapi())
        .routes(shaped(routes!(auth::signup)))
        .routes(shaped(routes!(auth::login)))
        .routes(shaped(routes!(auth::refresh)))
        .routes(shaped(routes!(products::create_product, products::list_products)))
        .routes(shaped(routes!(products::get_product, products::update_product, products::delete_product)))
        .routes(shaped(routes!(orders::create_order)))
        // The document writes `GET /orders/`; `GET /orders` is served too.
        .routes(shaped(routes!(orders::all_orders)))
        .route("/orders", get(orders::all_orders))
        .routes(shaped(routes!(orders::my_orders)))
        .routes(shaped(routes!(orders::update_status)))
        .fallback(|| async { PromarketError::not_found_route() });
    document(router.get_openapi_mut());
    router
}

/// What every operation here can also answer, in this dialect's error shape
/// (the server's shared answers are the native envelope's, so they are not
/// added under `/compat`), and operation ids of their own.
fn document(openapi: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
    let nest = |description: &str| {
        ResponseBuilder::new()
            .description(description)
            .content("application/json", ContentBuilder::new().schema(Some(Ref::from_schema_name("NestError"))).build())
            .build()
    };
    for item in openapi.paths.paths.values_mut() {
        let operations = [&mut item.get, &mut item.put, &mut item.post, &mut item.delete, &mut item.patch];
        for operation in operations.into_iter().flatten() {
            if let Some(id) = &operation.operation_id {
                operation.operation_id = Some(format!("promarket_{id}"));
            }
            let responses = &mut operation.responses.responses;
            responses
                .entry("429".into())
                .or_insert_with(|| nest("Too many requests (`Retry-After` says when to retry)").into());
            if operation.parameters.as_ref().is_some_and(|p| !p.is_empty()) {
                responses.entry("400".into()).or_insert_with(|| nest("A parameter is malformed").into());
            }
            if operation.request_body.is_some() {
                responses.entry("400".into()).or_insert_with(|| nest("A field is missing or invalid").into());
                responses
                    .entry("413".into())
                    .or_insert_with(|| nest("The body is larger than the server takes").into());
                responses.entry("415".into()).or_insert_with(|| nest("The body is not JSON").into());
            }
        }
    }
}

/// A method a path does not take is a 405 in this dialect's shape (a route's
/// own fallback, which the server's native 405 does not replace).
fn shaped(routes: UtoipaMethodRouter<AppState>) -> UtoipaMethodRouter<AppState> {
    let (schemas, paths, methods) = routes;
    (
        schemas,
        paths,
        methods.fallback(|| async {
            PromarketError::new(axum::http::StatusCode::METHOD_NOT_ALLOWED, "Method not allowed on this route")
        }),
    )
}
