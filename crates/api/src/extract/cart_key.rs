use axum::extract::FromRequestParts;
use axum::http::request::Parts;

/// A guest's cart key: the `X-Cart-Key` header, or the `cartKey` query parameter.
pub struct CartKey(pub Option<String>);

impl<S: Send + Sync> FromRequestParts<S> for CartKey {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let header =
            parts.headers.get("x-cart-key").and_then(|v| v.to_str().ok()).map(str::trim).filter(|k| !k.is_empty());
        if let Some(key) = header {
            return Ok(CartKey(Some(key.to_string())));
        }
        let from_query = parts.uri.query().and_then(|q| {
            form_urlencoded::parse(q.as_bytes())
                .find(|(k, _)| k == "cartKey")
                .map(|(_, v)| v.trim().to_string())
                .filter(|v| !v.is_empty())
        });
        Ok(CartKey(from_query))
    }
}
