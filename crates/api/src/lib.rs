//! Emporium's HTTP layer. Handlers are thin: an extractor parses the request
//! into domain values (a bad field stops there, named), a service applies the
//! rule, and a view renders the envelope.
//!
//! Everything every route shares (envelopes, errors, body and query parsing,
//! authentication, rate limits, request ids, metrics) is done once here.

mod edge;
pub mod envelope;
pub mod error;
pub mod extract;
pub mod metrics;
pub mod openapi;
pub mod rate_limit;
mod router;
pub mod routes;
pub mod views;

use std::sync::Arc;

use emporium_service::Services;

pub use router::{Dialect, metrics_router, router_with};

/// How the HTTP layer behaves; built by the server from its configuration.
#[derive(Debug, Clone)]
pub struct ApiSettings {
    /// Largest request body accepted, in bytes.
    pub body_limit: usize,
    /// The general per-IP budget; `None` turns rate limiting off.
    pub rate_limit: Option<rate_limit::Quota>,
    /// The per-IP budget of registration (sign-in has its own policy, in
    /// `emporium_service::sign_in`).
    pub register_rate_limit: Option<rate_limit::Quota>,
    /// Peers whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Origins allowed by CORS; empty allows none, `*` allows any.
    pub cors_origins: Vec<String>,
    /// Sets `Secure` on the auth cookies (on behind HTTPS).
    pub cookie_secure: bool,
    /// The bearer token that `/metrics` on the public port asks for; `None`
    /// serves no `/metrics` there (see [`metrics_router`] for a separate address).
    pub metrics_token: Option<emporium_service::Secret>,
    /// The static secret of the geekmobile dialect's admin sign-in and
    /// creation; `None` refuses those calls (401).
    pub geekmobile_admin_secret: Option<emporium_service::Secret>,
}

impl Default for ApiSettings {
    fn default() -> Self {
        Self {
            body_limit: 1024 * 1024,
            rate_limit: Some(rate_limit::Quota::per(100, std::time::Duration::from_secs(15 * 60))),
            register_rate_limit: Some(rate_limit::Quota::per(10, std::time::Duration::from_secs(15 * 60))),
            trusted_proxies: Vec::new(),
            cors_origins: Vec::new(),
            cookie_secure: false,
            metrics_token: None,
            geekmobile_admin_secret: None,
        }
    }
}

/// What every handler can reach, behind one `Arc`: axum clones the state
/// for every middleware and extractor of every request, and a deep clone
/// (the services' own `Arc`s, strings, maps and token-validation rules) was
/// the largest single cost of answering `/health` (issue 12's profile).
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

/// The contents of [`AppState`].
#[derive(Clone)]
pub struct Shared {
    pub services: Services,
    pub settings: Arc<ApiSettings>,
    /// The rate-limit counters: this process's, or shared in Redis.
    pub limits: emporium_limits::Limits,
}

impl std::ops::Deref for AppState {
    type Target = Shared;
    fn deref(&self) -> &Shared {
        &self.0
    }
}

impl AppState {
    /// Rate limits are counted in this process; [`AppState::with_limits`] shares them.
    pub fn new(services: Services, settings: ApiSettings) -> Self {
        Self(Arc::new(Shared { services, settings: Arc::new(settings), limits: emporium_limits::Limits::in_process() }))
    }

    /// Meant for start-up, before the state is shared: other clones (if
    /// any) keep the counters they had.
    pub fn with_limits(self, limits: emporium_limits::Limits) -> Self {
        Self(Arc::new(Shared { limits, ..Arc::unwrap_or_clone(self.0) }))
    }
}

pub use ipnet::IpNet;
