//! The registry's metadata: repositories, blob links, manifests, tags,
//! referrers and upload sessions. Digests are plain strings here; the
//! registry crate validates them before they arrive.

use crate::sqlite::now;
use crate::{Result, SqliteStore};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use sqlx::sqlite::SqliteRow;
use sqlx::{Row, SqliteConnection};

/// A stored manifest's descriptor fields.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestRecord {
    pub digest: String,
    pub media_type: String,
    pub size: u64,
    pub artifact_type: Option<String>,
    pub subject: Option<String>,
    /// JSON object of the manifest's annotations, if any.
    pub annotations: Option<String>,
}

#[async_trait]
pub trait RegistryStore: Send + Sync + 'static {
    async fn upload_started(&self, id: &str, repository: &str) -> Result<()>;
    /// The repository an upload session belongs to.
    async fn upload_repository(&self, id: &str) -> Result<Option<String>>;
    async fn upload_finished(&self, id: &str) -> Result<()>;
    /// Upload sessions created before `before` (RFC 3339).
    async fn uploads_before(&self, before: &str) -> Result<Vec<String>>;

    /// Make a committed blob visible in a repository (creating the repository).
    async fn link_blob(&self, repository: &str, digest: &str, size: u64) -> Result<()>;
    /// Whether the repository can see a blob: linked to it, referenced by one
    /// of its manifests, or one of its manifests.
    async fn blob_visible(&self, repository: &str, digest: &str) -> Result<bool>;
    async fn unlink_blob(&self, repository: &str, digest: &str) -> Result<bool>;

    /// Record a manifest, what it references, and optionally point a tag at it.
    async fn put_manifest(
        &self,
        repository: &str,
        manifest: &ManifestRecord,
        references: &[String],
        tag: Option<&str>,
    ) -> Result<()>;
    async fn manifest(&self, repository: &str, digest: &str) -> Result<Option<ManifestRecord>>;
    async fn tag(&self, repository: &str, tag: &str) -> Result<Option<String>>;
    /// Delete a manifest and the tags pointing at it.
    async fn delete_manifest(&self, repository: &str, digest: &str) -> Result<bool>;
    async fn delete_tag(&self, repository: &str, tag: &str) -> Result<bool>;
    /// Tags in lexical order, after `last`, at most `n`.
    async fn tags(
        &self,
        repository: &str,
        n: Option<u32>,
        last: Option<&str>,
    ) -> Result<Vec<String>>;
    async fn repository_exists(&self, repository: &str) -> Result<bool>;
    /// Repository names in lexical order, after `last`, at most `n`.
    async fn repositories(&self, n: Option<u32>, last: Option<&str>) -> Result<Vec<String>>;
    /// Manifests of a repository whose subject is `digest`.
    async fn referrers(&self, repository: &str, digest: &str) -> Result<Vec<ManifestRecord>>;
    /// Every digest a manifest still needs: the manifests themselves and
    /// everything they reference, in any repository.
    async fn live_digests(&self) -> Result<Vec<String>>;
    /// Forget a blob in every repository (after garbage collection removed it).
    async fn unlink_everywhere(&self, digest: &str) -> Result<()>;
}

fn manifest_from_row(r: &SqliteRow) -> Result<ManifestRecord> {
    let size: i64 = r.try_get("size")?;
    Ok(ManifestRecord {
        digest: r.try_get("digest")?,
        media_type: r.try_get("media_type")?,
        size: u64::try_from(size).unwrap_or(0),
        artifact_type: r.try_get("artifact_type")?,
        subject: r.try_get("subject")?,
        annotations: r.try_get("annotations")?,
    })
}

fn page_size(n: Option<u32>) -> i64 {
    n.map(i64::from).unwrap_or(-1)
}

async fn ensure_repository(conn: &mut SqliteConnection, repository: &str) -> Result<()> {
    sqlx::query("INSERT OR IGNORE INTO registry_repositories (name, created_at) VALUES (?, ?)")
        .bind(repository)
        .bind(now())
        .execute(conn)
        .await?;
    Ok(())
}

