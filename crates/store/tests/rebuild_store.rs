//! Image configs, trigger coalescing and waves, on both backends (see `common`).

use jiff::SignedDuration;
use slipway_core::build::SourceRequest;
use slipway_core::cluster::Clusters;
use slipway_core::rebuild::image_config::parse_configs;
use slipway_core::rebuild::trigger::{Provider, Trigger};
use slipway_core::rebuild::{MemberState, WaveMemberRecord, WaveState};
use slipway_core::{BuildPhase, BuildRequest, PushedImage};
use slipway_store::{ConfigWrite, Store};

mod common;
use common::Db;

on_both_backends!(
    apply_creates_updates_and_prunes,
    triggers_within_the_debounce_window_coalesce,
    builds_of_a_config_are_found_by_config,
    history_limits_prune_old_builds_but_keep_the_current_image,
    serial_latest_only_supersedes_waiting_triggers_and_queued_builds,
);

const CONFIGS: &str = r#"
name: a
source: { url: /srv/a, branch: main }
output: 127.0.0.1:5000/t/a
---
name: b
source: { url: /srv/b, branch: main }
output: 127.0.0.1:5000/t/b
"#;

fn writes(text: &str) -> Vec<ConfigWrite> {
    parse_configs(text)
        .unwrap()
        .into_iter()
        .map(|c| ConfigWrite {
            config: c.validate(Some("127.0.0.1:5000")).unwrap(),
            base_images: vec![],
            base_commit: None,
        })
        .collect()
}

/// A GitHub push of commit `c` × 40.
fn hook(c: &str) -> Trigger {
    Trigger::Webhook {
        provider: Provider::Github,
        commit: c.repeat(40),
        delivery: None,
    }
}

async fn apply_creates_updates_and_prunes(db: &Db) {
    let s = db.open().await;
    let s = &*s;
    let out = s.apply_configs(&writes(CONFIGS), &[]).await.unwrap();
    assert_eq!(out.created, ["a", "b"]);
    let out = s.apply_configs(&writes(CONFIGS), &[]).await.unwrap();
    assert_eq!(out.unchanged, ["a", "b"]);
    let mut w = writes(CONFIGS);
    w[0].config.run_policy = slipway_core::rebuild::image_config::RunPolicy::Parallel;
    w[0].base_images = vec!["127.0.0.1:5000/t/base:latest".into()];
    let out = s.apply_configs(&w[..1], &["b".to_string()]).await.unwrap();
    assert_eq!(out.updated, ["a"]);
    assert_eq!(out.deleted, ["b"]);
    let all = s.list_configs().await.unwrap();
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].base_images, ["127.0.0.1:5000/t/base:latest"]);
    assert!(s.get_config("b").await.unwrap().is_none());
    let events = s.config_events("b", 10).await.unwrap();
    let messages: Vec<&str> = events.iter().map(|e| e.1.as_str()).collect();
    assert_eq!(messages, ["created by apply", "deleted by apply --prune"]);
}

