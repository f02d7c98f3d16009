//! Image configs, their events, rebuild waves and history limits on
//! PostgreSQL (see [`RebuildStore`]).
//!
//! Several servers share the database, so what SQLite's single writer
//! (`BEGIN IMMEDIATE`) made safe is made safe here by locks, at READ
//! COMMITTED:
//!
//! - Transaction-scoped advisory locks (`rebuild_rows::CONFIGS_LOCK`,
//!   `WAVES_LOCK`) where the decision rests on rows that may not exist
//!   yet, which `SELECT … FOR UPDATE` cannot lock: `apply_configs` decides
//!   "created" for a name nobody has, `add_trigger` opens a wave when no
//!   gathering one exists, `prune_history` decides on the absence of a
//!   running wave holding a build. `start_wave` takes `WAVES_LOCK` too
//!   (no trigger joins while members are written), `set_member` takes it
//!   shared (members change side by side, but not during a prune). Each
//!   statement after the lock is taken reads what the previous holder
//!   committed. These are short, rare writes, so one lock per area costs
//!   nothing noticeable.
//! - `SELECT … FOR UPDATE` on the rows decided on besides: the config rows
//!   `apply_configs` compares (so a concurrent `set_base_images` is not
//!   lost under an "unchanged"), the wave `start_wave` starts. A wave no
//!   longer Gathering is left as it is (SQLite would write its members
//!   again): a second server that saw it due does not reset its progress.
//! - Single statements (`set_poll_state`, `finish_wave`, the conditional
//!   UPDATE of `cancel_superseded`) need no more than their row lock.
//!
//! Gathering windows are opened and closed by the database's clock
//! (`clock_timestamp()` once the lock is held, `now()` in `due_waves`),
//! so servers with skewed clocks agree on which waves are due, and a
//! trigger joins a wave a server already saw as due only as latest-only
//! does by design (replacing the trigger of a root it has).

use super::rebuild_rows::{
    CONFIGS_LOCK, WAVES_LOCK, config_from_row, lock, prune_candidates, waves_from_rows, waves_query,
};
use super::{PgStore, at, now, phase, time};
use crate::codec::{from_json, to_json};
use crate::rebuilds::*;
use crate::seal::Column;
use crate::{Result, StoreError};
use async_trait::async_trait;
use jiff::{SignedDuration, Timestamp};
use slipway_core::api::ApplyResponse;
use slipway_core::rebuild::image_config::{HistoryLimits, ImageConfig};
use slipway_core::rebuild::trigger::Trigger;
use slipway_core::rebuild::{MemberState, Wave, WaveMemberRecord};
use slipway_core::{BuildId, BuildPhase};
use sqlx::Row;
use std::collections::HashMap;

