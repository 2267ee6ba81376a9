//! User Service (API4): SimpleJWT's register, login, refresh, verify and
//! logout, the caller's profile, and Django's password reset — over the
//! native accounts service, so tokens are the same sessions as the native
//! API's (a logout or a password change here signs out there too).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use emporium_api::AppState;
use emporium_api::extract::input::Line;
use emporium_api::extract::{ClientIp, Optional, Patch, Required};
use emporium_api::{request_body, request_query};
use emporium_domain::Error;
use emporium_domain::account::{Email, FullName, LoginName, Password, Phone, Username};
use emporium_domain::address::{AddressInput, ShippingAddress};
use emporium_domain::error::FieldErrors as Problems;
use emporium_service::accounts::{ProfileUpdate, Registration, ResetLinkStyle, user_from_uidb64};
use emporium_store::UserRecord;
use serde::Serialize;
use serde_json::json;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{DrfDetail, DrfError, DrfFieldErrors, DrfResult};
use crate::extract::{DrfJson, DrfQuery, Signed};
use crate::orders::NO_COUNTRY;
use crate::{TAG, drf};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(drf(routes!(register)))
        .routes(drf(routes!(login)))
        .routes(drf(routes!(logout)))
        .routes(drf(routes!(me)))
        .routes(drf(routes!(update_me)))
        .routes(drf(routes!(change_password)))
        .routes(drf(routes!(reset_password)))
        .routes(drf(routes!(confirm_reset_password)))
        .routes(drf(routes!(refresh_token)))
        .routes(drf(routes!(verify_token)))
}

/// SimpleJWT's answer to a refresh or verify of a token that is not live.
const TOKEN_INVALID_OR_EXPIRED: &str = "Token is invalid or expired";
/// The one answer to a reset request, whether or not the account exists.
pub const RESET_REQUESTED: &str = "If an account with that email exists, a password reset email has been sent.";
const RESET_LINK_INVALID: &str = "The reset link is invalid or has expired.";

fn token_invalid() -> DrfError {
    DrfError::DrfDetail {
        status: StatusCode::UNAUTHORIZED,
        detail: TOKEN_INVALID_OR_EXPIRED.into(),
        code: Some("token_not_valid"),
    }
}

/// A user as the document shows one.
#[derive(Serialize, ToSchema)]
pub struct DrfUserView {
    pub id: i64,
    pub username: String,
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    pub phone_number: Option<String>,
    pub city: Option<String>,
    pub address: Option<String>,
    pub postcode: Option<String>,
}

/// A full name's first word, and the rest.
fn split_name(full: &str) -> (String, String) {
    let full = full.trim();
    match full.split_once(char::is_whitespace) {
        Some((first, last)) => (first.to_string(), last.trim().to_string()),
        None => (full.to_string(), String::new()),
    }
}

impl From<&UserRecord> for DrfUserView {
    fn from(u: &UserRecord) -> Self {
        let (first_name, last_name) = split_name(&u.full_name);
        let address = u.shipping_address.as_ref();
        Self {
            id: u.id.get(),
            username: u.username.clone(),
            email: u.email.clone(),
            first_name,
            last_name,
            phone_number: u.phone.clone(),
            city: address.map(|a| a.city().to_string()),
            address: address.map(|a| a.address1().to_string()),
            postcode: address.map(|a| a.postcode().to_string()),
        }
    }
}

request_body! {
    /// A new account. `first_name` and `last_name` are Django's user
    /// fields, optional; without them the account's name is the username.
    pub struct DrfRegisterRequest {
        "username" => username: Required<Username>,
        /// At least 8 characters with upper, lower, digit and special character.
        "password" => password: Required<Password>,
        "confirm_password" => confirm_password: Required<Line<128>>,
        "email" => email: Required<Email>,
        "first_name" => first_name: Optional<Line<50>>,
        "last_name" => last_name: Optional<Line<50>>,
    }
}

