//! Builds on both backends (see `common`).

use slipway_core::build::phase::RestartDecision;
use slipway_core::build::{SourceRequest, Stage, StageTiming};
use slipway_core::{BuildPhase, BuildRequest, BuildSpec, PushedImage};
use slipway_store::{CancelOutcome, Store};

mod common;
use common::Db;

on_both_backends!(
    create_claim_finish,
    claims_oldest_first,
    cancel_in_each_phase,
    restart_requeues_once_then_gives_up,
    tokens_by_hash_with_binding_expiry_and_revocation,
    sboms_are_kept_per_build_and_format_and_replaced,
    tracked_repositories_keep_their_last_read,
    deliveries_are_retried_until_delivered_and_builds_announced_once,
    build_events_reach_the_feed_in_order_and_age_out,
    provenance_is_kept_per_build_and_replaced,
    reproductions_are_kept_newest_first,
);

fn spec() -> BuildSpec {
    BuildRequest {
        source: SourceRequest {
            url: "/srv/repo".into(),
            ..Default::default()
        },
        output: Some("127.0.0.1:5000/app:1".into()),
        ..Default::default()
    }
    .validate(None)
    .unwrap()
}

/// Place the oldest queued worker build on a roomy local cluster and return
/// its build, as the scheduler does.
async fn claim(s: &dyn Store) -> Option<slipway_core::Build> {
    let placed = s
        .place_queued(&slipway_core::Clusters::local_default(100), 1)
        .await
        .unwrap();
    match placed.first() {
        Some(p) => s.get_build(p.build).await.unwrap(),
        None => None,
    }
}

fn phases(b: &slipway_core::Build) -> Vec<BuildPhase> {
    b.events.iter().filter_map(|e| e.phase).collect()
}

async fn create_claim_finish(db: &Db) {
    let s = db.open().await;
    let s = &*s;
    let b = slipway_store::create_queued_scratch(s, &spec())
        .await
        .unwrap();
    assert_eq!(b.phase, BuildPhase::Pending);
    assert_eq!(phases(&b), vec![BuildPhase::New, BuildPhase::Pending]);
    assert_eq!(b.spec.source, spec().source);
    assert_eq!(b.spec.tags, [format!("{}-test", b.id)]);

    let c = claim(s).await.unwrap();
    assert_eq!(c.id, b.id);
    assert_eq!(c.phase, BuildPhase::Running);
    assert_eq!(c.attempts, 1);
    assert!(c.started_at.is_some());
    assert!(claim(s).await.is_none(), "claimed twice");

    assert_eq!(s.set_commit_once(b.id, "abc").await.unwrap(), "abc");
    assert_eq!(s.set_commit_once(b.id, "def").await.unwrap(), "abc");
    s.record_stage(
        b.id,
        StageTiming {
            stage: Stage::Build,
            duration_ms: 20,
        },
    )
    .await
    .unwrap();
    s.record_stage(
        b.id,
        StageTiming {
            stage: Stage::Clone,
            duration_ms: 10,
        },
    )
    .await
    .unwrap();
    let img = PushedImage {
        reference: "127.0.0.1:5000/app@sha256:00".into(),
        tag_reference: "127.0.0.1:5000/app:1".into(),
        digest: "sha256:00".into(),
        size: 42,
        layers: vec!["sha256:11".into()],
    };
    assert!(
        s.finish(b.id, BuildPhase::Complete, None, Some(&img))
            .await
            .unwrap()
    );
    // A second finish (e.g. a racing cancel path) changes nothing.
    assert!(
        !s.finish(b.id, BuildPhase::Failed, Some("x"), None)
            .await
            .unwrap()
    );

    let done = s.get_build(b.id).await.unwrap().unwrap();
    assert_eq!(done.phase, BuildPhase::Complete);
    assert_eq!(done.commit.as_deref(), Some("abc"));
    assert_eq!(done.image, Some(img));
    assert_eq!(
        done.stages.iter().map(|t| t.stage).collect::<Vec<_>>(),
        vec![Stage::Clone, Stage::Build]
    );
    assert!(done.finished_at.is_some());
    assert_eq!(
        phases(&done),
        vec![
            BuildPhase::New,
            BuildPhase::Pending,
            BuildPhase::Running,
            BuildPhase::Complete
        ]
    );
}

