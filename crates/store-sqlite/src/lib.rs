//! SQLite storage: a single file in WAL mode, foreign keys on.
//!
//! Reads go through a pool of connections; every write goes through one
//! dedicated connection. SQLite allows one writer at a time anyway, and
//! queueing writers in-process means a read-then-write transaction can never
//! fail with `SQLITE_BUSY` half-way (which a pool of writers would risk).

// The storage code is shared with the PostgreSQL backend (crates/store/backend):
// written once, compiled here against SQLite's types.
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

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use emporium_store::{Store, StoreResult};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqliteSynchronous};

pub struct SqliteStore {
    read: SqlitePool,
    write: SqlitePool,
    /// Copies the WAL back into the database file in the background.
    checkpointer: tokio::task::JoinHandle<()>,
}

/// How often the background checkpoint runs.
const CHECKPOINT_INTERVAL: Duration = Duration::from_millis(500);

/// Checkpoints the WAL from a connection of its own, so the single write
/// connection never does. By default SQLite checkpoints on the commit that
/// takes the WAL past 1,000 pages, and a checkpoint syncs the database file:
/// every write queued behind that commit waits for the disk. `PASSIVE` never
/// blocks readers or the writer; what it cannot copy yet, the next one does.
async fn checkpoint_in_background(checkpoints: SqlitePool) {
    let mut tick = tokio::time::interval(CHECKPOINT_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if let Err(error) = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)").execute(&checkpoints).await {
            tracing::warn!(%error, "background WAL checkpoint failed");
        }
    }
}

impl SqliteStore {
    /// Opens (creating if missing) the database at `url` (`sqlite://path` or a
    /// plain path) and applies pending migrations.
    pub async fn connect(url: &str, max_read_connections: u32) -> anyhow::Result<Self> {
        let options = if url.starts_with("sqlite:") {
            SqliteConnectOptions::from_str(url)?
        } else {
            SqliteConnectOptions::new().filename(url)
        };
        if let Some(dir) = options.get_filename().parent().filter(|d| !d.as_os_str().is_empty()) {
            create_dir(dir)?;
        }
        let options = options
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10))
            .pragma("cache_size", "-16000")
            .pragma("temp_store", "memory");
        let write = emporium_store::pool::pool_options::<sqlx::Sqlite>()
            .max_connections(1)
            .min_connections(1)
            .connect_with(options.clone().pragma("wal_autocheckpoint", "0"))
            .await?;
        sqlx::migrate!("./migrations").run(&write).await?;
        let checkpoints = emporium_store::pool::pool_options::<sqlx::Sqlite>()
            .max_connections(1)
            .connect_with(options.clone().pragma("wal_autocheckpoint", "0"))
            .await?;
        let read = emporium_store::pool::pool_options::<sqlx::Sqlite>()
            .max_connections(max_read_connections.max(1))
            .connect_with(options.read_only(true))
            .await?;
        let checkpointer = tokio::spawn(checkpoint_in_background(checkpoints));
        Ok(Self { read, write, checkpointer })
    }
}

/// What the shared storage code compiles against.
type Backend = SqliteStore;
type Db = sqlx::Sqlite;
type Conn = sqlx::SqliteConnection;

impl SqliteStore {
    /// SQLite has no cross-process signal: one server owns the file, and its
    /// own writes are applied as they commit.
    async fn catalog_listener(&self) -> StoreResult<Option<Box<dyn emporium_store::CatalogWakeups>>> {
        Ok(None)
    }
    fn reader(&self) -> &SqlitePool {
        &self.read
    }
    fn writer(&self) -> &SqlitePool {
        &self.write
    }
    fn cart_writer(&self) -> &SqlitePool {
        &self.write
    }
    /// Nothing to lock: the single write connection already serialises the
    /// last-admin check and the change it guards.
    async fn lock_admins(_tx: &mut Conn) -> StoreResult<()> {
        Ok(())
    }
    /// Nothing to lock: the single write connection already keeps the lines
    /// a transaction counts from changing under it.
    async fn lock_cart(_tx: &mut Conn, _cart: emporium_domain::ids::CartId) -> StoreResult<()> {
        Ok(())
    }

    /// Nothing to lock: the single writer serialises a user's reset requests.
    async fn lock_user(_tx: &mut Conn, _id: emporium_domain::ids::UserId) -> StoreResult<()> {
        Ok(())
    }
}

/// Nothing to lock: the single write connection already serialises claims,
/// so no two workers of this process can take the same message.
const CLAIM_LOCK: &str = "";

/// Nothing to lock: every payment change runs on the single write
/// connection, one at a time, so the rule's reads cannot go stale.
const FOR_UPDATE: &str = "";

/// Nothing to lock: an edit runs on the single write connection, so no sale
/// can change the row between its read and its write.
const LOCK_PRODUCT_ROW: &str = "";

/// The single writer serialises this check too.
const SELECT_CATEGORY_FOR_REMOVAL: &str = "SELECT id FROM categories WHERE id = $1";

fn create_dir(dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| anyhow::anyhow!("cannot create database directory {}: {e}", dir.display()))
}

#[async_trait]
impl Store for SqliteStore {
    fn backend(&self) -> &'static str {
        "sqlite"
    }

    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1").execute(&self.read).await?;
        Ok(())
    }

    async fn close(&self) {
        self.checkpointer.abort();
        self.read.close().await;
        self.write.close().await;
    }
}
