//! What admins do to other accounts, and the audit log they read.

use std::sync::Arc;

use emporium_domain::account::Role;
use emporium_domain::ids::UserId;
use emporium_domain::paging::Page;
use emporium_domain::time::Timestamp;
use emporium_domain::{Error, Result};
use emporium_store::{AuditEntry, AuditFilter, RemovalOutcome, RoleChangeOutcome, Store, UserFilter, UserRecord};
use serde_json::json;

use crate::{Principal, RequestContext};

#[derive(Clone)]
pub struct Admin {
    store: Arc<dyn Store>,
}

pub(crate) fn require_admin(principal: &Principal) -> Result<()> {
    if principal.is_admin() { Ok(()) } else { Err(Error::Forbidden("Admin access required".into())) }
}

impl Admin {
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self { store }
    }

    pub async fn list_users(
        &self,
        principal: &Principal,
        filter: &UserFilter,
        page: Page,
    ) -> Result<(Vec<UserRecord>, u64)> {
        require_admin(principal)?;
        Ok(self.store.list_users(filter, page).await?)
    }

    /// One account, for an admin's customer page.
    pub async fn user(&self, principal: &Principal, id: UserId) -> Result<UserRecord> {
        require_admin(principal)?;
        self.store.user_by_id(id).await?.ok_or_else(|| Error::NotFound("User not found".into()))
    }

    /// Changes a role. The shop always keeps at least one admin.
    pub async fn change_role(
        &self,
        principal: &Principal,
        target: UserId,
        role: Role,
        ctx: &RequestContext,
    ) -> Result<UserRecord> {
        require_admin(principal)?;
        let entry = ctx.audit(
            Some(principal.user_id),
            "user.role_changed",
            Some(("user", target.to_string())),
            json!({ "to": role }),
        );
        match self.store.change_role(target, role, Timestamp::now(), &entry).await? {
            RoleChangeOutcome::Changed { user, previous } => {
                tracing::info!(target_user = %target, from = previous.as_str(), to = role.as_str(), "role changed");
                Ok(*user)
            }
            RoleChangeOutcome::NotFound => Err(Error::NotFound("User not found".into())),
            RoleChangeOutcome::WouldRemoveLastAdmin => Err(Error::Conflict("The last admin cannot be demoted".into())),
        }
    }

    /// The account with this e-mail, for an admin (geekmobile deletes users by e-mail).
    pub async fn user_by_email(
        &self,
        principal: &Principal,
        email: &emporium_domain::account::Email,
    ) -> Result<Option<UserRecord>> {
        require_admin(principal)?;
        Ok(self.store.user_by_email_key(&email.key()).await?)
    }

    pub async fn delete_user(&self, principal: &Principal, target: UserId, ctx: &RequestContext) -> Result<()> {
        require_admin(principal)?;
        let entry = ctx.audit(
            Some(principal.user_id),
            "user.deleted",
            Some(("user", target.to_string())),
            json!({ "by": "admin" }),
        );
        match self.store.delete_user(target, &entry).await? {
            RemovalOutcome::Removed => Ok(()),
            RemovalOutcome::NotFound => Err(Error::NotFound("User not found".into())),
            RemovalOutcome::WouldRemoveLastAdmin => Err(Error::Conflict("The last admin cannot be deleted".into())),
        }
    }

    pub async fn audit_log(
        &self,
        principal: &Principal,
        filter: &AuditFilter,
        page: Page,
    ) -> Result<(Vec<AuditEntry>, u64)> {
        require_admin(principal)?;
        Ok(self.store.list_audit(filter, page).await?)
    }
}
