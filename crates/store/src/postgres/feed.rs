//! The change feed on PostgreSQL. Triggers write a row in the same
//! transaction as each change (migrations/postgres/0002), but ids are
//! taken at insert and transactions commit in any order: a reader that
//! passed id 11 while 10 was still uncommitted would never see 10. So a
//! row's public id is its `seq`, given by [`sequence`] only once no older
//! transaction can still commit (its `xid` below the oldest running one),
//! in transaction order; readers see sequenced rows only.

use super::{PgStore, at, time};
use crate::{FeedRow, FeedStore, Result};
use async_trait::async_trait;
use jiff::Timestamp;
use sqlx::Row;

/// The advisory lock the sequencer holds (one at a time, any replica).
const SEQUENCER_LOCK: i64 = 0x736c_7077_6665_6564; // "slpwfeed"

/// Number the rows of every finished transaction, oldest transaction first.
/// When another reader is numbering already, leave it to that one.
async fn sequence(store: &PgStore) -> Result<()> {
    let mut tx = store.pool.begin().await?;
    let mine: bool = sqlx::query_scalar("SELECT pg_try_advisory_xact_lock($1)")
        .bind(SEQUENCER_LOCK)
        .fetch_one(&mut *tx)
        .await?;
    if !mine {
        return Ok(());
    }
    // A block of k numbers from the sequence (never reused, even after
    // pruning), handed out in (xid, id) order.
    sqlx::query(
        "WITH todo AS ( \
             SELECT id, row_number() OVER (ORDER BY xid, id) AS n FROM feed \
             WHERE seq IS NULL AND xid < pg_snapshot_xmin(pg_current_snapshot())), \
         k AS (SELECT count(*) AS k FROM todo), \
         base AS (SELECT CASE WHEN k.k > 0 \
                  THEN setval('feed_seq', nextval('feed_seq') + k.k - 1) - k.k ELSE 0 END AS b FROM k) \
         UPDATE feed f SET seq = base.b + todo.n FROM todo, base WHERE f.id = todo.id",
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

#[async_trait]
impl FeedStore for PgStore {
    async fn feed_after(&self, after: i64, limit: u32) -> Result<Vec<FeedRow>> {
        sequence(self).await?;
        sqlx::query(
            "SELECT seq, at, kind, project, data FROM feed WHERE seq > $1 ORDER BY seq LIMIT $2",
        )
        .bind(after)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|r| {
            Ok(FeedRow {
                id: r.try_get("seq")?,
                at: time(r, "at")?,
                kind: r.try_get("kind")?,
                project: r.try_get("project")?,
                data: serde_json::from_str(&r.try_get::<String, _>("data")?)
                    .unwrap_or(serde_json::Value::Null),
            })
        })
        .collect()
    }

    async fn feed_head(&self) -> Result<i64> {
        sequence(self).await?;
        Ok(sqlx::query_scalar("SELECT coalesce(max(seq), 0) FROM feed")
            .fetch_one(&self.pool)
            .await?)
    }

    async fn prune_feed(&self, before: Timestamp) -> Result<u64> {
        let done = sqlx::query("DELETE FROM feed WHERE at < $1")
            .bind(at(before))
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }
}
