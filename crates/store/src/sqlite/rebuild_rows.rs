//! Rows of the rebuild tables as the store's types: configs, wave
//! members, waves with their members.

use super::{from_json, parse_time};
use crate::rebuilds::*;
use crate::seal::{Column, Sealer};
use crate::{Result, SqliteStore, StoreError};
use jiff::Timestamp;
use slipway_core::rebuild::{Wave, WaveMemberRecord, WaveState};
use sqlx::Row;
use sqlx::sqlite::SqliteRow;

pub(super) fn config_from_row(r: &SqliteRow, sealer: &Sealer) -> Result<StoredConfig> {
    let spec = sealer.open(Column::ConfigSpec, &r.try_get::<String, _>("spec")?)?;
    let base: String = r.try_get("base_images")?;
    let ts = |col: &str| -> Result<Option<Timestamp>> {
        r.try_get::<Option<String>, _>(col)?
            .map(parse_time)
            .transpose()
    };
    Ok(StoredConfig {
        config: from_json(&spec)?,
        base_images: from_json(&base)?,
        base_commit: r.try_get("base_commit")?,
        poll_head: r.try_get("poll_head")?,
        next_poll_at: ts("next_poll_at")?,
        next_schedule_at: ts("next_schedule_at")?,
        next_rescan_at: ts("next_rescan_at")?,
        created_at: parse_time(r.try_get("created_at")?)?,
        updated_at: parse_time(r.try_get("updated_at")?)?,
    })
}

pub(super) fn member_from_row(r: &SqliteRow) -> Result<WaveMemberRecord> {
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

impl SqliteStore {
    pub(super) async fn load_wave(&self, r: &SqliteRow) -> Result<Wave> {
        let id: i64 = r.try_get("id")?;
        let state: String = r.try_get("state")?;
        let members =
            sqlx::query("SELECT * FROM wave_members WHERE wave_id = ? ORDER BY position, config")
                .bind(id)
                .fetch_all(&self.pool)
                .await?
                .iter()
                .map(member_from_row)
                .collect::<Result<Vec<_>>>()?;
        let ts = |col: &str| -> Result<Option<Timestamp>> {
            r.try_get::<Option<String>, _>(col)?
                .map(parse_time)
                .transpose()
        };
        Ok(Wave {
            id,
            state: WaveState::parse(&state)
                .ok_or_else(|| StoreError::Corrupt(format!("wave {id} has state {state:?}")))?,
            created_at: parse_time(r.try_get("created_at")?)?,
            gather_until: parse_time(r.try_get("gather_until")?)?,
            started_at: ts("started_at")?,
            finished_at: ts("finished_at")?,
            members,
        })
    }

    /// The waves of `rows` (from `waves`), with their members.
    pub(super) async fn load_waves(&self, rows: &[SqliteRow]) -> Result<Vec<Wave>> {
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            out.push(self.load_wave(r).await?);
        }
        Ok(out)
    }
}
