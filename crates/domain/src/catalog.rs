//! The catalog: categories and products, and how they may be searched.

use crate::ids::{CategoryId, UserId};
use crate::money::{Money, Percent};

/// A URL-safe name: lower-case ASCII letters, digits and single hyphens.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Slug(String);

impl Slug {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let s = raw.trim();
        let valid = !s.is_empty()
            && s.len() <= 100
            && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !s.starts_with('-')
            && !s.ends_with('-')
            && !s.contains("--");
        if !valid {
            return Err("must be 1 to 100 lower-case letters, digits and single hyphens".into());
        }
        if s.bytes().all(|b| b.is_ascii_digit()) {
            // Paths take an id or a slug; an all-digit slug would be read as an id.
            return Err("must contain a letter".into());
        }
        Ok(Self(s.to_string()))
    }

    /// `"Phones & Tablets"` → `phones-tablets`; letters outside ASCII are dropped.
    pub fn from_name(name: &str) -> Result<Self, String> {
        let mut slug = String::new();
        for c in name.trim().chars().flat_map(char::to_lowercase) {
            if c.is_ascii_alphanumeric() {
                slug.push(c);
            } else if !slug.ends_with('-') && !slug.is_empty() {
                slug.push('-');
            }
        }
        let slug: String = slug.trim_end_matches('-').chars().take(100).collect();
        let slug = slug.trim_end_matches('-');
        // A name with no ASCII letter ("2024", "日本") still gets a slug:
        // `c-2024`, or `category` (a second one conflicts, and can be given a slug).
        let slug = match slug {
            "" => "category".to_string(),
            s if !s.bytes().any(|b| b.is_ascii_lowercase()) => format!("c-{}", s.chars().take(98).collect::<String>()),
            s => s.to_string(),
        };
        Self::parse(slug.trim_end_matches('-'))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A category or product name: trimmed, 1 to `max` characters, no control characters.
pub fn parse_name(raw: &str, max: usize) -> Result<String, String> {
    let s = raw.trim();
    if s.is_empty() {
        return Err("must not be empty".into());
    }
    if s.chars().count() > max {
        return Err(format!("must be at most {max} characters"));
    }
    if s.chars().any(char::is_control) {
        return Err("must not contain control characters".into());
    }
    Ok(s.to_string())
}

/// The longest description, in characters.
pub const MAX_DESCRIPTION: usize = 10_000;

pub fn parse_description(raw: &str) -> Result<String, String> {
    let s = raw.trim();
    if s.chars().count() > MAX_DESCRIPTION {
        return Err(format!("must be at most {MAX_DESCRIPTION} characters"));
    }
    Ok(s.to_string())
}

/// An absolute http(s) URL with a host.
pub fn parse_image_url(raw: &str) -> Result<String, String> {
    let s = raw.trim();
    if s.len() > 2048 {
        return Err("must be at most 2048 characters".into());
    }
    match url::Url::parse(s) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host_str().is_some_and(|h| !h.is_empty()) => {
            Ok(u.to_string())
        }
        _ => Err("must be a valid http(s) URL".into()),
    }
}

/// A stock keeping unit: 1–64 letters, digits, `-`, `_` or `.`.
pub fn parse_sku(raw: &str) -> Result<String, String> {
    let s = raw.trim();
    if s.is_empty() || s.len() > 64 || !s.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
    {
        return Err("must be 1 to 64 letters, digits, '-', '_' or '.'".into());
    }
    Ok(s.to_string())
}

pub const MAX_STOCK: i64 = 1_000_000_000;

pub fn parse_stock(n: i64) -> Result<i64, String> {
    if (0..=MAX_STOCK).contains(&n) { Ok(n) } else { Err(format!("must be an integer from 0 to {MAX_STOCK}")) }
}

/// A keyword: 1–50 characters; the list is de-duplicated case-insensitively.
pub fn parse_keywords(raw: Vec<String>) -> Result<Vec<String>, String> {
    if raw.len() > 50 {
        return Err("must have at most 50 keywords".into());
    }
    let mut out: Vec<String> = Vec::with_capacity(raw.len());
    for k in raw {
        let k = k.trim().to_string();
        if k.is_empty() || k.chars().count() > 50 || k.chars().any(char::is_control) {
            return Err("each keyword must be 1 to 50 characters".into());
        }
        if !out.iter().any(|o| o.eq_ignore_ascii_case(&k)) {
            out.push(k);
        }
    }
    Ok(out)
}

