//! The same store tests on both backends: SQLite (a file) and PostgreSQL
//! (a private server from test-support, one per test), for the areas the PostgreSQL
//! store has so far. Each test runs its body against each backend and, where
//! answers do not carry times, checks that both answered the same.

use slipway_core::access::{Binding, Role};
use slipway_core::api::access::{AuditRecord, Quota, TokenKind};
use slipway_core::build::test_stage::{TestMode, TestResult};
use slipway_core::koji::ImportState;
use slipway_core::notify::{DeliveryState, Message, NotifyOn, NotifyTarget, NotifyWebhook};
use slipway_core::scan::inventory::Ecosystem;
use slipway_core::scan::sbom::{SbomFormat, StoredSbom};
use slipway_core::scan::{ScanOutcome, ScanReason, ScanReport, TrackedRepository};
use slipway_store::{
    AccessStore, FeedStore, IdentityStore, ImportAttempt, KojiReservation, KojiStore, LeaseStore,
    NewDelivery, NewToken, NotificationStore, PgStore, RebuildStore, RegistryLoginStore, ScanStore,
    SecretStore, SessionStore, SqliteStore, StoreError, TestStore, WebhookStore,
};
use slipway_test_support::Postgres;
use std::path::PathBuf;
use std::sync::Arc;

#[path = "backends/rebuilds.rs"]
mod rebuilds;

/// The areas both backends implement so far.
trait Areas:
    WebhookStore
    + TestStore
    + SecretStore
    + RegistryLoginStore
    + IdentityStore
    + FeedStore
    + NotificationStore
    + KojiStore
    + ScanStore
    + AccessStore
    + LeaseStore
    + SessionStore
    + RebuildStore
    + Send
    + Sync
{
}
impl<
    T: WebhookStore
        + TestStore
        + SecretStore
        + RegistryLoginStore
        + IdentityStore
        + FeedStore
        + NotificationStore
        + KojiStore
        + ScanStore
        + AccessStore
        + LeaseStore
        + SessionStore
        + RebuildStore
        + Send
        + Sync,
> Areas for T
{
}

const KEY: [u8; 32] = [7; 32];

/// A store on each backend, sealing with `KEY`, and a way to add a build
/// row (builds are not an area of the PostgreSQL store yet).
struct Backend {
    name: &'static str,
    store: Arc<dyn Areas>,
    sqlite_file: Option<(tempfile::TempDir, PathBuf)>,
    /// A PostgreSQL server of the test's own (stopped when dropped).
    pg: Option<Arc<Postgres>>,
}

impl Backend {
    fn sql(&self, sql: &str) -> String {
        match (&self.sqlite_file, &self.pg) {
            (Some((_, file)), _) => {
                let c = rusqlite::Connection::open(file).unwrap();
                let mut q = c.prepare(sql).unwrap();
                let n = q.column_count();
                let rows: Vec<String> = q
                    .query_map([], |r| {
                        Ok((0..n)
                            .map(|i| {
                                r.get::<_, rusqlite::types::Value>(i).map(|v| match v {
                                    rusqlite::types::Value::Text(t) => t,
                                    rusqlite::types::Value::Integer(i) => i.to_string(),
                                    other => format!("{other:?}"),
                                })
                            })
                            .collect::<Result<Vec<_>, _>>()?
                            .join("|"))
                    })
                    .unwrap()
                    .map(Result::unwrap)
                    .collect();
                rows.join("\n")
            }
            (None, Some(pg)) => pg.psql("t", sql).trim_end().to_string(),
            _ => unreachable!(),
        }
    }

    fn add_build(&self, id: i64, config: &str, commit: &str, phase: &str) {
        let now = jiff::Timestamp::now().to_string();
        self.sql(&format!(
            "INSERT INTO builds (id, phase, spec, created_at, config, git_commit) \
             VALUES ({id}, '{phase}', '{{}}', '{now}', '{config}', '{commit}')"
        ));
    }
}

async fn backends() -> Vec<Backend> {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("db.sqlite");
    let sqlite = SqliteStore::open_sealed(&file, Some(&KEY)).await.unwrap();
    let pg = Arc::new(Postgres::start());
    let url = pg.create_database("t");
    let pgs = PgStore::open(&url, Some(&KEY)).await.unwrap();
    vec![
        Backend {
            name: "sqlite",
            store: Arc::new(sqlite),
            sqlite_file: Some((dir, file)),
            pg: None,
        },
        Backend {
            name: "postgres",
            store: Arc::new(pgs),
            sqlite_file: None,
            pg: Some(pg),
        },
    ]
}

