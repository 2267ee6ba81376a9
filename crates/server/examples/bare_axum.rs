//! The floor under the floor: a bare axum app answering a static 300-byte
//! JSON body, with none of Emporium's layers (request ids, metrics, trace
//! spans, CORS, rate limits). `bench/run` drives it beside `/health` on the
//! same machine, so the cost of those layers is a ratio, not a guess.
//!
//! Usage: bare_axum PORT

use axum::Router;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;

/// 300 bytes of JSON, about the size of Emporium's `/health` answer and headers' worth.
fn body() -> &'static str {
    static BODY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    BODY.get_or_init(|| {
        let head = r#"{"status":"ok","padding":""#;
        let tail = r#""}"#;
        format!("{head}{}{tail}", "x".repeat(300 - head.len() - tail.len()))
    })
}

async fn answer() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], body())
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let port: u16 = std::env::args().nth(1).and_then(|p| p.parse().ok()).unwrap_or(3200);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    axum::serve(listener, Router::new().route("/", get(answer))).await
}
