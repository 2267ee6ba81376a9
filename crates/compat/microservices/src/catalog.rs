//! Product Service (API1): `/product/` and `/category/`, read by anyone,
//! written by staff, over the native catalog service.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use emporium_api::AppState;
use emporium_api::extract::input::{Description, MoneyParam, Name, PercentParam, Stock};
use emporium_api::extract::{ClientIp, Optional, PathText, Required};
use emporium_api::{request_body, request_query};
use emporium_domain::catalog::{CategoryKey, ProductDraft, ProductFilter, ProductPatch, ProductSort, SearchQuery};
use emporium_domain::ids::{CategoryId, ProductId};
use emporium_domain::money::{Money, Percent};
use emporium_domain::paging::{MAX_LIMIT, Page};
use emporium_service::catalog::{CategoryInput, CategoryPatch};
use emporium_store::{CategoryRecord, ProductRecord};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{DrfDetail, DrfError, DrfFieldErrors, DrfResult};
use crate::extract::{DrfJson, DrfQuery, PyBool, Staff};
use crate::{TAG, drf};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(drf(routes!(list_products, create_product)))
        .routes(drf(routes!(get_product, replace_product, delete_product)))
        .routes(drf(routes!(list_categories, create_category)))
        .routes(drf(routes!(get_category, replace_category, delete_category)))
        .routes(drf(routes!(replace_category_unslashed, delete_category_unslashed)))
        .routes(drf(routes!(category_products)))
}

/// A product as DRF's serializer renders it: integer ids, decimals as strings.
#[derive(Serialize, ToSchema)]
pub struct DrfProductView {
    pub id: i64,
    /// The price less the discount, e.g. `"90.00"`.
    pub sell_price: String,
    pub name: String,
    /// The first image, or `null`.
    pub image: Option<String>,
    pub description: String,
    /// e.g. `"100.00"`.
    pub price: String,
    pub available: bool,
    /// ISO 8601.
    pub created: String,
    pub updated: String,
    /// Percent, e.g. `"10.00"`.
    pub discount: String,
    /// The category's id, or `null`.
    pub category: Option<i64>,
}

/// A percentage as DRF renders a `DecimalField(decimal_places=2)`.
pub fn percent(p: Percent) -> String {
    Money::from_minor(p.basis_points()).to_string()
}

impl From<&ProductRecord> for DrfProductView {
    fn from(p: &ProductRecord) -> Self {
        Self {
            id: p.id.get(),
            sell_price: p.sell_price.to_string(),
            name: p.draft.name.clone(),
            image: p.draft.images.first().cloned(),
            description: p.draft.description.clone(),
            price: p.draft.price.to_string(),
            available: p.draft.available,
            created: p.created_at.to_rfc3339(),
            updated: p.updated_at.to_rfc3339(),
            discount: percent(p.draft.discount),
            category: p.category.as_ref().map(|c| c.id.get()),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct DrfCategoryView {
    pub id: i64,
    pub name: String,
}

impl From<&CategoryRecord> for DrfCategoryView {
    fn from(c: &CategoryRecord) -> Self {
        Self { id: c.id.get(), name: c.name.clone() }
    }
}

request_query! {
    /// The document's filters, all combinable.
    pub struct ProductQuery {
        /// Full-text search over the product's name (and description).
        "search" => search: Optional<SearchQuery>,
        /// Lowest selling price.
        "price_min" => price_min: Optional<MoneyParam>,
        /// Highest selling price.
        "price_max" => price_max: Optional<MoneyParam>,
        /// Lowest discount, in percent.
        "discount_min" => discount_min: Optional<PercentParam>,
        /// Highest discount, in percent.
        "discount_max" => discount_max: Optional<PercentParam>,
        /// `True` or `False`.
        "available" => available: Optional<PyBool>,
    }
}

impl ProductQuery {
    fn filter(self) -> ProductFilter {
        let search = self.search.get();
        ProductFilter {
            sort: Some(if search.is_some() { ProductSort::Relevance } else { ProductSort::Oldest }),
            search,
            min_price: self.price_min.get().map(|m| m.0),
            max_price: self.price_max.get().map(|m| m.0),
            min_discount: self.discount_min.get().map(|p| p.0),
            max_discount: self.discount_max.get().map(|p| p.0),
            available: self.available.get().map(|b| b.0),
            ..ProductFilter::default()
        }
    }
}

/// DRF's unpaginated list: every match, read from the service a page at a time.
async fn every_product(
    state: &AppState,
    category: Option<&CategoryKey>,
    filter: ProductFilter,
) -> DrfResult<Vec<DrfProductView>> {
    let mut out = Vec::new();
    for page in 1.. {
        let page = Page::new(Some(page), Some(i64::from(MAX_LIMIT)), MAX_LIMIT).map_err(|_| DrfError::not_found())?;
        let listing = match category {
            Some(key) => state.services.catalog.category_products(key, filter.clone(), page).await?,
            None => state.services.catalog.products(None, filter.clone(), page).await?,
        };
        out.extend(listing.0.iter().map(|p| DrfProductView::from(&**p)));
        if listing.0.len() < MAX_LIMIT as usize || out.len() as u64 >= listing.1 {
            break;
        }
    }
    Ok(out)
}

fn product_id(raw: &str) -> DrfResult<ProductId> {
    raw.parse().map_err(|_| DrfError::not_found())
}

fn category_key(raw: &str) -> DrfResult<CategoryKey> {
    raw.parse::<CategoryId>().map(CategoryKey::Id).map_err(|_| DrfError::not_found())
}

/// All products, filtered.
#[utoipa::path(get, path = "/api/v1/product/", tag = TAG, params(ProductQuery),
    responses((status = 200, body = Vec<DrfProductView>), (status = 400, body = DrfFieldErrors)))]
async fn list_products(State(state): State<AppState>, DrfQuery(q): DrfQuery<ProductQuery>) -> DrfResult<Response> {
    Ok(axum::Json(every_product(&state, None, q.filter()).await?).into_response())
}

/// One product.
#[utoipa::path(get, path = "/api/v1/product/{pk}/", tag = TAG, params(("pk" = i64, Path)),
    responses((status = 200, body = DrfProductView), (status = 404, body = DrfDetail)))]
