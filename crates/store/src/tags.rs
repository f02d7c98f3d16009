//! Tags of the embedded registry as Slipway keeps them: who moved a tag
//! and why (`tag_events`), the tags that never move (`registry_locked_tags`),
//! and the row-level work that moves, locks and links — shared by the
//! registry's pushes and deletes and by tag, untag, rollback, promotion and
//! pruning, each inside its caller's transaction.

use crate::Result;
use crate::sqlite::now;
use crate::sqlite::registry::ensure_repository;
use serde::{Deserialize, Serialize};
use sqlx::sqlite::SqliteRow;
use sqlx::{Row, SqliteConnection};

/// Who moves a tag, and why: what its history records.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TagMove {
    /// `token:NAME`, `build:ID`, `anonymous`.
    pub who: String,
    /// The build it is moved for.
    pub build: Option<i64>,
    /// `build`, `push`, `delete`, `tag`, `untag`, `rollback`, `promote`, `prune`.
    pub why: String,
}

impl TagMove {
    pub fn new(who: impl Into<String>, build: Option<i64>, why: impl Into<String>) -> Self {
        TagMove {
            who: who.into(),
            build,
            why: why.into(),
        }
    }
}

/// A tag and the manifest it names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TagDigest {
    pub tag: String,
    pub digest: String,
    pub updated_at: String,
}

/// One move of a tag.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TagEvent {
    pub id: i64,
    pub repository: String,
    pub tag: String,
    /// `None`: the tag was new.
    pub old_digest: Option<String>,
    /// `None`: the tag went.
    pub new_digest: Option<String>,
    pub build: Option<i64>,
    pub who: String,
    pub why: String,
    pub at: String,
}

/// `tag`'s moves in `repository`, newest first, at most `limit`.
pub(crate) async fn history(
    pool: &sqlx::SqlitePool,
    repository: &str,
    tag: &str,
    limit: u32,
) -> Result<Vec<TagEvent>> {
    sqlx::query(
        "SELECT id, repository, tag, old_digest, new_digest, build_id, who, why, at \
         FROM tag_events WHERE repository = ? AND tag = ? ORDER BY id DESC LIMIT ?",
    )
    .bind(repository)
    .bind(tag)
    .bind(i64::from(limit))
    .fetch_all(pool)
    .await?
    .iter()
    .map(|r| {
        Ok(TagEvent {
            id: r.try_get("id")?,
            repository: r.try_get("repository")?,
            tag: r.try_get("tag")?,
            old_digest: r.try_get("old_digest")?,
            new_digest: r.try_get("new_digest")?,
            build: r.try_get("build_id")?,
            who: r.try_get("who")?,
            why: r.try_get("why")?,
            at: crate::sqlite::shown_time(r, "at")?,
        })
    })
    .collect()
}

/// Record that `tag` moved from `old` to `new`, unless it did not.
pub(crate) async fn record_move(
    conn: &mut SqliteConnection,
    repository: &str,
    tag: &str,
    old: Option<&str>,
    new: Option<&str>,
    by: &TagMove,
) -> Result<()> {
    if old == new {
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO tag_events (repository, tag, old_digest, new_digest, build_id, who, why, at) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(repository)
    .bind(tag)
    .bind(old)
    .bind(new)
    .bind(by.build)
    .bind(&by.who)
    .bind(&by.why)
    .bind(now())
    .execute(&mut *conn)
    .await?;
    Ok(())
}

pub(crate) async fn digest_of_tag(
    conn: &mut SqliteConnection,
    repository: &str,
    tag: &str,
) -> Result<Option<String>> {
    Ok(
        sqlx::query("SELECT digest FROM registry_tags WHERE repository = ? AND tag = ?")
            .bind(repository)
            .bind(tag)
            .fetch_optional(&mut *conn)
            .await?
            .map(|r| r.try_get("digest"))
            .transpose()?,
    )
}

/// A tag that never moves, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TagLock {
    pub repository: String,
    pub tag: String,
    pub digest: String,
    pub build: i64,
    /// `unique` or `primary`.
    pub kind: String,
}

impl TagLock {
    pub(crate) fn refusal(&self, doing: &str) -> crate::StoreError {
        crate::StoreError::Immutable(format!(
            "tag {}:{} is immutable: it is the {} tag of build {} ({}), so it cannot be {doing}; push to another tag",
            self.repository, self.tag, self.kind, self.build, self.digest
        ))
    }
}

pub(crate) fn lock_from_row(r: &SqliteRow) -> Result<TagLock> {
    Ok(TagLock {
        repository: r.try_get("repository")?,
        tag: r.try_get("tag")?,
        digest: r.try_get("digest")?,
        build: r.try_get("build_id")?,
        kind: r.try_get("kind")?,
    })
}

pub(crate) async fn lock_of(
    conn: &mut SqliteConnection,
    repository: &str,
    tag: &str,
) -> Result<Option<TagLock>> {
    sqlx::query(
        "SELECT repository, tag, digest, build_id, kind FROM registry_locked_tags \
         WHERE repository = ? AND tag = ?",
    )
    .bind(repository)
    .bind(tag)
    .fetch_optional(&mut *conn)
    .await?
    .as_ref()
    .map(lock_from_row)
    .transpose()
}

