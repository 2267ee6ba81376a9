// The accounts storage, written once and compiled into each backend crate with
// its own concrete sqlx types (`Backend`, `Db`, `Conn`; see that crate's lib.rs).

use async_trait::async_trait;
use emporium_domain::account::Role;
use emporium_domain::ids::UserId;
use emporium_domain::paging::Page;
use emporium_domain::time::Timestamp;
use emporium_store::rows::{PrincipalRow, UserRow};
use emporium_store::{
    AccountStore, NewAuditEntry, NewSession, NewUser, ProfileChanges, RefreshOutcome, RemovalOutcome,
    RoleChangeOutcome, SessionPrincipal, StoreResult, UserFilter, UserRecord, like_pattern, sql,
};

use crate::Backend;
use crate::audit::insert_audit;
use crate::outbox::enqueue_mail;

#[async_trait]
impl AccountStore for Backend {
    async fn insert_user(&self, u: &NewUser, audit: &NewAuditEntry) -> StoreResult<UserRecord> {
        let mut tx = self.writer().begin().await?;
        let row: UserRow = sqlx::query_as(sql::INSERT_USER)
            .bind(&u.username)
            .bind(&u.username_key)
            .bind(&u.full_name)
            .bind(&u.email)
            .bind(&u.email_key)
            .bind(&u.password_hash)
            .bind(u.role.as_str())
            .bind(u.now.millis())
            .fetch_one(&mut *tx)
            .await?;
        let mut audit = audit.clone();
        audit.target_id = Some(row.id.to_string());
        insert_audit(&mut tx, &audit).await?;
        let user: UserRecord = row.try_into()?;
        if u.welcome {
            enqueue_mail(&mut tx, &emporium_store::mail::welcome_mail(&user), u.now).await?;
        }
        tx.commit().await?;
        Ok(user)
    }

    async fn user_by_id(&self, id: UserId) -> StoreResult<Option<UserRecord>> {
        let row: Option<UserRow> =
            sqlx::query_as(sql::SELECT_USER_BY_ID).bind(id.get()).fetch_optional(self.reader()).await?;
        row.map(TryInto::try_into).transpose()
    }

    async fn user_by_email_key(&self, key: &str) -> StoreResult<Option<UserRecord>> {
        let row: Option<UserRow> =
            sqlx::query_as(sql::SELECT_USER_BY_EMAIL_KEY).bind(key).fetch_optional(self.reader()).await?;
        row.map(TryInto::try_into).transpose()
    }

    async fn user_by_username_key(&self, key: &str) -> StoreResult<Option<UserRecord>> {
        let row: Option<UserRow> =
            sqlx::query_as(sql::SELECT_USER_BY_USERNAME_KEY).bind(key).fetch_optional(self.reader()).await?;
        row.map(TryInto::try_into).transpose()
    }

    async fn update_profile(&self, id: UserId, c: &ProfileChanges, now: Timestamp) -> StoreResult<Option<UserRecord>> {
        let address = match &c.shipping_address {
            Some(Some(a)) => Some(serde_json::to_string(a)?),
            _ => None,
        };
        let row: Option<UserRow> = sqlx::query_as(sql::UPDATE_PROFILE)
            .bind(id.get())
            .bind(c.full_name.as_deref())
            .bind(c.username.as_ref().map(|u| u.0.as_str()))
            .bind(c.username.as_ref().map(|u| u.1.as_str()))
            .bind(c.email.as_ref().map(|e| e.0.as_str()))
            .bind(c.email.as_ref().map(|e| e.1.as_str()))
            .bind(c.phone.clone().flatten())
            .bind(address)
            .bind(c.phone.is_some())
            .bind(c.shipping_address.is_some())
            .bind(now.millis())
            .fetch_optional(self.writer())
            .await?;
        row.map(TryInto::try_into).transpose()
    }

