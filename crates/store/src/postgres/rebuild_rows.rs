//! Rows of the rebuild tables on PostgreSQL as the store's types: configs,
//! waves with their members, and the builds `prune_history` answers with;
//! and the advisory locks the rebuild area takes.

use super::{time, time_opt};
use crate::codec::from_json;
use crate::rebuilds::StoredConfig;
use crate::seal::{Column, Sealer};
use crate::{Result, StoreError};
use slipway_core::BuildId;
use slipway_core::rebuild::image_config::HistoryLimits;
use slipway_core::rebuild::{Wave, WaveMemberRecord, WaveState};
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, Row};

/// Held (transaction-scoped) by whatever replaces configs (`apply_configs`),
/// so two applies cannot both decide "created" for one name.
pub(super) const CONFIGS_LOCK: i64 = 0x736c_7077_636f_6e66; // "slpwconf"

/// Held by whatever decides on waves and their members: exclusively by
/// `add_trigger` (which wave gathers; a new one when none), `start_wave`
/// and `prune_history` (which builds no unfinished wave holds), shared by
/// `set_member` (which can make a wave hold a build).
pub(super) const WAVES_LOCK: i64 = 0x736c_7077_7761_7665; // "slpwwave"

/// Take `key` until the transaction ends (exclusive, or shared with other
/// shared holders).
pub(super) async fn lock(conn: &mut PgConnection, key: i64, shared: bool) -> Result<()> {
    let sql = if shared {
        "SELECT pg_advisory_xact_lock_shared($1)"
    } else {
        "SELECT pg_advisory_xact_lock($1)"
    };
    sqlx::query(sql).bind(key).execute(conn).await?;
    Ok(())
}

pub(super) fn config_from_row(r: &PgRow, sealer: &Sealer) -> Result<StoredConfig> {
    let spec = sealer.open(Column::ConfigSpec, &r.try_get::<String, _>("spec")?)?;
    let base: String = r.try_get("base_images")?;
    Ok(StoredConfig {
        config: from_json(&spec)?,
        base_images: from_json(&base)?,
        base_commit: r.try_get("base_commit")?,
        poll_head: r.try_get("poll_head")?,
        next_poll_at: time_opt(r, "next_poll_at")?,
        next_schedule_at: time_opt(r, "next_schedule_at")?,
        next_rescan_at: time_opt(r, "next_rescan_at")?,
        created_at: time(r, "created_at")?,
        updated_at: time(r, "updated_at")?,
    })
}

fn member_from_row(r: &PgRow) -> Result<WaveMemberRecord> {
    let trigger: Option<String> = r.try_get("trigger")?;
    let state: String = r.try_get("state")?;
    Ok(WaveMemberRecord {
        config: r.try_get("config")?,
        root: r.try_get::<i64, _>("root")? != 0,
        trigger: trigger.as_deref().map(from_json).transpose()?,
        force: r.try_get::<i64, _>("force")? != 0,
        state: from_json(&state)?,
        build: r.try_get("build_id")?,
        previous_digest: r.try_get("previous_digest")?,
        reason: r.try_get("reason")?,
    })
}

/// Waves with their members in one statement (so one snapshot: a wave
/// is never read in one state and its members in another). `waves` selects
/// rows of `waves`; `order` orders them (by `id`).
macro_rules! waves_query {
    ($waves:literal, $order:literal) => {
        concat!(
            "WITH w AS (",
            $waves,
            ") SELECT w.id, w.state AS wave_state, w.created_at, w.gather_until,
                      w.started_at, w.finished_at, m.config, m.root, m.trigger, m.force,
                      m.state, m.build_id, m.previous_digest, m.reason
               FROM w LEFT JOIN wave_members m ON m.wave_id = w.id
               ORDER BY ",
            $order,
            ", m.position, m.config"
        )
    };
}
pub(super) use waves_query;

/// The waves of rows from [`waves_query`], in their order.
pub(super) fn waves_from_rows(rows: &[PgRow]) -> Result<Vec<Wave>> {
    let mut out: Vec<Wave> = Vec::new();
    for r in rows {
        let id: i64 = r.try_get("id")?;
        if out.last().is_none_or(|w| w.id != id) {
            let state: String = r.try_get("wave_state")?;
            out.push(Wave {
                id,
                state: WaveState::parse(&state)
                    .ok_or_else(|| StoreError::Corrupt(format!("wave {id} has state {state:?}")))?,
                created_at: time(r, "created_at")?,
                gather_until: time(r, "gather_until")?,
                started_at: time_opt(r, "started_at")?,
                finished_at: time_opt(r, "finished_at")?,
                members: Vec::new(),
            });
        }
        // A wave without members has one row, its member columns NULL.
        if r.try_get::<Option<String>, _>("config")?.is_some()
            && let Some(w) = out.last_mut()
        {
            w.members.push(member_from_row(r)?);
        }
    }
    Ok(out)
}

/// The config's finished builds beyond `keep` that may go, oldest first:
/// Complete, Skipped and unsuccessful builds counted apart; never its
/// newest Complete build, nor one an unfinished wave holds.
pub(super) async fn prune_candidates(
    conn: &mut PgConnection,
    config: &str,
    keep: HistoryLimits,
) -> Result<Vec<BuildId>> {
    let rows = sqlx::query(
        "SELECT id FROM (
            SELECT id,
              ROW_NUMBER() OVER (
                PARTITION BY CASE phase WHEN 'Complete' THEN 0 WHEN 'Skipped' THEN 1 ELSE 2 END
                ORDER BY id DESC
              ) AS newer,
              phase IN ('Complete', 'Skipped') AS successful
            FROM builds
            WHERE config = $1 AND phase IN ('Complete', 'Skipped', 'Failed', 'Error', 'Cancelled')
         ) finished
         WHERE newer > CASE WHEN successful THEN $2 ELSE $3 END
           AND id NOT IN (SELECT id FROM builds WHERE config = $1 AND phase = 'Complete'
                          ORDER BY id DESC LIMIT 1)
           AND id NOT IN (
             SELECT m.build_id FROM wave_members m JOIN waves w ON w.id = m.wave_id
             WHERE w.state <> 'Done' AND m.build_id IS NOT NULL)
         ORDER BY id",
    )
    .bind(config)
    .bind(i64::from(keep.successful))
    .bind(i64::from(keep.failed))
    .fetch_all(conn)
    .await?;
    Ok(rows
        .iter()
        .map(|r| r.try_get("id"))
        .collect::<Result<Vec<BuildId>, _>>()?)
}
