use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, HeaderValue, Method, Request, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::trace::TraceLayer;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_swagger_ui::SwaggerUi;

use crate::edge::{CorsLayerForCors, EdgeLayer, REQUEST_ID, Refusals, RefusedBeforeRouting};
use crate::error::ApiError;
use crate::openapi::ApiDoc;
use crate::{AppState, rate_limit, routes};

/// The native API under `/api/v1`, for the OpenAPI document and the router alike.
pub fn native_api() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi()).nest(
        "/api/v1",
        OpenApiRouter::new()
            .merge(routes::accounts::routes())
            .merge(routes::admin::routes())
            .merge(routes::catalog::routes())
            .merge(routes::carts::routes())
            .merge(routes::orders::routes())
            .merge(routes::password_reset::routes())
            .merge(routes::emails::routes())
            .merge(routes::payments::routes()),
    )
}

/// A dialect: another API document served over the same services, mounted
/// under its base path (`/compat/promarket`). Its routes are relative to that
/// path and tagged with the dialect's name in the OpenAPI document; it owns
/// its wire format (envelope, errors), so the native API's shared error
/// responses and links are not added to its operations.
pub struct Dialect {
    pub base_path: &'static str,
    pub routes: OpenApiRouter<AppState>,
    /// The dialect's own error body for a refusal made before its routes are
    /// reached (the shared rate limit's 429, a panic's 500). Its headers
    /// (`Retry-After`, the rate-limit headers, the request id) are kept.
    pub refusal: fn(StatusCode) -> Response,
}

/// The whole HTTP application: the native API, the dialects, `extra` routes
/// outside the API document (the admin dashboard), the service endpoints,
/// and the layers every request passes through (so every request, whichever
/// API or page it is for, counts against the same rate limits and is logged
/// the same way).
///
/// What it returns is the router inside the layers that wrap it, not a
/// `Router` of its own: a router's fallback service is cloned into a new
/// box on every request (issue 12's profile of `/health`). `axum::serve`
/// clones it per request, and that is cheap (shared `Arc`s, plain values).
pub fn router_with(
    state: AppState,
    dialects: Vec<Dialect>,
    extra: Router<AppState>,
) -> impl tower::Service<
    axum::extract::Request,
    Response = Response,
    Error = std::convert::Infallible,
    Future: Send + 'static,
> + Clone
+ Send
+ Sync
+ 'static {
    // Install the recorder now, not at the first scrape, so no request goes uncounted.
    crate::metrics::prometheus();
    let refusals: Refusals = Arc::new(dialects.iter().map(|d| (d.base_path, d.refusal)).collect());
    let all = dialects.into_iter().fold(native_api(), |all, d| all.nest(d.base_path, d.routes));
    let (api, openapi) = all.split_for_parts();
    let mut methods = state.services.payments.configured();
    methods.push(emporium_domain::payments::PaymentMethod::Manual.as_str());
    let openapi = crate::openapi::finish(openapi, &methods);
    let body_limit = state.settings.body_limit;
    let cors = cors(&state.settings.cors_origins);
    // Business figures: on the public port only for holders of the metrics
    // token, and not at all (a 404, as for any unknown route) without one.
    let metrics = match state.settings.metrics_token {
        Some(_) => Router::new().route("/metrics", get(routes::system::metrics_with_token)),
        None => Router::new(),
    };

    // The layers that need the matched route (the metrics' label), and the
    // rate limit inside them, run per route: CORS preflights, answered by
    // the CORS layer outside, are neither limited nor counted.
    let routed = Router::new()
        .merge(api)
        .merge(extra)
        .merge(routes::payments::test_page_routes())
        .route("/health", get(routes::system::health))
        .route("/ready", get(routes::system::ready))
        .merge(metrics)
        .merge(SwaggerUi::new("/docs").external_url_unchecked("/openapi.json", openapi))
        .fallback(|| async { ApiError::not_found_route() })
        .method_not_allowed_fallback(|| async {
            ApiError::http(StatusCode::METHOD_NOT_ALLOWED, "METHOD_NOT_ALLOWED", "Method not allowed on this route")
        })
        // One `layer` call for the three: each call wraps every route in a
        // new boxed route, cloned and boxed again on every request.
        .layer(
            ServiceBuilder::new()
                .layer(crate::metrics::RecordRequestsLayer)
                .layer(rate_limit::LimitRequestsLayer::new(state.clone()))
                .layer(DefaultBodyLimit::max(body_limit)),
        )
        .with_state(state);
    // The rest wrap the router once rather than every route: `Router::layer`
    // copies its layers onto each route, and a `from_fn` middleware clones
    // the service it wraps on every request, so per-route layers cost a
    // chain of boxed clones per request (issue 12's profile of `/health`).
    ServiceBuilder::new()
        .layer(EdgeLayer { refusals })
        .layer(CatchPanicLayer::custom(|panic: Box<dyn std::any::Any + Send>| -> Response {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            tracing::error!(panic = %what, "handler panicked");
            let mut response = ApiError::Domain(emporium_domain::Error::internal("panic")).into_response();
            response.extensions_mut().insert(RefusedBeforeRouting);
            response
        }))
        .layer(TraceLayer::new_for_http().make_span_with(|request: &Request<_>| {
            let request_id = request.headers().get(REQUEST_ID).and_then(|id| id.to_str().ok()).unwrap_or("-");
            tracing::info_span!("request", method = %request.method(), uri = loggable_uri(request.uri()), request_id = %request_id)
        }))
        .layer(CorsLayerForCors { cors })
        .service(routed)
}

