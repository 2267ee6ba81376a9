//! The catalog as each server holds it in memory: every live product and
//! category, with what listings filter, sort and search on, so a listing,
//! a search or a product page never waits on the database.
//!
//! The database stays the truth and takes every write. Every write to a
//! product or a category adds a row to the change feed (`catalog_changes`,
//! by trigger, in the write's own transaction: migration 0009), and
//! [`ReadModel::sync`] applies the feed in order, reloading what each row
//! names. A service that writes awaits `sync` before it answers, so its own
//! changes show in the same response cycle; other servers' changes arrive
//! through [`ReadModel::follow`], woken by PostgreSQL `LISTEN` and, as a
//! backstop for a lost notification, by a short poll.
//!
//! PostgreSQL hands out sequence numbers when rows are inserted but makes
//! them visible when transactions commit, so a number can show up after a
//! higher one. A number missing from the feed is remembered as a gap and
//! asked for again on every sync until it appears or [`GAP_WAIT`] passes (a
//! rolled-back transaction's number never appears). A server that finds
//! itself far behind (the feed pruned past it, or more changes than one
//! batch) rebuilds from the tables, and says so in its log.
//!
//! Money is never taken from here: placing an order reads stock and price
//! under the database's locks.
//!
//! Search is written here rather than with a search engine crate: the
//! catalog's text is small (names, keywords, descriptions of at most tens
//! of thousands of products), every query is a conjunction of words with the
//! last one a prefix, and an index that must follow every edit of a product
//! in place is simpler as a map from word to products than as an engine's
//! segments and commits (tantivy, the obvious crate, costs minutes of build
//! on two cores and wants batched commits, not one document at a time).

use std::cmp::Ordering;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering as AtomicOrdering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use emporium_domain::catalog::{CategoryKey, ProductFilter, ProductSort, SearchQuery, tokens};
use emporium_domain::ids::{CategoryId, ProductId};
use emporium_domain::money::Money;
use emporium_domain::paging::Page;
use emporium_domain::time::Timestamp;
use emporium_domain::{Error, Result};
use emporium_store::{CatalogChange, CategoryRecord, CategorySummary, ProductRecord, Store};

use crate::read_cache::CatalogCache;

/// How long a missing sequence number is waited for before it is taken for
/// a rolled-back transaction's.
pub const GAP_WAIT: Duration = Duration::from_secs(10);
/// Changes read in one go; a server further behind rebuilds instead.
const BATCH: u32 = 10_000;
/// A hole this wide in the feed means it was pruned past us: rebuild.
const MAX_GAP: i64 = 1_000;
/// On start, changes this far before the feed's head are applied again after
/// the load (idempotent), for transactions that were in flight during it.
const REPLAY_ON_LOAD: i64 = 1_000;
/// The poll that stands in for a lost notification (and is the only signal
/// on SQLite, where another process writing the file is not expected).
const POLL: Duration = Duration::from_millis(250);
/// Changes are kept this long for servers that are briefly behind.
const KEEP_CHANGES: Duration = Duration::from_secs(600);

/// Words shorter than this are matched exactly (or as a prefix); longer ones
/// also match a word one edit away (`hedphones` finds headphones).
const TYPO_MIN_LEN: usize = 5;

/// Field weights: a word in the name counts most, then keywords, then description.
const NAME_WEIGHT: f32 = 10.0;
const KEYWORD_WEIGHT: f32 = 4.0;
const DESCRIPTION_WEIGHT: f32 = 1.0;

/// Selling-price bands the facets count in, as lower bounds in minor units
/// (the last band is open-ended).
pub const PRICE_BANDS: [i64; 8] = [0, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000];

/// How the products matching a listing's filter spread over categories and
/// price bands: what a shop front draws its filter sidebar from.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProductFacets {
    /// Each category holding a match (its own products, not its
    /// sub-categories'), with how many; by name.
    pub categories: Vec<(CategorySummary, u64)>,
    /// `(from, below, count)` per non-empty band; `below` is `None` for the last.
    pub price_bands: Vec<(Money, Option<Money>, u64)>,
}

/// A page of a listing, its total, and the facets of the whole match.
#[derive(Debug, Clone, Default)]
pub struct ProductListing {
    /// Shared with the read model, not copied: a page of 20 deep copies
    /// was the largest cost of a listing (issue 12's profile).
    pub products: Vec<Arc<ProductRecord>>,
    pub total: u64,
    pub facets: ProductFacets,
}

fn price_band(sell_price: i64) -> usize {
    PRICE_BANDS.iter().rposition(|&from| sell_price >= from).unwrap_or(0)
}

