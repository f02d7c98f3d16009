//! Leases on PostgreSQL (see [`LeaseStore`]): taken, renewed and expired
//! by the database's clock in one statement, so two servers asking at once
//! never both hold one.

use super::PgStore;
use crate::leases::millis;
use crate::{LeaseStore, Result};
use async_trait::async_trait;
use std::time::Duration;

/// The database's clock in Unix milliseconds.
const NOW_MS: &str = "(extract(epoch FROM clock_timestamp()) * 1000)::bigint";

#[async_trait]
impl LeaseStore for PgStore {
    fn holder(&self) -> String {
        self.holder.get()
    }

    fn become_new_holder(&self) -> String {
        self.holder.replace()
    }

    async fn take_lease(&self, name: &str, holder: &str, ttl: Duration) -> Result<bool> {
        let held = sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO leases (name, holder, expires_ms) VALUES ($1, $2, {NOW_MS} + $3) \
             ON CONFLICT (name) DO UPDATE SET holder = EXCLUDED.holder, expires_ms = EXCLUDED.expires_ms \
             WHERE leases.holder = EXCLUDED.holder OR leases.expires_ms < {NOW_MS} \
                OR NOT EXISTS (SELECT 1 FROM leases s WHERE s.name = 'server:' || leases.holder \
                               AND s.expires_ms >= {NOW_MS}) \
             RETURNING holder"
        )))
        .bind(name)
        .bind(holder)
        .bind(millis(ttl))
        .fetch_optional(&self.pool)
        .await?;
        Ok(held.is_some())
    }

    async fn clear_leases(&self) -> Result<()> {
        sqlx::query("DELETE FROM leases")
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn release_lease(&self, name: &str, holder: &str) -> Result<()> {
        sqlx::query("DELETE FROM leases WHERE name = $1 AND holder = $2")
            .bind(name)
            .bind(holder)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