async fn claims_oldest_first(db: &Db) {
    let s = db.open().await;
    let s = &*s;
    let a = slipway_store::create_queued_scratch(s, &spec())
        .await
        .unwrap();
    let b = slipway_store::create_queued_scratch(s, &spec())
        .await
        .unwrap();
    assert_eq!(claim(s).await.unwrap().id, a.id);
    assert_eq!(claim(s).await.unwrap().id, b.id);
    let q = |limit, before| slipway_core::api::BuildQuery {
        limit,
        before,
        config: None,
        projects: None,
        ..Default::default()
    };
    let list = s.list_builds(&q(10, None)).await.unwrap();
    assert_eq!(
        list.iter().map(|b| b.id).collect::<Vec<_>>(),
        vec![b.id, a.id]
    );
    // Pages: the cursor is the last id seen.
    let first = s.list_builds(&q(1, None)).await.unwrap();
    assert_eq!(first[0].id, b.id);
    let next = s.list_builds(&q(1, Some(first[0].id))).await.unwrap();
    assert_eq!(next[0].id, a.id);
    assert!(s.list_builds(&q(1, Some(a.id))).await.unwrap().is_empty());
    // A summary, not the whole build.
    assert_eq!(next[0].trigger, "manual");
    assert_eq!(next[0].output, spec().output.to_string());
}

async fn cancel_in_each_phase(db: &Db) {
    let s = db.open().await;
    let s = &*s;
    let queued = slipway_store::create_queued_scratch(s, &spec())
        .await
        .unwrap();
    assert_eq!(
        s.request_cancel(queued.id).await.unwrap(),
        CancelOutcome::Cancelled
    );
    assert_eq!(
        s.get_build(queued.id).await.unwrap().unwrap().phase,
        BuildPhase::Cancelled
    );
    assert_eq!(
        s.request_cancel(queued.id).await.unwrap(),
        CancelOutcome::AlreadyFinal(BuildPhase::Cancelled)
    );
    // A cancelled build is never claimed.
    assert!(claim(s).await.is_none());

    let running = slipway_store::create_queued_scratch(s, &spec())
        .await
        .unwrap();
    claim(s).await.unwrap();
    assert!(!s.cancel_requested(running.id).await.unwrap());
    assert_eq!(
        s.request_cancel(running.id).await.unwrap(),
        CancelOutcome::Requested
    );
    assert!(s.cancel_requested(running.id).await.unwrap());
    assert!(
        s.finish(
            running.id,
            BuildPhase::Cancelled,
            Some("cancelled by user"),
            None
        )
        .await
        .unwrap()
    );

    assert_eq!(
        s.request_cancel(9999).await.unwrap(),
        CancelOutcome::NotFound
    );
}

async fn restart_requeues_once_then_gives_up(db: &Db) {
    let id;
    {
        let s = db.open().await;
        let s = &*s;
        id = slipway_store::create_queued_scratch(s, &spec())
            .await
            .unwrap()
            .id;
        let queued = slipway_store::create_queued_scratch(s, &spec())
            .await
            .unwrap()
            .id;
        claim(s).await.unwrap();
        // "crash": reopen the file.
        let s = db.open().await;
        let s = &*s;
        assert_eq!(
            s.recover_interrupted().await.unwrap(),
            vec![(id, RestartDecision::Requeue)]
        );
        assert_eq!(
            s.get_build(id).await.unwrap().unwrap().phase,
            BuildPhase::Pending
        );
        assert_eq!(
            s.get_build(queued).await.unwrap().unwrap().phase,
            BuildPhase::Pending
        );
        assert_eq!(claim(s).await.unwrap().attempts, 2);
    }
    let s = db.open().await;
    let s = &*s;
    assert_eq!(
        s.recover_interrupted().await.unwrap(),
        vec![(id, RestartDecision::GiveUp)]
    );
    let b = s.get_build(id).await.unwrap().unwrap();
    assert_eq!(b.phase, BuildPhase::Error);
    assert_eq!(b.reason.as_deref(), Some("interrupted by server restart"));
}