/// Everything a product is, validated. Built by parsing a create request, or
/// by applying a [`ProductPatch`] to the stored product.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProductDraft {
    pub name: String,
    pub description: String,
    pub price: Money,
    pub discount: Percent,
    pub category_id: Option<CategoryId>,
    pub images: Vec<String>,
    pub stock: i64,
    pub available: bool,
    pub keywords: Vec<String>,
    pub sku: Option<String>,
}

impl ProductDraft {
    /// The price a buyer pays: price less discount, rounded half-up to the cent.
    pub fn sell_price(&self) -> Money {
        self.price.discounted(self.discount)
    }

    /// The lower-cased name that sorting by name uses, the same on every backend.
    pub fn sort_name(&self) -> String {
        self.name.to_lowercase()
    }
}

/// A partial update: `None` leaves a field as it is; `Some(None)` clears an optional one.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProductPatch {
    pub name: Option<String>,
    pub description: Option<String>,
    pub price: Option<Money>,
    pub discount: Option<Percent>,
    pub category_id: Option<Option<CategoryId>>,
    pub images: Option<Vec<String>>,
    pub stock: Option<i64>,
    pub available: Option<bool>,
    pub keywords: Option<Vec<String>>,
    pub sku: Option<Option<String>>,
}

impl ProductPatch {
    pub fn apply(&self, current: &ProductDraft) -> ProductDraft {
        ProductDraft {
            name: self.name.clone().unwrap_or_else(|| current.name.clone()),
            description: self.description.clone().unwrap_or_else(|| current.description.clone()),
            price: self.price.unwrap_or(current.price),
            discount: self.discount.unwrap_or(current.discount),
            category_id: self.category_id.unwrap_or(current.category_id),
            images: self.images.clone().unwrap_or_else(|| current.images.clone()),
            stock: self.stock.unwrap_or(current.stock),
            available: self.available.unwrap_or(current.available),
            keywords: self.keywords.clone().unwrap_or_else(|| current.keywords.clone()),
            sku: self.sku.clone().unwrap_or_else(|| current.sku.clone()),
        }
    }

    pub fn is_empty(&self) -> bool {
        *self == ProductPatch::default()
    }
}

/// What an admin change did to the figures the audit log watches.
pub fn audited_changes(before: &ProductDraft, after: &ProductDraft) -> Vec<(&'static str, String, String)> {
    let mut changes = Vec::new();
    if before.price != after.price {
        changes.push(("price", before.price.to_string(), after.price.to_string()));
    }
    if before.discount != after.discount {
        changes.push(("discount", before.discount.to_f64().to_string(), after.discount.to_f64().to_string()));
    }
    if before.stock != after.stock {
        changes.push(("stock", before.stock.to_string(), after.stock.to_string()));
    }
    changes
}

/// A full-text query: words of letters and digits, lower-cased. The last
/// word matches as a prefix, so a search box can query as the user types.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchQuery {
    terms: Vec<String>,
}

impl SearchQuery {
    pub const MAX_LEN: usize = 200;
    const MAX_TERMS: usize = 10;

    /// Anything that is not a letter or digit separates words, so quotes,
    /// `%`, FTS operators and SQL fragments are inert. A query with no words
    /// is valid and matches nothing.
    pub fn parse(raw: &str) -> Result<Self, String> {
        if raw.chars().count() > Self::MAX_LEN {
            return Err(format!("must be at most {} characters", Self::MAX_LEN));
        }
        let terms: Vec<String> = tokens(raw).take(Self::MAX_TERMS).collect();
        Ok(Self { terms })
    }

    pub fn terms(&self) -> &[String] {
        &self.terms
    }

    pub fn is_empty(&self) -> bool {
        self.terms.is_empty()
    }
}

/// Splits text into lower-cased runs of letters and digits: the tokens both
/// search backends index, so a query means the same on each.
pub fn tokens(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !c.is_alphanumeric()).filter(|t| !t.is_empty()).map(str::to_lowercase)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProductSort {
    PriceAsc,
    PriceDesc,
    NameAsc,
    NameDesc,
    Newest,
    Oldest,
    Relevance,
}

