//! A build's provenance: the signed DSSE envelope of its SLSA statement,
//! as attached to its image, kept with the build (`slipway show BUILD
//! --provenance`) so it can be read when the registry no longer has it.
//! It goes with the build. Also what rebuilds found about a build
//! (`slipway rebuild --verify`), newest first.

use crate::{PgStore, Result, SqliteStore};
use async_trait::async_trait;
use slipway_core::BuildId;

#[async_trait]
pub trait ProvenanceStore: Send + Sync {
    /// Keep `envelope` (JSON) as `build`'s provenance, replacing one kept
    /// before (a build published again after a restart).
    async fn put_provenance(&self, build: BuildId, envelope: &str) -> Result<()>;
    async fn provenance(&self, build: BuildId) -> Result<Option<String>>;
    /// Keep what `rebuild` found about `build` (`detail`: JSON), replacing
    /// what it found before.
    async fn put_reproduction(
        &self,
        build: BuildId,
        rebuild: BuildId,
        identical: bool,
        detail: &str,
    ) -> Result<()>;
    /// What rebuilds found about `build`, newest first: `(identical, detail)`.
    async fn reproductions(&self, build: BuildId) -> Result<Vec<(bool, String)>>;
}

#[async_trait]
impl ProvenanceStore for SqliteStore {
    async fn put_provenance(&self, build: BuildId, envelope: &str) -> Result<()> {
        sqlx::query(
            "INSERT INTO build_provenance (build_id, envelope, created_at) VALUES (?, ?, ?) \
             ON CONFLICT (build_id) DO UPDATE SET envelope = excluded.envelope, \
             created_at = excluded.created_at",
        )
        .bind(build)
        .bind(envelope)
        .bind(jiff::Timestamp::now().to_string())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn provenance(&self, build: BuildId) -> Result<Option<String>> {
        Ok(
            sqlx::query_scalar("SELECT envelope FROM build_provenance WHERE build_id = ?")
                .bind(build)
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    async fn put_reproduction(
        &self,
        build: BuildId,
        rebuild: BuildId,
        identical: bool,
        detail: &str,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO build_reproductions (rebuild_id, build_id, identical, detail, checked_at) \
             VALUES (?, ?, ?, ?, ?) ON CONFLICT (rebuild_id) DO UPDATE SET \
             identical = excluded.identical, detail = excluded.detail, checked_at = excluded.checked_at",
        )
        .bind(rebuild)
        .bind(build)
        .bind(identical)
        .bind(detail)
        .bind(jiff::Timestamp::now().to_string())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn reproductions(&self, build: BuildId) -> Result<Vec<(bool, String)>> {
        Ok(sqlx::query_as(
            "SELECT identical, detail FROM build_reproductions WHERE build_id = ? ORDER BY rebuild_id DESC",
        )
        .bind(build)
        .fetch_all(&self.pool)
        .await?)
    }
}

#[async_trait]
impl ProvenanceStore for PgStore {
    async fn put_provenance(&self, build: BuildId, envelope: &str) -> Result<()> {
        sqlx::query(
            "INSERT INTO build_provenance (build_id, envelope, created_at) VALUES ($1, $2, now()) \
             ON CONFLICT (build_id) DO UPDATE SET envelope = EXCLUDED.envelope, \
             created_at = EXCLUDED.created_at",
        )
        .bind(build)
        .bind(envelope)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn provenance(&self, build: BuildId) -> Result<Option<String>> {
        Ok(
            sqlx::query_scalar("SELECT envelope FROM build_provenance WHERE build_id = $1")
                .bind(build)
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    async fn put_reproduction(
        &self,
        build: BuildId,
        rebuild: BuildId,
        identical: bool,
        detail: &str,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO build_reproductions (rebuild_id, build_id, identical, detail, checked_at) \
             VALUES ($1, $2, $3, $4, now()) ON CONFLICT (rebuild_id) DO UPDATE SET \
             identical = EXCLUDED.identical, detail = EXCLUDED.detail, checked_at = EXCLUDED.checked_at",
        )
        .bind(rebuild)
        .bind(build)
        .bind(identical)
        .bind(detail)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn reproductions(&self, build: BuildId) -> Result<Vec<(bool, String)>> {
        Ok(sqlx::query_as(
            "SELECT identical, detail FROM build_reproductions WHERE build_id = $1 ORDER BY rebuild_id DESC",
        )
        .bind(build)
        .fetch_all(&self.pool)
        .await?)
    }
}
