//! `/users/forgot-password` and `/users/reset-password`: a forgotten
//! password, by a single-use link sent by e-mail (OWASP's Forgot Password
//! Cheat Sheet).

use axum::extract::State;
use emporium_domain::account::{Email, Password};
use emporium_service::accounts::RESET_REQUESTED;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::envelope::{Envelope, Reply};
use crate::error::{ApiResult, ErrorEnvelope};
use crate::extract::input::Line;
use crate::extract::{ClientIp, Json, Required};
use crate::request_body;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(forgot_password)).routes(routes!(reset_password))
}

request_body! {
    /// Where to send the link.
    pub struct ForgotPasswordRequest {
        "email" => email: Required<Email>,
    }
}

/// Ask for a password-reset link. The answer is the same 200, as fast,
/// whether or not an account has this e-mail; if one does, a link valid for
/// `EMPORIUM_RESET_TOKEN_TTL` (30 minutes) is mailed to it, at most 3 an hour.
#[utoipa::path(post, path = "/users/forgot-password", tag = "accounts", request_body = ForgotPasswordRequest,
    responses((status = 200, body = Envelope<Option<String>>), (status = 400, body = ErrorEnvelope), (status = 429, body = ErrorEnvelope)))]
async fn forgot_password(
    State(state): State<AppState>,
    ip: ClientIp,
    Json(body): Json<ForgotPasswordRequest>,
) -> ApiResult<Reply<Option<()>>> {
    let email = body.email.get();
    state.check_auth_budget(ip).await?;
    state.services.accounts.forgot_password(email, ip.context());
    Ok(Reply::message(RESET_REQUESTED))
}

request_body! {
    /// The token from the mail, and the new password.
    pub struct ResetPasswordRequest {
        /// The token from the link in the reset mail.
        "token" => token: Required<Line<256>>,
        /// At least 8 characters with upper, lower, digit and special character.
        "newPassword" => new_password: Required<Password>,
    }
}

/// Set a new password with the token from a reset mail. Every session of the
/// account is signed out and a "your password was changed" mail is sent. An
/// unknown, used or expired token is a 400, and changes nothing.
#[utoipa::path(post, path = "/users/reset-password", tag = "accounts", request_body = ResetPasswordRequest,
    responses((status = 200, body = Envelope<Option<String>>), (status = 400, body = ErrorEnvelope), (status = 429, body = ErrorEnvelope)))]
async fn reset_password(
    State(state): State<AppState>,
    ip: ClientIp,
    Json(body): Json<ResetPasswordRequest>,
) -> ApiResult<Reply<Option<()>>> {
    let (token, new) = (body.token.get().0, body.new_password.get());
    state.check_auth_budget(ip).await?;
    state.services.accounts.reset_password(&token, new, &ip.context()).await?;
    Ok(Reply::message("Password reset successfully"))
}
