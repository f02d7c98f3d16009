//! Scan results and rescan schedules.

use crate::sqlite::{from_json, now, parse_time, to_json};
use crate::{Result, SqliteStore, StoreError};
use async_trait::async_trait;
use jiff::Timestamp;
use slipway_core::BuildId;
use slipway_core::scan::{ScanReason, ScanReport, StoredScan};
use sqlx::Row;
use sqlx::sqlite::SqliteRow;
use std::str::FromStr;

#[async_trait]
pub trait ScanStore: Send + Sync {
    async fn record_scan(
        &self,
        build: Option<BuildId>,
        config: Option<&str>,
        reason: ScanReason,
        report: &ScanReport,
    ) -> Result<StoredScan>;
    async fn get_scan(&self, id: i64) -> Result<Option<StoredScan>>;
    /// Oldest first.
    async fn scans_of_build(&self, build: BuildId) -> Result<Vec<StoredScan>>;
    /// Newest first; of one config, or of all.
    async fn list_scans(&self, config: Option<&str>, limit: u32) -> Result<Vec<StoredScan>>;
    async fn set_next_rescan(&self, config: &str, at: Option<Timestamp>) -> Result<()>;
}

fn scan_from_row(r: &SqliteRow) -> Result<StoredScan> {
    let reason: String = r.try_get("reason")?;
    Ok(StoredScan {
        id: r.try_get("id")?,
        build: r.try_get("build_id")?,
        config: r.try_get("config")?,
        reason: ScanReason::from_str(&reason).map_err(StoreError::Corrupt)?,
        created_at: parse_time(r.try_get("created_at")?)?,
        report: from_json(&r.try_get::<String, _>("report")?)?,
    })
}

macro_rules! scan_columns {
    () => {
        "id, build_id, config, reason, report, created_at"
    };
}

#[async_trait]
impl ScanStore for SqliteStore {
    async fn record_scan(
        &self,
        build: Option<BuildId>,
        config: Option<&str>,
        reason: ScanReason,
        report: &ScanReport,
    ) -> Result<StoredScan> {
        let row = sqlx::query(concat!(
            "INSERT INTO scans (build_id, config, reason, reference, manifest_digest, outcome, report, created_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING ",
            scan_columns!()
        ))
        .bind(build)
        .bind(config)
        .bind(reason.as_str())
        .bind(&report.reference)
        .bind(&report.manifest_digest)
        .bind(report.outcome.as_str())
        .bind(to_json(report)?)
        .bind(now())
        .fetch_one(&self.pool)
        .await?;
        scan_from_row(&row)
    }

    async fn get_scan(&self, id: i64) -> Result<Option<StoredScan>> {
        sqlx::query(concat!(
            "SELECT ",
            scan_columns!(),
            " FROM scans WHERE id = ?"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?
        .as_ref()
        .map(scan_from_row)
        .transpose()
    }

    async fn scans_of_build(&self, build: BuildId) -> Result<Vec<StoredScan>> {
        sqlx::query(concat!(
            "SELECT ",
            scan_columns!(),
            " FROM scans WHERE build_id = ? ORDER BY id"
        ))
        .bind(build)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(scan_from_row)
        .collect()
    }

    async fn list_scans(&self, config: Option<&str>, limit: u32) -> Result<Vec<StoredScan>> {
        sqlx::query(concat!(
            "SELECT ",
            scan_columns!(),
            " FROM scans WHERE (?1 IS NULL OR config = ?1) ORDER BY id DESC LIMIT ?2"
        ))
        .bind(config)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(scan_from_row)
        .collect()
    }

    async fn set_next_rescan(&self, config: &str, at: Option<Timestamp>) -> Result<()> {
        sqlx::query("UPDATE image_configs SET next_rescan_at = ? WHERE name = ?")
            .bind(at.map(|t| t.to_string()))
            .bind(config)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
