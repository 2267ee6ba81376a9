//! Connection-pool settings both backends share.

use std::time::Duration;

use sqlx::pool::PoolOptions;
use sqlx::{Connection, Database};

/// A connection idle this long is checked before it is handed out again.
pub const IDLE_CHECK_AFTER: Duration = Duration::from_secs(30);

/// Pool options for either backend.
///
/// By default sqlx pings every connection it hands out: one extra round trip
/// for every statement run outside a transaction, and about a third of all
/// round trips in the checkout benchmark. A connection just returned to the
/// pool was working a moment ago, so only one that sat idle long enough for
/// the server, a proxy or a firewall to have dropped it is checked first.
pub fn pool_options<DB: Database>() -> PoolOptions<DB> {
    PoolOptions::new().test_before_acquire(false).before_acquire(|conn: &mut DB::Connection, meta| {
        Box::pin(async move {
            if meta.idle_for >= IDLE_CHECK_AFTER {
                conn.ping().await?;
            }
            Ok(true)
        })
    })
}
