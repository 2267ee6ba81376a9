use axum::extract::{FromRef, FromRequestParts};
use axum::http::header;
use axum::http::request::Parts;
use emporium_domain::Error;
use emporium_service::Principal;

use crate::AppState;
use crate::error::ApiError;

/// The access token of a request: `Authorization: Bearer …`, or else the
/// `accessToken` cookie.
pub fn bearer_or_cookie(parts: &Parts) -> Option<String> {
    if let Some(value) = parts.headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) {
        let (scheme, token) = value.trim().split_once(' ').unwrap_or((value, ""));
        if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() {
            return Some(token.trim().to_string());
        }
    }
    cookie_value(&parts.headers, "accessToken")
}

pub fn cookie_value(headers: &axum::http::HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(cookie::Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|c| c.name() == name && !c.value().is_empty())
        .map(|c| c.value().to_string())
}

/// A signed-in caller with a live session; 401 otherwise.
pub struct Auth(pub Principal);

/// A caller who may be signed in. A token that is present but not valid is
/// still a 401: a stale token should not silently turn a user into a guest.
pub struct MaybeAuth(pub Option<Principal>);

impl<S> FromRequestParts<S> for MaybeAuth
where
    AppState: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let Some(token) = bearer_or_cookie(parts) else {
            return Ok(MaybeAuth(None));
        };
        let state = AppState::from_ref(state);
        let principal = state.services.accounts.authenticate(&token).await?;
        Ok(MaybeAuth(Some(principal)))
    }
}

impl<S> FromRequestParts<S> for Auth
where
    AppState: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match MaybeAuth::from_request_parts(parts, state).await?.0 {
            Some(principal) => Ok(Auth(principal)),
            None => Err(Error::Unauthenticated("Authentication required".into()).into()),
        }
    }
}

/// A signed-in admin; 401 without a valid token, 403 for anyone else. Used
/// before the body is read, so a non-admin learns nothing from validation.
pub struct AdminAuth(pub Principal);

impl<S> FromRequestParts<S> for AdminAuth
where
    AppState: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let Auth(principal) = Auth::from_request_parts(parts, state).await?;
        if !principal.is_admin() {
            return Err(Error::Forbidden("Admin access required".into()).into());
        }
        Ok(AdminAuth(principal))
    }
}
