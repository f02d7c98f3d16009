//! Users and service accounts on PostgreSQL (see [`IdentityStore`]).

use super::{PgStore, now};
use crate::{IdentityStore, Result, StoreError};
use async_trait::async_trait;
use slipway_core::api::access::{IdentityInfo, TokenKind};
use sqlx::Row;
use sqlx::postgres::PgRow;

/// Columns of an identity with its live tokens counted.
const SELECT: &str = "SELECT i.name, i.kind, i.project, i.created_at, i.created_by, i.disabled_at,
        (SELECT COUNT(*) FROM api_tokens t
          WHERE t.identity = i.name AND t.revoked_at IS NULL
            AND (t.expires_at IS NULL OR t.expires_at > $1)) AS live
   FROM identities i";

fn identity_of(r: &PgRow) -> Result<IdentityInfo> {
    let kind: String = r.try_get("kind")?;
    Ok(IdentityInfo {
        name: r.try_get("name")?,
        kind: TokenKind::parse(&kind).map_err(StoreError::Corrupt)?,
        project: r.try_get("project")?,
        created_at: super::shown_time(r, "created_at")?,
        created_by: r.try_get("created_by")?,
        disabled_at: super::shown_time_opt(r, "disabled_at")?,
        live_tokens: u32::try_from(r.try_get::<i64, _>("live")?).unwrap_or(u32::MAX),
    })
}

#[async_trait]
impl IdentityStore for PgStore {
    async fn create_identity(
        &self,
        name: &str,
        kind: TokenKind,
        project: Option<&str>,
        by: &str,
    ) -> Result<IdentityInfo> {
        let made = sqlx::query(
            "INSERT INTO identities (name, kind, project, created_at, created_by) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (name) DO NOTHING",
        )
        .bind(name)
        .bind(kind.as_str())
        .bind(project)
        .bind(now())
        .bind(by)
        .execute(&self.pool)
        .await?
        .rows_affected();
        if made == 0 {
            return Err(StoreError::Conflict(format!(
                "the name {name} is taken by a user or service account (names are never reused, disabled or not)"
            )));
        }
        self.identity(name)
            .await?
            .ok_or_else(|| StoreError::Corrupt(format!("identity {name} vanished")))
    }

    async fn identities(&self) -> Result<Vec<IdentityInfo>> {
        sqlx::query(sqlx::AssertSqlSafe(format!("{SELECT} ORDER BY i.name")))
            .bind(now())
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(identity_of)
            .collect()
    }

    async fn identity(&self, name: &str) -> Result<Option<IdentityInfo>> {
        sqlx::query(sqlx::AssertSqlSafe(format!("{SELECT} WHERE i.name = $2")))
            .bind(now())
            .bind(name)
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(identity_of)
            .transpose()
    }

    async fn disable_identity(&self, name: &str) -> Result<Option<IdentityInfo>> {
        let at = now();
        let mut tx = self.pool.begin().await?;
        let found = sqlx::query(
            "UPDATE identities SET disabled_at = coalesce(disabled_at, $1) WHERE name = $2",
        )
        .bind(at)
        .bind(name)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if found == 0 {
            return Ok(None);
        }
        sqlx::query(
            "UPDATE api_tokens SET revoked_at = $1 WHERE identity = $2 AND revoked_at IS NULL",
        )
        .bind(at)
        .bind(name)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        self.identity(name).await
    }
}
