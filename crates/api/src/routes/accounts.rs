//! `/users/*`: registration, sign-in, sessions and the caller's own account.

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{AppendHeaders, IntoResponse};
use cookie::{Cookie, SameSite};
use emporium_domain::account::{Email, FullName, LoginName, Password, Phone, Username};
use emporium_domain::address::{AddressInput, ShippingAddress};
use emporium_domain::error::FieldErrors;
use emporium_service::accounts::{IssuedTokens, ProfileUpdate, Registration};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{AllOfBuilder, ObjectBuilder, Schema, Type};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::envelope::{Envelope, Reply};
use crate::error::{ApiResult, ErrorEnvelope};
use crate::extract::input::{Line, NOT_BLANK_PATTERN, Name, any_of};
use crate::extract::{
    Auth, Body, CartKey, ClientIp, Json, Optional, OptionalJsonObject, Patch, Required, cookie_value,
};
use crate::request_body;
use crate::views::UserView;

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

request_body! {
    /// A new account.
    pub struct RegisterRequest {
        "fullName" => full_name: Required<FullName>,
        /// 3–30 letters, digits, `_`, `.` or `-`, starting with a letter or digit.
        "username" => username: Required<Username>,
        "email" => email: Required<Email>,
        "password" => password: Required<Password>,
    }
}

/// Create an account. Everyone registers as a `user`; sending `role` is refused.
#[utoipa::path(post, path = "/users/register", tag = "accounts", request_body = RegisterRequest,
    responses((status = 201, body = Envelope<UserView>), (status = 400, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope), (status = 429, body = ErrorEnvelope), (status = 503, body = ErrorEnvelope)))]
async fn register(
    State(state): State<AppState>,
    ip: ClientIp,
    Json(body): Json<RegisterRequest>,
) -> ApiResult<Reply<UserView>> {
    state.check_auth_budget(ip).await?;
    let registration = Registration {
        full_name: body.full_name.get(),
        username: body.username.get(),
        email: body.email.get(),
        password: body.password.get(),
    };
    let user = state.services.accounts.register(registration, &ip.context()).await?;
    Ok(Reply::created(UserView::from(&user), "User created successfully"))
}

/// A sign-in name: an e-mail or a username, at most 254 characters.
type SignInName = Line<{ emporium_domain::account::Email::MAX_LEN }>;
/// A password as typed at sign-in; the policy is not checked, only its length.
type GivenPassword = Line<{ Password::MAX_LEN }>;

request_body! {
    /// E-mail or username, and password.
    pub struct LoginRequest {
        /// E-mail or username; either field may carry either.
        "email" => email: Optional<SignInName>,
        "username" => username: Optional<SignInName>,
        "password" => password: Required<GivenPassword>,
    }
    check = check_login;
    schema = login_schema;
}

fn sign_in_name(body: &LoginRequest) -> Option<&str> {
    fn given(f: &Optional<SignInName>) -> Option<&str> {
        f.0.as_ref().map(|l| l.0.as_str()).filter(|s| !s.trim().is_empty())
    }
    given(&body.email).or_else(|| given(&body.username))
}

fn check_login(body: &LoginRequest, errors: &mut FieldErrors) {
    match sign_in_name(body) {
        Some(name) => {
            if let Err(e) = LoginName::parse(name) {
                errors.push("email", e);
            }
        }
        None if errors.is_empty() => errors.push("email", "email or username is required"),
        None => {}
    }
}

/// `email` or `username` must be given, and not blank.
fn login_schema(object: ObjectBuilder) -> RefOr<Schema> {
    let with = |member: &str| {
        let name = ObjectBuilder::new()
            .schema_type(Type::Object)
            .property(member, ObjectBuilder::new().schema_type(Type::String).pattern(Some(NOT_BLANK_PATTERN)))
            .required(member);
        RefOr::T(Schema::Object(name.build()))
    };
    AllOfBuilder::new().item(object).item(any_of([with("email"), with("username")])).into()
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
    params(("X-Cart-Key" = Option<String>, Header, description = "a guest's cart, merged into the user's")),
    responses((status = 200, body = Envelope<LoginView>), (status = 400, body = ErrorEnvelope), (status = 401, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope), (status = 429, body = ErrorEnvelope), (status = 503, body = ErrorEnvelope)))]
async fn login(
    State(state): State<AppState>,
    ip: ClientIp,
    cart_key: CartKey,
    Json(body): Json<LoginRequest>,
) -> ApiResult<impl IntoResponse> {
    let login = LoginName::parse(sign_in_name(&body).unwrap_or_default())
        .map_err(|e| emporium_domain::Error::field("email", e))?;
    let password = body.password.get().0;
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

/// A token as issued: one line, at most 4096 characters.
type GivenToken = Line<4096>;

request_body! {
    /// The refresh token to trade.
    pub struct RefreshRequest {
        /// May be left out (with the whole body) when the `refreshToken` cookie is sent.
        "refreshToken" => refresh_token: Required<GivenToken>,
    }
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
/// again revokes the whole session. The token comes from the body or, when
/// the body is left out, from the `refreshToken` cookie.
#[utoipa::path(post, path = "/users/refresh-token", tag = "accounts", request_body = RefreshRequest,
    responses((status = 200, body = Envelope<RefreshView>), (status = 400, body = ErrorEnvelope), (status = 401, body = ErrorEnvelope)))]