    async fn set_password(
        &self,
        id: UserId,
        hash: &str,
        keep: Option<&str>,
        now: Timestamp,
        audit: &NewAuditEntry,
        notify: bool,
    ) -> StoreResult<bool> {
        let mut tx = self.writer().begin().await?;
        let updated =
            sqlx::query(sql::UPDATE_PASSWORD).bind(id.get()).bind(hash).bind(now.millis()).execute(&mut *tx).await?;
        if updated.rows_affected() == 0 {
            return Ok(false);
        }
        sqlx::query(sql::REVOKE_OTHER_SESSIONS).bind(id.get()).bind(keep).bind(now.millis()).execute(&mut *tx).await?;
        // A reset link asked for before the change must not undo it.
        sqlx::query(emporium_store::sql::outbox::INVALIDATE_RESETS)
            .bind(id.get())
            .bind(now.millis())
            .execute(&mut *tx)
            .await?;
        insert_audit(&mut tx, audit).await?;
        if notify {
            let user: UserRecord =
                sqlx::query_as::<_, UserRow>(sql::SELECT_USER_BY_ID).bind(id.get()).fetch_one(&mut *tx).await?.try_into()?;
            enqueue_mail(&mut tx, &emporium_store::mail::password_changed_mail(&user, now), now).await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    async fn change_role(
        &self,
        id: UserId,
        role: Role,
        now: Timestamp,
        audit: &NewAuditEntry,
    ) -> StoreResult<RoleChangeOutcome> {
        let mut tx = self.writer().begin().await?;
        Backend::lock_admins(&mut tx).await?;
        let current: Option<String> =
            sqlx::query_scalar(sql::SELECT_ROLE).bind(id.get()).fetch_optional(&mut *tx).await?;
        let Some(current) = current else {
            return Ok(RoleChangeOutcome::NotFound);
        };
        if current == "admin" && role != Role::Admin {
            let others: i64 = sqlx::query_scalar(sql::COUNT_OTHER_ADMINS).bind(id.get()).fetch_one(&mut *tx).await?;
            if others == 0 {
                return Ok(RoleChangeOutcome::WouldRemoveLastAdmin);
            }
        }
        let row: UserRow = sqlx::query_as(sql::UPDATE_ROLE)
            .bind(id.get())
            .bind(role.as_str())
            .bind(now.millis())
            .fetch_one(&mut *tx)
            .await?;
        insert_audit(&mut tx, audit).await?;
        tx.commit().await?;
        let previous = Role::parse(&current).map_err(anyhow::Error::msg)?;
        Ok(RoleChangeOutcome::Changed { user: Box::new(row.try_into()?), previous })
    }

    async fn delete_user(&self, id: UserId, audit: &NewAuditEntry) -> StoreResult<RemovalOutcome> {
        let mut tx = self.writer().begin().await?;
        Backend::lock_admins(&mut tx).await?;
        let current: Option<String> =
            sqlx::query_scalar(sql::SELECT_ROLE).bind(id.get()).fetch_optional(&mut *tx).await?;
        let Some(current) = current else {
            return Ok(RemovalOutcome::NotFound);
        };
        if current == "admin" {
            let others: i64 = sqlx::query_scalar(sql::COUNT_OTHER_ADMINS).bind(id.get()).fetch_one(&mut *tx).await?;
            if others == 0 {
                return Ok(RemovalOutcome::WouldRemoveLastAdmin);
            }
        }
        let redacted = serde_json::to_string(&emporium_domain::address::ShippingAddress::redacted())?;
        sqlx::query(emporium_store::sql::orders::ANONYMISE_ORDERS)
            .bind(id.get())
            .bind(redacted)
            .execute(&mut *tx)
            .await?;
        sqlx::query(sql::DELETE_USER).bind(id.get()).execute(&mut *tx).await?;
        insert_audit(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(RemovalOutcome::Removed)
    }

    async fn list_users(&self, filter: &UserFilter, page: Page) -> StoreResult<(Vec<UserRecord>, u64)> {
        let pattern = filter.search.as_deref().map(like_pattern);
        let role = filter.role.map(Role::as_str);
        let total: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM users WHERE {}", sql::USER_FILTER))
            .bind(pattern.as_deref())
            .bind(role)
            .fetch_one(self.reader())
            .await?;
        let rows: Vec<UserRow> = sqlx::query_as(&format!(
            "SELECT {} FROM users WHERE {} ORDER BY created_at, id LIMIT $3 OFFSET $4",
            sql::USER_COLUMNS,
            sql::USER_FILTER
        ))
        .bind(pattern.as_deref())
        .bind(role)
        .bind(i64::from(page.limit()))
        .bind(page.offset() as i64)
        .fetch_all(self.reader())
        .await?;
        let users = rows.into_iter().map(TryInto::try_into).collect::<StoreResult<_>>()?;
        Ok((users, total as u64))
    }

    async fn create_session(&self, s: &NewSession, audit: &NewAuditEntry) -> StoreResult<()> {
        let mut tx = self.writer().begin().await?;
        sqlx::query(sql::INSERT_SESSION)
            .bind(&s.id)
            .bind(s.user_id.get())
            .bind(s.created_at.millis())
            .bind(s.expires_at.millis())
            .execute(&mut *tx)
            .await?;
        sqlx::query(sql::INSERT_REFRESH_TOKEN)
            .bind(&s.refresh_token_hash)
            .bind(&s.id)
            .bind(s.created_at.millis())
            .execute(&mut *tx)
            .await?;
        insert_audit(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn session_principal(&self, session_id: &str, now: Timestamp) -> StoreResult<Option<SessionPrincipal>> {
        let row: Option<PrincipalRow> = sqlx::query_as(sql::SELECT_SESSION_PRINCIPAL)
            .bind(session_id)
            .bind(now.millis())
            .fetch_optional(self.reader())
            .await?;
        row.map(|r| {
            Ok(SessionPrincipal {
                user_id: UserId::new(r.user_id),
                role: Role::parse(&r.role).map_err(anyhow::Error::msg)?,
            })
        })
        .transpose()
    }

    async fn rotate_refresh_token(
        &self,
        presented: &str,
        successor: &str,
        now: Timestamp,
        expires_at: Timestamp,
    ) -> StoreResult<RefreshOutcome> {
        let mut tx = self.writer().begin().await?;
        let spent: Option<String> = sqlx::query_scalar(sql::SPEND_REFRESH_TOKEN)
            .bind(presented)
            .bind(now.millis())
            .fetch_optional(&mut *tx)
            .await?;
        if let Some(session_id) = spent {
            sqlx::query(sql::INSERT_REFRESH_TOKEN)
                .bind(successor)
                .bind(&session_id)
                .bind(now.millis())
                .execute(&mut *tx)
                .await?;
            sqlx::query(sql::EXTEND_SESSION).bind(&session_id).bind(expires_at.millis()).execute(&mut *tx).await?;
            let user_id: i64 =
                sqlx::query_scalar(sql::SELECT_SESSION_USER).bind(&session_id).fetch_one(&mut *tx).await?;
            tx.commit().await?;
            return Ok(RefreshOutcome::Rotated { user_id: UserId::new(user_id), session_id });
        }
        let known: Option<(String, i64, Option<i64>)> =
            sqlx::query_as(sql::SELECT_REFRESH_TOKEN).bind(presented).fetch_optional(&mut *tx).await?;
        match known {
            Some((session_id, user_id, Some(_spent_at))) => {
                sqlx::query(sql::REVOKE_SESSION).bind(&session_id).bind(now.millis()).execute(&mut *tx).await?;
                tx.commit().await?;
                Ok(RefreshOutcome::Reused { user_id: UserId::new(user_id), session_id })
            }
            _ => Ok(RefreshOutcome::Invalid),
        }
    }

    async fn revoke_session(&self, session_id: &str, now: Timestamp, audit: &NewAuditEntry) -> StoreResult<()> {
        let mut tx = self.writer().begin().await?;
        sqlx::query(sql::REVOKE_SESSION).bind(session_id).bind(now.millis()).execute(&mut *tx).await?;
        insert_audit(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(())
    }
}
