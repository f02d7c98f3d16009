//! Worker builds and placement on both backends (see `common`), with
//! several stores on one database playing several servers.

use slipway_core::build::SourceRequest;
use slipway_core::build::phase::RestartDecision;
use slipway_core::cluster::{ClusterFile, ClusterSpec, MAX_SUBMIT_ATTEMPTS};
use slipway_core::{BuildPhase, BuildRequest, BuildSpec, Clusters};
use slipway_store::{CancelOutcome, Store};
use std::collections::HashMap;

mod common;
use common::Db;

on_both_backends!(
    a_build_gets_one_worker_build_per_platform,
    placement_fills_by_least_load_and_never_exceeds_a_maximum,
    disabled_clusters_and_unserved_platforms_get_nothing,
    higher_priority_first_then_fifo,
    failed_submission_moves_to_the_next_best_cluster_then_gives_up,
    ending_or_cancelling_a_build_ends_its_queued_worker_builds,
    restart_requeues_unfinished_worker_builds_with_their_build,
    cluster_overrides_are_kept,
    worker_tokens_expire_and_are_revoked,
    servers_placing_at_once_never_overfill_nor_place_twice,
    sibling_platforms_ending_at_once_leave_exactly_one_last,
    a_late_end_from_a_run_declared_dead_is_not_the_new_placements,
);

fn spec(platforms: &[&str], priority: i32) -> BuildSpec {
    BuildRequest {
        source: SourceRequest {
            url: "/srv/repo".into(),
            ..Default::default()
        },
        output: Some("127.0.0.1:5000/app:1".into()),
        platforms: platforms.iter().map(|p| p.to_string()).collect(),
        priority,
        ..Default::default()
    }
    .validate(None)
    .unwrap()
}

fn clusters(list: &[(&str, &str, u32, bool)]) -> Clusters {
    let mut file = ClusterFile::default();
    for (platform, name, max, enabled) in list {
        file.clusters
            .entry(platform.to_string())
            .or_default()
            .push(ClusterSpec {
                name: name.to_string(),
                max_concurrent_builds: *max,
                enabled: *enabled,
                kubernetes: None,
                worker_process: false,
                callback_url: None,
            });
    }
    file.validate().unwrap()
}

async fn a_build_gets_one_worker_build_per_platform(db: &Db) {
    let s = db.open().await;
    let s = &*s;
    let b = slipway_store::create_queued_scratch(s, &spec(&["x86_64", "aarch64"], 0))
        .await
        .unwrap();
    let w = s.worker_builds(b.id).await.unwrap();
    assert_eq!(w.len(), 2);
    assert_eq!(w[0].platform.as_str(), "x86_64");
    assert_eq!(w[1].platform.as_str(), "aarch64");
    assert!(
        w.iter()
            .all(|w| w.phase == BuildPhase::Pending && w.cluster.is_none())
    );
    assert_eq!(b.workers, w);
}

async fn placement_fills_by_least_load_and_never_exceeds_a_maximum(db: &Db) {
    let s = db.open().await;
    let s = &*s;
    let c = clusters(&[("x86_64", "one", 1, true), ("x86_64", "three", 3, true)]);
    let mut ids = Vec::new();
    for _ in 0..6 {
        ids.push(
            slipway_store::create_queued_scratch(s, &spec(&["x86_64"], 0))
                .await
                .unwrap()
                .id,
        );
    }
    let placed = s.place_queued(&c, 100).await.unwrap();
    // one: 0/1 vs three: 0/3 → tie → one; then one is full → three ×3.
    let got: Vec<(i64, &str)> = placed
        .iter()
        .map(|p| (p.build, p.cluster.as_str()))
        .collect();
    assert_eq!(
        got,
        vec![
            (ids[0], "one"),
            (ids[1], "three"),
            (ids[2], "three"),
            (ids[3], "three")
        ]
    );
    assert_eq!(
        s.active_per_cluster().await.unwrap(),
        HashMap::from([("one".to_string(), 1), ("three".to_string(), 3)])
    );
    // Full: nothing more until a slot frees, and a second pass is a no-op.
    assert!(s.place_queued(&c, 100).await.unwrap().is_empty());
    let b = s.get_build(ids[0]).await.unwrap().unwrap();
    assert_eq!(b.phase, BuildPhase::Running);
    assert!(
        b.events
            .iter()
            .any(|e| e.message == "x86_64: placed on cluster one (1/1 active)"),
        "{:?}",
        b.events
    );
    let third = s.get_build(ids[2]).await.unwrap().unwrap();
    assert!(
        third
            .events
            .iter()
            .any(|e| e.message == "x86_64: placed on cluster three (2/3 active)"),
        "{:?}",
        third.events
    );
    assert_eq!(
        s.get_build(ids[4]).await.unwrap().unwrap().phase,
        BuildPhase::Pending
    );

    // The worker build on "one" ends: the oldest queued build goes there.
    let w = s.worker_builds(ids[0]).await.unwrap()[0].id;
    let end = s
        .finish_worker_build(w, BuildPhase::Complete, None, None, None)
        .await
        .unwrap();
    assert_eq!(end.map(|e| e.remaining), Some(0));
    assert_eq!(
        s.finish_worker_build(w, BuildPhase::Failed, None, None, None)
            .await
            .unwrap(),
        None,
        "a final worker build cannot end twice"
    );
    let placed = s.place_queued(&c, 100).await.unwrap();
    assert_eq!(placed.len(), 1);
    assert_eq!(
        (placed[0].build, placed[0].cluster.as_str()),
        (ids[4], "one")
    );
}

