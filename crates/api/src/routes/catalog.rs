//! `/products` and `/categories`: read by anyone, written by admins.

use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use emporium_domain::Error;
use emporium_domain::catalog::{
    CategoryKey, ProductDraft, ProductFilter, ProductPatch, ProductSort, SearchQuery, Slug,
};
use emporium_domain::ids::ProductId;
use emporium_domain::money::{Money, Percent};
use emporium_domain::paging::Page;
use emporium_service::catalog::{CategoryInput, CategoryPatch};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::envelope::{CachedJson, Envelope, ListMeta, Reply};
use crate::error::{ApiResult, ErrorEnvelope};
use crate::extract::input::{
    CategoryRef, Description, Images, Keywords, MoneyParam, Name, PageLimit, PageNumber, PercentParam, Sku, Stock,
    Version,
};
use crate::extract::{AdminAuth, ClientIp, IdPath, Json, Optional, Patch, PathText, Query, Required};
use crate::routes::admin::page;
use crate::views::{CategoryView, ProductView};
use crate::{request_body, request_query};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_products, create_product))
        .routes(routes!(get_product, replace_product, update_product, delete_product))
        .routes(routes!(list_categories, create_category))
        .routes(routes!(get_category, replace_category, update_category, delete_category))
        .routes(routes!(list_category_products))
}

fn product_id(raw: &str) -> Result<ProductId, Error> {
    raw.parse().map_err(|_| Error::NotFound("Product not found".into()))
}

fn category_key(raw: &str) -> Result<CategoryKey, Error> {
    CategoryKey::parse(raw).map_err(|_| Error::NotFound("Category not found".into()))
}

/// The filters and paging every product listing takes, as
/// [`request_query!`] members (the same in both listings).
macro_rules! listing_query {
    ($(#[$meta:meta])* $name:ident { $($extra:tt)* }) => {
        request_query! {
            $(#[$meta])*
            pub struct $name {
                /// From 1.
                "page" => page: Optional<PageNumber>,
                /// 1–100, default 10.
                "limit" => limit: Optional<PageLimit>,
                /// Full text over name, keywords, description; ranked; the last word matches as a prefix.
                "search" => search: Optional<SearchQuery>,
                /// On the selling price.
                "minPrice" => min_price: Optional<MoneyParam>,
                /// On the selling price. A range that holds nothing matches nothing.
                "maxPrice" => max_price: Optional<MoneyParam>,
                "minDiscount" => min_discount: Optional<PercentParam>,
                "maxDiscount" => max_discount: Optional<PercentParam>,
                "available" => available: Optional<bool>,
                "inStock" => in_stock: Optional<bool>,
                /// `relevance` needs `search`; without one it is newest first.
                "sort" => sort: Optional<ProductSort>,
                $($extra)*
            }
        }

        impl $name {
            fn listing(self) -> (ProductFilter, Page) {
                let filter = ProductFilter {
                    search: self.search.get(),
                    category: None,
                    min_price: self.min_price.get().map(|m| m.0),
                    max_price: self.max_price.get().map(|m| m.0),
                    min_discount: self.min_discount.get().map(|p| p.0),
                    max_discount: self.max_discount.get().map(|p| p.0),
                    available: self.available.get(),
                    in_stock: self.in_stock.get(),
                    sort: self.sort.get(),
                };
                (filter, page(self.page, self.limit, 10))
            }
        }
    };
}

listing_query!(ProductQuery {
    /// A category id or slug (includes its sub-categories).
    "category" => category: Optional<CategoryKey>,
});

listing_query!(CategoryProductQuery {});

fn products_reply(listing: &emporium_service::read_model::ProductListing, page: Page) -> Reply<Vec<ProductView>> {
    Reply::list(
        listing.products.iter().map(|p| ProductView::from(&**p)).collect(),
        ListMeta::new(page, listing.total).with_facets(&listing.facets),
        "Products fetched successfully",
    )
}

/// List products: full-text search, filters and sorting, all combinable.
#[utoipa::path(get, path = "/products", tag = "catalog", params(ProductQuery),
    responses((status = 200, body = Envelope<Vec<ProductView>>), (status = 400, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope)))]
async fn list_products(
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
    Query(q): Query<ProductQuery>,
) -> ApiResult<CachedJson> {
    let catalog = state.services.catalog.clone();
    let key = format!("products?{}", raw.unwrap_or_default());
    let page = state
        .services
        .catalog
        .cached_page(key, async move {
            let category = q.category.clone().get();
            let (filter, page) = q.listing();
            let listing = catalog.product_listing(category.as_ref(), filter, page).await?;
            products_reply(&listing, page).to_bytes()
        })
        .await?;
    Ok(CachedJson(page))
}

