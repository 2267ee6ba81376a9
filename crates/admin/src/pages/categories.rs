use axum::Router;
use emporium_api::AppState;
pub fn routes() -> Router<AppState> { Router::new() }
