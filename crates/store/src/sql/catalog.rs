//! Catalog SQL. Listings and search are answered from each server's
//! in-memory read model (crates/service/src/read_model.rs); what stays here
//! is the writes, single reads, and what loads and follows that model.

use emporium_domain::catalog::ProductDraft;

pub const CATEGORY_COLUMNS: &str = "id, name, slug, description, parent_id, created_at, updated_at, version";

pub const INSERT_CATEGORY: &str = "INSERT INTO categories (name, slug, description, parent_id, created_at, updated_at, version) \
     VALUES ($1, $2, $3, $4, $5, $5, 0) RETURNING id, name, slug, description, parent_id, created_at, updated_at, version";
pub const SELECT_CATEGORY_BY_ID: &str =
    "SELECT id, name, slug, description, parent_id, created_at, updated_at, version FROM categories WHERE id = $1";
pub const SELECT_CATEGORY_BY_SLUG: &str =
    "SELECT id, name, slug, description, parent_id, created_at, updated_at, version FROM categories WHERE slug = $1";
/// Parents first (a NULL parent sorts as 0), then by name.
pub const SELECT_CATEGORIES: &str = "SELECT id, name, slug, description, parent_id, created_at, updated_at, version FROM categories \
     ORDER BY COALESCE(parent_id, 0), lower(name), id";
pub const COUNT_CHILD_CATEGORIES: &str = "SELECT COUNT(*) FROM categories WHERE parent_id = $1";
pub const UPDATE_CATEGORY: &str = "UPDATE categories SET name = $2, slug = $3, description = $4, parent_id = $5, updated_at = $6, version = version + 1 \
     WHERE id = $1 AND version = $7 RETURNING id, name, slug, description, parent_id, created_at, updated_at, version";
pub const COUNT_LIVE_PRODUCTS_IN_CATEGORY: &str =
    "SELECT COUNT(*) FROM products WHERE category_id = $1 AND deleted_at IS NULL";
pub const DELETE_CATEGORY: &str = "DELETE FROM categories WHERE id = $1";

/// The product columns every read returns, with the category's name and slug.
pub const PRODUCT_SELECT: &str = "SELECT p.id, p.name, p.description, p.price_minor, p.discount_bp, p.sell_price_minor, \
     p.category_id, c.name AS category_name, c.slug AS category_slug, p.images, p.stock, p.available, p.keywords, p.sku, \
     p.created_by, p.created_at, p.updated_at, p.version \
     FROM products p LEFT JOIN categories c ON c.id = p.category_id";

pub const SELECT_LIVE_PRODUCT: &str = "SELECT p.id, p.name, p.description, p.price_minor, p.discount_bp, p.sell_price_minor, \
     p.category_id, c.name AS category_name, c.slug AS category_slug, p.images, p.stock, p.available, p.keywords, p.sku, \
     p.created_by, p.created_at, p.updated_at, p.version \
     FROM products p LEFT JOIN categories c ON c.id = p.category_id WHERE p.id = $1 AND p.deleted_at IS NULL";

/// The writable columns, in the order [`ProductValues`] binds them.
pub const PRODUCT_WRITE_COLUMNS: &str = "name, sort_name, description, price_minor, discount_bp, sell_price_minor, category_id, images, stock, available, keywords, sku";
pub const PRODUCT_WRITE_COUNT: usize = 12;

pub const INSERT_PRODUCT: &str = "INSERT INTO products (name, sort_name, description, price_minor, discount_bp, sell_price_minor, category_id, images, stock, available, keywords, sku, \
     created_by, created_at, updated_at, version) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $14, 0) RETURNING id";
pub const UPDATE_PRODUCT: &str = "UPDATE products SET name = $1, sort_name = $2, description = $3, price_minor = $4, discount_bp = $5, \
     sell_price_minor = $6, category_id = $7, images = $8, stock = $9, available = $10, keywords = $11, sku = $12, \
     updated_at = $13, version = version + 1 WHERE id = $14 AND version = $15 AND deleted_at IS NULL";
pub const SELECT_PRODUCT_ID_BY_SKU: &str = "SELECT id FROM products WHERE sku = $1 AND deleted_at IS NULL";
pub const SOFT_DELETE_PRODUCT: &str = "UPDATE products SET deleted_at = $2, updated_at = $2, sku = NULL, version = version + 1 WHERE id = $1 AND deleted_at IS NULL";

/// A product's writable values, ready to bind in [`PRODUCT_WRITE_COLUMNS`] order.
pub struct ProductValues {
    pub name: String,
    pub sort_name: String,
    pub description: String,
    pub price_minor: i64,
    pub discount_bp: i64,
    pub sell_price_minor: i64,
    pub category_id: Option<i64>,
    pub images: String,
    pub stock: i64,
    pub available: bool,
    pub keywords: String,
    pub sku: Option<String>,
}

impl From<&ProductDraft> for ProductValues {
    fn from(p: &ProductDraft) -> Self {
        Self {
            name: p.name.clone(),
            sort_name: p.sort_name(),
            description: p.description.clone(),
            price_minor: p.price.minor(),
            discount_bp: p.discount.basis_points(),
            sell_price_minor: p.sell_price().minor(),
            category_id: p.category_id.map(|c| c.get()),
            images: serde_json::to_string(&p.images).unwrap_or_else(|_| "[]".into()),
            stock: p.stock,
            available: p.available,
            keywords: serde_json::to_string(&p.keywords).unwrap_or_else(|_| "[]".into()),
            sku: p.sku.clone(),
        }
    }
}

/// Every live product, oldest first: what a server's catalog read model loads.
pub const SELECT_LIVE_PRODUCTS: &str = "SELECT p.id, p.name, p.description, p.price_minor, p.discount_bp, p.sell_price_minor, \
     p.category_id, c.name AS category_name, c.slug AS category_slug, p.images, p.stock, p.available, p.keywords, p.sku, \
     p.created_by, p.created_at, p.updated_at, p.version \
     FROM products p LEFT JOIN categories c ON c.id = p.category_id WHERE p.deleted_at IS NULL ORDER BY p.id";

/// The change feed's oldest and newest sequence numbers (0 when empty).
pub const CATALOG_CHANGE_BOUNDS: &str = "SELECT COALESCE(MIN(seq), 0), COALESCE(MAX(seq), 0) FROM catalog_changes";
pub const PRUNE_CATALOG_CHANGES: &str = "DELETE FROM catalog_changes WHERE at < $1 AND seq < $2";