/// One product.
#[utoipa::path(get, path = "/products/{id}", tag = "catalog", params(IdPath),
    responses((status = 200, body = Envelope<ProductView>), (status = 400, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope)))]
async fn get_product(State(state): State<AppState>, PathText(id): PathText) -> ApiResult<CachedJson> {
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

/// A product name: 1–200 characters.
type ProductName = Name<200>;

request_body! {
    /// A product's fields. Creating requires `name` and `price`; an update
    /// changes only the fields sent.
    pub struct ProductRequest {
        "name" => name: Optional<ProductName>,
        "description" => description: Optional<Description>,
        "price" => price: Optional<Money>,
        "discount" => discount: Optional<Percent>,
        /// Category id or slug; `null` for none.
        "category" => category: Patch<CategoryRef>,
        "images" => images: Optional<Images>,
        "stock" => stock: Optional<Stock>,
        "available" => available: Optional<bool>,
        "keywords" => keywords: Optional<Keywords>,
        /// Unique among live products; `null` for none.
        "sku" => sku: Patch<Sku>,
        /// On update: the version the change is based on (or send `If-Match`); a stale one gets 409.
        "__v" => version: Optional<Version>,
    }
}

request_body! {
    /// A new product: `name` and `price` are required.
    pub struct NewProductRequest {
        "name" => name: Required<ProductName>,
        "description" => description: Optional<Description>,
        "price" => price: Required<Money>,
        "discount" => discount: Optional<Percent>,
        /// Category id or slug; `null` for none.
        "category" => category: Patch<CategoryRef>,
        "images" => images: Optional<Images>,
        "stock" => stock: Optional<Stock>,
        "available" => available: Optional<bool>,
        "keywords" => keywords: Optional<Keywords>,
        /// Unique among live products; `null` for none.
        "sku" => sku: Patch<Sku>,
    }
}

/// Resolves a category named in a body. One that names nothing is a 409: the
/// request is well formed, but the catalog holds no such category (a 404
/// would say the product itself is missing).
async fn category_id(
    state: &AppState,
    category: Patch<CategoryRef>,
) -> Result<Option<Option<emporium_domain::ids::CategoryId>>, Error> {
    match category.get() {
        None => Ok(None),
        Some(None) => Ok(Some(None)),
        Some(Some(CategoryRef(key))) => match state.services.catalog.find_category(&key).await? {
            Some(c) => Ok(Some(Some(c.id))),
            None => Err(Error::Conflict("The category does not exist".into())),
        },
    }
}

impl ProductRequest {
    async fn patch(self, state: &AppState) -> Result<ProductPatch, Error> {
        Ok(ProductPatch {
            name: self.name.get().map(|n| n.0),
            description: self.description.get().map(|d| d.0),
            price: self.price.get(),
            discount: self.discount.get(),
            category_id: category_id(state, self.category).await?,
            images: self.images.get().map(|i| i.0),
            stock: self.stock.get().map(|s| s.0),
            available: self.available.get(),
            keywords: self.keywords.get().map(|k| k.0),
            sku: self.sku.get().map(|s| s.map(|s| s.0)),
        })
    }
}

/// Create a product (admin).
#[utoipa::path(post, path = "/products", tag = "catalog", security(("bearer" = [])), request_body = NewProductRequest,
    responses((status = 201, body = Envelope<ProductView>), (status = 400, body = ErrorEnvelope), (status = 401, body = ErrorEnvelope),
        (status = 403, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope)))]
async fn create_product(
    State(state): State<AppState>,
    ip: ClientIp,
    AdminAuth(principal): AdminAuth,
    Json(body): Json<NewProductRequest>,
) -> ApiResult<Reply<ProductView>> {
    let draft = ProductDraft {
        name: body.name.get().0,
        description: body.description.get().map(|d| d.0).unwrap_or_default(),
        price: body.price.get(),
        discount: body.discount.get().unwrap_or(Percent::ZERO),
        category_id: category_id(&state, body.category).await?.flatten(),
        images: body.images.get().map(|i| i.0).unwrap_or_default(),
        stock: body.stock.get().map_or(0, |s| s.0),
        available: body.available.get().unwrap_or(true),
        keywords: body.keywords.get().map(|k| k.0).unwrap_or_default(),
        sku: body.sku.get().flatten().map(|s| s.0),
    };
    let product = state.services.catalog.create_product(&principal, draft, &ip.context()).await?;
    Ok(Reply::created(ProductView::from(&product), "Product created successfully"))
}

/// The version an update is based on: `__v` in the body, else `If-Match`.
fn expected_version(version: Optional<Version>, headers: &HeaderMap) -> Result<Option<i64>, Error> {
    if let Some(Version(v)) = version.get() {
        return Ok(Some(v));
    }
    let Some(raw) = headers.get(axum::http::header::IF_MATCH) else { return Ok(None) };
    let tag = raw.to_str().unwrap_or("").trim().trim_start_matches("W/").trim_matches('"');
    tag.parse::<i64>().map(Some).map_err(|_| Error::field("If-Match", "must be the resource's __v"))
}

