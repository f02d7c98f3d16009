//! Build secrets, per project, sealed at rest with the server's key.
//! Listing never reads a value; only a build's worker gets values, of
//! its own project, by name.

use crate::seal::Column;
use crate::sqlite::now;
use crate::{Result, SqliteStore, StoreError};
use async_trait::async_trait;
use base64::Engine;
use slipway_core::api::access::SecretInfo;
use sqlx::Row;
use std::collections::BTreeMap;

#[async_trait]
pub trait SecretStore {
    /// Create or replace.
    async fn put_secret(
        &self,
        project: &str,
        name: &str,
        value: &[u8],
        by: &str,
    ) -> Result<SecretInfo>;
    /// Of one project, or of every project (`None`), by name.
    async fn secrets(&self, project: Option<&str>) -> Result<Vec<SecretInfo>>;
    async fn delete_secret(&self, project: &str, name: &str) -> Result<bool>;
    /// The values of `names` in `project`; [`StoreError::NotFound`] names
    /// the first one missing.
    async fn secret_values(
        &self,
        project: &str,
        names: &[String],
    ) -> Result<BTreeMap<String, Vec<u8>>>;
}

fn info(r: &sqlx::sqlite::SqliteRow) -> Result<SecretInfo> {
    Ok(SecretInfo {
        project: r.try_get("project")?,
        name: r.try_get("name")?,
        size: u64::try_from(r.try_get::<i64, _>("size")?).unwrap_or(0),
        created_at: crate::sqlite::shown_time(r, "created_at")?,
        created_by: r.try_get("created_by")?,
    })
}

#[async_trait]
impl SecretStore for SqliteStore {
    async fn put_secret(
        &self,
        project: &str,
        name: &str,
        value: &[u8],
        by: &str,
    ) -> Result<SecretInfo> {
        let sealed = self.sealer.seal(
            Column::Secret,
            base64::engine::general_purpose::STANDARD.encode(value),
        )?;
        let row = sqlx::query(
            "INSERT INTO secrets (project, name, value, size, created_at, created_by) \
             VALUES (?, ?, ?, ?, ?, ?) \
             ON CONFLICT (project, name) DO UPDATE SET value = excluded.value, \
               size = excluded.size, created_at = excluded.created_at, created_by = excluded.created_by \
             RETURNING project, name, size, created_at, created_by",
        )
        .bind(project)
        .bind(name)
        .bind(sealed)
        .bind(i64::try_from(value.len()).unwrap_or(i64::MAX))
        .bind(now())
        .bind(by)
        .fetch_one(&self.pool)
        .await?;
        info(&row)
    }

    async fn secrets(&self, project: Option<&str>) -> Result<Vec<SecretInfo>> {
        sqlx::query(
            "SELECT project, name, size, created_at, created_by FROM secrets \
             WHERE ?1 IS NULL OR project = ?1 ORDER BY project, name",
        )
        .bind(project)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(info)
        .collect()
    }

    async fn delete_secret(&self, project: &str, name: &str) -> Result<bool> {
        let done = sqlx::query("DELETE FROM secrets WHERE project = ? AND name = ?")
            .bind(project)
            .bind(name)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn secret_values(
        &self,
        project: &str,
        names: &[String],
    ) -> Result<BTreeMap<String, Vec<u8>>> {
        let mut out = BTreeMap::new();
        for name in names {
            let row = sqlx::query("SELECT value FROM secrets WHERE project = ? AND name = ?")
                .bind(project)
                .bind(name)
                .fetch_optional(&self.pool)
                .await?
                .ok_or_else(|| {
                    StoreError::NotFound(format!(
                        "the build needs secret {name} (its Dockerfile mounts it or slipway.yaml's secrets: names it), which project {project} does not have: `slipway secret create {name} --project {project} --from-file FILE`"
                    ))
                })?;
            let plain = self
                .sealer
                .open(Column::Secret, &row.try_get::<String, _>("value")?)?;
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(plain)
                .map_err(|_| StoreError::Corrupt(format!("secret {project}/{name} is damaged")))?;
            out.insert(name.clone(), bytes);
        }
        Ok(out)
    }
}
