//! The SQLite implementation of [`crate::WorkerStore`]: worker builds and placement.

use super::{from_json, insert_event, now, parse_phase, parse_time, to_json};
use crate::workers::*;
use crate::{Result, SqliteStore, StoreError};
use async_trait::async_trait;
use slipway_core::cluster::{MAX_SUBMIT_ATTEMPTS, Placer};
use slipway_core::{
    BuildId, BuildPhase, Clusters, Platform, PushedImage, WorkerBuild, WorkerBuildId,
};
use sqlx::Row;
use sqlx::sqlite::SqliteRow;
use std::collections::{HashMap, HashSet};

pub(crate) fn worker_from_row(r: &SqliteRow) -> Result<WorkerBuild> {
    let platform: String = r.try_get("platform")?;
    let tried: String = r.try_get("tried")?;
    let image: Option<String> = r.try_get("image")?;
    let started: Option<String> = r.try_get("started_at")?;
    let finished: Option<String> = r.try_get("finished_at")?;
    Ok(WorkerBuild {
        id: r.try_get("id")?,
        build_id: r.try_get("build_id")?,
        platform: Platform::parse(&platform).map_err(|e| StoreError::Corrupt(e.to_string()))?,
        priority: r.try_get("priority")?,
        phase: parse_phase(&r.try_get::<String, _>("phase")?)?,
        cluster: r.try_get("cluster")?,
        tried: from_json(&tried)?,
        reason: r.try_get("reason")?,
        image: image.as_deref().map(from_json).transpose()?,
        created_at: parse_time(r.try_get("created_at")?)?,
        started_at: started.map(parse_time).transpose()?,
        finished_at: finished.map(parse_time).transpose()?,
    })
}

/// SQLite caps bound parameters per statement; batches stay well below.
const BATCH: usize = 400;

