//! `/admin/products`: the catalog's products — list, filters, create, edit,
//! delete, inline stock, bulk actions, CSV export and import.

use askama::Template;
use axum::Extension;
use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect};
use axum::routing::{get, post};
use emporium_api::AppState;
use emporium_api::extract::ClientIp;
use emporium_domain::Error;
use emporium_domain::catalog::{
    CategoryKey, ProductDraft, ProductFilter, ProductPatch, ProductSort, SearchQuery, parse_description,
    parse_image_url, parse_keywords, parse_name, parse_sku, parse_stock,
};
use emporium_domain::error::FieldError;
use emporium_domain::ids::{CategoryId, ProductId};
use emporium_domain::money::{Money, Percent};
use emporium_service::Principal;
use emporium_store::{CategoryRecord, ProductRecord};

use super::{Pager, is_htmx, page_of, query};
use crate::form::{Form, encode};
use crate::render::{self, Layout, PageError, PageResult};
use crate::session::AdminUser;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/admin/products", get(list).post(create))
        .route("/admin/products/new", get(new_form))
        .route("/admin/products/bulk", post(bulk))
        .route("/admin/products/export.csv", get(super::products_csv::export))
        .route("/admin/products/import", get(super::products_csv::import_form).post(super::products_csv::dry_run))
        .route("/admin/products/import/apply", post(super::products_csv::apply))
        .route("/admin/products/{id}", get(edit_form).post(update))
        .route("/admin/products/{id}/delete", post(delete))
        .route("/admin/products/{id}/stock", post(set_stock))
}

fn product_id(raw: &str) -> Result<ProductId, PageError> {
    raw.parse().map_err(|_| PageError::new(StatusCode::NOT_FOUND, "Product not found"))
}

/// A product as a table row shows it.
pub struct ProductRow {
    pub id: ProductId,
    pub name: String,
    pub sku: String,
    pub price: Money,
    pub sell_price: Money,
    pub stock: i64,
    pub available: bool,
    pub category: String,
}

impl From<&ProductRecord> for ProductRow {
    fn from(p: &ProductRecord) -> Self {
        Self {
            id: p.id,
            name: p.draft.name.clone(),
            sku: p.draft.sku.clone().unwrap_or_default(),
            price: p.draft.price,
            sell_price: p.sell_price,
            stock: p.draft.stock,
            available: p.draft.available,
            category: p.category.as_ref().map(|c| c.name.clone()).unwrap_or_default(),
        }
    }
}

/// The filters of the list (and of its CSV export), as sent and as parsed.
pub struct Filters {
    pub search: String,
    pub category: String,
    pub available: String,
    pub sort: String,
    pub errors: Vec<String>,
}

impl Filters {
    pub fn read(q: &Form) -> Self {
        Self {
            search: q.text("search").trim().to_string(),
            category: q.text("category").trim().to_string(),
            available: q.text("available").trim().to_string(),
            sort: q.text("sort").trim().to_string(),
            errors: Vec::new(),
        }
    }

    pub fn parse(&mut self) -> (Option<CategoryKey>, ProductFilter) {
        let mut filter = ProductFilter::default();
        if !self.search.is_empty() {
            match SearchQuery::parse(&self.search) {
                Ok(s) => filter.search = Some(s),
                Err(e) => self.errors.push(format!("Search {e}")),
            }
        }
        filter.available = match self.available.as_str() {
            "yes" => Some(true),
            "no" => Some(false),
            _ => None,
        };
        if !self.sort.is_empty() {
            match ProductSort::parse(&self.sort) {
                Ok(s) => filter.sort = Some(s),
                Err(e) => self.errors.push(format!("Sort {e}")),
            }
        }
        let category = (!self.category.is_empty()).then(|| CategoryKey::parse(&self.category).ok()).flatten();
        (category, filter)
    }

    pub fn pairs(&self) -> Vec<(&'static str, String)> {
        vec![
            ("search", self.search.clone()),
            ("category", self.category.clone()),
            ("available", self.available.clone()),
            ("sort", self.sort.clone()),
        ]
    }

