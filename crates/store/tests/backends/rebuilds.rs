//! Rebuilds (configs, waves, history limits) on both backends, with the
//! builds they read added by SQL; and PostgreSQL servers racing on the
//! read-then-write ones.

use super::{Backend, backends};
use jiff::{SignedDuration, Timestamp};
use slipway_core::BuildRequest;
use slipway_core::build::SourceRequest;
use slipway_core::rebuild::image_config::{HistoryLimits, RunPolicy, parse_configs};
use slipway_core::rebuild::trigger::{Provider, Trigger};
use slipway_core::rebuild::{MemberState, Wave, WaveMemberRecord, WaveState};
use slipway_store::{ConfigWrite, PgStore, RebuildStore};
use slipway_test_support::Postgres;
use std::sync::Arc;

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

/// The configs `names`, each building /srv/NAME.
fn configs_named(names: &[&str]) -> Vec<ConfigWrite> {
    let text: Vec<String> = names
        .iter()
        .map(|n| {
            format!("name: {n}\nsource: {{ url: /srv/{n}, branch: main }}\noutput: 127.0.0.1:5000/t/{n}\n")
        })
        .collect();
    writes(&text.join("---\n"))
}

/// A GitHub push of commit `c` × 40.
fn hook(c: &str) -> Trigger {
    Trigger::Webhook {
        provider: Provider::Github,
        commit: c.repeat(40),
        delivery: None,
    }
}

/// A wave without its times.
fn shown(w: &Wave) -> (i64, WaveState, Vec<WaveMemberRecord>) {
    (w.id, w.state, w.members.clone())
}

fn member(config: &str, root: bool, build: Option<i64>) -> WaveMemberRecord {
    WaveMemberRecord {
        config: config.into(),
        root,
        trigger: None,
        force: false,
        state: MemberState::Waiting,
        build,
        previous_digest: None,
        reason: None,
    }
}

impl Backend {
    /// A build of `config` in `phase` whose spec reads back: started unless
    /// New or Pending, finished `id` seconds later when final; a Complete
    /// one pushed `sha256:ID`; its input key `key-ID`.
    fn add_config_build(&self, id: i64, config: &str, phase: &str) {
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
        let spec = serde_json::to_string(&spec).unwrap().replace('\'', "''");
        let image = if phase == "Complete" {
            format!(
                "'{{\"reference\":\"127.0.0.1:5000/t/{config}@sha256:{id}\",\"tag_reference\":\"127.0.0.1:5000/t/{config}:latest\",\"digest\":\"sha256:{id}\",\"size\":1,\"layers\":[]}}'"
            )
        } else {
            "NULL".into()
        };
        let start = Timestamp::from_second(1_735_689_660).unwrap();
        let started = if matches!(phase, "New" | "Pending") {
            "NULL".to_string()
        } else {
            format!("'{start}'")
        };
        let finished = if matches!(phase, "New" | "Pending" | "Running") {
            "NULL".to_string()
        } else {
            let end = start.checked_add(SignedDuration::from_secs(id)).unwrap();
            format!("'{end}'")
        };
        self.sql(&format!(
            "INSERT INTO builds (id, phase, spec, created_at, config, input_key, image, started_at, finished_at) \
             VALUES ({id}, '{phase}', '{spec}', '2025-01-01T00:00:00Z', '{config}', 'key-{id}', {image}, {started}, {finished})"
        ));
    }
}

