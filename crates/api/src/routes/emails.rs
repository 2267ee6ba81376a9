//! `/admin/emails`: the outbox, for admins: what was sent, what waits, what
//! died, and sending a dead message again.

use axum::extract::{Path, State};
use emporium_domain::Error;
use emporium_store::{MailFilter, MailRecord, MailStatus};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::envelope::{Envelope, ListMeta, Reply};
use crate::error::{ApiResult, ErrorEnvelope};
use crate::extract::{Auth, ClientIp, Params};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_emails)).routes(routes!(retry_email))
}

/// A queued or sent message.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EmailView {
    #[serde(rename = "_id")]
    pub id: String,
    /// What the message announces, e.g. `order:12:paid`.
    pub key: String,
    /// `welcome`, `password_reset`, `password_changed`, `order_placed`, `order_paid`, …
    pub kind: String,
    pub to: String,
    pub to_name: Option<String>,
    /// `pending`, `sent` or `dead`.
    pub status: String,
    pub attempts: i64,
    pub next_attempt_at: Option<String>,
    pub last_error: Option<String>,
    /// The message's facts; always `null` for a password-reset mail (it carries a secret).
    #[schema(value_type = Option<Object>)]
    pub content: Option<serde_json::Value>,
    pub created_at: String,
    pub sent_at: Option<String>,
    pub updated_at: String,
}

impl From<&MailRecord> for EmailView {
    fn from(m: &MailRecord) -> Self {
        Self {
            id: m.id.to_string(),
            key: m.key.clone(),
            kind: m.kind.clone(),
            to: m.to_address.clone(),
            to_name: m.to_name.clone(),
            status: m.status.as_str().to_string(),
            attempts: m.attempts,
            next_attempt_at: (m.status == MailStatus::Pending).then(|| m.next_attempt_at.to_rfc3339()),
            last_error: m.last_error.clone(),
            content: if m.sensitive { None } else { m.content.as_ref().and_then(|c| serde_json::to_value(c).ok()) },
            created_at: m.created_at.to_rfc3339(),
            sent_at: m.sent_at.map(|t| t.to_rfc3339()),
            updated_at: m.updated_at.to_rfc3339(),
        }
    }
}

/// The outbox, newest first; filter by `status` and by recipient address.
#[utoipa::path(get, path = "/admin/emails", tag = "admin", security(("bearer" = [])),
    params(("page" = Option<u32>, Query), ("limit" = Option<u32>, Query),
        ("status" = Option<String>, Query, description = "pending, sent or dead"),
        ("recipient" = Option<String>, Query, description = "an e-mail address, matched case-insensitively")),
    responses((status = 200, body = Envelope<Vec<EmailView>>), (status = 400, body = ErrorEnvelope), (status = 401, body = ErrorEnvelope), (status = 403, body = ErrorEnvelope)))]
async fn list_emails(
    State(state): State<AppState>,
    Auth(principal): Auth,
    mut q: Params,
) -> ApiResult<Reply<Vec<EmailView>>> {
    let page = q.page(20);
    let status = q.parse("status", MailStatus::parse);
    let recipient = q.str("recipient");
    if recipient.as_ref().is_some_and(|r| r.chars().count() > 254) {
        q.errors.push("recipient", "must be at most 254 characters");
    }
    q.finish()?;
    let (mails, total) = state.services.outbox.list(&principal, &MailFilter { status, recipient }, page).await?;
    Ok(Reply::list(
        mails.iter().map(EmailView::from).collect(),
        ListMeta::new(page, total),
        "Emails fetched successfully",
    ))
}

/// Queue a dead message again, with a fresh count of attempts. 409 unless it is dead.
#[utoipa::path(post, path = "/admin/emails/{id}/retry", tag = "admin", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 200, body = Envelope<Option<String>>), (status = 401, body = ErrorEnvelope), (status = 403, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope)))]
async fn retry_email(
    State(state): State<AppState>,
    ip: ClientIp,
    Auth(principal): Auth,
    Path(id): Path<String>,
) -> ApiResult<Reply<Option<()>>> {
    let id = match id.parse::<i64>() {
        Ok(id) if id > 0 => id,
        _ if principal.is_admin() => return Err(Error::NotFound("Message not found".into()).into()),
        _ => return Err(Error::Forbidden("Admin access required".into()).into()),
    };
    state.services.outbox.retry(&principal, id, &ip.context()).await?;
    Ok(Reply::message("Email queued again"))
}
