//! Builds in Koji: a reservation made before a build is queued, an import
//! queued when its metadata is recorded, taken by the Koji controller once
//! the build is Complete (or the reservation given back when it is not),
//! retried while the hub cannot be reached.

use crate::seal::Column;
use crate::sqlite::{now, parse_time};
use crate::{Result, SqliteStore, StoreError};
use async_trait::async_trait;
use jiff::Timestamp;
use slipway_core::koji::{ImportState, KojiImport};
use slipway_core::{BuildId, BuildPhase};
use sqlx::Row;
use sqlx::sqlite::SqliteRow;

/// How an import attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImportAttempt {
    Imported {
        nvr: String,
        koji_build_id: i64,
    },
    /// Try again at `at` (the hub could not be reached).
    Retry {
        message: String,
        at: Timestamp,
    },
    /// The hub refused it.
    Failed {
        message: String,
        nvr: Option<String>,
    },
    /// The reservation was given back.
    Refunded {
        message: String,
    },
}

/// A reserved NVR: the Koji build and the token that imports into it.
#[derive(Clone, PartialEq, Eq)]
pub struct KojiReservation {
    pub koji_build_id: i64,
    pub token: String,
}

impl std::fmt::Debug for KojiReservation {
    // The token imports into the reservation: never in a log.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KojiReservation")
            .field("koji_build_id", &self.koji_build_id)
            .field("token", &"<redacted>")
            .finish()
    }
}

#[async_trait]
pub trait KojiStore: Send + Sync {
    /// Record that build `id`'s NVR is reserved in Koji.
    async fn reserve_koji(&self, id: BuildId, nvr: &str, r: &KojiReservation) -> Result<()>;
    async fn koji_reservation(&self, id: BuildId) -> Result<Option<KojiReservation>>;
    /// Reservations of builds that ended without completing (or completed
    /// without metadata to import), due to be given back, with the phase.
    async fn due_koji_refunds(
        &self,
        at: Timestamp,
        limit: u32,
    ) -> Result<Vec<(BuildId, BuildPhase)>>;
    /// Queue build `id`'s import (again, when it ended failed): pending,
    /// due now.
    async fn queue_koji_import(&self, id: BuildId) -> Result<()>;
    /// Pending imports of Complete builds whose time has come, oldest first.
    async fn due_koji_imports(&self, at: Timestamp, limit: u32) -> Result<Vec<BuildId>>;
    async fn record_koji_attempt(&self, id: BuildId, attempt: &ImportAttempt) -> Result<()>;
    async fn koji_import(&self, id: BuildId) -> Result<Option<KojiImport>>;
}

fn import_from_row(r: &SqliteRow) -> Result<KojiImport> {
    let state: String = r.try_get("state")?;
    let next: Option<String> = r.try_get("next_attempt_at")?;
    Ok(KojiImport {
        build: r.try_get("build_id")?,
        state: ImportState::parse(&state)
            .ok_or_else(|| StoreError::Corrupt(format!("bad import state {state:?}")))?,
        attempts: u32::try_from(r.try_get::<i64, _>("attempts")?).unwrap_or(0),
        nvr: r.try_get("nvr")?,
        koji_build_id: r.try_get("koji_build_id")?,
        message: r.try_get("message")?,
        next_attempt_at: next.map(parse_time).transpose()?,
        updated_at: parse_time(r.try_get("updated_at")?)?,
    })
}

#[async_trait]
impl KojiStore for SqliteStore {
    async fn reserve_koji(&self, id: BuildId, nvr: &str, r: &KojiReservation) -> Result<()> {
        let at = now();
        sqlx::query(
            "INSERT INTO koji_imports (build_id, state, nvr, koji_build_id, reservation_token, updated_at)
             VALUES (?, 'reserved', ?, ?, ?, ?)",
        )
        .bind(id)
        .bind(nvr)
        .bind(r.koji_build_id)
        .bind(self.sealer.seal(Column::KojiToken, r.token.clone())?)
        .bind(&at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn koji_reservation(&self, id: BuildId) -> Result<Option<KojiReservation>> {
        let row = sqlx::query(
            "SELECT koji_build_id, reservation_token FROM koji_imports
             WHERE build_id = ? AND reservation_token IS NOT NULL",
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
        at: Timestamp,
        limit: u32,
    ) -> Result<Vec<(BuildId, BuildPhase)>> {
        let rows = sqlx::query(
            "SELECT k.build_id, b.phase FROM koji_imports k JOIN builds b ON b.id = k.build_id
             WHERE k.state = 'reserved'
               AND b.phase IN ('Failed', 'Error', 'Cancelled', 'Skipped', 'Complete')
               AND (k.next_attempt_at IS NULL OR julianday(k.next_attempt_at) <= julianday(?))
             ORDER BY k.build_id LIMIT ?",
        )
        .bind(at.to_string())
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let phase: String = r.try_get("phase")?;
                Ok((r.try_get("build_id")?, crate::sqlite::parse_phase(&phase)?))
            })
            .collect()
    }

    async fn queue_koji_import(&self, id: BuildId) -> Result<()> {
        let at = now();
        sqlx::query(
            "INSERT INTO koji_imports (build_id, state, next_attempt_at, updated_at) VALUES (?1, 'pending', ?2, ?2)
             ON CONFLICT (build_id) DO UPDATE SET state = 'pending', attempts = 0, next_attempt_at = ?2, updated_at = ?2
             WHERE state NOT IN ('imported', 'refunded')",
        )
        .bind(id)
        .bind(&at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn due_koji_imports(&self, at: Timestamp, limit: u32) -> Result<Vec<BuildId>> {
        let rows = sqlx::query(
            "SELECT k.build_id FROM koji_imports k JOIN builds b ON b.id = k.build_id
             WHERE k.state = 'pending' AND b.phase = 'Complete'
               AND julianday(k.next_attempt_at) <= julianday(?)
             ORDER BY k.build_id LIMIT ?",
        )
        .bind(at.to_string())
        .bind(limit)
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
            ImportAttempt::Retry { message, at } => (
                None,
                None,
                None,
                Some(message.clone()),
                Some(at.to_string()),
            ),
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
            "UPDATE koji_imports SET state = COALESCE(?, state), attempts = attempts + 1, nvr = COALESCE(?, nvr),
                 koji_build_id = COALESCE(?, koji_build_id), message = ?, next_attempt_at = ?,
                 updated_at = ?
             WHERE build_id = ?",
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
        sqlx::query("SELECT * FROM koji_imports WHERE build_id = ?")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(import_from_row)
            .transpose()
    }
}