async fn triggers_within_the_debounce_window_coalesce(db: &Db) {
    let s = db.open().await;
    let s = &*s;
    s.apply_configs(&writes(CONFIGS), &[]).await.unwrap();
    let window = SignedDuration::from_secs(60);
    let w1 = s
        .add_trigger("a", &hook("1"), false, window, false)
        .await
        .unwrap();
    let w2 = s
        .add_trigger("a", &hook("2"), true, window, false)
        .await
        .unwrap();
    let w3 = s
        .add_trigger("b", &hook("3"), false, window, false)
        .await
        .unwrap();
    assert_eq!((w1, w2, w3), (w1, w1, w1));
    let wave = s.get_wave(w1).await.unwrap().unwrap();
    assert_eq!(wave.state, WaveState::Gathering);
    assert_eq!(wave.members.len(), 2, "one membership per config");
    let a = &wave.members[0];
    assert_eq!(a.config, "a");
    assert_eq!(a.trigger, Some(hook("2")), "the newest trigger wins");
    assert!(a.force);
    // The window is still open: nothing is due.
    assert!(s.due_waves().await.unwrap().is_empty());
    // A likely no-op (no window of its own) still joins the gathering
    // wave: a burst coalesces however its triggers look.
    let w4 = s
        .add_trigger("a", &hook("4"), false, SignedDuration::ZERO, false)
        .await
        .unwrap();
    assert_eq!(w4, w1);
    assert!(s.due_waves().await.unwrap().is_empty());

    // A zero window closes at once; the next trigger opens a new wave.
    let db2 = db.another();
    let s = db2.open().await;
    let s = &*s;
    s.apply_configs(&writes(CONFIGS), &[]).await.unwrap();
    let w1 = s
        .add_trigger("a", &hook("1"), false, SignedDuration::ZERO, false)
        .await
        .unwrap();
    let w2 = s
        .add_trigger("a", &hook("2"), false, SignedDuration::ZERO, false)
        .await
        .unwrap();
    assert_ne!(w1, w2);
    let due = s.due_waves().await.unwrap();
    assert_eq!(due.iter().map(|w| w.id).collect::<Vec<_>>(), [w1, w2]);
    let members = vec![
        WaveMemberRecord {
            config: "a".into(),
            root: true,
            trigger: None,
            force: false,
            state: MemberState::Waiting,
            build: None,
            previous_digest: Some("sha256:old".into()),
            reason: None,
        },
        WaveMemberRecord {
            config: "b".into(),
            root: false,
            trigger: None,
            force: false,
            state: MemberState::Waiting,
            build: None,
            previous_digest: None,
            reason: None,
        },
    ];
    s.start_wave(w1, &members).await.unwrap();
    s.set_member(w1, "b", MemberState::Blocked, None, Some("parent a failed"))
        .await
        .unwrap();
    let wave = s.get_wave(w1).await.unwrap().unwrap();
    assert_eq!(wave.state, WaveState::Running);
    assert_eq!(
        wave.members[0].trigger,
        Some(hook("1")),
        "the root keeps its trigger"
    );
    assert_eq!(
        wave.members[0].previous_digest.as_deref(),
        Some("sha256:old")
    );
    assert_eq!(wave.members[1].state, MemberState::Blocked);
    assert_eq!(wave.members[1].reason.as_deref(), Some("parent a failed"));
    s.finish_wave(w1).await.unwrap();
    assert_eq!(
        s.get_wave(w1).await.unwrap().unwrap().state,
        WaveState::Done
    );
    assert_eq!(s.list_waves(10).await.unwrap()[0].id, w2);
}

async fn builds_of_a_config_are_found_by_config(db: &Db) {
    let s = db.open().await;
    let s = &*s;
    let spec = spec_of("a");
    let b1 = slipway_store::create_queued_scratch(s, &spec)
        .await
        .unwrap();
    assert_eq!(
        s.active_builds("a").await.unwrap(),
        [(b1.id, "Pending".to_string())]
    );
    let clusters = Clusters::local_default(4);
    let placed = s.place_queued(&clusters, 10).await.unwrap();
    assert_eq!(placed.len(), 1);
    let image = PushedImage {
        reference: "127.0.0.1:5000/t/a@sha256:1".into(),
        tag_reference: "127.0.0.1:5000/t/a:latest".into(),
        digest: "sha256:1".into(),
        size: 1,
        layers: vec![],
    };
    s.finish(b1.id, BuildPhase::Complete, None, Some(&image))
        .await
        .unwrap();
    let (id, key, digest) = s.last_complete_build("a").await.unwrap().unwrap();
    assert_eq!(
        (id, key, digest.as_deref()),
        (b1.id, None, Some("sha256:1"))
    );
    assert!(s.last_complete_build("b").await.unwrap().is_none());

    // A skipped build keeps its key and is not active.
    let b2 = s.create_build(&spec).await.unwrap();
    let mut prepared = spec.clone();
    prepared.input_key = Some("sha256:key".into());
    assert!(
        s.skip_build(b2.id, &prepared, "skipped: up to date")
            .await
            .unwrap()
    );
    let b2 = s.get_build(b2.id).await.unwrap().unwrap();
    assert_eq!(b2.phase, BuildPhase::Skipped);
    assert_eq!(b2.spec.input_key.as_deref(), Some("sha256:key"));
    assert!(s.active_builds("a").await.unwrap().is_empty());
    assert!(!s.skip_build(b2.id, &prepared, "again").await.unwrap());
}

fn spec_of(config: &str) -> slipway_core::BuildSpec {
    let mut spec = BuildRequest {
        source: SourceRequest {
            url: format!("/srv/{config}"),
            ..Default::default()
        },
        output: Some(format!("127.0.0.1:5000/t/{config}")),
        ..Default::default()
    }
    .validate(None)
    .unwrap();
    spec.config = Some(config.into());
    spec
}

/// The preparation of `spec` for image t/CONFIG version 1 (named so when
/// `identity`), asking for `release`.
fn preparation(
    mut spec: slipway_core::BuildSpec,
    config: &str,
    identity: bool,
    release: Option<&str>,
    unique_tag: String,
) -> slipway_core::build::conventions::Preparation {
    spec.release = release.map(str::to_string);
    slipway_core::build::conventions::Preparation {
        spec,
        identity: identity.then(|| slipway_core::build::conventions::ImageIdentity {
            name: format!("t/{config}"),
            version: "1".into(),
            component: config.into(),
        }),
        unique_tag,
        floating: vec![],
        extra: vec![],
        lint: None,
        repo_config: None,
    }
}

