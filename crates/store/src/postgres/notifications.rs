//! The notification queue on PostgreSQL (see [`NotificationStore`]).

use super::{PgStore, at, now, time};
use crate::codec::{from_json, to_json};
use crate::seal::{Column, Sealer};
use crate::{NewDelivery, NotificationStore, Result, StoreError};
use async_trait::async_trait;
use jiff::Timestamp;
use slipway_core::BuildId;
use slipway_core::notify::{Delivery, DeliveryState};
use sqlx::Row;
use sqlx::postgres::PgRow;

fn delivery_from_row(r: &PgRow, sealer: &Sealer) -> Result<Delivery> {
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
        next_attempt_at: time(r, "next_attempt_at")?,
        delivered_at: r
            .try_get::<Option<jiff_sqlx::Timestamp>, _>("delivered_at")?
            .map(|t| t.to_jiff()),
        created_at: time(r, "created_at")?,
    })
}

#[async_trait]
impl NotificationStore for PgStore {
    async fn unannounced_builds(&self, limit: u32) -> Result<Vec<BuildId>> {
        Ok(sqlx::query_scalar(
            "SELECT id FROM builds
             WHERE notified_at IS NULL
               AND phase IN ('Complete', 'Failed', 'Error', 'Cancelled', 'Skipped')
             ORDER BY id LIMIT $1",
        )
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?)
    }

    async fn queue_deliveries(
        &self,
        build: Option<BuildId>,
        deliveries: &[NewDelivery],
    ) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        let t = now();
        for d in deliveries {
            sqlx::query(
                "INSERT INTO notifications
                 (build_id, scan_id, config, target, message, state, attempts, next_attempt_at, created_at)
                 VALUES ($1, $2, $3, $4, $5, 'pending', 0, $6, $6)",
            )
            .bind(d.build)
            .bind(d.scan)
            .bind(&d.config)
            .bind(self.sealer.seal(Column::DeliveryTarget, to_json(&d.target)?)?)
            .bind(to_json(&d.message)?)
            .bind(t)
            .execute(&mut *tx)
            .await?;
        }
        if let Some(b) = build {
            sqlx::query("UPDATE builds SET notified_at = $1 WHERE id = $2")
                .bind(t)
                .bind(b)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn due_deliveries(&self, now: Timestamp, limit: u32) -> Result<Vec<Delivery>> {
        sqlx::query(
            "SELECT * FROM notifications
             WHERE state = 'pending' AND next_attempt_at <= $1
             ORDER BY id LIMIT $2",
        )
        .bind(at(now))
        .bind(i64::from(limit))
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
        let t = now();
        match result {
            Ok(()) => {
                sqlx::query(
                    "UPDATE notifications SET state = 'delivered', attempts = attempts + 1,
                     delivered_at = $1 WHERE id = $2",
                )
                .bind(t)
                .bind(id)
                .execute(&self.pool)
                .await?;
            }
            Err(e) => {
                let (state, next) = match retry_at {
                    Some(r) => ("pending", at(r)),
                    None => ("failed", t),
                };
                sqlx::query(
                    "UPDATE notifications SET state = $1, attempts = attempts + 1,
                     last_error = $2, next_attempt_at = $3 WHERE id = $4",
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
            "SELECT * FROM notifications WHERE ($1::text IS NULL OR config = $1) \
             ORDER BY id DESC LIMIT $2",
        )
        .bind(config)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|r| delivery_from_row(r, &self.sealer))
        .collect()
    }
}
