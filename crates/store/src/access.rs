//! Projects and API tokens. A token is stored as its SHA-256 only, with
//! its binding (project or every project, role), kind, maker, expiry and
//! revocation; [`AccessStore::principal`] finds a live one. Lookups are
//! cached for a few seconds (every API request makes one); a revocation
//! empties the cache, so a revoked token stops working at once.

use crate::sqlite::now;
use crate::{Result, SqliteStore, StoreError};
use async_trait::async_trait;
use jiff::Timestamp;
use slipway_core::access::{Binding, Role};
use slipway_core::api::access::{AuditRecord, ProjectInfo, Quota, TokenInfo, TokenKind, Usage};
use sqlx::Row;
use sqlx::sqlite::SqliteRow;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Whose token a request carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub token_id: i64,
    pub name: String,
    pub kind: TokenKind,
    pub binding: Binding,
    /// The user or service account it was issued to.
    pub identity: Option<String>,
}

impl Principal {
    /// As histories and the audit record it: `user:NAME (token:NAME)`,
    /// `service:NAME (token:NAME)`, or `token:NAME` for a token of its own.
    pub fn subject(&self) -> String {
        match &self.identity {
            Some(i) => format!("{}:{i} (token:{})", self.kind.as_str(), self.name),
            None => format!("token:{}", self.name),
        }
    }
}

/// A token to store.
#[derive(Debug, Clone)]
pub struct NewToken<'a> {
    pub name: &'a str,
    pub hash: &'a str,
    pub kind: TokenKind,
    pub binding: Binding,
    pub created_by: Option<&'a str>,
    pub expires_at: Option<Timestamp>,
    pub identity: Option<&'a str>,
}

#[async_trait]
pub trait AccessStore {
    async fn add_token(&self, token: &NewToken<'_>) -> Result<TokenInfo>;
    /// The live (not revoked, not expired) token with this hash.
    async fn principal(&self, token_hash: &str) -> Result<Option<Principal>>;
    async fn token_count(&self) -> Result<u64>;
    /// Every token, newest first.
    async fn tokens(&self) -> Result<Vec<TokenInfo>>;
    async fn token(&self, id: i64) -> Result<Option<TokenInfo>>;
    /// Revoke it (again is fine); `None` when there is no such token.
    async fn revoke_token(&self, id: i64) -> Result<Option<TokenInfo>>;
    async fn projects(&self) -> Result<Vec<ProjectInfo>>;
    /// The names of the projects (cached for a few seconds).
    async fn project_names(&self) -> Result<Vec<String>>;
    /// [`StoreError::Conflict`] when it exists.
    async fn create_project(&self, name: &str, anonymous_pull: bool) -> Result<ProjectInfo>;
    async fn set_anonymous_pull(&self, name: &str, on: bool) -> Result<Option<ProjectInfo>>;
    /// Move to `project`, from the default project, the builds of
    /// `configs` and the ad-hoc builds whose output starts with one of
    /// `output_prefixes` (a new project adopts what is in its namespace).
    async fn adopt_builds(
        &self,
        project: &str,
        configs: &[String],
        output_prefixes: &[String],
    ) -> Result<u64>;
    async fn set_quota(&self, name: &str, quota: &Quota) -> Result<Option<ProjectInfo>>;
    /// What `project` uses: running builds, builds made in the last hour;
    /// the storage of `repositories_bytes` is the caller's (it knows the
    /// namespaces).
    async fn build_usage(&self, project: &str) -> Result<Usage>;
    /// The blobs of the repositories under `prefixes` (each a range of
    /// the links' primary key), or of every repository (`None`):
    /// (repository, digest, size).
    async fn blob_links(&self, prefixes: Option<&[String]>) -> Result<Vec<(String, String, u64)>>;
    /// Append to the audit log (`id` and `at` are filled in).
    async fn record_audit(&self, record: &AuditRecord) -> Result<()>;
    /// Audit records, newest first: of one project's tokens (`Some(None)`:
    /// of global tokens; `None`: all), since `since`, at most `limit`.
    async fn audit(
        &self,
        project: Option<Option<&str>>,
        since: Option<Timestamp>,
        limit: u32,
    ) -> Result<Vec<AuditRecord>>;
}

/// How long a looked-up token or the project list is trusted.
const CACHE_TTL: Duration = Duration::from_secs(5);
const CACHE_MAX: usize = 10_000;

/// A found token: who, until when, and when it was read.
type CachedToken = (Principal, Option<Timestamp>, Instant);

/// Recently found tokens (by hash) and the projects.
#[derive(Default)]
pub(crate) struct AccessCache {
    tokens: Mutex<HashMap<String, CachedToken>>,
    projects: Mutex<Option<(Vec<ProjectInfo>, Instant)>>,
}

impl AccessCache {
    fn token(&self, hash: &str) -> Option<(Principal, Option<Timestamp>)> {
        let map = self.tokens.lock().ok()?;
        map.get(hash)
            .filter(|(_, _, at)| at.elapsed() < CACHE_TTL)
            .map(|(p, e, _)| (p.clone(), *e))
    }

