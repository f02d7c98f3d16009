//! The registry's metadata on PostgreSQL (see [`RegistryStore`]):
//! repositories, blob links, manifests, tags and their history, tag locks,
//! referrers and upload sessions. What a transaction locks, and why, is in
//! [`super::tags`].

use super::tags::{
    dependents, digest_of_tag, ensure_repository, has_manifest, link_in, lock_from_row, lock_in,
    lock_of, lock_repositories, move_in, record_move,
};
use super::{PgStore, at, count, now, shown_time};
use crate::registry::*;
use crate::{Result, StoreError};
use async_trait::async_trait;
use sqlx::Row;
use sqlx::postgres::PgRow;

fn manifest_from_row(r: &PgRow) -> Result<ManifestRecord> {
    Ok(ManifestRecord {
        digest: r.try_get("digest")?,
        media_type: r.try_get("media_type")?,
        size: count(r, "size")?,
        artifact_type: r.try_get("artifact_type")?,
        subject: r.try_get("subject")?,
        annotations: r.try_get("annotations")?,
    })
}

const MANIFEST_COLUMNS: &str = "digest, media_type, size, artifact_type, subject, annotations";

/// A page size to bind: NULL, no limit.
fn page_size(n: Option<u32>) -> Option<i64> {
    n.map(i64::from)
}

