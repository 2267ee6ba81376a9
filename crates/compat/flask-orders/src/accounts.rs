//! `/register`, `/login` and `DELETE /users/<user_id>`: the native accounts.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use emporium_api::AppState;
use emporium_api::error::ApiError;
use emporium_api::extract::input::{Line, Name};
use emporium_api::extract::{Body, ClientIp, JsonObject, MaybeAuth, PathText, Required};
use emporium_api::request_body;
use emporium_domain::Error;
use emporium_domain::account::{Email, FullName, LoginName, Password};
use emporium_domain::error::FieldErrors;
use emporium_domain::ids::UserId;
use emporium_service::Principal;
use serde::Serialize;
use utoipa::ToSchema;

use crate::error::{FlaskError, FlaskJwtError, FlaskMessage, FlaskResult};

request_body! {
    /// A new customer account (the store's password policy holds).
    pub struct FlaskRegistration {
        "first_name" => first_name: Required<Name<50>>,
        "last_name" => last_name: Required<Name<49>>,
        "email" => email: Required<Email>,
        "password" => password: Required<Password>,
    }
}

request_body! {
    /// An e-mail and a password.
    pub struct FlaskLogin {
        "email" => email: Required<Email>,
        "password" => password: Required<Line<{ Password::MAX_LEN }>>,
    }
}

#[derive(Serialize, ToSchema)]
pub struct FlaskRegistered {
    /// `User registered successfully`.
    message: &'static str,
    /// The new account's id.
    user_id: String,
}

#[derive(Serialize, ToSchema)]
pub struct FlaskAccessToken {
    access_token: String,
}

/// Reads a JSON body into `T`, every problem in this dialect's shape.
pub(crate) fn read<T: Body>(body: Result<JsonObject, ApiError>) -> FlaskResult<T> {
    let JsonObject(map) = body?;
    let mut errors = FieldErrors::new();
    let parsed = T::read_object(map, "", &mut errors);
    errors.into_result()?;
    Ok(parsed)
}

/// The caller, from `Authorization: Bearer …`: none is flask-jwt-extended's
/// "Missing Authorization Header", one that names no live session its
/// "Token has expired" (both 401).
pub(crate) fn signed_in(auth: Result<MaybeAuth, ApiError>) -> FlaskResult<Principal> {
    match auth {
        Ok(MaybeAuth(Some(principal))) => Ok(principal),
        Ok(MaybeAuth(None)) => Err(FlaskError::MISSING_TOKEN),
        Err(ApiError::Domain(Error::Unauthenticated(_))) => Err(FlaskError::BAD_TOKEN),
        Err(other) => Err(other.into()),
    }
}

/// Register a customer. The document asks for no username: it is derived
/// from the e-mail (with a number added when taken). A taken e-mail is a 409.
#[utoipa::path(post, path = "/register", tag = "flask-orders", request_body = FlaskRegistration,
    responses((status = 201, body = FlaskRegistered), (status = 400, body = FlaskMessage), (status = 409, body = FlaskMessage)))]
pub async fn register(
    State(state): State<AppState>,
    ip: ClientIp,
    body: Result<JsonObject, ApiError>,
) -> FlaskResult<impl IntoResponse> {
    let body: FlaskRegistration = read(body)?;
    state.check_auth_budget(ip).await?;
    let full_name = format!("{} {}", body.first_name.get().0.trim(), body.last_name.get().0.trim());
    let full_name = FullName::parse(&full_name).map_err(|e| Error::field("first_name", e))?;
    let user = state
        .services
        .accounts
        .register_with_derived_username(full_name, body.email.get(), body.password.get(), &ip.context())
        .await?;
    let view = FlaskRegistered { message: "User registered successfully", user_id: user.id.to_string() };
    Ok((StatusCode::CREATED, axum::Json(view)))
}

/// Sign in; the access token goes in `Authorization: Bearer …`. Wrong e-mail
/// or password: the same 401.
#[utoipa::path(post, path = "/login", tag = "flask-orders", request_body = FlaskLogin,
    responses((status = 200, body = FlaskAccessToken), (status = 400, body = FlaskMessage), (status = 401, body = FlaskMessage)))]
pub async fn login(
    State(state): State<AppState>,
    ip: ClientIp,
    body: Result<JsonObject, ApiError>,
) -> FlaskResult<axum::Json<FlaskAccessToken>> {
    let body: FlaskLogin = read(body)?;
    let login = LoginName::parse(body.email.get().as_str()).map_err(|e| Error::field("email", e))?;
    let (_, tokens) = state.services.accounts.login(&login, &body.password.get().0, &ip.context()).await?;
    Ok(axum::Json(FlaskAccessToken { access_token: tokens.access_token }))
}

/// Delete an account: only the account itself or an admin may (the
/// document checks nothing; anyone else gets the same 404 as for an unknown
/// id). The account's orders stay, anonymised.
#[utoipa::path(delete, path = "/users/{user_id}", tag = "flask-orders", security(("bearer" = [])), params(("user_id" = String, Path)),
    responses((status = 200, body = FlaskMessage), (status = 401, body = FlaskJwtError), (status = 404, body = FlaskMessage), (status = 409, body = FlaskMessage)))]
pub async fn delete_user(
    State(state): State<AppState>,
    ip: ClientIp,
    auth: Result<MaybeAuth, ApiError>,
    id: Result<PathText, ApiError>,
) -> FlaskResult<axum::Json<FlaskMessage>> {
    let principal = signed_in(auth)?;
    let PathText(id) = id?;
    let not_found = || FlaskError::new(StatusCode::NOT_FOUND, "User not found");
    let target: UserId = id.parse().map_err(|_| not_found())?;
    let ctx = ip.context();
    if target == principal.user_id {
        state.services.accounts.delete_signed_in_account(&principal, &ctx).await?;
    } else if principal.is_admin() {
        state.services.admin.delete_user(&principal, target, &ctx).await?;
    } else {
        return Err(not_found());
    }
    Ok(axum::Json(FlaskMessage { message: "Your account is deleted successfully".into() }))
}