#[tokio::test]
async fn webhook_deliveries_are_remembered_and_commits_superseded() {
    let mut answers = Vec::new();
    for b in backends().await {
        let s = &b.store;
        let before = jiff::Timestamp::now();
        assert_eq!(
            s.remember_delivery("app", "github", "d1").await.unwrap(),
            None
        );
        let again = s.remember_delivery("app", "github", "d1").await.unwrap();
        let when = again.unwrap_or_else(|| panic!("{}: a replay is seen", b.name));
        assert!(
            when >= before
                .checked_sub(jiff::SignedDuration::from_secs(1))
                .unwrap(),
            "{}: {when}",
            b.name
        );
        assert_eq!(
            s.remember_delivery("app", "gitlab", "d1").await.unwrap(),
            None
        );
        assert_eq!(
            s.remember_delivery("other", "github", "d1").await.unwrap(),
            None
        );

        b.add_build(1, "app", "c1", "Complete");
        b.add_build(2, "app", "c2", "Complete");
        b.add_build(3, "app", "c3", "Failed");
        answers.push((
            s.superseded_commit("app", "c1").await.unwrap(),
            s.superseded_commit("app", "c2").await.unwrap(),
            s.superseded_commit("app", "c3").await.unwrap(),
            s.superseded_commit("none", "c1").await.unwrap(),
        ));
    }
    assert_eq!(answers[0], (Some((1, "c2".to_string())), None, None, None));
    assert_eq!(answers[0], answers[1], "both backends answer the same");
}

#[tokio::test]
async fn test_results_are_kept_and_replaced() {
    for b in backends().await {
        let s = &b.store;
        b.add_build(5, "app", "c", "Running");
        assert_eq!(s.test_result(5).await.unwrap(), None, "{}", b.name);
        let mut r = TestResult {
            mode: TestMode::default(),
            command: "make check".into(),
            passed: false,
            exit_code: Some(2),
            duration_ms: 1500,
            junit: None,
            message: Some("2 failed".into()),
        };
        s.record_test(5, &r, Some("<testsuites/>")).await.unwrap();
        assert_eq!(
            s.test_result(5).await.unwrap().as_ref(),
            Some(&r),
            "{}",
            b.name
        );
        assert_eq!(
            s.test_junit(5).await.unwrap().as_deref(),
            Some("<testsuites/>")
        );
        r.passed = true;
        r.exit_code = Some(0);
        s.record_test(5, &r, None).await.unwrap();
        assert_eq!(s.test_result(5).await.unwrap(), Some(r), "{}", b.name);
        assert_eq!(s.test_junit(5).await.unwrap(), None, "{}: replaced", b.name);
    }
}

#[tokio::test]
async fn secrets_are_sealed_listed_without_values_and_read_by_name() {
    for b in backends().await {
        let s = &b.store;
        let info = s
            .put_secret("team", "npm", b"hunter2", "token:a")
            .await
            .unwrap();
        assert_eq!(
            (info.size, info.created_by.as_deref()),
            (7, Some("token:a"))
        );
        assert!(info.created_at.ends_with('Z') && !info.created_at.contains('.'));
        s.put_secret("ops", "pypi", &[0, 255, 1], "token:b")
            .await
            .unwrap();
        // Replaced, not added.
        let info = s
            .put_secret("team", "npm", b"longer-secret", "token:c")
            .await
            .unwrap();
        assert_eq!(info.size, 13);
        let all = s.secrets(None).await.unwrap();
        let names: Vec<_> = all
            .iter()
            .map(|i| format!("{}/{}", i.project, i.name))
            .collect();
        assert_eq!(names, ["ops/pypi", "team/npm"], "{}", b.name);
        assert_eq!(s.secrets(Some("team")).await.unwrap().len(), 1);
        let values = s.secret_values("ops", &["pypi".to_string()]).await.unwrap();
        assert_eq!(values["pypi"], vec![0, 255, 1], "{}", b.name);
        let missing = s.secret_values("ops", &["npm".to_string()]).await;
        assert!(
            matches!(missing, Err(StoreError::NotFound(_))),
            "{}",
            b.name
        );
        // At rest: sealed, no plain text.
        let stored = b.sql("SELECT value FROM secrets ORDER BY project");
        assert!(
            stored.lines().all(|v| v.starts_with("sealed:v1:")),
            "{}: {stored}",
            b.name
        );
        assert!(s.delete_secret("ops", "pypi").await.unwrap());
        assert!(!s.delete_secret("ops", "pypi").await.unwrap());
        assert_eq!(s.secrets(None).await.unwrap().len(), 1);
    }
}

