//! `/admin/emails`: the outbox, for admins: what was sent, what waits, what
//! died, and sending a dead message again.

use axum::extract::State;
use emporium_domain::Error;
use emporium_domain::account::Email;
use emporium_store::{MailFilter, MailRecord, MailStatus};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::envelope::{Envelope, ListMeta, Reply};
use crate::error::{ApiResult, ErrorEnvelope};
use crate::extract::input::{Line, PageLimit, PageNumber};
use crate::extract::{Auth, ClientIp, IdPath, Input, Optional, PathText, Query};
use crate::request_query;
use crate::routes::admin::page;

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

impl Input for MailStatus {
    fn schema() -> RefOr<Schema> {
        let all = [MailStatus::Pending, MailStatus::Sent, MailStatus::Dead].map(MailStatus::as_str);
        ObjectBuilder::new().schema_type(Type::String).enum_values(Some(all)).into()
    }
    fn from_json(value: Value) -> Result<Self, String> {
        match value {
            Value::String(s) => MailStatus::parse(&s),
            _ => Err("must be a string".into()),
        }
    }
}

request_query! {
    pub struct EmailQuery {
        /// From 1.
        "page" => page: Optional<PageNumber>,
        /// 1–100, default 20.
        "limit" => limit: Optional<PageLimit>,
        "status" => status: Optional<MailStatus>,
        /// An e-mail address, matched case-insensitively.
        "recipient" => recipient: Optional<Line<{ Email::MAX_LEN }>>,
    }
}

/// The outbox, newest first; filter by `status` and by recipient address.
#[utoipa::path(get, path = "/admin/emails", tag = "admin", security(("bearer" = [])), params(EmailQuery),
    responses((status = 200, body = Envelope<Vec<EmailView>>), (status = 400, body = ErrorEnvelope), (status = 401, body = ErrorEnvelope), (status = 403, body = ErrorEnvelope)))]
async fn list_emails(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Query(q): Query<EmailQuery>,
) -> ApiResult<Reply<Vec<EmailView>>> {
    let page = page(q.page, q.limit, 20);
    let (status, recipient) = (q.status.get(), q.recipient.get().map(|r| r.0));
    let (mails, total) = state.services.outbox.list(&principal, &MailFilter { status, recipient }, page).await?;
    Ok(Reply::list(
        mails.iter().map(EmailView::from).collect(),
        ListMeta::new(page, total),
        "Emails fetched successfully",
    ))
}

/// Queue a dead message again, with a fresh count of attempts. 409 unless it is dead.
#[utoipa::path(post, path = "/admin/emails/{id}/retry", tag = "admin", security(("bearer" = [])),
    params(IdPath),
    responses((status = 200, body = Envelope<Option<String>>), (status = 401, body = ErrorEnvelope), (status = 403, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope)))]
async fn retry_email(
    State(state): State<AppState>,
    ip: ClientIp,
    Auth(principal): Auth,
    PathText(id): PathText,
) -> ApiResult<Reply<Option<()>>> {
    let id = match id.parse::<i64>() {
        Ok(id) if id > 0 => id,
        _ if principal.is_admin() => return Err(Error::NotFound("Message not found".into()).into()),
        _ => return Err(Error::Forbidden("Admin access required".into()).into()),
    };
    state.services.outbox.retry(&principal, id, &ip.context()).await?;
    Ok(Reply::message("Email queued again"))
}
