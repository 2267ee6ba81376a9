//! The shop owner's dashboard at `/admin`: server-rendered HTML (askama
//! templates compiled into the binary), plain forms that post and redirect,
//! progressively enhanced with htmx (served from the binary, pinned).
//!
//! A crate of its own, beside `emporium-api` rather than inside it, so the
//! dashboard's templates and form parsing change without touching the JSON
//! API; it reuses the API's [`AppState`], client-IP resolution and cookie
//! reading, and calls the same services. No SQL and no business rule here:
//! every page reads and every action writes through `emporium_service`.
//!
//! Layout follows the API's: one module per area under [`pages`].

mod assets;
mod csrf;
mod form;
mod pages;
mod render;
mod security;
mod session;

use std::sync::Arc;

use axum::Router;
use axum::middleware;
use axum::routing::{get, post};
use emporium_api::AppState;

/// What the dashboard adds to the server's settings.
#[derive(Debug, Clone)]
pub struct AdminSettings {
    /// Products with at most this many in stock are listed as low on the home page.
    pub low_stock_threshold: i64,
}

impl Default for AdminSettings {
    fn default() -> Self {
        Self { low_stock_threshold: 5 }
    }
}

/// The dashboard's routes (`/admin/…`) and the HTML landing page at `/`,
/// to be merged into the API's router (which adds its request id, tracing
/// and rate-limit layers around them).
pub fn routes(state: AppState, settings: AdminSettings) -> Router<AppState> {
    let signed_in = Router::new()
        .route("/admin", get(pages::home::home))
        .route("/admin/sign-out", post(session::sign_out))
        .merge(pages::products::routes())
        .merge(pages::orders::routes())
        .merge(pages::categories::routes())
        .merge(pages::customers::routes())
        .merge(pages::logs::routes())
        .route_layer(middleware::from_fn_with_state(state, session::require_admin));

    Router::new()
        .route("/", get(pages::landing::landing))
        .route("/admin/sign-in", get(session::sign_in_page).post(session::sign_in))
        .merge(signed_in)
        .route_layer(middleware::from_fn(csrf::refuse_cross_site))
        .route_layer(middleware::from_fn(security::headers))
        .merge(assets::routes())
        .layer(axum::Extension(Arc::new(settings)))
}
