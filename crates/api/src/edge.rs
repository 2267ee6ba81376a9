//! The outermost layer every request passes: its request id, the `Vary`
//! header, and a dialect's shape for refusals made before its routes ran.
//!
//! Written by hand rather than stacked from tower-http's `SetRequestId`,
//! `PropagateRequestId` and the CORS layer's own `Vary`: each layer of a
//! stack moves the request, nests a future and, for CORS, joins the `Vary`
//! list into a new header value on every response. Issue 12's instruction
//! counts of `/health` (callgrind) put those three at about a tenth of the
//! whole request; here they are one future and a static header. The CORS
//! layer itself (origins, preflights) stays tower-http's, told to add no
//! `Vary` of its own.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::body::{Body, Bytes, HttpBody};
use axum::http::{HeaderName, HeaderValue, Request, StatusCode, header};
use axum::response::Response;

pub(crate) const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// What every response varies by: the CORS answer depends on these request
/// headers, so a cache must not give one origin's answer to another.
const VARY: HeaderValue =
    HeaderValue::from_static("origin, access-control-request-method, access-control-request-headers");

/// Marks a response the layers in front of every route gave (the rate
/// limit's refusal, a panic's 500): on a dialect's path it is re-rendered in
/// the dialect's shape, since no route of the dialect ever ran.
#[derive(Debug, Clone, Copy)]
pub struct RefusedBeforeRouting;

/// Each dialect's base path and its error body for a status.
pub(crate) type Refusals = Arc<Vec<(&'static str, fn(StatusCode) -> Response)>>;

#[derive(Clone)]
pub(crate) struct EdgeLayer {
    pub(crate) refusals: Refusals,
}

impl<S> tower::Layer<S> for EdgeLayer {
    type Service = Edge<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Edge { inner, refusals: self.refusals.clone() }
    }
}

#[derive(Clone)]
pub(crate) struct Edge<S> {
    inner: S,
    refusals: Refusals,
}

/// A random (version 4) UUID, as tower-http's `MakeRequestUuid` makes, but
/// drawn from the thread's cached RNG instead of a `getrandom` system call
/// per request, and written into a stack buffer instead of a `String` first
/// (both showed in issue 12's profile of `/health`).
fn new_request_id() -> HeaderValue {
    let id = uuid::Builder::from_random_bytes(rand::random()).into_uuid();
    let mut text = [0_u8; uuid::fmt::Hyphenated::LENGTH];
    HeaderValue::from_str(id.hyphenated().encode_lower(&mut text)).expect("a UUID is a valid header value")
}

impl<S, B, Out> tower::Service<Request<B>> for Edge<S>
where
    S: tower::Service<Request<B>, Response = axum::http::Response<Out>>,
    Out: HttpBody<Data = Bytes> + Send + 'static,
    Out::Error: Into<axum::BoxError>,
{
    type Response = Response;
    type Error = S::Error;
    type Future = EdgeFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        let path = request.uri().path();
        let refusal = self
            .refusals
            .iter()
            .find(|(base, _)| path.strip_prefix(base).is_some_and(|r| r.is_empty() || r.starts_with('/')))
            .map(|&(_, refusal)| refusal);
        // The client's own id is kept, so its logs and ours line up.
        let request_id = match request.headers().get(REQUEST_ID) {
            Some(id) => id.clone(),
            None => {
                let id = new_request_id();
                request.headers_mut().insert(REQUEST_ID, id.clone());
                id
            }
        };
        EdgeFuture { inner: self.inner.call(request), refusal, request_id: Some(request_id) }
    }
}

pin_project_lite::pin_project! {
    /// A response on its way out: given the request id and `Vary`, and
    /// re-shaped when it is a dialect's and was refused before routing.
    pub(crate) struct EdgeFuture<F> {
        #[pin]
        inner: F,
        refusal: Option<fn(StatusCode) -> Response>,
        request_id: Option<HeaderValue>,
    }
}

impl<F, E, Out> Future for EdgeFuture<F>
where
    F: Future<Output = Result<axum::http::Response<Out>, E>>,
    Out: HttpBody<Data = Bytes> + Send + 'static,
    Out::Error: Into<axum::BoxError>,
{
    type Output = Result<Response, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let mut response = std::task::ready!(this.inner.poll(cx))?.map(Body::new);
        if let Some(refusal) = this.refusal
            && response.extensions().get::<RefusedBeforeRouting>().is_some()
        {
            let (parts, _) = response.into_parts();
            response = refusal(parts.status);
            for (name, value) in parts.headers.iter() {
                if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
                    response.headers_mut().insert(name.clone(), value.clone());
                }
            }
        }
        let headers = response.headers_mut();
        // Appended: a route's own `Vary` (if any) is kept.
        headers.append(header::VARY, VARY);
        if let Some(id) = this.request_id.take()
            && !headers.contains_key(REQUEST_ID)
        {
            headers.insert(REQUEST_ID, id);
        }
        Poll::Ready(Ok(response))
    }
}

/// The CORS layer, for the requests CORS is about: those that carry an
/// `Origin` (every cross-origin request a browser makes) and preflights.
/// Others (a load balancer's `/health`, a server-side client, a same-origin
/// page load) skip it: their CORS headers would be ignored, and building
/// them cost about 1,700 instructions a request (a header map per request,
/// issue 12's callgrind profile). `Vary` is on every response all the same.
#[derive(Clone)]
pub(crate) struct CorsLayerForCors {
    pub(crate) cors: tower_http::cors::CorsLayer,
}

impl<S: Clone> tower::Layer<S> for CorsLayerForCors {
    type Service = CorsForCors<S>;

    fn layer(&self, inner: S) -> Self::Service {
        CorsForCors { cors: self.cors.layer(inner.clone()), plain: inner }
    }
}

#[derive(Clone)]
pub(crate) struct CorsForCors<S> {
    cors: tower_http::cors::Cors<S>,
    plain: S,
}

impl<S, B, Out> tower::Service<Request<B>> for CorsForCors<S>
where
    S: tower::Service<Request<B>, Response = axum::http::Response<Out>>,
    Out: Default,
{
    type Response = axum::http::Response<Out>;
    type Error = S::Error;
    type Future = tower::util::future::EitherResponseFuture<
        <tower_http::cors::Cors<S> as tower::Service<Request<B>>>::Future,
        S::Future,
    >;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        // Either may take the request; both wrap the same (always ready) router.
        std::task::ready!(tower::Service::<Request<B>>::poll_ready(&mut self.cors, cx))?;
        self.plain.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        type Either<'s, S> = tower::util::Either<&'s mut tower_http::cors::Cors<S>, &'s mut S>;
        if request.headers().contains_key(header::ORIGIN) || request.method() == axum::http::Method::OPTIONS {
            Either::Left(&mut self.cors).call(request)
        } else {
            Either::Right(&mut self.plain).call(request)
        }
    }
}