#[async_trait]
impl WorkerStore for SqliteStore {
    async fn place_queued(&self, clusters: &Clusters, limit: usize) -> Result<Vec<Placement>> {
        let holder = self.holder.get();
        // IMMEDIATE: take the write lock before reading the loads, so the
        // counts cannot go stale before the updates land.
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let active = active_counts(&mut tx).await?;
        let mut placer = Placer::new(clusters, &active);
        let queued = sqlx::query(
            "SELECT w.id, w.build_id, w.platform, w.tried, w.created_at, b.phase AS build_phase, b.project, \
                    p.max_concurrent_builds AS quota \
             FROM worker_builds w JOIN builds b ON b.id = w.build_id \
             LEFT JOIN projects p ON p.name = b.project \
             WHERE w.phase = 'Pending' AND b.cancel_requested = 0 \
             ORDER BY w.priority DESC, w.build_id, w.id",
        )
        .fetch_all(&mut *tx)
        .await?;
        // A project's quota of concurrent builds: a build that has not
        // started waits while its project runs that many.
        let mut running: HashMap<String, i64> = HashMap::new();
        for r in sqlx::query(
            "SELECT project, COUNT(*) AS n FROM builds WHERE phase = 'Running' GROUP BY project",
        )
        .fetch_all(&mut *tx)
        .await?
        {
            running.insert(r.try_get("project")?, r.try_get("n")?);
        }
        let mut starting: HashSet<BuildId> = HashSet::new();
        let mut waiting: Vec<(BuildId, String)> = Vec::new();
        let mut placed = Vec::new();
        let mut loads_after = Vec::new();
        // Platforms whose clusters are all full: nothing later can go there.
        let mut full: HashSet<String> = HashSet::new();
        for r in &queued {
            if placed.len() >= limit {
                break;
            }
            let platform_name: String = r.try_get("platform")?;
            if full.contains(&platform_name) {
                continue;
            }
            let platform =
                Platform::parse(&platform_name).map_err(|e| StoreError::Corrupt(e.to_string()))?;
            let tried: Vec<String> = from_json(&r.try_get::<String, _>("tried")?)?;
            let tried: Vec<&str> = tried.iter().map(String::as_str).collect();
            let build: BuildId = r.try_get("build_id")?;
            let project: String = r.try_get("project")?;
            let new_build =
                r.try_get::<String, _>("build_phase")? == "Pending" && !starting.contains(&build);
            if new_build && let Some(quota) = r.try_get::<Option<i64>, _>("quota")? {
                let n = running.get(&project).copied().unwrap_or(0);
                if n >= quota {
                    if !waiting.iter().any(|(b, _)| *b == build) {
                        waiting.push((
                            build,
                            format!(
                                "waiting: project {project} runs {n} of its {quota} concurrent builds (quota)"
                            ),
                        ));
                    }
                    continue;
                }
            }
            match placer.place(&platform, &tried) {
                Some(cluster) => {
                    if new_build {
                        starting.insert(build);
                        *running.entry(project).or_insert(0) += 1;
                    }
                    let cluster = cluster.to_string();
                    // The load this placement made, for the event.
                    let load = placer
                        .loads(&platform)
                        .iter()
                        .find(|c| c.name == cluster)
                        .map(|c| format!(" ({}/{} active)", c.active, c.max))
                        .unwrap_or_default();
                    loads_after.push(load);
                    placed.push(Placement {
                        worker: r.try_get("id")?,
                        build: r.try_get("build_id")?,
                        platform,
                        cluster,
                        queued_at: r
                            .try_get::<String, _>("created_at")
                            .ok()
                            .and_then(|t| t.parse().ok()),
                        owner: Some(holder.clone()),
                    });
                }
                None if tried.is_empty() => {
                    full.insert(platform_name);
                }
                // Only the clusters it has not tried are full; others may
                // still take later worker builds.
                None => {}
            }
        }
        let at = now();
        // Why a build waits, said once (not on every pass).
        for (build, why) in &waiting {
            let last: Option<String> = sqlx::query(
                "SELECT message FROM build_events WHERE build_id = ? ORDER BY id DESC LIMIT 1",
            )
            .bind(build)
            .fetch_optional(&mut *tx)
            .await?
            .map(|r| r.try_get("message"))
            .transpose()?;
            if last.as_deref() != Some(why.as_str()) {
                sqlx::query(
                    "INSERT INTO build_events (build_id, at, phase, message) VALUES (?, ?, NULL, ?)",
                )
                .bind(build)
                .bind(&at)
                .bind(why)
                .execute(&mut *tx)
                .await?;
            }
        }
        let mut by_cluster: HashMap<&str, Vec<WorkerBuildId>> = HashMap::new();
        for p in &placed {
            by_cluster.entry(&p.cluster).or_default().push(p.worker);
        }
        for (cluster, ids) in by_cluster {
            for chunk in ids.chunks(BATCH) {
                let sql = format!(
                    "UPDATE worker_builds SET phase = 'Running', cluster = ?, started_at = ?, owner = ? \
                     WHERE phase = 'Pending' AND id IN ({})",
                    vec!["?"; chunk.len()].join(", ")
                );
                // Only placeholders are formatted into the SQL.
                let mut q = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(cluster)
                    .bind(&at)
                    .bind(&holder);
                for id in chunk {
                    q = q.bind(id);
                }
                q.execute(&mut *tx).await?;
            }
        }
        // Builds whose first worker build was just placed start now.
        let builds: Vec<BuildId> = {
            let mut seen = HashSet::new();
            placed
                .iter()
                .map(|p| p.build)
                .filter(|b| seen.insert(*b))
                .collect()
        };
        let mut started = Vec::new();
        for chunk in builds.chunks(BATCH) {
            let sql = format!(
                "UPDATE builds SET phase = 'Running', attempts = attempts + 1, started_at = ? \
                 WHERE phase = 'Pending' AND id IN ({}) RETURNING id, attempts",
                vec!["?"; chunk.len()].join(", ")
            );
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(&at);
            for id in chunk {
                q = q.bind(id);
            }
            for r in q.fetch_all(&mut *tx).await? {
                let id: BuildId = r.try_get("id")?;
                let attempts: i64 = r.try_get("attempts")?;
                started.push((id, attempts));
            }
        }
        // Events: one per started build and one per placement, in batches.
        let mut events: Vec<(BuildId, Option<&str>, String)> = started
            .iter()
            .map(|(id, attempts)| {
                let msg = if *attempts > 1 {
                    format!("started (attempt {attempts})")
                } else {
                    "started".to_string()
                };
                (*id, Some(BuildPhase::Running.as_str()), msg)
            })
            .collect();
        for (p, load) in placed.iter().zip(&loads_after) {
            events.push((
                p.build,
                None,
                format!("{}: placed on cluster {}{load}", p.platform, p.cluster),
            ));
        }
        for chunk in events.chunks(BATCH / 4) {
            let sql = format!(
                "INSERT INTO build_events (build_id, at, phase, message) VALUES {}",
                vec!["(?, ?, ?, ?)"; chunk.len()].join(", ")
            );
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for (id, phase, msg) in chunk {
                q = q.bind(id).bind(&at).bind(phase).bind(msg);
            }
            q.execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(placed)
    }

    async fn get_worker_build(&self, id: WorkerBuildId) -> Result<Option<WorkerBuild>> {
        sqlx::query("SELECT * FROM worker_builds WHERE id = ?")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(worker_from_row)
            .transpose()
    }

    async fn worker_builds(&self, build: BuildId) -> Result<Vec<WorkerBuild>> {
        sqlx::query("SELECT * FROM worker_builds WHERE build_id = ? ORDER BY id")
            .bind(build)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(worker_from_row)
            .collect()
    }

    async fn active_per_cluster(&self) -> Result<HashMap<String, u32>> {
        let mut conn = self.pool.acquire().await?;
        active_counts(&mut conn).await
    }

    async fn submission_failed(&self, id: WorkerBuildId, reason: &str) -> Result<BuildPhase> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let Some(row) = sqlx::query(
            "SELECT build_id, platform, cluster, tried FROM worker_builds WHERE id = ? AND phase = 'Running'",
        )
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?
        else {
            tx.commit().await?;
            return Ok(BuildPhase::Error);
        };
        let build: BuildId = row.try_get("build_id")?;
        let platform: String = row.try_get("platform")?;
        let cluster: Option<String> = row.try_get("cluster")?;
        let mut tried: Vec<String> = from_json(&row.try_get::<String, _>("tried")?)?;
        let cluster = cluster.unwrap_or_default();
        tried.push(cluster.clone());
        let attempts = u32::try_from(tried.len()).unwrap_or(u32::MAX);
        insert_event(
            &mut tx,
            build,
            None,
            &format!(
                "{platform}: cluster {cluster} could not take it (attempt {attempts} of {MAX_SUBMIT_ATTEMPTS}): {reason}"
            ),
        )
        .await?;
        let phase = if attempts >= MAX_SUBMIT_ATTEMPTS {
            BuildPhase::Error
        } else {
            BuildPhase::Pending
        };
        if phase == BuildPhase::Error {
            let why = format!(
                "no cluster could take it after {attempts} attempts ({}); last: {reason}",
                tried.join(", ")
            );
            sqlx::query(
                "UPDATE worker_builds SET phase = 'Error', tried = ?, reason = ?, finished_at = ? WHERE id = ?",
            )
            .bind(to_json(&tried)?)
            .bind(why)
            .bind(now())
            .bind(id)
            .execute(&mut *tx)
            .await?;
        } else {
            sqlx::query(
                "UPDATE worker_builds SET phase = 'Pending', cluster = NULL, started_at = NULL, tried = ? WHERE id = ?",
            )
            .bind(to_json(&tried)?)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(phase)
    }

    async fn finish_worker_build(
        &self,
        id: WorkerBuildId,
        phase: BuildPhase,
        reason: Option<&str>,
        image: Option<&PushedImage>,
        owner: Option<&str>,
    ) -> Result<Option<WorkerEnd>> {
        debug_assert!(phase.is_final());
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let row = sqlx::query(
            "UPDATE worker_builds SET phase = ?, reason = ?, image = ?, finished_at = ? \
             WHERE id = ? AND phase = 'Running' AND (? IS NULL OR owner = ?) \
             RETURNING build_id, platform",
        )
        .bind(phase.as_str())
        .bind(reason.map(slipway_core::build::short_reason))
        .bind(image.map(to_json).transpose()?)
        .bind(now())
        .bind(id)
        .bind(owner)
        .bind(owner)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            tx.commit().await?;
            return Ok(None);
        };
        let build: BuildId = row.try_get("build_id")?;
        let platform: String = row.try_get("platform")?;
        let msg = match (phase, reason, image) {
            (BuildPhase::Complete, _, Some(i)) => format!("{platform}: pushed {}", i.reference),
            (_, Some(r), _) => format!("{platform}: {} ({r})", phase.as_str().to_lowercase()),
            _ => format!("{platform}: {}", phase.as_str().to_lowercase()),
        };
        insert_event(&mut tx, build, None, &msg).await?;
        let remaining: i64 = sqlx::query(
            "SELECT COUNT(*) AS n FROM worker_builds WHERE build_id = ? \
             AND phase NOT IN ('Complete', 'Failed', 'Error', 'Cancelled')",
        )
        .bind(build)
        .fetch_one(&mut *tx)
        .await?
        .try_get("n")?;
        tx.commit().await?;
        Ok(Some(WorkerEnd {
            remaining: u32::try_from(remaining).unwrap_or(0),
        }))
    }