#[tokio::test]
async fn registry_logins_keep_their_password_sealed() {
    for b in backends().await {
        let s = &b.store;
        s.put_registry_login("team", "quay.io", "bot", "pw1", "token:a")
            .await
            .unwrap();
        let info = s
            .put_registry_login("team", "quay.io", "bot2", "pw2", "token:b")
            .await
            .unwrap();
        assert_eq!(info.username, "bot2");
        s.put_registry_login("ops", "ghcr.io", "o", "pw3", "token:c")
            .await
            .unwrap();
        let listed: Vec<_> = s
            .registry_logins(None)
            .await
            .unwrap()
            .into_iter()
            .map(|l| format!("{}/{}/{}", l.project, l.registry, l.username))
            .collect();
        assert_eq!(listed, ["ops/ghcr.io/o", "team/quay.io/bot2"], "{}", b.name);
        let pw = s
            .registry_passwords("team", &["quay.io".into(), "docker.io".into()])
            .await
            .unwrap();
        assert_eq!(
            pw,
            [("quay.io".to_string(), "bot2".to_string(), "pw2".to_string())],
            "{}",
            b.name
        );
        let stored = b.sql("SELECT password FROM registry_logins");
        assert!(
            stored.lines().all(|v| v.starts_with("sealed:v1:")),
            "{}: {stored}",
            b.name
        );
        assert!(s.delete_registry_login("ops", "ghcr.io").await.unwrap());
        assert_eq!(s.registry_logins(Some("ops")).await.unwrap().len(), 0);
    }
}

#[tokio::test]
async fn identities_count_live_tokens_and_disabling_revokes_them() {
    let mut answers = Vec::new();
    for b in backends().await {
        let s = &b.store;
        let bot = s
            .create_identity("ci-bot", TokenKind::Service, Some("team"), "token:admin")
            .await
            .unwrap();
        assert_eq!((bot.project.as_deref(), bot.live_tokens), (Some("team"), 0));
        assert!(bot.disabled_at.is_none());
        s.create_identity("alice", TokenKind::User, None, "token:admin")
            .await
            .unwrap();
        let again = s
            .create_identity("alice", TokenKind::User, None, "token:admin")
            .await;
        assert!(matches!(again, Err(StoreError::Conflict(_))), "{}", b.name);
        let now = jiff::Timestamp::now();
        let past = now
            .checked_sub(jiff::SignedDuration::from_hours(1))
            .unwrap();
        let future = now
            .checked_add(jiff::SignedDuration::from_hours(1))
            .unwrap();
        for (i, expires) in [
            ("1", "NULL".to_string()),
            ("2", format!("'{past}'")),
            ("3", format!("'{future}'")),
        ] {
            b.sql(&format!(
                "INSERT INTO api_tokens (name, token_hash, created_at, identity, expires_at) \
                 VALUES ('t{i}', 'h{i}', '{now}', 'ci-bot', {expires})"
            ));
        }
        assert_eq!(
            s.identity("ci-bot").await.unwrap().unwrap().live_tokens,
            2,
            "{}",
            b.name
        );
        let off = s.disable_identity("ci-bot").await.unwrap().unwrap();
        assert!(off.disabled_at.is_some());
        assert_eq!(off.live_tokens, 0, "{}: its tokens are revoked", b.name);
        assert_eq!(s.disable_identity("nobody").await.unwrap(), None);
        let names: Vec<_> = s
            .identities()
            .await
            .unwrap()
            .into_iter()
            .map(|i| (i.name, i.kind.as_str().to_string(), i.live_tokens))
            .collect();
        answers.push(names);
    }
    assert_eq!(answers[0], answers[1], "both backends answer the same");
}

#[tokio::test]
async fn the_feed_is_read_in_order_from_a_point_and_pruned_by_age() {
    let mut answers = Vec::new();
    for b in backends().await {
        let s = &b.store;
        assert_eq!(s.feed_head().await.unwrap(), 0, "{}", b.name);
        let now = jiff::Timestamp::now();
        for i in 0..5 {
            b.sql(&format!(
                "INSERT INTO config_events (config, at, message) VALUES ('app', '{now}', 'm{i}')"
            ));
        }
        let all = s.feed_after(0, 100).await.unwrap();
        assert_eq!(all.len(), 5, "{}", b.name);
        assert!(all.windows(2).all(|w| w[0].id < w[1].id));
        assert_eq!(s.feed_head().await.unwrap(), all[4].id);
        let rest = s.feed_after(all[1].id, 2).await.unwrap();
        assert_eq!(
            rest.iter().map(|r| r.id).collect::<Vec<_>>(),
            [all[2].id, all[3].id]
        );
        answers.push(
            all.iter()
                .map(|r| (r.kind.clone(), r.project.clone(), r.data.clone()))
                .collect::<Vec<_>>(),
        );
        let later = now
            .checked_add(jiff::SignedDuration::from_secs(60))
            .unwrap();
        assert_eq!(s.prune_feed(later).await.unwrap(), 5);
        assert!(s.feed_after(0, 100).await.unwrap().is_empty());
    }
    assert_eq!(answers[0], answers[1], "both backends answer the same");
    assert_eq!(answers[0][0].2["message"], "m0");
}