/// Hashes the slot numbers the search maps are keyed by: they are small
/// dense integers this process assigned, not input an attacker picks, so
/// one multiplication (Fibonacci hashing) spreads them well enough, where
/// std's SipHash would be most of a search's time. Hand-written: no crate
/// of the workspace offers one, and these few lines do not justify a new one.
#[derive(Default, Clone, Copy)]
struct SlotHasher(u64);

impl std::hash::Hasher for SlotHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }
    fn write_u32(&mut self, n: u32) {
        self.0 = u64::from(n).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

type SlotMap<V> = HashMap<u32, V, std::hash::BuildHasherDefault<SlotHasher>>;

/// Facets being counted: per category slot and per price band.
struct FacetCounts {
    by_category: Vec<u64>,
    bands: [u64; PRICE_BANDS.len()],
}

impl FacetCounts {
    fn new(categories: usize) -> Self {
        Self { by_category: vec![0; categories], bands: [0; PRICE_BANDS.len()] }
    }

    fn add(&mut self, row: &Row) {
        if let Some(n) = self.by_category.get_mut(row.category_slot as usize) {
            *n += 1;
        }
        self.bands[price_band(row.sell_price)] += 1;
    }

    fn finish(self, categories: &[CategoryRecord]) -> ProductFacets {
        let mut by_category: Vec<(CategorySummary, u64)> = categories
            .iter()
            .zip(self.by_category)
            .filter(|(_, count)| *count > 0)
            .map(|(c, count)| (CategorySummary { id: c.id, name: c.name.clone(), slug: c.slug.clone() }, count))
            .collect();
        by_category.sort_by(|a, b| a.0.name.to_lowercase().cmp(&b.0.name.to_lowercase()).then(a.0.id.cmp(&b.0.id)));
        let price_bands = self
            .bands
            .iter()
            .enumerate()
            .filter(|(_, n)| **n > 0)
            .map(|(i, n)| {
                (Money::from_minor(PRICE_BANDS[i]), PRICE_BANDS.get(i + 1).map(|m| Money::from_minor(*m)), *n)
            })
            .collect();
        ProductFacets { categories: by_category, price_bands }
    }
}

/// What a listing filters and sorts on, per product, kept apart from the
/// records so a listing scans a compact array instead of chasing pointers.
#[derive(Debug, Clone, Copy)]
struct Row {
    live: bool,
    id: i64,
    category: i64,
    /// The category's position in `Model::categories` (`u32::MAX`: none),
    /// so facets count into an array.
    category_slot: u32,
    sell_price: i64,
    discount: i64,
    available: bool,
    stock: i64,
    created_at: i64,
}

struct Item {
    record: Arc<ProductRecord>,
    sort_name: Box<str>,
    /// The words indexed for this product, to take them out when it changes.
    words: Vec<String>,
}

/// The in-memory catalog.
#[derive(Default)]
struct Model {
    rows: Vec<Row>,
    items: Vec<Option<Item>>,
    slot_of: HashMap<i64, usize>,
    free: Vec<usize>,
    categories: Arc<Vec<CategoryRecord>>,
    /// Category id → its position in `categories`.
    category_slots: HashMap<i64, u32>,
    search: SearchIndex,
    /// Listing scopes in sorted order, built on first use and dropped when
    /// a product is added, removed, re-priced, renamed or moved, or the
    /// category tree changes; a stock or availability change keeps them.
    scopes: std::sync::Mutex<HashMap<Option<i64>, Arc<Scope>>>,
}

/// What a listing's order is by; each is read forwards or backwards.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OrderKey {
    /// `(created_at, id)`: oldest first.
    Created = 0,
    /// `(sell_price, id)`: cheapest first.
    Price = 1,
    /// `(sort_name, id)`: A to Z.
    Name = 2,
}

impl OrderKey {
    /// The key and whether to read it backwards, for a sort other than relevance.
    fn of(sort: ProductSort) -> (Self, bool) {
        match sort {
            ProductSort::Oldest => (Self::Created, false),
            ProductSort::Newest | ProductSort::Relevance => (Self::Created, true),
            ProductSort::PriceAsc => (Self::Price, false),
            ProductSort::PriceDesc => (Self::Price, true),
            ProductSort::NameAsc => (Self::Name, false),
            ProductSort::NameDesc => (Self::Name, true),
        }
    }
}

/// The live products a listing without a search starts from (the whole
/// catalog, or a category with its sub-categories), with their sorted
/// orders and facets made on first use. A listing then reads its page off
/// the order instead of sorting every match: at 100,000 products a listing
/// costs a walk of its scope, and an unfiltered one only its page.
struct Scope {
    slots: Vec<u32>,
    orders: [std::sync::OnceLock<Vec<u32>>; 3],
    facets: std::sync::OnceLock<ProductFacets>,
}