/// A build of `config` that ends in `phase`, holding release `release`
/// of t/NAME 1 when given.
async fn ended(
    s: &dyn Store,
    config: &str,
    phase: BuildPhase,
    release: Option<&str>,
) -> slipway_core::BuildId {
    let spec = spec_of(config);
    let b = s.create_build(&spec).await.unwrap();
    if phase == BuildPhase::Skipped {
        assert!(
            s.skip_build(b.id, &spec, "skipped: up to date")
                .await
                .unwrap()
        );
        return b.id;
    }
    let mut queued = spec.clone();
    queued.kind = slipway_core::build::conventions::BuildKind::Scratch;
    let prep = preparation(
        queued,
        config,
        release.is_some(),
        release,
        format!("{}-test", b.id),
    );
    assert!(matches!(
        s.queue_build(b.id, &prep).await.unwrap(),
        slipway_store::Queued::Queued(_)
    ));
    if phase == BuildPhase::Cancelled {
        assert!(s.cancel_superseded(b.id, "superseded").await.unwrap());
        return b.id;
    }
    // Finishing a build leaves its worker build counted (no worker ended
    // it here), so the cluster is made large enough for every test build.
    let placed = s
        .place_queued(&Clusters::local_default(100), 10)
        .await
        .unwrap();
    assert_eq!(placed.len(), 1, "build {} was not placed", b.id);
    let image = PushedImage {
        reference: format!("127.0.0.1:5000/t/{config}@sha256:{}", b.id),
        tag_reference: format!("127.0.0.1:5000/t/{config}:latest"),
        digest: format!("sha256:{}", b.id),
        size: 1,
        layers: vec![],
    };
    let image = (phase == BuildPhase::Complete).then_some(&image);
    assert!(s.finish(b.id, phase, None, image).await.unwrap());
    b.id
}

fn ids_of(builds: Vec<slipway_core::Build>) -> Vec<i64> {
    builds.iter().map(|b| b.id).collect()
}

