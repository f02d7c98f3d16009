//! Builds and API tokens in the SQLite store: the `Store` trait.

//! The SQLite [`Store`]: one file in the data directory, WAL mode.

use crate::seal::{Column, Sealer};
use crate::sqlite::{from_json, insert_event, now, parse_phase, parse_time, to_json, transition};
use crate::{CancelOutcome, Queued, Result, SqliteStore, Store, StoreError};
use async_trait::async_trait;
use slipway_core::api::{BuildQuery, BuildSummary};
use slipway_core::build::StageTiming;
use slipway_core::build::conventions::{LintReport, Preparation, RepoConfig};
use slipway_core::build::phase::{RestartDecision, after_restart};
use slipway_core::{Build, BuildEvent, BuildId, BuildPhase, BuildSpec, PushedImage};
use sqlx::Row;
use sqlx::sqlite::SqliteRow;

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

    async fn load_events(&self, id: BuildId) -> Result<Vec<BuildEvent>> {
        let rows = sqlx::query(
            "SELECT at, phase, message FROM build_events WHERE build_id = ? ORDER BY id",
        )
        .bind(id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let phase: Option<String> = r.try_get("phase")?;
                Ok(BuildEvent {
                    at: parse_time(r.try_get("at")?)?,
                    phase: phase.map(|p| parse_phase(&p)).transpose()?,
                    message: r.try_get("message")?,
                })
            })
            .collect()
    }

    async fn load_workers(&self, id: BuildId) -> Result<Vec<slipway_core::WorkerBuild>> {
        sqlx::query("SELECT * FROM worker_builds WHERE build_id = ? ORDER BY id")
            .bind(id)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(crate::workers::worker_from_row)
            .collect()
    }

    async fn build_from_row(&self, r: &SqliteRow) -> Result<Build> {
        let id: i64 = r.try_get("id")?;
        let spec = self
            .sealer
            .open(Column::BuildSpec, &r.try_get::<String, _>("spec")?)?;
        let image: Option<String> = r.try_get("image")?;
        let stages: String = r.try_get("stages")?;
        let started: Option<String> = r.try_get("started_at")?;
        let finished: Option<String> = r.try_get("finished_at")?;
        let attempts: i64 = r.try_get("attempts")?;
        let lint: Option<String> = r.try_get("lint")?;
        let repo_config: Option<String> = r.try_get("repo_config")?;
        Ok(Build {
            id,
            phase: parse_phase(&r.try_get::<String, _>("phase")?)?,
            reason: r.try_get("reason")?,
            spec: from_json(&spec)?,
            commit: r.try_get("git_commit")?,
            image: image.as_deref().map(from_json).transpose()?,
            stages: from_json(&stages)?,
            events: self.load_events(id).await?,
            attempts: u32::try_from(attempts).unwrap_or(0),
            workers: self.load_workers(id).await?,
            lint: lint.as_deref().map(from_json).transpose()?,
            repo_config: repo_config.as_deref().map(from_json).transpose()?,
            created_at: parse_time(r.try_get("created_at")?)?,
            started_at: started.map(parse_time).transpose()?,
            finished_at: finished.map(parse_time).transpose()?,
        })
    }
}

/// The parts of a stored spec a summary shows.
#[derive(serde::Deserialize)]
struct SpecHead {
    source: slipway_core::build::SourceSpec,
    output: slipway_core::ImageRef,
    #[serde(default)]
    trigger: Option<slipway_core::rebuild::trigger::Trigger>,
}

fn summary_from_row(r: &SqliteRow, sealer: &Sealer) -> Result<BuildSummary> {
    let spec: SpecHead =
        from_json(&sealer.open(Column::BuildSpec, &r.try_get::<String, _>("spec")?)?)?;
    let image: Option<String> = r.try_get("image")?;
    let started: Option<String> = r.try_get("started_at")?;
    let finished: Option<String> = r.try_get("finished_at")?;
    Ok(BuildSummary {
        id: r.try_get("id")?,
        phase: parse_phase(&r.try_get::<String, _>("phase")?)?,
        config: r.try_get("config")?,
        trigger: spec
            .trigger
            .as_ref()
            .map_or("manual", |t| t.kind())
            .to_string(),
        source: spec.source.location.redacted(),
        output: spec.output.to_string(),
        image: image
            .as_deref()
            .map(from_json::<PushedImage>)
            .transpose()?
            .map(|i| i.reference),
        reason: r.try_get("reason")?,
        created_at: parse_time(r.try_get("created_at")?)?,
        started_at: started.map(parse_time).transpose()?,
        finished_at: finished.map(parse_time).transpose()?,
    })
}

