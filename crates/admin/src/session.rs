//! Signing in and out, and the guard in front of every other page.
//!
//! The dashboard's session is an API session (the same access and refresh
//! tokens, the same `sessions` row), carried in two httpOnly `SameSite=Strict`
//! cookies scoped to `/admin`. So signing out anywhere, a password change or
//! reset, and an admin being demoted all end it, exactly as for the API; and
//! signing in goes through the API's sign-in policy (rate limits, lock-out).

use axum::Extension;
use axum::extract::{Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use cookie::{Cookie, SameSite};
use emporium_api::AppState;
use emporium_api::extract::{ClientIp, cookie_value};
use emporium_domain::Error;
use emporium_domain::account::LoginName;
use emporium_service::Principal;
use emporium_service::accounts::{INVALID_CREDENTIALS, IssuedTokens};
use serde::Deserialize;

use crate::form::{self, Form};
use crate::render::{self, PageError, PageResult};

const ACCESS_COOKIE: &str = "emporium_admin_access";
const REFRESH_COOKIE: &str = "emporium_admin_refresh";

/// The signed-in admin, put in the request by [`require_admin`].
#[derive(Clone)]
pub struct AdminUser(pub Principal);

fn cookie_header(state: &AppState, name: &'static str, value: &str, max_age: i64) -> HeaderValue {
    let cookie = Cookie::build((name, value.to_string()))
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(state.settings.cookie_secure)
        .path("/admin")
        .max_age(cookie::time::Duration::seconds(max_age))
        .build();
    HeaderValue::from_str(&cookie.to_string()).expect("cookie text is a valid header")
}

fn set_session(state: &AppState, tokens: &IssuedTokens, headers: &mut HeaderMap) {
    headers.append(
        header::SET_COOKIE,
        cookie_header(state, ACCESS_COOKIE, &tokens.access_token, tokens.access_expires_in as i64),
    );
    headers.append(
        header::SET_COOKIE,
        cookie_header(state, REFRESH_COOKIE, &tokens.refresh_token, tokens.refresh_expires_in as i64),
    );
}

fn clear_session(state: &AppState, headers: &mut HeaderMap) {
    headers.append(header::SET_COOKIE, cookie_header(state, ACCESS_COOKIE, "", 0));
    headers.append(header::SET_COOKIE, cookie_header(state, REFRESH_COOKIE, "", 0));
}

/// A request's session: the access token's principal, or, once it has
/// expired, a fresh pair from the refresh token (whose cookies the response
/// then carries). `None` when neither is live.
async fn resolve(
    state: &AppState,
    headers: &HeaderMap,
    ip: ClientIp,
) -> Result<Option<(Principal, Option<IssuedTokens>)>, Error> {
    if let Some(access) = cookie_value(headers, ACCESS_COOKIE) {
        match state.services.accounts.authenticate(&access).await {
            Ok(principal) => return Ok(Some((principal, None))),
            Err(Error::Unauthenticated(_)) => {}
            Err(other) => return Err(other),
        }
    }
    let Some(refresh) = cookie_value(headers, REFRESH_COOKIE) else {
        return Ok(None);
    };
    let tokens = match state.services.accounts.refresh(&refresh, &ip.context()).await {
        Ok(tokens) => tokens,
        Err(Error::Unauthenticated(_)) => return Ok(None),
        Err(other) => return Err(other),
    };
    let principal = state.services.accounts.authenticate(&tokens.access_token).await?;
    Ok(Some((principal, Some(tokens))))
}

/// Anonymous: sent to sign in (htmx is told to load the page, not swap it
/// in). Signed in but not an admin: 403, on every dashboard URL.
pub async fn require_admin(State(state): State<AppState>, ip: ClientIp, mut request: Request, next: Next) -> Response {
    let session = match resolve(&state, request.headers(), ip).await {
        Ok(session) => session,
        Err(e) => return PageError::from(e).into_response(),
    };
    let Some((principal, refreshed)) = session else {
        let next_path = request.uri().path_and_query().map(|p| p.as_str()).unwrap_or("/admin");
        let target = format!("/admin/sign-in?next={}", form::encode(next_path));
        let mut response = Redirect::to(&target).into_response();
        if request.headers().contains_key("hx-request") {
            response.headers_mut().insert("hx-redirect", HeaderValue::from_str(&target).expect("encoded"));
        }
        clear_session(&state, response.headers_mut());
        return response;
    };
    if !principal.is_admin() {
        return PageError::new(StatusCode::FORBIDDEN, "This dashboard is for the shop's admins.").into_response();
    }
    request.extensions_mut().insert(AdminUser(principal));
    let mut response = next.run(request).await;
    if let Some(tokens) = refreshed {
        set_session(&state, &tokens, response.headers_mut());
    }
    response
}

#[derive(Deserialize)]
pub struct NextQuery {
    next: Option<String>,
}

/// Only a path inside the dashboard is a place to go back to after signing
/// in (never `//evil.example` or an absolute URL).
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n) if n.starts_with("/admin") && !n.contains("//") && !n.contains('\\') => n.to_string(),
        _ => "/admin".to_string(),
    }
}

pub async fn sign_in_page(Query(q): Query<NextQuery>) -> PageResult {
    render::sign_in(StatusCode::OK, "", &safe_next(q.next.as_deref()), None)
}

pub async fn sign_in(State(state): State<AppState>, ip: ClientIp, form: Form) -> PageResult {
    let login_raw = form.text("login");
    let password = form.text("password");
    let next = safe_next(Some(form.text("next")));
    let login = match LoginName::parse(login_raw) {
        Ok(login) => login,
        Err(_) => return render::sign_in(StatusCode::UNAUTHORIZED, login_raw, &next, Some(INVALID_CREDENTIALS)),
    };
    let ctx = ip.context();
    match state.services.accounts.login(&login, password, &ctx).await {
        Ok((user, tokens)) => {
            if user.role != emporium_domain::account::Role::Admin {
                // A customer's right password opens nothing here; their new
                // session is ended at once and they hear what a wrong one hears.
                if let Ok(principal) = state.services.accounts.authenticate(&tokens.access_token).await {
                    state.services.accounts.logout(&principal, &ctx).await?;
                }
                return render::sign_in(StatusCode::UNAUTHORIZED, login_raw, &next, Some(INVALID_CREDENTIALS));
            }
            let mut response = Redirect::to(&next).into_response();
            set_session(&state, &tokens, response.headers_mut());
            Ok(response)
        }
        Err(Error::Unauthenticated(_)) => {
            render::sign_in(StatusCode::UNAUTHORIZED, login_raw, &next, Some(INVALID_CREDENTIALS))
        }
        Err(Error::RateLimited { retry_after_secs }) => {
            let message = format!("Too many sign-in attempts. Try again in {retry_after_secs} seconds.");
            let mut response = render::sign_in(StatusCode::TOO_MANY_REQUESTS, login_raw, &next, Some(&message))?;
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
            Ok(response)
        }
        Err(other) => Err(other.into()),
    }
}

pub async fn sign_out(
    State(state): State<AppState>,
    ip: ClientIp,
    Extension(AdminUser(principal)): Extension<AdminUser>,
) -> PageResult {
    state.services.accounts.logout(&principal, &ip.context()).await?;
    let mut response = Redirect::to("/admin/sign-in").into_response();
    clear_session(&state, response.headers_mut());
    Ok(response)
}
