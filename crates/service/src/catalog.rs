//! The catalog: categories and products, read by anyone, written by admins.

use std::sync::Arc;

use emporium_domain::catalog::{
    CategoryDraft, CategoryKey, ProductDraft, ProductFilter, ProductPatch, Slug, audited_changes,
};
use emporium_domain::ids::{CategoryId, ProductId};
use emporium_domain::paging::Page;
use emporium_domain::time::Timestamp;
use emporium_domain::{Error, Result};
use emporium_store::{CategoryRecord, CategoryRemoval, ProductRecord, Store, StoreError};
use serde_json::json;

use crate::admin::require_admin;
use crate::read_cache::CatalogCache;
use crate::read_model::{ProductListing, ReadModel};
use crate::{Principal, RequestContext};

/// A category as a client asked for it, before the parent is looked up.
#[derive(Debug, Clone)]
pub struct CategoryInput {
    pub name: String,
    /// Derived from the name when not given.
    pub slug: Option<Slug>,
    pub description: Option<String>,
    pub parent: Option<CategoryKey>,
}

/// A category update; `None` leaves a field, `Some(None)` clears it.
#[derive(Debug, Clone, Default)]
pub struct CategoryPatch {
    pub name: Option<String>,
    pub slug: Option<Slug>,
    pub description: Option<Option<String>>,
    pub parent: Option<Option<CategoryKey>>,
}

#[derive(Clone)]
pub struct Catalog {
    store: Arc<dyn Store>,
    cache: Arc<CatalogCache>,
    /// What every read is answered from; writes go to the store.
    model: Arc<ReadModel>,
}

fn version_conflict(current: i64, sent: i64) -> Error {
    Error::Conflict(format!(
        "This was changed by someone else: it is at version {current}, the update was for version {sent}"
    ))
}

impl Catalog {
    pub fn new(store: Arc<dyn Store>, cache: Arc<CatalogCache>) -> Self {
        let model = Arc::new(ReadModel::new(store.clone(), cache.clone()));
        Self { store, cache, model }
    }

    /// The in-memory catalog this service reads from (for the server to keep
    /// it following other servers' changes, and for orders to apply theirs).
    pub fn read_model(&self) -> Arc<ReadModel> {
        self.model.clone()
    }

    /// Whether the catalog is in memory yet (`/ready` waits for it).
    pub fn is_loaded(&self) -> bool {
        self.model.is_loaded()
    }

    pub async fn categories(&self) -> Result<Arc<Vec<CategoryRecord>>> {
        self.model.categories().await
    }

    /// `None` when there is no such category.
    pub async fn find_category(&self, key: &CategoryKey) -> Result<Option<CategoryRecord>> {
        self.model.category(key).await
    }

    pub async fn category(&self, key: &CategoryKey) -> Result<CategoryRecord> {
        self.find_category(key).await?.ok_or_else(|| Error::NotFound("Category not found".into()))
    }

    /// The category as the database has it now: what a write decides on.
    async fn stored_category(&self, key: &CategoryKey) -> Result<Option<CategoryRecord>> {
        Ok(match key {
            CategoryKey::Id(id) => self.store.category_by_id(*id).await?,
            CategoryKey::Slug(slug) => self.store.category_by_slug(slug).await?,
        })
    }

    /// This server's write committed: show it before answering. The write
    /// stands even if the read model cannot follow just now (it catches up
    /// on its next sync), so that is logged, not returned.
    async fn changed(&self) {
        if let Err(error) = self.model.sync().await {
            tracing::warn!(%error, "the catalog read model could not apply a change yet");
        }
    }

    /// Resolves a parent: it must exist, and be top-level (one level of nesting).
    /// Each refusal is about the categories as they are now, not about the
    /// request's form, so each is a 409.
    async fn parent(&self, key: &CategoryKey, child: Option<CategoryId>) -> Result<CategoryId> {
        // A well-formed request the catalog's current state cannot serve: 409,
        // never 404, which would say the category being written is missing.
        let parent = self
            .stored_category(key)
            .await?
            .ok_or_else(|| Error::Conflict("The parent category does not exist".into()))?;
        if Some(parent.id) == child {
            return Err(Error::Conflict("A category cannot be its own parent".into()));
        }
        if parent.parent_id.is_some() {
            return Err(Error::Conflict("The parent must be a top-level category (one level of nesting)".into()));
        }
        Ok(parent.id)
    }

