// The catalog storage, written once and compiled into each backend crate with
// its own concrete sqlx types (`Backend`, `Db`, `Conn`; see that crate's lib.rs).

use async_trait::async_trait;
use emporium_domain::catalog::{CategoryDraft, ProductDraft};
use emporium_domain::ids::{CategoryId, ProductId, UserId};
use emporium_domain::time::Timestamp;
use emporium_store::rows::{CategoryRow, ProductRow};
use emporium_store::sql::catalog::{self as sql, ProductValues};
use emporium_store::{
    CatalogChange, CatalogStore, CatalogWakeups, CategoryRecord, CategoryRemoval, ImportOutcome, NewAuditEntry, ProductChange, ProductImport, ProductRecord, StoreResult,
};
use sqlx::QueryBuilder;

use crate::{Conn, Db};

use crate::Backend;
use crate::audit::insert_audit;

type Query<'q> = sqlx::query::Query<'q, Db, <Db as sqlx::Database>::Arguments<'q>>;

fn bind_values<'q>(q: Query<'q>, v: &'q ProductValues) -> Query<'q> {
    q.bind(&v.name)
        .bind(&v.sort_name)
        .bind(&v.description)
        .bind(v.price_minor)
        .bind(v.discount_bp)
        .bind(v.sell_price_minor)
        .bind(v.category_id)
        .bind(&v.images)
        .bind(v.stock)
        .bind(v.available)
        .bind(&v.keywords)
        .bind(v.sku.as_deref())
}

async fn live_product(conn: &mut Conn, id: i64) -> StoreResult<Option<ProductRecord>> {
    let row: Option<ProductRow> = sqlx::query_as(sql::SELECT_LIVE_PRODUCT).bind(id).fetch_optional(conn).await?;
    row.map(TryInto::try_into).transpose()
}

#[async_trait]
impl CatalogStore for Backend {
    async fn insert_category(&self, c: &CategoryDraft, now: Timestamp, audit: &NewAuditEntry) -> StoreResult<CategoryRecord> {
        let mut tx = self.writer().begin().await?;
        let row: CategoryRow = sqlx::query_as(sql::INSERT_CATEGORY)
            .bind(&c.name)
            .bind(c.slug.as_str())
            .bind(c.description.as_deref())
            .bind(c.parent_id.map(|p| p.get()))
            .bind(now.millis())
            .fetch_one(&mut *tx)
            .await?;
        let mut audit = audit.clone();
        audit.target_id = Some(row.id.to_string());
        insert_audit(&mut tx, &audit).await?;
        tx.commit().await?;
        Ok(row.into())
    }

    async fn category_by_id(&self, id: CategoryId) -> StoreResult<Option<CategoryRecord>> {
        let row: Option<CategoryRow> =
            sqlx::query_as(sql::SELECT_CATEGORY_BY_ID).bind(id.get()).fetch_optional(self.reader()).await?;
        Ok(row.map(Into::into))
    }

    async fn category_by_slug(&self, slug: &str) -> StoreResult<Option<CategoryRecord>> {
        let row: Option<CategoryRow> =
            sqlx::query_as(sql::SELECT_CATEGORY_BY_SLUG).bind(slug).fetch_optional(self.reader()).await?;
        Ok(row.map(Into::into))
    }