fn full_name(first: &str, last: &str, fallback: &str) -> Result<FullName, String> {
    let joined = format!("{} {}", first.trim(), last.trim());
    let joined = joined.trim();
    FullName::parse(if joined.is_empty() { fallback } else { joined })
}

/// Create an account and sign it in.
#[utoipa::path(post, path = "/api/v1/users/register/", tag = TAG, request_body = DrfRegisterRequest,
    responses((status = 201, body = Object, example = json!({"message": "User registered successfully.", "user": {"id": 1, "username": "ada",
        "email": "ada@example.com", "first_name": "ada", "last_name": "", "phone_number": null, "city": null, "address": null,
        "postcode": null, "access": "…", "refresh": "…"}})),
        (status = 400, body = DrfFieldErrors), (status = 429, body = DrfDetail)))]
async fn register(
    State(state): State<AppState>,
    ip: ClientIp,
    DrfJson(body): DrfJson<DrfRegisterRequest>,
) -> DrfResult<Response> {
    let password = body.password.get();
    if password.expose() != body.confirm_password.get().0 {
        return Err(DrfError::field("confirm_password", "Passwords do not match."));
    }
    let username = body.username.get();
    let first = body.first_name.get().map(|l| l.0).unwrap_or_default();
    let last = body.last_name.get().map(|l| l.0).unwrap_or_default();
    let full_name = full_name(&first, &last, username.as_str()).map_err(|e| DrfError::field("first_name", &e))?;
    state.check_auth_budget(ip).await?;
    let ctx = ip.context();
    let login = LoginName::Username(username.key());
    let secret = password.expose().to_string();
    let registration = Registration { full_name, username, email: body.email.get(), password };
    let user = state.services.accounts.register(registration, &ctx).await.map_err(|e| match e {
        Error::Conflict(_) => DrfError::field("username", "A user with that username or email already exists."),
        other => other.into(),
    })?;
    let (_, tokens) = state.services.accounts.login(&login, &secret, &ctx).await?;
    let mut view = serde_json::to_value(DrfUserView::from(&user)).map_err(Error::internal)?;
    view["access"] = json!(tokens.access_token);
    view["refresh"] = json!(tokens.refresh_token);
    Ok((StatusCode::CREATED, axum::Json(json!({ "message": "User registered successfully.", "user": view })))
        .into_response())
}

request_body! {
    /// Sign in by username (an e-mail address is accepted too).
    pub struct DrfLoginRequest {
        "username" => username: Required<Line<254>>,
        "password" => password: Required<Line<128>>,
    }
}

#[derive(Serialize, ToSchema)]
pub struct DrfTokenPair {
    pub refresh: String,
    pub access: String,
}

/// Sign in: SimpleJWT's token pair.
#[utoipa::path(post, path = "/api/v1/users/login/", tag = TAG, request_body = DrfLoginRequest,
    responses((status = 200, body = DrfTokenPair), (status = 400, body = DrfFieldErrors), (status = 401, body = DrfDetail), (status = 429, body = DrfDetail)))]
async fn login(
    State(state): State<AppState>,
    ip: ClientIp,
    DrfJson(body): DrfJson<DrfLoginRequest>,
) -> DrfResult<Response> {
    let name = LoginName::parse(&body.username.get().0).map_err(|e| DrfError::field("username", &e))?;
    let (_, tokens) =
        state.services.accounts.login(&name, &body.password.get().0, &ip.context()).await.map_err(|e| match e {
            Error::Unauthenticated(_) => DrfError::DrfDetail {
                status: StatusCode::UNAUTHORIZED,
                detail: "No active account found with the given credentials".into(),
                code: Some("no_active_account"),
            },
            other => other.into(),
        })?;
    Ok(axum::Json(DrfTokenPair { refresh: tokens.refresh_token, access: tokens.access_token }).into_response())
}

request_body! {
    /// SimpleJWT clients may send the refresh token; the whole session ends either way.
    pub struct DrfLogoutRequest {
        "refresh" => refresh: Optional<Line<512>>,
    }
}

