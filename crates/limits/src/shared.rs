//! Counters in Redis, shared by every server that names the same Redis and
//! key prefix.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use crate::{Count, Counters, Op, Unavailable};

/// Applies a batch of ops atomically, in one round trip. KEYS are the
/// counters; ARGV holds, per key, the op's name and its milliseconds. Each
/// op answers its value and its time to live in milliseconds.
const BATCH: &str = r#"
local out = {}
for i, key in ipairs(KEYS) do
  local op = ARGV[2 * i - 1]
  local ms = tonumber(ARGV[2 * i])
  local value = 0
  if op == 'hit' then
    value = redis.call('INCR', key)
    -- A counter without an expiry would never reset: give it one.
    if value == 1 or redis.call('PTTL', key) < 0 then redis.call('PEXPIRE', key, ms) end
  elseif op == 'slide' then
    value = redis.call('INCR', key)
    redis.call('PEXPIRE', key, ms)
  elseif op == 'get' then
    value = tonumber(redis.call('GET', key) or '0')
  elseif op == 'set' then
    redis.call('SET', key, '1', 'PX', ms)
    value = 1
  elseif op == 'del' then
    redis.call('DEL', key)
  end
  local ttl = 0
  if value > 0 then ttl = math.max(redis.call('PTTL', key), 0) end
  out[#out + 1] = value
  out[#out + 1] = ttl
end
return out
"#;

/// How long one call may take before the counters count as unreachable: a
/// rate limit must never be what makes the shop slow.
const CALL_TIMEOUT: Duration = Duration::from_millis(500);
/// While Redis stays unreachable, say so at most this often.
const LOG_EVERY: Duration = Duration::from_secs(60);
/// While Redis is unreachable, one call this often tries it; the others fail
/// at once, so an outage where connections hang costs no request its timeout.
const PROBE_EVERY: Duration = Duration::from_millis(500);

pub struct RedisCounters {
    connection: ConnectionManager,
    script: redis::Script,
    prefix: String,
    health: Health,
}

impl RedisCounters {
    /// Counters under `prefix` in the Redis at `url`. Connects lazily (and
    /// reconnects by itself), so a server starts while Redis is down; the
    /// error is only for a URL that cannot be a Redis URL.
    pub fn new(url: &str, prefix: &str) -> Result<Self, String> {
        let client = redis::Client::open(url).map_err(|e| format!("not a Redis URL: {e}"))?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(CALL_TIMEOUT))
            .set_response_timeout(Some(CALL_TIMEOUT))
            // Reconnect attempts are made by later calls, not by a long retry loop inside one.
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_millis(200));
        let connection = ConnectionManager::new_lazy_with_config(client, config)
            .map_err(|e| format!("cannot set up the Redis connection: {e}"))?;
        Ok(Self {
            connection,
            script: redis::Script::new(BATCH),
            prefix: prefix.to_string(),
            health: Health::default(),
        })
    }

    async fn call(&self, ops: &[Op<'_>]) -> Result<Vec<Count>, String> {
        let mut invocation = self.script.prepare_invoke();
        for op in ops {
            let (name, ms) = match *op {
                Op::Hit { window, .. } => ("hit", window),
                Op::Slide { window, .. } => ("slide", window),
                Op::Get { .. } => ("get", Duration::ZERO),
                Op::Set { ttl, .. } => ("set", ttl),
                Op::Delete { .. } => ("del", Duration::ZERO),
            };
            // Redis refuses an expiry of zero; a millisecond is as good as none.
            let ms = u64::try_from(ms.as_millis()).unwrap_or(u64::MAX).max(1);
            invocation.key(format!("{}{}", self.prefix, op.key())).arg(name).arg(ms);
        }
        let mut connection = self.connection.clone();
        let reply: Vec<i64> = tokio::time::timeout(CALL_TIMEOUT, invocation.invoke_async(&mut connection))
            .await
            .map_err(|_| format!("no answer within {CALL_TIMEOUT:?}"))?
            .map_err(|e| e.to_string())?;
        if reply.len() != ops.len() * 2 {
            return Err(format!("the counter script answered {} values for {} ops", reply.len(), ops.len()));
        }
        Ok(reply
            .chunks_exact(2)
            .map(|pair| Count {
                value: u64::try_from(pair[0]).unwrap_or(0),
                ttl: Duration::from_millis(u64::try_from(pair[1]).unwrap_or(0)),
            })
            .collect())
    }
}

#[async_trait]
impl Counters for RedisCounters {
    async fn run(&self, ops: &[Op<'_>]) -> Result<Vec<Count>, Unavailable> {
        if !self.health.may_try() {
            return Err(Unavailable("Redis was unreachable a moment ago".into()));
        }
        match self.call(ops).await {
            Ok(counts) => {
                self.health.up();
                Ok(counts)
            }
            Err(e) => {
                self.health.down(&e);
                Err(Unavailable(e))
            }
        }
    }
}

/// Logs Redis going away and coming back, not one line per request.
#[derive(Default)]
struct Health {
    /// Read on every call, so a healthy Redis costs no lock.
    is_down: AtomicBool,
    state: Mutex<HealthState>,
}

#[derive(Default)]
struct HealthState {
    down_since: Option<Instant>,
    last_probe: Option<Instant>,
    last_logged: Option<Instant>,
    failed_calls: u64,
}

impl Health {
    /// Whether a call may go to Redis now: always while it is up, once per
    /// [`PROBE_EVERY`] while it is down.
    fn may_try(&self) -> bool {
        if !self.is_down.load(Ordering::Relaxed) {
            return true;
        }
        let now = Instant::now();
        let mut state = self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if state.last_probe.is_some_and(|at| now.duration_since(at) < PROBE_EVERY) {
            return false;
        }
        state.last_probe = Some(now);
        true
    }

    fn down(&self, error: &str) {
        let now = Instant::now();
        self.is_down.store(true, Ordering::Relaxed);
        let mut state = self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        state.failed_calls += 1;
        state.last_probe = Some(now);
        let since = *state.down_since.get_or_insert(now);
        if state.last_logged.is_none_or(|at| now.duration_since(at) >= LOG_EVERY) {
            tracing::warn!(
                error,
                down_for = ?now.duration_since(since),
                failed_calls = state.failed_calls,
                "Redis is unreachable: the general rate limit is counted by each server alone, sign-in and registration are refused until it is back"
            );
            state.last_logged = Some(now);
        }
    }

    fn up(&self) {
        if !self.is_down.swap(false, Ordering::Relaxed) {
            return;
        }
        let mut state = self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(since) = state.down_since.take() {
            tracing::info!(down_for = ?since.elapsed(), failed_calls = state.failed_calls, "Redis is reachable again");
            *state = HealthState::default();
        }
    }
}