async fn tokens_by_hash_with_binding_expiry_and_revocation(db: &Db) {
    use slipway_core::access::{Binding, Role};
    use slipway_core::api::access::TokenKind;
    use slipway_store::NewToken;
    let s = db.open().await;
    let s = &*s;
    assert_eq!(s.token_count().await.unwrap(), 0);
    let token = |name, hash, binding, expires_at| NewToken {
        name,
        hash,
        kind: TokenKind::User,
        binding,
        created_by: None,
        expires_at,
        identity: None,
    };
    s.add_token(&token("admin", "abc123", Binding::global_admin(), None))
        .await
        .unwrap();
    let p = s.principal("abc123").await.unwrap().unwrap();
    assert_eq!(
        (p.name.as_str(), p.binding),
        ("admin", Binding::global_admin())
    );
    assert_eq!(s.principal("other").await.unwrap(), None);
    assert_eq!(s.token_count().await.unwrap(), 1);
    assert!(
        s.add_token(&token("dup", "abc123", Binding::global_admin(), None))
            .await
            .is_err(),
        "hash must be unique"
    );
    // Bound to a project that exists.
    assert_eq!(s.project_names().await.unwrap(), ["default"]);
    s.create_project("team", false).await.unwrap();
    assert!(s.create_project("team", true).await.is_err());
    let dev = Binding {
        project: Some("team".into()),
        role: Role::Developer,
    };
    let t = s
        .add_token(&NewToken {
            kind: TokenKind::Service,
            created_by: Some("token:admin"),
            ..token("ci", "h-ci", dev.clone(), None)
        })
        .await
        .unwrap();
    assert_eq!((t.kind, t.binding()), (TokenKind::Service, dev.clone()));
    assert_eq!(s.principal("h-ci").await.unwrap().unwrap().binding, dev);
    // Revoked: gone at once, even though it was just looked up (cached).
    let r = s.revoke_token(t.id).await.unwrap().unwrap();
    assert!(r.revoked_at.is_some());
    assert_eq!(s.principal("h-ci").await.unwrap(), None);
    // Expired: refused, though stored.
    let past = jiff::Timestamp::now() - jiff::SignedDuration::from_secs(1);
    s.add_token(&token("old", "h-old", dev, Some(past)))
        .await
        .unwrap();
    assert_eq!(s.principal("h-old").await.unwrap(), None);
    assert_eq!(s.tokens().await.unwrap().len(), 3);
    let p = s.set_anonymous_pull("team", true).await.unwrap().unwrap();
    assert!(p.anonymous_pull);
    assert!(s.set_anonymous_pull("nope", true).await.unwrap().is_none());
}

async fn sboms_are_kept_per_build_and_format_and_replaced(db: &Db) {
    use slipway_core::scan::sbom::{SbomFormat, StoredSbom};
    let s = db.open().await;
    let s = &*s;
    let b = slipway_store::create_queued_scratch(s, &spec())
        .await
        .unwrap();
    let sbom = |format: SbomFormat, reference: Option<&str>| StoredSbom {
        build: b.id,
        platform: "x86_64".into(),
        format,
        artifact_type: format.media_type().into(),
        subject: "127.0.0.1:5000/app@sha256:aa".into(),
        reference: reference.map(Into::into),
        problem: reference.is_none().then(|| "registry down".into()),
        packages: 3,
        created_at: "2026-11-23T10:00:00Z".parse().unwrap(),
    };
    s.record_sbom(&sbom(SbomFormat::CycloneDx, None), "{\"cdx\":1}")
        .await
        .unwrap();
    s.record_sbom(
        &sbom(SbomFormat::Spdx, Some("127.0.0.1:5000/app@sha256:bb")),
        "{}",
    )
    .await
    .unwrap();
    // Attached on a second try: replaces the first.
    let again = sbom(SbomFormat::CycloneDx, Some("127.0.0.1:5000/app@sha256:cc"));
    s.record_sbom(&again, "{\"cdx\":2}").await.unwrap();
    let kept = s.sboms_of_build(b.id).await.unwrap();
    assert_eq!(
        kept,
        [
            sbom(SbomFormat::Spdx, Some("127.0.0.1:5000/app@sha256:bb")),
            again
        ]
    );
    // Another platform's SBOM is kept beside them.
    let arm = StoredSbom {
        platform: "aarch64".into(),
        ..sbom(SbomFormat::Spdx, Some("127.0.0.1:5000/app@sha256:dd"))
    };
    s.record_sbom(&arm, "{\"arm\":1}").await.unwrap();
    assert_eq!(s.sboms_of_build(b.id).await.unwrap().len(), 3);
    assert_eq!(
        s.sbom_document(b.id, SbomFormat::CycloneDx, None)
            .await
            .unwrap()
            .as_deref(),
        Some("{\"cdx\":2}")
    );
    assert_eq!(
        s.sbom_document(b.id, SbomFormat::Spdx, Some("aarch64"))
            .await
            .unwrap()
            .as_deref(),
        Some("{\"arm\":1}")
    );
    assert_eq!(
        s.sbom_document(b.id, SbomFormat::Spdx, Some("s390x"))
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        s.sbom_document(b.id + 1, SbomFormat::Spdx, None)
            .await
            .unwrap(),
        None
    );
}