async fn refresh_token(
    State(state): State<AppState>,
    ip: ClientIp,
    headers: HeaderMap,
    OptionalJsonObject(body): OptionalJsonObject,
) -> ApiResult<impl IntoResponse> {
    let presented = match (body.is_empty(), cookie_value(&headers, "refreshToken")) {
        (true, Some(cookie)) => cookie,
        _ => {
            let mut errors = FieldErrors::new();
            let body = RefreshRequest::read_object(body, "", &mut errors);
            errors.into_result()?;
            body.refresh_token.get().0
        }
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

request_body! {
    /// A postal address.
    pub struct AddressRequest {
        "firstName" => first_name: Required<Name<100>>,
        "lastName" => last_name: Required<Name<100>>,
        "address1" => address1: Required<Name<200>>,
        "address2" => address2: Optional<Line<200>>,
        "city" => city: Required<Name<100>>,
        "state" => state: Optional<Line<100>>,
        "postcode" => postcode: Required<Name<20>>,
        "country" => country: Required<Name<56>>,
        "phone" => phone: Required<Phone>,
    }
}

impl AddressRequest {
    /// The checked address. Every part was checked on reading, so the
    /// domain's own parse (which trims and drops empty optional parts) has
    /// nothing left to refuse.
    pub(crate) fn into_address(self) -> Result<ShippingAddress, emporium_domain::Error> {
        let input = AddressInput {
            first_name: Some(self.first_name.get().0),
            last_name: Some(self.last_name.get().0),
            address1: Some(self.address1.get().0),
            address2: self.address2.get().map(|l| l.0),
            city: Some(self.city.get().0),
            state: self.state.get().map(|l| l.0),
            postcode: Some(self.postcode.get().0),
            country: Some(self.country.get().0),
            phone: Some(self.phone.get().as_str().to_string()),
        };
        let mut errors = FieldErrors::new();
        let address = ShippingAddress::parse(input, "shippingAddress", &mut errors);
        errors.into_result()?;
        Ok(address.expect("parse reports why it gave no address"))
    }
}

request_body! {
    /// The profile fields to change; the rest stay.
    pub struct UpdateProfileRequest {
        "fullName" => full_name: Optional<FullName>,
        "username" => username: Optional<Username>,
        "email" => email: Optional<Email>,
        /// `null` clears it.
        "phone" => phone: Patch<Phone>,
        /// The default shipping address; `null` clears it.
        "shippingAddress" => shipping_address: Patch<AddressRequest>,
    }
}

/// Update the signed-in user's profile. `role` cannot be changed here.
#[utoipa::path(patch, path = "/users/current-user", tag = "accounts", security(("bearer" = [])), request_body = UpdateProfileRequest,
    responses((status = 200, body = Envelope<UserView>), (status = 400, body = ErrorEnvelope), (status = 401, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope)))]
async fn update_current_user(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Json(body): Json<UpdateProfileRequest>,
) -> ApiResult<Reply<UserView>> {
    let shipping_address = match body.shipping_address.get() {
        None => None,
        Some(None) => Some(None),
        Some(Some(address)) => Some(Some(address.into_address()?)),
    };
    let update = ProfileUpdate {
        full_name: body.full_name.get(),
        username: body.username.get(),
        email: body.email.get(),
        phone: body.phone.get(),
        shipping_address,
    };
    let user = state.services.accounts.update_profile(&principal, update).await?;
    Ok(Reply::ok(UserView::from(&user), "User updated successfully"))
}

request_body! {
    /// The password, confirming the deletion.
    pub struct DeleteAccountRequest {
        "password" => password: Required<GivenPassword>,
    }
}

/// Delete the signed-in user's account; the password must be confirmed.
#[utoipa::path(delete, path = "/users/current-user", tag = "accounts", security(("bearer" = [])), request_body = DeleteAccountRequest,
    responses((status = 200, body = Envelope<Option<String>>), (status = 400, body = ErrorEnvelope), (status = 401, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope)))]
async fn delete_current_user(
    State(state): State<AppState>,
    ip: ClientIp,
    Auth(principal): Auth,
    Json(body): Json<DeleteAccountRequest>,
) -> ApiResult<impl IntoResponse> {
    let password = body.password.get().0;
    state.services.accounts.delete_account(&principal, &password, &ip.context()).await?;
    Ok((clear_cookies(&state), Reply::message("User deleted successfully")))
}

request_body! {
    /// The current password and the new one.
    pub struct ChangePasswordRequest {
        "currentPassword" => current_password: Required<GivenPassword>,
        "newPassword" => new_password: Required<Password>,
    }
}

/// Change the password; every other session is signed out.
#[utoipa::path(put, path = "/users/change-password", tag = "accounts", security(("bearer" = [])), request_body = ChangePasswordRequest,
    responses((status = 200, body = Envelope<Option<String>>), (status = 400, body = ErrorEnvelope), (status = 401, body = ErrorEnvelope)))]
async fn change_password(
    State(state): State<AppState>,
    ip: ClientIp,
    Auth(principal): Auth,
    Json(body): Json<ChangePasswordRequest>,
) -> ApiResult<Reply<Option<()>>> {
    let current = body.current_password.get().0;
    state.services.accounts.change_password(&principal, &current, body.new_password.get(), &ip.context()).await?;
    Ok(Reply::message("Password changed successfully"))
}

request_body! {
    /// The token to check.
    pub struct VerifyTokenRequest {
        /// An access token.
        "token" => token: Required<GivenToken>,
    }
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
async fn verify_token(
    State(state): State<AppState>,
    Json(body): Json<VerifyTokenRequest>,
) -> ApiResult<Reply<ClaimsView>> {
    let claims = state.services.accounts.verify_token(&body.token.get().0).await?;
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
