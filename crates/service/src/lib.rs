//! Emporium's use cases. Each function takes parsed domain values, applies
//! the rules, and persists through the [`emporium_store::Store`] trait.

pub mod accounts;
pub mod admin;
pub mod carts;
pub mod catalog;
pub mod orders;
pub mod outbox;
pub mod passwords;
pub mod payments;
pub mod read_cache;
pub mod read_model;
pub mod secret;
pub mod sign_in;
pub mod tokens;

use std::sync::Arc;

use emporium_domain::account::Role;
use emporium_domain::ids::UserId;
use emporium_domain::time::Timestamp;
use emporium_store::{NewAuditEntry, Store};

pub use accounts::Accounts;
pub use admin::Admin;
pub use carts::Carts;
pub use catalog::Catalog;
pub use orders::Orders;
pub use outbox::Outbox;
pub use payments::Payments;
pub use secret::Secret;

/// Who is making a request, once their access token has been checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub user_id: UserId,
    pub role: Role,
    pub session_id: String,
}

impl Principal {
    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }
}

/// Facts about the request that the audit log records.
#[derive(Debug, Clone, Default)]
pub struct RequestContext {
    pub ip: Option<String>,
}

impl RequestContext {
    pub(crate) fn audit(
        &self,
        actor: Option<UserId>,
        action: &str,
        target: Option<(&str, String)>,
        details: serde_json::Value,
    ) -> NewAuditEntry {
        NewAuditEntry {
            at: Timestamp::now(),
            actor_id: actor,
            action: action.to_string(),
            target_type: target.as_ref().map(|t| t.0.to_string()),
            target_id: target.map(|t| t.1),
            ip: self.ip.clone(),
            details,
        }
    }
}

/// Every service, wired to one store.
#[derive(Clone)]
pub struct Services {
    pub store: Arc<dyn Store>,
    pub accounts: Accounts,
    pub admin: Admin,
    pub catalog: Catalog,
    pub carts: Carts,
    pub orders: Orders,
    pub outbox: Outbox,
    pub payments: Payments,
}

impl Services {
    /// `catalog_cache_ttl` is how long catalog reads may be served from memory (zero: never).
    pub fn new(
        store: Arc<dyn Store>,
        auth: tokens::AuthSettings,
        currency: String,
        catalog_cache_ttl: std::time::Duration,
    ) -> Self {
        let order_tokens = tokens::OrderTokenKey::derive(&auth.jwt_secret);
        let mail_queued = Arc::new(tokio::sync::Notify::new());
        let accounts = Accounts::new(store.clone(), auth, mail_queued.clone());
        let admin = Admin::new(store.clone());
        let cache = Arc::new(read_cache::CatalogCache::new(catalog_cache_ttl));
        let catalog = Catalog::new(store.clone(), cache.clone());
        let carts = Carts::new(store.clone());
        let orders = Orders::new(store.clone(), currency, catalog.read_model(), mail_queued.clone(), order_tokens);
        let outbox = Outbox::new(store.clone(), mail_queued);
        let payments = Payments::new(store.clone(), orders.clone(), Vec::new(), payments::PaymentSettings::default());
        Self { store, accounts, admin, catalog, carts, orders, outbox, payments }
    }

    /// Guards sign-in with `policy`, counted in `limits` (shared by every
    /// server when they are in Redis).
    pub fn with_sign_in(mut self, policy: sign_in::SignInPolicy, limits: emporium_limits::Limits) -> Self {
        self.accounts = self.accounts.with_sign_in(policy, limits);
        self
    }

    /// Wires the payment providers chosen by configuration (without this,
    /// only `manual` payment is possible).
    pub fn with_payments(
        mut self,
        providers: Vec<Arc<dyn emporium_payments::PaymentProvider>>,
        settings: payments::PaymentSettings,
    ) -> Self {
        self.payments = Payments::new(self.store.clone(), self.orders.clone(), providers, settings);
        self
    }
}
