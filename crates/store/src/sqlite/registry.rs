//! The SQLite implementation of [`crate::RegistryStore`]: manifests, repositories, uploads.

use super::now;
use crate::registry::*;
use crate::tags::{
    dependents, digest_of_tag, link_in, lock_from_row, lock_in, lock_of, move_in, record_move,
};
use crate::{Result, SqliteStore};
use async_trait::async_trait;
use sqlx::sqlite::SqliteRow;
use sqlx::{Row, SqliteConnection};

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

pub(crate) async fn ensure_repository(conn: &mut SqliteConnection, repository: &str) -> Result<()> {
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
        by: &TagMove,
    ) -> Result<()> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
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
            // The same move as a tag, rollback or promotion: lock checked,
            // history recorded.
            move_in(&mut tx, repository, t, &m.digest, by).await?;
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

    async fn delete_manifest(&self, repository: &str, digest: &str, by: &TagMove) -> Result<bool> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        if let Some(row) = sqlx::query(
            "SELECT repository, tag, digest, build_id, kind FROM registry_locked_tags \
             WHERE repository = ? AND digest = ? ORDER BY tag LIMIT 1",
        )
        .bind(repository)
        .bind(digest)
        .fetch_optional(&mut *tx)
        .await?
        {
            return Err(lock_from_row(&row)?.refusal("deleted"));
        }
        let tags: Vec<String> =
            sqlx::query("SELECT tag FROM registry_tags WHERE repository = ? AND digest = ?")
                .bind(repository)
                .bind(digest)
                .fetch_all(&mut *tx)
                .await?
                .iter()
                .map(|r| r.try_get("tag"))
                .collect::<std::result::Result<_, _>>()?;
        for t in &tags {
            record_move(&mut tx, repository, t, Some(digest), None, by).await?;
        }
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

    async fn delete_tag(&self, repository: &str, tag: &str, by: &TagMove) -> Result<bool> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        if let Some(lock) = lock_of(&mut tx, repository, tag).await? {
            return Err(lock.refusal("deleted"));
        }
        let old = digest_of_tag(&mut tx, repository, tag).await?;
        record_move(&mut tx, repository, tag, old.as_deref(), None, by).await?;
        let deleted = sqlx::query("DELETE FROM registry_tags WHERE repository = ? AND tag = ?")
            .bind(repository)
            .bind(tag)
            .execute(&mut *tx)
            .await?
            .rows_affected()
            > 0;
        tx.commit().await?;
        Ok(deleted)
    }

    async fn lock_tag(
        &self,
        repository: &str,
        tag: &str,
        digest: &str,
        build: i64,
        kind: &str,
    ) -> Result<()> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        lock_in(&mut tx, repository, tag, digest, build, kind).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn move_tag(
        &self,
        repository: &str,
        tag: &str,
        digest: &str,
        by: &TagMove,
    ) -> Result<Option<String>> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let old = move_in(&mut tx, repository, tag, digest, by).await?;
        tx.commit().await?;
        Ok(old)
    }

    async fn tag_digests(&self, repository: &str) -> Result<Vec<TagDigest>> {
        sqlx::query(
            "SELECT tag, digest, updated_at FROM registry_tags WHERE repository = ? ORDER BY tag",
        )
        .bind(repository)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|r| {
            Ok(TagDigest {
                tag: r.try_get("tag")?,
                digest: r.try_get("digest")?,
                updated_at: crate::sqlite::shown_time(r, "updated_at")?,
            })
        })
        .collect()
    }

    async fn tag_history(&self, repository: &str, tag: &str, limit: u32) -> Result<Vec<TagEvent>> {
        crate::tags::history(&self.pool, repository, tag, limit).await
    }

    async fn record_external_move(
        &self,
        repository: &str,
        tag: &str,
        old: Option<&str>,
        new: Option<&str>,
        by: &TagMove,
    ) -> Result<()> {
        let mut conn = self.pool.acquire().await?;
        crate::tags::record_move(&mut conn, repository, tag, old, new, by).await
    }

    async fn prune_manifest(&self, repository: &str, digest: &str) -> Result<Vec<String>> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let mut queue = vec![digest.to_string()];
        let mut deleted = Vec::new();
        while let Some(d) = queue.pop() {
            if deleted.contains(&d) {
                continue;
            }
            let needed = sqlx::query(
                "SELECT 1 FROM registry_tags WHERE repository = ?1 AND digest = ?2 \
                 UNION ALL SELECT 1 FROM registry_manifest_refs \
                   WHERE repository = ?1 AND referenced = ?2 AND manifest != ?2 \
                 UNION ALL SELECT 1 FROM registry_locked_tags WHERE repository = ?1 AND digest = ?2 \
                 LIMIT 1",
            )
            .bind(repository)
            .bind(&d)
            .fetch_optional(&mut *tx)
            .await?
            .is_some();
            let exists =
                sqlx::query("SELECT 1 FROM registry_manifests WHERE repository = ? AND digest = ?")
                    .bind(repository)
                    .bind(&d)
                    .fetch_optional(&mut *tx)
                    .await?
                    .is_some();
            if needed || !exists {
                continue;
            }
            // What goes with it: the manifests it lists, and its referrers.
            let next = dependents(&mut tx, repository, &d).await?;
            for sql in [
                "DELETE FROM registry_manifests WHERE repository = ? AND digest = ?",
                "DELETE FROM registry_manifest_refs WHERE repository = ? AND manifest = ?",
            ] {
                sqlx::query(sql)
                    .bind(repository)
                    .bind(&d)
                    .execute(&mut *tx)
                    .await?;
            }
            deleted.push(d);
            queue.extend(next);
        }
        tx.commit().await?;
        Ok(deleted)
    }

    async fn promote(
        &self,
        from: &str,
        digest: &str,
        to: &str,
        tags: &[String],
        lock: Option<(&str, i64)>,
        by: &TagMove,
    ) -> Result<()> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        link_in(&mut tx, from, digest, to).await?;
        for tag in tags {
            move_in(&mut tx, to, tag, digest, by).await?;
        }
        if let Some((tag, build)) = lock {
            lock_in(&mut tx, to, tag, digest, build, "primary").await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn build_of_digest(&self, repository: &str, digest: &str) -> Result<Option<i64>> {
        Ok(sqlx::query(
            "SELECT build_id FROM registry_locked_tags WHERE repository = ? AND digest = ? LIMIT 1",
        )
        .bind(repository)
        .bind(digest)
        .fetch_optional(&self.pool)
        .await?
        .map(|r| r.try_get("build_id"))
        .transpose()?)
    }

    async fn unlock_build_tags(&self, build: i64) -> Result<u64> {
        Ok(
            sqlx::query("DELETE FROM registry_locked_tags WHERE build_id = ?")
                .bind(build)
                .execute(&self.pool)
                .await?
                .rows_affected(),
        )
    }

    async fn tag_lock(&self, repository: &str, tag: &str) -> Result<Option<TagLock>> {
        let mut conn = self.pool.acquire().await?;
        lock_of(&mut conn, repository, tag).await
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
