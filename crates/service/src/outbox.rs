//! The outbox as admins see it, and the signal that wakes the sender.

use std::sync::Arc;

use emporium_domain::paging::Page;
use emporium_domain::time::Timestamp;
use emporium_domain::{Error, Result};
use emporium_store::{MailFilter, MailRecord, RetryOutcome, Store};
use serde_json::json;

use crate::admin::require_admin;
use crate::{Principal, RequestContext};

#[derive(Clone)]
pub struct Outbox {
    store: Arc<dyn Store>,
    mail_queued: Arc<tokio::sync::Notify>,
}

impl Outbox {
    pub fn new(store: Arc<dyn Store>, mail_queued: Arc<tokio::sync::Notify>) -> Self {
        Self { store, mail_queued }
    }

    /// Notified after every commit in this process that queued a mail; the
    /// sender waits on it between polls.
    pub fn queued_signal(&self) -> Arc<tokio::sync::Notify> {
        self.mail_queued.clone()
    }

    /// Queued and sent messages, newest first. A message that carries a
    /// secret (a reset link) is listed without its content.
    pub async fn list(&self, principal: &Principal, filter: &MailFilter, page: Page) -> Result<(Vec<MailRecord>, u64)> {
        require_admin(principal)?;
        let (mut mails, total) = self.store.list_mails(filter, page).await?;
        for mail in &mut mails {
            if mail.sensitive {
                mail.content = None;
            }
        }
        Ok((mails, total))
    }

    /// Sends a dead message again (from a fresh count of attempts).
    pub async fn retry(&self, principal: &Principal, id: i64, ctx: &RequestContext) -> Result<()> {
        require_admin(principal)?;
        let entry = ctx.audit(Some(principal.user_id), "mail.retried", Some(("mail", id.to_string())), json!({}));
        match self.store.retry_mail(id, Timestamp::now(), &entry).await? {
            RetryOutcome::Queued => {
                self.mail_queued.notify_one();
                Ok(())
            }
            RetryOutcome::NotDead => Err(Error::Conflict("Only a dead message can be retried".into())),
            RetryOutcome::NotFound => Err(Error::NotFound("Message not found".into())),
        }
    }
}
