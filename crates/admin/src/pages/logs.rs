//! `/admin/audit` and `/admin/emails`: the audit log and the mail outbox,
//! filterable; a dead message can be sent again.

use askama::Template;
use axum::Extension;
use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect};
use axum::routing::{get, post};
use emporium_api::AppState;
use emporium_api::extract::ClientIp;
use emporium_store::{AuditFilter, MailFilter, MailStatus};

use super::{Pager, date, page_of, query, when};
use crate::render::{self, Layout, PageError, PageResult};
use crate::session::AdminUser;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/admin/audit", get(audit))
        .route("/admin/emails", get(emails))
        .route("/admin/emails/{id}/retry", post(retry))
}

pub struct AuditRow {
    pub at: String,
    pub action: String,
    pub actor: String,
    pub target: String,
    pub ip: String,
    pub details: String,
}

#[derive(Template)]
#[template(path = "audit.html")]
struct Audit {
    layout: Layout,
    action: String,
    target_type: String,
    target_id: String,
    from: String,
    to: String,
    entries: Vec<AuditRow>,
    pager: Pager,
}

async fn audit(
    State(state): State<AppState>,
    Extension(AdminUser(principal)): Extension<AdminUser>,
    RawQuery(raw): RawQuery,
) -> PageResult {
    let q = query(raw);
    let mut errors = Vec::new();
    let text = |name: &str| q.text(name).trim().to_string();
    let (action, target_type, target_id) = (text("action"), text("target_type"), text("target_id"));
    let filter = AuditFilter {
        action: Some(action.clone()).filter(|s| !s.is_empty()),
        actor_id: None,
        target_type: Some(target_type.clone()).filter(|s| !s.is_empty()),
        target_id: Some(target_id.clone()).filter(|s| !s.is_empty()),
        since: date(&q, "from", &mut errors, "From"),
        until: date(&q, "to", &mut errors, "To").map(|t| t.plus_secs(24 * 3600)),
    };
    let page = page_of(&q, 50);
    let (entries, total) = state.services.admin.audit_log(&principal, &filter, page).await?;
    let pairs = [
        ("action", action.clone()),
        ("target_type", target_type.clone()),
        ("target_id", target_id.clone()),
        ("from", text("from")),
        ("to", text("to")),
    ];
    render::ok(&Audit {
        layout: Layout::new("Audit log", "audit").with_error((!errors.is_empty()).then(|| errors.join("; "))),
        from: text("from"),
        to: text("to"),
        action,
        target_type,
        target_id,
        entries: entries
            .iter()
            .map(|e| AuditRow {
                at: when(e.at),
                action: e.action.clone(),
                actor: e.actor_id.map(|a| a.to_string()).unwrap_or_default(),
                target: match (&e.target_type, &e.target_id) {
                    (Some(t), Some(id)) => format!("{t} {id}"),
                    (Some(t), None) => t.clone(),
                    _ => String::new(),
                },
                ip: e.ip.clone().unwrap_or_default(),
                details: e.details.to_string(),
            })
            .collect(),
        pager: Pager::new("/admin/audit", &pairs, page, total),
    })
}

pub struct MailRow {
    pub id: i64,
    pub kind: String,
    pub to: String,
    pub status: &'static str,
    pub attempts: i64,
    pub created: String,
    pub sent: String,
    pub error: String,
}

#[derive(Template)]
#[template(path = "emails.html")]
struct Emails {
    layout: Layout,
    status: String,
    recipient: String,
    mails: Vec<MailRow>,
    pager: Pager,
}

async fn emails(
    State(state): State<AppState>,
    Extension(AdminUser(principal)): Extension<AdminUser>,
    RawQuery(raw): RawQuery,
) -> PageResult {
    let q = query(raw);
    let status = q.text("status").trim().to_string();
    let recipient = q.text("recipient").trim().to_string();
    let filter = MailFilter {
        status: MailStatus::parse(&status).ok(),
        recipient: Some(recipient.to_lowercase()).filter(|s| !s.is_empty()),
    };
    let page = page_of(&q, 50);
    let (mails, total) = state.services.outbox.list(&principal, &filter, page).await?;
    let pager =
        Pager::new("/admin/emails", &[("status", status.clone()), ("recipient", recipient.clone())], page, total);
    render::ok(&Emails {
        layout: Layout::new("E-mail outbox", "emails").with_notice(q.optional("notice")),
        status,
        recipient,
        mails: mails
            .iter()
            .map(|m| MailRow {
                id: m.id,
                kind: m.kind.clone(),
                to: m.to_address.clone(),
                status: m.status.as_str(),
                attempts: m.attempts,
                created: when(m.created_at),
                sent: m.sent_at.map(when).unwrap_or_default(),
                error: m.last_error.clone().unwrap_or_default(),
            })
            .collect(),
        pager,
    })
}

async fn retry(
    State(state): State<AppState>,
    ip: ClientIp,
    Extension(AdminUser(principal)): Extension<AdminUser>,
    Path(id): Path<String>,
) -> PageResult {
    let id: i64 = id.parse().map_err(|_| PageError::new(StatusCode::NOT_FOUND, "Message not found"))?;
    state.services.outbox.retry(&principal, id, &ip.context()).await?;
    Ok(Redirect::to("/admin/emails?notice=retried").into_response())
}
