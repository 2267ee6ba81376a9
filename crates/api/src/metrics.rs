//! Prometheus metrics: requests by route and status, and a latency histogram.

use std::cell::RefCell;
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::OnceLock;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request};
use axum::http::Method;
use axum::response::Response;
use metrics::{Counter, Histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

const LATENCY_BUCKETS: &[f64] = &[0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0];

/// How often the histograms' recorded samples are folded into their buckets.
/// The exporter keeps every sample until then, so without this a server
/// nobody scrapes would grow by 8 bytes a request, for ever.
pub const UPKEEP_INTERVAL: Duration = Duration::from_secs(5);

/// The process-wide recorder. `metrics` allows one per process, so every
/// app built in a process (as in the tests) reports into the same one.
pub fn prometheus() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Full("http_request_duration_seconds".into()), LATENCY_BUCKETS)
            .expect("non-empty buckets")
            .install_recorder()
            .expect("the only metrics recorder in this process")
    })
}

/// Folds the recorded samples into the histograms every [`UPKEEP_INTERVAL`]
/// until `stop` (a scrape does the same on its own).
pub async fn upkeep(mut stop: tokio::sync::watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(UPKEEP_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => prometheus().run_upkeep(),
            _ = stop.changed() => return,
        }
    }
}

/// The method as a label: the standard ones by name, any other as `OTHER`,
/// so a client inventing methods cannot grow the label set.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        Method::CONNECT => "CONNECT",
        Method::TRACE => "TRACE",
        _ => "OTHER",
    }
}

/// One (method, status) of a route: its request counter and latency histogram.
struct Handles {
    method: &'static str,
    status: u16,
    requests: Counter,
    latency: Histogram,
}

thread_local! {
    /// Route template → its handles, resolved once per worker thread:
    /// building a metric's key (three allocated labels) and finding it in
    /// the registry on every request cost about as much as the rest of
    /// answering `/health` (issue 12's profile). The set is bounded: route
    /// templates, nine methods and `OTHER`, and the status codes. The keys
    /// are the server's own route templates, not what a client sends, so
    /// the fast hash needs no defence against chosen collisions (SipHash
    /// was a tenth of what recording a request cost).
    static HANDLES: RefCell<HashMap<Box<str>, Vec<Handles>, foldhash::fast::RandomState>> =
        RefCell::new(HashMap::with_hasher(foldhash::fast::RandomState::default()));
}

fn record(method: &'static str, route: &str, status: u16, elapsed: Duration) {
    HANDLES.with_borrow_mut(|by_route| {
        if !by_route.contains_key(route) {
            by_route.insert(route.into(), Vec::new());
        }
        let handles = by_route.get_mut(route).expect("inserted above");
        let at = match handles.iter().position(|h| h.method == method && h.status == status) {
            Some(at) => at,
            None => {
                let route = route.to_owned();
                handles.push(Handles {
                    method,
                    status,
                    requests: metrics::counter!("http_requests_total",
                        "method" => method, "route" => route.clone(), "status" => status.to_string()),
                    latency: metrics::histogram!("http_request_duration_seconds", "method" => method, "route" => route),
                });
                handles.len() - 1
            }
        };
        handles[at].requests.increment(1);
        handles[at].latency.record(elapsed.as_secs_f64());
    });
}

/// Counts and times every request by method, route template and status.
///
/// A tower layer rather than `middleware::from_fn`: it sits on every route
/// (it needs the matched route), and a `from_fn` middleware clones the
/// route's whole boxed service on every request to call it (issue 12's
/// profile); this one calls the route it wraps in place.
#[derive(Debug, Clone, Copy)]
pub struct RecordRequestsLayer;

impl<S> tower::Layer<S> for RecordRequestsLayer {
    type Service = RecordRequests<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RecordRequests { inner }
    }
}

#[derive(Debug, Clone)]
pub struct RecordRequests<S> {
    inner: S,
}

impl<S> tower::Service<Request> for RecordRequests<S>
where
    S: tower::Service<Request, Response = Response>,
{
    type Response = Response;
    type Error = S::Error;
    type Future = Recorded<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let started = Instant::now();
        let method = method_label(request.method());
        // The route template, not the raw path, so ids do not explode the label set.
        let route = request.extensions().get::<MatchedPath>().cloned();
        Recorded { inner: self.inner.call(request), started, method, route }
    }
}

pin_project_lite::pin_project! {
    /// A route's response on its way out, recorded when it is ready.
    pub struct Recorded<F> {
        #[pin]
        inner: F,
        started: Instant,
        method: &'static str,
        route: Option<MatchedPath>,
    }
}

impl<F, E> Future for Recorded<F>
where
    F: Future<Output = Result<Response, E>>,
{
    type Output = Result<Response, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let result = std::task::ready!(this.inner.poll(cx));
        if let Ok(response) = &result {
            let route = this.route.as_ref().map_or("unmatched", MatchedPath::as_str);
            record(this.method, route, response.status().as_u16(), this.started.elapsed());
        }
        Poll::Ready(result)
    }
}
