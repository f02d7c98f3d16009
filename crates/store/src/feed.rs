//! The change feed (`feed` table, filled by triggers: migration 0022):
//! read in id order for `GET /api/v1/events`, pruned by age.

use crate::sqlite::parse_time;
use crate::{Result, SqliteStore};
use async_trait::async_trait;
use jiff::Timestamp;

/// One change: its id (the stream's event id), when, what kind, the
/// project it belongs to when the store knows it, and what changed.
#[derive(Debug, Clone, PartialEq)]
pub struct FeedRow {
    pub id: i64,
    pub at: Timestamp,
    /// build, config, wave, cluster, tag or scan.
    pub kind: String,
    pub project: Option<String>,
    pub data: serde_json::Value,
}

#[async_trait]
pub trait FeedStore: Send + Sync {
    /// Changes after `after`, oldest first, at most `limit`.
    async fn feed_after(&self, after: i64, limit: u32) -> Result<Vec<FeedRow>>;
    /// The newest change's id (0 when there is none).
    async fn feed_head(&self) -> Result<i64>;
    /// Remove changes recorded before `before`; returns how many.
    async fn prune_feed(&self, before: Timestamp) -> Result<u64>;
}

#[async_trait]
impl FeedStore for SqliteStore {
    async fn feed_after(&self, after: i64, limit: u32) -> Result<Vec<FeedRow>> {
        // A synchronous read (see `read`): every open stream reads often.
        let rows: Vec<(i64, String, String, Option<String>, String)> = self.reads.with(|c| {
            let mut q = c.prepare_cached(
                "SELECT id, at, kind, project, data FROM feed WHERE id > ?1 ORDER BY id LIMIT ?2",
            )?;
            let rows = q.query_map(rusqlite::params![after, i64::from(limit)], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
            })?;
            Ok(rows.collect::<std::result::Result<Vec<_>, _>>()?)
        })?;
        rows.into_iter()
            .map(|(id, at, kind, project, data)| {
                Ok(FeedRow {
                    id,
                    at: parse_time(at)?,
                    kind,
                    project,
                    data: serde_json::from_str(&data).unwrap_or(serde_json::Value::Null),
                })
            })
            .collect()
    }

    async fn feed_head(&self) -> Result<i64> {
        self.reads
            .with(|c| Ok(c.query_row("SELECT coalesce(max(id), 0) FROM feed", [], |r| r.get(0))?))
    }

    async fn prune_feed(&self, before: Timestamp) -> Result<u64> {
        let done = sqlx::query("DELETE FROM feed WHERE at < ?")
            .bind(before.to_string())
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }
}