/// Sign out: the session (its access and refresh tokens) is revoked everywhere.
#[utoipa::path(post, path = "/api/v1/users/logout/", tag = TAG, request_body = DrfLogoutRequest, security(("bearer" = [])),
    responses((status = 200, body = Object, example = json!({"message": "Logged out successfully."})), (status = 401, body = DrfDetail)))]
async fn logout(
    State(state): State<AppState>,
    ip: ClientIp,
    Signed(principal): Signed,
    DrfJson(_body): DrfJson<DrfLogoutRequest>,
) -> DrfResult<Response> {
    state.services.accounts.logout(&principal, &ip.context()).await?;
    Ok(axum::Json(json!({ "message": "Logged out successfully." })).into_response())
}

/// The caller's account.
#[utoipa::path(get, path = "/api/v1/users/me/", tag = TAG, security(("bearer" = [])),
    responses((status = 200, body = DrfUserView), (status = 401, body = DrfDetail)))]
async fn me(State(state): State<AppState>, Signed(principal): Signed) -> DrfResult<Response> {
    let user = state.services.accounts.current_user(&principal).await?;
    Ok(axum::Json(DrfUserView::from(&user)).into_response())
}

request_body! {
    /// Any of these; members left out keep their values, `null` clears an optional one.
    pub struct DrfUpdateMeRequest {
        "username" => username: Optional<Username>,
        "email" => email: Optional<Email>,
        "first_name" => first_name: Optional<Line<50>>,
        "last_name" => last_name: Optional<Line<50>>,
        "phone_number" => phone_number: Patch<Phone>,
        "city" => city: Patch<Line<100>>,
        /// The street address.
        "address" => address: Patch<Line<200>>,
        "postcode" => postcode: Patch<Line<20>>,
    }
}

fn profile_field(native: &str) -> &str {
    match native.trim_start_matches('.') {
        "firstName" => "first_name",
        "lastName" => "last_name",
        "address1" => "address",
        "phone" => "phone_number",
        other => other,
    }
}

/// A part's change: `None` keeps it, `Some(None)` clears it.
type PartChange = Option<Option<String>>;

/// The account's default address after an update of its parts: `None`
/// when unchanged, `Some(None)` when all three are cleared.
fn updated_address(
    current: &UserRecord,
    full: &str,
    phone: Option<&str>,
    [city, address, postcode]: [PartChange; 3],
) -> Result<Option<Option<ShippingAddress>>, DrfError> {
    if city.is_none() && address.is_none() && postcode.is_none() {
        return Ok(None);
    }
    if [&city, &address, &postcode].iter().all(|p| matches!(p, Some(None))) {
        return Ok(Some(None));
    }
    let existing = current.shipping_address.as_ref();
    let pick = |change: PartChange, now: Option<&str>| change.unwrap_or_else(|| now.map(str::to_string));
    let (first, last) = split_name(full);
    let mut problems = Problems::new();
    let parsed = ShippingAddress::parse(
        AddressInput {
            first_name: Some(first),
            last_name: Some(if last.is_empty() { "-".into() } else { last }),
            address1: pick(address, existing.map(|a| a.address1())),
            address2: None,
            city: pick(city, existing.map(|a| a.city())),
            state: None,
            postcode: pick(postcode, existing.map(|a| a.postcode())),
            country: Some(existing.map_or(NO_COUNTRY, |a| a.country()).to_string()),
            phone: phone.map(str::to_string),
        },
        "",
        &mut problems,
    );
    if !problems.is_empty() {
        let fields = problems
            .into_vec()
            .into_iter()
            .map(|e| emporium_domain::FieldError::new(profile_field(&e.field), e.message))
            .collect();
        return Err(DrfError::Fields(fields));
    }
    Ok(Some(parsed))
}

/// Change the caller's profile.
#[utoipa::path(put, path = "/api/v1/users/me/update/", tag = TAG, request_body = DrfUpdateMeRequest, security(("bearer" = [])),
    responses((status = 200, body = DrfUserView), (status = 400, body = DrfFieldErrors), (status = 401, body = DrfDetail)))]
