//! Worker builds and their placement on PostgreSQL, where several servers
//! place at once.
//!
//! Placement is one transaction per pass, as on SQLite, under a
//! transaction-scoped advisory lock: SQLite's single writer made the
//! counts it reads (active builds per cluster, running builds per
//! project) the counts its updates land on; at READ COMMITTED two
//! replicas would both read "one slot free" and both fill it. Only
//! placers take the lock, so everything else (workers ending, cancels)
//! goes on beside a pass, and can only make its counts conservative. A
//! worker build is reported placed only if its `UPDATE … WHERE phase =
//! 'Pending'` returned it: one cancelled meanwhile is not.

use super::phase::{insert_event, lock_build};
use super::{PgStore, at, now, time, time_opt};
use crate::codec::{from_json, parse_phase, to_json};
use crate::workers::*;
use crate::{Result, StoreError};
use async_trait::async_trait;
use slipway_core::cluster::{MAX_SUBMIT_ATTEMPTS, Placer};
use slipway_core::{
    BuildId, BuildPhase, Clusters, Platform, PushedImage, WorkerBuild, WorkerBuildId,
};
use sqlx::Row;
use sqlx::postgres::PgRow;
use std::collections::{HashMap, HashSet};

/// Queued worker builds read at a time by a placement pass.
const QUEUE_PAGE: i64 = 2000;

/// The advisory lock one placement pass holds, on any replica.
const PLACEMENT_LOCK: i64 = 0x736c_7077_706c_6163; // "slpwplac"

pub(crate) fn worker_from_row(r: &PgRow) -> Result<WorkerBuild> {
    let platform: String = r.try_get("platform")?;
    let tried: String = r.try_get("tried")?;
    let image: Option<String> = r.try_get("image")?;
    let priority: i64 = r.try_get("priority")?;
    Ok(WorkerBuild {
        id: r.try_get("id")?,
        build_id: r.try_get("build_id")?,
        platform: Platform::parse(&platform).map_err(|e| StoreError::Corrupt(e.to_string()))?,
        priority: i32::try_from(priority)
            .map_err(|_| StoreError::Corrupt(format!("priority out of range: {priority}")))?,
        phase: parse_phase(&r.try_get::<String, _>("phase")?)?,
        cluster: r.try_get("cluster")?,
        tried: from_json(&tried)?,
        reason: r.try_get("reason")?,
        image: image.as_deref().map(from_json).transpose()?,
        created_at: time(r, "created_at")?,
        started_at: time_opt(r, "started_at")?,
        finished_at: time_opt(r, "finished_at")?,
    })
}

