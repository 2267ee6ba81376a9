//! `/products` and `/categories`: read by anyone, written by admins.

use axum::extract::{Path, RawQuery, State};
use axum::http::HeaderMap;
use emporium_domain::Error;
use emporium_domain::catalog::{
    CategoryKey, ProductDraft, ProductFilter, ProductPatch, ProductSort, SearchQuery, Slug, parse_description,
    parse_image_url, parse_keywords, parse_name, parse_sku, parse_stock,
};
use emporium_domain::ids::ProductId;
use emporium_domain::money::{Money, Percent};
use emporium_domain::paging::Page;
use emporium_service::catalog::{CategoryInput, CategoryPatch};
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::envelope::{CachedJson, Envelope, ListMeta, Reply};
use crate::error::{ApiResult, ErrorEnvelope};
use crate::extract::{AdminAuth, ClientIp, Fields, JsonObject, Params};
use crate::views::{CategoryView, ProductView};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_products, create_product))
        .routes(routes!(get_product, update_product, delete_product))
        .routes(routes!(list_categories, create_category))
        .routes(routes!(get_category, update_category, delete_category))
        .routes(routes!(list_category_products))
}

fn product_id(raw: &str) -> Result<ProductId, Error> {
    raw.parse().map_err(|_| Error::NotFound("Product not found".into()))
}

fn category_key(raw: &str) -> Result<CategoryKey, Error> {
    CategoryKey::parse(raw).map_err(|_| Error::NotFound("Category not found".into()))
}

/// The filters and paging every product listing takes.
fn listing(q: &mut Params) -> (ProductFilter, Page) {
    let page = q.page(10);
    let filter = ProductFilter {
        search: q.parse("search", SearchQuery::parse),
        category: None,
        min_price: q.parse("minPrice", Money::from_decimal_str),
        max_price: q.parse("maxPrice", Money::from_decimal_str),
        min_discount: q.parse("minDiscount", |s| {
            s.parse::<f64>().map_err(|_| "must be a number".to_string()).and_then(Percent::from_json_number)
        }),
        max_discount: q.parse("maxDiscount", |s| {
            s.parse::<f64>().map_err(|_| "must be a number".to_string()).and_then(Percent::from_json_number)
        }),
        available: q.bool("available"),
        in_stock: q.bool("inStock"),
        sort: q.parse("sort", ProductSort::parse),
    };
    filter.check(&mut q.errors);
    (filter, page)
}

fn products_reply(products: &[emporium_store::ProductRecord], total: u64, page: Page) -> Reply<Vec<ProductView>> {
    Reply::list(
        products.iter().map(ProductView::from).collect(),
        ListMeta::new(page, total),
        "Products fetched successfully",
    )
}

/// List products: full-text search, filters and sorting, all combinable.
#[utoipa::path(get, path = "/products", tag = "catalog",
    params(
        ("page" = Option<u32>, Query, description = "from 1"), ("limit" = Option<u32>, Query, description = "1–100, default 10"),
        ("search" = Option<String>, Query, description = "full text over name, keywords, description; ranked; the last word matches as a prefix"),
        ("category" = Option<String>, Query, description = "category id or slug (includes its sub-categories)"),
        ("minPrice" = Option<String>, Query, description = "on the selling price"), ("maxPrice" = Option<String>, Query),
        ("minDiscount" = Option<f64>, Query), ("maxDiscount" = Option<f64>, Query),
        ("available" = Option<bool>, Query), ("inStock" = Option<bool>, Query),
        ("sort" = Option<String>, Query, description = "price, -price, name, -name, createdAt, -createdAt, relevance"),
    ),
    responses((status = 200, body = Envelope<Vec<ProductView>>), (status = 400, body = ErrorEnvelope)))]
async fn list_products(State(state): State<AppState>, RawQuery(raw): RawQuery, mut q: Params) -> ApiResult<CachedJson> {
    let catalog = state.services.catalog.clone();
    let key = format!("products?{}", raw.unwrap_or_default());
    let page = state
        .services
        .catalog
        .cached_page(key, async move {
            let (filter, page) = listing(&mut q);
            let category = q.parse("category", CategoryKey::parse);
            q.finish()?;
            let listing = catalog.products(category.as_ref(), filter, page).await?;
            products_reply(&listing.0, listing.1, page).to_bytes()
        })
        .await?;
    Ok(CachedJson(page))
}

/// One product.
#[utoipa::path(get, path = "/products/{id}", tag = "catalog", params(("id" = String, Path)),
    responses((status = 200, body = Envelope<ProductView>), (status = 404, body = ErrorEnvelope)))]
