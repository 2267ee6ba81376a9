//! The outbox: messages queued with the changes they announce, claimed and
//! sent by a background worker, and the password-reset tokens whose mails
//! go through it.

use async_trait::async_trait;
use emporium_domain::ids::UserId;
use emporium_domain::mail::{MailContent, OutgoingMail};
use emporium_domain::paging::Page;
use emporium_domain::time::Timestamp;

use crate::{NewAuditEntry, StoreResult};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MailStatus {
    Pending,
    Sent,
    Dead,
}

impl MailStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            MailStatus::Pending => "pending",
            MailStatus::Sent => "sent",
            MailStatus::Dead => "dead",
        }
    }

    pub fn parse(s: &str) -> Result<Self, String> {
        match s {
            "pending" => Ok(MailStatus::Pending),
            "sent" => Ok(MailStatus::Sent),
            "dead" => Ok(MailStatus::Dead),
            _ => Err("must be pending, sent or dead".into()),
        }
    }
}

/// A stored message.
#[derive(Debug, Clone)]
pub struct MailRecord {
    pub id: i64,
    pub key: String,
    pub kind: String,
    pub to_address: String,
    pub to_name: Option<String>,
    /// `None` once a message carrying a secret has been sent.
    pub content: Option<MailContent>,
    pub sensitive: bool,
    pub status: MailStatus,
    pub attempts: i64,
    pub next_attempt_at: Timestamp,
    pub last_error: Option<String>,
    pub created_at: Timestamp,
    pub sent_at: Option<Timestamp>,
    pub updated_at: Timestamp,
}

/// A message a worker has claimed: nobody else sends it until `lease_until`.
#[derive(Debug, Clone)]
pub struct ClaimedMail {
    pub record: MailRecord,
    pub lease_token: String,
}

#[derive(Debug, Clone, Default)]
pub struct MailFilter {
    pub status: Option<MailStatus>,
    /// Matched against the lower-cased address.
    pub recipient: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutboxStats {
    pub pending: u64,
    pub dead: u64,
    pub oldest_pending: Option<Timestamp>,
}

/// What a failed send leads to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    RetryAt(Timestamp),
    Dead,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryOutcome {
    Queued,
    NotDead,
    NotFound,
}

/// A forgotten password: a fresh token (as its hash) and its mail, unless
/// the address already had `max_mails` reset mails since `budget_since`.
#[derive(Debug, Clone)]
pub struct ResetRequest {
    pub user_id: UserId,
    pub token_hash: String,
    pub expires_at: Timestamp,
    pub mail: OutgoingMail,
    pub max_mails: u32,
    pub budget_since: Timestamp,
    pub now: Timestamp,
    pub audit: NewAuditEntry,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResetRequestOutcome {
    Queued,
    /// Over the per-address budget: nothing was written.
    OverBudget,
}

/// Spending a reset token: one transaction or nothing.
#[derive(Debug, Clone)]
pub struct PasswordReset {
    pub token_hash: String,
    pub password_hash: String,
    pub now: Timestamp,
    /// Both written with the reset; their target is filled in.
    pub audit: Vec<NewAuditEntry>,
}

#[async_trait]
pub trait OutboxStore {
    /// Claims up to `limit` due messages for `lease_until` under `lease_token`;
    /// each claim counts as an attempt. Concurrent workers (several servers)
    /// never claim the same message while its lease runs.
    async fn claim_mails(
        &self,
        now: Timestamp,
        lease_until: Timestamp,
        lease_token: &str,
        limit: u32,
    ) -> StoreResult<Vec<ClaimedMail>>;
    /// Records delivery (erasing a secret-bearing body); false if the lease was lost.
    async fn mark_mail_sent(&self, id: i64, lease_token: &str, now: Timestamp) -> StoreResult<bool>;
    async fn mark_mail_failed(
        &self,
        id: i64,
        lease_token: &str,
        failure: Failure,
        error: &str,
        now: Timestamp,
    ) -> StoreResult<bool>;
    /// Queues a dead message again, with a fresh count of attempts.
    async fn retry_mail(&self, id: i64, now: Timestamp, audit: &NewAuditEntry) -> StoreResult<RetryOutcome>;
    /// Newest first.
    async fn list_mails(&self, filter: &MailFilter, page: Page) -> StoreResult<(Vec<MailRecord>, u64)>;
    async fn outbox_stats(&self) -> StoreResult<OutboxStats>;

    async fn request_password_reset(&self, request: &ResetRequest) -> StoreResult<ResetRequestOutcome>;
    /// Spends a live token: marks it used, sets the password, revokes every
    /// session, writes the audit entries and queues "your password was
    /// changed". `None`, with nothing changed, for an unknown, used or
    /// expired token.
    async fn reset_password(&self, reset: &PasswordReset) -> StoreResult<Option<UserId>>;
}