/// What of a request's URI goes into the log: the path only. The query
/// carries secrets (a guest order's `token`, a `cartKey`, a provider's
/// `session_id` or `PayerID`) and, in searches, what buyers typed; a
/// deny-list of parameter names would leak the next secret someone adds, so
/// nothing of the query is logged. No route puts a secret in the path.
fn loggable_uri(uri: &axum::http::Uri) -> &str {
    uri.path()
}

/// `/metrics` alone, without a token, for a separate listen address that
/// only the scraper can reach (`EMPORIUM_METRICS_BIND`).
pub fn metrics_router() -> Router {
    crate::metrics::prometheus();
    Router::new()
        .route("/metrics", get(routes::system::metrics))
        .fallback(|| async { ApiError::not_found_route() })
        .method_not_allowed_fallback(|| async {
            ApiError::http(StatusCode::METHOD_NOT_ALLOWED, "METHOD_NOT_ALLOWED", "Method not allowed on this route")
        })
}

fn cors(origins: &[String]) -> CorsLayer {
    let layer = CorsLayer::new()
        .allow_methods([Method::GET, Method::POST, Method::PUT, Method::PATCH, Method::DELETE, Method::OPTIONS])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            HeaderName::from_static("x-cart-key"),
            HeaderName::from_static("x-order-token"),
            HeaderName::from_static("idempotency-key"),
            REQUEST_ID,
        ])
        .expose_headers([
            REQUEST_ID,
            HeaderName::from_static("x-ratelimit-limit"),
            HeaderName::from_static("x-ratelimit-remaining"),
            HeaderName::from_static("x-ratelimit-reset"),
            header::RETRY_AFTER,
        ])
        .max_age(Duration::from_secs(600))
        // Every response's `Vary` is added by the edge layer, as a static
        // header instead of a list joined per response.
        .vary([]);
    if origins.iter().any(|o| o == "*") {
        return layer.allow_origin(AllowOrigin::any());
    }
    let list: Vec<HeaderValue> = origins.iter().filter_map(|o| HeaderValue::from_str(o).ok()).collect();
    // Credentials (the auth cookies) may only be shared with listed origins.
    layer.allow_origin(AllowOrigin::list(list)).allow_credentials(true)
}

#[cfg(test)]
mod tests {
    use super::loggable_uri;

    #[test]
    fn the_logged_uri_carries_no_query_and_so_no_token_or_cart_key() {
        let uri = "/api/v1/orders/42?token=ot_secret&cartKey=ck_secret&session_id=cs_1&PayerID=P1".parse().unwrap();
        assert_eq!(loggable_uri(&uri), "/api/v1/orders/42");
        let absolute = "http://shop.example/api/v1/cart?cartKey=ck_secret".parse().unwrap();
        assert_eq!(loggable_uri(&absolute), "/api/v1/cart");
    }
}