/// PostgreSQL only (SQLite has one writer): a change whose transaction
/// commits after a later one's is not skipped by a reader that read in
/// between; the two come in the order their transactions began.
#[tokio::test]
async fn a_late_commit_is_never_skipped_by_a_reader() {
    let pg = Postgres::start();
    let url = pg.create_database("t");
    let s = PgStore::open(&url, None).await.unwrap();
    let other = sqlx::PgPool::connect(&url).await.unwrap();
    let event = |m: &str| {
        format!("INSERT INTO config_events (config, at, message) VALUES ('app', now(), '{m}')")
    };
    let mut slow = other.begin().await.unwrap();
    sqlx::query(sqlx::AssertSqlSafe(event("first, committed last")))
        .execute(&mut *slow)
        .await
        .unwrap();
    sqlx::query(sqlx::AssertSqlSafe(event("second, committed first")))
        .execute(&other)
        .await
        .unwrap();
    // The reader sees nothing while an older transaction may still commit.
    let seen = s.feed_after(0, 100).await.unwrap();
    assert!(seen.is_empty(), "{seen:?}");
    let head = s.feed_head().await.unwrap();
    slow.commit().await.unwrap();
    let seen = s.feed_after(head, 100).await.unwrap();
    let messages: Vec<_> = seen.iter().map(|r| r.data["message"].clone()).collect();
    assert_eq!(
        messages,
        [
            serde_json::json!("first, committed last"),
            serde_json::json!("second, committed first")
        ]
    );
    other.close().await;
}

#[tokio::test]
async fn notifications_queue_retry_and_end() {
    let mut answers = Vec::new();
    for b in backends().await {
        let s = &b.store;
        b.add_build(1, "app", "c1", "Complete");
        b.add_build(2, "app", "c2", "Running");
        b.add_build(3, "app", "c3", "Failed");
        assert_eq!(
            s.unannounced_builds(10).await.unwrap(),
            [1, 3],
            "{}",
            b.name
        );
        let target = |to: &str| NotifyTarget {
            email: vec![to.to_string()],
            webhook: Some(NotifyWebhook {
                url: "https://hooks.example/x".into(),
                secret: Some("s3cret".into()),
                secret_env: None,
            }),
            on: NotifyOn::All,
        };
        let message = Message {
            subject: "build 1 complete".into(),
            text: "done".into(),
            payload: serde_json::json!({"build": 1}),
            failure: false,
        };
        let new = |to: &str| NewDelivery {
            build: Some(1),
            scan: None,
            config: Some("app".into()),
            target: target(to),
            message: message.clone(),
        };
        s.queue_deliveries(Some(1), &[new("a@example.org"), new("b@example.org")])
            .await
            .unwrap();
        assert_eq!(
            s.unannounced_builds(10).await.unwrap(),
            [3],
            "{}: announced",
            b.name
        );
        let stored = b.sql("SELECT target FROM notifications");
        assert!(
            stored
                .lines()
                .all(|t| t.starts_with("sealed:v1:") && !t.contains("s3cret")),
            "{}: {stored}",
            b.name
        );
        let soon = jiff::Timestamp::now()
            .checked_add(jiff::SignedDuration::from_secs(1))
            .unwrap();
        let due = s.due_deliveries(soon, 10).await.unwrap();
        assert_eq!(due.len(), 2, "{}", b.name);
        assert_eq!(due[0].target, target("a@example.org"));
        assert_eq!(due[0].message, message);
        let later = soon
            .checked_add(jiff::SignedDuration::from_secs(600))
            .unwrap();
        s.record_attempt(due[0].id, Ok(()), None).await.unwrap();
        s.record_attempt(due[1].id, Err("refused"), Some(later))
            .await
            .unwrap();
        assert!(
            s.due_deliveries(soon, 10).await.unwrap().is_empty(),
            "{}",
            b.name
        );
        let retry = s.due_deliveries(later, 10).await.unwrap();
        assert_eq!(retry.len(), 1);
        s.record_attempt(retry[0].id, Err("refused again"), None)
            .await
            .unwrap();
        let list = s.list_deliveries(Some("app"), 10).await.unwrap();
        assert!(
            s.list_deliveries(Some("other"), 10)
                .await
                .unwrap()
                .is_empty()
        );
        assert!(list[1].delivered_at.is_some() && list[0].delivered_at.is_none());
        answers.push(
            list.into_iter()
                .map(|d| (d.id, d.state, d.attempts, d.last_error, d.target.email))
                .collect::<Vec<_>>(),
        );
    }
    assert_eq!(answers[0], answers[1], "both backends answer the same");
    assert_eq!(answers[0][0].1, DeliveryState::Failed);
    assert_eq!(answers[0][1].1, DeliveryState::Delivered);
}

