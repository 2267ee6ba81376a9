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
        self.add_parts(row.category_slot, row.sell_price);
    }

    fn add_parts(&mut self, category_slot: u32, sell_price: i64) {
        if let Some(n) = self.by_category.get_mut(category_slot as usize) {
            *n += 1;
        }
        self.bands[price_band(sell_price)] += 1;
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
}

/// Per slot, what a search reads of every match: its price and category
/// slot (to filter and facet) and its id (relevance's tie-break). Copies
/// of the rows' fields, kept apart so the per-match loop reads dense
/// arrays: at 100,000 products the rows are 5.6 MB and a search's matches
/// are spread over all of them, and the load of each match's row was over
/// half of the search's filtering time (issue 12's profile); the prices
/// alone are 800 KB.
#[derive(Default)]
struct Columns {
    sell_price: Vec<i64>,
    category_slot: Vec<u32>,
    id: Vec<i64>,
}

impl Columns {
    fn push(&mut self, row: &Row) {
        self.sell_price.push(row.sell_price);
        self.category_slot.push(row.category_slot);
        self.id.push(row.id);
    }

    fn set(&mut self, slot: usize, row: &Row) {
        self.sell_price[slot] = row.sell_price;
        self.category_slot[slot] = row.category_slot;
        self.id[slot] = row.id;
    }
}

/// The in-memory catalog.
#[derive(Default)]
struct Model {
    /// Set only through `Model::set_row` (and pushed with `Columns::push`),
    /// which keep `columns` the same; `live` is the rows' alone.
    rows: Vec<Row>,
    columns: Columns,
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
    by_price: std::sync::OnceLock<PriceColumns>,
    facets: std::sync::OnceLock<ProductFacets>,
}

/// Beside a scope's price order, each entry's selling price and category
/// slot: a price range is two binary searches, and its count and facets a
/// scan of these arrays instead of a row read per product (at 100,000
/// products those random reads were most of a filtered listing).
struct PriceColumns {
    prices: Vec<i64>,
    category_slots: Vec<u32>,
}

/// Keeps the first `end` of `items` in `order`, sorted, and drops the rest.
///
/// A page is a few dozen of up to 100,000 matches. One pass keeps the best
/// `end` so far in a sorted buffer, comparing each item with the worst of
/// them; for items in no particular order of `order` (a search's matches
/// by relevance, by slot) few are let in, about `end × ln(n / end)`. Items
/// that arrive in order (a sort that follows the slots) would each be let
/// in, so after a budget of admissions the pass gives up and partitions
/// around the end-th instead, then sorts that head. (The partition alone
/// was a tenth of a search at 100,000 products: it moves every match, two
/// or three times.)
fn sort_head<T: Copy>(items: &mut Vec<T>, end: usize, mut order: impl FnMut(&T, &T) -> Ordering) {
    if (1..=128).contains(&end) && items.len() > end * 8 {
        let mut head: Vec<T> = Vec::with_capacity(end + 1);
        let mut budget = 64 + items.len() / 8;
        let mut done = true;
        for item in items.iter() {
            if head.len() == end && head.last().is_some_and(|worst| order(item, worst) != Ordering::Less) {
                continue;
            }
            if budget == 0 {
                done = false;
                break;
            }
            budget -= 1;
            let at = head.partition_point(|kept| order(kept, item) != Ordering::Greater);
            head.insert(at, *item);
            head.truncate(end);
        }
        if done {
            *items = head;
            return;
        }
    }
    if end < items.len() {
        items.select_nth_unstable_by(end, &mut order);
        items.truncate(end);
    }
    items.sort_unstable_by(order);
}

/// The products a word is found in, by slot, with how well it matches
/// each (before IDF). Sorted by slot: a query intersects its words' lists by
/// merging or by binary search, and reads the rows in memory order. (Hash
/// maps here cost most of a search at 100,000 products: a common word's
/// matches were copied into a map per query.)
type Postings = Vec<(u32, f32)>;

