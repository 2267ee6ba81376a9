//! How this dialect reads a request: SimpleJWT's `Authorization: Bearer`,
//! a guest's `cart_key`, and bodies read by the shared request types but
//! refused in DRF's shape.

use axum::extract::{FromRef, FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use emporium_api::AppState;
use emporium_api::extract::input::Line;
use emporium_api::extract::{Body, Input, MaybeAuth, OptionalJsonObject, bearer_or_cookie};
use emporium_domain::error::FieldErrors;
use emporium_service::Principal;
use serde_json::Value;
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};

use crate::error::DrfError;

/// A caller who may be signed in. A token that is present but not valid is
/// a 401 (as SimpleJWT's authenticator answers), never a silent guest.
pub struct User(pub Option<Principal>);

impl<S> FromRequestParts<S> for User
where
    AppState: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = DrfError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, DrfError> {
        if bearer_or_cookie(parts).is_none() {
            return Ok(User(None));
        }
        match MaybeAuth::from_request_parts(parts, state).await {
            Ok(MaybeAuth(principal)) => Ok(User(principal)),
            Err(emporium_api::error::ApiError::Domain(emporium_domain::Error::Unauthenticated(_))) => {
                Err(DrfError::token_not_valid())
            }
            Err(other) => Err(other.into()),
        }
    }
}

/// `IsAuthenticated`: a signed-in caller, 401 otherwise.
pub struct Signed(pub Principal);

impl<S> FromRequestParts<S> for Signed
where
    AppState: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = DrfError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, DrfError> {
        User::from_request_parts(parts, state).await?.0.map(Signed).ok_or_else(DrfError::not_authenticated)
    }
}

/// `IsAdminUser` (`is_staff`): an admin, 401 without a token, 403 for
/// anyone else. Checked before the body is read, so a customer learns
/// nothing from validation.
pub struct Staff(pub Principal);

impl<S> FromRequestParts<S> for Staff
where
    AppState: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = DrfError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, DrfError> {
        let Signed(principal) = Signed::from_request_parts(parts, state).await?;
        if principal.is_admin() { Ok(Staff(principal)) } else { Err(DrfError::forbidden()) }
    }
}

/// A guest's cart key from the query string (`?cart_key=`) or the
/// `X-Cart-Key` header; a body's `cart_key` member, where the request has
/// one, comes first (see [`cart_key`]).
pub struct QueryCartKey(pub Option<String>);

impl<S: Send + Sync> FromRequestParts<S> for QueryCartKey {
    type Rejection = DrfError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, DrfError> {
        let from_query = parts.uri.query().and_then(|q| {
            form_urlencoded::parse(q.as_bytes()).find(|(k, _)| k == "cart_key").map(|(_, v)| v.trim().to_string())
        });
        let key = from_query
            .or_else(|| parts.headers.get("x-cart-key").and_then(|v| v.to_str().ok()).map(|v| v.trim().to_string()));
        match key.filter(|k| !k.is_empty()) {
            Some(k) if emporium_api::extract::input::has_control(&k) || k.len() > 128 => {
                Err(DrfError::field("cart_key", "is not a valid cart key"))
            }
            other => Ok(QueryCartKey(other)),
        }
    }
}

/// The cart key a request names: its body's `cart_key`, else the query's or header's.
pub fn cart_key(body: Option<Line<128>>, query: QueryCartKey) -> Option<String> {
    body.map(|k| k.0.trim().to_string()).filter(|k| !k.is_empty()).or(query.0)
}

/// A request body read into `T` by the shared request types; an empty body
/// is `{}`. Refused in DRF's shape: 415 for another content type, 413 for
/// one over the limit, 400 `{"detail"}` for malformed JSON, 400 with every
/// bad member named for the rest.
pub struct DrfJson<T>(pub T);

impl<S: Send + Sync, T: Body> FromRequest<S> for DrfJson<T> {
    type Rejection = DrfError;

    async fn from_request(req: Request, state: &S) -> Result<Self, DrfError> {
        let OptionalJsonObject(map) = OptionalJsonObject::from_request(req, state).await?;
        let mut errors = FieldErrors::new();
        let body = T::read_object(map, "", &mut errors);
        if errors.is_empty() { Ok(DrfJson(body)) } else { Err(DrfError::Fields(errors.into_vec())) }
    }
}

/// A Python-spelled boolean in a query string, as DRF's `BooleanFilter`
/// takes it: `True` or `False` (and, as Django does, `true`/`false`/`1`/`0`).
#[derive(Debug, Clone, Copy)]
pub struct PyBool(pub bool);

impl Input for PyBool {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .enum_values(Some(["True", "False", "true", "false", "1", "0"]))
            .into()
    }
    fn from_json(value: Value) -> Result<Self, String> {
        match value {
            Value::Bool(b) => Ok(PyBool(b)),
            Value::String(s) => Self::from_text(&s),
            _ => Err("must be True or False".into()),
        }
    }
    fn from_text(raw: &str) -> Result<Self, String> {
        match raw {
            "True" | "true" | "1" => Ok(PyBool(true)),
            "False" | "false" | "0" => Ok(PyBool(false)),
            _ => Err("must be True or False".into()),
        }
    }
}

/// Query parameters read into `T` by the shared request types; each bad,
/// unknown or repeated parameter is named in one 400 in DRF's shape.
pub struct DrfQuery<T>(pub T);

impl<S: Send + Sync, T: emporium_api::extract::Params> FromRequestParts<S> for DrfQuery<T> {
    type Rejection = DrfError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, DrfError> {
        let emporium_api::extract::Query(params) =
            emporium_api::extract::Query::<T>::from_request_parts(parts, state).await?;
        Ok(DrfQuery(params))
    }
}
