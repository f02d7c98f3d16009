//! Web-console sessions, kept in the store so any server sharing the
//! database knows a session another made (the console's `session`
//! module: the cookie's id is never stored, only its hash). A session
//! lives while it is used at least once per `idle`.

use crate::leases::millis;
use crate::{PgStore, Result, SqliteStore};
use async_trait::async_trait;
use sqlx::Row;
use std::time::Duration;

#[async_trait]
pub trait SessionStore: Send + Sync {
    /// Keep session `key` (the hash of its cookie's id) for the token
    /// whose hash is `token_hash`, with its CSRF secret (hex).
    async fn put_session(
        &self,
        key: &str,
        token_hash: &str,
        csrf: &str,
        idle: Duration,
    ) -> Result<()>;
    /// The session's token hash and CSRF secret, marked used; `None` when
    /// there is none or it went unused for longer than `idle`.
    async fn touch_session(&self, key: &str, idle: Duration) -> Result<Option<(String, String)>>;
    async fn drop_session(&self, key: &str) -> Result<()>;
}

fn now_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}

#[async_trait]
impl SessionStore for SqliteStore {
    async fn put_session(
        &self,
        key: &str,
        token_hash: &str,
        csrf: &str,
        idle: Duration,
    ) -> Result<()> {
        let now = now_ms();
        sqlx::query("DELETE FROM console_sessions WHERE expires_ms < ?")
            .bind(now)
            .execute(&self.pool)
            .await?;
        sqlx::query(
            "INSERT INTO console_sessions (key, token_hash, csrf, expires_ms) VALUES (?, ?, ?, ?)",
        )
        .bind(key)
        .bind(token_hash)
        .bind(csrf)
        .bind(now.saturating_add(millis(idle)))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn touch_session(&self, key: &str, idle: Duration) -> Result<Option<(String, String)>> {
        let now = now_ms();
        let row = sqlx::query(
            "UPDATE console_sessions SET expires_ms = ? WHERE key = ? AND expires_ms >= ? \
             RETURNING token_hash, csrf",
        )
        .bind(now.saturating_add(millis(idle)))
        .bind(key)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| Ok((r.try_get("token_hash")?, r.try_get("csrf")?)))
            .transpose()
    }

    async fn drop_session(&self, key: &str) -> Result<()> {
        sqlx::query("DELETE FROM console_sessions WHERE key = ?")
            .bind(key)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}

/// The database's clock in Unix milliseconds (as leases use it).
const PG_NOW_MS: &str = "(extract(epoch FROM clock_timestamp()) * 1000)::bigint";

#[async_trait]
impl SessionStore for PgStore {
    async fn put_session(
        &self,
        key: &str,
        token_hash: &str,
        csrf: &str,
        idle: Duration,
    ) -> Result<()> {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "DELETE FROM console_sessions WHERE expires_ms < {PG_NOW_MS}"
        )))
        .execute(&self.pool)
        .await?;
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO console_sessions (key, token_hash, csrf, expires_ms) \
             VALUES ($1, $2, $3, {PG_NOW_MS} + $4)"
        )))
        .bind(key)
        .bind(token_hash)
        .bind(csrf)
        .bind(millis(idle))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn touch_session(&self, key: &str, idle: Duration) -> Result<Option<(String, String)>> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE console_sessions SET expires_ms = {PG_NOW_MS} + $1 \
             WHERE key = $2 AND expires_ms >= {PG_NOW_MS} RETURNING token_hash, csrf"
        )))
        .bind(millis(idle))
        .bind(key)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| Ok((r.try_get("token_hash")?, r.try_get("csrf")?)))
            .transpose()
    }

    async fn drop_session(&self, key: &str) -> Result<()> {
        sqlx::query("DELETE FROM console_sessions WHERE key = $1")
            .bind(key)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