#[tokio::test]
async fn configs_are_applied_read_and_deleted() {
    let mut answers = Vec::new();
    for b in backends().await {
        let s = &b.store;
        let first = s.apply_configs(&writes(CONFIGS), &[]).await.unwrap();
        let again = s.apply_configs(&writes(CONFIGS), &[]).await.unwrap();
        let mut w = writes(CONFIGS);
        w[0].config.run_policy = RunPolicy::Parallel;
        w[0].base_images = vec!["127.0.0.1:5000/t/base:latest".into()];
        w[0].base_commit = Some("c0".into());
        // A name both written and deleted is kept; one not there is no
        // deletion.
        let changed = s
            .apply_configs(&w[..1], &["a".into(), "b".into(), "none".into()])
            .await
            .unwrap();
        let names: Vec<String> = s
            .list_configs()
            .await
            .unwrap()
            .iter()
            .map(|c| c.config.name.clone())
            .collect();

        // What the server learns about a config, and what an update clears.
        let t1 = Timestamp::from_second(1_900_000_000).unwrap();
        let t2 = Timestamp::from_second(1_900_000_600).unwrap();
        s.set_base_images("a", &["x:1".into(), "y:2".into()], "c1")
            .await
            .unwrap();
        s.set_poll_state("a", Some("h1"), Some(t1)).await.unwrap();
        s.set_next_schedule("a", Some(t2)).await.unwrap();
        let a = s.get_config("a").await.unwrap().unwrap();
        assert_eq!(
            (a.next_poll_at, a.next_schedule_at, a.next_rescan_at),
            (Some(t1), Some(t2), None),
            "{}",
            b.name
        );
        assert!(a.updated_at >= a.created_at, "{}", b.name);
        // No head seen: the last one stays.
        s.set_poll_state("a", None, None).await.unwrap();
        let polled = s.get_config("a").await.unwrap().unwrap();
        assert_eq!(polled.next_poll_at, None);
        let learned = (
            polled.config.clone(),
            polled.base_images.clone(),
            polled.base_commit.clone(),
            polled.poll_head.clone(),
        );
        // The same config with other FROM images is an update, which
        // clears the planned times; a missing commit keeps the last.
        let mut w2 = w[..1].to_vec();
        w2[0].base_commit = None;
        let updated = s.apply_configs(&w2, &[]).await.unwrap();
        let a = s.get_config("a").await.unwrap().unwrap();
        assert_eq!((a.next_poll_at, a.next_schedule_at), (None, None));
        let after_update = (a.base_images.clone(), a.base_commit.clone());

        s.record_config_event("a", "skipped: up to date", Some(7))
            .await
            .unwrap();
        let events = s.config_events("a", 3).await.unwrap();
        assert!(
            events.windows(2).all(|e| e[0].0 <= e[1].0),
            "{}: newest last",
            b.name
        );
        let events: Vec<(String, Option<i64>)> =
            events.into_iter().map(|(_, m, id)| (m, id)).collect();
        let b_events: Vec<String> = s
            .config_events("b", 10)
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.1)
            .collect();

        let deleted = s.delete_config("a").await.unwrap();
        let twice = s.delete_config("a").await.unwrap();
        let gone = s.get_config("a").await.unwrap().is_none();
        let last_event = s.config_events("a", 1).await.unwrap().pop().unwrap().1;
        answers.push((
            (first, again, changed, updated, names),
            (learned, after_update),
            (events, b_events),
            (
                deleted,
                twice,
                gone,
                last_event,
                s.list_configs().await.unwrap().len(),
            ),
        ));
    }
    let a = &answers[0];
    assert_eq!(a.0.0.created, ["a", "b"]);
    assert_eq!(a.0.1.unchanged, ["a", "b"]);
    assert_eq!(
        (&a.0.2.updated, &a.0.2.deleted),
        (&vec!["a".to_string()], &vec!["b".to_string()])
    );
    assert_eq!(a.0.3.updated, ["a"]);
    assert_eq!(a.0.4, ["a"]);
    assert_eq!(a.1.0.1, ["x:1", "y:2"]);
    assert_eq!(
        (a.1.0.2.as_deref(), a.1.0.3.as_deref()),
        (Some("c1"), Some("h1"))
    );
    assert_eq!(
        a.1.1,
        (
            vec!["127.0.0.1:5000/t/base:latest".to_string()],
            Some("c1".to_string())
        )
    );
    assert_eq!(
        a.2.0,
        [
            ("updated by apply".to_string(), None),
            ("updated by apply".to_string(), None),
            ("skipped: up to date".to_string(), Some(7))
        ]
    );
    assert_eq!(a.2.1, ["created by apply", "deleted by apply --prune"]);
    assert_eq!(a.3, (true, false, true, "deleted".to_string(), 0));
    assert_eq!(answers[0], answers[1], "both backends answer the same");
}