/// Word → (slot → how well the word matches that product, before IDF).
#[derive(Default)]
struct SearchIndex {
    words: BTreeMap<String, SlotMap<f32>>,
    /// Every word of `TYPO_MIN_LEN`+ letters, under itself and each form with
    /// one letter deleted: two words one edit apart share a key (the
    /// symmetric-delete scheme), so typo candidates are a few lookups.
    deletions: HashMap<String, HashSet<String>>,
}

fn deletion_forms(word: &str) -> Vec<String> {
    let chars: Vec<char> = word.chars().collect();
    let mut forms = vec![word.to_string()];
    for i in 0..chars.len() {
        let form: String = chars.iter().enumerate().filter(|(j, _)| *j != i).map(|(_, c)| c).collect();
        if !forms.contains(&form) {
            forms.push(form);
        }
    }
    forms
}

/// Damerau-Levenshtein distance ≤ 1 (one insertion, deletion, substitution
/// or swap of neighbours); the deletion keys only find candidates.
fn within_one_edit(a: &str, b: &str) -> bool {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let (short, long) = if a.len() <= b.len() { (&a, &b) } else { (&b, &a) };
    match long.len() - short.len() {
        0 => {
            let diff: Vec<usize> = (0..short.len()).filter(|&i| short[i] != long[i]).collect();
            diff.len() <= 1
                || (diff.len() == 2
                    && diff[1] == diff[0] + 1
                    && short[diff[0]] == long[diff[1]]
                    && short[diff[1]] == long[diff[0]])
        }
        1 => {
            let first = (0..short.len()).find(|&i| short[i] != long[i]).unwrap_or(short.len());
            short[first..] == long[first + 1..]
        }
        _ => false,
    }
}

/// How much a field's occurrences of a word count: saturating in the count
/// and lower in longer fields (the shape of BM25's term weight, with fixed
/// typical lengths instead of running averages, so scores don't drift as
/// the catalog changes).
fn field_score(weight: f32, count: usize, len: usize, typical: f32) -> f32 {
    let tf = count as f32;
    weight * tf * 2.2 / (tf + 1.2 * (0.25 + 0.75 * len as f32 / typical))
}

fn product_words(record: &ProductRecord) -> HashMap<String, f32> {
    let mut scores: HashMap<String, f32> = HashMap::new();
    let keywords = record.draft.keywords.join(" ");
    for (text, weight, typical) in [
        (record.draft.name.as_str(), NAME_WEIGHT, 3.0),
        (keywords.as_str(), KEYWORD_WEIGHT, 3.0),
        (record.draft.description.as_str(), DESCRIPTION_WEIGHT, 20.0),
    ] {
        let words: Vec<String> = tokens(text).collect();
        let mut counts: HashMap<&str, usize> = HashMap::new();
        for w in &words {
            *counts.entry(w.as_str()).or_default() += 1;
        }
        for (word, count) in counts {
            *scores.entry(word.to_string()).or_default() += field_score(weight, count, words.len(), typical);
        }
    }
    scores
}

impl SearchIndex {
    fn add(&mut self, slot: u32, record: &ProductRecord) -> Vec<String> {
        let scores = product_words(record);
        let mut words = Vec::with_capacity(scores.len());
        for (word, score) in scores {
            let postings = self.words.entry(word.clone()).or_default();
            if postings.is_empty() && word.chars().count() >= TYPO_MIN_LEN {
                for form in deletion_forms(&word) {
                    self.deletions.entry(form).or_default().insert(word.clone());
                }
            }
            postings.insert(slot, score);
            words.push(word);
        }
        words
    }

    fn remove(&mut self, slot: u32, words: &[String]) {
        for word in words {
            let Some(postings) = self.words.get_mut(word) else { continue };
            postings.remove(&slot);
            if postings.is_empty() {
                self.words.remove(word);
                if word.chars().count() >= TYPO_MIN_LEN {
                    for form in deletion_forms(word) {
                        if let Some(set) = self.deletions.get_mut(&form) {
                            set.remove(word);
                            if set.is_empty() {
                                self.deletions.remove(&form);
                            }
                        }
                    }
                }
            }
        }
    }

