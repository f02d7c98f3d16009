//! Builds and API tokens in the SQLite store: the `Store` trait.

//! The SQLite [`Store`]: one file in the data directory, WAL mode.

use crate::seal::Column;
use crate::sqlite::{from_json, insert_event, now, parse_phase, parse_time, to_json, transition};
use crate::{CancelOutcome, Queued, Result, SqliteStore, Store, StoreError};
use async_trait::async_trait;
use slipway_core::api::{BuildQuery, BuildSummary};
use slipway_core::build::StageTiming;
use slipway_core::build::conventions::{LintReport, Preparation, RepoConfig};
use slipway_core::build::phase::{RestartDecision, after_restart};
use slipway_core::{Build, BuildId, BuildPhase, BuildSpec, PushedImage};
use sqlx::Row;

impl SqliteStore {
    /// The text column `column` of the first row `sql` returns for `args`.
    pub(crate) async fn optional_text(
        &self,
        sql: &'static str,
        args: &[&str],
        column: &str,
    ) -> Result<Option<String>> {
        let mut q = sqlx::query(sql);
        for a in args {
            q = q.bind(*a);
        }
        Ok(q.fetch_optional(&self.pool)
            .await?
            .map(|r| r.try_get(column))
            .transpose()?)
    }

    /// A build from a row of [`BUILD_QUERY`]: its events and worker builds
    /// come as JSON arrays in the same row, so a build is one query (every
    /// row crosses a channel from SQLite's thread, which costs more than
    /// building the JSON there).
    fn build_from_row(&self, r: &rusqlite::Row<'_>) -> Result<Build> {
        let text = |c: &str| -> Result<String> { Ok(r.get::<_, String>(c)?) };
        let opt = |c: &str| -> Result<Option<String>> { Ok(r.get::<_, Option<String>>(c)?) };
        let spec = self.sealer.open(Column::BuildSpec, &text("spec")?)?;
        let mut spec: BuildSpec = from_json(&spec)?;
        // The column decides: a project made later adopts builds.
        spec.project = Some(text("project")?);
        let attempts: i64 = r.get("attempts")?;
        Ok(Build {
            id: r.get("id")?,
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
            created_at: parse_time(text("created_at")?)?,
            started_at: opt("started_at")?.map(parse_time).transpose()?,
            finished_at: opt("finished_at")?.map(parse_time).transpose()?,
        })
    }
}

/// One build with its events and worker builds, in one row.
const BUILD_QUERY: &str = "SELECT b.*,
    (SELECT json_group_array(json_object('at', at, 'phase', phase, 'message', message) ORDER BY id)
       FROM build_events WHERE build_id = b.id) AS events_json,
    (SELECT json_group_array(json_object(
         'id', id, 'build_id', build_id, 'platform', platform, 'priority', priority,
         'phase', phase, 'cluster', cluster, 'tried', json(tried), 'reason', reason,
         'image', json(image), 'created_at', created_at, 'started_at', started_at,
         'finished_at', finished_at) ORDER BY id)
       FROM worker_builds WHERE build_id = b.id) AS workers_json
  FROM builds b WHERE b.id = ?";

/// A page of build summaries as one JSON array.
const LIST_QUERY: &str = "SELECT count(*), min(id), json_group_array(json_object(
         'id', id, 'phase', phase, 'config', config, 'trigger', coalesce(trigger_kind, 'manual'),
         'source', coalesce(source_shown, ''), 'output', coalesce(output, ''),
         'image', json_extract(image, '$.reference'), 'reason', reason,
         'created_at', strftime('%Y-%m-%dT%H:%M:%SZ', created_at),
         'started_at', strftime('%Y-%m-%dT%H:%M:%SZ', started_at),
         'finished_at', strftime('%Y-%m-%dT%H:%M:%SZ', finished_at),
         'project', project
     ) ORDER BY id DESC) AS page
     FROM (SELECT * FROM builds
           WHERE (?1 IS NULL OR id < ?2) AND (?3 IS NULL OR config = ?4)
             AND (?6 IS NULL OR project IN (SELECT value FROM json_each(?6)))
             AND (?7 IS NULL OR phase = ?7)
             AND (?8 IS NULL OR coalesce(trigger_kind, 'manual') = ?8)
           ORDER BY id DESC LIMIT ?5)";

