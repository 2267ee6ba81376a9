//! Pagination as every list endpoint takes it: `page` from 1, `limit` 1..=100.

/// The largest page a client may ask for.
pub const MAX_LIMIT: u32 = 100;
/// The furthest page: far past any real data, but small enough that offset
/// arithmetic cannot overflow.
pub const MAX_PAGE: u32 = 1_000_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    page: u32,
    limit: u32,
}

impl Page {
    pub fn new(page: Option<i64>, limit: Option<i64>, default_limit: u32) -> Result<Self, Vec<(&'static str, String)>> {
        let mut errors = Vec::new();
        let page = match page {
            None => 1,
            Some(p) if (1..=i64::from(MAX_PAGE)).contains(&p) => p as u32,
            Some(_) => {
                errors.push(("page", format!("must be an integer from 1 to {MAX_PAGE}")));
                1
            }
        };
        let limit = match limit {
            None => default_limit,
            Some(l) if (1..=MAX_LIMIT as i64).contains(&l) => l as u32,
            Some(_) => {
                errors.push(("limit", format!("must be an integer from 1 to {MAX_LIMIT}")));
                default_limit
            }
        };
        if errors.is_empty() { Ok(Self { page, limit }) } else { Err(errors) }
    }

    pub fn page(self) -> u32 {
        self.page
    }
    pub fn limit(self) -> u32 {
        self.limit
    }
    pub fn offset(self) -> u64 {
        u64::from(self.page - 1) * u64::from(self.limit)
    }
    pub fn total_pages(self, total: u64) -> u64 {
        total.div_ceil(u64::from(self.limit))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_are_enforced() {
        assert!(Page::new(Some(0), None, 10).is_err());
        assert!(Page::new(None, Some(0), 10).is_err());
        assert!(Page::new(None, Some(101), 10).is_err());
        let p = Page::new(Some(3), Some(20), 10).unwrap();
        assert_eq!((p.offset(), p.total_pages(41)), (40, 3));
    }
}
