//! Scan results, rescan schedules and the SBOMs of builds.

use crate::sqlite::{from_json, now, parse_time, to_json};
use crate::{Result, SqliteStore, StoreError};
use async_trait::async_trait;
use jiff::Timestamp;
use slipway_core::BuildId;
use slipway_core::scan::sbom::{SbomFormat, StoredSbom};
use slipway_core::scan::{ScanReason, ScanReport, StoredScan, TrackedRepository};
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
    /// Newest first, of one config or all, older than the `before` id.
    async fn list_scans(
        &self,
        config: Option<&str>,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Vec<StoredScan>>;
    async fn set_next_rescan(&self, config: &str, at: Option<Timestamp>) -> Result<()>;
    /// Keep a build's SBOM of `sbom.format` for `sbom.platform` with its
    /// document, replacing an earlier one of the same format and platform.
    async fn record_sbom(&self, sbom: &StoredSbom, document: &str) -> Result<()>;
    /// In platform, then format order.
    async fn sboms_of_build(&self, build: BuildId) -> Result<Vec<StoredSbom>>;
    /// The document of `format` for `platform`, or for the build's first
    /// platform with one.
    async fn sbom_document(
        &self,
        build: BuildId,
        format: SbomFormat,
        platform: Option<&str>,
    ) -> Result<Option<String>>;
    /// A tracked package repository as last read.
    async fn tracked_repository(&self, url: &str) -> Result<Option<TrackedRepository>>;
    /// Keep what a tracked repository offered (replacing the last read).
    async fn put_tracked_repository(&self, repo: &TrackedRepository) -> Result<()>;
    /// Note that a repository was checked (and had not changed, or could
    /// not be read) without replacing what it offered.
    async fn touch_tracked_repository(&self, url: &str, at: Timestamp) -> Result<()>;
}

fn sbom_from_row(r: &SqliteRow) -> Result<StoredSbom> {
    let format: String = r.try_get("format")?;
    Ok(StoredSbom {
        build: r.try_get("build_id")?,
        platform: r.try_get("platform")?,
        format: SbomFormat::from_str(&format).map_err(StoreError::Corrupt)?,
        artifact_type: r.try_get("artifact_type")?,
        subject: r.try_get("subject")?,
        reference: r.try_get("reference")?,
        problem: r.try_get("problem")?,
        packages: usize::try_from(r.try_get::<i64, _>("packages")?).unwrap_or(0),
        created_at: parse_time(r.try_get("created_at")?)?,
    })
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

    async fn list_scans(
        &self,
        config: Option<&str>,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Vec<StoredScan>> {
        sqlx::query(concat!(
            "SELECT ",
            scan_columns!(),
            " FROM scans WHERE (?1 IS NULL OR config = ?1) AND (?2 IS NULL OR id < ?2) ORDER BY id DESC LIMIT ?3"
        ))
        .bind(config)
        .bind(before)
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

    async fn record_sbom(&self, sbom: &StoredSbom, document: &str) -> Result<()> {
        sqlx::query(
            "INSERT OR REPLACE INTO sboms
             (build_id, platform, format, artifact_type, subject, reference, problem, packages, document, created_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(sbom.build)
        .bind(&sbom.platform)
        .bind(sbom.format.as_str())
        .bind(&sbom.artifact_type)
        .bind(&sbom.subject)
        .bind(&sbom.reference)
        .bind(&sbom.problem)
        .bind(i64::try_from(sbom.packages).unwrap_or(i64::MAX))
        .bind(document)
        .bind(sbom.created_at.to_string())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn sboms_of_build(&self, build: BuildId) -> Result<Vec<StoredSbom>> {
        let mut out: Vec<StoredSbom> = sqlx::query(
            "SELECT build_id, platform, format, artifact_type, subject, reference, problem, packages, created_at
             FROM sboms WHERE build_id = ? ORDER BY rowid",
        )
        .bind(build)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(sbom_from_row)
        .collect::<Result<_>>()?;
        // Platforms in the order they were recorded (the spec's), then formats.
        let order: Vec<String> = out.iter().map(|s| s.platform.clone()).collect();
        out.sort_by_key(|s| (order.iter().position(|p| *p == s.platform), s.format));
        Ok(out)
    }

    async fn tracked_repository(&self, url: &str) -> Result<Option<TrackedRepository>> {
        let Some(row) = sqlx::query(
            "SELECT url, kind, digest, versions, checked_at FROM tracked_repositories WHERE url = ?",
        )
        .bind(url)
        .fetch_optional(&self.pool)
        .await?
        else {
            return Ok(None);
        };
        let kind: String = row.try_get("kind")?;
        Ok(Some(TrackedRepository {
            url: row.try_get("url")?,
            kind: from_json(&format!("{kind:?}"))?,
            digest: row.try_get("digest")?,
            packages: from_json(&row.try_get::<String, _>("versions")?)?,
            checked_at: parse_time(row.try_get("checked_at")?)?,
        }))
    }

    async fn put_tracked_repository(&self, repo: &TrackedRepository) -> Result<()> {
        sqlx::query(
            "INSERT OR REPLACE INTO tracked_repositories (url, kind, digest, versions, checked_at)
             VALUES (?, ?, ?, ?, ?)",
        )
        .bind(&repo.url)
        .bind(repo.kind.as_str())
        .bind(&repo.digest)
        .bind(to_json(&repo.packages)?)
        .bind(repo.checked_at.to_string())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn touch_tracked_repository(&self, url: &str, at: Timestamp) -> Result<()> {
        sqlx::query("UPDATE tracked_repositories SET checked_at = ? WHERE url = ?")
            .bind(at.to_string())
            .bind(url)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn sbom_document(
        &self,
        build: BuildId,
        format: SbomFormat,
        platform: Option<&str>,
    ) -> Result<Option<String>> {
        Ok(sqlx::query_scalar(
            "SELECT document FROM sboms WHERE build_id = ?1 AND format = ?2
             AND (?3 IS NULL OR platform = ?3) ORDER BY rowid LIMIT 1",
        )
        .bind(build)
        .bind(format.as_str())
        .bind(platform)
        .fetch_optional(&self.pool)
        .await?)
    }
}
