//! CSV export of a filtered product list, and CSV import: a dry run that
//! reports every row (to create, to update by id or SKU, or its errors),
//! then, on confirmation, the same plan applied in one transaction.
//!
//! Rows are checked by the product form's own parser, so a CSV cell gets
//! exactly the message the form field (and the API) would.

use askama::Template;
use axum::Extension;
use axum::extract::{Multipart, RawQuery, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect};
use emporium_api::AppState;
use emporium_api::extract::ClientIp;
use emporium_domain::Error;
use emporium_domain::catalog::{ProductDraft, ProductPatch};
use emporium_domain::error::FieldError;
use emporium_domain::ids::ProductId;
use emporium_domain::paging::Page;
use emporium_store::{CategoryRecord, ProductRecord};

use super::products::{Filters, ProductValues, blank_draft, parse_product};
use super::query;
use crate::form::Form;
use crate::render::{self, Layout, PageError, PageResult};
use crate::session::AdminUser;

const COLUMNS: [&str; 11] =
    ["id", "sku", "name", "description", "price", "discount", "category", "stock", "available", "keywords", "images"];

/// Every product the list's filters select, as CSV (header row first).
pub async fn export(State(state): State<AppState>, RawQuery(raw): RawQuery) -> PageResult {
    let q = query(raw);
    let mut filters = Filters::read(&q);
    let (category, filter) = filters.parse();
    let mut out = csv::Writer::from_writer(Vec::new());
    let write_error = |e: csv::Error| Error::internal(format!("csv: {e}"));
    out.write_record(COLUMNS).map_err(write_error)?;
    let mut page_number = 1;
    loop {
        let page = Page::new(Some(page_number), Some(100), 100).map_err(|_| Error::internal("page"))?;
        let listing = state.services.catalog.products(category.as_ref(), filter.clone(), page).await?;
        for p in &listing.0 {
            out.write_record(row_of(p)).map_err(write_error)?;
        }
        if u64::from(page.page()) >= page.total_pages(listing.1) {
            break;
        }
        page_number += 1;
    }
    let body = out.into_inner().map_err(|e| Error::internal(format!("csv: {e}")))?;
    Ok((
        [
            (header::CONTENT_TYPE, HeaderValue::from_static("text/csv; charset=utf-8")),
            (header::CONTENT_DISPOSITION, HeaderValue::from_static("attachment; filename=\"products.csv\"")),
        ],
        body,
    )
        .into_response())
}

fn row_of(p: &ProductRecord) -> [String; 11] {
    [
        p.id.to_string(),
        p.draft.sku.clone().unwrap_or_default(),
        p.draft.name.clone(),
        p.draft.description.clone(),
        p.draft.price.to_string(),
        p.draft.discount.to_f64().to_string(),
        p.draft.category_id.map(|c| c.to_string()).unwrap_or_default(),
        p.draft.stock.to_string(),
        if p.draft.available { "yes" } else { "no" }.to_string(),
        p.draft.keywords.join(", "),
        p.draft.images.join(" "),
    ]
}

#[derive(Template)]
#[template(path = "import.html")]
struct ImportPage {
    layout: Layout,
    report: Option<Report>,
}

pub async fn import_form() -> PageResult {
    render::ok(&ImportPage { layout: Layout::new("Import products", "products"), report: None })
}

/// What one row will do.
pub struct RowReport {
    pub line: u64,
    pub action: String,
    pub name: String,
    pub errors: Vec<String>,
}

pub struct Report {
    pub rows: Vec<RowReport>,
    pub creates: usize,
    pub updates: usize,
    pub invalid: usize,
    /// The file as uploaded, sent back with the confirmation.
    pub csv: String,
}

enum Planned {
    Create(ProductDraft),
    Update(Box<ProductRecord>, ProductPatch),
}

/// Reads the file and decides, row by row, what it does. The header names
/// the columns (any order; `id` and `sku` identify existing products,
/// unknown columns are refused).
async fn plan(state: &AppState, text: &str) -> Result<(Report, Vec<Planned>), PageError> {
    let categories = state.services.catalog.categories().await?;
    let mut reader = csv::ReaderBuilder::new().flexible(false).trim(csv::Trim::Fields).from_reader(text.as_bytes());
    let bad_file = |m: String| PageError::new(StatusCode::BAD_REQUEST, m);
    let headers: Vec<String> = reader
        .headers()
        .map_err(|e| bad_file(format!("The file is not CSV: {e}")))?
        .iter()
        .map(|h| h.trim().to_lowercase())
        .collect();
    if let Some(unknown) = headers.iter().find(|h| !COLUMNS.contains(&h.as_str())) {
        return Err(bad_file(format!("Unknown column \"{unknown}\"; the columns are: {}", COLUMNS.join(", "))));
    }
    if !headers.iter().any(|h| h == "name") {
        return Err(bad_file("The file needs a \"name\" column".into()));
    }
    let mut report = Report { rows: Vec::new(), creates: 0, updates: 0, invalid: 0, csv: text.to_string() };
    let mut planned = Vec::new();
    for (index, record) in reader.records().enumerate() {
        let line = index as u64 + 2;
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                report.invalid += 1;
                report.rows.push(RowReport {
                    line,
                    action: "error".into(),
                    name: String::new(),
                    errors: vec![e.to_string()],
                });
                continue;
            }
        };
        let cells: std::collections::HashMap<String, String> =
            headers.iter().cloned().zip(record.iter().map(String::from)).collect();
        let (row, plan) = plan_row(state, &categories, line, &cells).await?;
        if row.errors.is_empty() {
            match &plan {
                Some(Planned::Create(_)) => report.creates += 1,
                Some(Planned::Update(..)) => report.updates += 1,
                None => {}
            }
        } else {
            report.invalid += 1;
        }
        report.rows.push(row);
        planned.extend(plan);
    }
    Ok((report, planned))
}