    /// The indexed words a query word matches: itself (or, as the last word,
    /// every word it begins), and words one edit away, marked as typos.
    fn matching_words(&self, term: &str, prefix: bool) -> Vec<(&str, bool)> {
        let mut found: Vec<(&str, bool)> = Vec::new();
        if prefix {
            for (word, _) in self.words.range::<str, _>((std::ops::Bound::Included(term), std::ops::Bound::Unbounded)) {
                if !word.starts_with(term) {
                    break;
                }
                found.push((word.as_str(), false));
            }
        } else if let Some((word, _)) = self.words.get_key_value(term) {
            found.push((word.as_str(), false));
        }
        if term.chars().count() >= TYPO_MIN_LEN {
            let mut typos: HashSet<&str> = HashSet::new();
            for form in deletion_forms(term) {
                if let Some(words) = self.deletions.get(&form) {
                    typos.extend(words.iter().map(String::as_str));
                }
            }
            for word in typos {
                if !found.iter().any(|(w, _)| *w == word)
                    && within_one_edit(word, term)
                    && let Some((key, _)) = self.words.get_key_value(word)
                {
                    found.push((key.as_str(), true));
                }
            }
        }
        found
    }

    /// Slot → (query words matched only through a typo, score), for products
    /// matching every word of the query.
    fn search(&self, query: &SearchQuery, live: usize) -> SlotMap<(u32, f32)> {
        let terms = query.terms();
        let mut result: Option<SlotMap<(u32, f32)>> = None;
        for (i, term) in terms.iter().enumerate() {
            let mut this: SlotMap<(u32, f32)> = SlotMap::default();
            for (word, typo) in self.matching_words(term, i + 1 == terms.len()) {
                let postings = &self.words[word];
                let n = postings.len() as f32;
                let idf = (1.0 + (live as f32 - n + 0.5).max(0.0) / (n + 0.5)).ln().max(0.01);
                for (&slot, &score) in postings {
                    let candidate = (u32::from(typo), score * idf);
                    let best = this.entry(slot).or_insert(candidate);
                    if (candidate.0, -candidate.1) < (best.0, -best.1) {
                        *best = candidate;
                    }
                }
            }
            result = Some(match result {
                None => this,
                Some(mut so_far) => {
                    so_far.retain(|slot, (typos, score)| match this.get(slot) {
                        Some((t, s)) => {
                            *typos += t;
                            *score += s;
                            true
                        }
                        None => false,
                    });
                    so_far
                }
            });
            if result.as_ref().is_some_and(|r| r.is_empty()) {
                break;
            }
        }
        result.unwrap_or_default()
    }
}

fn row_of(record: &ProductRecord) -> Row {
    Row {
        live: true,
        id: record.id.get(),
        category: record.draft.category_id.map_or(0, |c| c.get()),
        category_slot: u32::MAX,
        sell_price: record.sell_price.minor(),
        discount: record.draft.discount.basis_points(),
        available: record.draft.available,
        stock: record.draft.stock,
        created_at: record.created_at.millis(),
    }
}

impl Model {
    fn live_count(&self) -> usize {
        self.slot_of.len()
    }

    fn upsert(&mut self, record: ProductRecord) {
        let id = record.id.get();
        let slot = match self.slot_of.get(&id) {
            Some(&slot) => slot,
            None => {
                let slot = self.free.pop().unwrap_or_else(|| {
                    self.rows.push(Row { live: false, ..row_of(&record) });
                    self.items.push(None);
                    self.rows.len() - 1
                });
                self.slot_of.insert(id, slot);
                slot
            }
        };
        // Read before the old item is taken out below: a stock change must
        // keep the sorted scopes.
        let renamed = self.items[slot].as_ref().is_none_or(|item| *item.sort_name != *record.draft.sort_name());
        let text_changed = match &self.items[slot] {
            Some(old) => {
                old.record.draft.name != record.draft.name
                    || old.record.draft.keywords != record.draft.keywords
                    || old.record.draft.description != record.draft.description
            }
            None => true,
        };
        let words = if text_changed {
            if let Some(old) = self.items[slot].take() {
                self.search.remove(slot as u32, &old.words);
            }
            self.search.add(slot as u32, &record)
        } else {
            self.items[slot].take().map(|old| old.words).unwrap_or_default()
        };
        let mut row = row_of(&record);
        row.category_slot = self.category_slots.get(&row.category).copied().unwrap_or(u32::MAX);
        let old = &self.rows[slot];
        let moved = renamed
            || !old.live
            || old.category != row.category
            || old.sell_price != row.sell_price
            || old.created_at != row.created_at;
        if moved {
            self.scopes_mut().clear();
        }
        self.rows[slot] = row;
        self.items[slot] = Some(Item { sort_name: record.draft.sort_name().into(), record: Arc::new(record), words });
    }

    fn remove(&mut self, id: i64) {
        if let Some(slot) = self.slot_of.remove(&id) {
            if let Some(old) = self.items[slot].take() {
                self.search.remove(slot as u32, &old.words);
            }
            self.rows[slot].live = false;
            self.free.push(slot);
            self.scopes_mut().clear();
        }
    }

