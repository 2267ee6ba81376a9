use axum::extract::FromRequestParts;
use axum::http::request::Parts;

/// A guest order's access token from the `X-Order-Token` header. Handlers
/// also take it as the `token` query parameter (the order's link), and
/// cancel in its body; the header wins.
pub struct OrderToken(pub Option<String>);

impl<S: Send + Sync> FromRequestParts<S> for OrderToken {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let header =
            parts.headers.get("x-order-token").and_then(|v| v.to_str().ok()).map(str::trim).filter(|t| !t.is_empty());
        Ok(OrderToken(header.map(str::to_string)))
    }
}