#[async_trait]
impl Store for SqliteStore {
    async fn create_build(&self, spec: &BuildSpec) -> Result<Build> {
        let mut tx = self.pool.begin().await?;
        let id: i64 = sqlx::query(
            "INSERT INTO builds (phase, spec, created_at, config, source_shown, output, trigger_kind, project)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
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
        .await?
        .try_get("id")?;
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
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        // Releases are counted per repository (and version): a primary tag
        // `{version}-{release}` is never reused within one.
        let repository = prep.spec.output.name();
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
        if let (Some(ident), Some(r)) = (&prep.identity, &release) {
            sqlx::query(
                "INSERT INTO repository_releases (repository, version, release, build_id) VALUES (?, ?, ?, ?)",
            )
            .bind(&repository)
            .bind(&ident.version)
            .bind(r)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        }
        sqlx::query(
            "UPDATE builds SET spec = ?, lint = ?, repo_config = ?, input_key = ? WHERE id = ?",
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
            let phase: String = sqlx::query("SELECT phase FROM builds WHERE id = ?")
                .bind(id)
                .fetch_one(&mut *tx)
                .await?
                .try_get("phase")?;
            return Ok(Queued::NotNew(parse_phase(&phase)?));
        }
        crate::sqlite::workers::create_workers(&mut tx, id, &spec.platforms, spec.priority).await?;
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
            sqlx::query("UPDATE builds SET lint = ?, repo_config = ? WHERE id = ?")
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
            sqlx::query("UPDATE builds SET spec = ?, input_key = ? WHERE id = ?")
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
        let rows = sqlx::query("SELECT id FROM builds WHERE phase = 'New' ORDER BY id")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| r.try_get("id").map_err(StoreError::from))
            .collect()
    }

    async fn set_metadata(&self, id: BuildId, metadata: &serde_json::Value) -> Result<()> {
        sqlx::query("UPDATE builds SET metadata = ? WHERE id = ?")
            .bind(to_json(metadata)?)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn metadata(&self, id: BuildId) -> Result<Option<serde_json::Value>> {
        let v: Option<Option<String>> = sqlx::query("SELECT metadata FROM builds WHERE id = ?")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .map(|r| r.try_get("metadata"))
            .transpose()?;
        v.flatten().as_deref().map(from_json).transpose()
    }

    async fn gauges(&self) -> Result<crate::Gauges> {
        self.read_gauges()
    }

    async fn get_build(&self, id: BuildId) -> Result<Option<Build>> {
        // A synchronous read (see `read`): no trip through the runtime.
        self.reads.with(|c| {
            let mut q = c.prepare_cached(BUILD_QUERY)?;
            let mut rows = q.query([id])?;
            match rows.next()? {
                Some(r) => Ok(Some(self.build_from_row(r)?)),
                None => Ok(None),
            }
        })
    }

    async fn list_builds(&self, q: &BuildQuery) -> Result<Vec<BuildSummary>> {
        from_json(&self.list_builds_json(q).await?.json)
    }

    async fn list_builds_json(&self, q: &BuildQuery) -> Result<crate::BuildPage> {
        // Columns only (no events, workers, stages or sealed spec), made
        // into one JSON array by SQLite, read synchronously (see `read`),
        // and answered as it is.
        self.reads.with(|c| {
            let mut stmt = c.prepare_cached(LIST_QUERY)?;
            Ok(stmt.query_row(
                rusqlite::params![
                    q.before,
                    q.before,
                    q.config.as_deref(),
                    q.config.as_deref(),
                    i64::from(q.limit),
                    q.projects
                        .as_ref()
                        .map(|p| serde_json::Value::from(p.clone()).to_string()),
                    q.phase.map(|p| p.as_str()),
                    q.trigger.as_deref(),
                ],
                |r| {
                    Ok(crate::BuildPage {
                        count: r.get::<_, i64>(0)?.try_into().unwrap_or(0),
                        last: r.get(1)?,
                        json: r.get(2)?,
                    })
                },
            )?)
        })
    }

    async fn record_event(&self, id: BuildId, message: &str) -> Result<()> {
        let mut conn = self.pool.acquire().await?;
        insert_event(&mut conn, id, None, message).await
    }

    async fn set_commit_once(&self, id: BuildId, commit: &str) -> Result<String> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        sqlx::query("UPDATE builds SET git_commit = ? WHERE id = ? AND git_commit IS NULL")
            .bind(commit)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        let stored: Option<String> = sqlx::query("SELECT git_commit FROM builds WHERE id = ?")
            .bind(id)
            .fetch_one(&mut *tx)
            .await?
            .try_get("git_commit")?;
        tx.commit().await?;
        stored.ok_or_else(|| StoreError::Corrupt(format!("build {id} lost its commit")))
    }

    async fn record_stage(&self, id: BuildId, timing: StageTiming) -> Result<()> {
        // Worker builds of several platforms write here: read-modify-write
        // under the write lock.
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let stages: String = sqlx::query("SELECT stages FROM builds WHERE id = ?")
            .bind(id)
            .fetch_one(&mut *tx)
            .await?
            .try_get("stages")?;
        let mut list: Vec<StageTiming> = from_json(&stages)?;
        list.retain(|t| t.stage != timing.stage);
        list.push(timing);
        list.sort_by_key(|t| t.stage);
        sqlx::query("UPDATE builds SET stages = ? WHERE id = ?")
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
            crate::sqlite::workers::cancel_queued_workers(&mut tx, id, "the build ended").await?;
        }
        if changed && let Some(image) = image {
            sqlx::query("UPDATE builds SET image = ? WHERE id = ?")
                .bind(to_json(image)?)
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(changed)
    }