    pub fn query_string(&self) -> String {
        self.pairs()
            .iter()
            .filter(|(_, v)| !v.is_empty())
            .map(|(k, v)| format!("{k}={}", encode(v)))
            .collect::<Vec<_>>()
            .join("&")
    }
}

pub struct CategoryOption {
    pub id: CategoryId,
    pub label: String,
}

pub fn category_options(categories: &[CategoryRecord]) -> Vec<CategoryOption> {
    let mut out = Vec::new();
    for top in categories.iter().filter(|c| c.parent_id.is_none()) {
        out.push(CategoryOption { id: top.id, label: top.name.clone() });
        for child in categories.iter().filter(|c| c.parent_id == Some(top.id)) {
            out.push(CategoryOption { id: child.id, label: format!("{} › {}", top.name, child.name) });
        }
    }
    out
}

#[derive(Template)]
#[template(path = "products.html")]
struct ProductList {
    layout: Layout,
    filters: Filters,
    categories: Vec<CategoryOption>,
    products: Vec<ProductRow>,
    pager: Pager,
    export_href: String,
    back: String,
    /// Only a row re-rendered alone carries an error.
    error: Option<String>,
}

async fn list(State(state): State<AppState>, RawQuery(raw): RawQuery) -> PageResult {
    let q = query(raw);
    let mut filters = Filters::read(&q);
    let (category, filter) = filters.parse();
    let page = page_of(&q, 20);
    let listing = state.services.catalog.products(category.as_ref(), filter, page).await?;
    let categories = state.services.catalog.categories().await?;
    let pager = Pager::new("/admin/products", &filters.pairs(), page, listing.1);
    let error = (!filters.errors.is_empty()).then(|| filters.errors.join("; "));
    let export_href = format!("/admin/products/export.csv?{}", filters.query_string());
    render::ok(&ProductList {
        layout: Layout::new("Products", "products").with_notice(q.optional("notice")).with_error(error),
        categories: category_options(&categories),
        products: listing.0.iter().map(|p| ProductRow::from(&**p)).collect(),
        pager,
        back: format!("/admin/products?{}", filters.query_string()),
        export_href,
        filters,
        error: None,
    })
}

/// The product form's fields, as typed (to show them again with their errors).
#[derive(Default)]
pub struct ProductValues {
    pub name: String,
    pub description: String,
    pub price: String,
    pub discount: String,
    pub category: String,
    pub images: String,
    pub stock: String,
    pub available: bool,
    pub keywords: String,
    pub sku: String,
    pub version: String,
}

impl ProductValues {
    pub fn defaults() -> Self {
        Self { available: true, stock: "0".into(), discount: "0".into(), ..Default::default() }
    }

    pub fn of_record(p: &ProductRecord) -> Self {
        Self::of(p)
    }

    fn of(p: &ProductRecord) -> Self {
        Self {
            name: p.draft.name.clone(),
            description: p.draft.description.clone(),
            price: p.draft.price.to_string(),
            discount: p.draft.discount.to_f64().to_string(),
            category: p.draft.category_id.map(|c| c.to_string()).unwrap_or_default(),
            images: p.draft.images.join("\n"),
            stock: p.draft.stock.to_string(),
            available: p.draft.available,
            keywords: p.draft.keywords.join(", "),
            sku: p.draft.sku.clone().unwrap_or_default(),
            version: p.version.to_string(),
        }
    }

    pub fn read(form: &Form) -> Self {
        Self {
            name: form.text("name").to_string(),
            description: form.text("description").to_string(),
            price: form.text("price").to_string(),
            discount: form.text("discount").to_string(),
            category: form.text("category").to_string(),
            images: form.text("images").to_string(),
            stock: form.text("stock").to_string(),
            available: form.checked("available"),
            keywords: form.text("keywords").to_string(),
            sku: form.text("sku").to_string(),
            version: form.text("version").to_string(),
        }
    }
}

