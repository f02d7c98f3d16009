//! Tags of the embedded registry on PostgreSQL: the row-level work that
//! moves, locks and links (as `crate::tags` does on SQLite), each inside
//! its caller's transaction, and the per-repository lock those
//! transactions take first.
//!
//! # Concurrency
//!
//! Several servers write one database, at READ COMMITTED. Every
//! transaction that reads and then writes what it read — moving a tag and
//! recording the move, the lock checks before a move or a delete, locking
//! a tag, deleting or pruning a manifest, promoting — starts with
//! [`lock_repositories`]: `pg_advisory_xact_lock(hashtext('registry:' ||
//! repository))`, held to commit or rollback. That makes the writers of one
//! repository take turns, as SQLite's single writer did, while other
//! repositories go on in parallel; readers take no lock.
//!
//! Chosen over `SELECT … FOR UPDATE` because what these transactions
//! decide on is often a row that is *not* there — a tag not yet created,
//! no lock on a tag, no tag or index still naming a manifest that prune
//! is about to delete — and row locks cannot lock an absence; and because
//! the decisions span four tables (tags, locked tags, manifests,
//! references), where row locks would have to be taken in one agreed order
//! everywhere. It also keeps each tag's history in commit order: its ids
//! are given while the repository's lock is held.
//!
//! Writes that decide nothing (linking a blob, forgetting one, taking back
//! a build's locks, an upload session, an external move) are single
//! upserts or deletes and take no lock.

use super::now;
use crate::Result;
use crate::tags::{TagEvent, TagLock, TagMove};
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, PgPool, Row};

/// Take the registry's transaction lock on each of `repositories` (see the
/// module doc), in the order of their keys, so two transactions locking
/// the same two repositories cannot deadlock.
pub(super) async fn lock_repositories(tx: &mut PgConnection, repositories: &[&str]) -> Result<()> {
    if let [one] = repositories {
        sqlx::query("SELECT pg_advisory_xact_lock(hashtext('registry:' || $1))")
            .bind(*one)
            .execute(&mut *tx)
            .await?;
        return Ok(());
    }
    let names: Vec<String> = repositories.iter().map(|r| r.to_string()).collect();
    let keys: Vec<i32> = sqlx::query_scalar(
        "SELECT DISTINCT hashtext('registry:' || r) AS k FROM unnest($1::text[]) AS r ORDER BY k",
    )
    .bind(names)
    .fetch_all(&mut *tx)
    .await?;
    for k in keys {
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(i64::from(k))
            .execute(&mut *tx)
            .await?;
    }
    Ok(())
}

pub(super) async fn ensure_repository(conn: &mut PgConnection, repository: &str) -> Result<()> {
    sqlx::query(
        "INSERT INTO registry_repositories (name, created_at) VALUES ($1, $2) \
         ON CONFLICT (name) DO NOTHING",
    )
    .bind(repository)
    .bind(now())
    .execute(conn)
    .await?;
    Ok(())
}

/// `tag`'s moves in `repository`, newest first, at most `limit`.
pub(super) async fn history(
    pool: &PgPool,
    repository: &str,
    tag: &str,
    limit: u32,
) -> Result<Vec<TagEvent>> {
    sqlx::query(
        "SELECT id, repository, tag, old_digest, new_digest, build_id, who, why, at \
         FROM tag_events WHERE repository = $1 AND tag = $2 ORDER BY id DESC LIMIT $3",
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
            at: super::shown_time(r, "at")?,
        })
    })
    .collect()
}

