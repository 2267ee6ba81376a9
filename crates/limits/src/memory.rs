//! Counters in this process.
//!
//! A sharded map rather than a crate: the counters need exactly the
//! operations of [`Op`] with per-key expiry, and the caches and limiters we
//! looked at (moka, governor) either hide the expiry or do not count.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::Mutex;
use std::time::Instant;

use async_trait::async_trait;

use crate::{Count, Counters, Op, Unavailable};

const SHARDS: usize = 16;

struct Entry {
    value: u64,
    expires: Instant,
}

#[derive(Default)]
struct Shard {
    entries: HashMap<String, Entry>,
    ops: u32,
}

pub struct MemoryCounters {
    shards: Vec<Mutex<Shard>>,
    hasher: RandomState,
}

impl Default for MemoryCounters {
    fn default() -> Self {
        Self { shards: (0..SHARDS).map(|_| Mutex::new(Shard::default())).collect(), hasher: RandomState::new() }
    }
}

impl MemoryCounters {
    /// [`Counters::run`], which here cannot fail.
    pub fn apply(&self, ops: &[Op<'_>]) -> Vec<Count> {
        ops.iter().map(|op| self.apply_one(op)).collect()
    }

    fn apply_one(&self, op: &Op<'_>) -> Count {
        let now = Instant::now();
        let key = op.key();
        let shard = &self.shards[self.hasher.hash_one(key) as usize % SHARDS];
        let mut shard = shard.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        shard.ops = shard.ops.wrapping_add(1);
        if shard.ops.is_multiple_of(1024) {
            // Forget expired counters now and then, so memory tracks active clients only.
            shard.entries.retain(|_, e| e.expires > now);
        }
        if shard.entries.get(key).is_some_and(|e| e.expires <= now) {
            shard.entries.remove(key);
        }
        let left = |e: &Entry| Count { value: e.value, ttl: e.expires.saturating_duration_since(now) };
        match *op {
            Op::Hit { window, .. } => {
                let entry = shard.entries.entry(key.to_string()).or_insert(Entry { value: 0, expires: now + window });
                entry.value += 1;
                left(entry)
            }
            Op::Slide { window, .. } => {
                let entry = shard.entries.entry(key.to_string()).or_insert(Entry { value: 0, expires: now });
                entry.value += 1;
                entry.expires = now + window;
                left(entry)
            }
            Op::Get { .. } => shard.entries.get(key).map(left).unwrap_or_default(),
            Op::Set { ttl, .. } => {
                let entry = Entry { value: 1, expires: now + ttl };
                let count = left(&entry);
                shard.entries.insert(key.to_string(), entry);
                count
            }
            Op::Delete { .. } => {
                shard.entries.remove(key);
                Count::default()
            }
        }
    }
}

#[async_trait]
impl Counters for MemoryCounters {
    async fn run(&self, ops: &[Op<'_>]) -> Result<Vec<Count>, Unavailable> {
        Ok(self.apply(ops))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    const MINUTE: Duration = Duration::from_secs(60);

    #[test]
    fn hits_count_within_a_fixed_window() {
        let counters = MemoryCounters::default();
        let hit = Op::Hit { key: "k", window: MINUTE };
        assert_eq!(counters.apply(&[hit, hit])[1].value, 2);
        let got = counters.apply(&[Op::Get { key: "k" }, Op::Get { key: "other" }]);
        assert_eq!(got[0].value, 2);
        assert!(got[0].ttl <= MINUTE && got[0].ttl > Duration::from_secs(50));
        assert_eq!(got[1], Count::default());
    }

    #[test]
    fn expired_counters_start_again() {
        let counters = MemoryCounters::default();
        let short = Duration::from_millis(20);
        counters.apply(&[Op::Hit { key: "k", window: short }, Op::Set { key: "flag", ttl: short }]);
        std::thread::sleep(Duration::from_millis(30));
        assert_eq!(counters.apply(&[Op::Hit { key: "k", window: MINUTE }])[0].value, 1);
        assert_eq!(counters.apply(&[Op::Get { key: "flag" }])[0].value, 0);
    }

    #[test]
    fn set_slide_and_delete() {
        let counters = MemoryCounters::default();
        let out = counters.apply(&[
            Op::Slide { key: "s", window: MINUTE },
            Op::Slide { key: "s", window: MINUTE },
            Op::Set { key: "f", ttl: MINUTE },
            Op::Delete { key: "s" },
            Op::Get { key: "s" },
            Op::Get { key: "f" },
        ]);
        assert_eq!(out.iter().map(|c| c.value).collect::<Vec<_>>(), [1, 2, 1, 0, 0, 1]);
    }
}