async fn update_me(
    State(state): State<AppState>,
    Signed(principal): Signed,
    DrfJson(body): DrfJson<DrfUpdateMeRequest>,
) -> DrfResult<Response> {
    let current = state.services.accounts.current_user(&principal).await?;
    let (first_now, last_now) = split_name(&current.full_name);
    let renamed = body.first_name.is_some() || body.last_name.is_some();
    let first = body.first_name.get().map_or(first_now, |l| l.0);
    let last = body.last_name.get().map_or(last_now, |l| l.0);
    let full = full_name(&first, &last, &current.username).map_err(|e| DrfError::field("first_name", &e))?;
    let phone = body.phone_number.get();
    let phone_now = match &phone {
        None => current.phone.clone(),
        Some(p) => p.as_ref().map(|p| p.as_str().to_string()),
    };
    let parts = [
        body.city.get().map(|c| c.map(|l| l.0)),
        body.address.get().map(|a| a.map(|l| l.0)),
        body.postcode.get().map(|p| p.map(|l| l.0)),
    ];
    let shipping_address = updated_address(&current, full.as_str(), phone_now.as_deref(), parts)?;
    let update = ProfileUpdate {
        full_name: renamed.then_some(full),
        username: body.username.get(),
        email: body.email.get(),
        phone,
        shipping_address,
    };
    let user = state.services.accounts.update_profile(&principal, update).await.map_err(|e| match e {
        Error::Conflict(_) => DrfError::field("username", "A user with that username or email already exists."),
        other => other.into(),
    })?;
    Ok(axum::Json(DrfUserView::from(&user)).into_response())
}

request_body! {
    /// The current password and the new one, twice.
    pub struct DrfChangePasswordRequest {
        "old_password" => old_password: Required<Line<128>>,
        "new_password" => new_password: Required<Password>,
        "confirm_password" => confirm_password: Required<Line<128>>,
    }
}

/// Change the caller's password; every other session is signed out.
#[utoipa::path(post, path = "/api/v1/users/me/change-password/", tag = TAG, request_body = DrfChangePasswordRequest,
    security(("bearer" = [])),
    responses((status = 200, body = Object, example = json!({"message": "Password changed successfully."})),
        (status = 400, body = DrfFieldErrors), (status = 401, body = DrfDetail)))]
async fn change_password(
    State(state): State<AppState>,
    ip: ClientIp,
    Signed(principal): Signed,
    DrfJson(body): DrfJson<DrfChangePasswordRequest>,
) -> DrfResult<Response> {
    let new = body.new_password.get();
    if new.expose() != body.confirm_password.get().0 {
        return Err(DrfError::field("confirm_password", "Passwords do not match."));
    }
    state.services.accounts.change_password(&principal, &body.old_password.get().0, new, &ip.context()).await.map_err(
        |e| match e {
            Error::Unauthenticated(_) => DrfError::field("old_password", "Wrong password."),
            other => other.into(),
        },
    )?;
    Ok(axum::Json(json!({ "message": "Password changed successfully." })).into_response())
}

request_body! {
    /// Where to send the reset link.
    pub struct DrfResetPasswordRequest {
        "email" => email: Required<Email>,
    }
}

/// Ask for a reset link: the same answer, as fast, whether or not the account
/// exists; if it does, a link with `uidb64` and `token` is mailed (at most 3 an hour).
#[utoipa::path(post, path = "/api/v1/users/reset-password/", tag = TAG, request_body = DrfResetPasswordRequest,
    responses((status = 200, body = DrfDetail), (status = 400, body = DrfFieldErrors), (status = 429, body = DrfDetail)))]
async fn reset_password(
    State(state): State<AppState>,
    ip: ClientIp,
    DrfJson(body): DrfJson<DrfResetPasswordRequest>,
) -> DrfResult<Response> {
    let email = body.email.get();
    state.check_auth_budget(ip).await?;
    state.services.accounts.forgot_password_linked(email, ResetLinkStyle::Django, ip.context());
    Ok(axum::Json(json!({ "detail": RESET_REQUESTED })).into_response())
}

