//! A short-lived cache of catalog reads.
//!
//! Catalog pages are read far more often than they change, and every read
//! otherwise costs a few database round trips. Entries live at most `ttl`
//! (one second by default), and every write this server makes to products or
//! stock (admin edits, orders, cancellations) drops them all at once by
//! bumping a generation number. Another server's writes show here within
//! about `ttl`; money is never taken on a cached figure, because placing an
//! order re-checks stock and price inside its own transaction.
//!
//! When an entry expires, one request reloads it while the others keep the
//! value it replaces (for at most another `ttl`), so a popular page never
//! sends every waiting request to the database at the same moment.

use std::future::Future;
use std::hash::Hash;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use emporium_domain::Result;

struct Entry<V> {
    stored: Instant,
    generation: u64,
    value: V,
    /// Set by the one request that reloads the entry once it has expired.
    refreshing: Arc<AtomicBool>,
}

impl<V: Clone> Clone for Entry<V> {
    fn clone(&self) -> Self {
        Self {
            stored: self.stored,
            generation: self.generation,
            value: self.value.clone(),
            refreshing: self.refreshing.clone(),
        }
    }
}

/// About what a cached key or value holds in memory, in bytes.
pub trait Weigh {
    fn bytes(&self) -> u64;
}

impl Weigh for String {
    fn bytes(&self) -> u64 {
        self.len() as u64
    }
}

impl Weigh for Arc<Vec<u8>> {
    fn bytes(&self) -> u64 {
        self.len() as u64
    }
}

/// The bookkeeping of one entry beside its key and value (the entry, the
/// allocations' headers, the cache's slot), counted so that many small
/// entries cannot outgrow the budget.
const ENTRY_OVERHEAD: u64 = 128;

/// Weighs an entry by its bytes, so the cache is bounded by memory rather
/// than by a count: rendered pages range from a few hundred bytes to tens
/// of kilobytes, and 5,000 of the large ones were 85 MiB (issue 12).
#[derive(Clone, Copy)]
struct ByBytes;

impl<K: Weigh, V: Weigh> quick_cache::Weighter<K, Entry<V>> for ByBytes {
    fn weight(&self, key: &K, entry: &Entry<V>) -> u64 {
        key.bytes() + entry.value.bytes() + ENTRY_OVERHEAD
    }
}

/// One kind of cached read, keyed by `K`.
pub struct TtlCache<K, V> {
    entries: quick_cache::sync::Cache<K, Entry<V>, ByBytes>,
    ttl: Duration,
    generation: Arc<AtomicU64>,
}

impl<K: Eq + Hash + Clone + Weigh, V: Clone + Weigh> TtlCache<K, V> {
    /// A cache holding up to `budget` bytes (about `expected` entries).
    fn new(budget: u64, expected: usize, ttl: Duration, generation: Arc<AtomicU64>) -> Self {
        Self { entries: quick_cache::sync::Cache::with_weighter(expected, budget, ByBytes), ttl, generation }
    }

    /// The cached value, or `load`'s (which is then kept).
    pub async fn get_or_load<F>(&self, key: K, load: F) -> Result<V>
    where
        F: Future<Output = Result<V>>,
    {
        if self.ttl.is_zero() {
            return load.await;
        }
        let generation = self.generation.load(Ordering::Acquire);
        if let Some(entry) = self.entries.get(&key)
            && entry.generation == generation
        {
            let age = entry.stored.elapsed();
            if age < self.ttl {
                return Ok(entry.value);
            }
            let someone_else_reloads =
                entry.refreshing.compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire).is_err();
            if age < self.ttl * 2 && someone_else_reloads {
                return Ok(entry.value);
            }
        }
        let value = load.await?;
        // Only keep it if nothing changed while it was loading.
        if self.generation.load(Ordering::Acquire) == generation {
            let entry = Entry {
                stored: Instant::now(),
                generation,
                value: value.clone(),
                refreshing: Arc::new(AtomicBool::new(false)),
            };
            self.entries.insert(key, entry);
        }
        Ok(value)
    }
}

