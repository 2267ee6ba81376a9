//! Categories and products.

use async_trait::async_trait;
use emporium_domain::catalog::{CategoryDraft, ProductDraft};
use emporium_domain::ids::{CategoryId, ProductId, UserId};
use emporium_domain::money::Money;
use emporium_domain::time::Timestamp;

use crate::{NewAuditEntry, StoreResult};

/// An edit of a product, decided on the product as it is: what it becomes
/// and the audit entries recording that, or why it may not happen.
pub type ProductChange<'a> =
    dyn Fn(&ProductRecord) -> Result<(ProductDraft, Vec<NewAuditEntry>), emporium_domain::Error> + Send + Sync + 'a;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CategoryRecord {
    pub id: CategoryId,
    pub name: String,
    pub slug: String,
    pub description: Option<String>,
    pub parent_id: Option<CategoryId>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub version: i64,
}

/// The category a product sits in, as shown with the product.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CategorySummary {
    pub id: CategoryId,
    pub name: String,
    pub slug: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProductRecord {
    pub id: ProductId,
    pub draft: ProductDraft,
    pub sell_price: Money,
    pub category: Option<CategorySummary>,
    pub created_by: Option<UserId>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub version: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CategoryRemoval {
    Removed,
    NotFound,
    /// Refused: live products are still filed under it.
    HasProducts,
    /// Refused: other categories are nested under it.
    HasChildren,
}

#[async_trait]
pub trait CatalogStore {
    /// Inserts a category and its audit entry (target filled in) in one
    /// transaction; `UniqueViolation` when the slug is taken.
    async fn insert_category(
        &self,
        category: &CategoryDraft,
        now: Timestamp,
        audit: &NewAuditEntry,
    ) -> StoreResult<CategoryRecord>;
    async fn category_by_id(&self, id: CategoryId) -> StoreResult<Option<CategoryRecord>>;
    async fn category_by_slug(&self, slug: &str) -> StoreResult<Option<CategoryRecord>>;
    /// Every category, parents before children, then by name.
    async fn list_categories(&self) -> StoreResult<Vec<CategoryRecord>>;
    async fn count_child_categories(&self, id: CategoryId) -> StoreResult<u64>;
    /// Replaces the category if it is still at `expected_version` (writing the
    /// audit entry with it); `None` otherwise.
    async fn update_category(
        &self,
        id: CategoryId,
        category: &CategoryDraft,
        expected_version: i64,
        now: Timestamp,
        audit: &NewAuditEntry,
    ) -> StoreResult<Option<CategoryRecord>>;
    /// Deletes an empty category and writes the audit entry, in one transaction.
    async fn delete_category(&self, id: CategoryId, audit: &NewAuditEntry) -> StoreResult<CategoryRemoval>;

    /// `UniqueViolation` when the SKU is taken by a live product.
    async fn insert_product(
        &self,
        product: &ProductDraft,
        created_by: Option<UserId>,
        now: Timestamp,
        audit: &NewAuditEntry,
    ) -> StoreResult<ProductRecord>;
    /// Inserts many products in one transaction (demo data, imports); returns how many.
    async fn insert_products(
        &self,
        products: &[ProductDraft],
        created_by: Option<UserId>,
        now: Timestamp,
    ) -> StoreResult<u64>;
    /// A live (not deleted) product.
    async fn product(&self, id: ProductId) -> StoreResult<Option<ProductRecord>>;
    /// In one transaction: reads the live product with its row locked (on
    /// SQLite, the single writer is held), asks `change` what it becomes, and
    /// writes that with its audit entries. A sale taking stock meanwhile waits
    /// for the commit instead of being overwritten or making the edit fail.
    /// `None` if the product is not live; `Some(Err)` if `change` refused.
    async fn update_product(
        &self,
        id: ProductId,
        now: Timestamp,
        change: &ProductChange<'_>,
    ) -> StoreResult<Option<Result<ProductRecord, emporium_domain::Error>>>;
    /// Soft-deletes: the product leaves the catalog and search, while orders
    /// and carts that mention it keep a valid reference. `false` if not live.
    async fn delete_product(&self, id: ProductId, now: Timestamp, audit: &NewAuditEntry) -> StoreResult<bool>;

    /// Every live product, by id: what a catalog read model starts from.
    async fn live_products(&self) -> StoreResult<Vec<ProductRecord>>;
    /// The live ones of these products (a deleted or unknown id is left out).
    async fn live_products_by_id(&self, ids: &[ProductId]) -> StoreResult<Vec<ProductRecord>>;
    /// The change feed's oldest and newest sequence numbers (both 0 when it is empty).
    async fn catalog_change_bounds(&self) -> StoreResult<(i64, i64)>;
    /// The changes after `after`, and those numbered in `also` (numbers seen
    /// missing earlier: a transaction that had taken them may have committed
    /// since), in sequence order; at most `limit` after `after`.
    async fn catalog_changes(&self, after: i64, also: &[i64], limit: u32) -> StoreResult<Vec<CatalogChange>>;
    /// Forgets changes recorded before `before` and numbered below `below`; returns how many.
    async fn prune_catalog_changes(&self, before: Timestamp, below: i64) -> StoreResult<u64>;
    /// Wakes the caller when another server may have changed the catalog
    /// (PostgreSQL `LISTEN`); `None` where the backend has no such signal.
    /// Only a hint: the change feed stays the truth.
    async fn listen_catalog_changes(&self) -> StoreResult<Option<Box<dyn CatalogWakeups>>>;
    /// The live product with this SKU, if any.
    async fn product_id_by_sku(&self, sku: &str) -> StoreResult<Option<ProductId>>;
    /// Writes a whole import in one transaction: every insert and every
    /// update (each only if the product is still at the version it was
    /// planned against), with their audit entries. Nothing is written when
    /// one update finds its product changed or gone (`Stale`), or a SKU is
    /// taken (`UniqueViolation`).
    async fn import_products(&self, import: &ProductImport, now: Timestamp) -> StoreResult<ImportOutcome>;
}

/// A planned import: new products and changes to existing ones.
#[derive(Debug, Clone, Default)]
pub struct ProductImport {
    pub creates: Vec<(ProductDraft, NewAuditEntry)>,
    /// Each product, the version the change was planned against, what it becomes.
    pub updates: Vec<(ProductId, i64, ProductDraft, Vec<NewAuditEntry>)>,
    pub created_by: Option<UserId>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImportOutcome {
    Applied {
        created: u64,
        updated: u64,
    },
    /// This product changed (or went) since the import was planned.
    Stale(ProductId),
}

/// One row of the change feed: a product or a category changed (any way,
/// deletion included); its current state is read from its table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CatalogChange {
    pub seq: i64,
    pub product: Option<ProductId>,
    pub category: Option<CategoryId>,
}

/// Notifications that the catalog changed somewhere.
#[async_trait]
pub trait CatalogWakeups: Send {
    /// Waits for the next notification; an error means the connection was lost
    /// (the caller polls the feed and listens again).
    async fn next(&mut self) -> StoreResult<()>;
}