async fn apply_product_update(
    state: AppState,
    ip: ClientIp,
    principal: emporium_service::Principal,
    id: String,
    headers: HeaderMap,
    body: ProductRequest,
) -> ApiResult<Reply<ProductView>> {
    let id = product_id(&id)?;
    let version = expected_version(body.version.clone(), &headers)?;
    let patch = body.patch(&state).await?;
    let product = state.services.catalog.update_product(&principal, id, patch, version, &ip.context()).await?;
    Ok(Reply::ok(ProductView::from(&product), "Product updated successfully"))
}

/// Update a product (admin): only the fields sent change, as with `PATCH`
/// (rest-v1.md's `PUT` is a partial update). A stale `__v` or `If-Match` gets 409.
#[utoipa::path(put, path = "/products/{id}", tag = "catalog", security(("bearer" = [])), request_body = ProductRequest, params(IdPath),
    responses((status = 200, body = Envelope<ProductView>), (status = 400, body = ErrorEnvelope), (status = 401, body = ErrorEnvelope),
        (status = 403, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope)))]
async fn replace_product(
    State(state): State<AppState>,
    ip: ClientIp,
    AdminAuth(principal): AdminAuth,
    PathText(id): PathText,
    headers: HeaderMap,
    Json(body): Json<ProductRequest>,
) -> ApiResult<Reply<ProductView>> {
    apply_product_update(state, ip, principal, id, headers, body).await
}

/// Update a product (admin): only the fields sent change. A stale `__v` or `If-Match` gets 409.
#[utoipa::path(patch, path = "/products/{id}", tag = "catalog", security(("bearer" = [])), request_body = ProductRequest, params(IdPath),
    responses((status = 200, body = Envelope<ProductView>), (status = 400, body = ErrorEnvelope), (status = 401, body = ErrorEnvelope),
        (status = 403, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope)))]
async fn update_product(
    State(state): State<AppState>,
    ip: ClientIp,
    AdminAuth(principal): AdminAuth,
    PathText(id): PathText,
    headers: HeaderMap,
    Json(body): Json<ProductRequest>,
) -> ApiResult<Reply<ProductView>> {
    apply_product_update(state, ip, principal, id, headers, body).await
}

/// Delete a product (admin). It leaves the catalog; past orders keep their lines.
#[utoipa::path(delete, path = "/products/{id}", tag = "catalog", security(("bearer" = [])), params(IdPath),
    responses((status = 200, body = Envelope<Option<String>>), (status = 400, body = ErrorEnvelope), (status = 401, body = ErrorEnvelope),
        (status = 403, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope)))]
async fn delete_product(
    State(state): State<AppState>,
    ip: ClientIp,
    AdminAuth(principal): AdminAuth,
    PathText(id): PathText,
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
#[utoipa::path(get, path = "/categories/{id}", tag = "catalog", params(IdPath),
    responses((status = 200, body = Envelope<CategoryView>), (status = 400, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope)))]
async fn get_category(State(state): State<AppState>, PathText(id): PathText) -> ApiResult<Reply<CategoryView>> {
    let category = state.services.catalog.category(&category_key(&id)?).await?;
    Ok(Reply::ok(CategoryView::from(&category), "Category fetched successfully"))
}

/// A category's products, with its sub-categories'; the same filters as `/products`.
#[utoipa::path(get, path = "/categories/{id}/products", tag = "catalog", params(IdPath, CategoryProductQuery),
    responses((status = 200, body = Envelope<Vec<ProductView>>), (status = 400, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope)))]
async fn list_category_products(
    State(state): State<AppState>,
    PathText(id): PathText,
    RawQuery(raw): RawQuery,
    Query(q): Query<CategoryProductQuery>,
) -> ApiResult<CachedJson> {
    let key = category_key(&id)?;
    let catalog = state.services.catalog.clone();
    let cache_key = format!("categories/{id}/products?{}", raw.unwrap_or_default());
    let page = state
        .services
        .catalog
        .cached_page(cache_key, async move {
            let (filter, page) = q.listing();
            let listing = catalog.category_product_listing(&key, filter, page).await?;
            products_reply(&listing, page).to_bytes()
        })
        .await?;
    Ok(CachedJson(page))
}

/// A category name: 1–100 characters.
type CategoryName = Name<100>;

