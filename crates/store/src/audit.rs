//! The audit log: who did what, to what, from where, and when.

use async_trait::async_trait;
use emporium_domain::ids::{AuditId, UserId};
use emporium_domain::paging::Page;
use emporium_domain::time::Timestamp;

use crate::StoreResult;

#[derive(Debug, Clone)]
pub struct NewAuditEntry {
    pub at: Timestamp,
    pub actor_id: Option<UserId>,
    /// A dotted verb, e.g. `user.login`, `user.role_changed`, `product.price_changed`.
    pub action: String,
    pub target_type: Option<String>,
    pub target_id: Option<String>,
    pub ip: Option<String>,
    pub details: serde_json::Value,
}

#[derive(Debug, Clone)]
pub struct AuditEntry {
    pub id: AuditId,
    pub at: Timestamp,
    pub actor_id: Option<UserId>,
    pub action: String,
    pub target_type: Option<String>,
    pub target_id: Option<String>,
    pub ip: Option<String>,
    pub details: serde_json::Value,
}

#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub action: Option<String>,
    pub actor_id: Option<UserId>,
    pub target_type: Option<String>,
    pub target_id: Option<String>,
    pub since: Option<Timestamp>,
    pub until: Option<Timestamp>,
}

#[async_trait]
pub trait AuditStore {
    async fn append_audit(&self, entry: &NewAuditEntry) -> StoreResult<()>;
    /// Newest first.
    async fn list_audit(&self, filter: &AuditFilter, page: Page) -> StoreResult<(Vec<AuditEntry>, u64)>;
}
