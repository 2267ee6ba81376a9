//! Rate-limit counters behind one small trait, [`Counters`]: in this process
//! ([`MemoryCounters`], the default, needs nothing) or in Redis
//! ([`RedisCounters`], shared by every server behind a balancer, so N
//! servers do not allow N times the budget).
//!
//! A counter is a number with an expiry. Callers send a short batch of
//! [`Op`]s and get each counter's value and time left back, in one round
//! trip. What the numbers mean (budgets, sign-in delays) is decided by the
//! callers; this crate only counts.

mod memory;
mod quota;
mod shared;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

pub use memory::MemoryCounters;
pub use quota::{Quota, Verdict};
pub use shared::RedisCounters;

/// One operation on one counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op<'a> {
    /// Adds one. A counter that does not exist starts at one with `window`
    /// to live; later hits leave its expiry alone (a fixed window).
    Hit { key: &'a str, window: Duration },
    /// Adds one and gives the counter `window` to live from now, so it is
    /// forgotten only after a quiet `window`.
    Slide { key: &'a str, window: Duration },
    /// Reads the counter without changing it.
    Get { key: &'a str },
    /// Sets the counter to one, to live `ttl` from now (a flag, or a delay).
    Set { key: &'a str, ttl: Duration },
    /// Forgets the counter.
    Delete { key: &'a str },
}

impl Op<'_> {
    pub fn key(&self) -> &str {
        match self {
            Op::Hit { key, .. }
            | Op::Slide { key, .. }
            | Op::Get { key }
            | Op::Set { key, .. }
            | Op::Delete { key } => key,
        }
    }
}

/// A counter's value after an [`Op`], and how long it has to live.
/// A counter that does not exist reads as zero with no time left.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Count {
    pub value: u64,
    pub ttl: Duration,
}

/// The counters could not be reached (Redis down, or too slow to answer).
#[derive(Debug, thiserror::Error)]
#[error("rate-limit counters are unreachable: {0}")]
pub struct Unavailable(pub String);

/// Where counters are kept.
#[async_trait]
pub trait Counters: Send + Sync + 'static {
    /// Applies `ops` in order and returns one [`Count`] per op. Each op is
    /// atomic (concurrent hits from many servers are all counted).
    async fn run(&self, ops: &[Op<'_>]) -> Result<Vec<Count>, Unavailable>;
}

/// The counters a server uses: the configured ones (shared when they are in
/// Redis), and this process's own, which stand in for the shared ones where
/// a budget fails open.
#[derive(Clone)]
pub struct Limits {
    counters: Arc<dyn Counters>,
    local: Arc<MemoryCounters>,
}

impl Default for Limits {
    fn default() -> Self {
        Self::in_process()
    }
}

impl Limits {
    /// Counters in this process only: each server counts for itself.
    pub fn in_process() -> Self {
        let local = Arc::new(MemoryCounters::default());
        Self { counters: local.clone(), local }
    }

    /// Counters kept by `counters` (e.g. [`RedisCounters`]).
    pub fn shared(counters: Arc<dyn Counters>) -> Self {
        Self { counters, local: Arc::new(MemoryCounters::default()) }
    }

    /// Runs `ops` on the configured counters; an error when they cannot be
    /// reached (for budgets that fail closed).
    pub async fn run(&self, ops: &[Op<'_>]) -> Result<Vec<Count>, Unavailable> {
        self.counters.run(ops).await
    }

    /// Runs `ops` on the configured counters or, when they cannot be
    /// reached, on this process's own (for budgets that fail open: each
    /// server then enforces the budget alone, and the headers stay true to
    /// what it counted).
    pub async fn run_or_local(&self, ops: &[Op<'_>]) -> Vec<Count> {
        match self.counters.run(ops).await {
            Ok(counts) => counts,
            Err(_) => self.local.apply(ops),
        }
    }
}
