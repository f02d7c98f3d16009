//! Tokens, projects, quotas, blob links and the audit log on PostgreSQL
//! (see [`AccessStore`]). Unlike the SQLite store, nothing is cached in
//! the process: with several servers, a token revoked through one must
//! stop working on all at once, and one indexed read per request is cheap.

use super::{PgStore, at, now, shown_time, shown_time_opt};
use crate::{AccessStore, NewToken, Principal, Result, StoreError};
use async_trait::async_trait;
use jiff::Timestamp;
use slipway_core::access::Role;
use slipway_core::api::access::{AuditRecord, ProjectInfo, Quota, TokenInfo, TokenKind, Usage};
use sqlx::Row;
use sqlx::postgres::PgRow;

const TOKEN_COLUMNS: &str =
    "id, name, kind, project, role, created_at, created_by, expires_at, revoked_at, identity";

const PROJECT_COLUMNS: &str =
    "name, anonymous_pull, created_at, max_concurrent_builds, builds_per_hour, storage_bytes";

fn token_of(r: &PgRow) -> Result<TokenInfo> {
    let kind: String = r.try_get("kind")?;
    let role: String = r.try_get("role")?;
    Ok(TokenInfo {
        id: r.try_get("id")?,
        name: r.try_get("name")?,
        kind: TokenKind::parse(&kind).map_err(StoreError::Corrupt)?,
        project: r.try_get("project")?,
        role: Role::parse(&role).map_err(StoreError::Corrupt)?,
        created_at: shown_time(r, "created_at")?,
        created_by: r.try_get("created_by")?,
        expires_at: shown_time_opt(r, "expires_at")?,
        revoked_at: shown_time_opt(r, "revoked_at")?,
        identity: r.try_get("identity")?,
    })
}

fn project_of(r: &PgRow) -> Result<ProjectInfo> {
    let limit = |c: &str| -> Result<Option<u64>> {
        Ok(r.try_get::<Option<i64>, _>(c)?
            .map(|n| u64::try_from(n).unwrap_or(0)))
    };
    Ok(ProjectInfo {
        name: r.try_get("name")?,
        anonymous_pull: r.try_get::<i64, _>("anonymous_pull")? != 0,
        created_at: shown_time(r, "created_at")?,
        quota: Quota {
            max_concurrent_builds: limit("max_concurrent_builds")?
                .map(|n| u32::try_from(n).unwrap_or(u32::MAX)),
            builds_per_hour: limit("builds_per_hour")?
                .map(|n| u32::try_from(n).unwrap_or(u32::MAX)),
            storage_bytes: limit("storage_bytes")?,
        },
        usage: None,
    })
}

fn sql(text: String) -> sqlx::AssertSqlSafe<String> {
    sqlx::AssertSqlSafe(text)
}

#[async_trait]
impl AccessStore for PgStore {
    async fn add_token(&self, t: &NewToken<'_>) -> Result<TokenInfo> {
        let row = sqlx::query(sql(format!(
            "INSERT INTO api_tokens (name, token_hash, created_at, kind, project, role, created_by, expires_at, identity) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING {TOKEN_COLUMNS}"
        )))
        .bind(t.name)
        .bind(t.hash)
        .bind(now())
        .bind(t.kind.as_str())
        .bind(t.binding.project.as_deref())
        .bind(t.binding.role.as_str())
        .bind(t.created_by)
        .bind(t.expires_at.map(at))
        .bind(t.identity)
        .fetch_one(&self.pool)
        .await?;
        token_of(&row)
    }

    async fn principal(&self, token_hash: &str) -> Result<Option<Principal>> {
        // Live: not revoked, not expired (by the database's clock, the
        // same for every server), its holder not disabled.
        let row = sqlx::query(sql(format!(
            "SELECT {TOKEN_COLUMNS} FROM api_tokens WHERE token_hash = $1 AND revoked_at IS NULL \
             AND (expires_at IS NULL OR expires_at > now()) \
             AND (identity IS NULL OR identity IN \
                  (SELECT name FROM identities WHERE disabled_at IS NULL))"
        )))
        .bind(token_hash)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let t = token_of(&row)?;
        Ok(Some(Principal {
            token_id: t.id,
            binding: t.binding(),
            name: t.name,
            kind: t.kind,
            identity: t.identity,
        }))
    }

    async fn token_count(&self) -> Result<u64> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM api_tokens")
            .fetch_one(&self.pool)
            .await?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    async fn tokens(&self) -> Result<Vec<TokenInfo>> {
        sqlx::query(sql(format!(
            "SELECT {TOKEN_COLUMNS} FROM api_tokens ORDER BY id DESC"
        )))
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(token_of)
        .collect()
    }

    async fn token(&self, id: i64) -> Result<Option<TokenInfo>> {
        sqlx::query(sql(format!(
            "SELECT {TOKEN_COLUMNS} FROM api_tokens WHERE id = $1"
        )))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?
        .as_ref()
        .map(token_of)
        .transpose()
    }

