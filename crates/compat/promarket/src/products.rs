//! `/products`: the native catalog, one image and a category *name* per product.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use emporium_api::AppState;
use emporium_api::error::ApiError;
use emporium_api::extract::input::{Description, Input, Line, Name, PageLimit, PageNumber, Stock, Version};
use emporium_api::extract::{AdminAuth, ClientIp, JsonObject, Optional, PathText, Query, Required};
use emporium_api::{request_body, request_query};
use emporium_domain::Error;
use emporium_domain::catalog::{CategoryKey, ProductDraft, ProductFilter, ProductPatch, Slug, parse_image_url};
use emporium_domain::ids::{CategoryId, ProductId};
use emporium_domain::money::{Money, Percent};
use emporium_domain::paging::Page;
use emporium_service::Principal;
use emporium_service::catalog::CategoryInput;
use emporium_store::ProductRecord;
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};

use crate::auth::read;
use crate::error::{NestError, PromarketResult};

/// A product's one image: an absolute http(s) URL (the native rule), or
/// `""` for none.
#[derive(Debug, Clone)]
pub struct Image(pub Option<String>);

impl Input for Image {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .max_length(Some(2048))
            .pattern(Some(r"^(|https?://[^\u0000-\u0020\u007f-\u009f]+)$"))
            .description(Some("An absolute http(s) URL, or empty for none"))
            .into()
    }
    fn from_json(value: Value) -> Result<Self, String> {
        let Value::String(raw) = value else { return Err("must be a string".into()) };
        if raw.chars().any(char::is_control) {
            return Err("must not contain control characters".into());
        }
        if raw.trim().is_empty() {
            return Ok(Image(None));
        }
        parse_image_url(&raw).map(|url| Image(Some(url)))
    }
}

type ProductName = Name<200>;
/// A category's name: it must hold a letter or digit, for its slug is made of them.
#[derive(Debug, Clone)]
pub struct CategoryName(pub String);

impl Input for CategoryName {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .max_length(Some(100))
            .pattern(Some(r"^[^\u0000-\u001f\u007f-\u009f]*[A-Za-z0-9][^\u0000-\u001f\u007f-\u009f]*$"))
            .into()
    }
    fn from_json(value: Value) -> Result<Self, String> {
        let name = Name::<100>::from_json(value)?.0;
        Slug::from_name(&name).map_err(|_| "must contain a letter or digit".to_string())?;
        Ok(CategoryName(name))
    }
}

request_body! {
    /// A new product. `category` is a name: an admin naming a new one creates it.
    pub struct PromarketNewProduct {
        "name" => name: Required<ProductName>,
        "description" => description: Optional<Description>,
        "price" => price: Required<Money>,
        "category" => category: Optional<CategoryName>,
        "image" => image: Optional<Image>,
        "stock" => stock: Optional<Stock>,
    }
}

request_body! {
    /// The fields to change; the rest stay.
    pub struct PromarketProductChanges {
        "name" => name: Optional<ProductName>,
        "description" => description: Optional<Description>,
        "price" => price: Optional<Money>,
        "category" => category: Optional<CategoryName>,
        /// Replaces the product's first image; `""` removes it.
        "image" => image: Optional<Image>,
        "stock" => stock: Optional<Stock>,
        /// The version the change is based on; a stale one gets 409.
        "__v" => version: Optional<Version>,
    }
}

request_query! {
    pub struct ProductQuery {
        /// A category name; one that names no category lists nothing.
        "category" => category: Optional<Line<100>>,
        /// 1–100, default 10.
        "limit" => limit: Optional<PageLimit>,
        /// From 1.
        "page" => page: Optional<PageNumber>,
    }
}

/// A product as the document shows it.
#[derive(Serialize, ToSchema)]
pub struct PromarketProduct {
    #[serde(rename = "_id")]
    id: String,
    name: String,
    description: String,
    /// In the store currency's major unit.
    #[schema(value_type = f64)]
    price: Money,
    /// The category's name; `""` for none.
    category: String,
    /// The first image; `""` for none.
    image: String,
    stock: i64,
    #[serde(rename = "__v")]
    version: i64,
}

