//! One module per area of the dashboard, as the API has one per resource.

pub mod categories;
pub mod customers;
pub mod home;
pub mod landing;
pub mod logs;
pub mod orders;
pub mod products;
pub mod products_csv;

use axum::http::HeaderMap;
use emporium_domain::paging::Page;
use emporium_domain::time::Timestamp;

use crate::form::{Form, encode};

/// A list page's query string, read like a form (repeated names and all).
pub fn query(raw: Option<String>) -> Form {
    Form::parse(raw.unwrap_or_default().as_bytes()).unwrap_or_else(|_| Form::parse(b"").expect("empty form"))
}

/// The page asked for; a bad number is page 1, not an error page.
pub fn page_of(q: &Form, limit: i64) -> Page {
    let page = q.optional("page").and_then(|p| p.parse().ok());
    Page::new(page, Some(limit), limit as u32)
        .or_else(|_| Page::new(None, Some(limit), limit as u32))
        .expect("page 1 is valid")
}

/// Links to the previous and next pages of a listing, keeping its filters.
pub struct Pager {
    pub page: u32,
    pub pages: u64,
    pub total: u64,
    pub prev: Option<String>,
    pub next: Option<String>,
}

impl Pager {
    /// `base` is the path; `filters` the query pairs to keep (empty ones dropped).
    pub fn new(base: &str, filters: &[(&str, String)], page: Page, total: u64) -> Self {
        let pages = page.total_pages(total).max(1);
        let link = |n: u32| {
            let mut q: Vec<String> =
                filters.iter().filter(|(_, v)| !v.is_empty()).map(|(k, v)| format!("{k}={}", encode(v))).collect();
            q.push(format!("page={n}"));
            format!("{base}?{}", q.join("&"))
        };
        let current = page.page();
        Self {
            page: current,
            pages,
            total,
            prev: (current > 1).then(|| link(current - 1)),
            next: (u64::from(current) < pages).then(|| link(current + 1)),
        }
    }
}

/// Whether htmx sent this request (it then gets a fragment, not a page).
pub fn is_htmx(headers: &HeaderMap) -> bool {
    headers.contains_key("hx-request")
}

/// An instant as the dashboard shows it: `2026-12-02 06:15` (UTC).
pub fn when(t: Timestamp) -> String {
    let s = t.to_rfc3339();
    format!("{} {}", &s[..10], &s[11..16])
}

/// A `YYYY-MM-DD` date from a filter form; `None` when blank or malformed
/// (with the message to show).
pub fn date(q: &Form, name: &str, errors: &mut Vec<String>, label: &str) -> Option<Timestamp> {
    let raw = q.optional(name)?;
    match chrono::NaiveDate::parse_from_str(raw, "%Y-%m-%d") {
        Ok(_) => Timestamp::parse(raw).ok(),
        Err(_) => {
            errors.push(format!("{label} must be a date (YYYY-MM-DD)"));
            None
        }
    }
}
