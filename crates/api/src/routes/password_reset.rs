//! `/users/forgot-password` and `/users/reset-password`: a forgotten
//! password, by a single-use link sent by e-mail (OWASP's Forgot Password
//! Cheat Sheet).

use axum::extract::State;
use emporium_domain::account::{Email, Password};
use emporium_service::accounts::RESET_REQUESTED;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::envelope::{Envelope, Reply};
use crate::error::{ApiResult, ErrorEnvelope};
use crate::extract::{ClientIp, Fields, JsonObject};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(forgot_password)).routes(routes!(reset_password))
}

#[derive(Deserialize, ToSchema)]
#[allow(dead_code)]
pub struct ForgotPasswordRequest {
    email: String,
}

/// Ask for a password-reset link. The answer is the same 200, as fast,
/// whether or not an account has this e-mail; if one does, a link valid for
/// `EMPORIUM_RESET_TOKEN_TTL` (30 minutes) is mailed to it, at most 3 an hour.
#[utoipa::path(post, path = "/users/forgot-password", tag = "accounts", request_body = ForgotPasswordRequest,
    responses((status = 200, body = Envelope<Option<String>>), (status = 400, body = ErrorEnvelope), (status = 429, body = ErrorEnvelope)))]
async fn forgot_password(
    State(state): State<AppState>,
    ip: ClientIp,
    JsonObject(body): JsonObject,
) -> ApiResult<Reply<Option<()>>> {
    let mut f = Fields::new(body);
    let email = f.required_str("email");
    let email = f.parse("email", email, Email::parse);
    f.finish()?;
    let email = email.expect("finish() fails when email is missing");
    state.check_auth_budget(ip).await?;
    state.services.accounts.forgot_password(email, ip.context());
    Ok(Reply::message(RESET_REQUESTED))
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)]
pub struct ResetPasswordRequest {
    /// The token from the link in the reset mail.
    token: String,
    /// At least 8 characters with upper, lower, digit and special character.
    new_password: String,
}

/// Set a new password with the token from a reset mail. Every session of the
/// account is signed out and a "your password was changed" mail is sent. An
/// unknown, used or expired token is a 400, and changes nothing.
#[utoipa::path(post, path = "/users/reset-password", tag = "accounts", request_body = ResetPasswordRequest,
    responses((status = 200, body = Envelope<Option<String>>), (status = 400, body = ErrorEnvelope), (status = 429, body = ErrorEnvelope)))]
async fn reset_password(
    State(state): State<AppState>,
    ip: ClientIp,
    JsonObject(body): JsonObject,
) -> ApiResult<Reply<Option<()>>> {
    let mut f = Fields::new(body);
    let token = f.required_str("token");
    let new = f.required_str("newPassword");
    let new = f.parse("newPassword", new, Password::parse);
    f.finish()?;
    let (Some(token), Some(new)) = (token, new) else { unreachable!("finish() fails when any field is missing") };
    state.check_auth_budget(ip).await?;
    state.services.accounts.reset_password(&token, new, &ip.context()).await?;
    Ok(Reply::message("Password reset successfully"))
}