    fn set_categories(&mut self, categories: Vec<CategoryRecord>) {
        let by_id: HashMap<i64, &CategoryRecord> = categories.iter().map(|c| (c.id.get(), c)).collect();
        // A renamed category shows under its new name on its products.
        for item in self.items.iter_mut().flatten() {
            let Some(current) = &item.record.category else { continue };
            if let Some(category) = by_id.get(&current.id.get())
                && (category.name != current.name || category.slug != current.slug)
            {
                let mut record = (*item.record).clone();
                record.category =
                    Some(CategorySummary { id: category.id, name: category.name.clone(), slug: category.slug.clone() });
                item.record = Arc::new(record);
            }
        }
        self.category_slots = categories.iter().enumerate().map(|(i, c)| (c.id.get(), i as u32)).collect();
        for row in &mut self.rows {
            row.category_slot = self.category_slots.get(&row.category).copied().unwrap_or(u32::MAX);
        }
        self.categories = Arc::new(categories);
        self.scopes_mut().clear();
    }

    fn scopes_mut(&mut self) -> &mut HashMap<Option<i64>, Arc<Scope>> {
        self.scopes.get_mut().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The categories a filter on `parent` covers: itself and its children.
    fn covered_categories(&self, parent: CategoryId) -> Vec<i64> {
        self.categories
            .iter()
            .filter(|c| c.id == parent || c.parent_id == Some(parent))
            .map(|c| c.id.get())
            .chain(std::iter::once(parent.get()))
            .collect()
    }

    fn scope(&self, category: Option<CategoryId>) -> Arc<Scope> {
        let key = category.map(|c| c.get());
        let scopes = || self.scopes.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(scope) = scopes().get(&key) {
            return scope.clone();
        }
        // Built outside the lock: two readers may both build it, once.
        let covered = category.map(|c| self.covered_categories(c));
        let slots = (0..self.rows.len() as u32)
            .filter(|&slot| {
                let row = &self.rows[slot as usize];
                row.live && covered.as_ref().is_none_or(|ids| ids.contains(&row.category))
            })
            .collect();
        let scope = Arc::new(Scope { slots, orders: Default::default(), facets: Default::default() });
        scopes().entry(key).or_insert(scope).clone()
    }

    fn order<'s>(&self, scope: &'s Scope, key: OrderKey) -> &'s [u32] {
        scope.orders[key as usize].get_or_init(|| {
            let mut order = scope.slots.clone();
            let row = |slot: u32| &self.rows[slot as usize];
            let name = |slot: u32| self.items[slot as usize].as_ref().map_or("", |i| &i.sort_name);
            match key {
                OrderKey::Created => order.sort_unstable_by_key(|&s| (row(s).created_at, row(s).id)),
                OrderKey::Price => order.sort_unstable_by_key(|&s| (row(s).sell_price, row(s).id)),
                OrderKey::Name => order.sort_unstable_by(|&a, &b| name(a).cmp(name(b)).then(row(a).id.cmp(&row(b).id))),
            }
            order
        })
    }

    fn category(&self, key: &CategoryKey) -> Option<&CategoryRecord> {
        self.categories.iter().find(|c| match key {
            CategoryKey::Id(id) => c.id == *id,
            CategoryKey::Slug(slug) => c.slug == *slug,
        })
    }

    fn product(&self, id: ProductId) -> Option<Arc<ProductRecord>> {
        let slot = *self.slot_of.get(&id.get())?;
        self.items[slot].as_ref().map(|item| item.record.clone())
    }

    fn facets(&self, slots: impl Iterator<Item = u32>) -> ProductFacets {
        let mut counts = FacetCounts::new(self.categories.len());
        for slot in slots {
            counts.add(&self.rows[slot as usize]);
        }
        counts.finish(&self.categories)
    }

    fn record(&self, slot: u32) -> Option<Arc<ProductRecord>> {
        self.items[slot as usize].as_ref().map(|i| i.record.clone())
    }

    fn listing(&self, filter: &ProductFilter, page: Page) -> ProductListing {
        match &filter.search {
            Some(query) if query.is_empty() => ProductListing::default(),
            Some(query) => self.searched_listing(filter, query, page),
            None => self.scoped_listing(filter, page),
        }
    }

    /// Whether a row passes the filters other than category and search.
    fn row_filter(filter: &ProductFilter) -> Option<impl Fn(&Row) -> bool> {
        let min_price = filter.min_price.map(|m| m.minor());
        let max_price = filter.max_price.map(|m| m.minor());
        let min_discount = filter.min_discount.map(|p| p.basis_points());
        let max_discount = filter.max_discount.map(|p| p.basis_points());
        let (available, in_stock) = (filter.available, filter.in_stock);
        let any = min_price.is_some()
            || max_price.is_some()
            || min_discount.is_some()
            || max_discount.is_some()
            || available.is_some()
            || in_stock.is_some();
        any.then_some(move |row: &Row| {
            min_price.is_none_or(|m| row.sell_price >= m)
                && max_price.is_none_or(|m| row.sell_price <= m)
                && min_discount.is_none_or(|m| row.discount >= m)
                && max_discount.is_none_or(|m| row.discount <= m)
                && available.is_none_or(|a| row.available == a)
                && in_stock.is_none_or(|s| (row.stock > 0) == s)
        })
    }

    /// A listing without a search: its page read off the scope's order, with
    /// the other filters applied on the way (counting and faceting every
    /// match), or, with none, the page and the scope's own total and facets.
    fn scoped_listing(&self, filter: &ProductFilter, page: Page) -> ProductListing {
        let scope = self.scope(filter.category);
        let (key, backwards) = OrderKey::of(filter.effective_sort());
        let order = self.order(&scope, key);
        let in_order = || -> Box<dyn Iterator<Item = u32> + '_> {
            if backwards { Box::new(order.iter().rev().copied()) } else { Box::new(order.iter().copied()) }
        };
        let (offset, limit) = (page.offset() as usize, page.limit() as usize);
        match Self::row_filter(filter) {
            None => ProductListing {
                products: in_order().skip(offset).take(limit).filter_map(|slot| self.record(slot)).collect(),
                total: order.len() as u64,
                facets: scope.facets.get_or_init(|| self.facets(scope.slots.iter().copied())).clone(),
            },
            Some(keep) => {
                let mut counts = FacetCounts::new(self.categories.len());
                let mut page_slots = Vec::with_capacity(limit);
                let mut total = 0_usize;
                for slot in in_order() {
                    let row = &self.rows[slot as usize];
                    if keep(row) {
                        if total >= offset && page_slots.len() < limit {
                            page_slots.push(slot);
                        }
                        total += 1;
                        counts.add(row);
                    }
                }
                ProductListing {
                    products: page_slots.into_iter().filter_map(|slot| self.record(slot)).collect(),
                    total: total as u64,
                    facets: counts.finish(&self.categories),
                }
            }
        }
    }

    fn searched_listing(&self, filter: &ProductFilter, query: &SearchQuery, page: Page) -> ProductListing {
        let found = self.search.search(query, self.live_count());
        let categories = filter.category.map(|parent| self.covered_categories(parent));
        let keep_row = Self::row_filter(filter);
        let keep = |row: &Row| {
            row.live
                && categories.as_ref().is_none_or(|ids| ids.contains(&row.category))
                && keep_row.as_ref().is_none_or(|keep| keep(row))
        };
        // (slot, typos, score): the last two only matter for relevance.
        let mut matches: Vec<(u32, u32, f32)> = found
            .iter()
            .filter(|(slot, _)| keep(&self.rows[**slot as usize]))
            .map(|(slot, (typos, score))| (*slot, *typos, *score))
            .collect();
        let total = matches.len() as u64;
        let facets = self.facets(matches.iter().map(|m| m.0));
        let row = |slot: u32| &self.rows[slot as usize];
        let name = |slot: u32| self.items[slot as usize].as_ref().map_or("", |i| &i.sort_name);
        let sort = filter.effective_sort();
        let order = |a: &(u32, u32, f32), b: &(u32, u32, f32)| -> Ordering {
            let (ra, rb) = (row(a.0), row(b.0));
            match sort {
                ProductSort::PriceAsc => (ra.sell_price, ra.id).cmp(&(rb.sell_price, rb.id)),
                ProductSort::PriceDesc => (rb.sell_price, rb.id).cmp(&(ra.sell_price, ra.id)),
                ProductSort::NameAsc => name(a.0).cmp(name(b.0)).then(ra.id.cmp(&rb.id)),
                ProductSort::NameDesc => name(b.0).cmp(name(a.0)).then(rb.id.cmp(&ra.id)),
                ProductSort::Oldest => (ra.created_at, ra.id).cmp(&(rb.created_at, rb.id)),
                ProductSort::Newest => (rb.created_at, rb.id).cmp(&(ra.created_at, ra.id)),
                // Fewer words matched through a typo first, then the better score.
                ProductSort::Relevance => a.1.cmp(&b.1).then(b.2.total_cmp(&a.2)).then(ra.id.cmp(&rb.id)),
            }
        };
        let offset = page.offset() as usize;
        let end = (offset + page.limit() as usize).min(matches.len());
        if offset >= matches.len() {
            return ProductListing { products: Vec::new(), total, facets };
        }
        // Only the first `end` in order are needed: partition around the
        // end-th, then sort that head.
        if end < matches.len() {
            matches.select_nth_unstable_by(end, order);
            matches.truncate(end);
        }
        matches.sort_unstable_by(order);
        let products = matches[offset..end].iter().filter_map(|(slot, _, _)| self.record(*slot)).collect();
        ProductListing { products, total, facets }
    }
}

