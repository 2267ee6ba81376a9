// The audit storage, written once and compiled into each backend crate with
// its own concrete sqlx types (`Backend`, `Db`, `Conn`; see that crate's lib.rs).

use async_trait::async_trait;
use emporium_domain::paging::Page;
use emporium_store::rows::AuditRow;
use emporium_store::{AuditEntry, AuditFilter, AuditStore, NewAuditEntry, StoreResult, sql};
use crate::{Conn, Db};

use crate::Backend;

pub(crate) async fn insert_audit(conn: &mut Conn, e: &NewAuditEntry) -> StoreResult<()> {
    sqlx::query::<Db>(sql::INSERT_AUDIT)
        .bind(e.at.millis())
        .bind(e.actor_id.map(|a| a.get()))
        .bind(&e.action)
        .bind(e.target_type.as_deref())
        .bind(e.target_id.as_deref())
        .bind(e.ip.as_deref())
        .bind(e.details.to_string())
        .execute(conn)
        .await?;
    Ok(())
}

#[async_trait]
impl AuditStore for Backend {
    async fn append_audit(&self, entry: &NewAuditEntry) -> StoreResult<()> {
        let mut conn = self.writer().acquire().await?;
        insert_audit(&mut conn, entry).await
    }

    async fn list_audit(&self, f: &AuditFilter, page: Page) -> StoreResult<(Vec<AuditEntry>, u64)> {
        let total: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM audit_log WHERE {}", sql::AUDIT_FILTER))
            .bind(f.action.as_deref())
            .bind(f.actor_id.map(|a| a.get()))
            .bind(f.target_type.as_deref())
            .bind(f.target_id.as_deref())
            .bind(f.since.map(|t| t.millis()))
            .bind(f.until.map(|t| t.millis()))
            .fetch_one(self.reader())
            .await?;
        let rows: Vec<AuditRow> = sqlx::query_as(&format!(
            "SELECT {} FROM audit_log WHERE {} ORDER BY at DESC, id DESC LIMIT $7 OFFSET $8",
            sql::AUDIT_COLUMNS,
            sql::AUDIT_FILTER
        ))
        .bind(f.action.as_deref())
        .bind(f.actor_id.map(|a| a.get()))
        .bind(f.target_type.as_deref())
        .bind(f.target_id.as_deref())
        .bind(f.since.map(|t| t.millis()))
        .bind(f.until.map(|t| t.millis()))
        .bind(i64::from(page.limit()))
        .bind(page.offset() as i64)
        .fetch_all(self.reader())
        .await?;
        let entries = rows.into_iter().map(TryInto::try_into).collect::<StoreResult<_>>()?;
        Ok((entries, total as u64))
    }
}