#[tokio::test]
async fn koji_reservations_refunds_and_imports() {
    let mut answers = Vec::new();
    for b in backends().await {
        let s = &b.store;
        let now = jiff::Timestamp::now();
        let later = now
            .checked_add(jiff::SignedDuration::from_secs(60))
            .unwrap();
        b.add_build(1, "app", "c1", "Running");
        b.add_build(2, "app", "c2", "Complete");
        let token = "1234-secret-reservation-token";
        let r = KojiReservation {
            koji_build_id: 41,
            token: token.into(),
        };
        s.reserve_koji(1, "app-1.0-1", &r).await.unwrap();
        assert_eq!(
            s.koji_reservation(1).await.unwrap(),
            Some(r.clone()),
            "{}",
            b.name
        );
        assert_eq!(s.koji_reservation(2).await.unwrap(), None);
        let stored = b.sql("SELECT reservation_token FROM koji_imports");
        assert!(
            stored.starts_with("sealed:v1:") && !stored.contains(token),
            "{stored}"
        );
        // Running: nothing to give back; failed: due.
        assert!(s.due_koji_refunds(later, 10).await.unwrap().is_empty());
        b.sql("UPDATE builds SET phase = 'Failed' WHERE id = 1");
        assert_eq!(
            s.due_koji_refunds(later, 10).await.unwrap(),
            [(1, slipway_core::BuildPhase::Failed)],
            "{}",
            b.name
        );
        s.record_koji_attempt(
            1,
            &ImportAttempt::Retry {
                message: "hub down".into(),
                at: later,
            },
        )
        .await
        .unwrap();
        assert!(
            s.due_koji_refunds(now, 10).await.unwrap().is_empty(),
            "retry later"
        );
        assert_eq!(
            s.koji_import(1).await.unwrap().unwrap().state,
            ImportState::Reserved
        );
        s.record_koji_attempt(
            1,
            &ImportAttempt::Refunded {
                message: "given back".into(),
            },
        )
        .await
        .unwrap();
        // Imports: only of Complete builds, due now.
        s.queue_koji_import(2).await.unwrap();
        s.queue_koji_import(1).await.unwrap();
        assert_eq!(
            s.due_koji_imports(later, 10).await.unwrap(),
            [2],
            "{}",
            b.name
        );
        s.record_koji_attempt(
            2,
            &ImportAttempt::Imported {
                nvr: "app-1.0-2".into(),
                koji_build_id: 42,
            },
        )
        .await
        .unwrap();
        s.queue_koji_import(2).await.unwrap();
        let imported = s.koji_import(2).await.unwrap().unwrap();
        assert_eq!(imported.state, ImportState::Imported, "{}: kept", b.name);
        assert!(s.due_koji_imports(later, 10).await.unwrap().is_empty());
        let one = s.koji_import(1).await.unwrap().unwrap();
        answers.push((
            (
                one.state,
                one.attempts,
                one.nvr,
                one.koji_build_id,
                one.message,
            ),
            (imported.attempts, imported.nvr, imported.koji_build_id),
        ));
    }
    assert_eq!(answers[0], answers[1], "both backends answer the same");
    assert_eq!(answers[0].0.0, ImportState::Refunded);
}