#[async_trait]
impl RebuildStore for PgStore {
    async fn apply_configs(
        &self,
        configs: &[ConfigWrite],
        delete: &[String],
    ) -> Result<ApplyResponse> {
        let mut tx = self.pool.begin().await?;
        // One apply at a time: two creating one name would both see none.
        lock(&mut tx, CONFIGS_LOCK, false).await?;
        let mut out = ApplyResponse::default();
        let at = now();
        for w in configs {
            let name = &w.config.name;
            let old: Option<(String, String)> = sqlx::query(
                "SELECT spec, base_images FROM image_configs WHERE name = $1 FOR UPDATE",
            )
            .bind(name)
            .fetch_optional(&mut *tx)
            .await?
            .map(|r| Ok::<_, sqlx::Error>((r.try_get("spec")?, r.try_get("base_images")?)))
            .transpose()?;
            let spec = self.sealer.seal(Column::ConfigSpec, to_json(&w.config)?)?;
            let base = to_json(&w.base_images)?;
            match old {
                None => {
                    sqlx::query(
                        "INSERT INTO image_configs (name, spec, base_images, base_commit, created_at, updated_at)
                         VALUES ($1, $2, $3, $4, $5, $5)",
                    )
                    .bind(name)
                    .bind(&spec)
                    .bind(&base)
                    .bind(w.base_commit.as_deref())
                    .bind(at)
                    .execute(&mut *tx)
                    .await?;
                    out.created.push(name.clone());
                }
                Some((old_spec, old_base)) => {
                    let old_config: ImageConfig =
                        from_json(&self.sealer.open(Column::ConfigSpec, &old_spec)?)?;
                    if old_config == w.config && old_base == base {
                        out.unchanged.push(name.clone());
                        continue;
                    }
                    // A changed schedule or poll interval is recomputed by
                    // the trigger loop.
                    sqlx::query(
                        "UPDATE image_configs SET spec = $1, base_images = $2,
                           base_commit = COALESCE($3, base_commit), updated_at = $4,
                           next_poll_at = NULL, next_schedule_at = NULL, next_rescan_at = NULL
                         WHERE name = $5",
                    )
                    .bind(&spec)
                    .bind(&base)
                    .bind(w.base_commit.as_deref())
                    .bind(at)
                    .bind(name)
                    .execute(&mut *tx)
                    .await?;
                    out.updated.push(name.clone());
                }
            }
        }
        for n in delete {
            if configs.iter().any(|w| &w.config.name == n) {
                continue;
            }
            let gone = sqlx::query("DELETE FROM image_configs WHERE name = $1")
                .bind(n)
                .execute(&mut *tx)
                .await?;
            if gone.rows_affected() > 0 {
                out.deleted.push(n.clone());
            }
        }
        for (list, what) in [
            (&out.created, "created by apply"),
            (&out.updated, "updated by apply"),
            (&out.deleted, "deleted by apply --prune"),
        ] {
            for n in list {
                sqlx::query("INSERT INTO config_events (config, at, message) VALUES ($1, $2, $3)")
                    .bind(n)
                    .bind(at)
                    .bind(what)
                    .execute(&mut *tx)
                    .await?;
            }
        }
        tx.commit().await?;
        Ok(out)
    }

