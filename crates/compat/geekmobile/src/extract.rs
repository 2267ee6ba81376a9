//! Where geekmobile reads its requests: the user's token from `x-token`, the
//! admin's from `Authorization`, the static admin secret, and bodies and
//! query strings through the shared request types, with every refusal in
//! geekmobile's shape and the document's messages.

use axum::extract::{FromRef, FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::header;
use axum::http::request::Parts;
use emporium_api::AppState;
use emporium_api::extract::{Body, ClientIp, JsonObject, Params, read_query};
use emporium_domain::Error;
use emporium_domain::error::FieldErrors;
use emporium_service::{Principal, RequestContext};

use crate::error::{GeekError, Location};

pub const X_TOKEN_MISSING: &str = "x-token token is missing";
pub const X_TOKEN_INVALID: &str = "Invalid token";
pub const AUTHORIZATION_MISSING: &str = "Authorization token is missing";
pub const AUTHORIZATION_INVALID: &str = "Invalid token Authorization";

/// The request's audit context (its client IP).
pub fn context(parts: &Parts, state: &AppState) -> RequestContext {
    parts
        .extensions
        .get::<ClientIp>()
        .copied()
        .unwrap_or_else(|| ClientIp::resolve(parts, &state.settings.trusted_proxies))
        .context()
}

/// The audit context of a request, as an extractor.
pub struct Ctx(pub RequestContext);

impl<S: Send + Sync> FromRequestParts<S> for Ctx
where
    AppState: FromRef<S>,
{
    type Rejection = GeekError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, GeekError> {
        Ok(Ctx(context(parts, &AppState::from_ref(state))))
    }
}

fn header_text<'a>(parts: &'a Parts, name: &str) -> Option<&'a str> {
    parts.headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim).filter(|v| !v.is_empty())
}

/// A signed-in user, by the access token in `x-token` (the same sessions as
/// the native API). The document answers 400 to a missing or bad token.
pub struct UserToken(pub Principal);

impl<S: Send + Sync> FromRequestParts<S> for UserToken
where
    AppState: FromRef<S>,
{
    type Rejection = GeekError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, GeekError> {
        let token =
            header_text(parts, "x-token").ok_or_else(|| GeekError::msg(StatusCode::BAD_REQUEST, X_TOKEN_MISSING))?;
        let state = AppState::from_ref(state);
        match state.services.accounts.authenticate(token).await {
            Ok(principal) => Ok(UserToken(principal)),
            Err(Error::Unauthenticated(_)) => Err(GeekError::msg(StatusCode::BAD_REQUEST, X_TOKEN_INVALID)),
            Err(e) => Err(e.into()),
        }
    }
}

/// The token in `Authorization`, bare as the document sends it or as `Bearer …`.
fn authorization(parts: &Parts) -> Option<&str> {
    let value = header_text(parts, header::AUTHORIZATION.as_str())?;
    match value.split_once(' ') {
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("bearer") => Some(rest.trim()).filter(|t| !t.is_empty()),
        _ => Some(value),
    }
}

/// A signed-in admin, by the access token in `Authorization` (one from this
/// dialect's admin sign-in, or any admin's native token). Anyone else's
/// token is "invalid" here, as a user's JWT is in the document (admins sign
/// theirs with another seed).
pub struct AdminToken(pub Principal);

impl<S: Send + Sync> FromRequestParts<S> for AdminToken
where
    AppState: FromRef<S>,
{
    type Rejection = GeekError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, GeekError> {
        let token =
            authorization(parts).ok_or_else(|| GeekError::msg(StatusCode::UNAUTHORIZED, AUTHORIZATION_MISSING))?;
        let state = AppState::from_ref(state);
        match state.services.accounts.authenticate(token).await {
            Ok(principal) if principal.is_admin() => Ok(AdminToken(principal)),
            Ok(_) | Err(Error::Unauthenticated(_)) => {
                Err(GeekError::msg(StatusCode::UNAUTHORIZED, AUTHORIZATION_INVALID))
            }
            Err(e) => Err(e.into()),
        }
    }
}

/// The static admin secret (`EMPORIUM_GEEKMOBILE_ADMIN_SECRET`) in
/// `Authorization`, compared in constant time. Unset, every such call is
/// refused, and the log says why.
pub struct AdminSecret;

impl<S: Send + Sync> FromRequestParts<S> for AdminSecret
where
    AppState: FromRef<S>,
{
    type Rejection = GeekError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, GeekError> {
        let sent =
            authorization(parts).ok_or_else(|| GeekError::msg(StatusCode::UNAUTHORIZED, AUTHORIZATION_MISSING))?;
        let state = AppState::from_ref(state);
        let Some(secret) = state.settings.geekmobile_admin_secret.as_ref() else {
            tracing::warn!(
                "geekmobile admin sign-in refused: EMPORIUM_GEEKMOBILE_ADMIN_SECRET is not set, so no static admin secret is accepted"
            );
            return Err(GeekError::msg(StatusCode::UNAUTHORIZED, AUTHORIZATION_INVALID));
        };
        if emporium_service::tokens::secrets_match(sent, secret.expose()) {
            Ok(AdminSecret)
        } else {
            Err(GeekError::msg(StatusCode::UNAUTHORIZED, AUTHORIZATION_INVALID))
        }
    }
}

/// A request type with the document's message for each field's problem
/// (`None` keeps the shared reader's message, e.g. for a member nobody
/// declared).
pub trait Documented {
    fn message(field: &str) -> Option<&'static str>;
}

fn documented<T: Documented>(errors: FieldErrors) -> Vec<(String, String)> {
    errors
        .into_vec()
        .into_iter()
        .map(|e| {
            let msg = T::message(&e.field).map(str::to_string).unwrap_or_else(|| format!("{} {}", e.field, e.message));
            (e.field, msg)
        })
        .collect()
}

/// A JSON body read into `T`: the shared reader (which refuses control
/// characters and undeclared members), every problem in one 400 in the
/// validator's shape.
pub struct GeekJson<T>(pub T);

impl<S: Send + Sync, T: Body + Documented> FromRequest<S> for GeekJson<T> {
    type Rejection = GeekError;
    async fn from_request(req: Request, state: &S) -> Result<Self, GeekError> {
        let JsonObject(map) = JsonObject::from_request(req, state).await?;
        let mut errors = FieldErrors::new();
        let body = T::read_object(map, "", &mut errors);
        if !errors.is_empty() {
            return Err(GeekError::fields(Location::Body, documented::<T>(errors)));
        }
        Ok(GeekJson(body))
    }
}

/// A query string read into `T`, each problem named in one 400.
pub struct GeekQuery<T>(pub T);

impl<S: Send + Sync, T: Params + Documented> FromRequestParts<S> for GeekQuery<T> {
    type Rejection = GeekError;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, GeekError> {
        match read_query::<T>(parts.uri.query()) {
            Ok(params) => Ok(GeekQuery(params)),
            Err(errors) => Err(GeekError::fields(Location::Query, documented::<T>(errors))),
        }
    }
}