/// Every field of the form, checked by the same domain parsers (and so with
/// the same messages) as the API's product requests. Every field is sent by
/// the form, so the patch sets every one.
pub fn parse_product(v: &ProductValues, categories: &[CategoryRecord]) -> Result<ProductPatch, Vec<FieldError>> {
    let mut errors = Vec::new();
    let mut check = |field: &str, r: Result<(), String>| {
        if let Err(e) = r {
            errors.push(FieldError::new(field, e));
        }
    };
    let mut patch = ProductPatch::default();
    if v.name.trim().is_empty() {
        check("name", Err("is required".into()));
    } else {
        check("name", parse_name(&v.name, 200).map(|n| patch.name = Some(n)));
    }
    check("description", parse_description(&v.description).map(|d| patch.description = Some(d)));
    if v.price.trim().is_empty() {
        check("price", Err("is required".into()));
    } else {
        check("price", Money::from_decimal_str(v.price.trim()).map(|p| patch.price = Some(p)));
    }
    let discount = if v.discount.trim().is_empty() { "0" } else { v.discount.trim() };
    check(
        "discount",
        discount
            .parse::<f64>()
            .map_err(|_| "must be a number".to_string())
            .and_then(Percent::from_json_number)
            .map(|d| patch.discount = Some(d)),
    );
    let category = v.category.trim();
    if category.is_empty() {
        patch.category_id = Some(None);
    } else {
        match categories.iter().find(|c| c.id.to_string() == category) {
            Some(c) => patch.category_id = Some(Some(c.id)),
            None => check("category", Err("does not exist".into())),
        }
    }
    let urls: Vec<&str> = v.images.split_whitespace().collect();
    let images: Result<Vec<String>, String> = urls.iter().map(|u| parse_image_url(u)).collect();
    check(
        "images",
        images.and_then(|list| {
            if list.len() > 20 {
                return Err("must have at most 20 images".into());
            }
            patch.images = Some(list);
            Ok(())
        }),
    );
    let stock = if v.stock.trim().is_empty() { "0" } else { v.stock.trim() };
    check(
        "stock",
        stock
            .parse::<i64>()
            .map_err(|_| "must be an integer".to_string())
            .and_then(parse_stock)
            .map(|s| patch.stock = Some(s)),
    );
    patch.available = Some(v.available);
    let keywords: Vec<String> =
        v.keywords.split(',').map(str::trim).filter(|k| !k.is_empty()).map(String::from).collect();
    check("keywords", parse_keywords(keywords).map(|k| patch.keywords = Some(k)));
    let sku = v.sku.trim();
    if sku.is_empty() {
        patch.sku = Some(None);
    } else {
        check("sku", parse_sku(sku).map(|s| patch.sku = Some(Some(s))));
    }
    if errors.is_empty() { Ok(patch) } else { Err(errors) }
}

pub fn blank_draft() -> ProductDraft {
    ProductDraft {
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
    }
}

#[derive(Template)]
#[template(path = "product_form.html")]
struct ProductForm {
    layout: Layout,
    id: Option<ProductId>,
    values: ProductValues,
    errors: Vec<FieldError>,
    categories: Vec<CategoryOption>,
}

impl ProductForm {
    fn err(&self, field: &str) -> Option<&str> {
        self.errors.iter().find(|e| e.field == field).map(|e| e.message.as_str())
    }
}

async fn show_form(
    state: &AppState,
    status: StatusCode,
    id: Option<ProductId>,
    values: ProductValues,
    errors: Vec<FieldError>,
    message: Option<String>,
) -> PageResult {
    let categories = state.services.catalog.categories().await?;
    let title = if id.is_some() { format!("Edit {}", values.name) } else { "New product".to_string() };
    let message =
        message.or_else(|| (!errors.is_empty()).then(|| "Please correct the fields marked below.".to_string()));
    render::html(
        status,
        &ProductForm {
            layout: Layout::new(title, "products").with_error(message),
            id,
            values,
            errors,
            categories: category_options(&categories),
        },
    )
}

async fn new_form(State(state): State<AppState>) -> PageResult {
    let values = ProductValues::defaults();
    show_form(&state, StatusCode::OK, None, values, Vec::new(), None).await
}