request_body! {
    /// A category's fields to change; the rest stay.
    pub struct CategoryRequest {
        "name" => name: Optional<CategoryName>,
        /// Lower-case letters, digits and single hyphens, with a letter.
        "slug" => slug: Optional<Slug>,
        /// `null` clears it.
        "description" => description: Patch<Description>,
        /// A top-level category's id or slug; `null` for none.
        "parent" => parent: Patch<CategoryRef>,
        /// The version the change is based on (or send `If-Match`); a stale one gets 409.
        "__v" => version: Optional<Version>,
    }
}

request_body! {
    /// A new category: `name` is required.
    pub struct NewCategoryRequest {
        "name" => name: Required<CategoryName>,
        /// Derived from the name when not given.
        "slug" => slug: Optional<Slug>,
        "description" => description: Optional<Description>,
        /// A top-level category's id or slug; `null` for none.
        "parent" => parent: Optional<CategoryRef>,
    }
}

/// Create a category (admin).
#[utoipa::path(post, path = "/categories", tag = "catalog", security(("bearer" = [])), request_body = NewCategoryRequest,
    responses((status = 201, body = Envelope<CategoryView>), (status = 400, body = ErrorEnvelope), (status = 401, body = ErrorEnvelope),
        (status = 403, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope)))]
async fn create_category(
    State(state): State<AppState>,
    ip: ClientIp,
    AdminAuth(principal): AdminAuth,
    Json(body): Json<NewCategoryRequest>,
) -> ApiResult<Reply<CategoryView>> {
    let input = CategoryInput {
        name: body.name.get().0,
        slug: body.slug.get(),
        description: body.description.get().map(|d| d.0).filter(|d| !d.is_empty()),
        parent: body.parent.get().map(|p| p.0),
    };
    let category = state.services.catalog.create_category(&principal, input, &ip.context()).await?;
    Ok(Reply::created(CategoryView::from(&category), "Category created successfully"))
}

async fn apply_category_update(
    state: AppState,
    ip: ClientIp,
    principal: emporium_service::Principal,
    id: String,
    headers: HeaderMap,
    body: CategoryRequest,
) -> ApiResult<Reply<CategoryView>> {
    let key = category_key(&id)?;
    let version = expected_version(body.version, &headers)?;
    let patch = CategoryPatch {
        name: body.name.get().map(|n| n.0),
        slug: body.slug.get(),
        description: body.description.get().map(|d| d.map(|d| d.0).filter(|d| !d.is_empty())),
        parent: body.parent.get().map(|p| p.map(|p| p.0)),
    };
    let category = state.services.catalog.update_category(&principal, &key, patch, version, &ip.context()).await?;
    Ok(Reply::ok(CategoryView::from(&category), "Category updated successfully"))
}

/// Update a category (admin): only the fields sent change, as with `PATCH`.
#[utoipa::path(put, path = "/categories/{id}", tag = "catalog", security(("bearer" = [])), request_body = CategoryRequest, params(IdPath),
    responses((status = 200, body = Envelope<CategoryView>), (status = 400, body = ErrorEnvelope), (status = 401, body = ErrorEnvelope),
        (status = 403, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope)))]
async fn replace_category(
    State(state): State<AppState>,
    ip: ClientIp,
    AdminAuth(principal): AdminAuth,
    PathText(id): PathText,
    headers: HeaderMap,
    Json(body): Json<CategoryRequest>,
) -> ApiResult<Reply<CategoryView>> {
    apply_category_update(state, ip, principal, id, headers, body).await
}

/// Update a category (admin): only the fields sent change.
#[utoipa::path(patch, path = "/categories/{id}", tag = "catalog", security(("bearer" = [])), request_body = CategoryRequest, params(IdPath),
    responses((status = 200, body = Envelope<CategoryView>), (status = 400, body = ErrorEnvelope), (status = 401, body = ErrorEnvelope),
        (status = 403, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope)))]
async fn update_category(
    State(state): State<AppState>,
    ip: ClientIp,
    AdminAuth(principal): AdminAuth,
    PathText(id): PathText,
    headers: HeaderMap,
    Json(body): Json<CategoryRequest>,
) -> ApiResult<Reply<CategoryView>> {
    apply_category_update(state, ip, principal, id, headers, body).await
}

/// Delete a category (admin). One that still has products or sub-categories: 409.
#[utoipa::path(delete, path = "/categories/{id}", tag = "catalog", security(("bearer" = [])), params(IdPath),
    responses((status = 200, body = Envelope<Option<String>>), (status = 400, body = ErrorEnvelope), (status = 401, body = ErrorEnvelope),
        (status = 403, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope)))]
async fn delete_category(
    State(state): State<AppState>,
    ip: ClientIp,
    AdminAuth(principal): AdminAuth,
    PathText(id): PathText,
) -> ApiResult<Reply<Option<()>>> {
    state.services.catalog.delete_category(&principal, &category_key(&id)?, &ip.context()).await?;
    Ok(Reply::message("Category deleted successfully"))
}
