//! Koji reservations and imports in the store, against a real database
//! file: the token sealed at rest, refunds only for builds that did not
//! complete, imports only for Complete builds, retries keeping the state.

use slipway_core::build::SourceRequest;
use slipway_core::koji::ImportState;
use slipway_core::{BuildPhase, BuildRequest};
use slipway_store::{ImportAttempt, KojiReservation, KojiStore, SqliteStore, Store};

async fn build(s: &SqliteStore) -> i64 {
    let spec = BuildRequest {
        source: SourceRequest {
            url: "/srv/repo".into(),
            ..Default::default()
        },
        output: Some("127.0.0.1:5000/app".into()),
        ..Default::default()
    }
    .validate(None)
    .unwrap();
    s.create_build(&spec).await.unwrap().id
}

#[tokio::test]
async fn reservations_imports_and_refunds() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db.sqlite");
    let s = SqliteStore::open_sealed(&path, Some(&[7u8; 32]))
        .await
        .unwrap();
    let now = jiff::Timestamp::now();
    let later = now
        .checked_add(jiff::SignedDuration::from_secs(60))
        .unwrap();

    let (a, b) = (build(&s).await, build(&s).await);
    let token = "1234-secret-reservation-token";
    let r = KojiReservation {
        koji_build_id: 41,
        token: token.into(),
    };
    s.reserve_koji(a, "app-1.0-1", &r).await.unwrap();
    assert!(!format!("{r:?}").contains(token), "Debug hides the token");
    assert_eq!(s.koji_reservation(a).await.unwrap(), Some(r.clone()));
    assert_eq!(s.koji_reservation(b).await.unwrap(), None);
    let i = s.koji_import(a).await.unwrap().unwrap();
    assert_eq!(
        (i.state, i.nvr.as_deref(), i.koji_build_id),
        (ImportState::Reserved, Some("app-1.0-1"), Some(41))
    );
    // Sealed at rest: the database file never holds the token.
    drop(s);
    let raw = std::fs::read(&path).unwrap();
    let wal = std::fs::read(path.with_extension("sqlite-wal")).unwrap_or_default();
    for bytes in [raw, wal] {
        assert!(!bytes.windows(token.len()).any(|w| w == token.as_bytes()));
    }
    let s = SqliteStore::open_sealed(&path, Some(&[7u8; 32]))
        .await
        .unwrap();
    assert_eq!(s.koji_reservation(a).await.unwrap(), Some(r));

    // Still New: nothing to give back, nothing to import.
    assert!(s.due_koji_refunds(now, 10).await.unwrap().is_empty());
    assert!(s.due_koji_imports(later, 10).await.unwrap().is_empty());
    // It fails: its reservation is due to be given back.
    s.fail_preparation(a, BuildPhase::Failed, "no", None, None)
        .await
        .unwrap();
    assert_eq!(
        s.due_koji_refunds(now, 10).await.unwrap(),
        [(a, BuildPhase::Failed)]
    );
    // The hub is down: the state stays, the next attempt waits.
    s.record_koji_attempt(
        a,
        &ImportAttempt::Retry {
            message: "cannot reach the Koji hub".into(),
            at: later,
        },
    )
    .await
    .unwrap();
    let i = s.koji_import(a).await.unwrap().unwrap();
    assert_eq!((i.state, i.attempts), (ImportState::Reserved, 1));
    assert!(s.due_koji_refunds(now, 10).await.unwrap().is_empty());
    let after = later
        .checked_add(jiff::SignedDuration::from_secs(1))
        .unwrap();
    assert_eq!(s.due_koji_refunds(after, 10).await.unwrap().len(), 1);
    s.record_koji_attempt(
        a,
        &ImportAttempt::Refunded {
            message: "given back".into(),
        },
    )
    .await
    .unwrap();
    assert_eq!(
        s.koji_import(a).await.unwrap().unwrap().state,
        ImportState::Refunded
    );
    assert!(s.due_koji_refunds(after, 10).await.unwrap().is_empty());
    // A refunded import is never queued again.
    s.queue_koji_import(a).await.unwrap();
    assert_eq!(
        s.koji_import(a).await.unwrap().unwrap().state,
        ImportState::Refunded
    );

    // Unreserved: queued when its metadata is recorded, due only once
    // Complete (it is not here), and then imported for good.
    s.queue_koji_import(b).await.unwrap();
    assert_eq!(
        s.koji_import(b).await.unwrap().unwrap().state,
        ImportState::Pending
    );
    assert!(
        s.due_koji_imports(later, 10).await.unwrap().is_empty(),
        "not Complete"
    );
    s.record_koji_attempt(
        b,
        &ImportAttempt::Failed {
            message: "Build already exists".into(),
            nvr: Some("app-1.0-2".into()),
        },
    )
    .await
    .unwrap();
    let i = s.koji_import(b).await.unwrap().unwrap();
    assert_eq!(
        (i.state, i.message.as_deref()),
        (ImportState::Failed, Some("Build already exists"))
    );
    s.queue_koji_import(b).await.unwrap();
    let i = s.koji_import(b).await.unwrap().unwrap();
    assert_eq!(
        (i.state, i.attempts),
        (ImportState::Pending, 0),
        "queued again by hand"
    );
    s.record_koji_attempt(
        b,
        &ImportAttempt::Imported {
            nvr: "app-1.0-2".into(),
            koji_build_id: 42,
        },
    )
    .await
    .unwrap();
    s.queue_koji_import(b).await.unwrap();
    let i = s.koji_import(b).await.unwrap().unwrap();
    assert_eq!(
        (i.state, i.koji_build_id),
        (ImportState::Imported, Some(42)),
        "imported stays imported"
    );
}