/// The manifests that go with manifest `digest` of `repository`: those it
/// lists (an index's platform images) and its referrers (SBOMs).
pub(crate) async fn dependents(
    conn: &mut SqliteConnection,
    repository: &str,
    digest: &str,
) -> Result<Vec<String>> {
    sqlx::query(
        "SELECT r.referenced AS d FROM registry_manifest_refs r \
           JOIN registry_manifests m ON m.repository = r.repository AND m.digest = r.referenced \
           WHERE r.repository = ?1 AND r.manifest = ?2 \
         UNION SELECT digest AS d FROM registry_manifests WHERE repository = ?1 AND subject = ?2",
    )
    .bind(repository)
    .bind(digest)
    .fetch_all(&mut *conn)
    .await?
    .iter()
    .map(|r| Ok(r.try_get("d")?))
    .collect()
}

/// Lock `tag` to `digest` (see [`RegistryStore::lock_tag`]).
pub(crate) async fn lock_in(
    tx: &mut SqliteConnection,
    repository: &str,
    tag: &str,
    digest: &str,
    build: i64,
    kind: &str,
) -> Result<()> {
    if let Some(lock) = lock_of(&mut *tx, repository, tag).await?
        && lock.digest != digest
    {
        return Err(lock.refusal(&format!("locked to {digest}")));
    }
    sqlx::query(
        "INSERT OR IGNORE INTO registry_locked_tags (repository, tag, digest, build_id, kind, locked_at) \
         VALUES (?, ?, ?, ?, ?, ?)",
    )
    .bind(repository)
    .bind(tag)
    .bind(digest)
    .bind(build)
    .bind(kind)
    .bind(now())
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// Point `tag` at `digest` (see [`RegistryStore::move_tag`]).
pub(crate) async fn move_in(
    tx: &mut SqliteConnection,
    repository: &str,
    tag: &str,
    digest: &str,
    by: &TagMove,
) -> Result<Option<String>> {
    let known = sqlx::query("SELECT 1 FROM registry_manifests WHERE repository = ? AND digest = ?")
        .bind(repository)
        .bind(digest)
        .fetch_optional(&mut *tx)
        .await?
        .is_some();
    if !known {
        return Err(crate::StoreError::NotFound(format!(
            "repository {repository} has no manifest {digest}"
        )));
    }
    if let Some(lock) = lock_of(&mut *tx, repository, tag).await?
        && lock.digest != digest
    {
        return Err(lock.refusal(&format!("moved to {digest}")));
    }
    let old = digest_of_tag(&mut *tx, repository, tag).await?;
    record_move(&mut *tx, repository, tag, old.as_deref(), Some(digest), by).await?;
    sqlx::query("INSERT OR REPLACE INTO registry_tags (repository, tag, digest, updated_at) VALUES (?, ?, ?, ?)")
        .bind(repository)
        .bind(tag)
        .bind(digest)
        .bind(now())
        .execute(&mut *tx)
        .await?;
    Ok(old)
}

/// Link a manifest into another repository (see
/// [`RegistryStore::promote`](crate::RegistryStore::promote)); how many
/// manifests were linked.
pub(crate) async fn link_in(
    tx: &mut SqliteConnection,
    from: &str,
    digest: &str,
    to: &str,
) -> Result<usize> {
    ensure_repository(&mut *tx, to).await?;
    let mut queue = vec![digest.to_string()];
    let mut linked: Vec<String> = Vec::new();
    while let Some(d) = queue.pop() {
        if linked.contains(&d) {
            continue;
        }
        let copied = sqlx::query(
            "INSERT OR IGNORE INTO registry_manifests \
             (repository, digest, media_type, size, artifact_type, subject, annotations, created_at) \
             SELECT ?1, digest, media_type, size, artifact_type, subject, annotations, ?4 \
             FROM registry_manifests WHERE repository = ?2 AND digest = ?3",
        )
        .bind(to)
        .bind(from)
        .bind(&d)
        .bind(now())
        .execute(&mut *tx)
        .await?
        .rows_affected();
        let known = copied > 0
            || sqlx::query("SELECT 1 FROM registry_manifests WHERE repository = ? AND digest = ?")
                .bind(from)
                .bind(&d)
                .fetch_optional(&mut *tx)
                .await?
                .is_some();
        if !known {
            return Err(crate::StoreError::NotFound(format!(
                "repository {from} has no manifest {d}"
            )));
        }
        sqlx::query(
            "INSERT OR IGNORE INTO registry_manifest_refs (repository, manifest, referenced) \
             SELECT ?1, manifest, referenced FROM registry_manifest_refs \
             WHERE repository = ?2 AND manifest = ?3",
        )
        .bind(to)
        .bind(from)
        .bind(&d)
        .execute(&mut *tx)
        .await?;
        let next = dependents(&mut *tx, from, &d).await?;
        linked.push(d);
        queue.extend(next);
    }
    Ok(linked.len())
}
