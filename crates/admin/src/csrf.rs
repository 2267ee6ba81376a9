//! Cross-site request forgery: a state-changing request that a browser says
//! comes from another site is refused before anything runs.
//!
//! Browsers mark every request with `Sec-Fetch-Site` and every POST with
//! `Origin`; a forged form post from another site carries a foreign one,
//! which no page can suppress. The session cookie is `SameSite=Strict` on top.
//! Requests with neither header do not come from a browser page (curl, the
//! tests' HTTP client) and so cannot ride on a victim's cookie.

use axum::extract::Request;
use axum::http::{Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

pub async fn refuse_cross_site(request: Request, next: Next) -> Response {
    if matches!(*request.method(), Method::GET | Method::HEAD | Method::OPTIONS) || same_origin(&request) {
        return next.run(request).await;
    }
    tracing::warn!(path = request.uri().path(), "cross-site request to the dashboard refused");
    (
        StatusCode::FORBIDDEN,
        crate::render::error_page(StatusCode::FORBIDDEN, "This request came from another site and was refused."),
    )
        .into_response()
}

fn same_origin(request: &Request) -> bool {
    let headers = request.headers();
    if let Some(site) = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok())
        && site != "same-origin"
    {
        return false;
    }
    let Some(origin) = headers.get(header::ORIGIN) else {
        return true;
    };
    let Some(host) = headers.get(header::HOST).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let origin = origin.to_str().unwrap_or("");
    let authority = origin.strip_prefix("https://").or_else(|| origin.strip_prefix("http://"));
    authority.is_some_and(|a| a.eq_ignore_ascii_case(host))
}
