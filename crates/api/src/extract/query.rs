use axum::extract::{FromRequestParts, RawQuery};
use axum::http::request::Parts;
use emporium_domain::Result;
use emporium_domain::error::FieldErrors;

use crate::error::ApiError;

/// Query-string parameters, read by name like [`super::Fields`]: each bad
/// value and each unknown or repeated parameter is named in one 400.
pub struct Params {
    pairs: Vec<(String, String)>,
    pub errors: FieldErrors,
}

impl<S: Send + Sync> FromRequestParts<S> for Params {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let RawQuery(raw) = RawQuery::from_request_parts(parts, state).await.unwrap_or(RawQuery(None));
        let pairs = raw.map(|q| url_decode_pairs(&q)).unwrap_or_default();
        Ok(Self { pairs, errors: FieldErrors::new() })
    }
}

fn url_decode_pairs(query: &str) -> Vec<(String, String)> {
    form_urlencoded::parse(query.as_bytes()).map(|(k, v)| (k.into_owned(), v.into_owned())).collect()
}

impl Params {
    /// The parameter's value; empty values count as absent (`?search=`).
    pub fn str(&mut self, name: &str) -> Option<String> {
        let mut found: Vec<String> = Vec::new();
        self.pairs.retain(|(k, v)| {
            if k == name {
                found.push(v.clone());
                false
            } else {
                true
            }
        });
        if found.len() > 1 {
            self.errors.push(name, "must be given at most once");
            return None;
        }
        found.pop().filter(|v| !v.trim().is_empty())
    }

    pub fn int(&mut self, name: &str) -> Option<i64> {
        let raw = self.str(name)?;
        match raw.trim().parse::<i64>() {
            Ok(n) => Some(n),
            Err(_) => {
                self.errors.push(name, "must be an integer");
                None
            }
        }
    }

    pub fn bool(&mut self, name: &str) -> Option<bool> {
        let raw = self.str(name)?;
        match raw.trim().to_ascii_lowercase().as_str() {
            "true" | "1" => Some(true),
            "false" | "0" => Some(false),
            _ => {
                self.errors.push(name, "must be true or false");
                None
            }
        }
    }

    pub fn parse<T>(&mut self, name: &str, parse: impl FnOnce(&str) -> Result<T, String>) -> Option<T> {
        let raw = self.str(name)?;
        match parse(raw.trim()) {
            Ok(v) => Some(v),
            Err(message) => {
                self.errors.push(name, message);
                None
            }
        }
    }

    /// `page` and `limit`, checked against the shared bounds.
    pub fn page(&mut self, default_limit: u32) -> emporium_domain::paging::Page {
        let page = self.int("page");
        let limit = self.int("limit");
        match emporium_domain::paging::Page::new(page, limit, default_limit) {
            Ok(p) => p,
            Err(errors) => {
                for (field, message) in errors {
                    self.errors.push(field, message);
                }
                emporium_domain::paging::Page::new(None, None, default_limit).expect("defaults are valid")
            }
        }
    }

    /// Drops a parameter another extractor reads (such as `cartKey`).
    pub fn ignore(&mut self, name: &str) {
        self.pairs.retain(|(k, _)| k != name);
    }

    /// Ends the reading: unknown parameters are errors too.
    pub fn finish(mut self) -> Result<()> {
        for (k, _) in std::mem::take(&mut self.pairs) {
            self.errors.push(k, "is not a known parameter");
        }
        self.errors.into_result()
    }
}