    async fn list_configs(&self) -> Result<Vec<StoredConfig>> {
        sqlx::query("SELECT * FROM image_configs ORDER BY name COLLATE \"C\"")
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|r| config_from_row(r, &self.sealer))
            .collect()
    }

    async fn get_config(&self, name: &str) -> Result<Option<StoredConfig>> {
        sqlx::query("SELECT * FROM image_configs WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(|r| config_from_row(r, &self.sealer))
            .transpose()
    }

    async fn delete_config(&self, name: &str) -> Result<bool> {
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query("DELETE FROM image_configs WHERE name = $1")
            .bind(name)
            .execute(&mut *tx)
            .await?
            .rows_affected()
            == 1;
        if done {
            sqlx::query(
                "INSERT INTO config_events (config, at, message) VALUES ($1, $2, 'deleted')",
            )
            .bind(name)
            .bind(now())
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(done)
    }

    async fn set_base_images(
        &self,
        name: &str,
        base_images: &[String],
        commit: &str,
    ) -> Result<()> {
        sqlx::query("UPDATE image_configs SET base_images = $1, base_commit = $2 WHERE name = $3")
            .bind(to_json(&base_images)?)
            .bind(commit)
            .bind(name)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn set_poll_state(
        &self,
        name: &str,
        head: Option<&str>,
        next_at: Option<Timestamp>,
    ) -> Result<()> {
        sqlx::query(
            "UPDATE image_configs SET poll_head = COALESCE($1, poll_head), next_poll_at = $2
             WHERE name = $3",
        )
        .bind(head)
        .bind(next_at.map(at))
        .bind(name)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn set_next_schedule(&self, name: &str, next_at: Option<Timestamp>) -> Result<()> {
        sqlx::query("UPDATE image_configs SET next_schedule_at = $1 WHERE name = $2")
            .bind(next_at.map(at))
            .bind(name)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn record_config_event(
        &self,
        config: &str,
        message: &str,
        build: Option<BuildId>,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO config_events (config, at, message, build_id) VALUES ($1, $2, $3, $4)",
        )
        .bind(config)
        .bind(now())
        .bind(message)
        .bind(build)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn config_events(
        &self,
        config: &str,
        limit: u32,
    ) -> Result<Vec<(Timestamp, String, Option<BuildId>)>> {
        let rows = sqlx::query(
            "SELECT at, message, build_id FROM config_events WHERE config = $1
             ORDER BY id DESC LIMIT $2",
        )
        .bind(config)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        let mut out = rows
            .iter()
            .map(|r| {
                Ok((
                    time(r, "at")?,
                    r.try_get("message")?,
                    r.try_get("build_id")?,
                ))
            })
            .collect::<Result<Vec<_>>>()?;
        out.reverse();
        Ok(out)
    }

    async fn add_trigger(
        &self,
        config: &str,
        trigger: &Trigger,
        force: bool,
        debounce: SignedDuration,
        latest_only: bool,
    ) -> Result<i64> {
        let mut tx = self.pool.begin().await?;
        // Exclusive: with no gathering wave, two triggers would each open
        // one (there is no row to lock FOR UPDATE); and `start_wave` must
        // not start a wave between our choosing it and joining it.
        lock(&mut tx, WAVES_LOCK, false).await?;
        let mut open: Option<i64> = sqlx::query(
            "SELECT id FROM waves WHERE state = 'Gathering' AND gather_until > clock_timestamp()
             ORDER BY id LIMIT 1",
        )
        .fetch_optional(&mut *tx)
        .await?
        .map(|r| r.try_get("id"))
        .transpose()?;
        if open.is_none() && latest_only {
            open = sqlx::query(
                "SELECT w.id FROM waves w JOIN wave_members m ON m.wave_id = w.id
                 WHERE w.state = 'Gathering' AND m.config = $1 AND m.root = 1
                 ORDER BY w.id DESC LIMIT 1",
            )
            .bind(config)
            .fetch_optional(&mut *tx)
            .await?
            .map(|r| r.try_get("id"))
            .transpose()?;
        }
        let wave = match open {
            Some(id) => id,
            None => {
                // Within what an interval holds (a window of years is
                // as good as none closing).
                let secs = debounce.as_secs_f64().clamp(-1e9, 1e9);
                sqlx::query(
                    "INSERT INTO waves (state, created_at, gather_until)
                     SELECT 'Gathering', t, t + make_interval(secs => $1)
                     FROM (SELECT clock_timestamp() AS t) c
                     RETURNING id",
                )
                .bind(secs)
                .fetch_one(&mut *tx)
                .await?
                .try_get("id")?
            }
        };
        sqlx::query(
            "INSERT INTO wave_members (wave_id, position, config, root, trigger, force, state)
             VALUES ($1, 0, $2, 1, $3, $4, $5)
             ON CONFLICT (wave_id, config) DO UPDATE SET trigger = EXCLUDED.trigger,
               force = GREATEST(wave_members.force, EXCLUDED.force)",
        )
        .bind(wave)
        .bind(config)
        .bind(to_json(trigger)?)
        .bind(i64::from(force))
        .bind(to_json(&MemberState::Waiting)?)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(wave)
    }

    async fn due_waves(&self) -> Result<Vec<Wave>> {
        let rows = sqlx::query(waves_query!(
            "SELECT * FROM waves WHERE state = 'Running'
               OR (state = 'Gathering' AND gather_until <= now())",
            "w.id"
        ))
        .fetch_all(&self.pool)
        .await?;
        waves_from_rows(&rows)
    }

    async fn get_wave(&self, id: i64) -> Result<Option<Wave>> {
        let rows = sqlx::query(waves_query!("SELECT * FROM waves WHERE id = $1", "w.id"))
            .bind(id)
            .fetch_all(&self.pool)
            .await?;
        Ok(waves_from_rows(&rows)?.pop())
    }

    async fn list_waves(&self, limit: u32) -> Result<Vec<Wave>> {
        let rows = sqlx::query(waves_query!(
            "SELECT * FROM waves ORDER BY id DESC LIMIT $1",
            "w.id DESC"
        ))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        waves_from_rows(&rows)
    }

    async fn start_wave(&self, id: i64, members: &[WaveMemberRecord]) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        // Exclusive: no trigger joins while the members are written, and
        // no prune decides meanwhile on the builds they hold.
        lock(&mut tx, WAVES_LOCK, false).await?;
        let state: Option<String> =
            sqlx::query_scalar("SELECT state FROM waves WHERE id = $1 FOR UPDATE")
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?;
        // Started already (by another server that saw it due too): its
        // members' progress is not reset.
        if state.as_deref() != Some("Gathering") {
            return Ok(());
        }
        for (position, m) in members.iter().enumerate() {
            sqlx::query(
                "INSERT INTO wave_members (wave_id, position, config, root, trigger, force, state,
                   build_id, previous_digest, reason)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
                 ON CONFLICT (wave_id, config) DO UPDATE SET position = EXCLUDED.position,
                   state = EXCLUDED.state, previous_digest = EXCLUDED.previous_digest,
                   reason = EXCLUDED.reason",
            )
            .bind(id)
            .bind(
                i64::try_from(position)
                    .map_err(|_| StoreError::Corrupt("a wave too large".into()))?,
            )
            .bind(&m.config)
            .bind(i64::from(m.root))
            .bind(m.trigger.as_ref().map(to_json).transpose()?)
            .bind(i64::from(m.force))
            .bind(to_json(&m.state)?)
            .bind(m.build)
            .bind(m.previous_digest.as_deref())
            .bind(m.reason.as_deref())
            .execute(&mut *tx)
            .await?;
        }
        sqlx::query("UPDATE waves SET state = 'Running', started_at = $1 WHERE id = $2")
            .bind(now())
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn set_member(
        &self,
        wave: i64,
        config: &str,
        state: MemberState,
        build: Option<BuildId>,
        reason: Option<&str>,
    ) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        // Shared: members change side by side (each UPDATE holds its row),
        // but not while a prune decides which builds no running wave holds.
        lock(&mut tx, WAVES_LOCK, true).await?;
        sqlx::query(
            "UPDATE wave_members SET state = $1, build_id = COALESCE($2, build_id),
               reason = COALESCE($3, reason)
             WHERE wave_id = $4 AND config = $5",
        )
        .bind(to_json(&state)?)
        .bind(build)
        .bind(reason)
        .bind(wave)
        .bind(config)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn finish_wave(&self, id: i64) -> Result<()> {
        // One statement; finishing only lets more builds be pruned, so a
        // prune running meanwhile errs on the side of keeping.
        sqlx::query("UPDATE waves SET state = 'Done', finished_at = $1 WHERE id = $2")
            .bind(now())
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn last_complete_build(
        &self,
        config: &str,
    ) -> Result<Option<(BuildId, Option<String>, Option<String>)>> {
        let row = sqlx::query(
            "SELECT id, input_key, image FROM builds WHERE config = $1 AND phase = 'Complete'
             ORDER BY id DESC LIMIT 1",
        )
        .bind(config)
        .fetch_optional(&self.pool)
        .await?;
        let Some(r) = row else {
            return Ok(None);
        };
        let image: Option<String> = r.try_get("image")?;
        let digest = image
            .as_deref()
            .map(from_json::<slipway_core::PushedImage>)
            .transpose()?
            .map(|i| i.digest);
        Ok(Some((r.try_get("id")?, r.try_get("input_key")?, digest)))
    }

    async fn last_build(&self, config: &str) -> Result<Option<(BuildId, String)>> {
        sqlx::query("SELECT id, phase FROM builds WHERE config = $1 ORDER BY id DESC LIMIT 1")
            .bind(config)
            .fetch_optional(&self.pool)
            .await?
            .map(|r| Ok((r.try_get("id")?, r.try_get("phase")?)))
            .transpose()
    }

    async fn last_builds(&self) -> Result<HashMap<String, (BuildId, String)>> {
        sqlx::query(
            "SELECT DISTINCT ON (config) config, id, phase FROM builds
             WHERE config IS NOT NULL ORDER BY config, id DESC",
        )
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|r| {
            Ok((
                r.try_get("config")?,
                (r.try_get("id")?, r.try_get("phase")?),
            ))
        })
        .collect()
    }

    async fn build_durations(&self) -> Result<HashMap<String, u64>> {
        let rows = sqlx::query(
            "SELECT DISTINCT ON (config) config, started_at, finished_at FROM builds
             WHERE config IS NOT NULL AND phase = 'Complete'
               AND started_at IS NOT NULL AND finished_at IS NOT NULL
             ORDER BY config, id DESC",
        )
        .fetch_all(&self.pool)
        .await?;
        let mut out = HashMap::new();
        for r in &rows {
            let started = time(r, "started_at")?;
            let finished = time(r, "finished_at")?;
            let secs = finished
                .duration_since(started)
                .as_secs()
                .max(1)
                .unsigned_abs();
            out.insert(r.try_get("config")?, secs);
        }
        Ok(out)
    }

    async fn active_builds(&self, config: &str) -> Result<Vec<(BuildId, String)>> {
        sqlx::query(
            "SELECT id, phase FROM builds WHERE config = $1 AND phase IN ('New', 'Pending', 'Running')
             ORDER BY id",
        )
        .bind(config)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|r| Ok((r.try_get("id")?, r.try_get("phase")?)))
        .collect()
    }

    async fn cancel_superseded(&self, id: BuildId, reason: &str) -> Result<bool> {
        // The transition is one conditional UPDATE: a placement starting
        // the build meanwhile wins or loses on the row lock.
        let mut tx = self.pool.begin().await?;
        let cancelled = phase::transition(
            &mut tx,
            id,
            &[BuildPhase::New, BuildPhase::Pending],
            BuildPhase::Cancelled,
            Some(reason),
            reason,
        )
        .await?;
        if cancelled {
            phase::cancel_queued_workers(&mut tx, id, reason).await?;
        }
        tx.commit().await?;
        Ok(cancelled)
    }

    async fn prune_history(
        &self,
        config: &str,
        keep: HistoryLimits,
        dry_run: bool,
    ) -> Result<Vec<slipway_core::Build>> {
        let mut tx = self.pool.begin().await?;
        // Exclusive: the builds kept for running waves are decided on
        // here, so no member takes a build (`set_member`, `start_wave`)
        // until the pruned ones are gone, and two prunes of one config do
        // not both delete the same builds.
        lock(&mut tx, WAVES_LOCK, false).await?;
        let ids = prune_candidates(&mut tx, config, keep).await?;
        // As they were, read before they go.
        let pruned = super::builds::builds_in(&mut *tx, &self.sealer, &ids).await?;
        if dry_run || ids.is_empty() {
            return Ok(pruned);
        }
        sqlx::query(
            "INSERT INTO pruned_builds (id, config, phase, pruned_at)
             SELECT id, $2, phase, $3 FROM builds WHERE id = ANY($1)",
        )
        .bind(&ids)
        .bind(config)
        .bind(now())
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM builds WHERE id = ANY($1)")
            .bind(&ids)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(pruned)
    }

    async fn pruned_build(&self, id: BuildId) -> Result<Option<PrunedBuild>> {
        sqlx::query("SELECT id, config, phase, pruned_at FROM pruned_builds WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .map(|r| {
                Ok(PrunedBuild {
                    id: r.try_get("id")?,
                    config: r.try_get("config")?,
                    phase: r.try_get("phase")?,
                    pruned_at: time(&r, "pruned_at")?,
                })
            })
            .transpose()
    }
}