async fn get_product(State(state): State<AppState>, Path(id): Path<String>) -> ApiResult<CachedJson> {
    let id = product_id(&id)?;
    let catalog = state.services.catalog.clone();
    let page = state
        .services
        .catalog
        .cached_page(format!("product/{id}"), async move {
            let product = catalog.product(id).await?;
            Reply::ok(ProductView::from(&*product), "Product fetched successfully").to_bytes()
        })
        .await?;
    Ok(CachedJson(page))
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)]
pub struct ProductRequest {
    /// 1–200 characters. Required when creating.
    name: Option<String>,
    description: Option<String>,
    /// ≥ 0, at most 2 decimals; a number or a decimal string. Required when creating.
    price: Option<f64>,
    /// Percent, 0–100.
    discount: Option<f64>,
    /// Category id or slug; `null` for none.
    category: Option<String>,
    /// http(s) URLs.
    images: Option<Vec<String>>,
    /// Integer ≥ 0.
    stock: Option<i64>,
    available: Option<bool>,
    keywords: Option<Vec<String>>,
    /// Unique among live products; `null` for none.
    sku: Option<String>,
    /// On update: the version the change is based on (or send `If-Match`); a stale one gets 409.
    #[serde(rename = "__v")]
    version: Option<i64>,
}

/// Reads the product fields of a create or update body.
async fn product_patch(state: &AppState, f: &mut Fields) -> Option<ProductPatch> {
    let name = f.optional_str("name");
    let name = f.parse("name", name, |s| parse_name(s, 200));
    let description = f.optional_str("description");
    let description = f.parse("description", description, parse_description);
    let price = f.optional_money("price");
    let discount = f.optional_percent("discount");
    let images = f.optional_strings("images").and_then(|urls| {
        let parsed: Result<Vec<String>, String> = urls.iter().map(|u| parse_image_url(u)).collect();
        match parsed {
            Ok(list) if list.len() <= 20 => Some(list),
            Ok(_) => {
                f.error("images", "must have at most 20 images");
                None
            }
            Err(e) => {
                f.error("images", e);
                None
            }
        }
    });
    let stock = f.optional_i64("stock").and_then(|n| parse_stock(n).map_err(|e| f.error("stock", e)).ok());
    let available = f.optional_bool("available");
    let keywords =
        f.optional_strings("keywords").and_then(|k| parse_keywords(k).map_err(|e| f.error("keywords", e)).ok());
    let sku = match f.nullable_str("sku") {
        Some(Some(s)) => f.parse("sku", Some(s), parse_sku).map(Some),
        Some(None) => Some(None),
        None => None,
    };
    let category = match f.nullable_key("category") {
        None => None,
        Some(None) => Some(None),
        Some(Some(raw)) => match CategoryKey::parse(&raw) {
            Err(e) => {
                f.error("category", e);
                None
            }
            Ok(key) => match state.services.catalog.find_category(&key).await {
                Ok(Some(c)) => Some(Some(c.id)),
                Ok(None) => {
                    f.error("category", "does not exist");
                    None
                }
                Err(_) => {
                    f.error("category", "could not be checked");
                    None
                }
            },
        },
    };
    Some(ProductPatch {
        name,
        description,
        price,
        discount,
        category_id: category,
        images,
        stock,
        available,
        keywords,
        sku,
    })
}

/// Create a product (admin).
#[utoipa::path(post, path = "/products", tag = "catalog", security(("bearer" = [])), request_body = ProductRequest,
    responses((status = 201, body = Envelope<ProductView>), (status = 400, body = ErrorEnvelope), (status = 401, body = ErrorEnvelope),
        (status = 403, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope)))]
async fn create_product(
    State(state): State<AppState>,
    ip: ClientIp,
    AdminAuth(principal): AdminAuth,
    JsonObject(body): JsonObject,
) -> ApiResult<Reply<ProductView>> {
    let mut f = Fields::new(body);
    if !f.present("name") {
        f.error("name", "is required");
    }
    if !f.present("price") {
        f.error("price", "is required");
    }
    let patch = product_patch(&state, &mut f).await;
    f.finish()?;
    let patch = patch.expect("fields were read");
    let blank = ProductDraft {
        name: String::new(),
        description: String::new(),
        price: Money::ZERO,
        discount: Percent::ZERO,
        category_id: None,
        images: Vec::new(),
        stock: 0,
        available: true,
        keywords: Vec::new(),
        sku: None,
    };
    let product = state.services.catalog.create_product(&principal, patch.apply(&blank), &ip.context()).await?;
    Ok(Reply::created(ProductView::from(&product), "Product created successfully"))
}

