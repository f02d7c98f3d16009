//! Build logs on PostgreSQL (see [`LogStore`]): one row per chunk, keyed
//! by the byte offset where it starts.

use super::PgStore;
use crate::{LogStore, Result, StoreError};
use async_trait::async_trait;
use slipway_core::BuildId;
use sqlx::Row;

#[async_trait]
impl LogStore for PgStore {
    async fn append_log(&self, build: BuildId, data: &[u8]) -> Result<u64> {
        let mut tx = self.pool.begin().await?;
        // Writers of one build (its platforms may run on several servers)
        // take turns: the end read here is where this chunk starts.
        sqlx::query("SELECT pg_advisory_xact_lock($1, $2)")
            .bind(LOG_LOCK_CLASS)
            .bind(build as i32)
            .execute(&mut *tx)
            .await?;
        let end: i64 = sqlx::query_scalar(
            "SELECT coalesce(max(start + length(data)), 0)::bigint FROM build_log_chunks WHERE build_id = $1",
        )
        .bind(build)
        .fetch_one(&mut *tx)
        .await?;
        let len = i64::try_from(data.len())
            .map_err(|_| StoreError::Corrupt("a log chunk over 2^63 bytes".into()))?;
        if len > 0 {
            sqlx::query("INSERT INTO build_log_chunks (build_id, start, data) VALUES ($1, $2, $3)")
                .bind(build)
                .bind(end)
                .bind(data)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(u64::try_from(end + len).unwrap_or(0))
    }

    async fn read_log(&self, build: BuildId, offset: u64, max: usize) -> Result<Vec<u8>> {
        let offset = i64::try_from(offset).unwrap_or(i64::MAX);
        // Chunks are at most a flush's worth (see the server's `logs`):
        // ask for enough of them to pass `max`.
        let limit = i64::try_from(max / 4096 + 1).unwrap_or(i64::MAX);
        let rows = sqlx::query(
            "SELECT start, data FROM build_log_chunks \
             WHERE build_id = $1 AND start + length(data) > $2 ORDER BY start LIMIT $3",
        )
        .bind(build)
        .bind(offset)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        let mut out = Vec::new();
        for r in rows {
            let start: i64 = r.try_get("start")?;
            let data: Vec<u8> = r.try_get("data")?;
            let skip = usize::try_from(offset.saturating_sub(start)).unwrap_or(0);
            if !out.is_empty() && out.len() + data.len() > max {
                break;
            }
            out.extend_from_slice(data.get(skip..).unwrap_or_default());
        }
        Ok(out)
    }

    async fn log_len(&self, build: BuildId) -> Result<u64> {
        let end: i64 = sqlx::query_scalar(
            "SELECT coalesce(max(start + length(data)), 0)::bigint FROM build_log_chunks WHERE build_id = $1",
        )
        .bind(build)
        .fetch_one(&self.pool)
        .await?;
        Ok(u64::try_from(end).unwrap_or(0))
    }

    async fn remove_log(&self, build: BuildId) -> Result<()> {
        sqlx::query("DELETE FROM build_log_chunks WHERE build_id = $1")
            .bind(build)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}

/// The first key of the advisory lock a log's writers take ("slog").
const LOG_LOCK_CLASS: i32 = 0x736c_6f67;