async fn disabled_clusters_and_unserved_platforms_get_nothing(db: &Db) {
    let s = db.open().await;
    let s = &*s;
    let c = clusters(&[("x86_64", "off", 5, false), ("x86_64", "on", 1, true)]);
    let a = slipway_store::create_queued_scratch(s, &spec(&["x86_64"], 0))
        .await
        .unwrap()
        .id;
    let arm = slipway_store::create_queued_scratch(s, &spec(&["aarch64"], 0))
        .await
        .unwrap()
        .id;
    let b = slipway_store::create_queued_scratch(s, &spec(&["x86_64"], 0))
        .await
        .unwrap()
        .id;
    let placed = s.place_queued(&c, 100).await.unwrap();
    assert_eq!(placed.len(), 1);
    assert_eq!((placed[0].build, placed[0].cluster.as_str()), (a, "on"));
    for id in [arm, b] {
        assert_eq!(
            s.get_build(id).await.unwrap().unwrap().phase,
            BuildPhase::Pending
        );
    }
}

async fn higher_priority_first_then_fifo(db: &Db) {
    let s = db.open().await;
    let s = &*s;
    let c = clusters(&[("x86_64", "only", 1, true)]);
    let low = slipway_store::create_queued_scratch(s, &spec(&["x86_64"], 0))
        .await
        .unwrap()
        .id;
    let high1 = slipway_store::create_queued_scratch(s, &spec(&["x86_64"], 5))
        .await
        .unwrap()
        .id;
    let high2 = slipway_store::create_queued_scratch(s, &spec(&["x86_64"], 5))
        .await
        .unwrap()
        .id;
    let mut order = Vec::new();
    for _ in 0..3 {
        let p = s.place_queued(&c, 10).await.unwrap();
        assert_eq!(p.len(), 1);
        order.push(p[0].build);
        s.finish_worker_build(p[0].worker, BuildPhase::Complete, None, None, None)
            .await
            .unwrap();
    }
    assert_eq!(order, vec![high1, high2, low]);
}

async fn failed_submission_moves_to_the_next_best_cluster_then_gives_up(db: &Db) {
    let s = db.open().await;
    let s = &*s;
    let c = clusters(&[
        ("x86_64", "a", 2, true),
        ("x86_64", "b", 2, true),
        ("x86_64", "c", 2, true),
        ("x86_64", "d", 2, true),
    ]);
    let id = slipway_store::create_queued_scratch(s, &spec(&["x86_64"], 0))
        .await
        .unwrap()
        .id;
    let mut seen = Vec::new();
    for attempt in 1..=MAX_SUBMIT_ATTEMPTS {
        let p = s.place_queued(&c, 10).await.unwrap();
        assert_eq!(p.len(), 1, "attempt {attempt}");
        seen.push(p[0].cluster.clone());
        let phase = s
            .submission_failed(p[0].worker, "connection refused")
            .await
            .unwrap();
        let want = if attempt == MAX_SUBMIT_ATTEMPTS {
            BuildPhase::Error
        } else {
            BuildPhase::Pending
        };
        assert_eq!(phase, want);
    }
    assert_eq!(seen, ["a", "b", "c"]);
    let w = &s.worker_builds(id).await.unwrap()[0];
    assert_eq!(w.phase, BuildPhase::Error);
    assert_eq!(w.tried, ["a", "b", "c"]);
    assert!(
        w.reason
            .as_deref()
            .unwrap()
            .contains("after 3 attempts (a, b, c)")
    );
    let events: Vec<String> = s
        .get_build(id)
        .await
        .unwrap()
        .unwrap()
        .events
        .into_iter()
        .map(|e| e.message)
        .collect();
    assert!(
        events.contains(
            &"x86_64: cluster b could not take it (attempt 2 of 3): connection refused".to_string()
        ),
        "{events:?}"
    );
    assert!(s.place_queued(&c, 10).await.unwrap().is_empty());
}