#[tokio::test]
async fn triggers_gather_into_waves_that_start_and_finish() {
    let mut answers = Vec::new();
    for b in backends().await {
        let s = &b.store;
        s.apply_configs(&writes(CONFIGS), &[]).await.unwrap();
        let zero = SignedDuration::ZERO;
        let window = SignedDuration::from_secs(60);
        // Zero windows close at once: latest-only joins the waiting wave
        // it is a root of; without it, or as no root, a trigger opens one.
        let w1 = s
            .add_trigger("a", &hook("1"), false, zero, false)
            .await
            .unwrap();
        let w1b = s
            .add_trigger("a", &hook("2"), false, zero, true)
            .await
            .unwrap();
        let w2 = s
            .add_trigger("a", &hook("3"), false, zero, false)
            .await
            .unwrap();
        let w3 = s
            .add_trigger("b", &hook("4"), false, zero, true)
            .await
            .unwrap();
        let due: Vec<i64> = s.due_waves().await.unwrap().iter().map(|w| w.id).collect();
        let gathered = shown(&s.get_wave(w1).await.unwrap().unwrap());

        // Started: the root keeps its (newest) trigger, children join.
        let mut a = member("a", true, None);
        a.previous_digest = Some("sha256:old".into());
        s.start_wave(w1, &[a, member("b", false, None)])
            .await
            .unwrap();
        s.set_member(w1, "b", MemberState::Blocked, None, Some("parent a failed"))
            .await
            .unwrap();
        s.set_member(w1, "a", MemberState::Building, Some(42), None)
            .await
            .unwrap();
        // No build or reason given: the recorded ones stay.
        s.set_member(w1, "a", MemberState::Built { changed: true }, None, None)
            .await
            .unwrap();
        let running = s.get_wave(w1).await.unwrap().unwrap();
        assert!(running.started_at.is_some() && running.finished_at.is_none());
        let due_running: Vec<(i64, WaveState)> = s
            .due_waves()
            .await
            .unwrap()
            .iter()
            .map(|w| (w.id, w.state))
            .collect();

        // A window: a burst coalesces, one membership per config, the
        // newest trigger wins and force sticks; a zero-window trigger
        // still joins the open wave.
        let w4 = s
            .add_trigger("a", &hook("5"), false, window, false)
            .await
            .unwrap();
        let w4b = s
            .add_trigger("a", &hook("6"), true, window, false)
            .await
            .unwrap();
        let w4c = s
            .add_trigger("b", &hook("7"), false, window, false)
            .await
            .unwrap();
        let w4d = s
            .add_trigger("a", &hook("8"), false, zero, false)
            .await
            .unwrap();
        let open = shown(&s.get_wave(w4).await.unwrap().unwrap());
        let due_open: Vec<i64> = s.due_waves().await.unwrap().iter().map(|w| w.id).collect();

        s.finish_wave(w1).await.unwrap();
        let done = s.get_wave(w1).await.unwrap().unwrap();
        assert!(done.finished_at.is_some(), "{}", b.name);
        let due_after: Vec<i64> = s.due_waves().await.unwrap().iter().map(|w| w.id).collect();
        let listed: Vec<_> = s.list_waves(2).await.unwrap().iter().map(shown).collect();
        answers.push((
            (w1, w1b, w2, w3, due, gathered),
            (shown(&running), due_running),
            (w4, w4b, w4c, w4d, open, due_open),
            (
                shown(&done),
                due_after,
                listed,
                s.get_wave(99).await.unwrap(),
            ),
        ));
    }
    let a = &answers[0];
    let (w1, w1b, w2, w3, due, gathered) = &a.0;
    assert_eq!(w1, w1b);
    assert!(w2 != w1 && w3 != w1 && w3 != w2);
    assert_eq!(due, &[*w1, *w2, *w3]);
    assert_eq!(gathered.2.len(), 1);
    assert_eq!(gathered.2[0].trigger, Some(hook("2")));
    let running = &a.1.0;
    assert_eq!(running.1, WaveState::Running);
    assert_eq!(
        running.2[0].trigger,
        Some(hook("2")),
        "the root keeps its trigger"
    );
    assert_eq!(running.2[0].previous_digest.as_deref(), Some("sha256:old"));
    assert_eq!(running.2[0].state, MemberState::Built { changed: true });
    assert_eq!(running.2[0].build, Some(42));
    assert_eq!(
        (running.2[1].state, running.2[1].reason.as_deref()),
        (MemberState::Blocked, Some("parent a failed"))
    );
    assert_eq!(a.1.1[0], (*w1, WaveState::Running));
    let (w4, w4b, w4c, w4d, open, due_open) = &a.2;
    assert!([w4b, w4c, w4d].iter().all(|w| *w == w4));
    assert_eq!(open.2.len(), 2);
    assert_eq!(
        (open.2[0].trigger.clone(), open.2[0].force),
        (Some(hook("8")), true)
    );
    assert_eq!(due_open, due, "the open wave is not due");
    assert_eq!(a.3.0.1, WaveState::Done);
    assert_eq!(a.3.1, [*w2, *w3]);
    assert_eq!(a.3.2.iter().map(|w| w.0).collect::<Vec<_>>(), [*w4, *w3]);
    assert_eq!(a.3.3, None);
    assert_eq!(answers[0], answers[1], "both backends answer the same");
}

