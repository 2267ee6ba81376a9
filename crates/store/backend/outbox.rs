// The outbox storage, written once and compiled into each backend crate with
// its own concrete sqlx types (`Backend`, `Db`, `Conn`; see that crate's lib.rs).

use async_trait::async_trait;
use emporium_domain::ids::UserId;
use emporium_domain::mail::{MailContent, OutgoingMail};
use emporium_domain::paging::Page;
use emporium_domain::time::Timestamp;
use emporium_store::rows::UserRow;
use emporium_store::sql::outbox as sql;
use emporium_store::{
    ClaimedMail, Failure, MailFilter, MailRecord, MailStatus, NewAuditEntry, OutboxStats, OutboxStore, PasswordReset,
    ResetRequest, ResetRequestOutcome, RetryOutcome, StoreError, StoreResult, UserRecord,
};

use crate::audit::insert_audit;
use crate::{Backend, CLAIM_LOCK, Conn, Db};

/// Queues a message in the caller's transaction. A message whose key is
/// already queued is left as it is: one event, one mail.
pub(crate) async fn enqueue_mail(conn: &mut Conn, mail: &OutgoingMail, now: Timestamp) -> StoreResult<()> {
    sqlx::query::<Db>(sql::INSERT_MAIL)
        .bind(&mail.key)
        .bind(mail.content.kind())
        .bind(&mail.to_address)
        .bind(mail.to_address.to_lowercase())
        .bind(mail.to_name.as_deref())
        .bind(serde_json::to_string(&mail.content)?)
        .bind(mail.content.is_sensitive())
        .bind(now.millis())
        .execute(conn)
        .await?;
    Ok(())
}

#[derive(sqlx::FromRow)]
struct MailRow {
    id: i64,
    mail_key: String,
    kind: String,
    to_address: String,
    to_name: Option<String>,
    payload: Option<String>,
    sensitive: bool,
    status: String,
    attempts: i64,
    next_attempt_at: i64,
    last_error: Option<String>,
    created_at: i64,
    sent_at: Option<i64>,
    updated_at: i64,
}

impl TryFrom<MailRow> for MailRecord {
    type Error = StoreError;
    fn try_from(r: MailRow) -> Result<Self, StoreError> {
        let content = r.payload.as_deref().map(serde_json::from_str::<MailContent>).transpose()?;
        Ok(MailRecord {
            id: r.id,
            key: r.mail_key,
            kind: r.kind,
            to_address: r.to_address,
            to_name: r.to_name,
            content,
            sensitive: r.sensitive,
            status: MailStatus::parse(&r.status).map_err(anyhow::Error::msg)?,
            attempts: r.attempts,
            next_attempt_at: Timestamp::from_millis(r.next_attempt_at),
            last_error: r.last_error,
            created_at: Timestamp::from_millis(r.created_at),
            sent_at: r.sent_at.map(Timestamp::from_millis),
            updated_at: Timestamp::from_millis(r.updated_at),
        })
    }
}

#[async_trait]
impl OutboxStore for Backend {
    async fn claim_mails(
        &self,
        now: Timestamp,
        lease_until: Timestamp,
        lease_token: &str,
        limit: u32,
    ) -> StoreResult<Vec<ClaimedMail>> {
        let query = format!("{}{}) RETURNING {}", sql::CLAIM_MAILS, CLAIM_LOCK, sql::MAIL_COLUMNS);
        let rows: Vec<MailRow> = sqlx::query_as(&query)
            .bind(now.millis())
            .bind(lease_until.millis())
            .bind(lease_token)
            .bind(i64::from(limit))
            .fetch_all(self.writer())
            .await?;
        rows.into_iter()
            .map(|row| Ok(ClaimedMail { record: row.try_into()?, lease_token: lease_token.to_string() }))
            .collect()
    }

    async fn mark_mail_sent(&self, id: i64, lease_token: &str, now: Timestamp) -> StoreResult<bool> {
        let done =
            sqlx::query(sql::MARK_SENT).bind(id).bind(lease_token).bind(now.millis()).execute(self.writer()).await?;
        Ok(done.rows_affected() == 1)
    }

