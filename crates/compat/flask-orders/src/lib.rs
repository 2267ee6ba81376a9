//! The flask-orders dialect: `flask-orders.md` (a Flask +
//! flask-jwt-extended API) served under `/compat/flask-orders`, as a thin
//! mapping onto the same services, accounts and data as the native API.
//!
//! This crate owns only the wire format: request parsing (through the
//! shared `emporium_api::extract` inputs), the mapping of its statuses
//! (`IN PROGRESS` for pending, paid and processing) and fields, and its
//! error bodies (`{"message"}`, and `{"msg"}` for token problems). Every
//! rule, query and auth check is the services'. Where it deliberately
//! differs from its document, and why, is in `docs/compat/flask-orders.md`.

mod accounts;
mod error;
mod orders;

use axum::http::StatusCode;
use emporium_api::AppState;
use utoipa::OpenApi;
use utoipa_axum::router::{OpenApiRouter, UtoipaMethodRouter};
use utoipa_axum::routes;

pub use error::{FlaskError, FlaskJwtError, FlaskMessage};

/// This dialect's answer to a refusal made before its routes run (the shared
/// rate limit's 429, a panic's 500); see `emporium_api::Dialect::refusal`.
pub fn refusal(status: axum::http::StatusCode) -> axum::response::Response {
    use axum::response::IntoResponse;
    let message = match status {
        axum::http::StatusCode::TOO_MANY_REQUESTS => "Too many requests; try again later",
        other => other.canonical_reason().unwrap_or("Request failed"),
    };
    FlaskError::new(status, message).into_response()
}

#[derive(OpenApi)]
#[openapi(tags((name = "flask-orders", description = "The flask-orders.md dialect (a Flask + flask-jwt-extended API) under \
`/compat/flask-orders`: the same accounts, catalog and orders as the native API, in that document's shapes; errors are \
`{\"message\"}`, token problems `{\"msg\"}`. Orders placed here are manual-payment orders. See docs/compat/flask-orders.md.")))]
struct FlaskDoc;

/// The dialect's routes, relative to its base path.
pub fn routes() -> OpenApiRouter<AppState> {
    let mut router = OpenApiRouter::with_openapi(FlaskDoc::openapi())
        .routes(shaped(routes!(accounts::register)))
        .routes(shaped(routes!(accounts::login)))
        .routes(shaped(routes!(accounts::delete_user)))
        .routes(shaped(routes!(orders::create_order, orders::list_orders)))
        .routes(shaped(routes!(orders::order_status)))
        .routes(shaped(routes!(orders::update_order)))
        .routes(shaped(routes!(orders::cancel_order)))
        .fallback(|| async { FlaskError::new(StatusCode::NOT_FOUND, "The requested URL was not found on the server") });
    document(router.get_openapi_mut());
    router
}

/// A method a path does not take is a 405 in this dialect's shape (a route's
/// own fallback, which the server's native 405 does not replace).
fn shaped(routes: UtoipaMethodRouter<AppState>) -> UtoipaMethodRouter<AppState> {
    let (schemas, paths, methods) = routes;
    (
        schemas,
        paths,
        methods.fallback(|| async {
            FlaskError::new(StatusCode::METHOD_NOT_ALLOWED, "The method is not allowed for the requested URL")
        }),
    )
}

/// What every operation here can also answer, in this dialect's error shape
/// (the server's shared answers are the native envelope's, so they are not
/// added under `/compat`), and operation ids of their own.
fn document(openapi: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
    let message = |description: &str| {
        ResponseBuilder::new()
            .description(description)
            .content(
                "application/json",
                ContentBuilder::new().schema(Some(Ref::from_schema_name("FlaskMessage"))).build(),
            )
            .build()
    };
    for item in openapi.paths.paths.values_mut() {
        let operations = [&mut item.get, &mut item.put, &mut item.post, &mut item.delete, &mut item.patch];
        for operation in operations.into_iter().flatten() {
            if let Some(id) = &operation.operation_id {
                operation.operation_id = Some(format!("flask_orders_{id}"));
            }
            let responses = &mut operation.responses.responses;
            responses
                .entry("429".into())
                .or_insert_with(|| message("Too many requests (`Retry-After` says when to retry)").into());
            if operation.parameters.as_ref().is_some_and(|p| !p.is_empty()) {
                responses.entry("400".into()).or_insert_with(|| message("A parameter is malformed").into());
            }
            if operation.request_body.is_some() {
                responses.entry("400".into()).or_insert_with(|| message("A field is missing or invalid").into());
                responses
                    .entry("413".into())
                    .or_insert_with(|| message("The body is larger than the server takes").into());
                responses.entry("415".into()).or_insert_with(|| message("The body is not JSON").into());
            }
        }
    }
}