#[tokio::test]
async fn builds_of_a_config_are_found_and_superseded_ones_cancelled() {
    let mut answers = Vec::new();
    for b in backends().await {
        let s = &b.store;
        for (id, config, phase) in [
            (1, "a", "Complete"),
            (2, "a", "Failed"),
            (3, "a", "Complete"),
            (4, "a", "Running"),
            (5, "a", "Pending"),
            (6, "a", "New"),
            (7, "b", "Skipped"),
        ] {
            b.add_config_build(id, config, phase);
        }
        let now = Timestamp::now();
        b.sql(&format!(
            "INSERT INTO worker_builds (build_id, platform, phase, created_at) VALUES (5, 'linux/amd64', 'Pending', '{now}')"
        ));
        b.sql(&format!(
            "INSERT INTO worker_builds (build_id, platform, phase, cluster, created_at) VALUES (4, 'linux/amd64', 'Running', 'local', '{now}')"
        ));
        b.sql(
            "INSERT INTO releases (name, version, release, build_id) VALUES ('t/a', '1', '1', 5)",
        );
        let mut last: Vec<_> = s.last_builds().await.unwrap().into_iter().collect();
        last.sort();
        let mut durations: Vec<_> = s.build_durations().await.unwrap().into_iter().collect();
        durations.sort();
        let found = (
            s.last_build("a").await.unwrap(),
            s.last_build("c").await.unwrap(),
            last,
            s.active_builds("a").await.unwrap(),
            durations,
            s.last_complete_build("a").await.unwrap(),
            s.last_complete_build("b").await.unwrap(),
        );

        let long = format!(
            "superseded by wave 9:\n{}",
            "the reason goes on. ".repeat(40)
        );
        let cancelled = (
            s.cancel_superseded(5, "superseded by wave 9")
                .await
                .unwrap(),
            s.cancel_superseded(5, "again").await.unwrap(),
            s.cancel_superseded(4, "running").await.unwrap(),
            s.cancel_superseded(6, &long).await.unwrap(),
            s.cancel_superseded(99, "none").await.unwrap(),
        );
        let rows = (
            b.sql(
                "SELECT id, phase, coalesce(reason, ''), CASE WHEN finished_at IS NULL THEN 0 ELSE 1 END \
                 FROM builds WHERE id IN (4, 5, 6) ORDER BY id",
            ),
            b.sql(
                "SELECT build_id, phase, coalesce(reason, ''), CASE WHEN finished_at IS NULL THEN 0 ELSE 1 END \
                 FROM worker_builds ORDER BY id",
            ),
            b.sql("SELECT build_id, phase, message FROM build_events ORDER BY id"),
            b.sql("SELECT count(*) FROM releases"),
        );
        answers.push((found, cancelled, rows, s.active_builds("a").await.unwrap()));
    }
    let a = &answers[0];
    let (last_a, last_c, last, active, durations, complete, none) = &a.0;
    assert_eq!(last_a, &Some((6, "New".to_string())));
    assert_eq!(last_c, &None);
    assert_eq!(
        last,
        &[
            ("a".to_string(), (6, "New".to_string())),
            ("b".to_string(), (7, "Skipped".to_string()))
        ]
    );
    assert_eq!(
        active,
        &[
            (4, "Running".to_string()),
            (5, "Pending".to_string()),
            (6, "New".to_string())
        ]
    );
    assert_eq!(
        durations,
        &[("a".to_string(), 3)],
        "the newest Complete build's"
    );
    assert_eq!(
        complete,
        &Some((3, Some("key-3".to_string()), Some("sha256:3".to_string())))
    );
    assert_eq!(none, &None);
    assert_eq!(a.1, (true, false, false, true, false));
    let builds: Vec<&str> = a.2.0.lines().collect();
    assert_eq!(builds[0], "4|Running||0");
    assert_eq!(builds[1], "5|Cancelled|superseded by wave 9|1");
    assert!(
        builds[2].starts_with("6|Cancelled|superseded by wave 9: the reason goes on.")
            && builds[2].contains("the build log has the whole message")
            && builds[2].ends_with("|1"),
        "{}",
        builds[2]
    );
    assert_eq!(
        a.2.1, "5|Cancelled|superseded by wave 9|1\n4|Running||0",
        "the queued worker build is cancelled with the build"
    );
    assert_eq!(a.2.2.lines().count(), 2, "one event per cancelled build");
    assert!(
        a.2.2
            .starts_with("5|Cancelled|superseded by wave 9\n6|Cancelled|")
    );
    assert_eq!(a.2.3, "0", "a cancelled build gives its release back");
    assert_eq!(a.3, [(4, "Running".to_string())]);
    assert_eq!(answers[0], answers[1], "both backends answer the same");
}