/// The version an update is based on: `__v` in the body, else `If-Match`.
fn expected_version(f: &mut Fields, headers: &HeaderMap) -> Option<i64> {
    if f.present("__v") {
        return f.optional_i64("__v");
    }
    let raw = headers.get(axum::http::header::IF_MATCH)?.to_str().ok()?;
    let tag = raw.trim().trim_start_matches("W/").trim_matches('"');
    match tag.parse::<i64>() {
        Ok(v) => Some(v),
        Err(_) => {
            f.error("If-Match", "must be the product's __v");
            None
        }
    }
}

/// Update a product (admin), by `PUT` or `PATCH` alike: only the fields sent change. A stale `__v` or `If-Match` gets 409.
#[utoipa::path(method(put, patch), path = "/products/{id}", tag = "catalog", security(("bearer" = [])), request_body = ProductRequest, params(("id" = String, Path)),
    responses((status = 200, body = Envelope<ProductView>), (status = 400, body = ErrorEnvelope), (status = 401, body = ErrorEnvelope),
        (status = 403, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope)))]
async fn update_product(
    State(state): State<AppState>,
    ip: ClientIp,
    AdminAuth(principal): AdminAuth,
    Path(id): Path<String>,
    headers: HeaderMap,
    JsonObject(body): JsonObject,
) -> ApiResult<Reply<ProductView>> {
    let id = product_id(&id)?;
    let mut f = Fields::new(body);
    let version = expected_version(&mut f, &headers);
    let patch = product_patch(&state, &mut f).await;
    f.finish()?;
    let patch = patch.expect("fields were read");
    let product = state.services.catalog.update_product(&principal, id, patch, version, &ip.context()).await?;
    Ok(Reply::ok(ProductView::from(&product), "Product updated successfully"))
}

/// Delete a product (admin). It leaves the catalog; past orders keep their lines.
#[utoipa::path(delete, path = "/products/{id}", tag = "catalog", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = Envelope<Option<String>>), (status = 401, body = ErrorEnvelope), (status = 403, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope)))]
async fn delete_product(
    State(state): State<AppState>,
    ip: ClientIp,
    AdminAuth(principal): AdminAuth,
    Path(id): Path<String>,
) -> ApiResult<Reply<Option<()>>> {
    state.services.catalog.delete_product(&principal, product_id(&id)?, &ip.context()).await?;
    Ok(Reply::message("Product deleted successfully"))
}

/// Every category: top-level ones first, then by name.
#[utoipa::path(get, path = "/categories", tag = "catalog", responses((status = 200, body = Envelope<Vec<CategoryView>>)))]
async fn list_categories(State(state): State<AppState>) -> ApiResult<Reply<Vec<CategoryView>>> {
    let categories = state.services.catalog.categories().await?;
    Ok(Reply::ok(categories.iter().map(CategoryView::from).collect(), "Categories fetched successfully"))
}

/// One category, by id or slug.
#[utoipa::path(get, path = "/categories/{id}", tag = "catalog", params(("id" = String, Path, description = "id or slug")),
    responses((status = 200, body = Envelope<CategoryView>), (status = 404, body = ErrorEnvelope)))]
async fn get_category(State(state): State<AppState>, Path(id): Path<String>) -> ApiResult<Reply<CategoryView>> {
    let category = state.services.catalog.category(&category_key(&id)?).await?;
    Ok(Reply::ok(CategoryView::from(&category), "Category fetched successfully"))
}

/// A category's products, with its sub-categories'; the same filters as `/products`.
#[utoipa::path(get, path = "/categories/{id}/products", tag = "catalog",
    params(("id" = String, Path, description = "id or slug"), ("page" = Option<u32>, Query), ("limit" = Option<u32>, Query), ("search" = Option<String>, Query),
        ("minPrice" = Option<String>, Query), ("maxPrice" = Option<String>, Query), ("minDiscount" = Option<f64>, Query), ("maxDiscount" = Option<f64>, Query),
        ("available" = Option<bool>, Query), ("inStock" = Option<bool>, Query), ("sort" = Option<String>, Query)),
    responses((status = 200, body = Envelope<Vec<ProductView>>), (status = 400, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope)))]
async fn list_category_products(
    State(state): State<AppState>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
    mut q: Params,
) -> ApiResult<CachedJson> {
    let key = category_key(&id)?;
    let catalog = state.services.catalog.clone();
    let cache_key = format!("categories/{id}/products?{}", raw.unwrap_or_default());
    let page = state
        .services
        .catalog
        .cached_page(cache_key, async move {
            let (filter, page) = listing(&mut q);
            q.finish()?;
            let listing = catalog.category_products(&key, filter, page).await?;
            products_reply(&listing.0, listing.1, page).to_bytes()
        })
        .await?;
    Ok(CachedJson(page))
}