async fn ending_or_cancelling_a_build_ends_its_queued_worker_builds(db: &Db) {
    let s = db.open().await;
    let s = &*s;
    let c = clusters(&[("x86_64", "x", 1, true), ("aarch64", "arm", 1, true)]);
    let busy = slipway_store::create_queued_scratch(s, &spec(&["aarch64"], 0))
        .await
        .unwrap()
        .id;
    s.place_queued(&c, 10).await.unwrap();
    // Two platforms; aarch64 must wait for `busy`.
    let multi = slipway_store::create_queued_scratch(s, &spec(&["x86_64", "aarch64"], 0))
        .await
        .unwrap()
        .id;
    let placed = s.place_queued(&c, 10).await.unwrap();
    assert_eq!(placed.len(), 1);
    assert_eq!(placed[0].platform.as_str(), "x86_64");
    assert_eq!(
        s.request_cancel(multi).await.unwrap(),
        CancelOutcome::Requested
    );
    let w = s.worker_builds(multi).await.unwrap();
    assert_eq!(
        w[0].phase,
        BuildPhase::Running,
        "running ones are stopped by their worker"
    );
    assert_eq!(w[1].phase, BuildPhase::Cancelled);
    // The slot of `busy` frees: the cancelled build's aarch64 never runs.
    let bw = s.worker_builds(busy).await.unwrap()[0].id;
    s.finish_worker_build(bw, BuildPhase::Complete, None, None, None)
        .await
        .unwrap();
    assert!(s.place_queued(&c, 10).await.unwrap().is_empty());

    let queued = slipway_store::create_queued_scratch(s, &spec(&["aarch64"], 0))
        .await
        .unwrap()
        .id;
    assert_eq!(
        s.request_cancel(queued).await.unwrap(),
        CancelOutcome::Cancelled
    );
    assert_eq!(
        s.worker_builds(queued).await.unwrap()[0].phase,
        BuildPhase::Cancelled
    );
}

async fn restart_requeues_unfinished_worker_builds_with_their_build(db: &Db) {
    let c = clusters(&[("x86_64", "x", 4, true), ("aarch64", "arm", 4, true)]);
    let s = db.open().await;
    let s = &*s;
    let id = slipway_store::create_queued_scratch(s, &spec(&["x86_64", "aarch64"], 0))
        .await
        .unwrap()
        .id;
    let placed = s.place_queued(&c, 10).await.unwrap();
    let done = placed
        .iter()
        .find(|p| p.platform.as_str() == "x86_64")
        .unwrap();
    s.finish_worker_build(done.worker, BuildPhase::Complete, None, None, None)
        .await
        .unwrap();
    let arm = placed
        .iter()
        .find(|p| p.platform.as_str() == "aarch64")
        .unwrap();
    let later = jiff::Timestamp::now() + jiff::SignedDuration::from_secs(600);
    s.add_worker_token(arm.worker, "before-restart", later)
        .await
        .unwrap();
    let s = db.open().await;
    let s = &*s;
    assert_eq!(
        s.recover_interrupted().await.unwrap(),
        vec![(id, RestartDecision::Requeue)]
    );
    let w = s.worker_builds(id).await.unwrap();
    assert_eq!(
        w[0].phase,
        BuildPhase::Complete,
        "finished platforms are kept"
    );
    assert_eq!(
        s.worker_token("before-restart").await.unwrap(),
        None,
        "a pod from before the restart cannot report for the new attempt"
    );
    assert_eq!(
        (w[1].phase, w[1].cluster.as_deref()),
        (BuildPhase::Pending, None)
    );
    assert!(s.active_per_cluster().await.unwrap().is_empty());
    let placed = s.place_queued(&c, 10).await.unwrap();
    assert_eq!(placed.len(), 1);
    let b = s.get_build(id).await.unwrap().unwrap();
    assert_eq!((b.phase, b.attempts), (BuildPhase::Running, 2));
    let s = db.open().await;
    let s = &*s;
    s.recover_interrupted().await.unwrap();
    let w = s.worker_builds(id).await.unwrap();
    assert_eq!(w[1].phase, BuildPhase::Error);
}