impl From<&ProductRecord> for PromarketProduct {
    fn from(p: &ProductRecord) -> Self {
        Self {
            id: p.id.to_string(),
            name: p.draft.name.clone(),
            description: p.draft.description.clone(),
            price: p.draft.price,
            category: p.category.as_ref().map(|c| c.name.clone()).unwrap_or_default(),
            image: p.draft.images.first().cloned().unwrap_or_default(),
            stock: p.draft.stock,
            version: p.version,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct PromarketListQuery {
    /// The category as sent; `null` when none was.
    category: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct PromarketProductList {
    products: Vec<PromarketProduct>,
    query: PromarketListQuery,
}

pub(crate) fn product_id(raw: &str) -> Result<ProductId, Error> {
    raw.parse().map_err(|_| Error::NotFound("Product not found".into()))
}

/// The category a name stands for: found by its slug, or created (the
/// caller is an admin) when there is none yet.
async fn category_named(
    state: &AppState,
    principal: &Principal,
    name: String,
    ip: ClientIp,
) -> Result<CategoryId, Error> {
    let slug = Slug::from_name(&name).map_err(|e| Error::field("category", e))?;
    let key = CategoryKey::Slug(slug.as_str().to_string());
    if let Some(found) = state.services.catalog.find_category(&key).await? {
        return Ok(found.id);
    }
    let input = CategoryInput { name, slug: Some(slug), description: None, parent: None };
    match state.services.catalog.create_category(principal, input, &ip.context()).await {
        Ok(created) => Ok(created.id),
        // Another admin created it just now.
        Err(Error::Conflict(_)) => Ok(state.services.catalog.category(&key).await?.id),
        Err(e) => Err(e),
    }
}

/// Create a product (admin). Answers 201 with the product.
#[utoipa::path(post, path = "/products", tag = "promarket", security(("bearer" = [])), request_body = PromarketNewProduct,
    responses((status = 201, body = PromarketProduct), (status = 400, body = NestError), (status = 401, body = NestError),
        (status = 403, body = NestError), (status = 409, body = NestError)))]
pub async fn create_product(
    State(state): State<AppState>,
    ip: ClientIp,
    auth: Result<AdminAuth, ApiError>,
    body: Result<JsonObject, ApiError>,
) -> PromarketResult<impl IntoResponse> {
    let AdminAuth(principal) = auth?;
    let body: PromarketNewProduct = read(body)?;
    let category_id = match body.category.get() {
        Some(name) => Some(category_named(&state, &principal, name.0, ip).await?),
        None => None,
    };
    let draft = ProductDraft {
        name: body.name.get().0,
        description: body.description.get().map(|d| d.0).unwrap_or_default(),
        price: body.price.get(),
        discount: Percent::ZERO,
        category_id,
        images: body.image.get().and_then(|i| i.0).into_iter().collect(),
        stock: body.stock.get().map_or(0, |s| s.0),
        available: true,
        keywords: Vec::new(),
        sku: None,
    };
    let product = state.services.catalog.create_product(&principal, draft, &ip.context()).await?;
    Ok((StatusCode::CREATED, axum::Json(PromarketProduct::from(&product))))
}

/// List products, newest first, optionally of one category (by name).
#[utoipa::path(get, path = "/products", tag = "promarket", params(ProductQuery),
    responses((status = 200, body = PromarketProductList), (status = 400, body = NestError)))]