#[async_trait]
impl RegistryStore for SqliteStore {
    async fn upload_started(&self, id: &str, repository: &str) -> Result<()> {
        sqlx::query("INSERT INTO registry_uploads (id, repository, created_at) VALUES (?, ?, ?)")
            .bind(id)
            .bind(repository)
            .bind(now())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn upload_repository(&self, id: &str) -> Result<Option<String>> {
        self.optional_text(
            "SELECT repository FROM registry_uploads WHERE id = ?",
            &[id],
            "repository",
        )
        .await
    }

    async fn upload_finished(&self, id: &str) -> Result<()> {
        sqlx::query("DELETE FROM registry_uploads WHERE id = ?")
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn uploads_before(&self, before: &str) -> Result<Vec<String>> {
        let rows = sqlx::query("SELECT id FROM registry_uploads WHERE created_at < ? ORDER BY id")
            .bind(before)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(|r| Ok(r.try_get("id")?)).collect()
    }

    async fn link_blob(&self, repository: &str, digest: &str, size: u64) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        ensure_repository(&mut tx, repository).await?;
        sqlx::query(
            "INSERT OR IGNORE INTO registry_blob_links (repository, digest, size) VALUES (?, ?, ?)",
        )
        .bind(repository)
        .bind(digest)
        .bind(i64::try_from(size).unwrap_or(i64::MAX))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn blob_visible(&self, repository: &str, digest: &str) -> Result<bool> {
        let row = sqlx::query(
            "SELECT 1 FROM registry_blob_links WHERE repository = ?1 AND digest = ?2 \
             UNION ALL SELECT 1 FROM registry_manifest_refs WHERE repository = ?1 AND referenced = ?2 \
             UNION ALL SELECT 1 FROM registry_manifests WHERE repository = ?1 AND digest = ?2 \
             LIMIT 1",
        )
        .bind(repository)
        .bind(digest)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.is_some())
    }

    async fn unlink_blob(&self, repository: &str, digest: &str) -> Result<bool> {
        Ok(
            sqlx::query("DELETE FROM registry_blob_links WHERE repository = ? AND digest = ?")
                .bind(repository)
                .bind(digest)
                .execute(&self.pool)
                .await?
                .rows_affected()
                > 0,
        )
    }

    async fn put_manifest(
        &self,
        repository: &str,
        m: &ManifestRecord,
        references: &[String],
        tag: Option<&str>,
    ) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        ensure_repository(&mut tx, repository).await?;
        sqlx::query(
            "INSERT OR REPLACE INTO registry_manifests \
             (repository, digest, media_type, size, artifact_type, subject, annotations, created_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(repository)
        .bind(&m.digest)
        .bind(&m.media_type)
        .bind(i64::try_from(m.size).unwrap_or(i64::MAX))
        .bind(&m.artifact_type)
        .bind(&m.subject)
        .bind(&m.annotations)
        .bind(now())
        .execute(&mut *tx)
        .await?;
        for r in references {
            sqlx::query("INSERT OR IGNORE INTO registry_manifest_refs (repository, manifest, referenced) VALUES (?, ?, ?)")
                .bind(repository)
                .bind(&m.digest)
                .bind(r)
                .execute(&mut *tx)
                .await?;
        }
        if let Some(t) = tag {
            sqlx::query("INSERT OR REPLACE INTO registry_tags (repository, tag, digest, updated_at) VALUES (?, ?, ?, ?)")
                .bind(repository)
                .bind(t)
                .bind(&m.digest)
                .bind(now())
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn manifest(&self, repository: &str, digest: &str) -> Result<Option<ManifestRecord>> {
        // Every pull asks: a synchronous read (see `read`).
        self.reads.with(|c| {
            use rusqlite::OptionalExtension;
            Ok(c.prepare_cached(
                "SELECT digest, media_type, size, artifact_type, subject, annotations
                 FROM registry_manifests WHERE repository = ?1 AND digest = ?2",
            )?
            .query_row([repository, digest], |r| {
                let size: i64 = r.get(2)?;
                Ok(ManifestRecord {
                    digest: r.get(0)?,
                    media_type: r.get(1)?,
                    size: u64::try_from(size).unwrap_or(0),
                    artifact_type: r.get(3)?,
                    subject: r.get(4)?,
                    annotations: r.get(5)?,
                })
            })
            .optional()?)
        })
    }

    async fn tag(&self, repository: &str, tag: &str) -> Result<Option<String>> {
        self.reads.with(|c| {
            use rusqlite::OptionalExtension;
            Ok(c.prepare_cached(
                "SELECT digest FROM registry_tags WHERE repository = ?1 AND tag = ?2",
            )?
            .query_row([repository, tag], |r| r.get::<_, String>(0))
            .optional()?)
        })
    }

    async fn delete_manifest(&self, repository: &str, digest: &str) -> Result<bool> {
        let mut tx = self.pool.begin().await?;
        let deleted =
            sqlx::query("DELETE FROM registry_manifests WHERE repository = ? AND digest = ?")
                .bind(repository)
                .bind(digest)
                .execute(&mut *tx)
                .await?
                .rows_affected()
                > 0;
        for sql in [
            "DELETE FROM registry_manifest_refs WHERE repository = ? AND manifest = ?",
            "DELETE FROM registry_tags WHERE repository = ? AND digest = ?",
        ] {
            sqlx::query(sql)
                .bind(repository)
                .bind(digest)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(deleted)
    }

    async fn delete_tag(&self, repository: &str, tag: &str) -> Result<bool> {
        Ok(
            sqlx::query("DELETE FROM registry_tags WHERE repository = ? AND tag = ?")
                .bind(repository)
                .bind(tag)
                .execute(&self.pool)
                .await?
                .rows_affected()
                > 0,
        )
    }

    async fn tags(
        &self,
        repository: &str,
        n: Option<u32>,
        last: Option<&str>,
    ) -> Result<Vec<String>> {
        let rows = sqlx::query(
            "SELECT tag FROM registry_tags WHERE repository = ? AND tag > ? ORDER BY tag LIMIT ?",
        )
        .bind(repository)
        .bind(last.unwrap_or(""))
        .bind(page_size(n))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|r| Ok(r.try_get("tag")?)).collect()
    }

    async fn repository_exists(&self, repository: &str) -> Result<bool> {
        Ok(
            sqlx::query("SELECT 1 FROM registry_repositories WHERE name = ?")
                .bind(repository)
                .fetch_optional(&self.pool)
                .await?
                .is_some(),
        )
    }

    async fn repositories(&self, n: Option<u32>, last: Option<&str>) -> Result<Vec<String>> {
        let rows = sqlx::query(
            "SELECT name FROM registry_repositories WHERE name > ? ORDER BY name LIMIT ?",
        )
        .bind(last.unwrap_or(""))
        .bind(page_size(n))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|r| Ok(r.try_get("name")?)).collect()
    }

    async fn referrers(&self, repository: &str, digest: &str) -> Result<Vec<ManifestRecord>> {
        let rows = sqlx::query(
            "SELECT * FROM registry_manifests WHERE repository = ? AND subject = ? ORDER BY digest",
        )
        .bind(repository)
        .bind(digest)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(manifest_from_row).collect()
    }

    async fn live_digests(&self) -> Result<Vec<String>> {
        let rows = sqlx::query(
            "SELECT digest AS d FROM registry_manifests UNION SELECT referenced FROM registry_manifest_refs",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|r| Ok(r.try_get("d")?)).collect()
    }

    async fn unlink_everywhere(&self, digest: &str) -> Result<()> {
        sqlx::query("DELETE FROM registry_blob_links WHERE digest = ?")
            .bind(digest)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