/// A service's refusal of a form: field errors go next to their fields, anything else above the form.
fn split_error(e: Error) -> Result<(StatusCode, Vec<FieldError>, Option<String>), PageError> {
    match e {
        Error::Validation(fields) => Ok((StatusCode::BAD_REQUEST, fields, None)),
        Error::Conflict(m) => Ok((StatusCode::CONFLICT, Vec::new(), Some(m))),
        other => Err(other.into()),
    }
}

async fn create(
    State(state): State<AppState>,
    ip: ClientIp,
    Extension(AdminUser(principal)): Extension<AdminUser>,
    form: Form,
) -> PageResult {
    let values = ProductValues::read(&form);
    let categories = state.services.catalog.categories().await?;
    let patch = match parse_product(&values, &categories) {
        Ok(patch) => patch,
        Err(errors) => return show_form(&state, StatusCode::BAD_REQUEST, None, values, errors, None).await,
    };
    match state.services.catalog.create_product(&principal, patch.apply(&blank_draft()), &ip.context()).await {
        Ok(product) => Ok(Redirect::to(&format!("/admin/products/{}?notice=created", product.id)).into_response()),
        Err(e) => {
            let (status, errors, message) = split_error(e)?;
            show_form(&state, status, None, values, errors, message).await
        }
    }
}

async fn edit_form(State(state): State<AppState>, Path(id): Path<String>, RawQuery(raw): RawQuery) -> PageResult {
    let id = product_id(&id)?;
    let product = state.services.catalog.product(id).await?;
    let q = query(raw);
    let categories = state.services.catalog.categories().await?;
    render::ok(&ProductForm {
        layout: Layout::new(format!("Edit {}", product.draft.name), "products").with_notice(q.optional("notice")),
        id: Some(id),
        values: ProductValues::of(&product),
        errors: Vec::new(),
        categories: category_options(&categories),
    })
}

async fn update(
    State(state): State<AppState>,
    ip: ClientIp,
    Extension(AdminUser(principal)): Extension<AdminUser>,
    Path(id): Path<String>,
    form: Form,
) -> PageResult {
    let id = product_id(&id)?;
    let values = ProductValues::read(&form);
    let categories = state.services.catalog.categories().await?;
    let patch = match parse_product(&values, &categories) {
        Ok(patch) => patch,
        Err(errors) => return show_form(&state, StatusCode::BAD_REQUEST, Some(id), values, errors, None).await,
    };
    let version = values.version.trim().parse::<i64>().ok();
    match state.services.catalog.update_product(&principal, id, patch, version, &ip.context()).await {
        Ok(_) => Ok(Redirect::to(&format!("/admin/products/{id}?notice=saved")).into_response()),
        Err(e) => {
            let (status, errors, message) = split_error(e)?;
            show_form(&state, status, Some(id), values, errors, message).await
        }
    }
}

async fn delete(
    State(state): State<AppState>,
    ip: ClientIp,
    Extension(AdminUser(principal)): Extension<AdminUser>,
    Path(id): Path<String>,
) -> PageResult {
    state.services.catalog.delete_product(&principal, product_id(&id)?, &ip.context()).await?;
    Ok(Redirect::to("/admin/products?notice=deleted").into_response())
}

#[derive(Template)]
#[template(path = "product_row.html")]
struct RowFragment {
    p: ProductRow,
    error: Option<String>,
}

/// The inline stock edit: sets the stock to the number typed. htmx gets the
/// row back (with the error in it, if any); a plain form post goes back to the list.
async fn set_stock(
    State(state): State<AppState>,
    ip: ClientIp,
    Extension(AdminUser(principal)): Extension<AdminUser>,
    Path(id): Path<String>,
    headers: HeaderMap,
    form: Form,
) -> PageResult {
    let id = product_id(&id)?;
    let parsed =
        form.text("stock").trim().parse::<i64>().map_err(|_| "must be an integer".to_string()).and_then(parse_stock);
    let outcome = match parsed {
        Ok(stock) => {
            let patch = ProductPatch { stock: Some(stock), ..ProductPatch::default() };
            state.services.catalog.update_product(&principal, id, patch, None, &ip.context()).await.map(|_| ())
        }
        Err(e) => Err(Error::field("stock", e)),
    };
    if !is_htmx(&headers) {
        outcome?;
        return Ok(Redirect::to("/admin/products?notice=saved").into_response());
    }
    let error = match outcome {
        Ok(()) => None,
        Err(Error::Validation(fields)) => {
            Some(fields.iter().map(|f| format!("Stock {}", f.message)).collect::<Vec<_>>().join("; "))
        }
        Err(other) => return Err(other.into()),
    };
    let product = state.services.catalog.product(id).await?;
    let status = if error.is_some() { StatusCode::BAD_REQUEST } else { StatusCode::OK };
    render::html(status, &RowFragment { p: ProductRow::from(&*product), error })
}