async fn get_product(State(state): State<AppState>, PathText(pk): PathText) -> DrfResult<Response> {
    let product = state.services.catalog.product(product_id(&pk)?).await.map_err(|_| DrfError::not_found())?;
    Ok(axum::Json(DrfProductView::from(product.as_ref())).into_response())
}

request_body! {
    /// A product as staff write it. `stock` is not in the document: without
    /// it a product has none, and cannot be ordered (nothing is oversold).
    pub struct DrfProductRequest {
        "name" => name: Required<Name<200>>,
        "price" => price: Required<Money>,
        "description" => description: Optional<Description>,
        /// Percent, 0 to 100.
        "discount" => discount: Optional<Percent>,
        "available" => available: Optional<bool>,
        /// A category id.
        "category" => category: Optional<emporium_api::extract::input::Int<1, 999_999_999_999>>,
        /// An image URL.
        "image" => image: Optional<emporium_api::extract::input::Line<2048>>,
        "stock" => stock: Optional<Stock>,
    }
}

async fn draft_parts(
    state: &AppState,
    body: &DrfProductRequest,
) -> DrfResult<(Option<CategoryId>, Option<Vec<String>>)> {
    let category = match &body.category.0 {
        Some(n) => {
            let id = CategoryId::new(n.0);
            if state.services.catalog.find_category(&CategoryKey::Id(id)).await?.is_none() {
                return Err(DrfError::field("category", "Invalid pk - object does not exist."));
            }
            Some(id)
        }
        None => None,
    };
    let images = match &body.image.0 {
        Some(url) => {
            let url = emporium_domain::catalog::parse_image_url(&url.0)
                .map_err(|_| DrfError::field("image", "Enter a valid URL."))?;
            Some(vec![url])
        }
        None => None,
    };
    Ok((category, images))
}

/// Create a product (staff).
#[utoipa::path(post, path = "/api/v1/product/", tag = TAG, request_body = DrfProductRequest, security(("bearer" = [])),
    responses((status = 201, body = DrfProductView), (status = 400, body = DrfFieldErrors), (status = 401, body = DrfDetail), (status = 403, body = DrfDetail)))]