/// A query's match: `(slot, query words matched only through a typo, score)`.
type Match = (u32, u32, f32);

/// Whether `a` is a better way to match a query word than `b`: fewer typos,
/// then the higher score.
fn better(a: (u32, f32), b: (u32, f32)) -> bool {
    a.0 < b.0 || (a.0 == b.0 && a.1 > b.1)
}

/// Word → its postings.
#[derive(Default)]
struct SearchIndex {
    words: BTreeMap<String, Postings>,
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
    fn add(&mut self, slot: u32, record: &ProductRecord) {
        for (word, score) in product_words(record) {
            if !self.words.contains_key(&word) && word.chars().count() >= TYPO_MIN_LEN {
                for form in deletion_forms(&word) {
                    self.deletions.entry(form).or_default().insert(word.clone());
                }
            }
            let postings = self.words.entry(word).or_default();
            // Slots are handed out in order while loading, so this is
            // nearly always a push.
            match postings.binary_search_by_key(&slot, |p| p.0) {
                Ok(i) => postings[i].1 = score,
                Err(i) => postings.insert(i, (slot, score)),
            }
        }
    }

    /// Takes out what [`Self::add`] put in for this record (its words are
    /// tokenized again rather than kept: a list of words per product was a
    /// quarter of the memory at 100,000 products).
    fn remove(&mut self, slot: u32, record: &ProductRecord) {
        for word in product_words(record).into_keys() {
            let Some(postings) = self.words.get_mut(&word) else { continue };
            if let Ok(i) = postings.binary_search_by_key(&slot, |p| p.0) {
                postings.remove(i);
            }
            if postings.is_empty() {
                self.words.remove(&word);
                if word.chars().count() >= TYPO_MIN_LEN {
                    for form in deletion_forms(&word) {
                        if let Some(set) = self.deletions.get_mut(&form) {
                            set.remove(&word);
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

    /// The products matching every word of the query, sorted by slot.
    fn search(&self, query: &SearchQuery, live: usize) -> Vec<Match> {
        let terms = query.terms();
        // Per query word: the postings of each indexed word it matches,
        // whether through a typo, and that word's IDF.
        let mut per_term: Vec<Vec<(&Postings, u32, f32)>> = terms
            .iter()
            .enumerate()
            .map(|(i, term)| {
                self.matching_words(term, i + 1 == terms.len())
                    .into_iter()
                    .map(|(word, typo)| {
                        let postings = &self.words[word];
                        let n = postings.len() as f32;
                        let idf = (1.0 + (live as f32 - n + 0.5).max(0.0) / (n + 0.5)).ln().max(0.01);
                        (postings, u32::from(typo), idf)
                    })
                    .collect()
            })
            .collect();
        let size = |words: &Vec<(&Postings, u32, f32)>| words.iter().map(|w| w.0.len()).sum::<usize>();
        // The rarest word first: what it matches is all the others are asked about.
        per_term.sort_by_key(size);
        let mut result: Option<Vec<Match>> = None;
        for words in &per_term {
            result = Some(match result {
                None => Self::term_matches(words),
                // Few candidates left: look each up rather than walk a long list.
                Some(so_far) if so_far.len() * 16 < size(words) => Self::probe(so_far, words),
                Some(so_far) => Self::intersect(so_far, &Self::term_matches(words)),
            });
            if result.as_ref().is_some_and(Vec::is_empty) {
                break;
            }
        }
        result.unwrap_or_default()
    }

    /// Every product one query word matches, through its best-matching
    /// indexed word, sorted by slot: the words' postings merged (each is
    /// sorted already; sorting their concatenation was a tenth of a search).
    fn term_matches(words: &[(&Postings, u32, f32)]) -> Vec<Match> {
        fn scored<'p>(&(postings, typo, idf): &(&'p Postings, u32, f32)) -> impl Iterator<Item = Match> + 'p {
            postings.iter().map(move |&(slot, score)| (slot, typo, score * idf))
        }
        let Some((first, rest)) = words.split_first() else { return Vec::new() };
        let mut matches: Vec<Match> = scored(first).collect();
        for word in rest {
            let mut merged = Vec::with_capacity(matches.len() + word.0.len());
            let mut theirs = scored(word).peekable();
            for mine in matches {
                while let Some(other) = theirs.next_if(|o| o.0 < mine.0) {
                    merged.push(other);
                }
                match theirs.next_if(|o| o.0 == mine.0) {
                    Some(other) if better((other.1, other.2), (mine.1, mine.2)) => merged.push(other),
                    _ => merged.push(mine),
                }
            }
            merged.extend(theirs);
            matches = merged;
        }
        matches
    }

    /// The matches so far that this query word also matches, each looked up
    /// by binary search, with its typo and score added.
    fn probe(mut so_far: Vec<Match>, words: &[(&Postings, u32, f32)]) -> Vec<Match> {
        so_far.retain_mut(|m| {
            let mut best: Option<(u32, f32)> = None;
            for &(postings, typo, idf) in words {
                if let Ok(i) = postings.binary_search_by_key(&m.0, |p| p.0) {
                    let candidate = (typo, postings[i].1 * idf);
                    if best.is_none_or(|b| better(candidate, b)) {
                        best = Some(candidate);
                    }
                }
            }
            best.inspect(|(typo, score)| {
                m.1 += typo;
                m.2 += score;
            })
            .is_some()
        });
        so_far
    }

    /// The matches in both lists (each sorted by slot), typos and scores added.
    fn intersect(so_far: Vec<Match>, this: &[Match]) -> Vec<Match> {
        let mut both = Vec::with_capacity(so_far.len().min(this.len()));
        let mut other = this.iter().peekable();
        for m in so_far {
            while other.next_if(|o| o.0 < m.0).is_some() {}
            if let Some(o) = other.next_if(|o| o.0 == m.0) {
                both.push((m.0, m.1 + o.1, m.2 + o.2));
            }
        }
        both
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
                    let row = Row { live: false, ..row_of(&record) };
                    self.columns.push(&row);
                    self.rows.push(row);
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
        if text_changed {
            if let Some(old) = self.items[slot].take() {
                self.search.remove(slot as u32, &old.record);
            }
            self.search.add(slot as u32, &record);
        }
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
        self.set_row(slot, row);
        self.items[slot] = Some(Item { sort_name: record.draft.sort_name().into(), record: Arc::new(record) });
    }

    fn set_row(&mut self, slot: usize, row: Row) {
        self.columns.set(slot, &row);
        self.rows[slot] = row;
    }

    fn remove(&mut self, id: i64) {
        if let Some(slot) = self.slot_of.remove(&id) {
            if let Some(old) = self.items[slot].take() {
                self.search.remove(slot as u32, &old.record);
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
        for slot in 0..self.rows.len() {
            let category_slot = self.category_slots.get(&self.rows[slot].category).copied().unwrap_or(u32::MAX);
            self.set_row(slot, Row { category_slot, ..self.rows[slot] });
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
        let scope = Arc::new(Scope {
            slots,
            orders: Default::default(),
            by_price: Default::default(),
            facets: Default::default(),
        });
        scopes().entry(key).or_insert(scope).clone()
    }

    /// How two products compare in `key`'s order (forwards).
    fn compare(&self, key: OrderKey, a: u32, b: u32) -> Ordering {
        let (ra, rb) = (&self.rows[a as usize], &self.rows[b as usize]);
        let name = |slot: u32| self.items[slot as usize].as_ref().map_or("", |i| &i.sort_name);
        match key {
            OrderKey::Created => (ra.created_at, ra.id).cmp(&(rb.created_at, rb.id)),
            OrderKey::Price => (ra.sell_price, ra.id).cmp(&(rb.sell_price, rb.id)),
            OrderKey::Name => name(a).cmp(name(b)).then(ra.id.cmp(&rb.id)),
        }
    }

    /// How two products compare in `key`'s order, read `backwards` or not.
    fn compare_in(&self, key: OrderKey, backwards: bool, a: u32, b: u32) -> Ordering {
        let order = self.compare(key, a, b);
        if backwards { order.reverse() } else { order }
    }

    fn order<'s>(&self, scope: &'s Scope, key: OrderKey) -> &'s [u32] {
        scope.orders[key as usize].get_or_init(|| {
            let mut order = scope.slots.clone();
            order.sort_unstable_by(|&a, &b| self.compare(key, a, b));
            order
        })
    }

    fn price_columns<'s>(&self, scope: &'s Scope) -> (&'s [u32], &'s PriceColumns) {
        let order = self.order(scope, OrderKey::Price);
        let columns = scope.by_price.get_or_init(|| PriceColumns {
            prices: order.iter().map(|&slot| self.rows[slot as usize].sell_price).collect(),
            category_slots: order.iter().map(|&slot| self.rows[slot as usize].category_slot).collect(),
        });
        (order, columns)
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

    /// Whether a row passes the filters other than category, search and
    /// price (discount, availability, stock), when there are any.
    fn other_filter(filter: &ProductFilter) -> Option<impl Fn(&Row) -> bool> {
        Self::filter_rows(filter, false)
    }

    /// Whether a row passes the filters other than category and search.
    fn row_filter(filter: &ProductFilter) -> Option<impl Fn(&Row) -> bool> {
        Self::filter_rows(filter, true)
    }

    fn filter_rows(filter: &ProductFilter, with_price: bool) -> Option<impl Fn(&Row) -> bool> {
        let min_price = filter.min_price.filter(|_| with_price).map(|m| m.minor());
        let max_price = filter.max_price.filter(|_| with_price).map(|m| m.minor());
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
        let only_price = filter.min_discount.is_none()
            && filter.max_discount.is_none()
            && filter.available.is_none()
            && filter.in_stock.is_none();
        if only_price && (filter.min_price.is_some() || filter.max_price.is_some()) {
            let min = filter.min_price.map_or(i64::MIN, |m| m.minor());
            let max = filter.max_price.map_or(i64::MAX, |m| m.minor());
            return self.price_range_listing(&scope, (key, backwards), (min, max), page);
        }
        let order = self.order(&scope, key);
        let (offset, limit) = (page.offset() as usize, page.limit() as usize);
        match Self::row_filter(filter) {
            None => ProductListing {
                products: Self::in_order(order, backwards)
                    .skip(offset)
                    .take(limit)
                    .filter_map(|slot| self.record(slot))
                    .collect(),
                total: order.len() as u64,
                facets: scope.facets.get_or_init(|| self.facets(scope.slots.iter().copied())).clone(),
            },
            Some(keep) => self.walked_listing(order, backwards, keep, page),
        }
    }

    fn in_order(order: &[u32], backwards: bool) -> Box<dyn Iterator<Item = u32> + '_> {
        if backwards { Box::new(order.iter().rev().copied()) } else { Box::new(order.iter().copied()) }
    }

    /// Every product of `order` that `keep` keeps, counted and faceted, and
    /// the page of them.
    fn walked_listing(
        &self,
        order: &[u32],
        backwards: bool,
        keep: impl Fn(&Row) -> bool,
        page: Page,
    ) -> ProductListing {
        let (offset, limit) = (page.offset() as usize, page.limit() as usize);
        let mut counts = FacetCounts::new(self.categories.len());
        let mut page_slots = Vec::with_capacity(limit);
        let mut total = 0_usize;
        for slot in Self::in_order(order, backwards) {
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

    /// A listing filtered by selling price (`min..=max`) and nothing else but
    /// its scope: the matches are a run of the price order, so the total and
    /// the facets come from [`PriceColumns`], and the page from that run (in
    /// price order), from a walk of the wanted order that stops at the page's
    /// end (a wide range), or from the run sorted (a narrow one).
    fn price_range_listing(
        &self,
        scope: &Scope,
        (key, backwards): (OrderKey, bool),
        (min, max): (i64, i64),
        page: Page,
    ) -> ProductListing {
        let (by_price, columns) = self.price_columns(scope);
        let start = columns.prices.partition_point(|&p| p < min);
        let end = columns.prices.partition_point(|&p| p <= max).max(start);
        let (run, prices) = (&by_price[start..end], &columns.prices[start..end]);
        let mut counts = FacetCounts::new(self.categories.len());
        for &category in &columns.category_slots[start..end] {
            if let Some(n) = counts.by_category.get_mut(category as usize) {
                *n += 1;
            }
        }
        // Each band's count is the run's prices from its lower bound (band 0
        // takes everything below the next) to the next band's.
        let below = |bound: Option<&i64>| bound.map_or(prices.len(), |&b| prices.partition_point(|&p| p < b));
        for (i, band) in counts.bands.iter_mut().enumerate() {
            let from = if i == 0 { 0 } else { below(PRICE_BANDS.get(i)) };
            *band = (below(PRICE_BANDS.get(i + 1)) - from) as u64;
        }
        let (offset, limit) = (page.offset() as usize, page.limit() as usize);
        let page_slots: Vec<u32> = if key == OrderKey::Price {
            if backwards {
                run.iter().rev().skip(offset).take(limit).copied().collect()
            } else {
                run.iter().skip(offset).take(limit).copied().collect()
            }
        } else if run.len() * 4 >= scope.slots.len() {
            // At least a quarter of the scope matches: about 4 × (offset +
            // limit) entries of the order are read before the page is full.
            let order = self.order(scope, key);
            let in_range = |slot: &u32| (min..=max).contains(&self.columns.sell_price[*slot as usize]);
            if backwards {
                order.iter().rev().filter(|s| in_range(s)).skip(offset).take(limit).copied().collect()
            } else {
                order.iter().filter(|s| in_range(s)).skip(offset).take(limit).copied().collect()
            }
        } else {
            let mut matches = run.to_vec();
            sort_head(&mut matches, offset + limit, |&a, &b| self.compare_in(key, backwards, a, b));
            matches.into_iter().skip(offset).collect()
        };
        ProductListing {
            products: page_slots.into_iter().filter_map(|slot| self.record(slot)).collect(),
            total: run.len() as u64,
            facets: counts.finish(&self.categories),
        }
    }

    fn searched_listing(&self, filter: &ProductFilter, query: &SearchQuery, page: Page) -> ProductListing {
        let mut matches = self.search.search(query, self.live_count());
        // A category's scope lists its products by slot, as the matches are:
        // a merge keeps those in it without reading a row per match.
        if filter.category.is_some() && !matches.is_empty() {
            let scope = self.scope(filter.category);
            let mut in_scope = scope.slots.iter().peekable();
            matches.retain(|m| {
                while in_scope.next_if(|&&s| s < m.0).is_some() {}
                in_scope.peek().is_some_and(|&&s| s == m.0)
            });
        }
        // One pass over the rows of the matches: the other filters, and the
        // facets of what they keep.
        // The price and the facets from the columns; a row is read only
        // for the rarer filters on discount, availability or stock.
        let min = filter.min_price.map_or(i64::MIN, |m| m.minor());
        let max = filter.max_price.map_or(i64::MAX, |m| m.minor());
        let other = Self::other_filter(filter);
        let columns = &self.columns;
        let mut counts = FacetCounts::new(self.categories.len());
        matches.retain(|m| {
            let slot = m.0 as usize;
            let price = columns.sell_price[slot];
            let keep = (min..=max).contains(&price) && other.as_ref().is_none_or(|keep| keep(&self.rows[slot]));
            if keep {
                counts.add_parts(columns.category_slot[slot], price);
            }
            keep
        });
        let total = matches.len() as u64;
        let facets = counts.finish(&self.categories);
        let offset = page.offset() as usize;
        let end = (offset + page.limit() as usize).min(matches.len());
        if offset >= matches.len() {
            return ProductListing { products: Vec::new(), total, facets };
        }
        match filter.effective_sort() {
            // Fewer words matched through a typo first, then the better score.
            ProductSort::Relevance => sort_head(&mut matches, end, |a, b| {
                a.1.cmp(&b.1).then(b.2.total_cmp(&a.2)).then(columns.id[a.0 as usize].cmp(&columns.id[b.0 as usize]))
            }),
            sort => {
                let (key, backwards) = OrderKey::of(sort);
                sort_head(&mut matches, end, |a, b| self.compare_in(key, backwards, a.0, b.0));
            }
        }
        let products = matches[offset..end].iter().filter_map(|m| self.record(m.0)).collect();
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
    use emporium_domain::catalog::ProductDraft;
    use emporium_domain::money::Percent;

    #[test]
    fn one_edit_is_one_insertion_deletion_substitution_or_swap() {
        assert!(within_one_edit("hedphones", "headphones"));
        assert!(within_one_edit("headphonez", "headphones"));
        assert!(within_one_edit("haedphones", "headphones"));
        assert!(within_one_edit("headphones", "headphones"));
        assert!(!within_one_edit("hdphones", "headphones"));
        assert!(!within_one_edit("haedphonez", "headphones"));
    }

    /// A catalog of `n` products in three categories (one nested in
    /// another), with prices, names and dates drawn from a fixed LCG.
    fn catalog(n: i64) -> Model {
        let mut seed: u64 = 7;
        let mut next = move |below: u64| {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (seed >> 33) % below
        };
        let category = |id: i64, parent: Option<i64>| CategoryRecord {
            id: CategoryId::new(id),
            name: format!("Category {id}"),
            slug: format!("category-{id}"),
            description: None,
            parent_id: parent.map(CategoryId::new),
            created_at: Timestamp::from_millis(0),
            updated_at: Timestamp::from_millis(0),
            version: 1,
        };
        let mut model = Model::default();
        model.set_categories(vec![category(1, None), category(2, Some(1)), category(3, None)]);
        let words = ["acme", "nova", "steel", "quiet", "headphones", "kettle", "lamp", "compact"];
        for id in 1..=n {
            let name = format!(
                "{} {} {} M{}",
                words[next(2) as usize],
                words[2 + next(3) as usize],
                words[5 + next(3) as usize],
                next(50)
            );
            let price = Money::from_minor(99 + next(20_000) as i64);
            let discount = Percent::from_basis_points([0, 0, 1_000, 2_500][next(4) as usize]).unwrap();
            let draft = ProductDraft {
                description: format!("{name} for {}", words[next(8) as usize]),
                name,
                price,
                discount,
                category_id: Some(CategoryId::new(1 + next(3) as i64)),
                images: Vec::new(),
                stock: next(3) as i64,
                available: next(5) > 0,
                keywords: vec![words[next(8) as usize].to_string()],
                sku: None,
            };
            let created = Timestamp::from_millis(next(1_000) as i64);
            model.upsert(ProductRecord {
                id: ProductId::new(id),
                sell_price: draft.sell_price(),
                category: None,
                draft,
                created_by: None,
                created_at: created,
                updated_at: created,
                version: 1,
            });
        }
        model
    }

    fn ids(listing: &ProductListing) -> Vec<i64> {
        listing.products.iter().map(|p| p.id.get()).collect()
    }

    #[test]
    fn a_price_range_listing_equals_the_walk_of_every_match() {
        let model = catalog(3_000);
        let sorts = [
            ProductSort::Newest,
            ProductSort::Oldest,
            ProductSort::PriceAsc,
            ProductSort::PriceDesc,
            ProductSort::NameAsc,
            ProductSort::NameDesc,
        ];
        let ranges = [
            (None, Some(50)),
            (Some(0), Some(19_000)),
            (Some(500), Some(2_500)),
            (Some(12_000), None),
            (Some(90), Some(89)),
            (Some(4_000), Some(4_100)),
        ];
        for category in [None, Some(CategoryId::new(1)), Some(CategoryId::new(2)), Some(CategoryId::new(3))] {
            for (min, max) in ranges {
                for sort in sorts {
                    for page in [1, 2, 7, 400] {
                        let filter = ProductFilter {
                            category,
                            min_price: min.map(Money::from_minor),
                            max_price: max.map(Money::from_minor),
                            sort: Some(sort),
                            ..ProductFilter::default()
                        };
                        let page = Page::new(Some(page), Some(20), 20).unwrap();
                        let fast = model.listing(&filter, page);
                        let scope = model.scope(category);
                        let (key, backwards) = OrderKey::of(sort);
                        let keep = Model::row_filter(&filter).unwrap();
                        let walked = model.walked_listing(model.order(&scope, key), backwards, keep, page);
                        let case = format!("{category:?} {min:?}..{max:?} {sort:?} {page:?}");
                        assert_eq!(ids(&fast), ids(&walked), "{case}");
                        assert_eq!(fast.total, walked.total, "{case}");
                        assert_eq!(fast.facets, walked.facets, "{case}");
                    }
                }
            }
        }
    }

    /// The search as a hash map per query word, the way it was before the
    /// postings were sorted lists: the reference the merge and the probes
    /// must agree with.
    fn search_by_maps(index: &SearchIndex, query: &SearchQuery, live: usize) -> HashMap<u32, (u32, f32)> {
        let terms = query.terms();
        let mut result: Option<HashMap<u32, (u32, f32)>> = None;
        for (i, term) in terms.iter().enumerate() {
            let mut this: HashMap<u32, (u32, f32)> = HashMap::new();
            for (word, typo) in index.matching_words(term, i + 1 == terms.len()) {
                let postings = &index.words[word];
                let n = postings.len() as f32;
                let idf = (1.0 + (live as f32 - n + 0.5).max(0.0) / (n + 0.5)).ln().max(0.01);
                for &(slot, score) in postings {
                    let candidate = (u32::from(typo), score * idf);
                    let best = this.entry(slot).or_insert(candidate);
                    if better(candidate, *best) {
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
        }
        result.unwrap_or_default()
    }

    #[test]
    fn the_search_finds_what_a_map_per_word_finds() {
        let mut model = catalog(3_000);
        // A rare word beside common ones, so the probing path runs too.
        let mut rare = (*model.product(ProductId::new(17)).unwrap()).clone();
        rare.draft.name = "acme zephyr steel lamp".into();
        model.upsert(rare);
        for raw in [
            "acme",
            "acme steel",
            "zephyr acme",
            "steel zephyr",
            "hedphones nova",
            "quiet kett",
            "lamp m4",
            "nope",
            "acme lamp kettle",
        ] {
            let query = SearchQuery::parse(raw).unwrap();
            let found = model.search.search(&query, model.live_count());
            assert!(found.windows(2).all(|w| w[0].0 < w[1].0), "{raw}: sorted by slot, once each");
            let reference = search_by_maps(&model.search, &query, model.live_count());
            assert_eq!(found.len(), reference.len(), "{raw}");
            for (slot, typos, score) in found {
                let (t, s) = reference[&slot];
                assert_eq!(typos, t, "{raw}");
                assert!((score - s).abs() <= 1e-4 * s.abs().max(1.0), "{raw}: {score} vs {s}");
            }
        }
        let zephyr = SearchQuery::parse("zephyr").unwrap();
        assert_eq!(model.search.search(&zephyr, model.live_count()).len(), 1);
    }

    #[test]
    fn a_search_in_a_category_keeps_its_products_and_its_sub_categories() {
        let model = catalog(2_000);
        let query = SearchQuery::parse("acme").unwrap();
        for parent in [1, 2, 3] {
            let covered = model.covered_categories(CategoryId::new(parent));
            let filter = ProductFilter {
                search: Some(query.clone()),
                category: Some(CategoryId::new(parent)),
                sort: Some(ProductSort::Oldest),
                ..ProductFilter::default()
            };
            let listing = model.listing(&filter, Page::new(Some(1), Some(100), 20).unwrap());
            let expected: Vec<u32> = model
                .search
                .search(&query, model.live_count())
                .into_iter()
                .map(|m| m.0)
                .filter(|&slot| covered.contains(&model.rows[slot as usize].category))
                .collect();
            assert_eq!(listing.total, expected.len() as u64, "category {parent}");
            assert!(listing.total > 0);
            assert!(listing.products.iter().all(|p| covered.contains(&p.draft.category_id.unwrap().get())));
        }
    }

    #[test]
    fn the_head_kept_is_the_head_of_the_whole_sort_whatever_the_order_items_come_in() {
        let mut seed: u64 = 3;
        let random: Vec<(u32, u32)> = (0..5_000)
            .map(|i| {
                seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                ((seed >> 40) as u32 % 300, i)
            })
            .collect();
        let ascending: Vec<(u32, u32)> = (0..5_000).map(|i| (i, i)).collect();
        let descending: Vec<(u32, u32)> = ascending.iter().rev().copied().collect();
        for items in [random, ascending, descending] {
            for end in [0, 1, 20, 60, 128, 129, 700, 5_000, 6_000] {
                let mut expected = items.clone();
                expected.sort_unstable();
                expected.truncate(end);
                let mut head = items.clone();
                sort_head(&mut head, end, |a, b| a.cmp(b));
                assert_eq!(head, expected, "end {end}");
            }
        }
    }

    #[test]
    fn the_columns_copy_the_rows_through_edits_removals_and_category_changes() {
        let same = |model: &Model| {
            for (slot, row) in model.rows.iter().enumerate() {
                assert_eq!(model.columns.sell_price[slot], row.sell_price, "slot {slot}");
                assert_eq!(model.columns.category_slot[slot], row.category_slot, "slot {slot}");
                assert_eq!(model.columns.id[slot], row.id, "slot {slot}");
            }
        };
        let mut model = catalog(60);
        same(&model);
        let mut repriced = (*model.product(ProductId::new(5)).unwrap()).clone();
        repriced.draft.price = Money::from_minor(12_345);
        repriced.sell_price = repriced.draft.sell_price();
        repriced.draft.category_id = Some(CategoryId::new(3));
        model.upsert(repriced);
        model.remove(7);
        let mut reused = (*model.product(ProductId::new(8)).unwrap()).clone();
        reused.id = ProductId::new(1_000);
        model.upsert(reused);
        same(&model);
        assert_eq!(model.columns.sell_price[model.slot_of[&5]], 12_345);
        let mut categories = (*model.categories).clone();
        categories.reverse();
        model.set_categories(categories);
        same(&model);
    }

    #[test]
    fn an_edited_or_removed_product_leaves_the_index() {
        let mut model = catalog(50);
        let mut edited = (*model.product(ProductId::new(3)).unwrap()).clone();
        edited.draft.name = "zephyr".into();
        edited.draft.description = "zephyr".into();
        edited.draft.keywords = Vec::new();
        model.upsert(edited);
        let count = |model: &Model, raw: &str| model.search.search(&SearchQuery::parse(raw).unwrap(), 50).len();
        assert_eq!(count(&model, "zephyr"), 1);
        let words_before = model.search.words.len();
        model.remove(3);
        assert_eq!(count(&model, "zephyr"), 0);
        assert!(!model.search.words.contains_key("zephyr"), "an empty word is dropped");
        assert!(!model.search.deletions.values().any(|w| w.contains("zephyr")), "and its typo forms");
        assert_eq!(model.search.words.len(), words_before - 1);
    }

    #[test]
    fn words_one_edit_apart_share_a_deletion_form() {
        let a: HashSet<String> = deletion_forms("headphones").into_iter().collect();
        assert!(deletion_forms("hedphones").iter().any(|f| a.contains(f)));
        assert!(deletion_forms("haedphones").iter().any(|f| a.contains(f)));
    }
}