#[tokio::test]
async fn scans_sboms_and_tracked_repositories() {
    let mut answers = Vec::new();
    for b in backends().await {
        let s = &b.store;
        b.add_build(1, "app", "c1", "Complete");
        b.sql(&format!(
            "INSERT INTO image_configs (name, spec, created_at, updated_at) \
             VALUES ('app', '{{}}', '{0}', '{0}')",
            jiff::Timestamp::now()
        ));
        let report =
            |r: &str| ScanReport::unscanned(r, ScanOutcome::Passed, "nothing to see".into());
        let first = s
            .record_scan(
                Some(1),
                Some("app"),
                ScanReason::Build,
                &report("reg/app@sha256:1"),
            )
            .await
            .unwrap();
        let second = s
            .record_scan(
                None,
                Some("app"),
                ScanReason::Rescan,
                &report("reg/app@sha256:2"),
            )
            .await
            .unwrap();
        s.record_scan(None, None, ScanReason::Manual, &report("other"))
            .await
            .unwrap();
        assert_eq!(
            s.get_scan(first.id).await.unwrap().unwrap(),
            first,
            "{}",
            b.name
        );
        assert_eq!(
            s.scans_of_build(1).await.unwrap(),
            std::slice::from_ref(&first)
        );
        let app = s.list_scans(Some("app"), None, 10).await.unwrap();
        assert_eq!(
            app.iter().map(|x| x.id).collect::<Vec<_>>(),
            [second.id, first.id]
        );
        let page = s.list_scans(None, Some(second.id + 1), 1).await.unwrap();
        assert_eq!(page[0].id, second.id, "{}", b.name);
        let later = jiff::Timestamp::now()
            .checked_add(jiff::SignedDuration::from_hours(1))
            .unwrap();
        s.set_next_rescan("app", Some(later)).await.unwrap();

        let sbom = |platform: &str, format| StoredSbom {
            build: 1,
            platform: platform.into(),
            format,
            artifact_type: "application/spdx+json".into(),
            subject: "reg/app@sha256:1".into(),
            reference: None,
            problem: None,
            packages: 3,
            created_at: jiff::Timestamp::now(),
        };
        s.record_sbom(&sbom("arm64", SbomFormat::Spdx), "arm-spdx")
            .await
            .unwrap();
        s.record_sbom(&sbom("amd64", SbomFormat::CycloneDx), "amd-cdx")
            .await
            .unwrap();
        s.record_sbom(&sbom("amd64", SbomFormat::Spdx), "amd-spdx")
            .await
            .unwrap();
        // Made again: replaced, and last in the order.
        s.record_sbom(&sbom("arm64", SbomFormat::Spdx), "arm-spdx-2")
            .await
            .unwrap();
        let order: Vec<_> = s
            .sboms_of_build(1)
            .await
            .unwrap()
            .into_iter()
            .map(|x| format!("{}/{}", x.platform, x.format))
            .collect();
        let docs = (
            s.sbom_document(1, SbomFormat::Spdx, None).await.unwrap(),
            s.sbom_document(1, SbomFormat::Spdx, Some("arm64"))
                .await
                .unwrap(),
            s.sbom_document(1, SbomFormat::CycloneDx, Some("arm64"))
                .await
                .unwrap(),
        );

        let repo = TrackedRepository {
            url: "https://deb.example/dists/x".into(),
            kind: Ecosystem::Deb,
            digest: "d1".into(),
            packages: [(
                "curl".to_string(),
                vec![("7.88".to_string(), "amd64".to_string())],
            )]
            .into(),
            checked_at: jiff::Timestamp::now(),
        };
        assert_eq!(s.tracked_repository(&repo.url).await.unwrap(), None);
        s.put_tracked_repository(&repo).await.unwrap();
        s.put_tracked_repository(&TrackedRepository {
            digest: "d2".into(),
            ..repo.clone()
        })
        .await
        .unwrap();
        s.touch_tracked_repository(&repo.url, later).await.unwrap();
        let got = s.tracked_repository(&repo.url).await.unwrap().unwrap();
        assert_eq!((got.digest.as_str(), &got.packages), ("d2", &repo.packages));
        assert_eq!(got.checked_at.as_second(), later.as_second(), "{}", b.name);
        answers.push((order, docs));
    }
    assert_eq!(answers[0], answers[1], "both backends answer the same");
    assert_eq!(
        answers[0].0,
        ["amd64/spdx", "amd64/cyclonedx", "arm64/spdx"],
        "platforms in recorded order, then formats"
    );
}

