//! Users and their sign-in sessions.

use async_trait::async_trait;
use emporium_domain::account::Role;
use emporium_domain::address::ShippingAddress;
use emporium_domain::ids::UserId;
use emporium_domain::paging::Page;
use emporium_domain::time::Timestamp;

use crate::{NewAuditEntry, StoreResult};

/// A stored user.
#[derive(Debug, Clone)]
pub struct UserRecord {
    pub id: UserId,
    pub username: String,
    pub full_name: String,
    pub email: String,
    pub role: Role,
    pub phone: Option<String>,
    pub shipping_address: Option<ShippingAddress>,
    pub password_hash: String,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub version: i64,
}

/// A user to insert; keys are the lower-cased forms uniqueness is checked on.
#[derive(Debug, Clone)]
pub struct NewUser {
    pub username: String,
    pub username_key: String,
    pub full_name: String,
    pub email: String,
    pub email_key: String,
    pub password_hash: String,
    pub role: Role,
    pub now: Timestamp,
    /// Queue the welcome mail with the account.
    pub welcome: bool,
}

/// Fields of a profile update; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct ProfileChanges {
    pub full_name: Option<String>,
    /// (as typed, lower-cased key)
    pub username: Option<(String, String)>,
    /// (as typed, lower-cased key)
    pub email: Option<(String, String)>,
    pub phone: Option<Option<String>>,
    pub shipping_address: Option<Option<ShippingAddress>>,
}

impl ProfileChanges {
    pub fn is_empty(&self) -> bool {
        self.full_name.is_none()
            && self.username.is_none()
            && self.email.is_none()
            && self.phone.is_none()
            && self.shipping_address.is_none()
    }
}

#[derive(Debug, Clone, Default)]
pub struct UserFilter {
    /// Matched case-insensitively against username, e-mail and full name.
    pub search: Option<String>,
    pub role: Option<Role>,
}

/// A sign-in session: one refresh-token family.
#[derive(Debug, Clone)]
pub struct NewSession {
    pub id: String,
    pub user_id: UserId,
    pub refresh_token_hash: String,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
}

/// Who an access token's session belongs to, as the database says now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionPrincipal {
    pub user_id: UserId,
    pub role: Role,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefreshOutcome {
    /// The token was live; it is now spent and the new one replaces it.
    Rotated { user_id: UserId, session_id: String },
    /// The token had already been spent: the whole session was revoked.
    Reused { user_id: UserId, session_id: String },
    /// Unknown, expired, or its session was already revoked.
    Invalid,
}

#[derive(Debug, Clone)]
pub enum RoleChangeOutcome {
    Changed {
        user: Box<UserRecord>,
        previous: Role,
    },
    NotFound,
    /// Refused: it would leave the shop without an admin.
    WouldRemoveLastAdmin,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RemovalOutcome {
    Removed,
    NotFound,
    /// Refused: it would leave the shop without an admin.
    WouldRemoveLastAdmin,
}

#[async_trait]
pub trait AccountStore {
    /// Inserts a user and its audit entry (target filled in) in one transaction;
    /// `UniqueViolation` when the e-mail or username is taken.
    async fn insert_user(&self, user: &NewUser, audit: &NewAuditEntry) -> StoreResult<UserRecord>;
    async fn user_by_id(&self, id: UserId) -> StoreResult<Option<UserRecord>>;
    async fn user_by_email_key(&self, email_key: &str) -> StoreResult<Option<UserRecord>>;
    async fn user_by_username_key(&self, username_key: &str) -> StoreResult<Option<UserRecord>>;
    /// Applies a profile update and bumps the version; `None` if the user is gone.
    async fn update_profile(
        &self,
        id: UserId,
        changes: &ProfileChanges,
        now: Timestamp,
    ) -> StoreResult<Option<UserRecord>>;
    /// Replaces the password hash, revokes every session but `keep_session`
    /// and writes the audit entry, in one transaction; with `notify`, queues
    /// "your password was changed" in it too.
    async fn set_password(
        &self,
        id: UserId,
        password_hash: &str,
        keep_session: Option<&str>,
        now: Timestamp,
        audit: &NewAuditEntry,
        notify: bool,
    ) -> StoreResult<bool>;
    /// Sets the role, refusing to demote the last admin; the audit entry is written in the same transaction.
    async fn change_role(
        &self,
        id: UserId,
        role: Role,
        now: Timestamp,
        audit: &NewAuditEntry,
    ) -> StoreResult<RoleChangeOutcome>;
    /// Deletes the user, refusing to delete the last admin; the audit entry is written in the same transaction.
    async fn delete_user(&self, id: UserId, audit: &NewAuditEntry) -> StoreResult<RemovalOutcome>;
    async fn list_users(&self, filter: &UserFilter, page: Page) -> StoreResult<(Vec<UserRecord>, u64)>;

    /// Starts a session (with its first refresh token) and writes the audit entry, in one transaction.
    async fn create_session(&self, session: &NewSession, audit: &NewAuditEntry) -> StoreResult<()>;
    /// The live session's owner and current role, if the session is neither revoked nor expired.
    async fn session_principal(&self, session_id: &str, now: Timestamp) -> StoreResult<Option<SessionPrincipal>>;
    /// Spends a refresh token and records its successor, atomically: two
    /// concurrent uses of one token cannot both succeed.
    async fn rotate_refresh_token(
        &self,
        presented_hash: &str,
        successor_hash: &str,
        now: Timestamp,
        expires_at: Timestamp,
    ) -> StoreResult<RefreshOutcome>;
    /// Ends a session and writes the audit entry, in one transaction.
    async fn revoke_session(&self, session_id: &str, now: Timestamp, audit: &NewAuditEntry) -> StoreResult<()>;
}
