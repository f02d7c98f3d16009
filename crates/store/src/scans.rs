//! Scan results, rescan schedules and what tracked package repositories
//! held when last read.

use crate::sqlite::{from_json, now, parse_time, to_json};
use crate::{Result, SqliteStore, StoreError};
use async_trait::async_trait;
use jiff::Timestamp;
use slipway_core::BuildId;
use slipway_core::scan::{ScanReason, ScanReport, StoredScan};
use sqlx::Row;
use sqlx::sqlite::SqliteRow;
use std::collections::BTreeMap;
use std::str::FromStr;

/// A tracked repository as last read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackedRepository {
    pub url: String,
    pub kind: String,
    /// SHA-256 of the metadata read.
    pub digest: String,
    /// Newest version of each package.
    pub versions: BTreeMap<String, String>,
    pub checked_at: Timestamp,
}

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
    /// Configs whose rescan is due at `now`.
    async fn rescans_due(&self, now: Timestamp) -> Result<Vec<String>>;
    async fn set_next_rescan(&self, config: &str, at: Option<Timestamp>) -> Result<()>;
    async fn next_rescan(&self, config: &str) -> Result<Option<Timestamp>>;
    async fn tracked_repository(&self, url: &str) -> Result<Option<TrackedRepository>>;
    async fn set_tracked_repository(&self, repo: &TrackedRepository) -> Result<()>;
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

    async fn rescans_due(&self, now: Timestamp) -> Result<Vec<String>> {
        // Timestamps are stored in RFC 3339 UTC with a fixed layout, so they
        // compare as text; parse to be safe with older rows.
        let rows = sqlx::query(
            "SELECT name, next_rescan_at FROM image_configs WHERE next_rescan_at IS NOT NULL ORDER BY name",
        )
        .fetch_all(&self.pool)
        .await?;
        let mut out = Vec::new();
        for r in rows {
            let at = parse_time(r.try_get("next_rescan_at")?)?;
            if at <= now {
                out.push(r.try_get("name")?);
            }
        }
        Ok(out)
    }

    async fn set_next_rescan(&self, config: &str, at: Option<Timestamp>) -> Result<()> {
        sqlx::query("UPDATE image_configs SET next_rescan_at = ? WHERE name = ?")
            .bind(at.map(|t| t.to_string()))
            .bind(config)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn next_rescan(&self, config: &str) -> Result<Option<Timestamp>> {
        let at: Option<Option<String>> =
            sqlx::query_scalar("SELECT next_rescan_at FROM image_configs WHERE name = ?")
                .bind(config)
                .fetch_optional(&self.pool)
                .await?;
        at.flatten().map(parse_time).transpose()
    }

    async fn tracked_repository(&self, url: &str) -> Result<Option<TrackedRepository>> {
        let Some(r) = sqlx::query(
            "SELECT url, kind, digest, versions, checked_at FROM tracked_repositories WHERE url = ?",
        )
        .bind(url)
        .fetch_optional(&self.pool)
        .await?
        else {
            return Ok(None);
        };
        Ok(Some(TrackedRepository {
            url: r.try_get("url")?,
            kind: r.try_get("kind")?,
            digest: r.try_get("digest")?,
            versions: from_json(&r.try_get::<String, _>("versions")?)?,
            checked_at: parse_time(r.try_get("checked_at")?)?,
        }))
    }

    async fn set_tracked_repository(&self, repo: &TrackedRepository) -> Result<()> {
        sqlx::query(
            "INSERT INTO tracked_repositories (url, kind, digest, versions, checked_at) VALUES (?, ?, ?, ?, ?)
             ON CONFLICT(url) DO UPDATE SET kind = excluded.kind, digest = excluded.digest,
               versions = excluded.versions, checked_at = excluded.checked_at",
        )
        .bind(&repo.url)
        .bind(&repo.kind)
        .bind(&repo.digest)
        .bind(to_json(&repo.versions)?)
        .bind(repo.checked_at.to_string())
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}