/// What a bulk action does to each selected product.
enum BulkAction {
    Available(bool),
    MoveTo(Option<CategoryId>),
    AdjustStock(i64),
    Delete,
}

fn bulk_action(form: &Form, categories: &[CategoryRecord]) -> Result<BulkAction, String> {
    Ok(match form.text("action") {
        "available" => BulkAction::Available(true),
        "unavailable" => BulkAction::Available(false),
        "move" => {
            let raw = form.text("category").trim();
            if raw.is_empty() {
                BulkAction::MoveTo(None)
            } else {
                let c = categories.iter().find(|c| c.id.to_string() == raw).ok_or("Category does not exist")?;
                BulkAction::MoveTo(Some(c.id))
            }
        }
        "stock" => {
            let n = form
                .text("delta")
                .trim()
                .trim_start_matches('+')
                .parse::<i64>()
                .map_err(|_| "Stock change must be an integer, e.g. 5 or -3")?;
            BulkAction::AdjustStock(n)
        }
        "delete" => BulkAction::Delete,
        _ => return Err("Choose an action".into()),
    })
}

async fn apply_bulk(
    state: &AppState,
    principal: &Principal,
    ctx: &emporium_service::RequestContext,
    id: ProductId,
    action: &BulkAction,
) -> Result<(), Error> {
    let catalog = &state.services.catalog;
    let patch = |p: ProductPatch| async move { catalog.update_product(principal, id, p, None, ctx).await.map(|_| ()) };
    match action {
        BulkAction::Available(a) => patch(ProductPatch { available: Some(*a), ..Default::default() }).await,
        BulkAction::MoveTo(c) => patch(ProductPatch { category_id: Some(*c), ..Default::default() }).await,
        BulkAction::AdjustStock(n) => catalog.adjust_stock(principal, id, *n, ctx).await.map(|_| ()),
        BulkAction::Delete => catalog.delete_product(principal, id, ctx).await,
    }
}

/// Applies one action to every selected product, through the same service
/// calls as one-by-one edits; a product that refuses is named, the others
/// are still done.
async fn bulk(
    State(state): State<AppState>,
    ip: ClientIp,
    Extension(AdminUser(principal)): Extension<AdminUser>,
    form: Form,
) -> PageResult {
    let back = match form.optional("back") {
        Some(b) if b.starts_with("/admin/products") && !b.contains("//") => b.to_string(),
        _ => "/admin/products".to_string(),
    };
    let categories = state.services.catalog.categories().await?;
    let action = bulk_action(&form, &categories).map_err(|m| PageError::new(StatusCode::BAD_REQUEST, m))?;
    let ids: Vec<ProductId> = form.all("ids").iter().filter_map(|s| s.parse().ok()).collect();
    if ids.is_empty() {
        return Err(PageError::new(StatusCode::BAD_REQUEST, "Select at least one product"));
    }
    let ctx = ip.context();
    let mut failures = Vec::new();
    for id in ids {
        if let Err(e) = apply_bulk(&state, &principal, &ctx, id, &action).await {
            failures.push(format!("#{id}: {}", render::message_of(&e)));
        }
    }
    if !failures.is_empty() {
        return Err(PageError::new(
            StatusCode::CONFLICT,
            format!("Some products were not changed: {}", failures.join("; ")),
        ));
    }
    let sep = if back.contains('?') { '&' } else { '?' };
    Ok(Redirect::to(&format!("{back}{sep}notice=bulk")).into_response())
}
