//! Image configs, trigger coalescing and waves, against a real database file.

use jiff::SignedDuration;
use slipway_core::build::SourceRequest;
use slipway_core::cluster::Clusters;
use slipway_core::image_config::parse_configs;
use slipway_core::rebuild::{MemberState, WaveMemberRecord, WaveState};
use slipway_core::trigger::{Provider, Trigger};
use slipway_core::{BuildPhase, BuildRequest, PushedImage};
use slipway_store::{ConfigWrite, RebuildStore, SqliteStore, Store, WorkerStore};

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

async fn store() -> (tempfile::TempDir, SqliteStore) {
    let dir = tempfile::tempdir().unwrap();
    let s = SqliteStore::open(&dir.path().join("s.db")).await.unwrap();
    (dir, s)
}

#[tokio::test]
async fn apply_creates_updates_and_prunes() {
    let (_d, s) = store().await;
    let out = s.apply_configs(&writes(CONFIGS), false).await.unwrap();
    assert_eq!(out.created, ["a", "b"]);
    let out = s.apply_configs(&writes(CONFIGS), false).await.unwrap();
    assert_eq!(out.unchanged, ["a", "b"]);
    let mut w = writes(CONFIGS);
    w[0].config.run_policy = slipway_core::image_config::RunPolicy::Parallel;
    w[0].base_images = vec!["127.0.0.1:5000/t/base:latest".into()];
    let out = s.apply_configs(&w[..1], true).await.unwrap();
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

#[tokio::test]
async fn triggers_within_the_debounce_window_coalesce() {
    let (_d, s) = store().await;
    s.apply_configs(&writes(CONFIGS), false).await.unwrap();
    let hook = |c: &str| Trigger::Webhook {
        provider: Provider::Github,
        commit: c.repeat(40),
        delivery: None,
    };
    let window = SignedDuration::from_secs(60);
    let w1 = s.add_trigger("a", &hook("1"), false, window).await.unwrap();
    let w2 = s.add_trigger("a", &hook("2"), true, window).await.unwrap();
    let w3 = s.add_trigger("b", &hook("3"), false, window).await.unwrap();
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

    // A zero window closes at once; the next trigger opens a new wave.
    let (_d2, s) = store().await;
    s.apply_configs(&writes(CONFIGS), false).await.unwrap();
    let w1 = s
        .add_trigger("a", &hook("1"), false, SignedDuration::ZERO)
        .await
        .unwrap();
    let w2 = s
        .add_trigger("a", &hook("2"), false, SignedDuration::ZERO)
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

#[tokio::test]
async fn builds_of_a_config_are_found_by_config() {
    let (_d, s) = store().await;
    let mut spec = BuildRequest {
        source: SourceRequest {
            url: "/srv/a".into(),
            ..Default::default()
        },
        output: Some("127.0.0.1:5000/t/a".into()),
        ..Default::default()
    }
    .validate(None)
    .unwrap();
    spec.config = Some("a".into());
    let b1 = slipway_store::create_queued_scratch(&s, &spec)
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
