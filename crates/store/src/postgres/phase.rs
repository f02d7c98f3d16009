//! Phase changes on PostgreSQL, on the caller's transaction: the twins of
//! SQLite's `transition` and `insert_event`, and what a build's phase
//! change does to its worker builds.
//!
//! Lock order, everywhere a transaction changes both: the build row first
//! (`FOR NO KEY UPDATE`, which an event's foreign key does not wait on),
//! then its worker builds. Placement takes its builds the same way, so
//! a cancel and a placement of the same build wait for each other instead
//! of deadlocking.

use super::now;
use crate::Result;
use slipway_core::{BuildId, BuildPhase, Platform};
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

/// `UPDATE builds SET phase = to … WHERE id = $ AND phase = ANY(from)`, plus
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
    let changed = sqlx::query(
        "UPDATE builds SET phase = $1, reason = COALESCE($2, reason), \
             finished_at = CASE WHEN $3 THEN $4 ELSE finished_at END \
         WHERE id = $5 AND phase = ANY($6)",
    )
    .bind(to.as_str())
    .bind(reason)
    .bind(to.is_final())
    .bind(now())
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

/// Lock a build's row for the rest of the transaction (see the module's
/// lock order). Returns its phase, `None` if there is no such build.
pub(crate) async fn lock_build(conn: &mut PgConnection, id: BuildId) -> Result<Option<String>> {
    Ok(
        sqlx::query_scalar("SELECT phase FROM builds WHERE id = $1 FOR NO KEY UPDATE")
            .bind(id)
            .fetch_optional(conn)
            .await?,
    )
}

/// End the build's worker builds that are still queued (the build ended or
/// was cancelled).
pub(crate) async fn cancel_queued_workers(
    conn: &mut PgConnection,
    build: BuildId,
    reason: &str,
) -> Result<()> {
    sqlx::query(
        "UPDATE worker_builds SET phase = 'Cancelled', reason = $1, finished_at = $2 \
         WHERE build_id = $3 AND phase = 'Pending'",
    )
    .bind(reason)
    .bind(now())
    .bind(build)
    .execute(conn)
    .await?;
    Ok(())
}

/// Put a re-queued build's unfinished worker builds back in the queue.
/// Their tokens die: a pod left over from before must not report for the
/// new attempt.
pub(crate) async fn requeue_workers(conn: &mut PgConnection, build: BuildId) -> Result<()> {
    revoke_unfinished_tokens(&mut *conn, build).await?;
    let n = sqlx::query(
        "UPDATE worker_builds SET phase = 'Pending', cluster = NULL, started_at = NULL, owner = NULL \
         WHERE build_id = $1 AND phase IN ('Pending', 'Running')",
    )
    .bind(build)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if n == 0 {
        // Every platform had ended, and the server ending the build died
        // before it did: the attempt starts over, every platform again.
        sqlx::query(
            "UPDATE worker_builds SET phase = 'Pending', cluster = NULL, started_at = NULL, \
                 owner = NULL, reason = NULL, image = NULL, finished_at = NULL \
             WHERE build_id = $1 AND phase <> 'Cancelled'",
        )
        .bind(build)
        .execute(conn)
        .await?;
    }
    Ok(())
}

/// End a given-up build's unfinished worker builds with `phase`.
pub(crate) async fn end_workers(
    conn: &mut PgConnection,
    build: BuildId,
    phase: BuildPhase,
    reason: &str,
) -> Result<()> {
    revoke_unfinished_tokens(&mut *conn, build).await?;
    sqlx::query(
        "UPDATE worker_builds SET phase = $1, reason = $2, finished_at = $3 \
         WHERE build_id = $4 AND phase IN ('Pending', 'Running')",
    )
    .bind(phase.as_str())
    .bind(reason)
    .bind(now())
    .bind(build)
    .execute(conn)
    .await?;
    Ok(())
}

async fn revoke_unfinished_tokens(conn: &mut PgConnection, build: BuildId) -> Result<()> {
    sqlx::query(
        "DELETE FROM worker_tokens WHERE worker_id IN \
         (SELECT id FROM worker_builds WHERE build_id = $1 AND phase IN ('Pending', 'Running'))",
    )
    .bind(build)
    .execute(conn)
    .await?;
    Ok(())
}

/// Create one queued worker build per platform of a new build.
pub(crate) async fn create_workers(
    conn: &mut PgConnection,
    build: BuildId,
    platforms: &[Platform],
    priority: i32,
) -> Result<()> {
    // One by one: worker build ids follow the platforms' order.
    let at = now();
    for p in platforms {
        sqlx::query(
            "INSERT INTO worker_builds (build_id, platform, priority, phase, created_at) \
             VALUES ($1, $2, $3, 'Pending', $4)",
        )
        .bind(build)
        .bind(p.as_str())
        .bind(i64::from(priority))
        .bind(at)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}