/// The catalog's rendered responses and the switch that drops them. The
/// records themselves are in the read model (crate::read_model), always
/// current; this keeps the JSON of popular URLs for up to `ttl`.
pub struct CatalogCache {
    generation: Arc<AtomicU64>,
    /// Whole rendered responses of public catalog reads, keyed by request.
    pub pages: TtlCache<String, Arc<Vec<u8>>>,
}

/// The memory the rendered pages may take: the hot pages of a shop front
/// (its home, category and top search pages) fit many times over, and a
/// crawler walking every URL cannot grow the server past it.
pub const PAGE_CACHE_BYTES: u64 = 32 << 20;

impl CatalogCache {
    pub fn new(ttl: Duration) -> Self {
        let generation = Arc::new(AtomicU64::new(0));
        Self { pages: TtlCache::new(PAGE_CACHE_BYTES, 4_000, ttl, generation.clone()), generation }
    }

    /// Something in the catalog (or its stock) changed: forget everything.
    pub fn invalidate(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn serves_cached_until_invalidated() {
        let cache = CatalogCache::new(Duration::from_secs(60));
        let load = |n: u8| async move { Ok(Arc::new(vec![n])) };
        assert_eq!(cache.pages.get_or_load("k".into(), load(1)).await.unwrap()[0], 1);
        assert_eq!(cache.pages.get_or_load("k".into(), load(2)).await.unwrap()[0], 1, "cached");
        cache.invalidate();
        assert_eq!(cache.pages.get_or_load("k".into(), load(3)).await.unwrap()[0], 3, "reloaded after a write");
    }

    #[tokio::test]
    async fn an_expired_entry_is_reloaded_by_one_request_while_others_keep_it() {
        // The cache reads the wall clock, so the windows are wide enough that
        // a loaded machine's scheduling delays (tens of ms) cannot cross them.
        let cache = CatalogCache::new(Duration::from_millis(400));
        let load = |n: u8| async move { Ok(Arc::new(vec![n])) };
        cache.pages.get_or_load("k".into(), load(1)).await.unwrap();
        tokio::time::sleep(Duration::from_millis(450)).await;
        // The first request after expiry claims the reload...
        let entry = cache.pages.entries.get("k").unwrap();
        assert!(entry.refreshing.compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire).is_ok());
        // ...so a second one is served the previous value instead of loading.
        assert_eq!(cache.pages.get_or_load("k".into(), load(2)).await.unwrap()[0], 1);
        // Once it is much older than the TTL, it is never served.
        tokio::time::sleep(Duration::from_millis(400)).await;
        assert_eq!(cache.pages.get_or_load("k".into(), load(3)).await.unwrap()[0], 3);
    }

    #[tokio::test]
    async fn the_pages_kept_are_bounded_by_bytes() {
        let cache = CatalogCache::new(Duration::from_secs(60));
        let page = Arc::new(vec![0_u8; 64 << 10]);
        for n in 0..2_000 {
            let page = page.clone();
            cache.pages.get_or_load(format!("/products?page={n}"), async move { Ok(page) }).await.unwrap();
        }
        let held = cache.pages.entries.weight();
        assert!(held <= PAGE_CACHE_BYTES, "{held} bytes held");
        assert!(cache.pages.entries.len() < 2_000 && !cache.pages.entries.is_empty());
    }

    #[tokio::test]
    async fn zero_ttl_never_caches() {
        let cache = CatalogCache::new(Duration::ZERO);
        let load = |n: u8| async move { Ok(Arc::new(vec![n])) };
        cache.pages.get_or_load("k".into(), load(1)).await.unwrap();
        assert_eq!(cache.pages.get_or_load("k".into(), load(2)).await.unwrap()[0], 2);
    }
}
