//! What makes webhook deliveries replay-proof: the delivery ids already
//! received, and which commits a config has built.

use crate::sqlite::{now, parse_time};
use crate::{Result, SqliteStore};
use async_trait::async_trait;
use jiff::Timestamp;
use slipway_core::BuildId;
use sqlx::Row;

/// How long received delivery ids are remembered; a delivery older than
/// this is refused by its timestamp (generic provider) or its commit no
/// longer being the branch head (all providers).
pub const DELIVERY_MEMORY_DAYS: i64 = 30;

#[async_trait]
pub trait WebhookStore: Send + Sync {
    /// Remember that `delivery` for `config` came from `provider`, in one
    /// statement; `Some(when)` if it had come before (a replay). Ids older
    /// than [`DELIVERY_MEMORY_DAYS`] are forgotten.
    async fn remember_delivery(
        &self,
        config: &str,
        provider: &str,
        delivery: &str,
    ) -> Result<Option<Timestamp>>;
    /// When `commit` was built (Complete) by `config` before, but is not
    /// the commit of its newest complete build: that build's id and the
    /// newest build's commit. `None` otherwise.
    async fn superseded_commit(
        &self,
        config: &str,
        commit: &str,
    ) -> Result<Option<(BuildId, String)>>;
}

#[async_trait]
impl WebhookStore for SqliteStore {
    async fn remember_delivery(
        &self,
        config: &str,
        provider: &str,
        delivery: &str,
    ) -> Result<Option<Timestamp>> {
        let forget_before = Timestamp::now()
            .checked_sub(jiff::SignedDuration::from_hours(24 * DELIVERY_MEMORY_DAYS))
            .unwrap_or(Timestamp::UNIX_EPOCH);
        sqlx::query("DELETE FROM webhook_deliveries WHERE julianday(received_at) < julianday(?)")
            .bind(forget_before.to_string())
            .execute(&self.pool)
            .await?;
        let inserted = sqlx::query(
            "INSERT INTO webhook_deliveries (config, provider, delivery, received_at) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
        )
        .bind(config)
        .bind(provider)
        .bind(delivery)
        .bind(now())
        .execute(&self.pool)
        .await?
        .rows_affected();
        if inserted == 1 {
            return Ok(None);
        }
        let at: String = sqlx::query(
            "SELECT received_at FROM webhook_deliveries WHERE config = ? AND provider = ? AND delivery = ?",
        )
        .bind(config)
        .bind(provider)
        .bind(delivery)
        .fetch_one(&self.pool)
        .await?
        .try_get("received_at")?;
        Ok(Some(parse_time(at)?))
    }

    async fn superseded_commit(
        &self,
        config: &str,
        commit: &str,
    ) -> Result<Option<(BuildId, String)>> {
        let newest: Option<String> = sqlx::query(
            "SELECT git_commit FROM builds WHERE config = ? AND phase = 'Complete' AND git_commit IS NOT NULL ORDER BY id DESC LIMIT 1",
        )
        .bind(config)
        .fetch_optional(&self.pool)
        .await?
        .map(|r| r.try_get("git_commit"))
        .transpose()?;
        let Some(newest) = newest else {
            return Ok(None);
        };
        if newest == commit {
            return Ok(None);
        }
        let older: Option<BuildId> = sqlx::query(
            "SELECT id FROM builds WHERE config = ? AND phase = 'Complete' AND git_commit = ? ORDER BY id DESC LIMIT 1",
        )
        .bind(config)
        .bind(commit)
        .fetch_optional(&self.pool)
        .await?
        .map(|r| r.try_get("id"))
        .transpose()?;
        Ok(older.map(|id| (id, newest)))
    }
}