    async fn request_cancel(&self, id: BuildId) -> Result<CancelOutcome> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
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
            crate::sqlite::workers::cancel_queued_workers(&mut tx, id, "cancelled by user").await?;
            tx.commit().await?;
            return Ok(CancelOutcome::Cancelled);
        }
        let asked = sqlx::query(
            "UPDATE builds SET cancel_requested = 1 WHERE id = ? AND phase = 'Running' AND cancel_requested = 0",
        )
        .bind(id)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        if asked {
            insert_event(&mut tx, id, None, "cancel requested by user").await?;
            crate::sqlite::workers::cancel_queued_workers(&mut tx, id, "cancelled by user").await?;
        }
        let phase: Option<String> = sqlx::query("SELECT phase FROM builds WHERE id = ?")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?
            .map(|r| r.try_get("phase"))
            .transpose()?;
        tx.commit().await?;
        match phase {
            None => Ok(CancelOutcome::NotFound),
            Some(p) => {
                let p = parse_phase(&p)?;
                if p.is_final() {
                    Ok(CancelOutcome::AlreadyFinal(p))
                } else {
                    Ok(CancelOutcome::Requested)
                }
            }
        }
    }

    async fn cancel_requested(&self, id: BuildId) -> Result<bool> {
        let v: Option<i64> = sqlx::query("SELECT cancel_requested FROM builds WHERE id = ?")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .map(|r| r.try_get("cancel_requested"))
            .transpose()?;
        Ok(v.unwrap_or(0) != 0)
    }

    async fn recover_interrupted(&self) -> Result<Vec<(BuildId, RestartDecision)>> {
        // New builds are not interrupted work: the server prepares them again.
        let rows = sqlx::query(
            "SELECT id, attempts, cancel_requested FROM builds WHERE phase = 'Running' ORDER BY id",
        )
        .fetch_all(&self.pool)
        .await?;
        let mut out = Vec::new();
        for r in rows {
            let id: i64 = r.try_get("id")?;
            let attempts: i64 = r.try_get("attempts")?;
            let cancel: i64 = r.try_get("cancel_requested")?;
            let from = [BuildPhase::Running];
            let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
            if cancel != 0 {
                transition(
                    &mut tx,
                    id,
                    &from,
                    BuildPhase::Cancelled,
                    Some("cancelled by user"),
                    "cancelled (server restarted while stopping it)",
                )
                .await?;
                crate::sqlite::workers::end_workers(
                    &mut tx,
                    id,
                    BuildPhase::Cancelled,
                    "cancelled by user",
                )
                .await?;
                tx.commit().await?;
                continue;
            }
            let decision = after_restart(u32::try_from(attempts).unwrap_or(u32::MAX));
            match decision {
                RestartDecision::Requeue => {
                    transition(
                        &mut tx,
                        id,
                        &from,
                        BuildPhase::Pending,
                        None,
                        "re-queued after server restart",
                    )
                    .await?;
                    crate::sqlite::workers::requeue_workers(&mut tx, id).await?;
                }
                RestartDecision::GiveUp => {
                    transition(
                        &mut tx,
                        id,
                        &from,
                        BuildPhase::Error,
                        Some("interrupted by server restart"),
                        "interrupted by server restart",
                    )
                    .await?;
                    crate::sqlite::workers::end_workers(
                        &mut tx,
                        id,
                        BuildPhase::Error,
                        "interrupted by server restart",
                    )
                    .await?;
                }
            }
            tx.commit().await?;
            out.push((id, decision));
        }
        Ok(out)
    }
}

/// The releases taken for `version` in `repository`, with their builds:
/// those recorded per repository, and those recorded per name label
/// before releases were counted per repository (still taken).
async fn taken_in(
    conn: &mut sqlx::SqliteConnection,
    repository: &str,
    name: &str,
    version: &str,
) -> Result<Vec<(String, i64)>> {
    sqlx::query(
        "SELECT release, build_id FROM repository_releases WHERE repository = ? AND version = ? \
         UNION SELECT release, build_id FROM releases WHERE name = ? AND version = ?",
    )
    .bind(repository)
    .bind(version)
    .bind(name)
    .bind(version)
    .fetch_all(&mut *conn)
    .await?
    .iter()
    .map(|row| Ok((row.try_get("release")?, row.try_get("build_id")?)))
    .collect()
}
