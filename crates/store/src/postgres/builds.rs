//! Builds on PostgreSQL: the [`Store`] trait's own methods.
//!
//! Where SQLite's write lock made a read-then-write safe, this takes a
//! lock of its own: release numbers under an advisory lock per
//! repository (two builds of one repository never get the same next
//! release), a build's stage list under its row lock.

use super::phase::{
    cancel_queued_workers, create_workers, end_workers, insert_event, lock_build, requeue_workers,
    transition,
};
use super::{PgStore, now, time, time_opt};
use crate::codec::{from_json, parse_phase, to_json};
use crate::seal::{Column, Sealer};
use crate::{BuildPage, CancelOutcome, Gauges, Queued, Result, Store, StoreError};
use async_trait::async_trait;
use slipway_core::api::{BuildQuery, BuildSummary};
use slipway_core::build::StageTiming;
use slipway_core::build::conventions::{LintReport, Preparation, RepoConfig};
use slipway_core::build::phase::{RestartDecision, after_restart};
use slipway_core::{Build, BuildId, BuildPhase, BuildSpec, PushedImage};
use sqlx::Row;
use sqlx::postgres::PgRow;

/// Builds with their events and worker builds, one row each (times in the
/// JSON are RFC 3339 with an offset, which the types read).
const BUILD_QUERY: &str = "SELECT b.*,
    (SELECT coalesce(json_agg(json_build_object('at', at, 'phase', phase, 'message', message) ORDER BY id), '[]')::text
       FROM build_events WHERE build_id = b.id) AS events_json,
    (SELECT coalesce(json_agg(json_build_object(
         'id', id, 'build_id', build_id, 'platform', platform, 'priority', priority,
         'phase', phase, 'cluster', cluster, 'tried', tried::json, 'reason', reason,
         'image', image::json, 'created_at', created_at, 'started_at', started_at,
         'finished_at', finished_at) ORDER BY id), '[]')::text
       FROM worker_builds WHERE build_id = b.id) AS workers_json
  FROM builds b WHERE b.id = ANY($1) ORDER BY b.id";

/// A page of build summaries as one JSON array, keys in the order
/// SQLite's page has them.
const LIST_QUERY: &str =
    "SELECT count(*) AS n, min(id) AS last, coalesce(json_agg(json_build_object(
         'id', id, 'phase', phase, 'config', config, 'trigger', coalesce(trigger_kind, 'manual'),
         'source', coalesce(source_shown, ''), 'output', coalesce(output, ''),
         'image', image::json->>'reference', 'reason', reason,
         'created_at', to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'),
         'started_at', to_char(started_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'),
         'finished_at', to_char(finished_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'),
         'project', project
     ) ORDER BY id DESC), '[]')::text AS page
     FROM (SELECT * FROM builds
           WHERE ($1::bigint IS NULL OR id < $1) AND ($2::text IS NULL OR config = $2)
             AND ($4::text[] IS NULL OR project = ANY($4))
             AND ($5::text IS NULL OR phase = $5)
             AND ($6::text IS NULL OR coalesce(trigger_kind, 'manual') = $6)
           ORDER BY id DESC LIMIT $3) page";

/// The builds `ids` as they are, by id, read through `conn` (the pool,
/// or a caller's transaction).
pub(super) async fn builds_in<'c>(
    conn: impl sqlx::PgExecutor<'c>,
    sealer: &Sealer,
    ids: &[BuildId],
) -> Result<Vec<Build>> {
    sqlx::query(BUILD_QUERY)
        .bind(ids)
        .fetch_all(conn)
        .await?
        .iter()
        .map(|r| build_from_row(r, sealer))
        .collect()
}

fn build_from_row(r: &PgRow, sealer: &Sealer) -> Result<Build> {
    let text = |c: &str| -> Result<String> { Ok(r.try_get::<String, _>(c)?) };
    let opt = |c: &str| -> Result<Option<String>> { Ok(r.try_get::<Option<String>, _>(c)?) };
    let spec = sealer.open(Column::BuildSpec, &text("spec")?)?;
    let mut spec: BuildSpec = from_json(&spec)?;
    // The column decides: a project made later adopts builds.
    spec.project = Some(text("project")?);
    let attempts: i64 = r.try_get("attempts")?;
    Ok(Build {
        id: r.try_get("id")?,
        phase: parse_phase(&text("phase")?)?,
        reason: opt("reason")?,
        spec,
        commit: opt("git_commit")?,
        image: opt("image")?.as_deref().map(from_json).transpose()?,
        stages: from_json(&text("stages")?)?,
        events: from_json(&text("events_json")?)?,
        attempts: u32::try_from(attempts).unwrap_or(0),
        workers: from_json(&text("workers_json")?)?,
        lint: opt("lint")?.as_deref().map(from_json).transpose()?,
        repo_config: opt("repo_config")?.as_deref().map(from_json).transpose()?,
        created_at: time(r, "created_at")?,
        started_at: time_opt(r, "started_at")?,
        finished_at: time_opt(r, "finished_at")?,
    })
}