    async fn add_worker_token(
        &self,
        worker: WorkerBuildId,
        token_hash: &str,
        expires: jiff::Timestamp,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO worker_tokens (token_hash, worker_id, expires_at) VALUES (?, ?, ?)",
        )
        .bind(token_hash)
        .bind(worker)
        .bind(expires.to_string())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn worker_token(&self, token_hash: &str) -> Result<Option<WorkerBuildId>> {
        let Some(r) =
            sqlx::query("SELECT worker_id, expires_at FROM worker_tokens WHERE token_hash = ?")
                .bind(token_hash)
                .fetch_optional(&self.pool)
                .await?
        else {
            return Ok(None);
        };
        let expires = parse_time(r.try_get("expires_at")?)?;
        if expires <= jiff::Timestamp::now() {
            return Ok(None);
        }
        Ok(Some(r.try_get("worker_id")?))
    }

    async fn drop_worker_tokens(&self, worker: WorkerBuildId) -> Result<()> {
        sqlx::query("DELETE FROM worker_tokens WHERE worker_id = ?")
            .bind(worker)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn cluster_overrides(&self) -> Result<HashMap<String, bool>> {
        let mut out = HashMap::new();
        for r in sqlx::query("SELECT name, enabled FROM cluster_overrides")
            .fetch_all(&self.pool)
            .await?
        {
            let enabled: i64 = r.try_get("enabled")?;
            out.insert(r.try_get("name")?, enabled != 0);
        }
        Ok(out)
    }

    async fn set_cluster_enabled(&self, name: &str, enabled: bool) -> Result<()> {
        sqlx::query(
            "INSERT INTO cluster_overrides (name, enabled, changed_at) VALUES (?, ?, ?) \
             ON CONFLICT (name) DO UPDATE SET enabled = excluded.enabled, changed_at = excluded.changed_at",
        )
        .bind(name)
        .bind(i64::from(enabled))
        .bind(now())
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}

/// Running worker builds per cluster: the numerators of the loads.
async fn active_counts(conn: &mut sqlx::SqliteConnection) -> Result<HashMap<String, u32>> {
    let mut out = HashMap::new();
    for r in sqlx::query(
        "SELECT cluster, COUNT(*) AS n FROM worker_builds WHERE phase = 'Running' GROUP BY cluster",
    )
    .fetch_all(conn)
    .await?
    {
        let name: Option<String> = r.try_get("cluster")?;
        let n: i64 = r.try_get("n")?;
        if let Some(name) = name {
            out.insert(name, u32::try_from(n).unwrap_or(u32::MAX));
        }
    }
    Ok(out)
}

/// End the build's worker builds that are still queued (the build ended or
/// was cancelled), on the caller's transaction.
pub(crate) async fn cancel_queued_workers(
    conn: &mut sqlx::SqliteConnection,
    build: BuildId,
    reason: &str,
) -> Result<()> {
    sqlx::query(
        "UPDATE worker_builds SET phase = 'Cancelled', reason = ?, finished_at = ? \
         WHERE build_id = ? AND phase = 'Pending'",
    )
    .bind(reason)
    .bind(now())
    .bind(build)
    .execute(conn)
    .await?;
    Ok(())
}

/// Put a re-queued build's unfinished worker builds back in the queue.
/// Their tokens die: a pod left over from before the restart must not
/// report for the new attempt.
pub(crate) async fn requeue_workers(
    conn: &mut sqlx::SqliteConnection,
    build: BuildId,
) -> Result<()> {
    revoke_unfinished_tokens(&mut *conn, build).await?;
    sqlx::query(
        "UPDATE worker_builds SET phase = 'Pending', cluster = NULL, started_at = NULL \
         WHERE build_id = ? AND phase IN ('Pending', 'Running')",
    )
    .bind(build)
    .execute(conn)
    .await?;
    Ok(())
}

/// End a given-up build's unfinished worker builds with `phase`.
pub(crate) async fn end_workers(
    conn: &mut sqlx::SqliteConnection,
    build: BuildId,
    phase: BuildPhase,
    reason: &str,
) -> Result<()> {
    revoke_unfinished_tokens(&mut *conn, build).await?;
    sqlx::query(
        "UPDATE worker_builds SET phase = ?, reason = ?, finished_at = ? \
         WHERE build_id = ? AND phase IN ('Pending', 'Running')",
    )
    .bind(phase.as_str())
    .bind(reason)
    .bind(now())
    .bind(build)
    .execute(conn)
    .await?;
    Ok(())
}

async fn revoke_unfinished_tokens(conn: &mut sqlx::SqliteConnection, build: BuildId) -> Result<()> {
    sqlx::query(
        "DELETE FROM worker_tokens WHERE worker_id IN \
         (SELECT id FROM worker_builds WHERE build_id = ? AND phase IN ('Pending', 'Running'))",
    )
    .bind(build)
    .execute(conn)
    .await?;
    Ok(())
}

/// Create one queued worker build per platform of a new build.
pub(crate) async fn create_workers(
    conn: &mut sqlx::SqliteConnection,
    build: BuildId,
    platforms: &[Platform],
    priority: i32,
) -> Result<()> {
    let at = now();
    for p in platforms {
        sqlx::query(
            "INSERT INTO worker_builds (build_id, platform, priority, phase, created_at) VALUES (?, ?, ?, 'Pending', ?)",
        )
        .bind(build)
        .bind(p.as_str())
        .bind(priority)
        .bind(&at)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}