    async fn list_categories(&self) -> StoreResult<Vec<CategoryRecord>> {
        let rows: Vec<CategoryRow> = sqlx::query_as(sql::SELECT_CATEGORIES).fetch_all(self.reader()).await?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    async fn count_child_categories(&self, id: CategoryId) -> StoreResult<u64> {
        let n: i64 = sqlx::query_scalar(sql::COUNT_CHILD_CATEGORIES).bind(id.get()).fetch_one(self.reader()).await?;
        Ok(n as u64)
    }

    async fn update_category(
        &self,
        id: CategoryId,
        c: &CategoryDraft,
        expected_version: i64,
        now: Timestamp,
        audit: &NewAuditEntry,
    ) -> StoreResult<Option<CategoryRecord>> {
        let mut tx = self.writer().begin().await?;
        let row: Option<CategoryRow> = sqlx::query_as(sql::UPDATE_CATEGORY)
            .bind(id.get())
            .bind(&c.name)
            .bind(c.slug.as_str())
            .bind(c.description.as_deref())
            .bind(c.parent_id.map(|p| p.get()))
            .bind(now.millis())
            .bind(expected_version)
            .fetch_optional(&mut *tx)
            .await?;
        if row.is_some() {
            insert_audit(&mut tx, audit).await?;
            tx.commit().await?;
        }
        Ok(row.map(Into::into))
    }

    async fn delete_category(&self, id: CategoryId, audit: &NewAuditEntry) -> StoreResult<CategoryRemoval> {
        let mut tx = self.writer().begin().await?;
        let exists: Option<i64> = sqlx::query_scalar(crate::SELECT_CATEGORY_FOR_REMOVAL)
            .bind(id.get())
            .fetch_optional(&mut *tx)
            .await?;
        if exists.is_none() {
            return Ok(CategoryRemoval::NotFound);
        }
        let products: i64 =
            sqlx::query_scalar(sql::COUNT_LIVE_PRODUCTS_IN_CATEGORY).bind(id.get()).fetch_one(&mut *tx).await?;
        if products > 0 {
            return Ok(CategoryRemoval::HasProducts);
        }
        let children: i64 = sqlx::query_scalar(sql::COUNT_CHILD_CATEGORIES).bind(id.get()).fetch_one(&mut *tx).await?;
        if children > 0 {
            return Ok(CategoryRemoval::HasChildren);
        }
        sqlx::query(sql::DELETE_CATEGORY).bind(id.get()).execute(&mut *tx).await?;
        insert_audit(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(CategoryRemoval::Removed)
    }

    async fn insert_product(
        &self,
        p: &ProductDraft,
        created_by: Option<UserId>,
        now: Timestamp,
        audit: &NewAuditEntry,
    ) -> StoreResult<ProductRecord> {
        let values = ProductValues::from(p);
        let mut tx = self.writer().begin().await?;
        let id: i64 = bind_values(sqlx::query(sql::INSERT_PRODUCT), &values)
            .bind(created_by.map(|u| u.get()))
            .bind(now.millis())
            .fetch_one(&mut *tx)
            .await
            .and_then(|row| sqlx::Row::try_get(&row, 0))?;
        let mut audit = audit.clone();
        audit.target_id = Some(id.to_string());
        insert_audit(&mut tx, &audit).await?;
        let record =
            live_product(&mut tx, id).await?.ok_or_else(|| anyhow::anyhow!("inserted product {id} vanished"))?;
        tx.commit().await?;
        Ok(record)
    }

    async fn insert_products(
        &self,
        products: &[ProductDraft],
        created_by: Option<UserId>,
        now: Timestamp,
    ) -> StoreResult<u64> {
        let mut tx = self.writer().begin().await?;
        let mut inserted = 0;
        for chunk in products.chunks(500) {
            let values: Vec<ProductValues> = chunk.iter().map(ProductValues::from).collect();
            let mut builder: QueryBuilder<Db> = QueryBuilder::new(format!(
                "INSERT INTO products ({}, created_by, created_at, updated_at, version) ",
                sql::PRODUCT_WRITE_COLUMNS
            ));
            builder.push_values(&values, |mut row, v| {
                row.push_bind(&v.name)
                    .push_bind(&v.sort_name)
                    .push_bind(&v.description)
                    .push_bind(v.price_minor)
                    .push_bind(v.discount_bp)
                    .push_bind(v.sell_price_minor)
                    .push_bind(v.category_id)
                    .push_bind(&v.images)
                    .push_bind(v.stock)
                    .push_bind(v.available)
                    .push_bind(&v.keywords)
                    .push_bind(v.sku.as_deref())
                    .push_bind(created_by.map(|u| u.get()))
                    .push_bind(now.millis())
                    .push_bind(now.millis())
                    .push_bind(0_i64);
            });
            inserted += builder.build().execute(&mut *tx).await?.rows_affected();
        }
        tx.commit().await?;
        // A bulk load changes the table's statistics: without fresh ones
        // PostgreSQL plans the queries that stay on SQL (orders, carts) as if
        // the table were empty.
        sqlx::query("ANALYZE products").execute(self.writer()).await?;
        Ok(inserted)
    }

    async fn product(&self, id: ProductId) -> StoreResult<Option<ProductRecord>> {
        let mut conn = self.reader().acquire().await?;
        live_product(&mut conn, id.get()).await
    }

    async fn update_product(
        &self,
        id: ProductId,
        now: Timestamp,
        change: &ProductChange<'_>,
    ) -> StoreResult<Option<Result<ProductRecord, emporium_domain::Error>>> {
        let mut tx = self.writer().begin().await?;
        let row: Option<ProductRow> = sqlx::query_as(&format!("{}{}", sql::SELECT_LIVE_PRODUCT, crate::LOCK_PRODUCT_ROW))
            .bind(id.get())
            .fetch_optional(&mut *tx)
            .await?;
        let Some(current) = row.map(ProductRecord::try_from).transpose()? else { return Ok(None) };
        let (after, audit) = match change(&current) {
            Ok(planned) => planned,
            Err(refused) => return Ok(Some(Err(refused))),
        };
        let values = ProductValues::from(&after);
        // The row is locked, so the version cannot have moved since the read.
        bind_values(sqlx::query(sql::UPDATE_PRODUCT), &values)
            .bind(now.millis())
            .bind(id.get())
            .bind(current.version)
            .execute(&mut *tx)
            .await?;
        for entry in &audit {
            insert_audit(&mut tx, entry).await?;
        }
        let record = live_product(&mut tx, id.get()).await?.ok_or_else(|| anyhow::anyhow!("product {id} vanished"))?;
        tx.commit().await?;
        Ok(Some(Ok(record)))
    }

    async fn delete_product(&self, id: ProductId, now: Timestamp, audit: &NewAuditEntry) -> StoreResult<bool> {
        let mut tx = self.writer().begin().await?;
        let deleted = sqlx::query(sql::SOFT_DELETE_PRODUCT).bind(id.get()).bind(now.millis()).execute(&mut *tx).await?;
        if deleted.rows_affected() == 0 {
            return Ok(false);
        }
        insert_audit(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn product_id_by_sku(&self, sku: &str) -> StoreResult<Option<ProductId>> {
        let id: Option<i64> =
            sqlx::query_scalar(sql::SELECT_PRODUCT_ID_BY_SKU).bind(sku).fetch_optional(self.reader()).await?;
        Ok(id.map(ProductId::new))
    }

    async fn import_products(&self, import: &ProductImport, now: Timestamp) -> StoreResult<ImportOutcome> {
        let mut tx = self.writer().begin().await?;
        // Updates first: a SKU moved away from one product may be given to a new one.
        for (id, version, draft, audit) in &import.updates {
            let changed = bind_values(sqlx::query(sql::UPDATE_PRODUCT), &ProductValues::from(draft))
                .bind(now.millis())
                .bind(id.get())
                .bind(*version)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if changed == 0 {
                return Ok(ImportOutcome::Stale(*id));
            }
            for entry in audit {
                insert_audit(&mut tx, entry).await?;
            }
        }
        for (draft, audit) in &import.creates {
            let id: i64 = bind_values(sqlx::query(sql::INSERT_PRODUCT), &ProductValues::from(draft))
                .bind(import.created_by.map(|u| u.get()))
                .bind(now.millis())
                .fetch_one(&mut *tx)
                .await
                .and_then(|row| sqlx::Row::try_get(&row, 0))?;
            let mut audit = audit.clone();
            audit.target_id = Some(id.to_string());
            insert_audit(&mut tx, &audit).await?;
        }
        tx.commit().await?;
        Ok(ImportOutcome::Applied { created: import.creates.len() as u64, updated: import.updates.len() as u64 })
    }

    async fn live_products(&self) -> StoreResult<Vec<ProductRecord>> {
        let rows: Vec<ProductRow> = sqlx::query_as(sql::SELECT_LIVE_PRODUCTS).fetch_all(self.reader()).await?;
        rows.into_iter().map(TryInto::try_into).collect()
    }

    async fn live_products_by_id(&self, ids: &[ProductId]) -> StoreResult<Vec<ProductRecord>> {
        let mut products = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(500) {
            let mut builder: QueryBuilder<Db> =
                QueryBuilder::new(format!("{} WHERE p.deleted_at IS NULL AND p.id IN (", sql::PRODUCT_SELECT));
            let mut list = builder.separated(", ");
            for id in chunk {
                list.push_bind(id.get());
            }
            builder.push(")");
            let rows: Vec<ProductRow> = builder.build_query_as().fetch_all(self.reader()).await?;
            for row in rows {
                products.push(row.try_into()?);
            }
        }
        Ok(products)
    }

    async fn catalog_change_bounds(&self) -> StoreResult<(i64, i64)> {
        Ok(sqlx::query_as(sql::CATALOG_CHANGE_BOUNDS).fetch_one(self.reader()).await?)
    }

    async fn catalog_changes(&self, after: i64, also: &[i64], limit: u32) -> StoreResult<Vec<CatalogChange>> {
        let mut builder: QueryBuilder<Db> =
            QueryBuilder::new("SELECT seq, product_id, category_id FROM catalog_changes WHERE seq > ");
        builder.push_bind(after);
        builder.push(" ORDER BY seq LIMIT ");
        builder.push_bind(i64::from(limit));
        let mut rows: Vec<(i64, Option<i64>, Option<i64>)> = builder.build_query_as().fetch_all(self.reader()).await?;
        if !also.is_empty() {
            let mut builder: QueryBuilder<Db> =
                QueryBuilder::new("SELECT seq, product_id, category_id FROM catalog_changes WHERE seq IN (");
            let mut list = builder.separated(", ");
            for seq in also.iter().take(1000) {
                list.push_bind(*seq);
            }
            builder.push(")");
            let late: Vec<(i64, Option<i64>, Option<i64>)> = builder.build_query_as().fetch_all(self.reader()).await?;
            rows.extend(late);
            rows.sort_unstable_by_key(|r| r.0);
        }
        Ok(rows
            .into_iter()
            .map(|(seq, product, category)| CatalogChange {
                seq,
                product: product.map(ProductId::new),
                category: category.map(CategoryId::new),
            })
            .collect())
    }

    async fn prune_catalog_changes(&self, before: Timestamp, below: i64) -> StoreResult<u64> {
        let done =
            sqlx::query(sql::PRUNE_CATALOG_CHANGES).bind(before.millis()).bind(below).execute(self.writer()).await?;
        Ok(done.rows_affected())
    }

    async fn listen_catalog_changes(&self) -> StoreResult<Option<Box<dyn CatalogWakeups>>> {
        self.catalog_listener().await
    }
}
