//! `/users/*`: registration, sign-in, sessions and the caller's own account.

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{AppendHeaders, IntoResponse};
use cookie::{Cookie, SameSite};
use emporium_domain::account::{Email, FullName, LoginName, Password, Phone, Username};
use emporium_domain::address::{AddressInput, ShippingAddress};
use emporium_service::accounts::{IssuedTokens, ProfileUpdate, Registration};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::envelope::{Envelope, Reply};
use crate::error::{ApiResult, ErrorEnvelope};
use crate::extract::{Auth, CartKey, ClientIp, Fields, JsonObject, OptionalJsonObject, cookie_value};
use crate::views::{AddressSchema, UserView};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(register))
        .routes(routes!(login))
        .routes(routes!(refresh_token))
        .routes(routes!(logout))
        .routes(routes!(current_user, update_current_user, delete_current_user))
        .routes(routes!(change_password))
        .routes(routes!(verify_token))
}

/// The auth cookies: httpOnly, SameSite=Lax, living as long as their tokens.
fn auth_cookies(state: &AppState, tokens: &IssuedTokens) -> AppendHeaders<[(header::HeaderName, HeaderValue); 2]> {
    let build = |name: &'static str, value: &str, max_age: u64| {
        let cookie = Cookie::build((name, value.to_string()))
            .http_only(true)
            .same_site(SameSite::Lax)
            .secure(state.settings.cookie_secure)
            .path("/")
            .max_age(cookie::time::Duration::seconds(max_age as i64))
            .build();
        HeaderValue::from_str(&cookie.to_string()).expect("cookie text is a valid header")
    };
    AppendHeaders([
        (header::SET_COOKIE, build("accessToken", &tokens.access_token, tokens.access_expires_in)),
        (header::SET_COOKIE, build("refreshToken", &tokens.refresh_token, tokens.refresh_expires_in)),
    ])
}

fn clear_cookies(state: &AppState) -> AppendHeaders<[(header::HeaderName, HeaderValue); 2]> {
    let clear = |name: &'static str| {
        let cookie = Cookie::build((name, ""))
            .http_only(true)
            .same_site(SameSite::Lax)
            .secure(state.settings.cookie_secure)
            .path("/")
            .max_age(cookie::time::Duration::ZERO)
            .build();
        HeaderValue::from_str(&cookie.to_string()).expect("cookie text is a valid header")
    };
    AppendHeaders([(header::SET_COOKIE, clear("accessToken")), (header::SET_COOKIE, clear("refreshToken"))])
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)]
pub struct RegisterRequest {
    full_name: String,
    username: String,
    email: String,
    /// At least 8 characters with upper, lower, digit and special character.
    password: String,
}

/// Create an account. Everyone registers as a `user`; sending `role` is refused.
#[utoipa::path(post, path = "/users/register", tag = "accounts", request_body = RegisterRequest,
    responses((status = 201, body = Envelope<UserView>), (status = 400, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope), (status = 429, body = ErrorEnvelope), (status = 503, body = ErrorEnvelope)))]
async fn register(
    State(state): State<AppState>,
    ip: ClientIp,
    JsonObject(body): JsonObject,
) -> ApiResult<Reply<UserView>> {
    state.check_auth_budget(ip).await?;
    let mut f = Fields::new(body);
    let full_name = f.required_str("fullName");
    let full_name = f.parse("fullName", full_name, FullName::parse);
    let username = f.required_str("username");
    let username = f.parse("username", username, Username::parse);
    let email = f.required_str("email");
    let email = f.parse("email", email, Email::parse);
    let password = f.required_str("password");
    let password = f.parse("password", password, Password::parse);
    f.finish()?;
    let (Some(full_name), Some(username), Some(email), Some(password)) = (full_name, username, email, password) else {
        unreachable!("finish() fails when any field is missing")
    };
    let user =
        state.services.accounts.register(Registration { full_name, username, email, password }, &ip.context()).await?;
    Ok(Reply::created(UserView::from(&user), "User created successfully"))
}

#[derive(Deserialize, ToSchema)]
#[allow(dead_code)]
pub struct LoginRequest {
    /// E-mail or username; either field may carry either.
    email: Option<String>,
    username: Option<String>,
    password: String,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LoginView {
    user: UserView,
    access_token: String,
    refresh_token: String,
}

/// Sign in with e-mail or username. An unknown account and a wrong password
/// get the same 401. With `X-Cart-Key`, the guest's cart is merged into the user's.
/// Repeated failures slow the account down (429 with `Retry-After`), except
/// from an address that signed in to it before; 503 while the shared
/// rate-limit counters are unreachable.
#[utoipa::path(post, path = "/users/login", tag = "accounts", request_body = LoginRequest,
    responses((status = 200, body = Envelope<LoginView>), (status = 400, body = ErrorEnvelope), (status = 401, body = ErrorEnvelope), (status = 429, body = ErrorEnvelope), (status = 503, body = ErrorEnvelope)))]
