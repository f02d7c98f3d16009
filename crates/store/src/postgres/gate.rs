//! The registry's blob gate on PostgreSQL: one session-level advisory
//! lock, taken shared by every registry write that relies on a blob being
//! there and exclusive by garbage collection, on whichever server. See
//! [`crate::registry::BlobGate`].
//!
//! The lock lives on a connection of its own pool: a write holding the
//! gate still needs connections of the main pool for its queries, so if
//! both came from one pool, sixteen writes holding the gate could wait for
//! a seventeenth connection forever.

use super::PgStore;
use crate::Result;
use sqlx::pool::PoolConnection;
use sqlx::{PgPool, Postgres};

/// The gate's advisory lock key ("slpwblob").
const BLOB_GATE: i64 = 0x736c_7077_626c_6f62;

/// Connections the gates of one server hold at most.
pub(super) const GATE_CONNECTIONS: u32 = 8;

/// The gate, held on `conn` until [`Held::release`]; dropped without it
/// (a request cancelled while it held the gate), the connection is closed,
/// which ends the lock on the database's side.
pub struct Held {
    conn: Option<PoolConnection<Postgres>>,
    exclusive: bool,
}

impl Held {
    pub(crate) async fn take(pool: &PgPool, exclusive: bool) -> Result<Self> {
        let mut conn = pool.acquire().await?;
        let sql = if exclusive {
            "SELECT pg_advisory_lock($1)"
        } else {
            "SELECT pg_advisory_lock_shared($1)"
        };
        sqlx::query(sql).bind(BLOB_GATE).execute(&mut *conn).await?;
        Ok(Held {
            conn: Some(conn),
            exclusive,
        })
    }

    pub(crate) async fn release(mut self) {
        let Some(mut conn) = self.conn.take() else {
            return;
        };
        let sql = if self.exclusive {
            "SELECT pg_advisory_unlock($1)"
        } else {
            "SELECT pg_advisory_unlock_shared($1)"
        };
        let unlocked: std::result::Result<bool, _> = sqlx::query_scalar(sql)
            .bind(BLOB_GATE)
            .fetch_one(&mut *conn)
            .await;
        if !matches!(unlocked, Ok(true)) {
            // Not sure the lock went: never hand the connection on.
            conn.close_on_drop();
        }
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.as_mut() {
            conn.close_on_drop();
        }
    }
}

impl PgStore {
    pub(crate) async fn gate(&self, exclusive: bool) -> Result<Held> {
        Held::take(&self.gates, exclusive).await
    }
}