    pub async fn create_category(
        &self,
        principal: &Principal,
        input: CategoryInput,
        ctx: &RequestContext,
    ) -> Result<CategoryRecord> {
        require_admin(principal)?;
        let slug = match input.slug {
            Some(slug) => slug,
            None => Slug::from_name(&input.name).map_err(|e| Error::field("slug", e))?,
        };
        let parent_id = match &input.parent {
            Some(key) => Some(self.parent(key, None).await?),
            None => None,
        };
        let draft = CategoryDraft { name: input.name, slug, description: input.description, parent_id };
        let entry = ctx.audit(
            Some(principal.user_id),
            "category.created",
            Some(("category", String::new())),
            json!({ "slug": draft.slug.as_str() }),
        );
        let record = self.store.insert_category(&draft, Timestamp::now(), &entry).await.map_err(|e| match e {
            StoreError::UniqueViolation => Error::Conflict("A category with this slug already exists".into()),
            StoreError::ForeignKeyViolation => Error::Conflict("The parent category does not exist".into()),
            other => other.into(),
        })?;
        self.changed().await;
        Ok(record)
    }

    pub async fn update_category(
        &self,
        principal: &Principal,
        key: &CategoryKey,
        patch: CategoryPatch,
        expected_version: Option<i64>,
        ctx: &RequestContext,
    ) -> Result<CategoryRecord> {
        require_admin(principal)?;
        let current = self.stored_category(key).await?.ok_or_else(|| Error::NotFound("Category not found".into()))?;
        if let Some(sent) = expected_version
            && sent != current.version
        {
            return Err(version_conflict(current.version, sent));
        }
        let parent_id = match &patch.parent {
            None => current.parent_id,
            Some(None) => None,
            Some(Some(parent)) => {
                if self.store.count_child_categories(current.id).await? > 0 {
                    return Err(Error::Conflict("A category with sub-categories cannot be nested".into()));
                }
                Some(self.parent(parent, Some(current.id)).await?)
            }
        };
        let draft = CategoryDraft {
            name: patch.name.unwrap_or(current.name),
            // The slug stays when the name changes: links to it keep working.
            slug: match patch.slug {
                Some(slug) => slug,
                None => Slug::parse(&current.slug).map_err(Error::internal)?,
            },
            description: patch.description.unwrap_or(current.description),
            parent_id,
        };
        let entry = ctx.audit(
            Some(principal.user_id),
            "category.updated",
            Some(("category", current.id.to_string())),
            json!({}),
        );
        let updated =
            self.store.update_category(current.id, &draft, current.version, Timestamp::now(), &entry).await.map_err(
                |e| match e {
                    StoreError::UniqueViolation => Error::Conflict("A category with this slug already exists".into()),
                    other => other.into(),
                },
            )?;
        let record = updated.ok_or_else(|| version_conflict(current.version + 1, current.version))?;
        self.changed().await;
        Ok(record)
    }

    /// A category that still holds products or sub-categories is kept (409).
    pub async fn delete_category(&self, principal: &Principal, key: &CategoryKey, ctx: &RequestContext) -> Result<()> {
        require_admin(principal)?;
        let category = self.stored_category(key).await?.ok_or_else(|| Error::NotFound("Category not found".into()))?;
        let entry = ctx.audit(
            Some(principal.user_id),
            "category.deleted",
            Some(("category", category.id.to_string())),
            json!({ "slug": category.slug }),
        );
        match self.store.delete_category(category.id, &entry).await? {
            CategoryRemoval::Removed => {}
            CategoryRemoval::NotFound => return Err(Error::NotFound("Category not found".into())),
            CategoryRemoval::HasProducts => {
                return Err(Error::Conflict("The category still has products; move or delete them first".into()));
            }
            CategoryRemoval::HasChildren => {
                return Err(Error::Conflict("The category still has sub-categories; move or delete them first".into()));
            }
        }
        self.changed().await;
        Ok(())
    }

    /// A listing. A category filter that names no category matches nothing.
    pub async fn products(
        &self,
        category: Option<&CategoryKey>,
        filter: ProductFilter,
        page: Page,
    ) -> Result<Arc<(Vec<Arc<ProductRecord>>, u64)>> {
        let listing = self.product_listing(category, filter, page).await?;
        Ok(Arc::new((listing.products, listing.total)))
    }