async fn cluster_overrides_are_kept(db: &Db) {
    let s = db.open().await;
    let s = &*s;
    assert!(s.cluster_overrides().await.unwrap().is_empty());
    s.set_cluster_enabled("a", false).await.unwrap();
    s.set_cluster_enabled("b", false).await.unwrap();
    s.set_cluster_enabled("b", true).await.unwrap();
    assert_eq!(
        s.cluster_overrides().await.unwrap(),
        HashMap::from([("a".to_string(), false), ("b".to_string(), true)])
    );
}

async fn worker_tokens_expire_and_are_revoked(db: &Db) {
    let s = db.open().await;
    let s = &*s;
    let c = clusters(&[("x86_64", "x", 1, true)]);
    slipway_store::create_queued_scratch(s, &spec(&["x86_64"], 0))
        .await
        .unwrap();
    let w = s.place_queued(&c, 1).await.unwrap()[0].worker;
    let later = jiff::Timestamp::now() + jiff::SignedDuration::from_secs(600);
    let past = jiff::Timestamp::now() - jiff::SignedDuration::from_secs(1);
    s.add_worker_token(w, "live", later).await.unwrap();
    s.add_worker_token(w, "old", past).await.unwrap();
    assert_eq!(s.worker_token("live").await.unwrap(), Some(w));
    assert_eq!(s.worker_token("old").await.unwrap(), None, "expired");
    assert_eq!(s.worker_token("nope").await.unwrap(), None);
    // Worker tokens are not API tokens.
    assert_eq!(s.principal("live").await.unwrap(), None);
    s.drop_worker_tokens(w).await.unwrap();
    assert_eq!(s.worker_token("live").await.unwrap(), None, "revoked");
}