async fn login(
    State(state): State<AppState>,
    ip: ClientIp,
    cart_key: CartKey,
    JsonObject(body): JsonObject,
) -> ApiResult<impl IntoResponse> {
    let mut f = Fields::new(body);
    let email = f.optional_str("email");
    let username = f.optional_str("username");
    let password = f.required_str("password");
    let login = match email.or(username) {
        Some(name) => f.parse("email", Some(name), LoginName::parse),
        None => {
            f.error("email", "email or username is required");
            None
        }
    };
    if password.as_ref().is_some_and(|p| p.chars().count() > 128) {
        f.error("password", "must be at most 128 characters");
    }
    f.finish()?;
    let (Some(login), Some(password)) = (login, password) else {
        unreachable!("finish() fails when any field is missing")
    };
    let (user, tokens) = state.services.accounts.login(&login, &password, &ip.context()).await?;
    if let Some(key) = cart_key.0 {
        // The guest's cart joins the user's; its key is spent.
        state.services.carts.merge_into_user(user.id, &key).await?;
    }
    let view = LoginView {
        user: UserView::from(&user),
        access_token: tokens.access_token.clone(),
        refresh_token: tokens.refresh_token.clone(),
    };
    Ok((auth_cookies(&state, &tokens), Reply::ok(view, "User logged in successfully")))
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)]
pub struct RefreshRequest {
    /// Optional when the `refreshToken` cookie is sent.
    refresh_token: Option<String>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RefreshView {
    access_token: String,
    /// The same access token, under the name rest-v1.md uses.
    token: String,
    refresh_token: String,
}

/// Trade a refresh token for a new pair. The old one is spent; presenting it
/// again revokes the whole session.
#[utoipa::path(post, path = "/users/refresh-token", tag = "accounts", request_body = RefreshRequest,
    responses((status = 200, body = Envelope<RefreshView>), (status = 401, body = ErrorEnvelope)))]
async fn refresh_token(
    State(state): State<AppState>,
    ip: ClientIp,
    headers: HeaderMap,
    OptionalJsonObject(body): OptionalJsonObject,
) -> ApiResult<impl IntoResponse> {
    let from_cookie = cookie_value(&headers, "refreshToken");
    let mut f = Fields::new(body);
    let from_body = f.optional_str("refreshToken");
    f.finish()?;
    let Some(presented) = from_body.or(from_cookie) else {
        return Err(emporium_domain::Error::field("refreshToken", "is required").into());
    };
    let tokens = state.services.accounts.refresh(&presented, &ip.context()).await?;
    let view = RefreshView {
        access_token: tokens.access_token.clone(),
        token: tokens.access_token.clone(),
        refresh_token: tokens.refresh_token.clone(),
    };
    Ok((auth_cookies(&state, &tokens), Reply::ok(view, "Token refreshed successfully")))
}

/// End this session: its refresh token and access token stop working.
#[utoipa::path(post, path = "/users/logout", tag = "accounts", security(("bearer" = [])),
    responses((status = 200, body = Envelope<Option<String>>), (status = 401, body = ErrorEnvelope)))]
async fn logout(State(state): State<AppState>, ip: ClientIp, Auth(principal): Auth) -> ApiResult<impl IntoResponse> {
    state.services.accounts.logout(&principal, &ip.context()).await?;
    Ok((clear_cookies(&state), Reply::message("Logout successful")))
}

/// The signed-in user.
#[utoipa::path(get, path = "/users/current-user", tag = "accounts", security(("bearer" = [])),
    responses((status = 200, body = Envelope<UserView>), (status = 401, body = ErrorEnvelope)))]
async fn current_user(State(state): State<AppState>, Auth(principal): Auth) -> ApiResult<Reply<UserView>> {
    let user = state.services.accounts.current_user(&principal).await?;
    Ok(Reply::ok(UserView::from(&user), "User fetched successfully"))
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)]
pub struct UpdateProfileRequest {
    full_name: Option<String>,
    username: Option<String>,
    email: Option<String>,
    /// `null` clears it.
    phone: Option<String>,
    /// The default shipping address; `null` clears it.
    shipping_address: Option<AddressSchema>,
}

/// Parses an address object, recording errors under `field.*`.
pub(crate) fn parse_address(f: &mut Fields, nested: Fields) -> Option<ShippingAddress> {
    let mut a = nested;
    let input = AddressInput {
        first_name: a.optional_str("firstName"),
        last_name: a.optional_str("lastName"),
        address1: a.optional_str("address1"),
        address2: a.optional_str("address2"),
        city: a.optional_str("city"),
        state: a.optional_str("state"),
        postcode: a.optional_str("postcode"),
        country: a.optional_str("country"),
        phone: a.optional_str("phone"),
    };
    let mut errors = emporium_domain::error::FieldErrors::new();
    let address = ShippingAddress::parse(input, "", &mut errors);
    for e in errors.into_vec() {
        a.error(e.field.trim_start_matches('.'), e.message);
    }
    f.absorb(a);
    address
}