#[async_trait]
impl Store for SqliteStore {
    async fn create_build(&self, spec: &BuildSpec) -> Result<Build> {
        let mut tx = self.pool.begin().await?;
        let id: i64 = sqlx::query(
            "INSERT INTO builds (phase, spec, created_at, config) VALUES (?, ?, ?, ?) RETURNING id",
        )
        .bind(BuildPhase::New.as_str())
        .bind(self.sealer.seal(Column::BuildSpec, to_json(spec)?)?)
        .bind(now())
        .bind(spec.config.as_deref())
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
        let release = match &prep.identity {
            None => None,
            Some(ident) => match &prep.spec.release {
                Some(r) => {
                    let holder: Option<i64> = sqlx::query(
                        "SELECT build_id FROM releases WHERE name = ? AND version = ? AND release = ?",
                    )
                    .bind(&ident.name)
                    .bind(&ident.version)
                    .bind(r)
                    .fetch_optional(&mut *tx)
                    .await?
                    .map(|row| row.try_get("build_id"))
                    .transpose()?;
                    if let Some(b) = holder {
                        return Ok(Queued::Refused(format!(
                            "release {r} of {} {} already exists (build {b}); give another release, or none to get the next free one",
                            ident.name, ident.version
                        )));
                    }
                    Some(r.clone())
                }
                None => {
                    let taken: Vec<String> =
                        sqlx::query("SELECT release FROM releases WHERE name = ? AND version = ?")
                            .bind(&ident.name)
                            .bind(&ident.version)
                            .fetch_all(&mut *tx)
                            .await?
                            .iter()
                            .map(|row| row.try_get("release"))
                            .collect::<Result<_, _>>()?;
                    Some(slipway_core::build::conventions::next_release(
                        taken.iter().map(String::as_str),
                    ))
                }
            },
        };
        let spec = match prep.complete(release.as_deref()) {
            Ok(spec) => spec,
            Err(e) => return Ok(Queued::Refused(e)),
        };
        if let (Some(ident), Some(r)) = (&prep.identity, &release) {
            sqlx::query(
                "INSERT INTO releases (name, version, release, build_id) VALUES (?, ?, ?, ?)",
            )
            .bind(&ident.name)
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
        crate::workers::create_workers(&mut tx, id, &spec.platforms, spec.priority).await?;
        tx.commit().await?;
        let build = self
            .get_build(id)
            .await?
            .ok_or_else(|| StoreError::Corrupt(format!("build {id} vanished when queued")))?;
        Ok(Queued::Queued(Box::new(build)))
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

    async fn get_build(&self, id: BuildId) -> Result<Option<Build>> {
        let row = sqlx::query("SELECT * FROM builds WHERE id = ?")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        match row {
            Some(r) => Ok(Some(self.build_from_row(&r).await?)),
            None => Ok(None),
        }
    }

    async fn list_builds(&self, q: &BuildQuery) -> Result<Vec<BuildSummary>> {
        // Columns only, no events, workers or stages: a list of a thousand
        // builds is one indexed range scan.
        let rows = sqlx::query(
            "SELECT id, phase, reason, config, spec, image, created_at, started_at, finished_at FROM builds
             WHERE (? IS NULL OR id < ?) AND (? IS NULL OR config = ?)
             ORDER BY id DESC LIMIT ?",
        )
        .bind(q.before)
        .bind(q.before)
        .bind(q.config.as_deref())
        .bind(q.config.as_deref())
        .bind(i64::from(q.limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| summary_from_row(r, &self.sealer))
            .collect()
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
            crate::workers::cancel_queued_workers(&mut tx, id, "the build ended").await?;
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
            crate::workers::cancel_queued_workers(&mut tx, id, "cancelled by user").await?;
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
            crate::workers::cancel_queued_workers(&mut tx, id, "cancelled by user").await?;
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
                crate::workers::end_workers(
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
                    crate::workers::requeue_workers(&mut tx, id).await?;
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
                    crate::workers::end_workers(
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

    async fn add_token(&self, name: &str, token_hash: &str) -> Result<()> {
        sqlx::query("INSERT INTO api_tokens (name, token_hash, created_at) VALUES (?, ?, ?)")
            .bind(name)
            .bind(token_hash)
            .bind(now())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn token_name(&self, token_hash: &str) -> Result<Option<String>> {
        self.optional_text(
            "SELECT name FROM api_tokens WHERE token_hash = ?",
            &[token_hash],
            "name",
        )
        .await
    }

    async fn token_count(&self) -> Result<u64> {
        let n: i64 = sqlx::query("SELECT COUNT(*) AS n FROM api_tokens")
            .fetch_one(&self.pool)
            .await?
            .try_get("n")?;
        Ok(u64::try_from(n).unwrap_or(0))
    }
}