    fn put_token(&self, hash: &str, p: &Principal, expires: Option<Timestamp>) {
        if let Ok(mut map) = self.tokens.lock() {
            if map.len() >= CACHE_MAX {
                map.retain(|_, (_, _, at)| at.elapsed() < CACHE_TTL);
                if map.len() >= CACHE_MAX {
                    map.clear();
                }
            }
            map.insert(hash.to_string(), (p.clone(), expires, Instant::now()));
        }
    }

    pub(crate) fn forget_tokens(&self) {
        if let Ok(mut map) = self.tokens.lock() {
            map.clear();
        }
    }

    fn projects(&self) -> Option<Vec<ProjectInfo>> {
        let cached = self.projects.lock().ok()?;
        cached
            .as_ref()
            .filter(|(_, at)| at.elapsed() < CACHE_TTL)
            .map(|(p, _)| p.clone())
    }

    fn put_projects(&self, p: Option<Vec<ProjectInfo>>) {
        if let Ok(mut cached) = self.projects.lock() {
            *cached = p.map(|p| (p, Instant::now()));
        }
    }
}

macro_rules! token_columns {
    () => {
        "id, name, kind, project, role, created_at, created_by, expires_at, revoked_at, identity"
    };
}

fn token_of(r: &SqliteRow) -> Result<TokenInfo> {
    let kind: String = r.try_get("kind")?;
    let role: String = r.try_get("role")?;
    Ok(TokenInfo {
        id: r.try_get("id")?,
        name: r.try_get("name")?,
        kind: TokenKind::parse(&kind).map_err(StoreError::Corrupt)?,
        project: r.try_get("project")?,
        role: Role::parse(&role).map_err(StoreError::Corrupt)?,
        created_at: crate::sqlite::shown_time(r, "created_at")?,
        created_by: r.try_get("created_by")?,
        expires_at: crate::sqlite::shown_time_opt(r, "expires_at")?,
        revoked_at: crate::sqlite::shown_time_opt(r, "revoked_at")?,
        identity: r.try_get("identity")?,
    })
}

fn project_of(r: &SqliteRow) -> Result<ProjectInfo> {
    let limit = |c: &str| -> Result<Option<u64>> {
        Ok(r.try_get::<Option<i64>, _>(c)?
            .map(|n| u64::try_from(n).unwrap_or(0)))
    };
    Ok(ProjectInfo {
        name: r.try_get("name")?,
        anonymous_pull: r.try_get::<i64, _>("anonymous_pull")? != 0,
        created_at: crate::sqlite::shown_time(r, "created_at")?,
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

/// The columns of a project row.
macro_rules! project_columns {
    () => {
        "name, anonymous_pull, created_at, max_concurrent_builds, builds_per_hour, storage_bytes"
    };
}

#[async_trait]
impl AccessStore for SqliteStore {
    async fn add_token(&self, t: &NewToken<'_>) -> Result<TokenInfo> {
        let row = sqlx::query(concat!(
            "INSERT INTO api_tokens (name, token_hash, created_at, kind, project, role, created_by, expires_at, identity) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING ",
            token_columns!()
        ))
        .bind(t.name)
        .bind(t.hash)
        .bind(now())
        .bind(t.kind.as_str())
        .bind(t.binding.project.as_deref())
        .bind(t.binding.role.as_str())
        .bind(t.created_by)
        .bind(t.expires_at.map(|e| e.to_string()))
        .bind(t.identity)
        .fetch_one(&self.pool)
        .await?;
        token_of(&row)
    }

    async fn principal(&self, token_hash: &str) -> Result<Option<Principal>> {
        let live = |expires: Option<Timestamp>| expires.is_none_or(|e| e > Timestamp::now());
        if let Some((p, expires)) = self.access.token(token_hash) {
            return Ok(live(expires).then_some(p));
        }
        let row = sqlx::query(concat!(
            "SELECT ",
            token_columns!(),
            " FROM api_tokens WHERE token_hash = ? AND revoked_at IS NULL \
             AND (identity IS NULL OR identity IN \
                  (SELECT name FROM identities WHERE disabled_at IS NULL))"
        ))
        .bind(token_hash)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let t = token_of(&row)?;
        let expires = match &t.expires_at {
            Some(e) => Some(
                e.parse::<Timestamp>()
                    .map_err(|e| StoreError::Corrupt(format!("token {}: expiry {e}", t.id)))?,
            ),
            None => None,
        };
        let p = Principal {
            token_id: t.id,
            binding: t.binding(),
            name: t.name,
            kind: t.kind,
            identity: t.identity,
        };
        self.access.put_token(token_hash, &p, expires);
        Ok(live(expires).then_some(p))
    }

    async fn token_count(&self) -> Result<u64> {
        let n: i64 = sqlx::query("SELECT COUNT(*) AS n FROM api_tokens")
            .fetch_one(&self.pool)
            .await?
            .try_get("n")?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    async fn tokens(&self) -> Result<Vec<TokenInfo>> {
        sqlx::query(concat!(
            "SELECT ",
            token_columns!(),
            " FROM api_tokens ORDER BY id DESC"
        ))
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(token_of)
        .collect()
    }

    async fn token(&self, id: i64) -> Result<Option<TokenInfo>> {
        sqlx::query(concat!(
            "SELECT ",
            token_columns!(),
            " FROM api_tokens WHERE id = ?"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?
        .as_ref()
        .map(token_of)
        .transpose()
    }

    async fn revoke_token(&self, id: i64) -> Result<Option<TokenInfo>> {
        sqlx::query("UPDATE api_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL")
            .bind(now())
            .bind(id)
            .execute(&self.pool)
            .await?;
        self.access.forget_tokens();
        self.token(id).await
    }

    async fn projects(&self) -> Result<Vec<ProjectInfo>> {
        if let Some(p) = self.access.projects() {
            return Ok(p);
        }
        let p = sqlx::query(concat!(
            "SELECT ",
            project_columns!(),
            " FROM projects ORDER BY name"
        ))
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(project_of)
        .collect::<Result<Vec<_>>>()?;
        self.access.put_projects(Some(p.clone()));
        Ok(p)
    }

    async fn project_names(&self) -> Result<Vec<String>> {
        Ok(self.projects().await?.into_iter().map(|p| p.name).collect())
    }

    async fn create_project(&self, name: &str, anonymous_pull: bool) -> Result<ProjectInfo> {
        let row = sqlx::query(concat!(
            "INSERT INTO projects (name, anonymous_pull, created_at) VALUES (?, ?, ?) \
                 ON CONFLICT (name) DO NOTHING RETURNING ",
            project_columns!()
        ))
        .bind(name)
        .bind(i64::from(anonymous_pull))
        .bind(now())
        .fetch_optional(&self.pool)
        .await?;
        self.access.put_projects(None);
        match row {
            Some(r) => project_of(&r),
            None => Err(StoreError::Conflict(format!(
                "project {name} exists already"
            ))),
        }
    }

    async fn set_anonymous_pull(&self, name: &str, on: bool) -> Result<Option<ProjectInfo>> {
        let row = sqlx::query(concat!(
            "UPDATE projects SET anonymous_pull = ? WHERE name = ? RETURNING ",
            project_columns!()
        ))
        .bind(i64::from(on))
        .bind(name)
        .fetch_optional(&self.pool)
        .await?;
        self.access.put_projects(None);
        row.as_ref().map(project_of).transpose()
    }

    async fn adopt_builds(
        &self,
        project: &str,
        configs: &[String],
        output_prefixes: &[String],
    ) -> Result<u64> {
        let json = |v: &[String]| serde_json::Value::from(v.to_vec()).to_string();
        let done = sqlx::query(
            "UPDATE builds SET project = ? WHERE project = 'default' AND ( \
               config IN (SELECT value FROM json_each(?)) \
               OR (config IS NULL AND EXISTS (SELECT 1 FROM json_each(?) \
                   WHERE substr(builds.output, 1, length(value)) = value)))",
        )
        .bind(project)
        .bind(json(configs))
        .bind(json(output_prefixes))
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }

    async fn record_audit(&self, r: &AuditRecord) -> Result<()> {
        sqlx::query(
            "INSERT INTO audit (at, who, project, action, source, status) VALUES (?, ?, ?, ?, ?, ?)",
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
        // ?1: filter by project at all; ?2: the project (NULL: global tokens).
        sqlx::query(
            "SELECT id, at, who, project, action, source, status FROM audit \
             WHERE (?1 = 0 OR project IS ?2) AND (?3 IS NULL OR at >= ?3) \
             ORDER BY id DESC LIMIT ?4",
        )
        .bind(i64::from(project.is_some()))
        .bind(project.flatten())
        .bind(since.map(|t| t.to_string()))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|r| {
            Ok(AuditRecord {
                id: r.try_get("id")?,
                at: crate::sqlite::shown_time(r, "at")?,
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
        let row = sqlx::query(concat!(
            "UPDATE projects SET max_concurrent_builds = ?, builds_per_hour = ?, storage_bytes = ? \
             WHERE name = ? RETURNING ",
            project_columns!()
        ))
        .bind(q.max_concurrent_builds.map(i64::from))
        .bind(q.builds_per_hour.map(i64::from))
        .bind(
            q.storage_bytes
                .map(|b| i64::try_from(b).unwrap_or(i64::MAX)),
        )
        .bind(name)
        .fetch_optional(&self.pool)
        .await?;
        self.access.put_projects(None);
        row.as_ref().map(project_of).transpose()
    }

    async fn build_usage(&self, project: &str) -> Result<Usage> {
        let hour_ago = (Timestamp::now() - jiff::SignedDuration::from_hours(1)).to_string();
        let r = sqlx::query(
            "SELECT (SELECT COUNT(*) FROM builds WHERE project = ?1 AND phase = 'Running') AS running, \
                    (SELECT COUNT(*) FROM builds WHERE project = ?1 AND created_at >= ?2) AS recent",
        )
        .bind(project)
        .bind(hour_ago)
        .fetch_one(&self.pool)
        .await?;
        Ok(Usage {
            running_builds: u64::try_from(r.try_get::<i64, _>("running")?).unwrap_or(0),
            builds_last_hour: u64::try_from(r.try_get::<i64, _>("recent")?).unwrap_or(0),
            storage_bytes: 0,
        })
    }

    async fn blob_links(&self, prefixes: Option<&[String]>) -> Result<Vec<(String, String, u64)>> {
        let link = |r: &SqliteRow| -> Result<(String, String, u64)> {
            Ok((
                r.try_get("repository")?,
                r.try_get("digest")?,
                u64::try_from(r.try_get::<i64, _>("size")?).unwrap_or(0),
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
            // `team/` ≤ repository < `team0` ('0' follows '/'): an index range.
            let Some(stripped) = prefix.strip_suffix('/') else {
                continue;
            };
            let end = format!("{stripped}0");
            let rows = sqlx::query(
                "SELECT repository, digest, size FROM registry_blob_links \
                 WHERE repository >= ? AND repository < ?",
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