#[tokio::test]
async fn tokens_projects_quotas_audit_and_blob_links() {
    let mut answers = Vec::new();
    for b in backends().await {
        let s = &b.store;
        let past = jiff::Timestamp::now()
            .checked_sub(jiff::SignedDuration::from_secs(5))
            .unwrap();
        let token = |name: &'static str, hash: &'static str, expires, identity| NewToken {
            name,
            hash,
            kind: TokenKind::User,
            binding: Binding {
                project: Some("team".into()),
                role: Role::Developer,
            },
            created_by: Some("token:admin"),
            expires_at: expires,
            identity,
        };
        let t = s
            .add_token(&token("dev", "h-dev", None, None))
            .await
            .unwrap();
        assert_eq!(
            (t.role, t.project.as_deref()),
            (Role::Developer, Some("team"))
        );
        s.add_token(&token("old", "h-old", Some(past), None))
            .await
            .unwrap();
        s.create_identity("bob", TokenKind::User, None, "token:admin")
            .await
            .unwrap();
        s.add_token(&token("bobs", "h-bob", None, Some("bob")))
            .await
            .unwrap();
        let p = s.principal("h-dev").await.unwrap().unwrap();
        assert_eq!(
            (p.token_id, p.binding.role),
            (t.id, Role::Developer),
            "{}",
            b.name
        );
        assert!(
            s.principal("h-old").await.unwrap().is_none(),
            "{}: expired",
            b.name
        );
        assert!(s.principal("h-bob").await.unwrap().is_some());
        s.disable_identity("bob").await.unwrap();
        assert!(
            s.principal("h-bob").await.unwrap().is_none(),
            "{}: disabled",
            b.name
        );
        let revoked = s.revoke_token(t.id).await.unwrap().unwrap();
        assert!(revoked.revoked_at.is_some());
        assert!(
            s.principal("h-dev").await.unwrap().is_none(),
            "{}: revoked at once",
            b.name
        );
        assert_eq!(s.token_count().await.unwrap(), 3);
        assert_eq!(s.tokens().await.unwrap()[0].name, "bobs", "newest first");

        s.create_project("team", false).await.unwrap();
        s.create_project("ops", true).await.unwrap();
        assert!(matches!(
            s.create_project("team", true).await,
            Err(StoreError::Conflict(_))
        ));
        assert_eq!(
            s.project_names().await.unwrap(),
            ["default", "ops", "team"],
            "{}",
            b.name
        );
        let team = s.set_anonymous_pull("team", true).await.unwrap().unwrap();
        assert!(team.anonymous_pull);
        assert!(s.set_anonymous_pull("nope", true).await.unwrap().is_none());
        let quota = Quota {
            max_concurrent_builds: Some(2),
            builds_per_hour: Some(30),
            storage_bytes: Some(5 << 30),
        };
        assert_eq!(
            s.set_quota("team", &quota).await.unwrap().unwrap().quota,
            quota
        );

        b.add_build(1, "app", "c", "Running");
        b.add_build(2, "other", "c", "Complete");
        b.sql(
            "INSERT INTO builds (id, phase, spec, created_at, output) \
               VALUES (3, 'Complete', '{}', '2026-01-01T00:00:00Z', 'reg/team/x:1')",
        );
        let adopted = s
            .adopt_builds("team", &["app".into()], &["reg/team/".into()])
            .await
            .unwrap();
        assert_eq!(adopted, 2, "{}", b.name);
        let usage = s.build_usage("team").await.unwrap();
        assert_eq!(
            (usage.running_builds, usage.builds_last_hour),
            (1, 1),
            "{}",
            b.name
        );

        for (who, project) in [
            ("token:a", Some("team")),
            ("token:g", None),
            ("token:o", Some("ops")),
        ] {
            s.record_audit(&AuditRecord {
                id: 0,
                at: String::new(),
                who: who.into(),
                project: project.map(String::from),
                action: "POST /api/v1/builds".into(),
                source: Some("127.0.0.1".into()),
                status: 201,
            })
            .await
            .unwrap();
        }
        let who = |v: Vec<AuditRecord>| v.into_iter().map(|r| r.who).collect::<Vec<_>>();
        let audits = (
            who(s.audit(None, None, 10).await.unwrap()),
            who(s.audit(Some(Some("team")), None, 10).await.unwrap()),
            who(s.audit(Some(None), None, 10).await.unwrap()),
            who(s.audit(None, Some(past), 1).await.unwrap()),
        );

        for (repo, digest) in [
            ("team/a", "d1"),
            ("team/b", "d2"),
            ("team0x", "d3"),
            ("teamx/a", "d4"),
        ] {
            b.sql(&format!(
                "INSERT INTO registry_blob_links VALUES ('{repo}', '{digest}', 10)"
            ));
        }
        let mut links = s.blob_links(Some(&["team/".into()])).await.unwrap();
        links.sort();
        let all = s.blob_links(None).await.unwrap().len();
        answers.push((audits, links, all));
    }
    assert_eq!(answers[0], answers[1], "both backends answer the same");
    assert_eq!(answers[0].0.1, ["token:a"]);
    assert_eq!(answers[0].0.2, ["token:g"]);
    assert_eq!(answers[0].1.len(), 2, "only team/…");
}

