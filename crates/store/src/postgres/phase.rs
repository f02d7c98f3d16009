//! Phase changes of builds on PostgreSQL, on the caller's transaction: the
//! twins of SQLite's `transition`, `insert_event` and
//! `cancel_queued_workers`, for every area that moves a build.
//!
//! A change is one conditional `UPDATE … WHERE phase = ANY(from)`: at READ
//! COMMITTED a second writer waits for the first's row lock and then
//! re-checks the condition against the committed row, so of two actors
//! (a worker finishing, a user cancelling) only one wins, on any server.

use super::now;
use crate::Result;
use slipway_core::{BuildId, BuildPhase};
use sqlx::PgConnection;

pub(crate) async fn insert_event(
    conn: &mut PgConnection,
    id: BuildId,
    phase: Option<BuildPhase>,
    message: &str,
) -> Result<()> {
    sqlx::query("INSERT INTO build_events (build_id, at, phase, message) VALUES ($1, $2, $3, $4)")
        .bind(id)
        .bind(now())
        .bind(phase.map(|p| p.as_str()))
        .bind(message)
        .execute(conn)
        .await?;
    Ok(())
}

/// `UPDATE builds SET phase = to … WHERE id = $ AND phase IN (from…)`, plus
/// its event, on the caller's transaction. Returns whether the row changed.
pub(crate) async fn transition(
    conn: &mut PgConnection,
    id: BuildId,
    from: &[BuildPhase],
    to: BuildPhase,
    reason: Option<&str>,
    event: &str,
) -> Result<bool> {
    debug_assert!(from.iter().all(|f| f.can_transition_to(to)));
    // Reasons are one or two lines, whoever gives them (a tool's whole
    // error stays in the build log).
    let reason = reason.map(slipway_core::build::short_reason);
    let event = slipway_core::build::short_reason(event);
    let from: Vec<&str> = from.iter().map(|f| f.as_str()).collect();
    // A final phase sets finished_at; any other leaves it as it is.
    let finished = to.is_final().then(now);
    let changed = sqlx::query(
        "UPDATE builds SET phase = $1, reason = COALESCE($2, reason),
                finished_at = COALESCE($3, finished_at)
         WHERE id = $4 AND phase = ANY($5)",
    )
    .bind(to.as_str())
    .bind(reason)
    .bind(finished)
    .bind(id)
    .bind(&from)
    .execute(&mut *conn)
    .await?
    .rows_affected()
        == 1;
    if changed {
        insert_event(conn, id, Some(to), &event).await?;
    }
    Ok(changed)
}

/// End the build's worker builds that are still queued (the build ended or
/// was cancelled), on the caller's transaction.
pub(crate) async fn cancel_queued_workers(
    conn: &mut PgConnection,
    build: BuildId,
    reason: &str,
) -> Result<()> {
    sqlx::query(
        "UPDATE worker_builds SET phase = 'Cancelled', reason = $1, finished_at = $2
         WHERE build_id = $3 AND phase = 'Pending'",
    )
    .bind(reason)
    .bind(now())
    .bind(build)
    .execute(conn)
    .await?;
    Ok(())
}
