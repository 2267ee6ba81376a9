//! PostgreSQL storage, for production and for running several stateless
//! servers against one database.

// The storage code is shared with the SQLite backend (crates/store/backend):
// written once, compiled here against PostgreSQL's types.
mod accounts {
    include!("../../store/backend/accounts.rs");
}
mod audit {
    include!("../../store/backend/audit.rs");
}
mod carts {
    include!("../../store/backend/carts.rs");
}
mod catalog {
    include!("../../store/backend/catalog.rs");
}
mod orders {
    include!("../../store/backend/orders.rs");
}
mod outbox {
    include!("../../store/backend/outbox.rs");
}

mod payments {
    include!("../../store/backend/payments.rs");
}
mod cart_lines;
mod checkout;

use std::time::Duration;

use async_trait::async_trait;
use emporium_store::{Store, StoreResult};
use sqlx::postgres::{PgConnectOptions, PgPool};

pub struct PostgresStore {
    pool: PgPool,
    /// For cart writes only: commits do not wait for the WAL flush
    /// (`synchronous_commit = off`). A crash may lose the last fraction of a
    /// second of cart changes; orders, stock and accounts never use it. Its
    /// statements have no optional filters, so like `checkout` it always uses
    /// the generic plan rather than re-planning the cart-line CTE.
    carts: PgPool,
    /// For placing orders only (src/checkout.rs): always the generic plan.
    /// Checkout's one statement takes about half a millisecond to plan, and
    /// with the default plan cache mode PostgreSQL plans it afresh on nearly
    /// every call (its custom plans look cheaper than the generic one, which
    /// is just as good). Forcing the generic plan for every statement would
    /// hurt the optional-filter listings, so only this pool does.
    checkout: PgPool,
}

impl PostgresStore {
    /// Connects to `url` and applies pending migrations. Several servers may
    /// start at once: sqlx serialises migrations with an advisory lock.
    ///
    /// `max_connections` is the most this server opens in all, split between
    /// the pools: three tenths each (at least one) for cart writes and
    /// checkout, which carry most of a buyer's statements, and the rest for
    /// everything else; so never fewer than three.
    pub async fn connect(url: &str, max_connections: u32) -> anyhow::Result<Self> {
        let options: PgConnectOptions = url.parse()?;
        let side = (max_connections * 3 / 10).max(1);
        let main = max_connections.saturating_sub(2 * side).max(1);
        let sized = |n: u32| {
            emporium_store::pool::pool_options::<sqlx::Postgres>()
                .max_connections(n)
                .acquire_timeout(Duration::from_secs(10))
        };
        let pool = sized(main).connect_with(options.clone()).await?;
        sqlx::migrate!("./migrations").run(&pool).await?;
        let generic_plans = ("plan_cache_mode", "force_generic_plan");
        let carts =
            sized(side).connect_lazy_with(options.clone().options([("synchronous_commit", "off"), generic_plans]));
        let checkout = sized(side).connect_lazy_with(options.options([generic_plans]));
        Ok(Self { pool, carts, checkout })
    }
}

#[async_trait]
impl Store for PostgresStore {
    fn backend(&self) -> &'static str {
        "postgres"
    }

    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn close(&self) {
        self.carts.close().await;
        self.checkout.close().await;
        self.pool.close().await;
    }
}

/// What the shared storage code compiles against.
type Backend = PostgresStore;
type Db = sqlx::Postgres;
type Conn = sqlx::PgConnection;

impl PostgresStore {
    /// `LISTEN` on the channel the change-feed trigger notifies on commit
    /// (migration 0009), on a connection of its own.
    async fn catalog_listener(&self) -> StoreResult<Option<Box<dyn emporium_store::CatalogWakeups>>> {
        let mut listener = sqlx::postgres::PgListener::connect_with(&self.pool).await?;
        listener.listen(CATALOG_CHANNEL).await?;
        Ok(Some(Box::new(CatalogListener(listener))))
    }
    fn reader(&self) -> &PgPool {
        &self.pool
    }
    fn writer(&self) -> &PgPool {
        &self.pool
    }
    fn cart_writer(&self) -> &PgPool {
        &self.carts
    }
    fn checkout_writer(&self) -> &PgPool {
        &self.checkout
    }
    /// Locks every admin row, so two concurrent demotions or deletions cannot
    /// each see the other admin still in place and together remove the last one.
    async fn lock_admins(tx: &mut Conn) -> StoreResult<()> {
        sqlx::query("SELECT id FROM users WHERE role = 'admin' ORDER BY id FOR UPDATE").execute(tx).await?;
        Ok(())
    }
    /// Locks the cart's row, so that lines counted after it are all the
    /// lines there are until this transaction ends (see src/cart_lines.rs).
    async fn lock_cart(tx: &mut Conn, cart: emporium_domain::ids::CartId) -> StoreResult<()> {
        sqlx::query(cart_lines::LOCK_CART).bind(cart.get()).execute(tx).await?;
        Ok(())
    }

    /// Serialises one account's password-reset requests across servers.
    async fn lock_user(tx: &mut Conn, id: emporium_domain::ids::UserId) -> StoreResult<()> {
        sqlx::query("SELECT id FROM users WHERE id = $1 FOR UPDATE").bind(id.get()).execute(tx).await?;
        Ok(())
    }
}

/// Claims skip rows another server's claim has locked, so several servers
/// share the outbox without ever taking the same message.
const CLAIM_LOCK: &str = " FOR UPDATE SKIP LOCKED";

/// Appended to the reads of an attempt and its order inside the payment
/// rule: concurrent deliveries, on any server, queue on the attempt's row.
const FOR_UPDATE: &str = " FOR UPDATE";

/// Appended to a product read inside an edit: no sale or other edit can change
/// the row until the edit commits.
const LOCK_PRODUCT_ROW: &str = " FOR UPDATE OF p";

/// Locks the category, so no product is filed under it while it is checked.
const SELECT_CATEGORY_FOR_REMOVAL: &str = "SELECT id FROM categories WHERE id = $1 FOR UPDATE";

/// The channel migration 0009's trigger notifies when the catalog changes.
const CATALOG_CHANNEL: &str = "emporium_catalog";

struct CatalogListener(sqlx::postgres::PgListener);

#[async_trait]
impl emporium_store::CatalogWakeups for CatalogListener {
    async fn next(&mut self) -> StoreResult<()> {
        self.0.recv().await?;
        Ok(())
    }
}