impl PgStore {
    async fn phase_of(&self, conn: &mut sqlx::PgConnection, id: BuildId) -> Result<BuildPhase> {
        let phase: String = sqlx::query_scalar("SELECT phase FROM builds WHERE id = $1")
            .bind(id)
            .fetch_one(conn)
            .await?;
        parse_phase(&phase)
    }
}

#[async_trait]
impl Store for PgStore {
    async fn create_build(&self, spec: &BuildSpec) -> Result<Build> {
        let mut tx = self.pool.begin().await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO builds (phase, spec, created_at, config, source_shown, output, trigger_kind, project)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
        )
        .bind(BuildPhase::New.as_str())
        .bind(self.sealer.seal(Column::BuildSpec, to_json(spec)?)?)
        .bind(now())
        .bind(spec.config.as_deref())
        .bind(spec.source.location.redacted())
        .bind(spec.output.to_string())
        .bind(spec.trigger.kind())
        .bind(spec.project_name())
        .fetch_one(&mut *tx)
        .await?;
        insert_event(
            &mut tx,
            id,
            Some(BuildPhase::New),
            "build created; preparing",
        )
        .await?;
        tx.commit().await?;
        self.get_build(id)
            .await?
            .ok_or_else(|| StoreError::Corrupt(format!("build {id} vanished after insert")))
    }

    async fn queue_build(&self, id: BuildId, prep: &Preparation) -> Result<Queued> {
        let mut tx = self.pool.begin().await?;
        let repository = prep.spec.output.name();
        // One queuer of a repository at a time, on any replica: the next
        // free release is read and taken in one step.
        sqlx::query("SELECT pg_advisory_xact_lock(hashtext('slipway release ' || $1))")
            .bind(&repository)
            .execute(&mut *tx)
            .await?;
        let release = match &prep.identity {
            None => None,
            Some(ident) => {
                let taken = taken_in(&mut tx, &repository, &ident.name, &ident.version).await?;
                match &prep.spec.release {
                    Some(r) => {
                        if let Some((_, b)) = taken.iter().find(|(t, _)| t == r) {
                            return Ok(Queued::Refused(format!(
                                "release {r} of {repository} {} already exists (build {b}); give another release, or none to get the next free one",
                                ident.version
                            )));
                        }
                        Some(r.clone())
                    }
                    None => Some(slipway_core::build::conventions::next_release(
                        taken.iter().map(|(r, _)| r.as_str()),
                    )),
                }
            }
        };
        let spec = match prep.complete(release.as_deref()) {
            Ok(spec) => spec,
            Err(e) => return Ok(Queued::Refused(e)),
        };
        if lock_build(&mut tx, id).await?.as_deref() != Some(BuildPhase::New.as_str()) {
            let phase = self.phase_of(&mut tx, id).await?;
            return Ok(Queued::NotNew(phase));
        }
        if let (Some(ident), Some(r)) = (&prep.identity, &release) {
            sqlx::query(
                "INSERT INTO repository_releases (repository, version, release, build_id) VALUES ($1, $2, $3, $4)",
            )
            .bind(&repository)
            .bind(&ident.version)
            .bind(r)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        }
        sqlx::query(
            "UPDATE builds SET spec = $1, lint = $2, repo_config = $3, input_key = $4 WHERE id = $5",
        )
        .bind(self.sealer.seal(Column::BuildSpec, to_json(&spec)?)?)
        .bind(prep.lint.as_ref().map(to_json).transpose()?)
        .bind(prep.repo_config.as_ref().map(to_json).transpose()?)
        .bind(spec.input_key.as_deref())
        .bind(id)
        .execute(&mut *tx)
        .await?;
        let event = match (&prep.identity, &release) {
            (Some(i), Some(r)) => format!("queued as {} {}-{r}", i.name, i.version),
            _ => "queued (scratch build: no release, only the unique tag)".to_string(),
        };
        if !transition(
            &mut tx,
            id,
            &[BuildPhase::New],
            BuildPhase::Pending,
            None,
            &event,
        )
        .await?
        {
            let phase = self.phase_of(&mut tx, id).await?;
            return Ok(Queued::NotNew(phase));
        }
        create_workers(&mut tx, id, &spec.platforms, spec.priority).await?;
        tx.commit().await?;
        let build = self
            .get_build(id)
            .await?
            .ok_or_else(|| StoreError::Corrupt(format!("build {id} vanished when queued")))?;
        Ok(Queued::Queued(Box::new(build)))
    }

    async fn taken_releases(
        &self,
        repository: &str,
        name: &str,
        version: &str,
    ) -> Result<Vec<String>> {
        let mut conn = self.pool.acquire().await?;
        Ok(taken_in(&mut conn, repository, name, version)
            .await?
            .into_iter()
            .map(|(r, _)| r)
            .collect())
    }

    async fn fail_preparation(
        &self,
        id: BuildId,
        phase: BuildPhase,
        reason: &str,
        lint: Option<&LintReport>,
        repo_config: Option<&RepoConfig>,
    ) -> Result<bool> {
        let mut tx = self.pool.begin().await?;
        let changed =
            transition(&mut tx, id, &[BuildPhase::New], phase, Some(reason), reason).await?;
        if changed {
            sqlx::query("UPDATE builds SET lint = $1, repo_config = $2 WHERE id = $3")
                .bind(lint.map(to_json).transpose()?)
                .bind(repo_config.map(to_json).transpose()?)
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(changed)
    }

    async fn skip_build(&self, id: BuildId, spec: &BuildSpec, reason: &str) -> Result<bool> {
        let mut tx = self.pool.begin().await?;
        let changed = transition(
            &mut tx,
            id,
            &[BuildPhase::New],
            BuildPhase::Skipped,
            Some(reason),
            reason,
        )
        .await?;
        if changed {
            sqlx::query("UPDATE builds SET spec = $1, input_key = $2 WHERE id = $3")
                .bind(self.sealer.seal(Column::BuildSpec, to_json(spec)?)?)
                .bind(spec.input_key.as_deref())
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(changed)
    }

    async fn builds_to_prepare(&self) -> Result<Vec<BuildId>> {
        Ok(
            sqlx::query_scalar("SELECT id FROM builds WHERE phase = 'New' ORDER BY id")
                .fetch_all(&self.pool)
                .await?,
        )
    }

    async fn set_metadata(&self, id: BuildId, metadata: &serde_json::Value) -> Result<()> {
        sqlx::query("UPDATE builds SET metadata = $1 WHERE id = $2")
            .bind(to_json(metadata)?)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn metadata(&self, id: BuildId) -> Result<Option<serde_json::Value>> {
        let v: Option<Option<String>> =
            sqlx::query_scalar("SELECT metadata FROM builds WHERE id = $1")
                .bind(id)
                .fetch_optional(&self.pool)
                .await?;
        v.flatten().as_deref().map(from_json).transpose()
    }

    async fn get_build(&self, id: BuildId) -> Result<Option<Build>> {
        Ok(builds_in(&self.pool, &self.sealer, &[id]).await?.pop())
    }

    async fn list_builds(&self, q: &BuildQuery) -> Result<Vec<BuildSummary>> {
        from_json(&self.list_builds_json(q).await?.json)
    }

    async fn list_builds_json(&self, q: &BuildQuery) -> Result<BuildPage> {
        let r = sqlx::query(LIST_QUERY)
            .bind(q.before)
            .bind(q.config.as_deref())
            .bind(i64::from(q.limit))
            .bind(q.projects.as_deref())
            .bind(q.phase.map(|p| p.as_str()))
            .bind(q.trigger.as_deref())
            .fetch_one(&self.pool)
            .await?;
        let n: i64 = r.try_get("n")?;
        Ok(BuildPage {
            count: u32::try_from(n).unwrap_or(0),
            last: r.try_get("last")?,
            json: r.try_get("page")?,
        })
    }

    async fn record_event(&self, id: BuildId, message: &str) -> Result<()> {
        let mut conn = self.pool.acquire().await?;
        insert_event(&mut conn, id, None, message).await
    }

    async fn set_commit_once(&self, id: BuildId, commit: &str) -> Result<String> {
        // One statement: the row lock orders two platforms' calls, and the
        // second sees the first's commit.
        let stored: Option<Option<String>> = sqlx::query_scalar(
            "UPDATE builds SET git_commit = COALESCE(git_commit, $1) WHERE id = $2 RETURNING git_commit",
        )
        .bind(commit)
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        stored
            .flatten()
            .ok_or_else(|| StoreError::Corrupt(format!("build {id} lost its commit")))
    }

    async fn record_stage(&self, id: BuildId, timing: StageTiming) -> Result<()> {
        // Worker builds of several platforms write here, maybe from
        // different servers: read-modify-write under the row's lock.
        let mut tx = self.pool.begin().await?;
        let stages: String =
            sqlx::query_scalar("SELECT stages FROM builds WHERE id = $1 FOR NO KEY UPDATE")
                .bind(id)
                .fetch_one(&mut *tx)
                .await?;
        let mut list: Vec<StageTiming> = from_json(&stages)?;
        list.retain(|t| t.stage != timing.stage);
        list.push(timing);
        list.sort_by_key(|t| t.stage);
        sqlx::query("UPDATE builds SET stages = $1 WHERE id = $2")
            .bind(to_json(&list)?)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn finish(
        &self,
        id: BuildId,
        phase: BuildPhase,
        reason: Option<&str>,
        image: Option<&PushedImage>,
    ) -> Result<bool> {
        let event = match (phase, reason) {
            (BuildPhase::Complete, _) => match image {
                Some(i) => format!("pushed {}", i.reference),
                None => "complete".to_string(),
            },
            (_, Some(r)) => r.to_string(),
            (p, None) => p.to_string().to_lowercase(),
        };
        let mut tx = self.pool.begin().await?;
        let changed =
            transition(&mut tx, id, &[BuildPhase::Running], phase, reason, &event).await?;
        if changed {
            cancel_queued_workers(&mut tx, id, "the build ended").await?;
        }
        if changed && let Some(image) = image {
            sqlx::query("UPDATE builds SET image = $1 WHERE id = $2")
                .bind(to_json(image)?)
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(changed)
    }

    async fn request_cancel(&self, id: BuildId) -> Result<CancelOutcome> {
        let mut tx = self.pool.begin().await?;
        let Some(_) = lock_build(&mut tx, id).await? else {
            tx.commit().await?;
            return Ok(CancelOutcome::NotFound);
        };
        let cancelled = transition(
            &mut tx,
            id,
            &[BuildPhase::New, BuildPhase::Pending],
            BuildPhase::Cancelled,
            Some("cancelled by user before it started"),
            "cancelled by user",
        )
        .await?;
        if cancelled {
            cancel_queued_workers(&mut tx, id, "cancelled by user").await?;
            tx.commit().await?;
            return Ok(CancelOutcome::Cancelled);
        }
        let asked = sqlx::query(
            "UPDATE builds SET cancel_requested = 1 WHERE id = $1 AND phase = 'Running' AND cancel_requested = 0",
        )
        .bind(id)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        if asked {
            insert_event(&mut tx, id, None, "cancel requested by user").await?;
            cancel_queued_workers(&mut tx, id, "cancelled by user").await?;
        }
        let phase = self.phase_of(&mut tx, id).await?;
        tx.commit().await?;
        if phase.is_final() {
            Ok(CancelOutcome::AlreadyFinal(phase))
        } else {
            Ok(CancelOutcome::Requested)
        }
    }

    async fn cancel_requested(&self, id: BuildId) -> Result<bool> {
        let v: Option<i64> =
            sqlx::query_scalar("SELECT cancel_requested FROM builds WHERE id = $1")
                .bind(id)
                .fetch_optional(&self.pool)
                .await?;
        Ok(v.unwrap_or(0) != 0)
    }

    async fn recover_interrupted(&self) -> Result<Vec<(BuildId, RestartDecision)>> {
        // Several servers share the database: only the builds of servers
        // that stopped renewing their `server:` lease are interrupted —
        // a worker build still running under a dead server, or every
        // platform ended and the build not (its server died ending it).
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT id, attempts, cancel_requested FROM builds b WHERE phase = 'Running' AND (
               EXISTS (SELECT 1 FROM worker_builds w WHERE w.build_id = b.id AND w.phase = 'Running'
                       AND NOT {alive})
               OR (NOT EXISTS (SELECT 1 FROM worker_builds w WHERE w.build_id = b.id
                               AND w.phase IN ('Pending', 'Running'))
                   AND NOT EXISTS (SELECT 1 FROM worker_builds w WHERE w.build_id = b.id AND {alive})))
             ORDER BY id",
            alive = "EXISTS (SELECT 1 FROM leases l WHERE l.name = 'server:' || w.owner \
                     AND l.expires_ms >= (extract(epoch FROM clock_timestamp()) * 1000)::bigint)"
        )))
        .fetch_all(&self.pool)
        .await?;
        let mut out = Vec::new();
        for r in rows {
            let id: i64 = r.try_get("id")?;
            let attempts: i64 = r.try_get("attempts")?;
            let cancel: i64 = r.try_get("cancel_requested")?;
            let from = [BuildPhase::Running];
            let mut tx = self.pool.begin().await?;
            if cancel != 0 {
                if transition(
                    &mut tx,
                    id,
                    &from,
                    BuildPhase::Cancelled,
                    Some("cancelled by user"),
                    "cancelled (server restarted while stopping it)",
                )
                .await?
                {
                    end_workers(&mut tx, id, BuildPhase::Cancelled, "cancelled by user").await?;
                }
                tx.commit().await?;
                continue;
            }
            let decision = after_restart(u32::try_from(attempts).unwrap_or(u32::MAX));
            let changed = match decision {
                RestartDecision::Requeue => {
                    let changed = transition(
                        &mut tx,
                        id,
                        &from,
                        BuildPhase::Pending,
                        None,
                        "re-queued after server restart",
                    )
                    .await?;
                    if changed {
                        requeue_workers(&mut tx, id).await?;
                    }
                    changed
                }
                RestartDecision::GiveUp => {
                    let why = "interrupted by server restart";
                    let changed =
                        transition(&mut tx, id, &from, BuildPhase::Error, Some(why), why).await?;
                    if changed {
                        end_workers(&mut tx, id, BuildPhase::Error, why).await?;
                    }
                    changed
                }
            };
            tx.commit().await?;
            if changed {
                out.push((id, decision));
            }
        }
        Ok(out)
    }

    async fn gauges(&self) -> Result<Gauges> {
        let mut g = Gauges::default();
        for r in sqlx::query(
            "SELECT phase, coalesce(trigger_kind, 'manual') AS t, count(*) AS n FROM builds \
             GROUP BY 1, 2 ORDER BY 1, 2",
        )
        .fetch_all(&self.pool)
        .await?
        {
            let n: i64 = r.try_get("n")?;
            g.builds.push((
                r.try_get("phase")?,
                r.try_get("t")?,
                u64::try_from(n).unwrap_or(0),
            ));
        }
        let r = sqlx::query(
            "SELECT count(*) AS n, min(created_at) AS oldest FROM worker_builds WHERE phase = 'Pending'",
        )
        .fetch_one(&self.pool)
        .await?;
        let queued: i64 = r.try_get("n")?;
        g.queued_worker_builds = u64::try_from(queued).unwrap_or(0);
        g.oldest_queued = r
            .try_get::<Option<jiff_sqlx::Timestamp>, _>("oldest")?
            .map(|t| t.to_jiff());
        let bytes: i64 = sqlx::query_scalar(
            "SELECT coalesce(sum(size), 0)::bigint FROM \
             (SELECT max(size) AS size FROM registry_blob_links GROUP BY digest) s",
        )
        .fetch_one(&self.pool)
        .await?;
        g.blob_bytes = u64::try_from(bytes).unwrap_or(0);
        Ok(g)
    }
}

/// The releases taken for `version` in `repository`, with their builds
/// (see the SQLite twin).
async fn taken_in(
    conn: &mut sqlx::PgConnection,
    repository: &str,
    name: &str,
    version: &str,
) -> Result<Vec<(String, i64)>> {
    sqlx::query(
        "SELECT release, build_id FROM repository_releases WHERE repository = $1 AND version = $2 \
         UNION SELECT release, build_id FROM releases WHERE name = $3 AND version = $2",
    )
    .bind(repository)
    .bind(version)
    .bind(name)
    .fetch_all(&mut *conn)
    .await?
    .iter()
    .map(|row| Ok((row.try_get("release")?, row.try_get("build_id")?)))
    .collect()
}
