//! The storage traits Emporium's services depend on. There is one
//! implementation per database (`emporium-store-sqlite`,
//! `emporium-store-postgres`); nothing above this crate knows which one runs.

pub mod accounts;
pub mod audit;
pub mod carts;
pub mod catalog;
mod error;
pub mod mail;
pub mod orders;
pub mod outbox;
pub mod payments;

pub use accounts::{
    AccountStore, NewSession, NewUser, ProfileChanges, RefreshOutcome, RemovalOutcome, RoleChangeOutcome,
    SessionPrincipal, UserFilter, UserRecord,
};
pub use audit::{AuditEntry, AuditFilter, AuditStore, NewAuditEntry};
pub use carts::{CartLine, CartProduct, CartStore, LineEdit, LineEditOutcome};
pub use catalog::{
    CatalogChange, CatalogStore, CatalogWakeups, CategoryRecord, CategoryRemoval, CategorySummary, ImportOutcome,
    ProductChange, ProductImport, ProductRecord,
};
pub use error::{StoreError, StoreResult};
pub use orders::{
    EarlierOrder, IdempotencyClaim, LineProblem, NewOrder, OrderEventRecord, OrderFigures, OrderFilter,
    OrderItemRecord, OrderRecord, OrderStore, PlaceOutcome, StatusChange, StatusOutcome,
};
pub use outbox::{
    ClaimedMail, Failure, MailFilter, MailRecord, MailStatus, OutboxStats, OutboxStore, PasswordReset, ResetRequest,
    ResetRequestOutcome, RetryOutcome,
};
pub use payments::{
    Actor, ApplyOutcome, ApplyPayment, Effect, NewAttempt, NewRefund, Observed, PaymentRecord, PaymentStore,
    ProviderEvent, RefundRecord, RefundResult, RefundStatus, StartOutcome, TestSession,
};

use async_trait::async_trait;

/// Everything a running server needs from storage.
#[async_trait]
pub trait Store:
    AccountStore + AuditStore + CatalogStore + CartStore + OrderStore + OutboxStore + PaymentStore + Send + Sync + 'static
{
    /// Which backend this is, for logs and `/ready`.
    fn backend(&self) -> &'static str;
    /// Succeeds when the database answers a trivial query.
    async fn ping(&self) -> StoreResult<()>;
    /// Closes the pool, waiting for connections in use to be returned.
    async fn close(&self);
}

/// Escapes `%`, `_` and `\` so user input matches literally inside `LIKE … ESCAPE '\'`.
pub fn like_pattern(input: &str) -> String {
    let mut out = String::with_capacity(input.len() + 2);
    out.push('%');
    for c in input.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    out
}

pub mod pool;
pub mod rows;
pub mod sql;
