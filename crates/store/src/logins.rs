//! A project's logins to other registries (pulling bases from them,
//! pushing and promoting to them), the password sealed at rest with the
//! server's key. Lists never read a password; only the work of a build
//! or promotion of the project gets one, for the registries it names.

use crate::seal::Column;
use crate::sqlite::{now, shown_time};
use crate::{Result, SqliteStore};
use async_trait::async_trait;
use slipway_core::api::access::RegistryLoginInfo;
use sqlx::Row;

#[async_trait]
pub trait RegistryLoginStore {
    /// Create or replace.
    async fn put_registry_login(
        &self,
        project: &str,
        registry: &str,
        username: &str,
        password: &str,
        by: &str,
    ) -> Result<RegistryLoginInfo>;
    /// Of one project, or of every project (`None`).
    async fn registry_logins(&self, project: Option<&str>) -> Result<Vec<RegistryLoginInfo>>;
    async fn delete_registry_login(&self, project: &str, registry: &str) -> Result<bool>;
    /// `(registry, username, password)` of `project` for those of
    /// `registries` it has a login to.
    async fn registry_passwords(
        &self,
        project: &str,
        registries: &[String],
    ) -> Result<Vec<(String, String, String)>>;
}

fn info(r: &sqlx::sqlite::SqliteRow) -> Result<RegistryLoginInfo> {
    Ok(RegistryLoginInfo {
        project: r.try_get("project")?,
        registry: r.try_get("registry")?,
        username: r.try_get("username")?,
        created_at: shown_time(r, "created_at")?,
        created_by: r.try_get("created_by")?,
    })
}

#[async_trait]
impl RegistryLoginStore for SqliteStore {
    async fn put_registry_login(
        &self,
        project: &str,
        registry: &str,
        username: &str,
        password: &str,
        by: &str,
    ) -> Result<RegistryLoginInfo> {
        let sealed = self
            .sealer
            .seal(Column::RegistryPassword, password.to_string())?;
        let row = sqlx::query(
            "INSERT INTO registry_logins (project, registry, username, password, created_at, created_by) \
             VALUES (?, ?, ?, ?, ?, ?) \
             ON CONFLICT (project, registry) DO UPDATE SET username = excluded.username, \
               password = excluded.password, created_at = excluded.created_at, \
               created_by = excluded.created_by \
             RETURNING project, registry, username, created_at, created_by",
        )
        .bind(project)
        .bind(registry)
        .bind(username)
        .bind(sealed)
        .bind(now())
        .bind(by)
        .fetch_one(&self.pool)
        .await?;
        info(&row)
    }

    async fn registry_logins(&self, project: Option<&str>) -> Result<Vec<RegistryLoginInfo>> {
        sqlx::query(
            "SELECT project, registry, username, created_at, created_by FROM registry_logins \
             WHERE ?1 IS NULL OR project = ?1 ORDER BY project, registry",
        )
        .bind(project)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(info)
        .collect()
    }

    async fn delete_registry_login(&self, project: &str, registry: &str) -> Result<bool> {
        let n = sqlx::query("DELETE FROM registry_logins WHERE project = ? AND registry = ?")
            .bind(project)
            .bind(registry)
            .execute(&self.pool)
            .await?
            .rows_affected();
        Ok(n > 0)
    }

    async fn registry_passwords(
        &self,
        project: &str,
        registries: &[String],
    ) -> Result<Vec<(String, String, String)>> {
        let mut out = Vec::new();
        for registry in registries {
            let row = sqlx::query(
                "SELECT username, password FROM registry_logins WHERE project = ? AND registry = ?",
            )
            .bind(project)
            .bind(registry)
            .fetch_optional(&self.pool)
            .await?;
            if let Some(r) = row {
                let password = self.sealer.open(
                    Column::RegistryPassword,
                    &r.try_get::<String, _>("password")?,
                )?;
                out.push((registry.clone(), r.try_get("username")?, password));
            }
        }
        Ok(out)
    }
}