pub async fn list_products(
    State(state): State<AppState>,
    query: Result<Query<ProductQuery>, ApiError>,
) -> PromarketResult<axum::Json<PromarketProductList>> {
    let Query(q) = query?;
    let page = Page::new(q.page.get().map(|p| p.0), q.limit.get().map(|l| l.0), 10)
        .map_err(|_| Error::internal("paging was checked on reading"))?;
    let sent = q.category.get().map(|c| c.0);
    let products = match &sent {
        // A name no slug can be made of names no category.
        Some(name) => match Slug::from_name(name) {
            Ok(slug) => {
                state
                    .services
                    .catalog
                    .products(Some(&CategoryKey::Slug(slug.as_str().to_string())), ProductFilter::default(), page)
                    .await?
            }
            Err(_) => std::sync::Arc::new((Vec::new(), 0)),
        },
        None => state.services.catalog.products(None, ProductFilter::default(), page).await?,
    };
    Ok(axum::Json(PromarketProductList {
        products: products.0.iter().map(|p| PromarketProduct::from(&**p)).collect(),
        query: PromarketListQuery { category: sent },
    }))
}

/// One product; an unknown or malformed id is a 404.
#[utoipa::path(get, path = "/products/{id}", tag = "promarket", params(("id" = String, Path)),
    responses((status = 200, body = PromarketProduct), (status = 404, body = NestError)))]
pub async fn get_product(
    State(state): State<AppState>,
    id: Result<PathText, ApiError>,
) -> PromarketResult<axum::Json<PromarketProduct>> {
    let PathText(id) = id?;
    let product = state.services.catalog.product(product_id(&id)?).await?;
    Ok(axum::Json(PromarketProduct::from(product.as_ref())))
}

/// Change a product (admin); answers the whole product.
#[utoipa::path(patch, path = "/products/{id}", tag = "promarket", security(("bearer" = [])), params(("id" = String, Path)),
    request_body = PromarketProductChanges,
    responses((status = 200, body = PromarketProduct), (status = 400, body = NestError), (status = 401, body = NestError),
        (status = 403, body = NestError), (status = 404, body = NestError), (status = 409, body = NestError)))]
pub async fn update_product(
    State(state): State<AppState>,
    ip: ClientIp,
    auth: Result<AdminAuth, ApiError>,
    id: Result<PathText, ApiError>,
    body: Result<JsonObject, ApiError>,
) -> PromarketResult<axum::Json<PromarketProduct>> {
    let AdminAuth(principal) = auth?;
    let PathText(id) = id?;
    let id = product_id(&id)?;
    let body: PromarketProductChanges = read(body)?;
    let images = match body.image.get() {
        None => None,
        Some(Image(image)) => {
            // Only the first image is this document's; the rest stay.
            let current = state.services.catalog.product(id).await?;
            Some(image.into_iter().chain(current.draft.images.iter().skip(1).cloned()).collect())
        }
    };
    let category_id = match body.category.get() {
        Some(name) => Some(Some(category_named(&state, &principal, name.0, ip).await?)),
        None => None,
    };
    let patch = ProductPatch {
        name: body.name.get().map(|n| n.0),
        description: body.description.get().map(|d| d.0),
        price: body.price.get(),
        category_id,
        images,
        stock: body.stock.get().map(|s| s.0),
        ..ProductPatch::default()
    };
    let version = body.version.get().map(|v| v.0);
    let product = state.services.catalog.update_product(&principal, id, patch, version, &ip.context()).await?;
    Ok(axum::Json(PromarketProduct::from(&product)))
}

/// Delete a product (admin): 204. Orders that hold it keep their lines.
#[utoipa::path(delete, path = "/products/{id}", tag = "promarket", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 204), (status = 401, body = NestError), (status = 403, body = NestError), (status = 404, body = NestError)))]
pub async fn delete_product(
    State(state): State<AppState>,
    ip: ClientIp,
    auth: Result<AdminAuth, ApiError>,
    id: Result<PathText, ApiError>,
) -> PromarketResult<StatusCode> {
    let AdminAuth(principal) = auth?;
    let PathText(id) = id?;
    state.services.catalog.delete_product(&principal, product_id(&id)?, &ip.context()).await?;
    Ok(StatusCode::NO_CONTENT)
}
