//! Catalog SQL. Listing queries are assembled from the filter; only the
//! full-text part differs between backends, behind [`FullText`].

use emporium_domain::catalog::{ProductDraft, ProductFilter, ProductSort, SearchQuery};
use emporium_domain::paging::Page;

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

/// A value to bind, in order, to a query assembled at run time.
#[derive(Debug, Clone, PartialEq)]
pub enum Arg {
    Int(i64),
    Text(String),
    Bool(bool),
}

/// How a backend does full-text search over products.
pub trait FullText {
    /// Extra `FROM` text joined after `products p` (may be empty).
    fn join(&self) -> &'static str;
    /// The condition that the search parameter `$n` matches.
    fn condition(&self, n: usize) -> String;
    /// An expression ordering best matches first when used with `ORDER BY … ASC`.
    fn rank_ascending(&self, n: usize) -> String;
    /// The backend's query text for the terms (the last one as a prefix).
    fn query_text(&self, query: &SearchQuery) -> String;
}

/// A listing query and its count, with the arguments both take.
pub struct Listing {
    pub select: String,
    pub count: String,
    pub args: Vec<Arg>,
    /// Arguments only the select takes (limit, offset), after `args`.
    pub page_args: [i64; 2],
    /// The search has no words: the answer is empty without asking.
    pub matches_nothing: bool,
}

/// Assembles the listing for `filter`. Every value is a bound parameter.
pub fn product_listing(filter: &ProductFilter, page: Page, fts: &dyn FullText) -> Listing {
    let mut conditions = vec!["p.deleted_at IS NULL".to_string()];
    let mut args: Vec<Arg> = Vec::new();
    let next = |args: &mut Vec<Arg>, arg: Arg| {
        args.push(arg);
        args.len()
    };
    let mut join = "";
    let mut search_param = None;
    let mut matches_nothing = false;
    if let Some(search) = &filter.search {
        if search.is_empty() {
            matches_nothing = true;
        } else {
            let n = next(&mut args, Arg::Text(fts.query_text(search)));
            join = fts.join();
            conditions.push(fts.condition(n));
            search_param = Some(n);
        }
    }
    if let Some(category) = filter.category {
        let n = next(&mut args, Arg::Int(category.get()));
        conditions.push(format!("p.category_id IN (SELECT id FROM categories WHERE id = ${n} OR parent_id = ${n})"));
    }
    if let Some(min) = filter.min_price {
        let n = next(&mut args, Arg::Int(min.minor()));
        conditions.push(format!("p.sell_price_minor >= ${n}"));
    }
    if let Some(max) = filter.max_price {
        let n = next(&mut args, Arg::Int(max.minor()));
        conditions.push(format!("p.sell_price_minor <= ${n}"));
    }
    if let Some(min) = filter.min_discount {
        let n = next(&mut args, Arg::Int(min.basis_points()));
        conditions.push(format!("p.discount_bp >= ${n}"));
    }
    if let Some(max) = filter.max_discount {
        let n = next(&mut args, Arg::Int(max.basis_points()));
        conditions.push(format!("p.discount_bp <= ${n}"));
    }
    if let Some(available) = filter.available {
        let n = next(&mut args, Arg::Bool(available));
        conditions.push(format!("p.available = ${n}"));
    }
    match filter.in_stock {
        Some(true) => conditions.push("p.stock > 0".into()),
        Some(false) => conditions.push("p.stock = 0".into()),
        None => {}
    }
    let order = match (filter.effective_sort(), search_param) {
        (ProductSort::PriceAsc, _) => "p.sell_price_minor ASC, p.id ASC".to_string(),
        (ProductSort::PriceDesc, _) => "p.sell_price_minor DESC, p.id DESC".to_string(),
        (ProductSort::NameAsc, _) => "p.sort_name ASC, p.id ASC".to_string(),
        (ProductSort::NameDesc, _) => "p.sort_name DESC, p.id DESC".to_string(),
        (ProductSort::Oldest, _) => "p.created_at ASC, p.id ASC".to_string(),
        (ProductSort::Relevance, Some(n)) => format!("{} ASC, p.id ASC", fts.rank_ascending(n)),
        (ProductSort::Newest | ProductSort::Relevance, _) => "p.created_at DESC, p.id DESC".to_string(),
    };
    let where_clause = conditions.join(" AND ");
    let limit_n = args.len() + 1;
    let select = format!(
        "{PRODUCT_SELECT}{join} WHERE {where_clause} ORDER BY {order} LIMIT ${limit_n} OFFSET ${}",
        limit_n + 1
    );
    let count = format!("SELECT COUNT(*) FROM products p{join} WHERE {where_clause}");
    Listing { select, count, args, page_args: [i64::from(page.limit()), page.offset() as i64], matches_nothing }
}