request_query! {
    /// The link's parts, from the mail.
    pub struct ResetLinkQuery {
        "uidb64" => uidb64: Required<Line<64>>,
        "token" => token: Required<Line<256>>,
    }
}

request_body! {
    /// The new password, twice.
    pub struct DrfConfirmResetRequest {
        "new_password" => new_password: Required<Password>,
        "confirm_password" => confirm_password: Required<Line<128>>,
    }
}

/// Set a new password from a reset link; every session is signed out. A
/// link that is not live (unknown, used, expired, malformed) changes nothing.
#[utoipa::path(post, path = "/api/v1/users/reset-password/confirm/", tag = TAG, params(ResetLinkQuery),
    request_body = DrfConfirmResetRequest,
    responses((status = 200, body = DrfDetail), (status = 400, body = DrfFieldErrors), (status = 429, body = DrfDetail)))]
async fn confirm_reset_password(
    State(state): State<AppState>,
    ip: ClientIp,
    DrfQuery(link): DrfQuery<ResetLinkQuery>,
    DrfJson(body): DrfJson<DrfConfirmResetRequest>,
) -> DrfResult<Response> {
    let new = body.new_password.get();
    if new.expose() != body.confirm_password.get().0 {
        return Err(DrfError::field("confirm_password", "Passwords do not match."));
    }
    state.check_auth_budget(ip).await?;
    let invalid = || DrfError::detail(StatusCode::BAD_REQUEST, RESET_LINK_INVALID);
    // The token alone proves the reset (256 random bits, single use); the
    // uid must still name an account id, as Django's would.
    user_from_uidb64(&link.uidb64.get().0).ok_or_else(invalid)?;
    state.services.accounts.reset_password(&link.token.get().0, new, &ip.context()).await.map_err(|e| match e {
        Error::Validation(_) => invalid(),
        other => other.into(),
    })?;
    Ok(axum::Json(json!({ "detail": "Password has been reset." })).into_response())
}

request_body! {
    /// The refresh token from login or the last refresh.
    pub struct DrfRefreshRequest {
        "refresh" => refresh: Required<Line<512>>,
    }
}

/// A new access token. Refresh tokens rotate: the answer carries the next
/// one, and the one sent is spent (sending it again signs the session out).
#[utoipa::path(post, path = "/api/v1/users/token/refresh/", tag = TAG, request_body = DrfRefreshRequest,
    responses((status = 200, body = DrfTokenPair), (status = 400, body = DrfFieldErrors), (status = 401, body = DrfDetail)))]
async fn refresh_token(
    State(state): State<AppState>,
    ip: ClientIp,
    DrfJson(body): DrfJson<DrfRefreshRequest>,
) -> DrfResult<Response> {
    let tokens = state.services.accounts.refresh(&body.refresh.get().0, &ip.context()).await.map_err(|e| match e {
        Error::Unauthenticated(_) => token_invalid(),
        other => other.into(),
    })?;
    Ok(axum::Json(DrfTokenPair { refresh: tokens.refresh_token, access: tokens.access_token }).into_response())
}

request_body! {
    /// An access token to check.
    pub struct DrfVerifyRequest {
        "token" => token: Required<Line<4096>>,
    }
}

/// Whether an access token is live (its session not signed out).
#[utoipa::path(post, path = "/api/v1/users/token/verify/", tag = TAG, request_body = DrfVerifyRequest,
    responses((status = 200, body = DrfDetail), (status = 400, body = DrfFieldErrors), (status = 401, body = DrfDetail)))]
async fn verify_token(State(state): State<AppState>, DrfJson(body): DrfJson<DrfVerifyRequest>) -> DrfResult<Response> {
    state.services.accounts.verify_token(&body.token.get().0).await.map_err(|e| match e {
        Error::Unauthenticated(_) => token_invalid(),
        other => other.into(),
    })?;
    Ok(axum::Json(json!({ "detail": "Token is valid" })).into_response())
}
