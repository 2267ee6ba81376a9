//! What both fakes share: binding 127.0.0.1:0, serving until the handle is
//! dropped, counting requests per endpoint, and the outage switch.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::Outage;

/// Locks a fake's state. A test that panics while holding it must not turn
/// every later assertion into a poisoned-lock panic that hides the first one.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The running server; dropping the last handle stops it.
pub(crate) struct Running {
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.task.abort();
    }
}

pub(crate) async fn bind() -> (tokio::net::TcpListener, SocketAddr) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind a fake provider on 127.0.0.1:0");
    let addr = listener.local_addr().expect("the fake's bound address");
    (listener, addr)
}

pub(crate) fn serve(listener: tokio::net::TcpListener, router: Router) -> Arc<Running> {
    let task = tokio::spawn(async move {
        if let Err(error) = axum::serve(listener, router).await {
            eprintln!("fake provider stopped: {error}");
        }
    });
    Arc::new(Running { task })
}

/// Counters and switches every fake endpoint passes through.
pub(crate) struct Gate {
    counts: Mutex<BTreeMap<String, usize>>,
    outage: Mutex<Outage>,
    /// What a 503 says, in the provider's shape.
    unavailable_body: serde_json::Value,
}

impl Gate {
    pub(crate) fn new(unavailable_body: serde_json::Value) -> Arc<Self> {
        Arc::new(Self { counts: Mutex::default(), outage: Mutex::default(), unavailable_body })
    }

    pub(crate) fn set_outage(&self, outage: Outage) {
        *lock(&self.outage) = outage;
    }

    pub(crate) fn count(&self, endpoint: &str) -> usize {
        lock(&self.counts).get(endpoint).copied().unwrap_or(0)
    }

    pub(crate) fn counts(&self) -> BTreeMap<String, usize> {
        lock(&self.counts).clone()
    }
}

/// Counts the request as `"{METHOD} {route}"` (the route as registered, e.g.
/// `GET /v1/checkout/sessions/{id}`), then applies the outage switch.
pub(crate) async fn gate(State(gate): State<Arc<Gate>>, request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|path| path.as_str().to_string())
        .unwrap_or_else(|| request.uri().path().to_string());
    *lock(&gate.counts).entry(format!("{} {route}", request.method())).or_default() += 1;
    let outage = *lock(&gate.outage);
    match outage {
        Outage::None => next.run(request).await,
        Outage::Unavailable => unavailable(&gate),
        Outage::Stall => {
            tokio::time::sleep(Duration::from_secs(600)).await;
            unavailable(&gate)
        }
    }
}

fn unavailable(gate: &Gate) -> Response {
    (StatusCode::SERVICE_UNAVAILABLE, axum::Json(gate.unavailable_body.clone())).into_response()
}

/// Splits a bracketed form key (`line_items[0][price_data][currency]`) into
/// its parts; `None` when the brackets are not well formed.
pub(crate) fn key_parts(key: &str) -> Option<Vec<&str>> {
    let (head, mut rest) = match key.find('[') {
        Some(i) => (&key[..i], &key[i..]),
        None => (key, ""),
    };
    if head.is_empty() || head.contains(']') {
        return None;
    }
    let mut parts = vec![head];
    while !rest.is_empty() {
        let inner = rest.strip_prefix('[')?;
        let end = inner.find(']')?;
        let part = &inner[..end];
        if part.contains('[') {
            return None;
        }
        parts.push(part);
        rest = &inner[end + 1..];
    }
    Some(parts)
}

pub(crate) fn unix_now() -> i64 {
    crate::wire::unix_now()
}

#[cfg(test)]
mod tests {
    use super::key_parts;

    #[test]
    fn bracketed_keys_split_into_parts() {
        assert_eq!(key_parts("mode"), Some(vec!["mode"]));
        assert_eq!(key_parts("metadata[order_id]"), Some(vec!["metadata", "order_id"]));
        assert_eq!(
            key_parts("line_items[0][price_data][product_data][name]"),
            Some(vec!["line_items", "0", "price_data", "product_data", "name"])
        );
        assert_eq!(key_parts("expand[]"), Some(vec!["expand", ""]));
        for bad in ["[x]", "a[b", "a]b", "a[b]c", "a[[b]]"] {
            assert_eq!(key_parts(bad), None, "{bad}");
        }
    }
}
