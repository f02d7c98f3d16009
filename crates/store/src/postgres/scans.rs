//! Scan results, rescan schedules, tracked repositories and SBOMs on
//! PostgreSQL (see [`ScanStore`]).

use super::{PgStore, at, now, time};
use crate::codec::{from_json, to_json};
use crate::{Result, ScanStore, StoreError};
use async_trait::async_trait;
use jiff::Timestamp;
use slipway_core::BuildId;
use slipway_core::scan::sbom::{SbomFormat, StoredSbom};
use slipway_core::scan::{ScanReason, ScanReport, StoredScan, TrackedRepository};
use sqlx::Row;
use sqlx::postgres::PgRow;
use std::str::FromStr;

fn sbom_from_row(r: &PgRow) -> Result<StoredSbom> {
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
        created_at: time(r, "created_at")?,
    })
}

fn scan_from_row(r: &PgRow) -> Result<StoredScan> {
    let reason: String = r.try_get("reason")?;
    Ok(StoredScan {
        id: r.try_get("id")?,
        build: r.try_get("build_id")?,
        config: r.try_get("config")?,
        reason: ScanReason::from_str(&reason).map_err(StoreError::Corrupt)?,
        created_at: time(r, "created_at")?,
        report: from_json(&r.try_get::<String, _>("report")?)?,
    })
}

const SCAN_COLUMNS: &str = "id, build_id, config, reason, report, created_at";

#[async_trait]
impl ScanStore for PgStore {
    async fn record_scan(
        &self,
        build: Option<BuildId>,
        config: Option<&str>,
        reason: ScanReason,
        report: &ScanReport,
    ) -> Result<StoredScan> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO scans (build_id, config, reason, reference, manifest_digest, outcome, report, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING {SCAN_COLUMNS}"
        )))
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
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {SCAN_COLUMNS} FROM scans WHERE id = $1"
        )))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?
        .as_ref()
        .map(scan_from_row)
        .transpose()
    }

    async fn scans_of_build(&self, build: BuildId) -> Result<Vec<StoredScan>> {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {SCAN_COLUMNS} FROM scans WHERE build_id = $1 ORDER BY id"
        )))
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
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {SCAN_COLUMNS} FROM scans WHERE ($1::text IS NULL OR config = $1) \
             AND ($2::bigint IS NULL OR id < $2) ORDER BY id DESC LIMIT $3"
        )))
        .bind(config)
        .bind(before)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(scan_from_row)
        .collect()
    }

    async fn set_next_rescan(&self, config: &str, when: Option<Timestamp>) -> Result<()> {
        sqlx::query("UPDATE image_configs SET next_rescan_at = $1 WHERE name = $2")
            .bind(when.map(at))
            .bind(config)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn record_sbom(&self, sbom: &StoredSbom, document: &str) -> Result<()> {
        // A document made again replaces the old one and moves to the end
        // of the order (a new `seq`), as SQLite's INSERT OR REPLACE does.
        sqlx::query(
            "INSERT INTO sboms
             (build_id, platform, format, artifact_type, subject, reference, problem, packages, document, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
             ON CONFLICT (build_id, platform, format) DO UPDATE SET
                 artifact_type = EXCLUDED.artifact_type, subject = EXCLUDED.subject,
                 reference = EXCLUDED.reference, problem = EXCLUDED.problem,
                 packages = EXCLUDED.packages, document = EXCLUDED.document,
                 created_at = EXCLUDED.created_at,
                 seq = nextval(pg_get_serial_sequence('sboms', 'seq'))",
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
        .bind(at(sbom.created_at))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn sboms_of_build(&self, build: BuildId) -> Result<Vec<StoredSbom>> {
        let mut out: Vec<StoredSbom> = sqlx::query(
            "SELECT build_id, platform, format, artifact_type, subject, reference, problem, packages, created_at
             FROM sboms WHERE build_id = $1 ORDER BY seq",
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

    async fn sbom_document(
        &self,
        build: BuildId,
        format: SbomFormat,
        platform: Option<&str>,
    ) -> Result<Option<String>> {
        Ok(sqlx::query_scalar(
            "SELECT document FROM sboms WHERE build_id = $1 AND format = $2
             AND ($3::text IS NULL OR platform = $3) ORDER BY seq LIMIT 1",
        )
        .bind(build)
        .bind(format.as_str())
        .bind(platform)
        .fetch_optional(&self.pool)
        .await?)
    }

    async fn tracked_repository(&self, url: &str) -> Result<Option<TrackedRepository>> {
        let Some(row) = sqlx::query(
            "SELECT url, kind, digest, versions, checked_at FROM tracked_repositories WHERE url = $1",
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
            checked_at: time(&row, "checked_at")?,
        }))
    }

    async fn put_tracked_repository(&self, repo: &TrackedRepository) -> Result<()> {
        sqlx::query(
            "INSERT INTO tracked_repositories (url, kind, digest, versions, checked_at)
             VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (url) DO UPDATE SET kind = EXCLUDED.kind, digest = EXCLUDED.digest,
                 versions = EXCLUDED.versions, checked_at = EXCLUDED.checked_at",
        )
        .bind(&repo.url)
        .bind(repo.kind.as_str())
        .bind(&repo.digest)
        .bind(to_json(&repo.packages)?)
        .bind(at(repo.checked_at))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn touch_tracked_repository(&self, url: &str, when: Timestamp) -> Result<()> {
        sqlx::query("UPDATE tracked_repositories SET checked_at = $1 WHERE url = $2")
            .bind(at(when))
            .bind(url)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