async fn create_product(
    State(state): State<AppState>,
    ip: ClientIp,
    Staff(principal): Staff,
    DrfJson(body): DrfJson<DrfProductRequest>,
) -> DrfResult<Response> {
    let (category_id, images) = draft_parts(&state, &body).await?;
    let draft = ProductDraft {
        name: body.name.get().0,
        description: body.description.get().map(|d| d.0).unwrap_or_default(),
        price: body.price.get(),
        discount: body.discount.get().unwrap_or(Percent::ZERO),
        category_id,
        images: images.unwrap_or_default(),
        stock: body.stock.get().map_or(0, |s| s.0),
        available: body.available.get().unwrap_or(true),
        keywords: Vec::new(),
        sku: None,
    };
    let product = state.services.catalog.create_product(&principal, draft, &ip.context()).await?;
    Ok((StatusCode::CREATED, axum::Json(DrfProductView::from(&product))).into_response())
}

/// Replace a product (staff). Members left out keep their values.
#[utoipa::path(put, path = "/api/v1/product/{pk}/", tag = TAG, request_body = DrfProductRequest, params(("pk" = i64, Path)),
    security(("bearer" = [])),
    responses((status = 200, body = DrfProductView), (status = 400, body = DrfFieldErrors), (status = 401, body = DrfDetail),
        (status = 403, body = DrfDetail), (status = 404, body = DrfDetail)))]
async fn replace_product(
    State(state): State<AppState>,
    ip: ClientIp,
    Staff(principal): Staff,
    PathText(pk): PathText,
    DrfJson(body): DrfJson<DrfProductRequest>,
) -> DrfResult<Response> {
    let id = product_id(&pk)?;
    let (category_id, images) = draft_parts(&state, &body).await?;
    let patch = ProductPatch {
        name: Some(body.name.get().0),
        description: body.description.get().map(|d| d.0),
        price: Some(body.price.get()),
        discount: body.discount.get(),
        category_id: category_id.map(Some),
        images,
        stock: body.stock.get().map(|s| s.0),
        available: body.available.get(),
        ..ProductPatch::default()
    };
    let product = state.services.catalog.update_product(&principal, id, patch, None, &ip.context()).await?;
    Ok(axum::Json(DrfProductView::from(&product)).into_response())
}

/// Delete a product (staff): 204.
#[utoipa::path(delete, path = "/api/v1/product/{pk}/", tag = TAG, params(("pk" = i64, Path)), security(("bearer" = [])),
    responses((status = 204), (status = 401, body = DrfDetail), (status = 403, body = DrfDetail), (status = 404, body = DrfDetail)))]
async fn delete_product(
    State(state): State<AppState>,
    ip: ClientIp,
    Staff(principal): Staff,
    PathText(pk): PathText,
) -> DrfResult<Response> {
    state.services.catalog.delete_product(&principal, product_id(&pk)?, &ip.context()).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// All categories.
#[utoipa::path(get, path = "/api/v1/category/", tag = TAG, responses((status = 200, body = Vec<DrfCategoryView>)))]
async fn list_categories(State(state): State<AppState>) -> DrfResult<Response> {
    let all = state.services.catalog.categories().await?;
    Ok(axum::Json(all.iter().map(DrfCategoryView::from).collect::<Vec<_>>()).into_response())
}

/// One category.
#[utoipa::path(get, path = "/api/v1/category/{pk}/", tag = TAG, params(("pk" = i64, Path)),
    responses((status = 200, body = DrfCategoryView), (status = 404, body = DrfDetail)))]
async fn get_category(State(state): State<AppState>, PathText(pk): PathText) -> DrfResult<Response> {
    let category = state.services.catalog.find_category(&category_key(&pk)?).await?.ok_or_else(DrfError::not_found)?;
    Ok(axum::Json(DrfCategoryView::from(&category)).into_response())
}

/// A category's products (and its sub-categories'), with the product filters.
#[utoipa::path(get, path = "/api/v1/category/{pk}/products/", tag = TAG, params(("pk" = i64, Path), ProductQuery),
    responses((status = 200, body = Vec<DrfProductView>), (status = 400, body = DrfFieldErrors), (status = 404, body = DrfDetail)))]
async fn category_products(
    State(state): State<AppState>,
    PathText(pk): PathText,
    DrfQuery(q): DrfQuery<ProductQuery>,
) -> DrfResult<Response> {
    let key = category_key(&pk)?;
    state.services.catalog.find_category(&key).await?.ok_or_else(DrfError::not_found)?;
    Ok(axum::Json(every_product(&state, Some(&key), q.filter()).await?).into_response())
}

request_body! {
    /// A category as staff write it.
    pub struct DrfCategoryRequest {
        "name" => name: Required<Name<100>>,
    }
}