/// Record that `tag` moved from `old` to `new`, unless it did not.
pub(super) async fn record_move(
    conn: &mut PgConnection,
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
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
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

pub(super) async fn digest_of_tag(
    conn: &mut PgConnection,
    repository: &str,
    tag: &str,
) -> Result<Option<String>> {
    Ok(
        sqlx::query_scalar("SELECT digest FROM registry_tags WHERE repository = $1 AND tag = $2")
            .bind(repository)
            .bind(tag)
            .fetch_optional(&mut *conn)
            .await?,
    )
}

pub(super) fn lock_from_row(r: &PgRow) -> Result<TagLock> {
    Ok(TagLock {
        repository: r.try_get("repository")?,
        tag: r.try_get("tag")?,
        digest: r.try_get("digest")?,
        build: r.try_get("build_id")?,
        kind: r.try_get("kind")?,
    })
}

pub(super) async fn lock_of(
    conn: &mut PgConnection,
    repository: &str,
    tag: &str,
) -> Result<Option<TagLock>> {
    sqlx::query(
        "SELECT repository, tag, digest, build_id, kind FROM registry_locked_tags \
         WHERE repository = $1 AND tag = $2",
    )
    .bind(repository)
    .bind(tag)
    .fetch_optional(&mut *conn)
    .await?
    .as_ref()
    .map(lock_from_row)
    .transpose()
}

pub(super) async fn has_manifest(
    conn: &mut PgConnection,
    repository: &str,
    digest: &str,
) -> Result<bool> {
    Ok(
        sqlx::query("SELECT 1 FROM registry_manifests WHERE repository = $1 AND digest = $2")
            .bind(repository)
            .bind(digest)
            .fetch_optional(&mut *conn)
            .await?
            .is_some(),
    )
}

/// The manifests that go with manifest `digest` of `repository`: those it
/// lists (an index's platform images) and its referrers (SBOMs).
pub(super) async fn dependents(
    conn: &mut PgConnection,
    repository: &str,
    digest: &str,
) -> Result<Vec<String>> {
    Ok(sqlx::query_scalar(
        "SELECT r.referenced AS d FROM registry_manifest_refs r \
           JOIN registry_manifests m ON m.repository = r.repository AND m.digest = r.referenced \
           WHERE r.repository = $1 AND r.manifest = $2 \
         UNION SELECT digest AS d FROM registry_manifests WHERE repository = $1 AND subject = $2",
    )
    .bind(repository)
    .bind(digest)
    .fetch_all(&mut *conn)
    .await?)
}

/// Lock `tag` to `digest` (see [`crate::RegistryStore::lock_tag`]); the
/// caller holds the repository's lock.
pub(super) async fn lock_in(
    tx: &mut PgConnection,
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
        "INSERT INTO registry_locked_tags (repository, tag, digest, build_id, kind, locked_at) \
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (repository, tag) DO NOTHING",
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

/// Point `tag` at `digest` (see [`crate::RegistryStore::move_tag`]); the
/// caller holds the repository's lock.
pub(super) async fn move_in(
    tx: &mut PgConnection,
    repository: &str,
    tag: &str,
    digest: &str,
    by: &TagMove,
) -> Result<Option<String>> {
    if !has_manifest(&mut *tx, repository, digest).await? {
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
    sqlx::query(
        "INSERT INTO registry_tags (repository, tag, digest, updated_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (repository, tag) DO UPDATE SET digest = EXCLUDED.digest, \
             updated_at = EXCLUDED.updated_at",
    )
    .bind(repository)
    .bind(tag)
    .bind(digest)
    .bind(now())
    .execute(&mut *tx)
    .await?;
    Ok(old)
}

/// Link a manifest into another repository (see
/// [`crate::RegistryStore::promote`]); the caller holds both repositories'
/// locks. How many manifests were linked.
pub(super) async fn link_in(
    tx: &mut PgConnection,
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
            "INSERT INTO registry_manifests \
             (repository, digest, media_type, size, artifact_type, subject, annotations, created_at) \
             SELECT $1, digest, media_type, size, artifact_type, subject, annotations, $4 \
             FROM registry_manifests WHERE repository = $2 AND digest = $3 \
             ON CONFLICT (repository, digest) DO NOTHING",
        )
        .bind(to)
        .bind(from)
        .bind(&d)
        .bind(now())
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if copied == 0 && !has_manifest(&mut *tx, from, &d).await? {
            return Err(crate::StoreError::NotFound(format!(
                "repository {from} has no manifest {d}"
            )));
        }
        sqlx::query(
            "INSERT INTO registry_manifest_refs (repository, manifest, referenced) \
             SELECT $1, manifest, referenced FROM registry_manifest_refs \
             WHERE repository = $2 AND manifest = $3 \
             ON CONFLICT (repository, manifest, referenced) DO NOTHING",
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
