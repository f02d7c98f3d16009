//! Kubernetes clusters: a placed worker build becomes a Secret (its own
//! short-lived token) and a Job running `slipway worker`, which reports
//! over the worker API like a local worker process. This module submits
//! them, follows the Job until the worker build ends, and deletes both.
//!
//! A submission that fails (API refused, cluster unreachable) goes back to
//! placement, which tries the next-best cluster (`submission_failed`). A pod
//! that fails or vanishes without reporting ends the worker build Error
//! with Kubernetes' reason. A cancelled build whose pod does not stop by
//! itself within [`STOP_GRACE`] is ended here.

use super::{issue_worker_token, record_end, refused};
use crate::Services;
use slipway_core::BuildPhase;
use slipway_core::cluster::KubernetesCluster;
use slipway_kubernetes::{JobState, KubeCluster, WorkerPod, object_name};
use slipway_store::Placement;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// How often a running Job is looked at.
const FOLLOW_INTERVAL: Duration = Duration::from_secs(2);
/// How long a stopped build's pod may take to notice.
const STOP_GRACE: Duration = Duration::from_secs(30);
/// How long a Job may say "succeeded" before its worker's report arrives.
const REPORT_GRACE: Duration = Duration::from_secs(15);
/// Consecutive failed looks at the Job before the cluster counts as lost.
const MAX_LOOK_FAILURES: u32 = 30;
/// How long a submission may take.
const SUBMIT_TIMEOUT: Duration = Duration::from_secs(30);
/// A worker build's token outlives any deadline a cluster may set.
const TOKEN_SLACK: jiff::SignedDuration = jiff::SignedDuration::from_hours(1);

/// Submit a placed worker build to its Kubernetes cluster and follow it.
pub async fn run(services: Arc<Services>, p: Placement, cluster: KubernetesCluster) {
    let Some(client) = services.kube_client(&p.cluster) else {
        return refused(
            &services,
            &p,
            "no client for this cluster (reload the cluster file)",
        )
        .await;
    };
    let ttl = jiff::SignedDuration::from_secs(
        i64::try_from(cluster.deadline_seconds).unwrap_or(i64::MAX / 2),
    );
    let token = match issue_worker_token(&services, p.worker, ttl + TOKEN_SLACK).await {
        Ok(t) => t,
        Err(reason) => {
            record_end(&services, &p, BuildPhase::Error, Some(&reason), None).await;
            return;
        }
    };
    let api_url = cluster
        .callback_url
        .clone()
        .unwrap_or_else(|| format!("http://{}", services.own_registry));
    let pod = WorkerPod {
        cluster: &cluster,
        cluster_name: &p.cluster,
        build: p.build,
        worker: p.worker,
        platform: &p.platform,
        api_url: &api_url,
        insecure_registries: &services.insecure_registries,
        ca_pem: services.worker_ca_pem.as_deref(),
    };
    let submitted = match tokio::time::timeout(SUBMIT_TIMEOUT, client.submit(&pod, &token)).await {
        Ok(r) => r.map_err(|e| e.to_string()),
        Err(_) => Err(format!(
            "the Kubernetes API did not answer within {}s",
            SUBMIT_TIMEOUT.as_secs()
        )),
    };
    if let Err(reason) = submitted {
        let _ = services.store.drop_worker_tokens(p.worker).await;
        return refused(&services, &p, &reason).await;
    }
    let _ = services
        .store
        .record_event(
            p.build,
            &format!(
                "{}: Job {} created in namespace {} on cluster {}",
                p.platform,
                object_name(p.worker),
                cluster.namespace,
                p.cluster
            ),
        )
        .await;
    if let Ok(mut running) = services.running.lock() {
        running.insert(p.worker, (p.build, CancellationToken::new()));
    }
    follow(&services, &client, &p).await;
    if let Err(e) = client.delete(p.worker).await {
        tracing::warn!(
            "worker build {}: cannot delete its Job and Secret on cluster {}: {e}",
            p.worker,
            p.cluster
        );
    }
    if let Ok(mut running) = services.running.lock() {
        running.remove(&p.worker);
    }
}

/// Watch until the worker build is no longer Running, ending it here when
/// its pod cannot.
async fn follow(services: &Arc<Services>, client: &KubeCluster, p: &Placement) {
    let mut stop_since: Option<Instant> = None;
    let mut succeeded_since: Option<Instant> = None;
    let mut look_failures = 0;
    loop {
        tokio::time::sleep(FOLLOW_INTERVAL).await;
        match services.store.get_worker_build(p.worker).await {
            Ok(Some(w)) if w.phase == BuildPhase::Running => {}
            // Reported its end (or the record is gone): done.
            Ok(_) => return,
            Err(e) => {
                tracing::warn!("worker build {}: cannot read it: {e}", p.worker);
                continue;
            }
        }
        let end = |phase: BuildPhase, reason: String| async move {
            record_end(services, p, phase, Some(&reason), None).await;
        };
        match client.job_state(p.worker).await {
            Ok(JobState::Failed(why)) => {
                return end(
                    BuildPhase::Error,
                    format!("the worker's pod failed on cluster {}: {why}", p.cluster),
                )
                .await;
            }
            Ok(JobState::Missing) => {
                return end(
                    BuildPhase::Error,
                    format!(
                        "the worker's Job vanished from cluster {} before it reported",
                        p.cluster
                    ),
                )
                .await;
            }
            Ok(JobState::Succeeded) => {
                let since = *succeeded_since.get_or_insert_with(Instant::now);
                if since.elapsed() > REPORT_GRACE {
                    return end(
                        BuildPhase::Error,
                        "the worker's pod exited without reporting its end".into(),
                    )
                    .await;
                }
                look_failures = 0;
            }
            Ok(JobState::Active) => look_failures = 0,
            Err(e) => {
                look_failures += 1;
                if look_failures >= MAX_LOOK_FAILURES {
                    return end(
                        BuildPhase::Error,
                        format!("lost cluster {}: {e}", p.cluster),
                    )
                    .await;
                }
            }
        }
        // Cancelled, or a sibling failed: the pod stops by itself when it
        // polls; one that never started, or hangs, is ended here.
        let stop = services
            .store
            .cancel_requested(p.build)
            .await
            .unwrap_or(false)
            || matches!(services.store.get_build(p.build).await, Ok(Some(b)) if b.phase.is_final());
        if stop {
            let since = *stop_since.get_or_insert_with(Instant::now);
            if since.elapsed() > STOP_GRACE {
                return end(BuildPhase::Cancelled, "cancelled".into()).await;
            }
        }
    }
}