/// Create a category (staff); its slug is made from the name.
#[utoipa::path(post, path = "/api/v1/category/", tag = TAG, request_body = DrfCategoryRequest, security(("bearer" = [])),
    responses((status = 201, body = DrfCategoryView), (status = 400, body = DrfFieldErrors), (status = 401, body = DrfDetail),
        (status = 403, body = DrfDetail), (status = 409, body = DrfDetail)))]
async fn create_category(
    State(state): State<AppState>,
    ip: ClientIp,
    Staff(principal): Staff,
    DrfJson(body): DrfJson<DrfCategoryRequest>,
) -> DrfResult<Response> {
    let input = CategoryInput { name: body.name.get().0, slug: None, description: None, parent: None };
    let category = state.services.catalog.create_category(&principal, input, &ip.context()).await?;
    Ok((StatusCode::CREATED, axum::Json(DrfCategoryView::from(&category))).into_response())
}

async fn rename_category(
    state: AppState,
    ip: ClientIp,
    principal: emporium_service::Principal,
    pk: String,
    body: DrfCategoryRequest,
) -> DrfResult<Response> {
    let patch = CategoryPatch { name: Some(body.name.get().0), ..CategoryPatch::default() };
    let category =
        state.services.catalog.update_category(&principal, &category_key(&pk)?, patch, None, &ip.context()).await?;
    Ok(axum::Json(DrfCategoryView::from(&category)).into_response())
}

async fn remove_category(
    state: AppState,
    ip: ClientIp,
    principal: emporium_service::Principal,
    pk: String,
) -> DrfResult<Response> {
    state.services.catalog.delete_category(&principal, &category_key(&pk)?, &ip.context()).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Rename a category (staff).
#[utoipa::path(put, path = "/api/v1/category/{pk}/", tag = TAG, request_body = DrfCategoryRequest, params(("pk" = i64, Path)),
    security(("bearer" = [])),
    responses((status = 200, body = DrfCategoryView), (status = 400, body = DrfFieldErrors), (status = 401, body = DrfDetail),
        (status = 403, body = DrfDetail), (status = 404, body = DrfDetail)))]
async fn replace_category(
    State(state): State<AppState>,
    ip: ClientIp,
    Staff(principal): Staff,
    PathText(pk): PathText,
    DrfJson(body): DrfJson<DrfCategoryRequest>,
) -> DrfResult<Response> {
    rename_category(state, ip, principal, pk, body).await
}

/// Delete a category (staff): 204; one that still holds products is kept (409).
#[utoipa::path(delete, path = "/api/v1/category/{pk}/", tag = TAG, params(("pk" = i64, Path)), security(("bearer" = [])),
    responses((status = 204), (status = 401, body = DrfDetail), (status = 403, body = DrfDetail), (status = 404, body = DrfDetail),
        (status = 409, body = DrfDetail)))]
async fn delete_category(
    State(state): State<AppState>,
    ip: ClientIp,
    Staff(principal): Staff,
    PathText(pk): PathText,
) -> DrfResult<Response> {
    remove_category(state, ip, principal, pk).await
}

/// Rename a category (staff), as the document spells the path (no trailing slash).
#[utoipa::path(put, path = "/api/v1/category/{pk}", tag = TAG, request_body = DrfCategoryRequest, params(("pk" = i64, Path)),
    security(("bearer" = [])),
    responses((status = 200, body = DrfCategoryView), (status = 400, body = DrfFieldErrors), (status = 401, body = DrfDetail),
        (status = 403, body = DrfDetail), (status = 404, body = DrfDetail)))]
async fn replace_category_unslashed(
    State(state): State<AppState>,
    ip: ClientIp,
    Staff(principal): Staff,
    PathText(pk): PathText,
    DrfJson(body): DrfJson<DrfCategoryRequest>,
) -> DrfResult<Response> {
    rename_category(state, ip, principal, pk, body).await
}

/// Delete a category (staff), as the document spells the path.
#[utoipa::path(delete, path = "/api/v1/category/{pk}", tag = TAG, params(("pk" = i64, Path)), security(("bearer" = [])),
    responses((status = 204), (status = 401, body = DrfDetail), (status = 403, body = DrfDetail), (status = 404, body = DrfDetail),
        (status = 409, body = DrfDetail)))]
async fn delete_category_unslashed(
    State(state): State<AppState>,
    ip: ClientIp,
    Staff(principal): Staff,
    PathText(pk): PathText,
) -> DrfResult<Response> {
    remove_category(state, ip, principal, pk).await
}