#[tokio::test]
async fn history_limits_prune_old_builds_but_keep_the_current_image() {
    let mut answers = Vec::new();
    for b in backends().await {
        let s = &b.store;
        for (id, config, phase) in [
            (1, "a", "Complete"),
            (2, "a", "Complete"),
            (3, "a", "Failed"),
            (4, "a", "Skipped"),
            (5, "a", "Cancelled"),
            (6, "a", "Failed"),
            (7, "b", "Failed"),
            (8, "b", "Failed"),
            (10, "c", "Failed"),
            (11, "c", "Error"),
            (12, "c", "Failed"),
            (13, "c", "Running"),
            (20, "d", "Complete"),
            (21, "d", "Complete"),
            (22, "d", "Skipped"),
        ] {
            b.add_config_build(id, config, phase);
        }
        let now = Timestamp::now();
        b.sql(&format!(
            "INSERT INTO build_events (build_id, at, phase, message) VALUES (3, '{now}', 'Failed', 'it failed')"
        ));
        b.sql(&format!(
            "INSERT INTO worker_builds (build_id, platform, phase, created_at) VALUES (3, 'linux/amd64', 'Failed', '{now}')"
        ));
        b.sql(
            "INSERT INTO releases (name, version, release, build_id) VALUES ('t/a', '1', '1', 1)",
        );
        let keep = HistoryLimits {
            successful: 1,
            failed: 1,
        };
        let ids = |builds: Vec<slipway_core::Build>| -> Vec<i64> {
            builds.iter().map(|b| b.id).collect()
        };

        // A running wave holds its builds: 1 is a member of one.
        let w = s
            .add_trigger("a", &Trigger::Manual, false, SignedDuration::ZERO, false)
            .await
            .unwrap();
        s.start_wave(w, &[member("a", true, None)]).await.unwrap();
        s.set_member(w, "a", MemberState::Built { changed: true }, Some(1), None)
            .await
            .unwrap();
        let dry = s.prune_history("a", keep, true).await.unwrap();
        let still = b.sql("SELECT count(*) FROM builds WHERE id IN (3, 5)");
        // The builds as they were: events and worker builds included.
        let f3 = dry.iter().find(|b| b.id == 3).unwrap();
        let f3_seen = (
            f3.phase,
            f3.spec.config.clone(),
            f3.events
                .iter()
                .map(|e| e.message.clone())
                .collect::<Vec<_>>(),
            f3.workers
                .iter()
                .map(|w| (w.platform.to_string(), w.phase))
                .collect::<Vec<_>>(),
            f3.finished_at.is_some(),
        );
        let pruned = ids(s.prune_history("a", keep, false).await.unwrap());
        let cascaded = (
            b.sql("SELECT count(*) FROM build_events WHERE build_id = 3"),
            b.sql("SELECT count(*) FROM worker_builds WHERE build_id = 3"),
        );

        // Once the wave is done, 1 goes too; 2, the newest Complete build,
        // stays; Skipped builds are counted apart.
        s.finish_wave(w).await.unwrap();
        let after_wave = ids(s.prune_history("a", keep, false).await.unwrap());
        let again = ids(s.prune_history("a", keep, false).await.unwrap());
        let left_a = b.sql("SELECT id FROM builds WHERE config = 'a' ORDER BY id");
        let tombstone = s
            .pruned_build(1)
            .await
            .unwrap()
            .map(|t| (t.id, t.config, t.phase));
        let release = b.sql("SELECT build_id FROM releases");

        // A config that never built keeps only its newest failures, and
        // never an unfinished build.
        let never_built = ids(s.prune_history("c", keep, false).await.unwrap());
        // Keeping no successful build still keeps the current image.
        let none_kept = HistoryLimits {
            successful: 0,
            failed: 0,
        };
        let current = ids(s.prune_history("d", none_kept, false).await.unwrap());
        let roomy = ids(s
            .prune_history("b", HistoryLimits::default(), false)
            .await
            .unwrap());
        answers.push((
            (ids(dry), still, f3_seen, pruned, cascaded),
            (after_wave, again, left_a, tombstone, release),
            (
                never_built,
                current,
                roomy,
                s.pruned_build(2).await.unwrap().is_none(),
                b.sql("SELECT id FROM builds ORDER BY id"),
            ),
        ));
    }
    let a = &answers[0];
    assert_eq!(a.0.0, [3, 5], "a dry run says what would go");
    assert_eq!(a.0.1, "2", "and removes nothing");
    assert_eq!(
        a.0.2,
        (
            slipway_core::BuildPhase::Failed,
            Some("a".to_string()),
            vec!["it failed".to_string()],
            vec![("x86_64".to_string(), slipway_core::BuildPhase::Failed)],
            true
        )
    );
    assert_eq!(a.0.3, [3, 5]);
    assert_eq!(
        a.0.4,
        ("0".to_string(), "0".to_string()),
        "events and worker builds go"
    );
    assert_eq!(a.1.0, [1]);
    assert!(a.1.1.is_empty());
    assert_eq!(a.1.2, "2\n4\n6");
    assert_eq!(a.1.3, Some((1, "a".to_string(), "Complete".to_string())));
    assert_eq!(a.1.4, "1", "a pruned build's release stays taken");
    assert_eq!(a.2.0, [10, 11]);
    assert_eq!(a.2.1, [20, 22], "Skipped builds are not the current image");
    assert!(a.2.2.is_empty());
    assert!(a.2.3);
    assert_eq!(a.2.4, "2\n4\n6\n7\n8\n12\n13\n21");
    assert_eq!(answers[0], answers[1], "both backends answer the same");
}

