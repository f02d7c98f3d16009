//! The test stage's results, one row per build.

use crate::sqlite::{from_json, to_json};
use crate::{Result, SqliteStore};
use async_trait::async_trait;
use slipway_core::BuildId;
use slipway_core::build::test_stage::TestResult;
use sqlx::Row;

#[async_trait]
pub trait TestStore: Send + Sync {
    /// Keep what the test stage came to (and its JUnit file), replacing
    /// an earlier attempt's.
    async fn record_test(
        &self,
        id: BuildId,
        result: &TestResult,
        junit: Option<&str>,
    ) -> Result<()>;
    /// What the build's test stage came to, if it had one.
    async fn test_result(&self, id: BuildId) -> Result<Option<TestResult>>;
    /// The JUnit XML file its test wrote, if any.
    async fn test_junit(&self, id: BuildId) -> Result<Option<String>>;
}

#[async_trait]
impl TestStore for SqliteStore {
    async fn record_test(
        &self,
        id: BuildId,
        result: &TestResult,
        junit: Option<&str>,
    ) -> Result<()> {
        sqlx::query(
            "INSERT OR REPLACE INTO build_tests (build_id, result, junit) VALUES (?, ?, ?)",
        )
        .bind(id)
        .bind(to_json(result)?)
        .bind(junit)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn test_result(&self, id: BuildId) -> Result<Option<TestResult>> {
        sqlx::query("SELECT result FROM build_tests WHERE build_id = ?")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .map(|r| from_json(&r.try_get::<String, _>("result")?))
            .transpose()
    }

    async fn test_junit(&self, id: BuildId) -> Result<Option<String>> {
        Ok(
            sqlx::query("SELECT junit FROM build_tests WHERE build_id = ?")
                .bind(id)
                .fetch_optional(&self.pool)
                .await?
                .map(|r| r.try_get::<Option<String>, _>("junit"))
                .transpose()?
                .flatten(),
        )
    }
}