async fn tracked_repositories_keep_their_last_read(db: &Db) {
    use slipway_core::scan::TrackedRepository;
    use slipway_core::scan::inventory::Ecosystem;
    let s = db.open().await;
    let s = &*s;
    assert_eq!(s.tracked_repository("file:///r").await.unwrap(), None);
    let mut repo = TrackedRepository {
        url: "file:///r".into(),
        kind: Ecosystem::Rpm,
        digest: "sha256:1".into(),
        packages: [(
            "bash".to_string(),
            vec![("5.2-1".to_string(), "x86_64".to_string())],
        )]
        .into_iter()
        .collect(),
        checked_at: "2026-11-23T10:00:00Z".parse().unwrap(),
    };
    s.put_tracked_repository(&repo).await.unwrap();
    assert_eq!(
        s.tracked_repository("file:///r").await.unwrap().as_ref(),
        Some(&repo)
    );
    let later: jiff::Timestamp = "2026-11-23T11:00:00Z".parse().unwrap();
    s.touch_tracked_repository("file:///r", later)
        .await
        .unwrap();
    repo.checked_at = later;
    assert_eq!(
        s.tracked_repository("file:///r").await.unwrap().as_ref(),
        Some(&repo)
    );
    repo.digest = "sha256:2".into();
    s.put_tracked_repository(&repo).await.unwrap();
    assert_eq!(
        s.tracked_repository("file:///r")
            .await
            .unwrap()
            .unwrap()
            .digest,
        "sha256:2"
    );
}

async fn deliveries_are_retried_until_delivered_and_builds_announced_once(db: &Db) {
    use slipway_core::notify::{DeliveryState, Message, NotifyTarget};
    use slipway_store::NewDelivery;
    let s = db.open().await;
    let s = &*s;
    let b = slipway_store::create_queued_scratch(s, &spec())
        .await
        .unwrap();
    assert!(
        s.unannounced_builds(10).await.unwrap().is_empty(),
        "not ended yet"
    );
    s.request_cancel(b.id).await.unwrap();
    assert_eq!(s.unannounced_builds(10).await.unwrap(), [b.id]);
    let message = Message {
        subject: "build cancelled".into(),
        text: "text".into(),
        payload: serde_json::json!({"build": b.id}),
        failure: false,
    };
    let target = NotifyTarget {
        email: vec!["ops@example.com".into()],
        ..Default::default()
    };
    s.queue_deliveries(
        Some(b.id),
        &[NewDelivery {
            build: Some(b.id),
            scan: None,
            config: None,
            target: target.clone(),
            message: message.clone(),
        }],
    )
    .await
    .unwrap();
    assert!(s.unannounced_builds(10).await.unwrap().is_empty());
    let now = jiff::Timestamp::now();
    let due = s.due_deliveries(now, 10).await.unwrap();
    assert_eq!(due.len(), 1);
    assert_eq!((due[0].state, due[0].attempts), (DeliveryState::Pending, 0));
    assert_eq!(due[0].message, message);
    assert_eq!(due[0].target, target);
    // A failed attempt waits for its retry time.
    let later = now + jiff::SignedDuration::from_secs(60);
    s.record_attempt(due[0].id, Err("connection refused"), Some(later))
        .await
        .unwrap();
    assert!(s.due_deliveries(now, 10).await.unwrap().is_empty());
    let again = s.due_deliveries(later, 10).await.unwrap();
    assert_eq!(again[0].attempts, 1);
    assert_eq!(again[0].last_error.as_deref(), Some("connection refused"));
    s.record_attempt(again[0].id, Ok(()), None).await.unwrap();
    assert!(s.due_deliveries(later, 10).await.unwrap().is_empty());
    assert!(
        s.list_deliveries(Some("other"), 10)
            .await
            .unwrap()
            .is_empty()
    );
    let listed = s.list_deliveries(None, 10).await.unwrap();
    assert_eq!(
        (listed[0].state, listed[0].attempts),
        (DeliveryState::Delivered, 2)
    );
    assert!(listed[0].delivered_at.is_some());
}