/// `stores` PgStores on one fresh database (separate pools, as separate
/// servers have).
async fn servers(pg: &Postgres, stores: usize) -> Vec<Arc<PgStore>> {
    let url = pg.create_database("t");
    let mut out = Vec::new();
    for _ in 0..stores {
        out.push(Arc::new(PgStore::open(&url, None).await.unwrap()));
    }
    out
}

/// PostgreSQL: twenty triggers at once from four servers gather into one
/// wave, whether it is gathering for a window or waiting (latest-only);
/// a wave started twice is started once.
#[tokio::test]
async fn servers_racing_to_trigger_gather_into_one_wave() {
    let pg = Postgres::start();
    let stores = servers(&pg, 4).await;
    // Latest-only with no window: the first trigger's wave has closed by
    // the next, so only the lock keeps each from opening its own.
    let mut tasks = Vec::new();
    for i in 0..20 {
        let s = stores[i % stores.len()].clone();
        tasks.push(tokio::spawn(async move {
            s.add_trigger(
                "a",
                &hook(&i.to_string()),
                i == 7,
                SignedDuration::ZERO,
                true,
            )
            .await
            .unwrap()
        }));
    }
    let mut waves = Vec::new();
    for t in tasks {
        waves.push(t.await.unwrap());
    }
    waves.sort();
    waves.dedup();
    assert_eq!(waves.len(), 1, "{waves:?}");
    let all = stores[0].list_waves(100).await.unwrap();
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].members.len(), 1);
    assert!(all[0].members[0].force, "force sticks");

    // A window: twenty triggers of five configs join one new wave.
    let mut tasks = Vec::new();
    for i in 0..20 {
        let s = stores[i % stores.len()].clone();
        tasks.push(tokio::spawn(async move {
            let config = format!("c{}", i % 5);
            s.add_trigger(
                &config,
                &hook("1"),
                false,
                SignedDuration::from_secs(60),
                false,
            )
            .await
            .unwrap()
        }));
    }
    let mut gathered = Vec::new();
    for t in tasks {
        gathered.push(t.await.unwrap());
    }
    gathered.sort();
    gathered.dedup();
    assert_eq!(gathered.len(), 1, "{gathered:?}");
    let w = gathered[0];
    assert_ne!(w, waves[0]);
    let wave = stores[1].get_wave(w).await.unwrap().unwrap();
    assert_eq!(wave.members.len(), 5);

    // Two servers start it at once: it starts once; one started by then
    // keeps its members' progress.
    let members: Vec<WaveMemberRecord> = (0..5)
        .map(|i| member(&format!("c{i}"), true, None))
        .collect();
    let (a, b) = (stores[0].clone(), stores[1].clone());
    let (m1, m2) = (members.clone(), members.clone());
    let (r1, r2) = tokio::join!(
        tokio::spawn(async move { a.start_wave(w, &m1).await }),
        tokio::spawn(async move { b.start_wave(w, &m2).await })
    );
    r1.unwrap().unwrap();
    r2.unwrap().unwrap();
    stores[2]
        .set_member(w, "c0", MemberState::Building, Some(5), None)
        .await
        .unwrap();
    stores[3].start_wave(w, &members).await.unwrap();
    let wave = stores[0].get_wave(w).await.unwrap().unwrap();
    assert_eq!(wave.state, WaveState::Running);
    assert_eq!(
        (wave.members[0].state, wave.members[0].build),
        (MemberState::Building, Some(5))
    );
    assert!(wave.members.iter().all(|m| m.trigger == Some(hook("1"))));
}

/// PostgreSQL: ten applies of one config set at once from four servers:
/// none fails, each config is created once.
#[tokio::test]
async fn servers_racing_to_apply_create_each_config_once() {
    let pg = Postgres::start();
    let stores = servers(&pg, 4).await;
    let mut tasks = Vec::new();
    for i in 0..10 {
        let s = stores[i % stores.len()].clone();
        tasks.push(tokio::spawn(async move {
            s.apply_configs(&configs_named(&["a", "b", "c"]), &[])
                .await
                .unwrap()
        }));
    }
    let (mut created, mut unchanged) = (Vec::new(), 0);
    for t in tasks {
        let out = t.await.unwrap();
        assert!(out.updated.is_empty() && out.deleted.is_empty(), "{out:?}");
        unchanged += out.unchanged.len();
        created.extend(out.created);
    }
    created.sort();
    assert_eq!(created, ["a", "b", "c"]);
    assert_eq!(unchanged, 27);
    let events = stores[0].config_events("b", 10).await.unwrap();
    assert_eq!(events.len(), 1);
}