/// Four stores on one database place and end builds at once: every
/// worker build is placed once, and no cluster ever runs more than its
/// maximum (sampled after every placement).
async fn servers_placing_at_once_never_overfill_nor_place_twice(db: &Db) {
    use std::sync::{Arc, Mutex};
    let mut stores: Vec<Arc<dyn Store>> = Vec::new();
    for _ in 0..4 {
        stores.push(Arc::from(db.open().await));
    }
    let mut ids = Vec::new();
    for _ in 0..40 {
        ids.push(
            slipway_store::create_queued_scratch(&*stores[0], &spec(&["x86_64"], 0))
                .await
                .unwrap()
                .id,
        );
    }
    let c = clusters(&[("x86_64", "a", 3, true), ("x86_64", "b", 2, true)]);
    let placed: Arc<Mutex<Vec<i64>>> = Arc::default();
    let worst: Arc<Mutex<HashMap<String, u32>>> = Arc::default();
    let tasks: Vec<_> = stores
        .iter()
        .map(|s| {
            let (s, c, placed, worst) = (s.clone(), c.clone(), placed.clone(), worst.clone());
            tokio::spawn(async move {
                for _ in 0..400 {
                    let got = s.place_queued(&c, 3).await.unwrap();
                    for (cluster, n) in s.active_per_cluster().await.unwrap() {
                        let mut w = worst.lock().unwrap();
                        let e = w.entry(cluster).or_insert(0);
                        *e = (*e).max(n);
                    }
                    for p in &got {
                        placed.lock().unwrap().push(p.worker);
                        let end = s
                            .finish_worker_build(p.worker, BuildPhase::Complete, None, None, None)
                            .await
                            .unwrap()
                            .unwrap();
                        assert_eq!(end.remaining, 0);
                        assert!(
                            s.finish(p.build, BuildPhase::Complete, None, None)
                                .await
                                .unwrap()
                        );
                    }
                    if placed.lock().unwrap().len() == 40 {
                        break;
                    }
                    tokio::task::yield_now().await;
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let mut placed = placed.lock().unwrap().clone();
    placed.sort_unstable();
    let n = placed.len();
    placed.dedup();
    assert_eq!(n, placed.len(), "a worker build was placed twice");
    assert_eq!(n, 40, "every worker build placed");
    let worst = worst.lock().unwrap().clone();
    assert!(worst.get("a").copied().unwrap_or(0) <= 3, "{worst:?}");
    assert!(worst.get("b").copied().unwrap_or(0) <= 2, "{worst:?}");
    for id in ids {
        let b = stores[0].get_build(id).await.unwrap().unwrap();
        assert_eq!(b.phase, BuildPhase::Complete);
        let placements = b
            .events
            .iter()
            .filter(|e| e.message.contains("placed on cluster"))
            .count();
        assert_eq!(placements, 1, "build {id}: {:?}", b.events);
    }
}

/// Two platforms of one build ending at once, from two servers: exactly
/// one of them is told nothing remains (and so ends the build).
async fn sibling_platforms_ending_at_once_leave_exactly_one_last(db: &Db) {
    use std::sync::Arc;
    let a: Arc<dyn Store> = Arc::from(db.open().await);
    let b: Arc<dyn Store> = Arc::from(db.open().await);
    let c = clusters(&[("x86_64", "x", 50, true), ("aarch64", "y", 50, true)]);
    for _ in 0..15 {
        let build = slipway_store::create_queued_scratch(&*a, &spec(&["x86_64", "aarch64"], 0))
            .await
            .unwrap();
        a.place_queued(&c, 10).await.unwrap();
        let workers = a.worker_builds(build.id).await.unwrap();
        assert!(workers.iter().all(|w| w.phase == BuildPhase::Running));
        let ends: Vec<_> = [(a.clone(), workers[0].id), (b.clone(), workers[1].id)]
            .into_iter()
            .map(|(s, w)| {
                tokio::spawn(async move {
                    s.finish_worker_build(w, BuildPhase::Complete, None, None, None)
                        .await
                        .unwrap()
                        .unwrap()
                        .remaining
                })
            })
            .collect();
        let mut remaining = Vec::new();
        for e in ends {
            remaining.push(e.await.unwrap());
        }
        remaining.sort_unstable();
        assert_eq!(remaining, vec![0, 1], "build {}", build.id);
        assert!(
            a.finish(build.id, BuildPhase::Complete, None, None)
                .await
                .unwrap()
        );
    }
}

/// A server cut off from the database long enough to be declared dead
/// carries on under a new holder name; its worker build was re-queued and
/// placed again (here on itself). The old run ending late is refused: it
/// is not the new placement's. The new run's end counts.
async fn a_late_end_from_a_run_declared_dead_is_not_the_new_placements(db: &Db) {
    let s = db.open().await;
    let s = &*s;
    let c = clusters(&[("x86_64", "only", 1, true)]);
    let id = slipway_store::create_queued_scratch(s, &spec(&["x86_64"], 0))
        .await
        .unwrap()
        .id;
    let old = s.holder();
    let first = s.place_queued(&c, 10).await.unwrap().remove(0);
    assert_eq!(first.owner.as_deref(), Some(old.as_str()));
    // No lease renewed under the old name: it is a dead server's.
    let new = s.become_new_holder();
    assert_ne!(new, old);
    assert_eq!(s.holder(), new);
    let recovered = s.recover_interrupted().await.unwrap();
    assert_eq!(recovered, vec![(id, RestartDecision::Requeue)]);
    let again = s.place_queued(&c, 10).await.unwrap().remove(0);
    assert_eq!(
        (again.worker, again.owner.as_deref()),
        (first.worker, Some(new.as_str()))
    );
    let late = s
        .finish_worker_build(
            first.worker,
            BuildPhase::Complete,
            None,
            None,
            first.owner.as_deref(),
        )
        .await
        .unwrap();
    assert_eq!(late, None, "the old run's end was taken for the new one's");
    let w = s.get_worker_build(first.worker).await.unwrap().unwrap();
    assert_eq!(w.phase, BuildPhase::Running);
    let end = s
        .finish_worker_build(
            again.worker,
            BuildPhase::Complete,
            None,
            None,
            again.owner.as_deref(),
        )
        .await
        .unwrap()
        .expect("the new run's end");
    assert_eq!(end.remaining, 0);
}