/// The change feed: triggers write one row per build event, in order.
async fn build_events_reach_the_feed_in_order_and_age_out(db: &Db) {
    let store = db.open().await;
    let store = &*store;
    let head = store.feed_head().await.unwrap();
    let b = store.create_build(&spec()).await.unwrap();
    store.record_event(b.id, "hello").await.unwrap();
    let rows = store.feed_after(head, 100).await.unwrap();
    assert!(!rows.is_empty(), "{rows:?}");
    assert!(rows.windows(2).all(|w| w[0].id < w[1].id));
    let last = rows.last().unwrap();
    assert_eq!(last.kind, "build");
    assert_eq!(last.data["build"], b.id);
    assert_eq!(last.data["message"], "hello");
    assert_eq!(last.project.as_deref(), Some("default"));
    assert_eq!(store.feed_head().await.unwrap(), last.id);
    // Read after a given id: only what came later.
    let after = store.feed_after(rows[0].id, 100).await.unwrap();
    assert_eq!(after.len(), rows.len() - 1);
    // Pruned by age.
    let later = jiff::Timestamp::now()
        .checked_add(jiff::SignedDuration::from_secs(60))
        .unwrap();
    assert!(store.prune_feed(later).await.unwrap() >= rows.len() as u64);
    assert!(store.feed_after(0, 100).await.unwrap().is_empty());
}

async fn provenance_is_kept_per_build_and_replaced(db: &Db) {
    let s = db.open().await;
    let s = &*s;
    let a = slipway_store::create_queued_scratch(s, &spec())
        .await
        .unwrap()
        .id;
    let b = slipway_store::create_queued_scratch(s, &spec())
        .await
        .unwrap()
        .id;
    assert_eq!(s.provenance(a).await.unwrap(), None);
    s.put_provenance(a, r#"{"payload":"e30=","payloadType":"t","signatures":[]}"#)
        .await
        .unwrap();
    s.put_provenance(a, r#"{"payload":"W10=","payloadType":"t","signatures":[]}"#)
        .await
        .unwrap();
    assert_eq!(
        s.provenance(a).await.unwrap().as_deref(),
        Some(r#"{"payload":"W10=","payloadType":"t","signatures":[]}"#)
    );
    assert_eq!(s.provenance(b).await.unwrap(), None);
    // Only for builds that exist.
    assert!(s.put_provenance(b + 100, "{}").await.is_err());
}

async fn reproductions_are_kept_newest_first(db: &Db) {
    let s = db.open().await;
    let s = &*s;
    let mut ids = Vec::new();
    for _ in 0..4 {
        ids.push(
            slipway_store::create_queued_scratch(s, &spec())
                .await
                .unwrap()
                .id,
        );
    }
    let (build, r1, r2, other) = (ids[0], ids[1], ids[2], ids[3]);
    assert!(s.reproductions(build).await.unwrap().is_empty());
    s.put_reproduction(build, r1, false, r#"{"n":1}"#)
        .await
        .unwrap();
    s.put_reproduction(build, r2, true, r#"{"n":2}"#)
        .await
        .unwrap();
    // The same rebuild recorded again replaces its row.
    s.put_reproduction(build, r1, false, r#"{"n":3}"#)
        .await
        .unwrap();
    assert_eq!(
        s.reproductions(build).await.unwrap(),
        vec![
            (true, r#"{"n":2}"#.to_string()),
            (false, r#"{"n":3}"#.to_string())
        ]
    );
    assert!(s.reproductions(other).await.unwrap().is_empty());
    // Only between builds that exist.
    assert!(
        s.put_reproduction(build, other + 100, true, "{}")
            .await
            .is_err()
    );
}