async fn history_limits_prune_old_builds_but_keep_the_current_image(db: &Db) {
    let s = db.open().await;
    let s = &*s;
    s.apply_configs(&writes(CONFIGS), &[]).await.unwrap();
    let c1 = ended(s, "a", BuildPhase::Complete, Some("1")).await;
    let c2 = ended(s, "a", BuildPhase::Complete, None).await;
    let f3 = ended(s, "a", BuildPhase::Failed, None).await;
    let s4 = ended(s, "a", BuildPhase::Skipped, None).await;
    let x5 = ended(s, "a", BuildPhase::Cancelled, None).await;
    let f6 = ended(s, "a", BuildPhase::Failed, None).await;
    let other = ended(s, "b", BuildPhase::Failed, None).await;
    let other2 = ended(s, "b", BuildPhase::Failed, None).await;
    let keep = slipway_core::rebuild::image_config::HistoryLimits {
        successful: 1,
        failed: 1,
    };

    // A running wave holds its builds: c1 is a member of one.
    let w = s
        .add_trigger("a", &Trigger::Manual, false, SignedDuration::ZERO, false)
        .await
        .unwrap();
    let member = WaveMemberRecord {
        config: "a".into(),
        root: true,
        trigger: Some(Trigger::Manual),
        force: false,
        state: MemberState::Built { changed: true },
        build: Some(c1),
        previous_digest: None,
        reason: None,
    };
    s.start_wave(w, &[member]).await.unwrap();
    s.set_member(w, "a", MemberState::Built { changed: true }, Some(c1), None)
        .await
        .unwrap();
    // A dry run says what would go and removes nothing.
    assert_eq!(
        ids_of(s.prune_history("a", keep, true).await.unwrap()),
        [f3, x5]
    );
    assert!(s.get_build(f3).await.unwrap().is_some());
    assert_eq!(
        ids_of(s.prune_history("a", keep, false).await.unwrap()),
        [f3, x5]
    );

    // Once the wave is done, c1 goes too; c2, the newest Complete build,
    // stays; Skipped builds are counted apart, so s4 pushes nothing out.
    s.finish_wave(w).await.unwrap();
    assert_eq!(
        ids_of(s.prune_history("a", keep, false).await.unwrap()),
        [c1]
    );
    assert!(s.prune_history("a", keep, false).await.unwrap().is_empty());
    for kept in [c2, s4, f6] {
        assert!(s.get_build(kept).await.unwrap().is_some(), "{kept} went");
    }
    let (current, _, _) = s.last_complete_build("a").await.unwrap().unwrap();
    assert_eq!(current, c2);
    let ids: Vec<_> = s
        .list_builds(&slipway_core::api::BuildQuery {
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap()
        .iter()
        .map(|b| b.id)
        .collect();
    assert_eq!(ids, [other2, other, f6, s4, c2]);

    // What is left of a pruned build: a tombstone and its release.
    assert!(s.get_build(c1).await.unwrap().is_none());
    let t = s.pruned_build(c1).await.unwrap().unwrap();
    assert_eq!((t.config.as_str(), t.phase.as_str()), ("a", "Complete"));
    assert!(s.pruned_build(c2).await.unwrap().is_none());
    let spec = spec_of("a");
    let b = s.create_build(&spec).await.unwrap();
    let prep = preparation(spec.clone(), "a", true, None, "x".into());
    let explicit = preparation(spec, "a", true, Some("1"), "x".into());
    match s.queue_build(b.id, &explicit).await.unwrap() {
        slipway_store::Queued::Refused(why) => {
            assert!(why.contains(&format!("build {c1}")), "{why}")
        }
        other => panic!("release 1 of a pruned build was given again: {other:?}"),
    }
    match s.queue_build(b.id, &prep).await.unwrap() {
        slipway_store::Queued::Queued(q) => assert_eq!(q.spec.release.as_deref(), Some("2")),
        other => panic!("{other:?}"),
    }

    // Two no-op triggers later the real build is still there: only the
    // older Skipped builds go.
    let s7 = ended(s, "a", BuildPhase::Skipped, None).await;
    let s8 = ended(s, "a", BuildPhase::Skipped, None).await;
    assert_eq!(
        ids_of(s.prune_history("a", keep, false).await.unwrap()),
        [s4, s7]
    );
    assert!(s.get_build(c2).await.unwrap().is_some());
    assert!(s.get_build(s8).await.unwrap().is_some());

    // Other configs are untouched; a larger limit prunes nothing.
    assert!(s.get_build(other).await.unwrap().is_some());
    let roomy = slipway_core::rebuild::image_config::HistoryLimits::default();
    assert!(s.prune_history("b", roomy, false).await.unwrap().is_empty());
}

async fn serial_latest_only_supersedes_waiting_triggers_and_queued_builds(db: &Db) {
    let s = db.open().await;
    let s = &*s;
    s.apply_configs(&writes(CONFIGS), &[]).await.unwrap();
    let zero = SignedDuration::ZERO;
    // w1's window closed, but it has not started (it would wait for a
    // running wave): a latest-only trigger joins it and wins.
    let w1 = s
        .add_trigger("a", &hook("1"), false, zero, false)
        .await
        .unwrap();
    let w2 = s
        .add_trigger("a", &hook("2"), false, zero, true)
        .await
        .unwrap();
    assert_eq!(w1, w2);
    let wave = s.get_wave(w1).await.unwrap().unwrap();
    assert_eq!(wave.members.len(), 1);
    assert_eq!(wave.members[0].trigger, Some(hook("2")));
    // Without latest-only (Serial), each trigger gets its own turn.
    let w3 = s
        .add_trigger("a", &hook("3"), false, zero, false)
        .await
        .unwrap();
    assert_ne!(w3, w1);
    // A config that is not a root of the waiting wave opens its own.
    let w4 = s
        .add_trigger("b", &hook("4"), false, zero, true)
        .await
        .unwrap();
    assert!(w4 != w1 && w4 != w3);

    // Queued builds are cancelled with the reason; running ones are not.
    let spec = spec_of("a");
    let queued = slipway_store::create_queued_scratch(s, &spec)
        .await
        .unwrap();
    assert!(
        s.cancel_superseded(queued.id, "superseded by wave 9")
            .await
            .unwrap()
    );
    let b = s.get_build(queued.id).await.unwrap().unwrap();
    assert_eq!(b.phase, BuildPhase::Cancelled);
    assert_eq!(b.reason.as_deref(), Some("superseded by wave 9"));
    assert!(!s.cancel_superseded(queued.id, "again").await.unwrap());
    let running = slipway_store::create_queued_scratch(s, &spec)
        .await
        .unwrap();
    s.place_queued(&Clusters::local_default(4), 10)
        .await
        .unwrap();
    assert!(!s.cancel_superseded(running.id, "no").await.unwrap());
    assert_eq!(
        s.get_build(running.id).await.unwrap().unwrap().phase,
        BuildPhase::Running
    );
}