fn bigint(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

#[async_trait]
impl RegistryStore for PgStore {
    async fn blob_gate(&self, exclusive: bool) -> Result<BlobGate> {
        Ok(BlobGate::held(self.gate(exclusive).await?))
    }

    async fn upload_started(&self, id: &str, repository: &str) -> Result<()> {
        sqlx::query(
            "INSERT INTO registry_uploads (id, repository, created_at) VALUES ($1, $2, $3)",
        )
        .bind(id)
        .bind(repository)
        .bind(now())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn upload_repository(&self, id: &str) -> Result<Option<String>> {
        Ok(
            sqlx::query_scalar("SELECT repository FROM registry_uploads WHERE id = $1")
                .bind(id)
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    async fn upload_finished(&self, id: &str) -> Result<()> {
        sqlx::query("DELETE FROM registry_uploads WHERE id = $1")
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn uploads_before(&self, before: &str) -> Result<Vec<String>> {
        // SQLite compares the text; here it must be the time it says.
        let before: jiff::Timestamp = before.parse().map_err(|e| {
            StoreError::Read(format!(
                "uploads before {before:?}: not an RFC 3339 time: {e}"
            ))
        })?;
        Ok(sqlx::query_scalar(
            "SELECT id FROM registry_uploads WHERE created_at < $1 ORDER BY id COLLATE \"C\"",
        )
        .bind(at(before))
        .fetch_all(&self.pool)
        .await?)
    }

    async fn link_blob(&self, repository: &str, digest: &str, size: u64) -> Result<()> {
        // Two upserts, nothing read: no lock needed.
        let mut tx = self.pool.begin().await?;
        ensure_repository(&mut tx, repository).await?;
        sqlx::query(
            "INSERT INTO registry_blob_links (repository, digest, size) VALUES ($1, $2, $3) \
             ON CONFLICT (repository, digest) DO NOTHING",
        )
        .bind(repository)
        .bind(digest)
        .bind(bigint(size))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn blob_visible(&self, repository: &str, digest: &str) -> Result<bool> {
        let row = sqlx::query(
            "SELECT 1 FROM registry_blob_links WHERE repository = $1 AND digest = $2 \
             UNION ALL SELECT 1 FROM registry_manifest_refs WHERE repository = $1 AND referenced = $2 \
             UNION ALL SELECT 1 FROM registry_manifests WHERE repository = $1 AND digest = $2 \
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
            sqlx::query("DELETE FROM registry_blob_links WHERE repository = $1 AND digest = $2")
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
        let mut tx = self.pool.begin().await?;
        // Even without a tag: the references it adds are what prune reads.
        lock_repositories(&mut tx, &[repository]).await?;
        ensure_repository(&mut tx, repository).await?;
        // A manifest pushed again replaces its row, as SQLite's INSERT OR REPLACE.
        sqlx::query(
            "INSERT INTO registry_manifests \
             (repository, digest, media_type, size, artifact_type, subject, annotations, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
             ON CONFLICT (repository, digest) DO UPDATE SET \
                 media_type = EXCLUDED.media_type, size = EXCLUDED.size, \
                 artifact_type = EXCLUDED.artifact_type, subject = EXCLUDED.subject, \
                 annotations = EXCLUDED.annotations, created_at = EXCLUDED.created_at",
        )
        .bind(repository)
        .bind(&m.digest)
        .bind(&m.media_type)
        .bind(bigint(m.size))
        .bind(&m.artifact_type)
        .bind(&m.subject)
        .bind(&m.annotations)
        .bind(now())
        .execute(&mut *tx)
        .await?;
        if !references.is_empty() {
            sqlx::query(
                "INSERT INTO registry_manifest_refs (repository, manifest, referenced) \
                 SELECT $1, $2, r FROM unnest($3::text[]) AS r \
                 ON CONFLICT (repository, manifest, referenced) DO NOTHING",
            )
            .bind(repository)
            .bind(&m.digest)
            .bind(references)
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
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {MANIFEST_COLUMNS} FROM registry_manifests WHERE repository = $1 AND digest = $2"
        )))
        .bind(repository)
        .bind(digest)
        .fetch_optional(&self.pool)
        .await?
        .as_ref()
        .map(manifest_from_row)
        .transpose()
    }

    async fn tag(&self, repository: &str, tag: &str) -> Result<Option<String>> {
        let mut conn = self.pool.acquire().await?;
        digest_of_tag(&mut conn, repository, tag).await
    }

    async fn delete_manifest(&self, repository: &str, digest: &str, by: &TagMove) -> Result<bool> {
        let mut tx = self.pool.begin().await?;
        lock_repositories(&mut tx, &[repository]).await?;
        if let Some(row) = sqlx::query(
            "SELECT repository, tag, digest, build_id, kind FROM registry_locked_tags \
             WHERE repository = $1 AND digest = $2 ORDER BY tag LIMIT 1",
        )
        .bind(repository)
        .bind(digest)
        .fetch_optional(&mut *tx)
        .await?
        {
            return Err(lock_from_row(&row)?.refusal("deleted"));
        }
        let tags: Vec<String> = sqlx::query_scalar(
            "SELECT tag FROM registry_tags WHERE repository = $1 AND digest = $2 ORDER BY tag",
        )
        .bind(repository)
        .bind(digest)
        .fetch_all(&mut *tx)
        .await?;
        for t in &tags {
            record_move(&mut tx, repository, t, Some(digest), None, by).await?;
        }
        let deleted =
            sqlx::query("DELETE FROM registry_manifests WHERE repository = $1 AND digest = $2")
                .bind(repository)
                .bind(digest)
                .execute(&mut *tx)
                .await?
                .rows_affected()
                > 0;
        for sql in [
            "DELETE FROM registry_manifest_refs WHERE repository = $1 AND manifest = $2",
            "DELETE FROM registry_tags WHERE repository = $1 AND digest = $2",
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
        let mut tx = self.pool.begin().await?;
        lock_repositories(&mut tx, &[repository]).await?;
        if let Some(lock) = lock_of(&mut tx, repository, tag).await? {
            return Err(lock.refusal("deleted"));
        }
        let old = digest_of_tag(&mut tx, repository, tag).await?;
        record_move(&mut tx, repository, tag, old.as_deref(), None, by).await?;
        let deleted = sqlx::query("DELETE FROM registry_tags WHERE repository = $1 AND tag = $2")
            .bind(repository)
            .bind(tag)
            .execute(&mut *tx)
            .await?
            .rows_affected()
            > 0;
        tx.commit().await?;
        Ok(deleted)
    }

    async fn move_tag(
        &self,
        repository: &str,
        tag: &str,
        digest: &str,
        by: &TagMove,
    ) -> Result<Option<String>> {
        let mut tx = self.pool.begin().await?;
        lock_repositories(&mut tx, &[repository]).await?;
        let old = move_in(&mut tx, repository, tag, digest, by).await?;
        tx.commit().await?;
        Ok(old)
    }

    async fn tag_digests(&self, repository: &str) -> Result<Vec<TagDigest>> {
        sqlx::query(
            "SELECT tag, digest, updated_at FROM registry_tags WHERE repository = $1 ORDER BY tag",
        )
        .bind(repository)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|r| {
            Ok(TagDigest {
                tag: r.try_get("tag")?,
                digest: r.try_get("digest")?,
                updated_at: shown_time(r, "updated_at")?,
            })
        })
        .collect()
    }

    async fn tag_history(&self, repository: &str, tag: &str, limit: u32) -> Result<Vec<TagEvent>> {
        super::tags::history(&self.pool, repository, tag, limit).await
    }

    async fn record_external_move(
        &self,
        repository: &str,
        tag: &str,
        old: Option<&str>,
        new: Option<&str>,
        by: &TagMove,
    ) -> Result<()> {
        // One insert of what the caller saw in the other registry: nothing
        // here is read, so nothing is locked.
        let mut conn = self.pool.acquire().await?;
        record_move(&mut conn, repository, tag, old, new, by).await
    }

    async fn prune_manifest(&self, repository: &str, digest: &str) -> Result<Vec<String>> {
        let mut tx = self.pool.begin().await?;
        // "Nothing needs it" is an absence of rows: only the repository's
        // lock keeps a tag, index or lock from arriving before the delete.
        lock_repositories(&mut tx, &[repository]).await?;
        let mut queue = vec![digest.to_string()];
        let mut deleted = Vec::new();
        while let Some(d) = queue.pop() {
            if deleted.contains(&d) {
                continue;
            }
            let needed = sqlx::query(
                "SELECT 1 FROM registry_tags WHERE repository = $1 AND digest = $2 \
                 UNION ALL SELECT 1 FROM registry_manifest_refs \
                   WHERE repository = $1 AND referenced = $2 AND manifest <> $2 \
                 UNION ALL SELECT 1 FROM registry_locked_tags WHERE repository = $1 AND digest = $2 \
                 LIMIT 1",
            )
            .bind(repository)
            .bind(&d)
            .fetch_optional(&mut *tx)
            .await?
            .is_some();
            if needed || !has_manifest(&mut tx, repository, &d).await? {
                continue;
            }
            // What goes with it: the manifests it lists, and its referrers.
            let next = dependents(&mut tx, repository, &d).await?;
            for sql in [
                "DELETE FROM registry_manifests WHERE repository = $1 AND digest = $2",
                "DELETE FROM registry_manifest_refs WHERE repository = $1 AND manifest = $2",
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
        let mut tx = self.pool.begin().await?;
        // `from` too: a prune there must not take half an image away
        // while it is copied.
        lock_repositories(&mut tx, &[from, to]).await?;
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
        Ok(sqlx::query_scalar(
            "SELECT build_id FROM registry_locked_tags WHERE repository = $1 AND digest = $2 \
             ORDER BY tag LIMIT 1",
        )
        .bind(repository)
        .bind(digest)
        .fetch_optional(&self.pool)
        .await?)
    }

    async fn unlock_build_tags(&self, build: i64) -> Result<u64> {
        // One delete; a move or delete racing it sees the lock or does not,
        // either way a serial order.
        Ok(
            sqlx::query("DELETE FROM registry_locked_tags WHERE build_id = $1")
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

    async fn lock_tag(
        &self,
        repository: &str,
        tag: &str,
        digest: &str,
        build: i64,
        kind: &str,
    ) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        lock_repositories(&mut tx, &[repository]).await?;
        lock_in(&mut tx, repository, tag, digest, build, kind).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn tags(
        &self,
        repository: &str,
        n: Option<u32>,
        last: Option<&str>,
    ) -> Result<Vec<String>> {
        Ok(sqlx::query_scalar(
            "SELECT tag FROM registry_tags WHERE repository = $1 AND tag > $2 ORDER BY tag LIMIT $3",
        )
        .bind(repository)
        .bind(last.unwrap_or(""))
        .bind(page_size(n))
        .fetch_all(&self.pool)
        .await?)
    }

    async fn repository_exists(&self, repository: &str) -> Result<bool> {
        Ok(
            sqlx::query("SELECT 1 FROM registry_repositories WHERE name = $1")
                .bind(repository)
                .fetch_optional(&self.pool)
                .await?
                .is_some(),
        )
    }

    async fn repositories(&self, n: Option<u32>, last: Option<&str>) -> Result<Vec<String>> {
        Ok(sqlx::query_scalar(
            "SELECT name FROM registry_repositories WHERE name > $1 ORDER BY name LIMIT $2",
        )
        .bind(last.unwrap_or(""))
        .bind(page_size(n))
        .fetch_all(&self.pool)
        .await?)
    }

    async fn referrers(&self, repository: &str, digest: &str) -> Result<Vec<ManifestRecord>> {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {MANIFEST_COLUMNS} FROM registry_manifests WHERE repository = $1 AND subject = $2 \
             ORDER BY digest COLLATE \"C\""
        )))
        .bind(repository)
        .bind(digest)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(manifest_from_row)
        .collect()
    }

    async fn live_digests(&self) -> Result<Vec<String>> {
        Ok(sqlx::query_scalar(
            "SELECT digest AS d FROM registry_manifests UNION SELECT referenced FROM registry_manifest_refs",
        )
        .fetch_all(&self.pool)
        .await?)
    }

    async fn unlink_everywhere(&self, digest: &str) -> Result<()> {
        sqlx::query("DELETE FROM registry_blob_links WHERE digest = $1")
            .bind(digest)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
