//! The notification queue: builds not announced yet, and deliveries of
//! messages to targets with their attempts.

use crate::seal::{Column, Sealer};
use crate::sqlite::{from_json, now, parse_time, to_json};
use crate::{Result, SqliteStore, StoreError};
use async_trait::async_trait;
use jiff::Timestamp;
use slipway_core::BuildId;
use slipway_core::notify::{Delivery, DeliveryState, Message, NotifyTarget};
use sqlx::Row;
use sqlx::sqlite::SqliteRow;

/// A message for a target, to queue.
#[derive(Debug, Clone)]
pub struct NewDelivery {
    pub build: Option<BuildId>,
    pub scan: Option<i64>,
    pub config: Option<String>,
    pub target: NotifyTarget,
    pub message: Message,
}

#[async_trait]
pub trait NotificationStore: Send + Sync {
    /// Builds that ended and were not announced yet, oldest first.
    async fn unannounced_builds(&self, limit: u32) -> Result<Vec<BuildId>>;
    /// Queue `deliveries` (due now) and, when `build` is given, mark it
    /// announced, in one transaction.
    async fn queue_deliveries(
        &self,
        build: Option<BuildId>,
        deliveries: &[NewDelivery],
    ) -> Result<()>;
    /// Pending deliveries whose time has come, oldest first.
    async fn due_deliveries(&self, now: Timestamp, limit: u32) -> Result<Vec<Delivery>>;
    /// Record an attempt: delivered (`Ok`), or failed with the error and
    /// the next try (`None`: give up).
    async fn record_attempt(
        &self,
        id: i64,
        result: std::result::Result<(), &str>,
        retry_at: Option<Timestamp>,
    ) -> Result<()>;
    /// Newest first; about one config, or all.
    async fn list_deliveries(&self, config: Option<&str>, limit: u32) -> Result<Vec<Delivery>>;
}

fn delivery_from_row(r: &SqliteRow, sealer: &Sealer) -> Result<Delivery> {
    let state: String = r.try_get("state")?;
    Ok(Delivery {
        id: r.try_get("id")?,
        build: r.try_get("build_id")?,
        scan: r.try_get("scan_id")?,
        config: r.try_get("config")?,
        target: from_json(
            &sealer.open(Column::DeliveryTarget, &r.try_get::<String, _>("target")?)?,
        )?,
        message: from_json(&r.try_get::<String, _>("message")?)?,
        state: DeliveryState::parse(&state)
            .ok_or_else(|| StoreError::Corrupt(format!("bad delivery state {state:?}")))?,
        attempts: u32::try_from(r.try_get::<i64, _>("attempts")?).unwrap_or(u32::MAX),
        last_error: r.try_get("last_error")?,
        next_attempt_at: parse_time(r.try_get("next_attempt_at")?)?,
        delivered_at: r
            .try_get::<Option<String>, _>("delivered_at")?
            .map(parse_time)
            .transpose()?,
        created_at: parse_time(r.try_get("created_at")?)?,
    })
}

#[async_trait]
impl NotificationStore for SqliteStore {
    async fn unannounced_builds(&self, limit: u32) -> Result<Vec<BuildId>> {
        Ok(sqlx::query_scalar(
            "SELECT id FROM builds
             WHERE notified_at IS NULL
               AND phase IN ('Complete', 'Failed', 'Error', 'Cancelled', 'Skipped')
             ORDER BY id LIMIT ?",
        )
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
    }

    async fn queue_deliveries(
        &self,
        build: Option<BuildId>,
        deliveries: &[NewDelivery],
    ) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        let at = now();
        for d in deliveries {
            sqlx::query(
                "INSERT INTO notifications
                 (build_id, scan_id, config, target, message, state, attempts, next_attempt_at, created_at)
                 VALUES (?, ?, ?, ?, ?, 'pending', 0, ?, ?)",
            )
            .bind(d.build)
            .bind(d.scan)
            .bind(&d.config)
            .bind(self.sealer.seal(Column::DeliveryTarget, to_json(&d.target)?)?)
            .bind(to_json(&d.message)?)
            .bind(&at)
            .bind(&at)
            .execute(&mut *tx)
            .await?;
        }
        if let Some(b) = build {
            sqlx::query("UPDATE builds SET notified_at = ? WHERE id = ?")
                .bind(&at)
                .bind(b)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn due_deliveries(&self, now: Timestamp, limit: u32) -> Result<Vec<Delivery>> {
        // Compared as times (julianday), not as text: the fractions of
        // the stored timestamps vary in length.
        sqlx::query(
            "SELECT * FROM notifications
             WHERE state = 'pending' AND julianday(next_attempt_at) <= julianday(?)
             ORDER BY id LIMIT ?",
        )
        .bind(now.to_string())
        .bind(limit)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|r| delivery_from_row(r, &self.sealer))
        .collect()
    }

    async fn record_attempt(
        &self,
        id: i64,
        result: std::result::Result<(), &str>,
        retry_at: Option<Timestamp>,
    ) -> Result<()> {
        let at = now();
        match result {
            Ok(()) => {
                sqlx::query(
                    "UPDATE notifications SET state = 'delivered', attempts = attempts + 1,
                     delivered_at = ? WHERE id = ?",
                )
                .bind(&at)
                .bind(id)
                .execute(&self.pool)
                .await?;
            }
            Err(e) => {
                let (state, next) = match retry_at {
                    Some(t) => ("pending", t.to_string()),
                    None => ("failed", at.clone()),
                };
                sqlx::query(
                    "UPDATE notifications SET state = ?, attempts = attempts + 1,
                     last_error = ?, next_attempt_at = ? WHERE id = ?",
                )
                .bind(state)
                .bind(e)
                .bind(next)
                .bind(id)
                .execute(&self.pool)
                .await?;
            }
        }
        Ok(())
    }

    async fn list_deliveries(&self, config: Option<&str>, limit: u32) -> Result<Vec<Delivery>> {
        sqlx::query(
            "SELECT * FROM notifications WHERE (?1 IS NULL OR config = ?1) ORDER BY id DESC LIMIT ?2",
        )
        .bind(config)
        .bind(limit)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|r| delivery_from_row(r, &self.sealer))
            .collect()
    }
}
