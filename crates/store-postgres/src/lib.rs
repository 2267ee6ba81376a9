//! PostgreSQL storage, for production and for running several stateless
//! servers against one database.

mod accounts;
mod audit;
mod carts;
mod catalog;
mod orders;

use std::time::Duration;

use async_trait::async_trait;
use emporium_store::{Store, StoreResult};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};

pub struct PostgresStore {
    pool: PgPool,
    /// For cart writes only: commits do not wait for the WAL flush
    /// (`synchronous_commit = off`). A crash may lose the last fraction of a
    /// second of cart changes; orders, stock and accounts never use it.
    carts: PgPool,
}

impl PostgresStore {
    /// Connects to `url` and applies pending migrations. Several servers may
    /// start at once: sqlx serialises migrations with an advisory lock.
    pub async fn connect(url: &str, max_connections: u32) -> anyhow::Result<Self> {
        let options: PgConnectOptions = url.parse()?;
        let pool = PgPoolOptions::new()
            .max_connections(max_connections.max(1))
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options.clone())
            .await?;
        sqlx::migrate!("./migrations").run(&pool).await?;
        let carts = PgPoolOptions::new()
            .max_connections((max_connections / 2).max(1))
            .acquire_timeout(Duration::from_secs(10))
            .connect_lazy_with(options.options([("synchronous_commit", "off")]));
        Ok(Self { pool, carts })
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
        self.pool.close().await;
    }
}