async fn plan_row(
    state: &AppState,
    categories: &[CategoryRecord],
    line: u64,
    cells: &std::collections::HashMap<String, String>,
) -> Result<(RowReport, Option<Planned>), PageError> {
    let cell = |name: &str| cells.get(name).map(String::as_str).unwrap_or("");
    let mut errors = Vec::new();
    let existing = match (cell("id"), cell("sku")) {
        (id, _) if !id.is_empty() => match id.parse::<ProductId>() {
            Ok(id) => match state.services.catalog.product(id).await {
                Ok(p) => Some((*p).clone()),
                Err(Error::NotFound(_)) => {
                    errors.push(format!("id: no product {id}"));
                    None
                }
                Err(e) => return Err(e.into()),
            },
            Err(_) => {
                errors.push("id: must be a product id".into());
                None
            }
        },
        (_, sku) if !sku.is_empty() => state.services.catalog.product_by_sku(sku).await?,
        _ => None,
    };
    // A column left out keeps what the product has (or the form's default).
    let base = existing.as_ref().map(ProductValues::of_record).unwrap_or_else(ProductValues::defaults);
    let has = |c: &str| cells.contains_key(c);
    let take = |c: &str, current: &str| if has(c) { cell(c).to_string() } else { current.to_string() };
    let values = ProductValues {
        name: take("name", &base.name),
        description: take("description", &base.description),
        price: take("price", &base.price),
        discount: take("discount", &base.discount),
        category: take("category", &base.category),
        images: take("images", &base.images),
        stock: take("stock", &base.stock),
        available: if has("available") {
            matches!(cell("available").to_lowercase().as_str(), "yes" | "true" | "1" | "y")
        } else {
            base.available
        },
        keywords: take("keywords", &base.keywords),
        sku: take("sku", &base.sku),
        version: String::new(),
    };
    let patch = match parse_product(&values, categories) {
        Ok(patch) => Some(patch),
        Err(fields) => {
            errors.extend(fields.iter().map(|f: &FieldError| format!("{}: {}", f.field, f.message)));
            None
        }
    };
    let name = values.name.clone();
    if !errors.is_empty() {
        return Ok((RowReport { line, action: "error".into(), name, errors }, None));
    }
    let patch = patch.expect("no errors");
    Ok(match existing {
        Some(current) => (
            RowReport { line, action: format!("update #{}", current.id), name, errors },
            Some(Planned::Update(Box::new(current), patch)),
        ),
        None => (
            RowReport { line, action: "create".into(), name, errors },
            Some(Planned::Create(patch.apply(&blank_draft()))),
        ),
    })
}

/// The upload: nothing is written, every row is reported.
pub async fn dry_run(State(state): State<AppState>, mut multipart: Multipart) -> PageResult {
    let mut text = None;
    while let Some(field) =
        multipart.next_field().await.map_err(|e| PageError::new(StatusCode::BAD_REQUEST, e.to_string()))?
    {
        if field.name() == Some("file") {
            let bytes = field.bytes().await.map_err(|e| PageError::new(StatusCode::BAD_REQUEST, e.to_string()))?;
            text = Some(
                String::from_utf8(bytes.to_vec())
                    .map_err(|_| PageError::new(StatusCode::BAD_REQUEST, "The file must be UTF-8 text"))?,
            );
        }
    }
    let text = text
        .filter(|t| !t.trim().is_empty())
        .ok_or_else(|| PageError::new(StatusCode::BAD_REQUEST, "Choose a CSV file"))?;
    let (report, _) = plan(&state, &text).await?;
    let status = if report.invalid > 0 { StatusCode::BAD_REQUEST } else { StatusCode::OK };
    render::html(
        status,
        &ImportPage { layout: Layout::new("Import products: dry run", "products"), report: Some(report) },
    )
}

/// The confirmation: the same file planned again (so it is checked against
/// the catalog as it is now) and, if every row is valid, written in one go.
pub async fn apply(
    State(state): State<AppState>,
    ip: ClientIp,
    Extension(AdminUser(principal)): Extension<AdminUser>,
    form: Form,
) -> PageResult {
    let (report, planned) = plan(&state, form.text("csv")).await?;
    if report.invalid > 0 {
        return render::html(
            StatusCode::BAD_REQUEST,
            &ImportPage { layout: Layout::new("Import products: dry run", "products"), report: Some(report) },
        );
    }
    let mut creates = Vec::new();
    let mut updates = Vec::new();
    for p in planned {
        match p {
            Planned::Create(draft) => creates.push(draft),
            Planned::Update(current, patch) => updates.push((*current, patch)),
        }
    }
    match state.services.catalog.import_products(&principal, creates, updates, &ip.context()).await {
        Ok(_) => Ok(Redirect::to("/admin/products?notice=imported").into_response()),
        Err(e @ (Error::Conflict(_) | Error::Validation(_))) => render::html(
            render::status_of(&e),
            &ImportPage {
                layout: Layout::new("Import products: dry run", "products").with_error(Some(render::message_of(&e))),
                report: Some(report),
            },
        ),
        Err(other) => Err(other.into()),
    }
}
