//! Service endpoints outside `/api/v1`: liveness, readiness, metrics.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use emporium_domain::Error;
use emporium_service::tokens::secrets_match;
use serde_json::json;

use crate::AppState;
use crate::error::ApiError;

/// The process is up. Touches nothing, so it measures the HTTP stack alone.
pub async fn health() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], r#"{"status":"ok"}"#)
}

/// The database answers.
pub async fn ready(State(state): State<AppState>) -> impl IntoResponse {
    let backend = state.services.store.backend();
    if !state.services.catalog.is_loaded() {
        return (StatusCode::SERVICE_UNAVAILABLE, Json(json!({ "status": "loading catalog", "database": backend })));
    }
    match state.services.store.ping().await {
        Ok(()) => (StatusCode::OK, Json(json!({ "status": "ready", "database": backend }))),
        Err(e) => {
            tracing::warn!(error = ?e, "readiness check failed");
            (StatusCode::SERVICE_UNAVAILABLE, Json(json!({ "status": "unavailable", "database": backend })))
        }
    }
}

/// Prometheus text exposition.
pub async fn metrics() -> Response {
    let handle = crate::metrics::prometheus();
    handle.run_upkeep();
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], handle.render()).into_response()
}

/// The same, on the public port: only with `Authorization: Bearer <metrics
/// token>` (compared in constant time); 401 in the envelope otherwise.
pub async fn metrics_with_token(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim());
    let allowed = match (&state.settings.metrics_token, presented) {
        (Some(expected), Some(presented)) => secrets_match(expected.expose(), presented),
        _ => false,
    };
    if !allowed {
        return ApiError::from(Error::Unauthenticated("A valid metrics token is required".into())).into_response();
    }
    metrics().await
}