    async fn mark_mail_failed(
        &self,
        id: i64,
        lease_token: &str,
        failure: Failure,
        error: &str,
        now: Timestamp,
    ) -> StoreResult<bool> {
        let (status, next) = match failure {
            Failure::RetryAt(at) => (MailStatus::Pending, at),
            Failure::Dead => (MailStatus::Dead, now),
        };
        let error: String = error.chars().take(1000).collect();
        let done = sqlx::query(sql::MARK_FAILED)
            .bind(id)
            .bind(lease_token)
            .bind(status.as_str())
            .bind(next.millis())
            .bind(error)
            .bind(now.millis())
            .execute(self.writer())
            .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn retry_mail(&self, id: i64, now: Timestamp, audit: &NewAuditEntry) -> StoreResult<RetryOutcome> {
        let mut tx = self.writer().begin().await?;
        let queued = sqlx::query(sql::RETRY_DEAD).bind(id).bind(now.millis()).execute(&mut *tx).await?;
        if queued.rows_affected() == 0 {
            let status: Option<String> =
                sqlx::query_scalar(sql::SELECT_MAIL_STATUS).bind(id).fetch_optional(&mut *tx).await?;
            return Ok(if status.is_some() { RetryOutcome::NotDead } else { RetryOutcome::NotFound });
        }
        insert_audit(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(RetryOutcome::Queued)
    }

    async fn list_mails(&self, f: &MailFilter, page: Page) -> StoreResult<(Vec<MailRecord>, u64)> {
        let status = f.status.map(MailStatus::as_str);
        let recipient = f.recipient.as_deref().map(str::to_lowercase);
        let total: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM outbox WHERE {}", sql::MAIL_FILTER))
            .bind(status)
            .bind(recipient.as_deref())
            .fetch_one(self.reader())
            .await?;
        let rows: Vec<MailRow> = sqlx::query_as(&format!(
            "SELECT {} FROM outbox WHERE {} ORDER BY created_at DESC, id DESC LIMIT $3 OFFSET $4",
            sql::MAIL_COLUMNS,
            sql::MAIL_FILTER
        ))
        .bind(status)
        .bind(recipient.as_deref())
        .bind(i64::from(page.limit()))
        .bind(page.offset() as i64)
        .fetch_all(self.reader())
        .await?;
        let mails = rows.into_iter().map(TryInto::try_into).collect::<StoreResult<_>>()?;
        Ok((mails, total as u64))
    }

    async fn outbox_stats(&self) -> StoreResult<OutboxStats> {
        let (pending, oldest): (i64, Option<i64>) = sqlx::query_as(sql::PENDING_STATS).fetch_one(self.reader()).await?;
        let dead: i64 = sqlx::query_scalar(sql::DEAD_COUNT).fetch_one(self.reader()).await?;
        Ok(OutboxStats {
            pending: pending as u64,
            dead: dead as u64,
            oldest_pending: oldest.map(Timestamp::from_millis),
        })
    }

    async fn request_password_reset(&self, r: &ResetRequest) -> StoreResult<ResetRequestOutcome> {
        let mut tx = self.writer().begin().await?;
        // Concurrent requests for one account queue here, so the budget
        // below cannot be overrun by a burst across servers.
        Backend::lock_user(&mut tx, r.user_id).await?;
        let recent: i64 = sqlx::query_scalar(sql::COUNT_RECENT_MAILS)
            .bind(r.mail.to_address.to_lowercase())
            .bind(r.mail.content.kind())
            .bind(r.budget_since.millis())
            .fetch_one(&mut *tx)
            .await?;
        if recent >= i64::from(r.max_mails) {
            return Ok(ResetRequestOutcome::OverBudget);
        }
        sqlx::query(sql::INVALIDATE_RESETS).bind(r.user_id.get()).bind(r.now.millis()).execute(&mut *tx).await?;
        sqlx::query(sql::INSERT_RESET)
            .bind(&r.token_hash)
            .bind(r.user_id.get())
            .bind(r.now.millis())
            .bind(r.expires_at.millis())
            .execute(&mut *tx)
            .await?;
        enqueue_mail(&mut tx, &r.mail, r.now).await?;
        insert_audit(&mut tx, &r.audit).await?;
        tx.commit().await?;
        Ok(ResetRequestOutcome::Queued)
    }

    async fn reset_password(&self, r: &PasswordReset) -> StoreResult<Option<UserId>> {
        let now = r.now.millis();
        let mut tx = self.writer().begin().await?;
        let user_id: Option<i64> =
            sqlx::query_scalar(sql::SPEND_RESET).bind(&r.token_hash).bind(now).fetch_optional(&mut *tx).await?;
        let Some(user_id) = user_id else {
            return Ok(None);
        };
        sqlx::query(emporium_store::sql::UPDATE_PASSWORD)
            .bind(user_id)
            .bind(&r.password_hash)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        // Every session, so every refresh token and the access tokens naming them.
        sqlx::query(emporium_store::sql::REVOKE_OTHER_SESSIONS)
            .bind(user_id)
            .bind(None::<&str>)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        // Any other token of this account dies with the password it was for.
        sqlx::query(sql::INVALIDATE_RESETS).bind(user_id).bind(now).execute(&mut *tx).await?;
        for entry in &r.audit {
            let mut entry = entry.clone();
            entry.actor_id = Some(UserId::new(user_id));
            entry.target_id = Some(user_id.to_string());
            insert_audit(&mut tx, &entry).await?;
        }
        let user: UserRecord = sqlx::query_as::<_, UserRow>(emporium_store::sql::SELECT_USER_BY_ID)
            .bind(user_id)
            .fetch_one(&mut *tx)
            .await?
            .try_into()?;
        enqueue_mail(&mut tx, &emporium_store::mail::password_changed_mail(&user, r.now), r.now).await?;
        tx.commit().await?;
        Ok(Some(UserId::new(user_id)))
    }
}