/// Where this server is in the change feed.
#[derive(Default)]
struct FeedPosition {
    last: i64,
    /// Numbers below `last` not seen yet, with when they were first missed.
    gaps: BTreeMap<i64, Instant>,
}

/// The catalog read model: see the module documentation.
pub struct ReadModel {
    store: Arc<dyn Store>,
    /// The rendered-response cache, dropped whenever a change is applied.
    cache: Arc<CatalogCache>,
    model: RwLock<Model>,
    loaded: AtomicBool,
    position: tokio::sync::Mutex<FeedPosition>,
    /// Syncs asked for, and the last one answered by a completed sync: a sync
    /// that began after a caller asked covers that caller's commits.
    asked: AtomicU64,
    answered: AtomicU64,
}

impl ReadModel {
    pub fn new(store: Arc<dyn Store>, cache: Arc<CatalogCache>) -> Self {
        Self {
            store,
            cache,
            model: RwLock::new(Model::default()),
            loaded: AtomicBool::new(false),
            position: tokio::sync::Mutex::new(FeedPosition::default()),
            asked: AtomicU64::new(0),
            answered: AtomicU64::new(0),
        }
    }

    /// Whether the catalog has been loaded (what `/ready` waits for).
    pub fn is_loaded(&self) -> bool {
        self.loaded.load(AtomicOrdering::Acquire)
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Model> {
        self.model.read().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Model> {
        self.model.write().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    async fn ensure_loaded(&self) -> Result<()> {
        if !self.is_loaded() {
            self.sync().await?;
        }
        Ok(())
    }

    /// Applies every change committed before this call (this server's own
    /// writes included); concurrent callers share one pass over the feed.
    pub async fn sync(&self) -> Result<()> {
        let ticket = self.asked.fetch_add(1, AtomicOrdering::AcqRel) + 1;
        let mut position = self.position.lock().await;
        if self.answered.load(AtomicOrdering::Acquire) >= ticket {
            return Ok(());
        }
        let covers = self.asked.load(AtomicOrdering::Acquire);
        if !self.is_loaded() {
            self.rebuild(&mut position, "start-up").await?;
        }
        self.catch_up(&mut position).await?;
        self.answered.fetch_max(covers, AtomicOrdering::AcqRel);
        Ok(())
    }

    async fn rebuild(&self, position: &mut FeedPosition, why: &str) -> Result<()> {
        let started = Instant::now();
        let (_, head) = self.store.catalog_change_bounds().await?;
        let categories = self.store.list_categories().await?;
        let products = self.store.live_products().await?;
        let count = products.len();
        let mut model = Model::default();
        model.set_categories(categories);
        for product in products {
            model.upsert(product);
        }
        *self.write() = model;
        // Transactions in flight while loading may hold numbers below the
        // head: apply the recent ones again (reloading is idempotent).
        *position = FeedPosition { last: (head - REPLAY_ON_LOAD).max(0), gaps: BTreeMap::new() };
        self.loaded.store(true, AtomicOrdering::Release);
        self.cache.invalidate();
        tracing::info!(
            products = count,
            reason = why,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "catalog loaded into memory"
        );
        Ok(())
    }

    async fn catch_up(&self, position: &mut FeedPosition) -> Result<()> {
        let now = Instant::now();
        position.gaps.retain(|_, first_missed| now.duration_since(*first_missed) < GAP_WAIT);
        let gaps: Vec<i64> = position.gaps.keys().copied().collect();
        let changes = self.store.catalog_changes(position.last, &gaps, BATCH).await?;
        let fresh = changes.iter().filter(|c| c.seq > position.last).count();
        let first_fresh = changes.iter().find(|c| c.seq > position.last).map(|c| c.seq);
        if fresh >= BATCH as usize || first_fresh.is_some_and(|seq| seq - position.last > MAX_GAP && position.last > 0)
        {
            tracing::warn!(
                at = position.last,
                next = first_fresh,
                "catalog read model fell behind the change feed; rebuilding"
            );
            self.rebuild(position, "fell behind").await?;
            return Box::pin(self.catch_up(position)).await;
        }
        if changes.is_empty() {
            return Ok(());
        }
        let mut next = position.last + 1;
        for change in &changes {
            position.gaps.remove(&change.seq);
            if change.seq > position.last {
                for missing in next..change.seq {
                    position.gaps.insert(missing, now);
                }
                next = change.seq + 1;
            }
        }
        position.last = position.last.max(next - 1);
        self.apply(&changes).await
    }

    async fn apply(&self, changes: &[CatalogChange]) -> Result<()> {
        let mut ids: Vec<ProductId> = changes.iter().filter_map(|c| c.product).collect();
        ids.sort_unstable_by_key(|id| id.get());
        ids.dedup();
        let categories =
            if changes.iter().any(|c| c.category.is_some()) { Some(self.store.list_categories().await?) } else { None };
        let products = self.store.live_products_by_id(&ids).await?;
        let mut model = self.write();
        if let Some(categories) = categories {
            model.set_categories(categories);
        }
        let live: HashSet<i64> = products.iter().map(|p| p.id.get()).collect();
        for id in &ids {
            if !live.contains(&id.get()) {
                model.remove(id.get());
            }
        }
        for product in products {
            model.upsert(product);
        }
        drop(model);
        self.cache.invalidate();
        Ok(())
    }

    /// Follows other servers' changes until `stop`: loads the catalog, then
    /// syncs whenever PostgreSQL notifies, and every [`POLL`] regardless;
    /// now and then prunes the feed of changes older than [`KEEP_CHANGES`].
    pub async fn follow(self: Arc<Self>, mut stop: tokio::sync::watch::Receiver<bool>) {
        let mut listener = None;
        let mut last_prune = Instant::now();
        loop {
            if *stop.borrow() {
                return;
            }
            if listener.is_none() {
                listener = match self.store.listen_catalog_changes().await {
                    Ok(l) => l,
                    Err(error) => {
                        tracing::warn!(%error, "cannot listen for catalog changes; polling only");
                        None
                    }
                };
            }
            if let Err(error) = self.sync().await {
                tracing::warn!(error = %error, "catalog read model could not follow the change feed");
            }
            if last_prune.elapsed() > Duration::from_secs(60) {
                last_prune = Instant::now();
                let below = self.position.lock().await.last - REPLAY_ON_LOAD;
                let before = Timestamp::from_millis(Timestamp::now().millis() - KEEP_CHANGES.as_millis() as i64);
                if let Err(error) = self.store.prune_catalog_changes(before, below).await {
                    tracing::warn!(%error, "could not prune the catalog change feed");
                }
            }
            let woken = async {
                match listener.as_mut() {
                    Some(l) => l.next().await.is_ok(),
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                ok = woken => if !ok { listener = None },
                () = tokio::time::sleep(POLL) => {}
                _ = stop.changed() => return,
            }
        }
    }

    pub async fn categories(&self) -> Result<Arc<Vec<CategoryRecord>>> {
        self.ensure_loaded().await?;
        Ok(self.read().categories.clone())
    }

    pub async fn category(&self, key: &CategoryKey) -> Result<Option<CategoryRecord>> {
        self.ensure_loaded().await?;
        Ok(self.read().category(key).cloned())
    }

    pub async fn product(&self, id: ProductId) -> Result<Arc<ProductRecord>> {
        self.ensure_loaded().await?;
        self.read().product(id).ok_or_else(|| Error::NotFound("Product not found".into()))
    }

    /// A listing: filtered, counted, sorted and paged from memory.
    pub async fn products(&self, filter: &ProductFilter, page: Page) -> Result<ProductListing> {
        self.ensure_loaded().await?;
        Ok(self.read().listing(filter, page))
    }

    /// The id of the category a key names, if any.
    pub async fn category_id(&self, key: &CategoryKey) -> Result<Option<CategoryId>> {
        Ok(self.category(key).await?.map(|c| c.id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_edit_is_one_insertion_deletion_substitution_or_swap() {
        assert!(within_one_edit("hedphones", "headphones"));
        assert!(within_one_edit("headphonez", "headphones"));
        assert!(within_one_edit("haedphones", "headphones"));
        assert!(within_one_edit("headphones", "headphones"));
        assert!(!within_one_edit("hdphones", "headphones"));
        assert!(!within_one_edit("haedphonez", "headphones"));
    }

    #[test]
    fn words_one_edit_apart_share_a_deletion_form() {
        let a: HashSet<String> = deletion_forms("headphones").into_iter().collect();
        assert!(deletion_forms("hedphones").iter().any(|f| a.contains(f)));
        assert!(deletion_forms("haedphones").iter().any(|f| a.contains(f)));
    }
}