    async fn revoke_token(&self, id: i64) -> Result<Option<TokenInfo>> {
        sqlx::query("UPDATE api_tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
            .bind(now())
            .bind(id)
            .execute(&self.pool)
            .await?;
        self.token(id).await
    }

    async fn projects(&self) -> Result<Vec<ProjectInfo>> {
        sqlx::query(sql(format!(
            "SELECT {PROJECT_COLUMNS} FROM projects ORDER BY name"
        )))
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(project_of)
        .collect()
    }

    async fn project_names(&self) -> Result<Vec<String>> {
        Ok(
            sqlx::query_scalar("SELECT name FROM projects ORDER BY name")
                .fetch_all(&self.pool)
                .await?,
        )
    }

    async fn create_project(&self, name: &str, anonymous_pull: bool) -> Result<ProjectInfo> {
        let row = sqlx::query(sql(format!(
            "INSERT INTO projects (name, anonymous_pull, created_at) VALUES ($1, $2, $3) \
             ON CONFLICT (name) DO NOTHING RETURNING {PROJECT_COLUMNS}"
        )))
        .bind(name)
        .bind(i64::from(anonymous_pull))
        .bind(now())
        .fetch_optional(&self.pool)
        .await?;
        match row {
            Some(r) => project_of(&r),
            None => Err(StoreError::Conflict(format!(
                "project {name} exists already"
            ))),
        }
    }

    async fn set_anonymous_pull(&self, name: &str, on: bool) -> Result<Option<ProjectInfo>> {
        sqlx::query(sql(format!(
            "UPDATE projects SET anonymous_pull = $1 WHERE name = $2 RETURNING {PROJECT_COLUMNS}"
        )))
        .bind(i64::from(on))
        .bind(name)
        .fetch_optional(&self.pool)
        .await?
        .as_ref()
        .map(project_of)
        .transpose()
    }

    async fn adopt_builds(
        &self,
        project: &str,
        configs: &[String],
        output_prefixes: &[String],
    ) -> Result<u64> {
        let done = sqlx::query(
            "UPDATE builds SET project = $1 WHERE project = 'default' AND ( \
               config = ANY($2) \
               OR (config IS NULL AND EXISTS (SELECT 1 FROM unnest($3::text[]) AS p(prefix) \
                   WHERE starts_with(builds.output, p.prefix))))",
        )
        .bind(project)
        .bind(configs)
        .bind(output_prefixes)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }

    async fn record_audit(&self, r: &AuditRecord) -> Result<()> {
        sqlx::query(
            "INSERT INTO audit (at, who, project, action, source, status) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(now())
        .bind(&r.who)
        .bind(r.project.as_deref())
        .bind(&r.action)
        .bind(r.source.as_deref())
        .bind(i64::from(r.status))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn audit(
        &self,
        project: Option<Option<&str>>,
        since: Option<Timestamp>,
        limit: u32,
    ) -> Result<Vec<AuditRecord>> {
        // $1: filter by project at all; $2: the project (NULL: global tokens).
        sqlx::query(
            "SELECT id, at, who, project, action, source, status FROM audit \
             WHERE (NOT $1 OR project IS NOT DISTINCT FROM $2) \
               AND ($3::timestamptz IS NULL OR at >= $3) \
             ORDER BY id DESC LIMIT $4",
        )
        .bind(project.is_some())
        .bind(project.flatten())
        .bind(since.map(at))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|r| {
            Ok(AuditRecord {
                id: r.try_get("id")?,
                at: shown_time(r, "at")?,
                who: r.try_get("who")?,
                project: r.try_get("project")?,
                action: r.try_get("action")?,
                source: r.try_get("source")?,
                status: u16::try_from(r.try_get::<i64, _>("status")?).unwrap_or(0),
            })
        })
        .collect()
    }

    async fn set_quota(&self, name: &str, q: &Quota) -> Result<Option<ProjectInfo>> {
        sqlx::query(sql(format!(
            "UPDATE projects SET max_concurrent_builds = $1, builds_per_hour = $2, storage_bytes = $3 \
             WHERE name = $4 RETURNING {PROJECT_COLUMNS}"
        )))
        .bind(q.max_concurrent_builds.map(i64::from))
        .bind(q.builds_per_hour.map(i64::from))
        .bind(
            q.storage_bytes
                .map(|b| i64::try_from(b).unwrap_or(i64::MAX)),
        )
        .bind(name)
        .fetch_optional(&self.pool)
        .await?
        .as_ref()
        .map(project_of)
        .transpose()
    }

    async fn build_usage(&self, project: &str) -> Result<Usage> {
        let hour_ago = Timestamp::now() - jiff::SignedDuration::from_hours(1);
        let r = sqlx::query(
            "SELECT (SELECT COUNT(*) FROM builds WHERE project = $1 AND phase = 'Running') AS running, \
                    (SELECT COUNT(*) FROM builds WHERE project = $1 AND created_at >= $2) AS recent",
        )
        .bind(project)
        .bind(at(hour_ago))
        .fetch_one(&self.pool)
        .await?;
        Ok(Usage {
            running_builds: u64::try_from(r.try_get::<i64, _>("running")?).unwrap_or(0),
            builds_last_hour: u64::try_from(r.try_get::<i64, _>("recent")?).unwrap_or(0),
            storage_bytes: 0,
        })
    }

    async fn blob_links(&self, prefixes: Option<&[String]>) -> Result<Vec<(String, String, u64)>> {
        let link = |r: &PgRow| -> Result<(String, String, u64)> {
            Ok((
                r.try_get("repository")?,
                r.try_get("digest")?,
                super::count(r, "size")?,
            ))
        };
        let Some(prefixes) = prefixes else {
            return sqlx::query("SELECT repository, digest, size FROM registry_blob_links")
                .fetch_all(&self.pool)
                .await?
                .iter()
                .map(link)
                .collect();
        };
        let mut out = Vec::new();
        for prefix in prefixes {
            // `team/` ≤ repository < `team0` ('0' follows '/'; the column
            // compares byte by byte): an index range.
            let Some(stripped) = prefix.strip_suffix('/') else {
                continue;
            };
            let end = format!("{stripped}0");
            let rows = sqlx::query(
                "SELECT repository, digest, size FROM registry_blob_links \
                 WHERE repository >= $1 AND repository < $2",
            )
            .bind(prefix)
            .bind(&end)
            .fetch_all(&self.pool)
            .await?;
            for r in &rows {
                out.push(link(r)?);
            }
        }
        Ok(out)
    }
}