#[derive(Deserialize, ToSchema)]
#[allow(dead_code)]
pub struct CategoryRequest {
    /// 1–100 characters. Required when creating.
    name: Option<String>,
    /// Lower-case letters, digits and hyphens; derived from the name when not given.
    slug: Option<String>,
    description: Option<String>,
    /// A top-level category's id or slug; `null` for none.
    parent: Option<String>,
    #[serde(rename = "__v")]
    version: Option<i64>,
}

struct CategoryFields {
    name: Option<String>,
    slug: Option<Slug>,
    description: Option<Option<String>>,
    parent: Option<Option<CategoryKey>>,
}

fn category_fields(f: &mut Fields) -> CategoryFields {
    let name = f.optional_str("name");
    let name = f.parse("name", name, |s| parse_name(s, 100));
    let slug = f.optional_str("slug");
    let slug = f.parse("slug", slug, Slug::parse);
    let description = match f.nullable_str("description") {
        Some(Some(d)) => f.parse("description", Some(d), parse_description).map(|d| Some(d).filter(|d| !d.is_empty())),
        Some(None) => Some(None),
        None => None,
    };
    let parent = match f.nullable_key("parent") {
        Some(Some(raw)) => CategoryKey::parse(&raw).map(Some).map_err(|e| f.error("parent", e)).ok(),
        Some(None) => Some(None),
        None => None,
    };
    CategoryFields { name, slug, description, parent }
}

/// Create a category (admin).
#[utoipa::path(post, path = "/categories", tag = "catalog", security(("bearer" = [])), request_body = CategoryRequest,
    responses((status = 201, body = Envelope<CategoryView>), (status = 400, body = ErrorEnvelope), (status = 401, body = ErrorEnvelope),
        (status = 403, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope)))]
async fn create_category(
    State(state): State<AppState>,
    ip: ClientIp,
    AdminAuth(principal): AdminAuth,
    JsonObject(body): JsonObject,
) -> ApiResult<Reply<CategoryView>> {
    let mut f = Fields::new(body);
    if !f.present("name") {
        f.error("name", "is required");
    }
    let c = category_fields(&mut f);
    f.finish()?;
    let input = CategoryInput {
        name: c.name.expect("name was required"),
        slug: c.slug,
        description: c.description.flatten(),
        parent: c.parent.flatten(),
    };
    let category = state.services.catalog.create_category(&principal, input, &ip.context()).await?;
    Ok(Reply::created(CategoryView::from(&category), "Category created successfully"))
}

/// Update a category (admin), by `PUT` or `PATCH` alike: only the fields sent change.
#[utoipa::path(method(put, patch), path = "/categories/{id}", tag = "catalog", security(("bearer" = [])), request_body = CategoryRequest, params(("id" = String, Path)),
    responses((status = 200, body = Envelope<CategoryView>), (status = 400, body = ErrorEnvelope), (status = 401, body = ErrorEnvelope),
        (status = 403, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope)))]
async fn update_category(
    State(state): State<AppState>,
    ip: ClientIp,
    AdminAuth(principal): AdminAuth,
    Path(id): Path<String>,
    headers: HeaderMap,
    JsonObject(body): JsonObject,
) -> ApiResult<Reply<CategoryView>> {
    let key = category_key(&id)?;
    let mut f = Fields::new(body);
    let version = expected_version(&mut f, &headers);
    let c = category_fields(&mut f);
    f.finish()?;
    let patch = CategoryPatch { name: c.name, slug: c.slug, description: c.description, parent: c.parent };
    let category = state.services.catalog.update_category(&principal, &key, patch, version, &ip.context()).await?;
    Ok(Reply::ok(CategoryView::from(&category), "Category updated successfully"))
}

/// Delete a category (admin). One that still has products or sub-categories: 409.
#[utoipa::path(delete, path = "/categories/{id}", tag = "catalog", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = Envelope<Option<String>>), (status = 401, body = ErrorEnvelope), (status = 403, body = ErrorEnvelope),
        (status = 404, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope)))]
async fn delete_category(
    State(state): State<AppState>,
    ip: ClientIp,
    AdminAuth(principal): AdminAuth,
    Path(id): Path<String>,
) -> ApiResult<Reply<Option<()>>> {
    state.services.catalog.delete_category(&principal, &category_key(&id)?, &ip.context()).await?;
    Ok(Reply::message("Category deleted successfully"))
}
