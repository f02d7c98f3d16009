//! The SQLite implementation of [`crate::RebuildStore`]: configs, waves, history.

use super::rebuild_rows::config_from_row;
use super::{from_json, now, parse_time, to_json};
use crate::rebuilds::*;
use crate::seal::Column;
use crate::{Result, SqliteStore, Store};
use async_trait::async_trait;
use jiff::{SignedDuration, Timestamp};
use slipway_core::api::ApplyResponse;
use slipway_core::rebuild::image_config::{HistoryLimits, ImageConfig};
use slipway_core::rebuild::trigger::Trigger;
use slipway_core::rebuild::{MemberState, Wave, WaveMemberRecord};
use slipway_core::{BuildId, BuildPhase};
use sqlx::Row;

#[async_trait]
impl RebuildStore for SqliteStore {
    async fn apply_configs(
        &self,
        configs: &[ConfigWrite],
        delete: &[String],
    ) -> Result<ApplyResponse> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let mut out = ApplyResponse::default();
        let at = now();
        for w in configs {
            let name = &w.config.name;
            let old: Option<(String, String)> =
                sqlx::query("SELECT spec, base_images FROM image_configs WHERE name = ?")
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
                        "INSERT INTO image_configs (name, spec, base_images, base_commit, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)",
                    )
                    .bind(name)
                    .bind(&spec)
                    .bind(&base)
                    .bind(w.base_commit.as_deref())
                    .bind(&at)
                    .bind(&at)
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
                        "UPDATE image_configs SET spec = ?, base_images = ?, base_commit = COALESCE(?, base_commit), updated_at = ?, next_poll_at = NULL, next_schedule_at = NULL, next_rescan_at = NULL WHERE name = ?",
                    )
                    .bind(&spec)
                    .bind(&base)
                    .bind(w.base_commit.as_deref())
                    .bind(&at)
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
            let gone = sqlx::query("DELETE FROM image_configs WHERE name = ?")
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
                sqlx::query("INSERT INTO config_events (config, at, message) VALUES (?, ?, ?)")
                    .bind(n)
                    .bind(&at)
                    .bind(what)
                    .execute(&mut *tx)
                    .await?;
            }
        }
        tx.commit().await?;
        Ok(out)
    }

    async fn list_configs(&self) -> Result<Vec<StoredConfig>> {
        sqlx::query("SELECT * FROM image_configs ORDER BY name")
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|r| config_from_row(r, &self.sealer))
            .collect()
    }

    async fn get_config(&self, name: &str) -> Result<Option<StoredConfig>> {
        sqlx::query("SELECT * FROM image_configs WHERE name = ?")
            .bind(name)
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(|r| config_from_row(r, &self.sealer))
            .transpose()
    }

    async fn delete_config(&self, name: &str) -> Result<bool> {
        let done = sqlx::query("DELETE FROM image_configs WHERE name = ?")
            .bind(name)
            .execute(&self.pool)
            .await?
            .rows_affected()
            == 1;
        if done {
            self.record_config_event(name, "deleted", None).await?;
        }
        Ok(done)
    }

    async fn set_base_images(
        &self,
        name: &str,
        base_images: &[String],
        commit: &str,
    ) -> Result<()> {
        sqlx::query("UPDATE image_configs SET base_images = ?, base_commit = ? WHERE name = ?")
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
            "UPDATE image_configs SET poll_head = COALESCE(?, poll_head), next_poll_at = ? WHERE name = ?",
        )
        .bind(head)
        .bind(next_at.map(|t| t.to_string()))
        .bind(name)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn set_next_schedule(&self, name: &str, next_at: Option<Timestamp>) -> Result<()> {
        sqlx::query("UPDATE image_configs SET next_schedule_at = ? WHERE name = ?")
            .bind(next_at.map(|t| t.to_string()))
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
            "INSERT INTO config_events (config, at, message, build_id) VALUES (?, ?, ?, ?)",
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
            "SELECT at, message, build_id FROM config_events WHERE config = ? ORDER BY id DESC LIMIT ?",
        )
        .bind(config)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        let mut out = rows
            .iter()
            .map(|r| {
                Ok((
                    parse_time(r.try_get("at")?)?,
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
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let at = Timestamp::now();
        let mut open: Option<i64> = sqlx::query(
            "SELECT id FROM waves WHERE state = 'Gathering' AND gather_until > ? ORDER BY id LIMIT 1",
        )
        .bind(at.to_string())
        .fetch_optional(&mut *tx)
        .await?
        .map(|r| r.try_get("id"))
        .transpose()?;
        if open.is_none() && latest_only {
            open = sqlx::query(
                "SELECT w.id FROM waves w JOIN wave_members m ON m.wave_id = w.id
                 WHERE w.state = 'Gathering' AND m.config = ? AND m.root = 1 ORDER BY w.id DESC LIMIT 1",
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
                let until = at.checked_add(debounce).unwrap_or(at);
                sqlx::query(
                    "INSERT INTO waves (state, created_at, gather_until) VALUES ('Gathering', ?, ?) RETURNING id",
                )
                .bind(at.to_string())
                .bind(until.to_string())
                .fetch_one(&mut *tx)
                .await?
                .try_get("id")?
            }
        };
        sqlx::query(
            "INSERT INTO wave_members (wave_id, position, config, root, trigger, force, state) VALUES (?, 0, ?, 1, ?, ?, ?)
             ON CONFLICT (wave_id, config) DO UPDATE SET trigger = excluded.trigger, force = MAX(force, excluded.force)",
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
        let rows = sqlx::query(
            "SELECT * FROM waves WHERE state = 'Running' OR (state = 'Gathering' AND gather_until <= ?) ORDER BY id",
        )
        .bind(now())
        .fetch_all(&self.pool)
        .await?;
        self.load_waves(&rows).await
    }

    async fn get_wave(&self, id: i64) -> Result<Option<Wave>> {
        let row = sqlx::query("SELECT * FROM waves WHERE id = ?")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        match row {
            Some(r) => Ok(Some(self.load_wave(&r).await?)),
            None => Ok(None),
        }
    }

    async fn list_waves(&self, limit: u32) -> Result<Vec<Wave>> {
        let rows = sqlx::query("SELECT * FROM waves ORDER BY id DESC LIMIT ?")
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
        self.load_waves(&rows).await
    }

    async fn start_wave(&self, id: i64, members: &[WaveMemberRecord]) -> Result<()> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        for (position, m) in members.iter().enumerate() {
            sqlx::query(
                "INSERT INTO wave_members (wave_id, position, config, root, trigger, force, state, build_id, previous_digest, reason)
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                 ON CONFLICT (wave_id, config) DO UPDATE SET position = excluded.position,
                   state = excluded.state, previous_digest = excluded.previous_digest, reason = excluded.reason",
            )
            .bind(id)
            .bind(position as i64)
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
        sqlx::query("UPDATE waves SET state = 'Running', started_at = ? WHERE id = ?")
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
        sqlx::query(
            "UPDATE wave_members SET state = ?, build_id = COALESCE(?, build_id), reason = COALESCE(?, reason) WHERE wave_id = ? AND config = ?",
        )
        .bind(to_json(&state)?)
        .bind(build)
        .bind(reason)
        .bind(wave)
        .bind(config)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn finish_wave(&self, id: i64) -> Result<()> {
        sqlx::query("UPDATE waves SET state = 'Done', finished_at = ? WHERE id = ?")
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
            "SELECT id, input_key, image FROM builds WHERE config = ? AND phase = 'Complete' ORDER BY id DESC LIMIT 1",
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

    async fn last_builds(&self) -> Result<std::collections::HashMap<String, (BuildId, String)>> {
        sqlx::query(
            "SELECT config, id, phase FROM builds WHERE id IN (SELECT MAX(id) FROM builds WHERE config IS NOT NULL GROUP BY config)",
        )
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|r| Ok((r.try_get("config")?, (r.try_get("id")?, r.try_get("phase")?))))
        .collect()
    }

    async fn last_build(&self, config: &str) -> Result<Option<(BuildId, String)>> {
        sqlx::query("SELECT id, phase FROM builds WHERE config = ? ORDER BY id DESC LIMIT 1")
            .bind(config)
            .fetch_optional(&self.pool)
            .await?
            .map(|r| Ok((r.try_get("id")?, r.try_get("phase")?)))
            .transpose()
    }

    async fn build_durations(&self) -> Result<std::collections::HashMap<String, u64>> {
        let rows = sqlx::query(
            "SELECT config, started_at, finished_at FROM builds WHERE config IS NOT NULL AND phase = 'Complete' AND started_at IS NOT NULL AND finished_at IS NOT NULL ORDER BY id",
        )
        .fetch_all(&self.pool)
        .await?;
        let mut out = std::collections::HashMap::new();
        for r in &rows {
            let started = parse_time(r.try_get("started_at")?)?;
            let finished = parse_time(r.try_get("finished_at")?)?;
            let secs = finished.duration_since(started).as_secs().max(1) as u64;
            out.insert(r.try_get("config")?, secs);
        }
        Ok(out)
    }

    async fn active_builds(&self, config: &str) -> Result<Vec<(BuildId, String)>> {
        sqlx::query(
            "SELECT id, phase FROM builds WHERE config = ? AND phase IN ('New', 'Pending', 'Running') ORDER BY id",
        )
        .bind(config)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|r| Ok((r.try_get("id")?, r.try_get("phase")?)))
        .collect()
    }
    async fn cancel_superseded(&self, id: BuildId, reason: &str) -> Result<bool> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let cancelled = crate::sqlite::transition(
            &mut tx,
            id,
            &[BuildPhase::New, BuildPhase::Pending],
            BuildPhase::Cancelled,
            Some(reason),
            reason,
        )
        .await?;
        if cancelled {
            crate::sqlite::workers::cancel_queued_workers(&mut tx, id, reason).await?;
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
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        // The newest Complete build is kept by a subquery that is empty
        // when there is none (`NOT IN (SELECT MAX(id) …)` was NULL then,
        // and a config that never built kept every failed build).
        let rows = sqlx::query(
            "SELECT id, phase FROM (
                SELECT id, phase,
                  ROW_NUMBER() OVER (
                    PARTITION BY CASE phase WHEN 'Complete' THEN 0 WHEN 'Skipped' THEN 1 ELSE 2 END
                    ORDER BY id DESC
                  ) AS newer,
                  phase IN ('Complete', 'Skipped') AS successful
                FROM builds
                WHERE config = ? AND phase IN ('Complete', 'Skipped', 'Failed', 'Error', 'Cancelled')
             )
             WHERE newer > CASE WHEN successful THEN ? ELSE ? END
               AND id NOT IN (SELECT id FROM builds WHERE config = ? AND phase = 'Complete'
                              ORDER BY id DESC LIMIT 1)
               AND id NOT IN (
                 SELECT m.build_id FROM wave_members m JOIN waves w ON w.id = m.wave_id
                 WHERE w.state != 'Done' AND m.build_id IS NOT NULL)
             ORDER BY id",
        )
        .bind(config)
        .bind(i64::from(keep.successful))
        .bind(i64::from(keep.failed))
        .bind(config)
        .fetch_all(&mut *tx)
        .await?;
        let at = now();
        let mut pruned = Vec::with_capacity(rows.len());
        for r in &rows {
            let id: BuildId = r.try_get("id")?;
            let phase: String = r.try_get("phase")?;
            // As it was, read before it goes (the read pool sees the last
            // commit, which this transaction has not changed yet).
            let Some(build) = self.get_build(id).await? else {
                continue;
            };
            pruned.push(build);
            if dry_run {
                continue;
            }
            sqlx::query(
                "INSERT INTO pruned_builds (id, config, phase, pruned_at) VALUES (?, ?, ?, ?)",
            )
            .bind(id)
            .bind(config)
            .bind(&phase)
            .bind(&at)
            .execute(&mut *tx)
            .await?;
            sqlx::query("DELETE FROM builds WHERE id = ?")
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(pruned)
    }

    async fn pruned_build(&self, id: BuildId) -> Result<Option<PrunedBuild>> {
        sqlx::query("SELECT id, config, phase, pruned_at FROM pruned_builds WHERE id = ?")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .map(|r| {
                Ok(PrunedBuild {
                    id: r.try_get("id")?,
                    config: r.try_get("config")?,
                    phase: r.try_get("phase")?,
                    pruned_at: parse_time(r.try_get("pruned_at")?)?,
                })
            })
            .transpose()
    }
}
