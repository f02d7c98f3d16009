//! Summaries kept beside builds for the hot reads: the build list's
//! columns (filled from specs stored before they existed) and the counts
//! `/metrics` reads at each scrape.

use crate::seal::Column;
use crate::sqlite::{from_json, parse_time};
use crate::{Result, SqliteStore};
use sqlx::Row;

/// The parts of a stored spec a summary shows.
#[derive(serde::Deserialize)]
struct SpecHead {
    source: slipway_core::build::SourceSpec,
    output: slipway_core::ImageRef,
    #[serde(default)]
    trigger: Option<slipway_core::rebuild::trigger::Trigger>,
}

impl SqliteStore {
    /// Fill the summary columns of builds stored before they existed (from
    /// their specs). Returns how many.
    pub(crate) async fn fill_summaries(&self) -> Result<u64> {
        let rows = sqlx::query("SELECT id, spec FROM builds WHERE source_shown IS NULL")
            .fetch_all(&self.pool)
            .await?;
        let mut n = 0;
        for r in rows {
            let id: i64 = r.try_get("id")?;
            let spec = self
                .sealer
                .open(Column::BuildSpec, &r.try_get::<String, _>("spec")?)
                .and_then(|text| from_json::<SpecHead>(&text));
            let spec = match spec {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!("build {id}: cannot read its spec for the build list: {e}");
                    continue;
                }
            };
            sqlx::query(
                "UPDATE builds SET source_shown = ?, output = ?, trigger_kind = ? WHERE id = ?",
            )
            .bind(spec.source.location.redacted())
            .bind(spec.output.to_string())
            .bind(spec.trigger.as_ref().map_or("manual", |t| t.kind()))
            .bind(id)
            .execute(&self.pool)
            .await?;
            n += 1;
        }
        Ok(n)
    }

    /// What `/metrics` reads at each scrape, in one read.
    pub(crate) fn read_gauges(&self) -> Result<crate::Gauges> {
        self.reads.with(|c| {
            let mut g = crate::Gauges::default();
            let mut q = c.prepare_cached(
                "SELECT phase, coalesce(trigger_kind, 'manual'), count(*) FROM builds GROUP BY 1, 2 ORDER BY 1, 2",
            )?;
            let rows = q.query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, i64>(2)?,
                ))
            })?;
            for row in rows {
                let (phase, trigger, n) = row?;
                g.builds
                    .push((phase, trigger, u64::try_from(n).unwrap_or(0)));
            }
            let (queued, oldest): (i64, Option<String>) = c.query_row(
                "SELECT count(*), min(created_at) FROM worker_builds WHERE phase = 'Pending'",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?;
            g.queued_worker_builds = u64::try_from(queued).unwrap_or(0);
            g.oldest_queued = oldest.and_then(|t| parse_time(t).ok());
            let bytes: i64 = c.query_row(
                "SELECT coalesce(sum(size), 0) FROM \
                 (SELECT max(size) AS size FROM registry_blob_links GROUP BY digest)",
                [],
                |r| r.get(0),
            )?;
            g.blob_bytes = u64::try_from(bytes).unwrap_or(0);
            Ok(g)
        })
    }
}