#[tokio::test]
async fn a_lease_has_one_holder_until_it_expires_or_is_given_up() {
    use std::time::Duration;
    for b in backends().await {
        let s = &b.store;
        let long = Duration::from_secs(60);
        // Two live servers, a and b (each renews its own lease).
        for h in ["a", "b"] {
            assert!(s.take_lease(&format!("server:{h}"), h, long).await.unwrap());
        }
        assert!(
            s.take_lease("timers", "a", long).await.unwrap(),
            "{}",
            b.name
        );
        assert!(
            !s.take_lease("timers", "b", long).await.unwrap(),
            "{}",
            b.name
        );
        assert!(s.take_lease("timers", "a", long).await.unwrap(), "renewed");
        assert!(
            s.take_lease("waves", "b", long).await.unwrap(),
            "another lease"
        );
        // Only its holder gives it up.
        s.release_lease("timers", "b").await.unwrap();
        assert!(!s.take_lease("timers", "b", long).await.unwrap());
        s.release_lease("timers", "a").await.unwrap();
        assert!(
            s.take_lease("timers", "b", Duration::from_millis(100))
                .await
                .unwrap()
        );
        // Expired: taken over.
        assert!(!s.take_lease("timers", "a", long).await.unwrap());
        tokio::time::sleep(Duration::from_millis(250)).await;
        assert!(
            s.take_lease("timers", "a", long).await.unwrap(),
            "{}",
            b.name
        );
        assert!(!s.take_lease("timers", "b", long).await.unwrap());
        // A dead server's leases are free at once: c takes "rescans", then
        // stops renewing its own lease.
        assert!(
            s.take_lease("server:c", "c", Duration::from_millis(100))
                .await
                .unwrap()
        );
        assert!(s.take_lease("rescans", "c", long).await.unwrap());
        assert!(
            !s.take_lease("rescans", "b", long).await.unwrap(),
            "c is alive"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
        assert!(
            s.take_lease("rescans", "b", long).await.unwrap(),
            "{}: c is dead, its hour-long lease with it",
            b.name
        );
        // A server alone on its database forgets what an earlier run held.
        s.clear_leases().await.unwrap();
        assert!(s.take_lease("timers", "z", long).await.unwrap());
    }
}

/// PostgreSQL: twenty servers asking at once, over their own connections,
/// leave exactly one holder.
#[tokio::test]
async fn servers_racing_for_a_lease_leave_one_holder() {
    let pg = Postgres::start();
    let url = pg.create_database("t");
    let mut stores = Vec::new();
    for _ in 0..4 {
        stores.push(Arc::new(PgStore::open(&url, None).await.unwrap()));
    }
    // Twenty live servers (each holds its own lease) race for one.
    for i in 0..20 {
        let holder = format!("server-{i}");
        assert!(
            stores[0]
                .take_lease(
                    &format!("server:{holder}"),
                    &holder,
                    std::time::Duration::from_secs(60)
                )
                .await
                .unwrap()
        );
    }
    let mut tasks = Vec::new();
    for i in 0..20 {
        let s = stores[i % stores.len()].clone();
        tasks.push(tokio::spawn(async move {
            s.take_lease(
                "gc",
                &format!("server-{i}"),
                std::time::Duration::from_secs(60),
            )
            .await
            .unwrap()
        }));
    }
    let mut won = 0;
    for t in tasks {
        won += usize::from(t.await.unwrap());
    }
    assert_eq!(won, 1);
}

#[tokio::test]
async fn console_sessions_are_touched_expire_and_end() {
    use std::time::Duration;
    for b in backends().await {
        let s = &b.store;
        let day = Duration::from_secs(86400);
        s.put_session("k1", "token-hash", "ab12", day)
            .await
            .unwrap();
        assert_eq!(
            s.touch_session("k1", day).await.unwrap(),
            Some(("token-hash".to_string(), "ab12".to_string())),
            "{}",
            b.name
        );
        assert_eq!(s.touch_session("nope", day).await.unwrap(), None);
        // Unused for longer than its idle time: gone.
        s.put_session("k2", "t", "cd", Duration::from_millis(1))
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert_eq!(
            s.touch_session("k2", day).await.unwrap(),
            None,
            "{}",
            b.name
        );
        s.drop_session("k1").await.unwrap();
        assert_eq!(s.touch_session("k1", day).await.unwrap(), None);
    }
}
