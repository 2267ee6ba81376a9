//! `/auth/*`: signup, login and refresh. The tokens are Emporium sessions:
//! the access token works on the native API too, and logging out or
//! changing the password there revokes it here.

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::IntoResponse;
use cookie::{Cookie, SameSite};
use emporium_api::AppState;
use emporium_api::error::ApiError;
use emporium_api::extract::input::Line;
use emporium_api::extract::{Body, ClientIp, JsonObject, Required, cookie_value};
use emporium_api::request_body;
use emporium_domain::account::{Email, FullName, LoginName, Password};
use emporium_domain::error::FieldErrors;
use emporium_service::accounts::IssuedTokens;
use emporium_store::UserRecord;
use serde::Serialize;
use utoipa::ToSchema;

use crate::error::{NestError, PromarketError, PromarketResult};

/// The cookie the refresh token travels in, as the document names it.
const REFRESH_COOKIE: &str = "refreshToken";

request_body! {
    /// A new account: an e-mail and a password (the store's password policy holds).
    pub struct PromarketSignup {
        "email" => email: Required<Email>,
        "password" => password: Required<Password>,
    }
}

request_body! {
    /// An e-mail and a password.
    pub struct PromarketLogin {
        "email" => email: Required<Email>,
        "password" => password: Required<Line<{ Password::MAX_LEN }>>,
    }
}

/// What signup and login answer.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PromarketSession {
    access_token: String,
    /// `user` or `admin`.
    role: String,
    email: String,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PromarketRefresh {
    access_token: String,
}

/// Reads a JSON body into `T`, every problem in this dialect's shape.
pub(crate) fn read<T: Body>(body: Result<JsonObject, ApiError>) -> PromarketResult<T> {
    let JsonObject(map) = body?;
    let mut errors = FieldErrors::new();
    let parsed = T::read_object(map, "", &mut errors);
    errors.into_result()?;
    Ok(parsed)
}

/// The httpOnly refresh-token cookie (with `Secure` when configured), living as long as the token.
fn refresh_cookie(state: &AppState, tokens: &IssuedTokens) -> [(header::HeaderName, HeaderValue); 1] {
    let cookie = Cookie::build((REFRESH_COOKIE, tokens.refresh_token.clone()))
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(state.settings.cookie_secure)
        .path("/")
        .max_age(cookie::time::Duration::seconds(tokens.refresh_expires_in as i64))
        .build();
    [(header::SET_COOKIE, HeaderValue::from_str(&cookie.to_string()).expect("cookie text is a valid header"))]
}

fn session(user: &UserRecord, tokens: &IssuedTokens) -> PromarketSession {
    PromarketSession {
        access_token: tokens.access_token.clone(),
        role: user.role.as_str().to_string(),
        email: user.email.clone(),
    }
}

/// Create an account and sign in. The document asks for no name: the
/// username is derived from the e-mail (`omar1@email.com` → `omar1`, with a
/// number added when taken) and the full name is the e-mail's local part.
/// The account is a normal one: it signs in on the native API too.
#[utoipa::path(post, path = "/auth/signup", tag = "promarket", request_body = PromarketSignup,
    responses((status = 201, body = PromarketSession, headers(("Set-Cookie" = String, description = "`refreshToken`, httpOnly"))),
        (status = 400, body = NestError), (status = 409, body = NestError), (status = 429, body = NestError)))]
pub async fn signup(
    State(state): State<AppState>,
    ip: ClientIp,
    body: Result<JsonObject, ApiError>,
) -> PromarketResult<impl IntoResponse> {
    let body: PromarketSignup = read(body)?;
    state.check_auth_budget(ip).await?;
    let (email, password) = (body.email.get(), body.password.get());
    let local = email.as_str().split('@').next().unwrap_or_default().to_string();
    let full_name = FullName::parse(&local).map_err(|e| emporium_domain::Error::field("email", e))?;
    let login = LoginName::parse(email.as_str()).map_err(|e| emporium_domain::Error::field("email", e))?;
    let given = password.expose().to_string();
    let ctx = ip.context();
    state.services.accounts.register_with_derived_username(full_name, email, password, &ctx).await?;
    let (user, tokens) = state.services.accounts.login(&login, &given, &ctx).await?;
    Ok((StatusCode::CREATED, refresh_cookie(&state, &tokens), axum::Json(session(&user, &tokens))))
}

/// Sign in. **201**, as the document shows. Wrong e-mail or password: 401,
/// the same for both.
#[utoipa::path(post, path = "/auth/login", tag = "promarket", request_body = PromarketLogin,
    responses((status = 201, body = PromarketSession, headers(("Set-Cookie" = String, description = "`refreshToken`, httpOnly"))),
        (status = 400, body = NestError), (status = 401, body = NestError), (status = 429, body = NestError)))]
pub async fn login(
    State(state): State<AppState>,
    ip: ClientIp,
    body: Result<JsonObject, ApiError>,
) -> PromarketResult<impl IntoResponse> {
    let body: PromarketLogin = read(body)?;
    let login = LoginName::parse(body.email.get().as_str()).map_err(|e| emporium_domain::Error::field("email", e))?;
    let password = body.password.get().0;
    let (user, tokens) = state.services.accounts.login(&login, &password, &ip.context()).await?;
    Ok((StatusCode::CREATED, refresh_cookie(&state, &tokens), axum::Json(session(&user, &tokens))))
}

/// Trade the `refreshToken` cookie for a new access token; the cookie is
/// rotated. No cookie, or a spent one, is a 401 (a spent one also ends its session).
#[utoipa::path(get, path = "/auth/refresh", tag = "promarket",
    params(("refreshToken" = String, Cookie, description = "as set by signup or login")),
    responses((status = 200, body = PromarketRefresh, headers(("Set-Cookie" = String, description = "the rotated `refreshToken`"))),
        (status = 401, body = NestError)))]
pub async fn refresh(
    State(state): State<AppState>,
    ip: ClientIp,
    headers: HeaderMap,
) -> PromarketResult<impl IntoResponse> {
    let presented = cookie_value(&headers, REFRESH_COOKIE)
        .ok_or_else(|| PromarketError::new(StatusCode::UNAUTHORIZED, "Refresh token missing"))?;
    let tokens = state.services.accounts.refresh(&presented, &ip.context()).await?;
    Ok((refresh_cookie(&state, &tokens), axum::Json(PromarketRefresh { access_token: tokens.access_token.clone() })))
}
