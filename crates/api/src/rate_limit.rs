//! Per-client fixed-window rate limiting with `X-RateLimit-*` headers.
//!
//! Written here rather than taken from `governor`/`tower_governor` because
//! the API promises express-rate-limit's headers (limit, remaining, reset
//! time) and a per-route stricter budget keyed by IP *and* account, which
//! those crates do not expose. Counters live in this process: behind a load
//! balancer each server enforces its own share.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::extract::{Request, State};
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use emporium_domain::Error;

use crate::AppState;
use crate::error::ApiError;
use crate::extract::ClientIp;

/// So many requests per window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    pub max: u32,
    pub window: Duration,
}

impl Quota {
    pub const fn per(max: u32, window: Duration) -> Self {
        Self { max, window }
    }

    /// `"100/15m"`, `"5/1s"`, `"1000/1h"`; `"off"` is `None`.
    pub fn parse(text: &str) -> Result<Option<Quota>, String> {
        let text = text.trim();
        if text.eq_ignore_ascii_case("off") {
            return Ok(None);
        }
        let (max, window) = text
            .split_once('/')
            .ok_or_else(|| format!("{text:?} is not of the form N/WINDOW (e.g. 100/15m) or off"))?;
        let max: u32 = max.trim().parse().map_err(|_| format!("{max:?} is not a whole number of requests"))?;
        let window = window.trim();
        let window = if window.chars().next().is_some_and(|c| c.is_ascii_digit()) {
            window.to_string()
        } else {
            format!("1{window}")
        };
        let window = humantime::parse_duration(&window).map_err(|e| format!("{window:?} is not a duration: {e}"))?;
        if max == 0 || window.is_zero() {
            return Err("the limit and window must be greater than zero".into());
        }
        Ok(Some(Quota { max, window }))
    }
}

/// The outcome of counting one request.
#[derive(Debug, Clone, Copy)]
pub struct Decision {
    pub allowed: bool,
    pub limit: u32,
    pub remaining: u32,
    /// When the window ends, in Unix seconds.
    pub reset_at: u64,
    pub retry_after_secs: u64,
}

impl Decision {
    pub fn into_result(self) -> Result<Self, Error> {
        if self.allowed { Ok(self) } else { Err(Error::RateLimited { retry_after_secs: self.retry_after_secs }) }
    }

    fn apply(&self, response: &mut Response) {
        let headers = response.headers_mut();
        headers.insert("x-ratelimit-limit", HeaderValue::from(self.limit));
        headers.insert("x-ratelimit-remaining", HeaderValue::from(self.remaining));
        headers.insert("x-ratelimit-reset", HeaderValue::from(self.reset_at));
    }
}

struct Window {
    started: Instant,
    length: Duration,
    count: u32,
}

const SHARDS: usize = 16;

pub struct RateLimiter {
    shards: Vec<Mutex<Shard>>,
    hasher: RandomState,
}

#[derive(Default)]
struct Shard {
    windows: HashMap<String, Window>,
    checks: u32,
}

impl Default for RateLimiter {
    fn default() -> Self {
        Self { shards: (0..SHARDS).map(|_| Mutex::new(Shard::default())).collect(), hasher: RandomState::new() }
    }
}

impl RateLimiter {
    /// Counts one request against `key` and says whether it may proceed.
    pub fn check(&self, key: &str, quota: Quota) -> Decision {
        let now = Instant::now();
        let shard = &self.shards[self.hasher.hash_one(key) as usize % SHARDS];
        let mut shard = shard.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        shard.checks = shard.checks.wrapping_add(1);
        if shard.checks.is_multiple_of(1024) {
            // Forget finished windows now and then, so memory tracks active clients only.
            shard.windows.retain(|_, w| now.duration_since(w.started) < w.length);
        }
        let window =
            shard.windows.entry(key.to_string()).or_insert(Window { started: now, length: quota.window, count: 0 });
        if now.duration_since(window.started) >= window.length {
            *window = Window { started: now, length: quota.window, count: 0 };
        }
        let allowed = window.count < quota.max;
        if allowed {
            window.count += 1;
        }
        let left = window.length.saturating_sub(now.duration_since(window.started));
        let unix_now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
        Decision {
            allowed,
            limit: quota.max,
            remaining: quota.max - window.count,
            reset_at: (unix_now + left).as_secs_f64().ceil() as u64,
            retry_after_secs: left.as_secs_f64().ceil() as u64,
        }
    }
}

/// Paths that are not the shop's API: load balancers and scrapers poll them.
fn exempt(path: &str) -> bool {
    matches!(path, "/health" | "/ready" | "/metrics" | "/openapi.json") || path.starts_with("/docs")
}

/// Applies the general per-IP budget and sets the headers on every response.
pub async fn limit_requests(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let Some(quota) = state.settings.rate_limit else {
        return next.run(request).await;
    };
    if exempt(request.uri().path()) {
        return next.run(request).await;
    }
    let (mut parts, body) = request.into_parts();
    let ip = ClientIp::resolve(&parts, &state.settings.trusted_proxies);
    parts.extensions.insert(ip);
    let decision = state.limiter.check(&format!("ip:{}", ip.0), quota);
    let mut response = match decision.into_result() {
        Ok(_) => next.run(Request::from_parts(parts, body)).await,
        Err(e) => ApiError::from(e).into_response(),
    };
    decision.apply(&mut response);
    response
}

impl AppState {
    /// Counts a sign-in or registration attempt against the stricter budget,
    /// once for the client IP and, when given, once for the account named.
    pub fn check_auth_budget(&self, ip: ClientIp, account: Option<&str>) -> Result<(), Error> {
        let Some(quota) = self.settings.auth_rate_limit else {
            return Ok(());
        };
        self.limiter.check(&format!("auth-ip:{}", ip.0), quota).into_result()?;
        if let Some(account) = account {
            self.limiter.check(&format!("auth-account:{account}"), quota).into_result()?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_quotas() {
        assert_eq!(Quota::parse("100/15m").unwrap(), Some(Quota::per(100, Duration::from_secs(900))));
        assert_eq!(Quota::parse("5/s").unwrap(), Some(Quota::per(5, Duration::from_secs(1))));
        assert_eq!(Quota::parse("off").unwrap(), None);
        for bad in ["100", "x/15m", "100/soon", "0/1m"] {
            assert!(Quota::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn counts_down_then_refuses() {
        let limiter = RateLimiter::default();
        let quota = Quota::per(2, Duration::from_secs(60));
        assert_eq!(limiter.check("k", quota).remaining, 1);
        assert_eq!(limiter.check("k", quota).remaining, 0);
        let refused = limiter.check("k", quota);
        assert!(!refused.allowed && refused.retry_after_secs > 0);
        assert!(limiter.check("other", quota).allowed);
    }
}