impl ProductSort {
    /// Every accepted value, as the API names them.
    pub const NAMES: &'static [&'static str] =
        &["price", "-price", "name", "-name", "createdAt", "-createdAt", "relevance"];

    pub fn parse(raw: &str) -> Result<Self, String> {
        Ok(match raw {
            "price" => Self::PriceAsc,
            "-price" => Self::PriceDesc,
            "name" => Self::NameAsc,
            "-name" => Self::NameDesc,
            "-createdAt" => Self::Newest,
            "createdAt" => Self::Oldest,
            "relevance" => Self::Relevance,
            _ => return Err("must be one of: price, -price, name, -name, createdAt, -createdAt, relevance".into()),
        })
    }
}

/// Which category a listing is limited to: by id or by slug.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CategoryKey {
    Id(CategoryId),
    Slug(String),
}

impl CategoryKey {
    /// The longest key, in characters.
    pub const MAX_LEN: usize = 100;

    /// Digits are an id; anything else is looked up as a slug.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let s = raw.trim();
        if let Ok(id) = s.parse() {
            return Ok(Self::Id(id));
        }
        if s.is_empty() || s.chars().count() > Self::MAX_LEN {
            return Err("must be a category id or slug".into());
        }
        Ok(Self::Slug(s.to_lowercase()))
    }
}

/// Every filter a product listing takes, all combinable. A range that can
/// hold nothing (`minPrice` above `maxPrice`) matches nothing: it is a
/// well-formed question whose answer is empty.
#[derive(Debug, Clone, Default)]
pub struct ProductFilter {
    pub search: Option<SearchQuery>,
    /// The category and, when it has any, its sub-categories.
    pub category: Option<CategoryId>,
    pub min_price: Option<Money>,
    pub max_price: Option<Money>,
    pub min_discount: Option<Percent>,
    pub max_discount: Option<Percent>,
    pub available: Option<bool>,
    pub in_stock: Option<bool>,
    pub sort: Option<ProductSort>,
}

impl ProductFilter {
    /// The order a listing uses: the one asked for, else relevance for a
    /// search, else newest first.
    pub fn effective_sort(&self) -> ProductSort {
        match (self.sort, &self.search) {
            (Some(ProductSort::Relevance), None) => ProductSort::Newest,
            (Some(sort), _) => sort,
            (None, Some(_)) => ProductSort::Relevance,
            (None, None) => ProductSort::Newest,
        }
    }
}

/// A category to store, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CategoryDraft {
    pub name: String,
    pub slug: Slug,
    pub description: Option<String>,
    pub parent_id: Option<CategoryId>,
}

/// Who made a product, kept for `createdBy`.
pub type Creator = Option<UserId>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_from_names() {
        assert_eq!(Slug::from_name("Phones & Tablets").unwrap().as_str(), "phones-tablets");
        assert_eq!(Slug::from_name("  Über   Cool!! ").unwrap().as_str(), "ber-cool");
        // A name with no ASCII letter still gets a slug rather than a 400.
        assert_eq!(Slug::from_name("!!!").unwrap().as_str(), "category");
        assert_eq!(Slug::from_name("2024").unwrap().as_str(), "c-2024");
        assert_eq!(Slug::from_name("日本").unwrap().as_str(), "category");
        assert!(Slug::parse("Bad Slug").is_err());
        assert!(Slug::parse("123").is_err());
    }

    #[test]
    fn search_terms_are_inert_words() {
        let q = SearchQuery::parse("  Wire-less \"head*\" OR 1=1; DROP TABLE x -- %").unwrap();
        assert_eq!(q.terms(), ["wire", "less", "head", "or", "1", "1", "drop", "table", "x"]);
        assert!(SearchQuery::parse("%%%").unwrap().is_empty());
        assert!(SearchQuery::parse(&"a".repeat(201)).is_err());
    }

    #[test]
    fn urls_must_be_http() {
        assert!(parse_image_url("https://cdn.example.com/a.png").is_ok());
        for bad in ["ftp://x.com/a", "javascript:alert(1)", "not a url", "https://"] {
            assert!(parse_image_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn patch_applies_only_what_it_names() {
        let base = ProductDraft {
            name: "A".into(),
            description: String::new(),
            price: Money::from_minor(1000),
            discount: Percent::ZERO,
            category_id: None,
            images: vec![],
            stock: 5,
            available: true,
            keywords: vec![],
            sku: Some("X".into()),
        };
        let patch = ProductPatch { stock: Some(7), sku: Some(None), ..Default::default() };
        let after = patch.apply(&base);
        assert_eq!((after.stock, after.sku.clone(), after.name.clone()), (7, None, "A".to_string()));
        assert_eq!(audited_changes(&base, &after), vec![("stock", "5".to_string(), "7".to_string())]);
    }
}