    /// The products whose name is `name` (case-insensitively, exactly), in
    /// `category` when one is given: how an API document that names what it
    /// orders (flask-orders' `products`) finds the product. Found through the
    /// full-text search, then compared whole; a category that does not exist
    /// is a 404.
    pub async fn products_named(&self, name: &str, category: Option<&CategoryKey>) -> Result<Vec<ProductRecord>> {
        let wanted = name.trim().to_lowercase();
        let search = emporium_domain::catalog::SearchQuery::parse(name).map_err(|e| Error::field("products", e))?;
        if wanted.is_empty() || search.is_empty() {
            return Ok(Vec::new());
        }
        let mut filter = ProductFilter { search: Some(search), ..ProductFilter::default() };
        if let Some(key) = category {
            filter.category = Some(self.category(key).await?.id);
        }
        let mut named = Vec::new();
        let mut page = 1;
        loop {
            let paging = Page::new(Some(page), Some(100), 100).map_err(|_| Error::internal("paging"))?;
            let listing = self.products(None, filter.clone(), paging).await?;
            let (products, total) = (&listing.0, listing.1);
            let seen = (page as u64) * 100;
            named.extend(
                products.iter().filter(|p| p.draft.name.trim().to_lowercase() == wanted).map(|p| (**p).clone()),
            );
            if seen >= total || page >= 10 {
                return Ok(named);
            }
            page += 1;
        }
    }

    /// The products of one category (and its sub-categories); 404 if it does not exist.
    pub async fn category_products(
        &self,
        key: &CategoryKey,
        filter: ProductFilter,
        page: Page,
    ) -> Result<Arc<(Vec<Arc<ProductRecord>>, u64)>> {
        let listing = self.category_product_listing(key, filter, page).await?;
        Ok(Arc::new((listing.products, listing.total)))
    }

    /// [`Catalog::products`], with the facets of the whole match.
    pub async fn product_listing(
        &self,
        category: Option<&CategoryKey>,
        mut filter: ProductFilter,
        page: Page,
    ) -> Result<ProductListing> {
        if let Some(key) = category {
            match self.model.category_id(key).await? {
                Some(id) => filter.category = Some(id),
                None => return Ok(ProductListing::default()),
            }
        }
        self.model.products(&filter, page).await
    }

    /// [`Catalog::category_products`], with the facets of the whole match.
    pub async fn category_product_listing(
        &self,
        key: &CategoryKey,
        mut filter: ProductFilter,
        page: Page,
    ) -> Result<ProductListing> {
        filter.category = Some(self.category(key).await?.id);
        self.model.products(&filter, page).await
    }

    /// A product as the storefront shows it (from the read model).
    pub async fn product(&self, id: ProductId) -> Result<Arc<ProductRecord>> {
        self.model.product(id).await
    }

    /// A rendered catalog response, from the read cache when it is fresh.
    /// `render` runs on a miss; an error is returned, never kept.
    pub async fn cached_page<F>(&self, key: String, render: F) -> Result<Arc<Vec<u8>>>
    where
        F: std::future::Future<Output = Result<Vec<u8>>>,
    {
        self.cache.pages.get_or_load(key, async move { render.await.map(Arc::new) }).await
    }

    async fn check_category(&self, category: Option<CategoryId>) -> Result<()> {
        if let Some(id) = category
            && self.store.category_by_id(id).await?.is_none()
        {
            return Err(Error::Conflict("The category does not exist".into()));
        }
        Ok(())
    }

    fn product_write_error(e: StoreError) -> Error {
        match e {
            StoreError::UniqueViolation => Error::Conflict("A product with this SKU already exists".into()),
            StoreError::ForeignKeyViolation => Error::Conflict("The category does not exist".into()),
            other => other.into(),
        }
    }

    pub async fn create_product(
        &self,
        principal: &Principal,
        draft: ProductDraft,
        ctx: &RequestContext,
    ) -> Result<ProductRecord> {
        require_admin(principal)?;
        self.check_category(draft.category_id).await?;
        let entry = ctx.audit(
            Some(principal.user_id),
            "product.created",
            Some(("product", String::new())),
            json!({ "price": draft.price.to_string(), "discount": draft.discount.to_f64(), "stock": draft.stock }),
        );
        let record = self
            .store
            .insert_product(&draft, Some(principal.user_id), Timestamp::now(), &entry)
            .await
            .map_err(Self::product_write_error)?;
        self.changed().await;
        Ok(record)
    }

