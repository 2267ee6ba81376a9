//! The general per-client budget with `X-RateLimit-*` headers, and the
//! per-IP budget of registration.
//!
//! Written here rather than taken from `governor`/`tower_governor` because
//! the API promises express-rate-limit's headers (limit, remaining, reset
//! time) and counters shared by every server (in Redis, when configured),
//! which those crates do not offer. The counting is in `emporium-limits`;
//! sign-in's own policy is in `emporium_service::sign_in`.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::extract::Request;
use axum::http::HeaderValue;
use axum::response::{IntoResponse, Response};
use emporium_domain::Error;
pub use emporium_limits::Quota;
use emporium_limits::{Op, Verdict};

use crate::AppState;
use crate::error::ApiError;
use crate::extract::ClientIp;

/// What a client refused while the counters are unreachable is told to wait.
const UNAVAILABLE_RETRY_SECS: u64 = 5;

fn ceil_secs(d: Duration) -> u64 {
    d.as_secs_f64().ceil() as u64
}

fn apply_headers(verdict: &Verdict, response: &mut Response) {
    let unix_now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    let headers = response.headers_mut();
    headers.insert("x-ratelimit-limit", HeaderValue::from(verdict.limit));
    headers.insert("x-ratelimit-remaining", HeaderValue::from(verdict.remaining));
    headers.insert("x-ratelimit-reset", HeaderValue::from(ceil_secs(unix_now + verdict.resets_in)));
}

/// Paths that are not the shop's API: load balancers and scrapers poll them.
fn exempt(path: &str) -> bool {
    matches!(path, "/health" | "/ready" | "/metrics" | "/openapi.json")
        || path.starts_with("/docs")
        || path.starts_with("/admin/assets/")
}

/// Applies the general per-IP budget and sets the headers on every response.
/// It fails open: while shared counters are unreachable each server counts
/// for itself, as it does without Redis.
///
/// A tower layer rather than `middleware::from_fn`: it sits on every route,
/// and `from_fn` clones the route's boxed service on every request, where
/// this one calls it in place when nothing is counted (the limit off, or an
/// exempt path) and clones it only to await the counters first.
#[derive(Clone)]
pub struct LimitRequestsLayer {
    state: AppState,
}

impl LimitRequestsLayer {
    pub fn new(state: AppState) -> Self {
        Self { state }
    }
}

impl<S> tower::Layer<S> for LimitRequestsLayer {
    type Service = LimitRequests<S>;

    fn layer(&self, inner: S) -> Self::Service {
        LimitRequests { inner, state: self.state.clone() }
    }
}

#[derive(Clone)]
pub struct LimitRequests<S> {
    inner: S,
    state: AppState,
}

impl<S> tower::Service<Request> for LimitRequests<S>
where
    S: tower::Service<Request, Response = Response> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = S::Error;
    type Future = std::pin::Pin<Box<dyn std::future::Future<Output = Result<Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut std::task::Context<'_>) -> std::task::Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let quota = match self.state.settings.rate_limit {
            Some(quota) if !exempt(request.uri().path()) => quota,
            _ => return Box::pin(self.inner.call(request)),
        };
        // The ready service goes into the future; a clone stays for the next
        // request (tower's pattern for a service called after an await).
        let clone = self.inner.clone();
        let inner = std::mem::replace(&mut self.inner, clone);
        Box::pin(limited(self.state.clone(), quota, request, inner))
    }
}

async fn limited<S>(state: AppState, quota: Quota, request: Request, mut inner: S) -> Result<Response, S::Error>
where
    S: tower::Service<Request, Response = Response>,
{
    let (mut parts, body) = request.into_parts();
    let ip = ClientIp::resolve(&parts, &state.settings.trusted_proxies);
    parts.extensions.insert(ip);
    let key = format!("ip:{}", ip.0);
    let counts = state.limits.run_or_local(&[Op::Hit { key: &key, window: quota.window }]).await;
    let verdict = quota.judge(counts.first().copied().unwrap_or_default());
    let mut response = if verdict.allowed {
        inner.call(Request::from_parts(parts, body)).await?
    } else {
        let mut refused =
            ApiError::from(Error::RateLimited { retry_after_secs: ceil_secs(verdict.resets_in) }).into_response();
        refused.extensions_mut().insert(crate::edge::RefusedBeforeRouting);
        refused
    };
    apply_headers(&verdict, &mut response);
    Ok(response)
}

impl AppState {
    /// Counts a registration (or another account-creating request) against
    /// its per-IP budget. Fails closed: while shared counters are
    /// unreachable, such requests are refused with 503.
    pub async fn check_auth_budget(&self, ip: ClientIp) -> Result<(), Error> {
        let Some(quota) = self.settings.register_rate_limit else {
            return Ok(());
        };
        let key = format!("register-ip:{}", ip.0);
        let counts = self
            .limits
            .run(&[Op::Hit { key: &key, window: quota.window }])
            .await
            .map_err(|e| Error::Unavailable { message: e.to_string(), retry_after_secs: UNAVAILABLE_RETRY_SECS })?;
        let verdict = quota.judge(counts.first().copied().unwrap_or_default());
        if verdict.allowed {
            Ok(())
        } else {
            Err(Error::RateLimited { retry_after_secs: ceil_secs(verdict.resets_in) })
        }
    }
}
