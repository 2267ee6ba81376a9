//! Service endpoints outside `/api/v1`: liveness, readiness, metrics.

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use serde_json::json;

use crate::AppState;

/// The process is up. Touches nothing, so it measures the HTTP stack alone.
pub async fn health() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], r#"{"status":"ok"}"#)
}

/// The database answers.
pub async fn ready(State(state): State<AppState>) -> impl IntoResponse {
    let backend = state.services.store.backend();
    match state.services.store.ping().await {
        Ok(()) => (StatusCode::OK, Json(json!({ "status": "ready", "database": backend }))),
        Err(e) => {
            tracing::warn!(error = ?e, "readiness check failed");
            (StatusCode::SERVICE_UNAVAILABLE, Json(json!({ "status": "unavailable", "database": backend })))
        }
    }
}

/// Prometheus text exposition.
pub async fn metrics() -> impl IntoResponse {
    let handle = crate::metrics::prometheus();
    handle.run_upkeep();
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], handle.render())
}