/// Update the signed-in user's profile. `role` cannot be changed here.
#[utoipa::path(patch, path = "/users/current-user", tag = "accounts", security(("bearer" = [])), request_body = UpdateProfileRequest,
    responses((status = 200, body = Envelope<UserView>), (status = 400, body = ErrorEnvelope), (status = 401, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope)))]
async fn update_current_user(
    State(state): State<AppState>,
    Auth(principal): Auth,
    JsonObject(body): JsonObject,
) -> ApiResult<Reply<UserView>> {
    let mut f = Fields::new(body);
    let full_name = f.optional_str("fullName");
    let full_name = f.parse("fullName", full_name, FullName::parse);
    let username = f.optional_str("username");
    let username = f.parse("username", username, Username::parse);
    let email = f.optional_str("email");
    let email = f.parse("email", email, Email::parse);
    let phone = match f.nullable_str("phone") {
        Some(Some(p)) => f.parse("phone", Some(p), Phone::parse).map(Some),
        Some(None) => Some(None),
        None => None,
    };
    let shipping_address = match f.nullable_object("shippingAddress") {
        Some(Some(nested)) => parse_address(&mut f, nested).map(Some),
        Some(None) => Some(None),
        None => None,
    };
    f.finish()?;
    let update = ProfileUpdate { full_name, username, email, phone, shipping_address };
    let user = state.services.accounts.update_profile(&principal, update).await?;
    Ok(Reply::ok(UserView::from(&user), "User updated successfully"))
}

#[derive(Deserialize, ToSchema)]
#[allow(dead_code)]
pub struct DeleteAccountRequest {
    password: String,
}

/// Delete the signed-in user's account; the password must be confirmed.
#[utoipa::path(delete, path = "/users/current-user", tag = "accounts", security(("bearer" = [])), request_body = DeleteAccountRequest,
    responses((status = 200, body = Envelope<Option<String>>), (status = 400, body = ErrorEnvelope), (status = 401, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope)))]
async fn delete_current_user(
    State(state): State<AppState>,
    ip: ClientIp,
    Auth(principal): Auth,
    JsonObject(body): JsonObject,
) -> ApiResult<impl IntoResponse> {
    let mut f = Fields::new(body);
    let password = f.required_str("password");
    f.finish()?;
    let password = password.unwrap_or_default();
    state.services.accounts.delete_account(&principal, &password, &ip.context()).await?;
    Ok((clear_cookies(&state), Reply::message("User deleted successfully")))
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)]
pub struct ChangePasswordRequest {
    current_password: String,
    new_password: String,
}

/// Change the password; every other session is signed out.
#[utoipa::path(put, path = "/users/change-password", tag = "accounts", security(("bearer" = [])), request_body = ChangePasswordRequest,
    responses((status = 200, body = Envelope<Option<String>>), (status = 400, body = ErrorEnvelope), (status = 401, body = ErrorEnvelope)))]
async fn change_password(
    State(state): State<AppState>,
    ip: ClientIp,
    Auth(principal): Auth,
    JsonObject(body): JsonObject,
) -> ApiResult<Reply<Option<()>>> {
    let mut f = Fields::new(body);
    let current = f.required_str("currentPassword");
    let new = f.required_str("newPassword");
    let new = f.parse("newPassword", new, Password::parse);
    f.finish()?;
    let (Some(current), Some(new)) = (current, new) else { unreachable!("finish() fails when any field is missing") };
    state.services.accounts.change_password(&principal, &current, new, &ip.context()).await?;
    Ok(Reply::message("Password changed successfully"))
}

#[derive(Deserialize, ToSchema)]
#[allow(dead_code)]
pub struct VerifyTokenRequest {
    /// An access token.
    token: String,
}

#[derive(Serialize, ToSchema)]
pub struct ClaimsView {
    /// The user's id.
    sub: String,
    role: String,
    /// The session the token belongs to.
    sid: String,
    iat: i64,
    exp: i64,
    iss: String,
}

/// Check an access token: 200 with its claims while it and its session are live, 401 otherwise.
#[utoipa::path(post, path = "/users/verify-token", tag = "accounts", request_body = VerifyTokenRequest,
    responses((status = 200, body = Envelope<ClaimsView>), (status = 400, body = ErrorEnvelope), (status = 401, body = ErrorEnvelope)))]
async fn verify_token(State(state): State<AppState>, JsonObject(body): JsonObject) -> ApiResult<Reply<ClaimsView>> {
    let mut f = Fields::new(body);
    let token = f.required_str("token");
    f.finish()?;
    let claims = state.services.accounts.verify_token(&token.unwrap_or_default()).await?;
    let view = ClaimsView {
        sub: claims.sub,
        role: claims.role,
        sid: claims.sid,
        iat: claims.iat,
        exp: claims.exp,
        iss: claims.iss,
    };
    Ok(Reply::ok(view, "Token is valid"))
}
