//! Row shapes both backends read, and their conversion into records.
//! Column types are chosen so the same Rust types decode on SQLite and
//! PostgreSQL (integers as `i64`, instants as epoch milliseconds, JSON as text).

use emporium_domain::account::Role;
use emporium_domain::ids::{AuditId, UserId};
use emporium_domain::time::Timestamp;

use crate::{AuditEntry, StoreError, UserRecord};

#[derive(Debug, sqlx::FromRow)]
pub struct UserRow {
    pub id: i64,
    pub username: String,
    pub full_name: String,
    pub email: String,
    pub role: String,
    pub phone: Option<String>,
    pub shipping_address: Option<String>,
    pub password_hash: String,
    pub created_at: i64,
    pub updated_at: i64,
    pub version: i64,
}

impl TryFrom<UserRow> for UserRecord {
    type Error = StoreError;
    fn try_from(r: UserRow) -> Result<Self, StoreError> {
        Ok(UserRecord {
            id: UserId::new(r.id),
            username: r.username,
            full_name: r.full_name,
            email: r.email,
            role: Role::parse(&r.role).map_err(|e| anyhow::anyhow!("stored role {:?} {e}", r.role))?,
            phone: r.phone,
            shipping_address: r.shipping_address.as_deref().map(serde_json::from_str).transpose()?,
            password_hash: r.password_hash,
            created_at: Timestamp::from_millis(r.created_at),
            updated_at: Timestamp::from_millis(r.updated_at),
            version: r.version,
        })
    }
}

#[derive(Debug, sqlx::FromRow)]
pub struct AuditRow {
    pub id: i64,
    pub at: i64,
    pub actor_id: Option<i64>,
    pub action: String,
    pub target_type: Option<String>,
    pub target_id: Option<String>,
    pub ip: Option<String>,
    pub details: String,
}

impl TryFrom<AuditRow> for AuditEntry {
    type Error = StoreError;
    fn try_from(r: AuditRow) -> Result<Self, StoreError> {
        Ok(AuditEntry {
            id: AuditId::new(r.id),
            at: Timestamp::from_millis(r.at),
            actor_id: r.actor_id.map(UserId::new),
            action: r.action,
            target_type: r.target_type,
            target_id: r.target_id,
            ip: r.ip,
            details: serde_json::from_str(&r.details)?,
        })
    }
}

#[derive(Debug, sqlx::FromRow)]
pub struct PrincipalRow {
    pub user_id: i64,
    pub role: String,
}
