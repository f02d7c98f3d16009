//! The small areas on PostgreSQL: webhook deliveries, test-stage results,
//! build secrets and registry logins (the same answers as SQLite's; see
//! each trait for what they mean).

use super::{PgStore, at, count, now, shown_time, time};
use crate::seal::Column;
use crate::webhooks::DELIVERY_MEMORY_DAYS;
use crate::{RegistryLoginStore, Result, SecretStore, StoreError, TestStore, WebhookStore};
use async_trait::async_trait;
use base64::Engine;
use jiff::Timestamp;
use slipway_core::BuildId;
use slipway_core::api::access::{RegistryLoginInfo, SecretInfo};
use slipway_core::build::test_stage::TestResult;
use sqlx::Row;
use sqlx::postgres::PgRow;
use std::collections::BTreeMap;

#[async_trait]
impl WebhookStore for PgStore {
    async fn remember_delivery(
        &self,
        config: &str,
        provider: &str,
        delivery: &str,
    ) -> Result<Option<Timestamp>> {
        let forget_before = Timestamp::now()
            .checked_sub(jiff::SignedDuration::from_hours(24 * DELIVERY_MEMORY_DAYS))
            .unwrap_or(Timestamp::UNIX_EPOCH);
        sqlx::query("DELETE FROM webhook_deliveries WHERE received_at < $1")
            .bind(at(forget_before))
            .execute(&self.pool)
            .await?;
        let inserted = sqlx::query(
            "INSERT INTO webhook_deliveries (config, provider, delivery, received_at) \
             VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
        )
        .bind(config)
        .bind(provider)
        .bind(delivery)
        .bind(now())
        .execute(&self.pool)
        .await?
        .rows_affected();
        if inserted == 1 {
            return Ok(None);
        }
        let row = sqlx::query(
            "SELECT received_at FROM webhook_deliveries \
             WHERE config = $1 AND provider = $2 AND delivery = $3",
        )
        .bind(config)
        .bind(provider)
        .bind(delivery)
        .fetch_one(&self.pool)
        .await?;
        Ok(Some(time(&row, "received_at")?))
    }

    async fn superseded_commit(
        &self,
        config: &str,
        commit: &str,
    ) -> Result<Option<(BuildId, String)>> {
        let newest: Option<String> = sqlx::query(
            "SELECT git_commit FROM builds WHERE config = $1 AND phase = 'Complete' \
             AND git_commit IS NOT NULL ORDER BY id DESC LIMIT 1",
        )
        .bind(config)
        .fetch_optional(&self.pool)
        .await?
        .map(|r| r.try_get("git_commit"))
        .transpose()?;
        let Some(newest) = newest else {
            return Ok(None);
        };
        if newest == commit {
            return Ok(None);
        }
        let older: Option<BuildId> = sqlx::query(
            "SELECT id FROM builds WHERE config = $1 AND phase = 'Complete' \
             AND git_commit = $2 ORDER BY id DESC LIMIT 1",
        )
        .bind(config)
        .bind(commit)
        .fetch_optional(&self.pool)
        .await?
        .map(|r| r.try_get("id"))
        .transpose()?;
        Ok(older.map(|id| (id, newest)))
    }
}

#[async_trait]
impl TestStore for PgStore {
    async fn record_test(
        &self,
        id: BuildId,
        result: &TestResult,
        junit: Option<&str>,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO build_tests (build_id, result, junit) VALUES ($1, $2, $3) \
             ON CONFLICT (build_id) DO UPDATE SET result = EXCLUDED.result, junit = EXCLUDED.junit",
        )
        .bind(id)
        .bind(crate::codec::to_json(result)?)
        .bind(junit)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn test_result(&self, id: BuildId) -> Result<Option<TestResult>> {
        sqlx::query("SELECT result FROM build_tests WHERE build_id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .map(|r| crate::codec::from_json(&r.try_get::<String, _>("result")?))
            .transpose()
    }

    async fn test_junit(&self, id: BuildId) -> Result<Option<String>> {
        Ok(
            sqlx::query("SELECT junit FROM build_tests WHERE build_id = $1")
                .bind(id)
                .fetch_optional(&self.pool)
                .await?
                .map(|r| r.try_get::<Option<String>, _>("junit"))
                .transpose()?
                .flatten(),
        )
    }
}

fn secret_info(r: &PgRow) -> Result<SecretInfo> {
    Ok(SecretInfo {
        project: r.try_get("project")?,
        name: r.try_get("name")?,
        size: count(r, "size")?,
        created_at: shown_time(r, "created_at")?,
        created_by: r.try_get("created_by")?,
    })
}

#[async_trait]
impl SecretStore for PgStore {
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
             VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (project, name) DO UPDATE SET value = EXCLUDED.value, \
               size = EXCLUDED.size, created_at = EXCLUDED.created_at, created_by = EXCLUDED.created_by \
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
        secret_info(&row)
    }

    async fn secrets(&self, project: Option<&str>) -> Result<Vec<SecretInfo>> {
        sqlx::query(
            "SELECT project, name, size, created_at, created_by FROM secrets \
             WHERE $1::text IS NULL OR project = $1 ORDER BY project, name",
        )
        .bind(project)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(secret_info)
        .collect()
    }

    async fn delete_secret(&self, project: &str, name: &str) -> Result<bool> {
        let done = sqlx::query("DELETE FROM secrets WHERE project = $1 AND name = $2")
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
            let row = sqlx::query("SELECT value FROM secrets WHERE project = $1 AND name = $2")
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

fn login_info(r: &PgRow) -> Result<RegistryLoginInfo> {
    Ok(RegistryLoginInfo {
        project: r.try_get("project")?,
        registry: r.try_get("registry")?,
        username: r.try_get("username")?,
        created_at: shown_time(r, "created_at")?,
        created_by: r.try_get("created_by")?,
    })
}

#[async_trait]
impl RegistryLoginStore for PgStore {
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
             VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (project, registry) DO UPDATE SET username = EXCLUDED.username, \
               password = EXCLUDED.password, created_at = EXCLUDED.created_at, \
               created_by = EXCLUDED.created_by \
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
        login_info(&row)
    }

    async fn registry_logins(&self, project: Option<&str>) -> Result<Vec<RegistryLoginInfo>> {
        sqlx::query(
            "SELECT project, registry, username, created_at, created_by FROM registry_logins \
             WHERE $1::text IS NULL OR project = $1 ORDER BY project, registry",
        )
        .bind(project)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(login_info)
        .collect()
    }

    async fn delete_registry_login(&self, project: &str, registry: &str) -> Result<bool> {
        let n = sqlx::query("DELETE FROM registry_logins WHERE project = $1 AND registry = $2")
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
                "SELECT username, password FROM registry_logins WHERE project = $1 AND registry = $2",
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