#[async_trait]
impl WorkerStore for PgStore {
    async fn place_queued(&self, clusters: &Clusters, limit: usize) -> Result<Vec<Placement>> {
        let holder = self.holder.get();
        let mut tx = self.pool.begin().await?;
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(PLACEMENT_LOCK)
            .execute(&mut *tx)
            .await?;
        let active = active_counts(&mut tx).await?;
        let mut placer = Placer::new(clusters, &active);
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
        // The queue in pages (in queue order), as far as this pass
        // places: a deep queue is not read whole for each batch.
        let mut after: Option<(i64, BuildId, WorkerBuildId)> = None;
        'pages: loop {
            let queued = sqlx::query(
                "SELECT w.id, w.build_id, w.platform, w.tried, w.created_at, w.priority, \
                        b.phase AS build_phase, b.project, p.max_concurrent_builds AS quota \
                 FROM worker_builds w JOIN builds b ON b.id = w.build_id \
                 LEFT JOIN projects p ON p.name = b.project \
                 WHERE w.phase = 'Pending' AND b.cancel_requested = 0 \
                   AND ($1::bigint IS NULL OR w.priority < $1 \
                        OR (w.priority = $1 AND (w.build_id, w.id) > ($2, $3))) \
                 ORDER BY w.priority DESC, w.build_id, w.id LIMIT $4",
            )
            .bind(after.map(|a| a.0))
            .bind(after.map(|a| a.1))
            .bind(after.map(|a| a.2))
            .bind(QUEUE_PAGE)
            .fetch_all(&mut *tx)
            .await?;
            let Some(last) = queued.last() else { break };
            after = Some((
                last.try_get("priority")?,
                last.try_get("build_id")?,
                last.try_get("id")?,
            ));
            for r in &queued {
                if placed.len() >= limit {
                    break 'pages;
                }
                let platform_name: String = r.try_get("platform")?;
                if full.contains(&platform_name) {
                    continue;
                }
                let platform = Platform::parse(&platform_name)
                    .map_err(|e| StoreError::Corrupt(e.to_string()))?;
                let tried: Vec<String> = from_json(&r.try_get::<String, _>("tried")?)?;
                let tried: Vec<&str> = tried.iter().map(String::as_str).collect();
                let build: BuildId = r.try_get("build_id")?;
                let project: String = r.try_get("project")?;
                let new_build = r.try_get::<String, _>("build_phase")? == "Pending"
                    && !starting.contains(&build);
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
                        let load = placer
                            .loads(&platform)
                            .iter()
                            .find(|c| c.name == cluster)
                            .map(|c| format!(" ({}/{} active)", c.active, c.max))
                            .unwrap_or_default();
                        loads_after.push(load);
                        placed.push(Placement {
                            worker: r.try_get("id")?,
                            build,
                            platform,
                            cluster,
                            queued_at: Some(time(r, "created_at")?),
                            owner: Some(holder.clone()),
                        });
                    }
                    None if tried.is_empty() => {
                        full.insert(platform_name);
                    }
                    None => {}
                }
            }
            if queued.len() < QUEUE_PAGE as usize {
                break;
            }
        }
        let at = now();
        // Why a build waits, said once (not on every pass).
        for (build, why) in &waiting {
            let last: Option<String> = sqlx::query_scalar(
                "SELECT message FROM build_events WHERE build_id = $1 ORDER BY id DESC LIMIT 1",
            )
            .bind(build)
            .fetch_optional(&mut *tx)
            .await?;
            if last.as_deref() != Some(why.as_str()) {
                insert_event(&mut tx, *build, None, why).await?;
            }
        }
        // The builds first, then their worker builds (see `phase`): the
        // builds this pass starts are locked by starting them. A build
        // cancelled meanwhile was locked by its cancel, which ended its
        // queued worker builds too, so neither changes here.
        let mut builds: Vec<BuildId> = placed.iter().map(|p| p.build).collect();
        builds.sort_unstable();
        builds.dedup();
        let started = sqlx::query(
            "UPDATE builds SET phase = 'Running', attempts = attempts + 1, started_at = $1 \
             WHERE phase = 'Pending' AND id = ANY($2) RETURNING id, attempts",
        )
        .bind(at)
        .bind(&builds)
        .fetch_all(&mut *tx)
        .await?;
        // One statement for every placement of the pass.
        let ids: Vec<WorkerBuildId> = placed.iter().map(|p| p.worker).collect();
        let on: Vec<&str> = placed.iter().map(|p| p.cluster.as_str()).collect();
        let updated: HashSet<WorkerBuildId> = sqlx::query_scalar(
            "UPDATE worker_builds w SET phase = 'Running', cluster = t.c, started_at = $1, owner = $2 \
             FROM unnest($3::bigint[], $4::text[]) AS t(id, c) \
             WHERE w.id = t.id AND w.phase = 'Pending' RETURNING w.id",
        )
        .bind(at)
        .bind(&holder)
        .bind(&ids)
        .bind(&on)
        .fetch_all(&mut *tx)
        .await?
        .into_iter()
        .collect();
        let (placed, loads_after): (Vec<Placement>, Vec<String>) = placed
            .into_iter()
            .zip(loads_after)
            .filter(|(p, _)| updated.contains(&p.worker))
            .unzip();
        // Events: one per started build and one per placement, at once.
        let mut ids: Vec<BuildId> = Vec::new();
        let mut phases: Vec<Option<&str>> = Vec::new();
        let mut messages: Vec<String> = Vec::new();
        for r in &started {
            let attempts: i64 = r.try_get("attempts")?;
            ids.push(r.try_get("id")?);
            phases.push(Some(BuildPhase::Running.as_str()));
            messages.push(if attempts > 1 {
                format!("started (attempt {attempts})")
            } else {
                "started".to_string()
            });
        }
        for (p, load) in placed.iter().zip(&loads_after) {
            ids.push(p.build);
            phases.push(None);
            messages.push(format!(
                "{}: placed on cluster {}{load}",
                p.platform, p.cluster
            ));
        }
        if !ids.is_empty() {
            sqlx::query(
                "INSERT INTO build_events (build_id, at, phase, message) \
                 SELECT b, $1, p, m FROM unnest($2::bigint[], $3::text[], $4::text[]) \
                 WITH ORDINALITY AS t(b, p, m, n) ORDER BY n",
            )
            .bind(at)
            .bind(&ids)
            .bind(&phases)
            .bind(&messages)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(placed)
    }

    async fn get_worker_build(&self, id: WorkerBuildId) -> Result<Option<WorkerBuild>> {
        sqlx::query("SELECT * FROM worker_builds WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(worker_from_row)
            .transpose()
    }

    async fn worker_builds(&self, build: BuildId) -> Result<Vec<WorkerBuild>> {
        sqlx::query("SELECT * FROM worker_builds WHERE build_id = $1 ORDER BY id")
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
        let mut tx = self.pool.begin().await?;
        let Some(row) = sqlx::query(
            "SELECT build_id, platform, cluster, tried FROM worker_builds \
             WHERE id = $1 AND phase = 'Running' FOR NO KEY UPDATE",
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
                "UPDATE worker_builds SET phase = 'Error', tried = $1, reason = $2, finished_at = $3 WHERE id = $4",
            )
            .bind(to_json(&tried)?)
            .bind(why)
            .bind(now())
            .bind(id)
            .execute(&mut *tx)
            .await?;
        } else {
            sqlx::query(
                "UPDATE worker_builds SET phase = 'Pending', cluster = NULL, started_at = NULL, tried = $1 WHERE id = $2",
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
        let mut tx = self.pool.begin().await?;
        // The build's row first: two platforms ending at once take turns,
        // so the second counts the first as ended and exactly one of them
        // sees nothing remaining (on SQLite the write lock did this).
        let build: Option<BuildId> =
            sqlx::query_scalar("SELECT build_id FROM worker_builds WHERE id = $1")
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?;
        let Some(build) = build else {
            tx.commit().await?;
            return Ok(None);
        };
        lock_build(&mut tx, build).await?;
        let row = sqlx::query(
            "UPDATE worker_builds SET phase = $1, reason = $2, image = $3, finished_at = $4 \
             WHERE id = $5 AND phase = 'Running' AND ($6::text IS NULL OR owner = $6) \
             RETURNING platform",
        )
        .bind(phase.as_str())
        .bind(reason.map(slipway_core::build::short_reason))
        .bind(image.map(to_json).transpose()?)
        .bind(now())
        .bind(id)
        .bind(owner)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            tx.commit().await?;
            return Ok(None);
        };
        let platform: String = row.try_get("platform")?;
        let msg = match (phase, reason, image) {
            (BuildPhase::Complete, _, Some(i)) => format!("{platform}: pushed {}", i.reference),
            (_, Some(r), _) => format!("{platform}: {} ({r})", phase.as_str().to_lowercase()),
            _ => format!("{platform}: {}", phase.as_str().to_lowercase()),
        };
        insert_event(&mut tx, build, None, &msg).await?;
        let remaining: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM worker_builds WHERE build_id = $1 \
             AND phase NOT IN ('Complete', 'Failed', 'Error', 'Cancelled')",
        )
        .bind(build)
        .fetch_one(&mut *tx)
        .await?;
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
            "INSERT INTO worker_tokens (token_hash, worker_id, expires_at) VALUES ($1, $2, $3)",
        )
        .bind(token_hash)
        .bind(worker)
        .bind(at(expires))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn worker_token(&self, token_hash: &str) -> Result<Option<WorkerBuildId>> {
        // Expiry by the database's clock, the same for every replica.
        Ok(sqlx::query_scalar(
            "SELECT worker_id FROM worker_tokens WHERE token_hash = $1 AND expires_at > now()",
        )
        .bind(token_hash)
        .fetch_optional(&self.pool)
        .await?)
    }

    async fn drop_worker_tokens(&self, worker: WorkerBuildId) -> Result<()> {
        sqlx::query("DELETE FROM worker_tokens WHERE worker_id = $1")
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
            "INSERT INTO cluster_overrides (name, enabled, changed_at) VALUES ($1, $2, $3) \
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
async fn active_counts(conn: &mut sqlx::PgConnection) -> Result<HashMap<String, u32>> {
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
