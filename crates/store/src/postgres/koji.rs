//! Koji reservations and imports on PostgreSQL (see [`KojiStore`]).

use super::{PgStore, at, now, time};
use crate::seal::Column;
use crate::{ImportAttempt, KojiReservation, KojiStore, Result, StoreError};
use async_trait::async_trait;
use jiff::Timestamp;
use slipway_core::koji::{ImportState, KojiImport};
use slipway_core::{BuildId, BuildPhase};
use sqlx::Row;
use sqlx::postgres::PgRow;

fn import_from_row(r: &PgRow) -> Result<KojiImport> {
    let state: String = r.try_get("state")?;
    Ok(KojiImport {
        build: r.try_get("build_id")?,
        state: ImportState::parse(&state)
            .ok_or_else(|| StoreError::Corrupt(format!("bad import state {state:?}")))?,
        attempts: u32::try_from(r.try_get::<i64, _>("attempts")?).unwrap_or(0),
        nvr: r.try_get("nvr")?,
        koji_build_id: r.try_get("koji_build_id")?,
        message: r.try_get("message")?,
        next_attempt_at: r
            .try_get::<Option<jiff_sqlx::Timestamp>, _>("next_attempt_at")?
            .map(|t| t.to_jiff()),
        updated_at: time(r, "updated_at")?,
    })
}

#[async_trait]
impl KojiStore for PgStore {
    async fn reserve_koji(&self, id: BuildId, nvr: &str, r: &KojiReservation) -> Result<()> {
        sqlx::query(
            "INSERT INTO koji_imports (build_id, state, nvr, koji_build_id, reservation_token, updated_at)
             VALUES ($1, 'reserved', $2, $3, $4, $5)",
        )
        .bind(id)
        .bind(nvr)
        .bind(r.koji_build_id)
        .bind(self.sealer.seal(Column::KojiToken, r.token.clone())?)
        .bind(now())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn koji_reservation(&self, id: BuildId) -> Result<Option<KojiReservation>> {
        let row = sqlx::query(
            "SELECT koji_build_id, reservation_token FROM koji_imports
             WHERE build_id = $1 AND reservation_token IS NOT NULL",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let token: String = row.try_get("reservation_token")?;
        Ok(Some(KojiReservation {
            koji_build_id: row.try_get("koji_build_id")?,
            token: self.sealer.open(Column::KojiToken, &token)?,
        }))
    }

    async fn due_koji_refunds(
        &self,
        when: Timestamp,
        limit: u32,
    ) -> Result<Vec<(BuildId, BuildPhase)>> {
        let rows = sqlx::query(
            "SELECT k.build_id, b.phase FROM koji_imports k JOIN builds b ON b.id = k.build_id
             WHERE k.state = 'reserved'
               AND b.phase IN ('Failed', 'Error', 'Cancelled', 'Skipped', 'Complete')
               AND (k.next_attempt_at IS NULL OR k.next_attempt_at <= $1)
             ORDER BY k.build_id LIMIT $2",
        )
        .bind(at(when))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let phase: String = r.try_get("phase")?;
                Ok((r.try_get("build_id")?, crate::codec::parse_phase(&phase)?))
            })
            .collect()
    }

    async fn queue_koji_import(&self, id: BuildId) -> Result<()> {
        sqlx::query(
            "INSERT INTO koji_imports (build_id, state, next_attempt_at, updated_at) VALUES ($1, 'pending', $2, $2)
             ON CONFLICT (build_id) DO UPDATE SET state = 'pending', attempts = 0,
                 next_attempt_at = $2, updated_at = $2
             WHERE koji_imports.state NOT IN ('imported', 'refunded')",
        )
        .bind(id)
        .bind(now())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn due_koji_imports(&self, when: Timestamp, limit: u32) -> Result<Vec<BuildId>> {
        let rows = sqlx::query(
            "SELECT k.build_id FROM koji_imports k JOIN builds b ON b.id = k.build_id
             WHERE k.state = 'pending' AND b.phase = 'Complete' AND k.next_attempt_at <= $1
             ORDER BY k.build_id LIMIT $2",
        )
        .bind(at(when))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|r| Ok(r.try_get("build_id")?)).collect()
    }

    async fn record_koji_attempt(&self, id: BuildId, attempt: &ImportAttempt) -> Result<()> {
        let (state, nvr, koji_id, message, next) = match attempt {
            ImportAttempt::Imported { nvr, koji_build_id } => (
                Some(ImportState::Imported),
                Some(nvr.clone()),
                Some(*koji_build_id),
                None,
                None,
            ),
            // Retrying keeps the state: a pending import or a reservation
            // still to give back.
            ImportAttempt::Retry { message, at: when } => {
                (None, None, None, Some(message.clone()), Some(at(*when)))
            }
            ImportAttempt::Failed { message, nvr } => (
                Some(ImportState::Failed),
                nvr.clone(),
                None,
                Some(message.clone()),
                None,
            ),
            ImportAttempt::Refunded { message } => (
                Some(ImportState::Refunded),
                None,
                None,
                Some(message.clone()),
                None,
            ),
        };
        sqlx::query(
            "UPDATE koji_imports SET state = COALESCE($1, state), attempts = attempts + 1,
                 nvr = COALESCE($2, nvr), koji_build_id = COALESCE($3, koji_build_id),
                 message = $4, next_attempt_at = $5, updated_at = $6
             WHERE build_id = $7",
        )
        .bind(state.map(ImportState::as_str))
        .bind(nvr)
        .bind(koji_id)
        .bind(message.map(|m| slipway_core::build::short_reason(&m)))
        .bind(next)
        .bind(now())
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn koji_import(&self, id: BuildId) -> Result<Option<KojiImport>> {
        sqlx::query("SELECT * FROM koji_imports WHERE build_id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(import_from_row)
            .transpose()
    }
}
