//! Worker clusters: their state, and the runtime enable/disable switch.

use crate::Services;
use crate::error::ApiError;
use axum::Json;
use axum::extract::{Path, State};
use std::sync::Arc;

pub(super) async fn list(
    State(s): State<Arc<Services>>,
) -> Result<Json<Vec<slipway_core::api::ClusterStatus>>, ApiError> {
    Ok(Json(s.cluster_status().await?))
}

/// `POST /clusters/{name}/enable|disable`: a runtime switch over the file's
/// `enabled`. Disabling drains: running builds finish, no new ones start.
pub(super) async fn switch(
    State(s): State<Arc<Services>>,
    Path((name, action)): Path<(String, String)>,
) -> Result<Json<slipway_core::api::ClusterStatus>, ApiError> {
    let enabled = match action.as_str() {
        "enable" => true,
        "disable" => false,
        other => {
            return Err(ApiError::not_found(format!(
                "no cluster action {other:?}; use enable or disable"
            )));
        }
    };
    if s.cluster_file().get(&name).is_none() {
        let known: Vec<String> = s.cluster_file().all().map(|c| c.name.clone()).collect();
        return Err(ApiError::not_found(format!(
            "cluster {name:?} is not in the cluster file; clusters: {}",
            known.join(", ")
        )));
    }
    s.store.set_cluster_enabled(&name, enabled).await?;
    tracing::info!(
        "cluster {name} {}",
        if enabled {
            "enabled"
        } else {
            "disabled (draining)"
        }
    );
    s.events.queue.notify_one();
    s.cluster_status()
        .await?
        .into_iter()
        .find(|c| c.name == name)
        .map(Json)
        .ok_or_else(|| ApiError::not_found(format!("cluster {name:?} vanished")))
}