    /// Applies a partial update to the product as it is when the update runs
    /// (its row locked from read to write, so a concurrent sale is neither
    /// overwritten nor a reason to fail). With `expected_version` (the
    /// client's `__v` or `If-Match`), a product changed since is a 409.
    pub async fn update_product(
        &self,
        principal: &Principal,
        id: ProductId,
        patch: ProductPatch,
        expected_version: Option<i64>,
        ctx: &RequestContext,
    ) -> Result<ProductRecord> {
        require_admin(principal)?;
        if let Some(category) = patch.category_id {
            // Checked ahead for a clear error; the foreign key still guards a
            // category deleted in between.
            self.check_category(category).await?;
        }
        let change = |current: &ProductRecord| {
            if let Some(sent) = expected_version
                && sent != current.version
            {
                return Err(version_conflict(current.version, sent));
            }
            let after = patch.apply(&current.draft);
            let audit = audited_changes(&current.draft, &after)
                .into_iter()
                .map(|(field, from, to)| {
                    ctx.audit(
                        Some(principal.user_id),
                        &format!("product.{field}_changed"),
                        Some(("product", id.to_string())),
                        json!({ "from": from, "to": to }),
                    )
                })
                .collect();
            Ok((after, audit))
        };
        let updated =
            self.store.update_product(id, Timestamp::now(), &change).await.map_err(Self::product_write_error)?;
        let record = updated.ok_or_else(|| Error::NotFound("Product not found".into()))??;
        self.changed().await;
        Ok(record)
    }

    /// Adds `delta` (negative: takes) to a product's stock, re-reading and
    /// retrying when someone else changed it in between, so no change is lost.
    /// Stock never goes below zero.
    pub async fn adjust_stock(
        &self,
        principal: &Principal,
        id: ProductId,
        delta: i64,
        ctx: &RequestContext,
    ) -> Result<ProductRecord> {
        require_admin(principal)?;
        loop {
            let current = self.store.product(id).await?.ok_or_else(|| Error::NotFound("Product not found".into()))?;
            let stock =
                current.draft.stock.checked_add(delta).ok_or_else(|| Error::field("stock", "is out of range"))?;
            let stock = emporium_domain::catalog::parse_stock(stock).map_err(|e| {
                Error::field("stock", format!("{e} (\"{}\" has {})", current.draft.name, current.draft.stock))
            })?;
            let patch = ProductPatch { stock: Some(stock), ..ProductPatch::default() };
            match self.update_product(principal, id, patch, Some(current.version), ctx).await {
                Err(Error::Conflict(_)) => continue,
                other => return other,
            }
        }
    }

    /// The live product with this SKU, if any.
    pub async fn product_by_sku(&self, sku: &str) -> Result<Option<ProductRecord>> {
        match self.store.product_id_by_sku(sku).await? {
            Some(id) => Ok(self.store.product(id).await?),
            None => Ok(None),
        }
    }

    /// Applies an import in one transaction: `creates` are new products,
    /// `updates` patches to products as they were read (`planned_version`).
    /// If any of them changed since, or a SKU is taken, nothing is written.
    pub async fn import_products(
        &self,
        principal: &Principal,
        creates: Vec<ProductDraft>,
        updates: Vec<(ProductRecord, ProductPatch)>,
        ctx: &RequestContext,
    ) -> Result<(u64, u64)> {
        require_admin(principal)?;
        for draft in &creates {
            self.check_category(draft.category_id).await?;
        }
        let mut import = emporium_store::ProductImport { created_by: Some(principal.user_id), ..Default::default() };
        for draft in creates {
            let entry = ctx.audit(
                Some(principal.user_id),
                "product.created",
                Some(("product", String::new())),
                json!({ "price": draft.price.to_string(), "discount": draft.discount.to_f64(), "stock": draft.stock, "by": "import" }),
            );
            import.creates.push((draft, entry));
        }
        for (current, patch) in updates {
            if let Some(category) = patch.category_id {
                self.check_category(category).await?;
            }
            let after = patch.apply(&current.draft);
            let audit = audited_changes(&current.draft, &after)
                .into_iter()
                .map(|(field, from, to)| {
                    ctx.audit(
                        Some(principal.user_id),
                        &format!("product.{field}_changed"),
                        Some(("product", current.id.to_string())),
                        json!({ "from": from, "to": to, "by": "import" }),
                    )
                })
                .collect();
            import.updates.push((current.id, current.version, after, audit));
        }
        let outcome = self.store.import_products(&import, Timestamp::now()).await.map_err(Self::product_write_error);
        self.changed().await;
        match outcome? {
            emporium_store::ImportOutcome::Applied { created, updated } => Ok((created, updated)),
            emporium_store::ImportOutcome::Stale(id) => Err(Error::Conflict(format!(
                "Product {id} was changed by someone else since the dry run; nothing was imported. Run the dry run again."
            ))),
        }
    }

    pub async fn delete_product(&self, principal: &Principal, id: ProductId, ctx: &RequestContext) -> Result<()> {
        require_admin(principal)?;
        let entry = ctx.audit(Some(principal.user_id), "product.deleted", Some(("product", id.to_string())), json!({}));
        if self.store.delete_product(id, Timestamp::now(), &entry).await? {
            self.changed().await;
            Ok(())
        } else {
            Err(Error::NotFound("Product not found".into()))
        }
    }
}
