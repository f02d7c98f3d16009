//! The registry metadata on both backends: SQLite (a real file) and
//! PostgreSQL (a private server from test-support, one per test). Each
//! test body takes a `&dyn RegistryStore` and runs once per backend, as
//! `NAME::sqlite` and `NAME::postgres`. Reopening a SQLite file, and the
//! PostgreSQL races, are each their backend's own.

use slipway_store::{ManifestRecord, PgStore, RegistryStore, SqliteStore, StoreError, TagMove};
use slipway_test_support::Postgres;
use std::sync::Arc;

const KEY: [u8; 32] = [7; 32];

async fn sqlite() -> (tempfile::TempDir, SqliteStore) {
    let d = tempfile::tempdir().unwrap();
    let s = SqliteStore::open(&d.path().join("db")).await.unwrap();
    (d, s)
}

/// A PostgreSQL store on a server of the test's own (stopped when the
/// `Postgres` is dropped).
async fn postgres() -> (Postgres, PgStore) {
    let pg = Postgres::start();
    let url = pg.create_database("t");
    let s = PgStore::open(&url, Some(&KEY)).await.unwrap();
    (pg, s)
}

/// A module per test body with a test per backend.
macro_rules! on_both_backends {
    ($($body:ident),* $(,)?) => {$(
        mod $body {
            #[tokio::test]
            async fn sqlite() {
                let (_dir, s) = super::sqlite().await;
                super::$body(&s).await;
            }

            #[tokio::test]
            async fn postgres() {
                let (_pg, s) = super::postgres().await;
                super::$body(&s).await;
            }
        }
    )*};
}

on_both_backends!(
    links_manifests_tags_and_paging,
    upload_sessions,
    locked_tags_never_move_and_every_move_is_history,
    promotion_links_a_whole_image_or_nothing,
    pruning_takes_what_nothing_else_needs,
    deleting_a_manifest_records_its_tags_going,
);

fn by(why: &str) -> TagMove {
    TagMove::new("token:admin", None, why)
}

fn manifest(digest: &str, subject: Option<&str>) -> ManifestRecord {
    ManifestRecord {
        digest: digest.into(),
        media_type: "application/vnd.oci.image.manifest.v1+json".into(),
        size: 100,
        artifact_type: subject.map(|_| "application/spdx+json".into()),
        subject: subject.map(str::to_string),
        annotations: None,
    }
}

fn index(digest: &str) -> ManifestRecord {
    ManifestRecord {
        media_type: "application/vnd.oci.image.index.v1+json".into(),
        annotations: Some(r#"{"org.opencontainers.image.version":"1.0"}"#.into()),
        ..manifest(digest, None)
    }
}

/// (old, new, why) of a tag's history, newest first.
async fn moves(
    s: &dyn RegistryStore,
    repository: &str,
    tag: &str,
) -> Vec<(Option<String>, Option<String>, String)> {
    s.tag_history(repository, tag, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|e| (e.old_digest, e.new_digest, e.why))
        .collect()
}

fn some(s: &str) -> Option<String> {
    Some(s.to_string())
}

async fn links_manifests_tags_and_paging(s: &dyn RegistryStore) {
    assert!(!s.repository_exists("a/b").await.unwrap());
    s.link_blob("a/b", "sha256:l1", 10).await.unwrap();
    assert!(s.repository_exists("a/b").await.unwrap());
    assert!(s.blob_visible("a/b", "sha256:l1").await.unwrap());
    assert!(
        !s.blob_visible("c", "sha256:l1").await.unwrap(),
        "links are per repository"
    );

    s.put_manifest(
        "c",
        &manifest("sha256:m1", None),
        &["sha256:l1".into()],
        Some("v1"),
        &by("push"),
    )
    .await
    .unwrap();
    assert!(
        s.blob_visible("c", "sha256:l1").await.unwrap(),
        "referenced by a manifest of c"
    );
    assert_eq!(
        s.tag("c", "v1").await.unwrap().as_deref(),
        Some("sha256:m1")
    );
    for t in ["v3", "v2", "latest"] {
        s.put_manifest("c", &manifest("sha256:m1", None), &[], Some(t), &by("push"))
            .await
            .unwrap();
    }
    assert_eq!(
        s.tags("c", None, None).await.unwrap(),
        ["latest", "v1", "v2", "v3"]
    );
    assert_eq!(s.tags("c", Some(2), None).await.unwrap(), ["latest", "v1"]);
    assert_eq!(
        s.tags("c", Some(2), Some("v1")).await.unwrap(),
        ["v2", "v3"]
    );
    assert_eq!(s.repositories(None, None).await.unwrap(), ["a/b", "c"]);
    assert_eq!(s.repositories(Some(1), Some("a/b")).await.unwrap(), ["c"]);

    s.put_manifest(
        "c",
        &manifest("sha256:sbom", Some("sha256:m1")),
        &[],
        None,
        &by("push"),
    )
    .await
    .unwrap();
    let refs = s.referrers("c", "sha256:m1").await.unwrap();
    assert_eq!(refs.len(), 1);
    assert_eq!(
        refs[0].artifact_type.as_deref(),
        Some("application/spdx+json")
    );

    let mut live = s.live_digests().await.unwrap();
    live.sort();
    assert_eq!(live, ["sha256:l1", "sha256:m1", "sha256:sbom"]);
    s.link_blob("z", "sha256:orphan", 1).await.unwrap();
    assert!(
        !s.live_digests()
            .await
            .unwrap()
            .contains(&"sha256:orphan".to_string()),
        "links alone do not keep a blob"
    );
    s.unlink_everywhere("sha256:l1").await.unwrap();
    assert!(!s.blob_visible("a/b", "sha256:l1").await.unwrap());

    assert!(s.delete_tag("c", "v2", &by("delete")).await.unwrap());
    assert!(!s.delete_tag("c", "v2", &by("delete")).await.unwrap());
    assert!(
        s.delete_manifest("c", "sha256:m1", &by("delete"))
            .await
            .unwrap()
    );
    assert_eq!(
        s.tag("c", "v1").await.unwrap(),
        None,
        "tags go with their manifest"
    );
    assert!(!s.blob_visible("c", "sha256:l1").await.unwrap());
}

async fn upload_sessions(s: &dyn RegistryStore) {
    assert_eq!(s.upload_repository("u1").await.unwrap(), None);
    s.upload_started("u1", "repo").await.unwrap();
    s.upload_started("u0", "other").await.unwrap();
    assert_eq!(
        s.upload_repository("u1").await.unwrap().as_deref(),
        Some("repo")
    );
    assert_eq!(
        s.uploads_before("9999-01-01T00:00:00Z").await.unwrap(),
        ["u0", "u1"]
    );
    assert!(
        s.uploads_before("2000-01-01T00:00:00Z")
            .await
            .unwrap()
            .is_empty()
    );
    s.upload_finished("u1").await.unwrap();
    assert_eq!(s.upload_repository("u1").await.unwrap(), None);
    assert_eq!(
        s.uploads_before(&jiff::Timestamp::now().to_string())
            .await
            .unwrap(),
        ["u0"]
    );
}

/// SQLite's own: the file keeps them.
#[tokio::test]
async fn upload_sessions_survive_reopen() {
    let d = tempfile::tempdir().unwrap();
    let path = d.path().join("db");
    {
        let s = SqliteStore::open(&path).await.unwrap();
        s.upload_started("u1", "repo").await.unwrap();
    }
    let s = SqliteStore::open(&path).await.unwrap();
    assert_eq!(
        s.upload_repository("u1").await.unwrap().as_deref(),
        Some("repo")
    );
    assert_eq!(s.uploads_before("9999").await.unwrap(), ["u1"]);
    assert!(s.uploads_before("2000").await.unwrap().is_empty());
    s.upload_finished("u1").await.unwrap();
    assert_eq!(s.upload_repository("u1").await.unwrap(), None);
}

async fn locked_tags_never_move_and_every_move_is_history(s: &dyn RegistryStore) {
    let build = TagMove::new("build:7", Some(7), "build");
    for (digest, tag) in [
        ("sha256:m1", "7-2026"),
        ("sha256:m1", "1.0-1"),
        ("sha256:m1", "latest"),
    ] {
        s.put_manifest("team/app", &manifest(digest, None), &[], Some(tag), &build)
            .await
            .unwrap();
    }
    s.lock_tag("team/app", "7-2026", "sha256:m1", 7, "unique")
        .await
        .unwrap();
    s.lock_tag("team/app", "1.0-1", "sha256:m1", 7, "primary")
        .await
        .unwrap();
    // Another manifest may not take a locked tag, by push or by move.
    let e = s
        .put_manifest(
            "team/app",
            &manifest("sha256:m2", None),
            &[],
            Some("1.0-1"),
            &by("push"),
        )
        .await
        .unwrap_err();
    assert!(matches!(e, StoreError::Immutable(_)), "{e}");
    assert!(
        e.to_string()
            .starts_with("tag team/app:1.0-1 is immutable: it is the primary tag of build 7"),
        "{e}"
    );
    s.put_manifest(
        "team/app",
        &manifest("sha256:m2", None),
        &[],
        Some("latest"),
        &by("push"),
    )
    .await
    .unwrap();
    assert!(matches!(
        s.move_tag("team/app", "7-2026", "sha256:m2", &by("tag"))
            .await
            .unwrap_err(),
        StoreError::Immutable(_)
    ));
    assert!(matches!(
        s.delete_tag("team/app", "1.0-1", &by("delete"))
            .await
            .unwrap_err(),
        StoreError::Immutable(_)
    ));
    assert!(matches!(
        s.delete_manifest("team/app", "sha256:m1", &by("delete"))
            .await
            .unwrap_err(),
        StoreError::Immutable(_)
    ));
    // The same digest again is no move, and is allowed.
    s.put_manifest(
        "team/app",
        &manifest("sha256:m1", None),
        &[],
        Some("1.0-1"),
        &by("push"),
    )
    .await
    .unwrap();
    // A move to a manifest the repository lacks is refused.
    assert!(matches!(
        s.move_tag("team/app", "latest", "sha256:nope", &by("rollback"))
            .await
            .unwrap_err(),
        StoreError::NotFound(_)
    ));
    assert_eq!(
        s.move_tag("team/app", "latest", "sha256:m1", &by("rollback"))
            .await
            .unwrap()
            .as_deref(),
        Some("sha256:m2")
    );
    let h = s.tag_history("team/app", "latest", 10).await.unwrap();
    let moves: Vec<(Option<&str>, Option<&str>, &str, &str)> = h
        .iter()
        .map(|e| {
            (
                e.old_digest.as_deref(),
                e.new_digest.as_deref(),
                e.who.as_str(),
                e.why.as_str(),
            )
        })
        .collect();
    assert_eq!(
        moves,
        [
            (
                Some("sha256:m2"),
                Some("sha256:m1"),
                "token:admin",
                "rollback"
            ),
            (Some("sha256:m1"), Some("sha256:m2"), "token:admin", "push"),
            (None, Some("sha256:m1"), "build:7", "build"),
        ]
    );
    assert_eq!(h[2].build, Some(7));
    assert!(
        s.delete_tag("team/app", "latest", &by("delete"))
            .await
            .unwrap()
    );
    let h = s.tag_history("team/app", "latest", 1).await.unwrap();
    assert_eq!(
        (h[0].old_digest.as_deref(), h[0].new_digest.as_deref()),
        (Some("sha256:m1"), None)
    );
    let tags: Vec<String> = s
        .tag_digests("team/app")
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.tag)
        .collect();
    assert_eq!(tags, ["1.0-1", "7-2026"]);
    // Unlocked (the build is pruned), the tags may go.
    assert_eq!(s.unlock_build_tags(7).await.unwrap(), 2);
    assert!(
        s.delete_tag("team/app", "1.0-1", &by("prune"))
            .await
            .unwrap()
    );
}

async fn promotion_links_a_whole_image_or_nothing(s: &dyn RegistryStore) {
    // An index of two images, one with an SBOM, in the build repository.
    for (digest, layer) in [("sha256:a1", "sha256:l1"), ("sha256:a2", "sha256:l2")] {
        s.put_manifest(
            "build/app",
            &manifest(digest, None),
            &[layer.into()],
            None,
            &by("build"),
        )
        .await
        .unwrap();
    }
    s.put_manifest(
        "build/app",
        &manifest("sha256:sbom", Some("sha256:a1")),
        &["sha256:spdx".into()],
        None,
        &by("build"),
    )
    .await
    .unwrap();
    s.put_manifest(
        "build/app",
        &index("sha256:idx"),
        &["sha256:a1".into(), "sha256:a2".into()],
        Some("7-2026"),
        &TagMove::new("build:7", Some(7), "build"),
    )
    .await
    .unwrap();
    s.lock_tag("build/app", "7-2026", "sha256:idx", 7, "unique")
        .await
        .unwrap();
    assert_eq!(
        s.build_of_digest("build/app", "sha256:idx").await.unwrap(),
        Some(7)
    );
    assert_eq!(
        s.build_of_digest("build/app", "sha256:a1").await.unwrap(),
        None
    );

    let promote = TagMove::new("token:release", Some(7), "promote");
    s.promote(
        "build/app",
        "sha256:idx",
        "prod/app",
        &["1.0".into(), "latest".into()],
        Some(("1.0", 7)),
        &promote,
    )
    .await
    .unwrap();
    for d in ["sha256:idx", "sha256:a1", "sha256:a2", "sha256:sbom"] {
        assert!(
            s.manifest("prod/app", d).await.unwrap().is_some(),
            "{d} is linked"
        );
    }
    assert_eq!(
        s.manifest("prod/app", "sha256:idx").await.unwrap(),
        s.manifest("build/app", "sha256:idx").await.unwrap(),
        "the same descriptor, annotations and all"
    );
    for layer in ["sha256:l1", "sha256:l2", "sha256:spdx"] {
        assert!(s.blob_visible("prod/app", layer).await.unwrap(), "{layer}");
    }
    assert_eq!(
        s.referrers("prod/app", "sha256:a1").await.unwrap(),
        [manifest("sha256:sbom", Some("sha256:a1"))]
    );
    let tags: Vec<(String, String)> = s
        .tag_digests("prod/app")
        .await
        .unwrap()
        .into_iter()
        .map(|t| {
            assert!(t.updated_at.ends_with('Z'), "{}", t.updated_at);
            (t.tag, t.digest)
        })
        .collect();
    assert_eq!(
        tags,
        [
            ("1.0".to_string(), "sha256:idx".to_string()),
            ("latest".to_string(), "sha256:idx".to_string())
        ]
    );
    let lock = s.tag_lock("prod/app", "1.0").await.unwrap().unwrap();
    assert_eq!(
        (lock.digest.as_str(), lock.build, lock.kind.as_str()),
        ("sha256:idx", 7, "primary")
    );
    assert_eq!(s.tag_lock("prod/app", "latest").await.unwrap(), None);
    let h = s.tag_history("prod/app", "latest", 10).await.unwrap();
    assert_eq!(h.len(), 1);
    assert_eq!(
        (
            h[0].old_digest.as_deref(),
            h[0].new_digest.as_deref(),
            h[0].who.as_str(),
            h[0].build,
            h[0].why.as_str()
        ),
        (
            None,
            Some("sha256:idx"),
            "token:release",
            Some(7),
            "promote"
        )
    );
    // Promoting again is no move.
    s.promote(
        "build/app",
        "sha256:idx",
        "prod/app",
        &["1.0".into()],
        Some(("1.0", 7)),
        &promote,
    )
    .await
    .unwrap();
    assert_eq!(moves(s, "prod/app", "1.0").await.len(), 1);

    // All or nothing: a promotion the lock refuses links nothing.
    s.put_manifest(
        "build/app",
        &manifest("sha256:b1", None),
        &[],
        None,
        &by("build"),
    )
    .await
    .unwrap();
    let e = s
        .promote(
            "build/app",
            "sha256:b1",
            "prod/app",
            &["latest".into(), "1.0".into()],
            None,
            &promote,
        )
        .await
        .unwrap_err();
    assert!(matches!(e, StoreError::Immutable(_)), "{e}");
    assert_eq!(s.manifest("prod/app", "sha256:b1").await.unwrap(), None);
    assert_eq!(
        s.tag("prod/app", "latest").await.unwrap().as_deref(),
        Some("sha256:idx")
    );
    // Nor does one of a manifest the source lacks, not even the repository.
    assert!(matches!(
        s.promote("build/app", "sha256:nope", "stage/app", &[], None, &promote)
            .await
            .unwrap_err(),
        StoreError::NotFound(_)
    ));
    assert!(!s.repository_exists("stage/app").await.unwrap());
    // A lock to another digest is refused.
    assert!(matches!(
        s.lock_tag("prod/app", "1.0", "sha256:a1", 8, "primary")
            .await
            .unwrap_err(),
        StoreError::Immutable(_)
    ));
    assert_eq!(s.unlock_build_tags(7).await.unwrap(), 2);
    assert_eq!(s.tag_lock("prod/app", "1.0").await.unwrap(), None);
    assert_eq!(s.unlock_build_tags(7).await.unwrap(), 0);

    // Moves made in another registry are history too.
    let external = TagMove::new("token:release", Some(7), "promote");
    s.record_external_move(
        "quay.example/team/app",
        "1.0",
        None,
        Some("sha256:idx"),
        &external,
    )
    .await
    .unwrap();
    s.record_external_move(
        "quay.example/team/app",
        "1.0",
        Some("sha256:idx"),
        Some("sha256:idx"),
        &external,
    )
    .await
    .unwrap();
    assert_eq!(
        moves(s, "quay.example/team/app", "1.0").await,
        [(None, some("sha256:idx"), "promote".to_string())]
    );
    assert!(!s.repository_exists("quay.example/team/app").await.unwrap());
}

async fn pruning_takes_what_nothing_else_needs(s: &dyn RegistryStore) {
    for d in ["sha256:a1", "sha256:a2", "sha256:a3"] {
        s.put_manifest(
            "app",
            &manifest(d, None),
            &["sha256:layer".into()],
            None,
            &by("build"),
        )
        .await
        .unwrap();
    }
    s.put_manifest(
        "app",
        &manifest("sha256:sbom", Some("sha256:a1")),
        &[],
        None,
        &by("build"),
    )
    .await
    .unwrap();
    // idx1 lists a1 and a2; idx2 lists a2 and a3.
    s.put_manifest(
        "app",
        &index("sha256:idx1"),
        &["sha256:a1".into(), "sha256:a2".into()],
        Some("v1"),
        &by("build"),
    )
    .await
    .unwrap();
    s.put_manifest(
        "app",
        &index("sha256:idx2"),
        &["sha256:a2".into(), "sha256:a3".into()],
        Some("v2"),
        &by("build"),
    )
    .await
    .unwrap();
    // The same image in another repository is that repository's.
    s.promote(
        "app",
        "sha256:idx1",
        "copy",
        &["v1".into()],
        None,
        &by("promote"),
    )
    .await
    .unwrap();

    assert!(
        s.prune_manifest("app", "sha256:idx1")
            .await
            .unwrap()
            .is_empty(),
        "tagged"
    );
    assert!(
        s.prune_manifest("app", "sha256:a1")
            .await
            .unwrap()
            .is_empty(),
        "listed by an index"
    );
    assert!(
        s.prune_manifest("app", "sha256:gone")
            .await
            .unwrap()
            .is_empty()
    );
    s.lock_tag("app", "v1", "sha256:idx1", 3, "unique")
        .await
        .unwrap();
    assert!(s.delete_tag("app", "v1", &by("prune")).await.is_err());
    s.unlock_build_tags(3).await.unwrap();
    assert!(s.delete_tag("app", "v1", &by("prune")).await.unwrap());
    // Locked to a digest no tag names any more, it is still needed.
    s.lock_tag("app", "old", "sha256:idx1", 4, "unique")
        .await
        .unwrap();
    assert!(
        s.prune_manifest("app", "sha256:idx1")
            .await
            .unwrap()
            .is_empty()
    );
    s.unlock_build_tags(4).await.unwrap();

    let mut pruned = s.prune_manifest("app", "sha256:idx1").await.unwrap();
    pruned.sort();
    assert_eq!(
        pruned,
        ["sha256:a1", "sha256:idx1", "sha256:sbom"],
        "a2 is still listed by idx2"
    );
    // (digest, still in app, in copy)
    for (d, in_app, in_copy) in [
        ("sha256:idx1", false, true),
        ("sha256:a1", false, true),
        ("sha256:sbom", false, true),
        ("sha256:a2", true, true),
        ("sha256:a3", true, false),
        ("sha256:idx2", true, false),
    ] {
        assert_eq!(
            s.manifest("app", d).await.unwrap().is_some(),
            in_app,
            "{d} in app"
        );
        assert_eq!(
            s.manifest("copy", d).await.unwrap().is_some(),
            in_copy,
            "{d} in copy"
        );
    }
    let mut live = s.live_digests().await.unwrap();
    live.sort();
    assert!(live.contains(&"sha256:a1".to_string()), "copy still has it");
    assert!(live.contains(&"sha256:layer".to_string()));

    assert!(s.delete_tag("app", "v2", &by("prune")).await.unwrap());
    let mut pruned = s.prune_manifest("app", "sha256:idx2").await.unwrap();
    pruned.sort();
    assert_eq!(pruned, ["sha256:a2", "sha256:a3", "sha256:idx2"]);
    assert!(s.tags("app", None, None).await.unwrap().is_empty());
    assert!(!s.blob_visible("app", "sha256:layer").await.unwrap());
    assert!(s.blob_visible("copy", "sha256:layer").await.unwrap());
}

async fn deleting_a_manifest_records_its_tags_going(s: &dyn RegistryStore) {
    s.put_manifest(
        "app",
        &manifest("sha256:m1", None),
        &[],
        Some("b"),
        &by("push"),
    )
    .await
    .unwrap();
    s.move_tag("app", "a", "sha256:m1", &by("tag"))
        .await
        .unwrap();
    s.put_manifest(
        "app",
        &manifest("sha256:m2", None),
        &[],
        Some("c"),
        &by("push"),
    )
    .await
    .unwrap();
    assert!(
        s.delete_manifest("app", "sha256:m1", &by("delete"))
            .await
            .unwrap()
    );
    assert!(
        !s.delete_manifest("app", "sha256:m1", &by("delete"))
            .await
            .unwrap()
    );
    for t in ["a", "b"] {
        assert_eq!(
            moves(s, "app", t).await[0],
            (some("sha256:m1"), None, "delete".to_string()),
            "{t}"
        );
    }
    assert_eq!(s.tags("app", None, None).await.unwrap(), ["c"]);
    assert_eq!(
        s.move_tag("app", "c", "sha256:m2", &by("tag"))
            .await
            .unwrap()
            .as_deref(),
        Some("sha256:m2")
    );
    assert_eq!(moves(s, "app", "c").await.len(), 1, "no move, no history");
}

/// PostgreSQL: twenty servers moving one tag at once, each over its own
/// connections, leave a history with one entry per move, each move
/// starting where the one before it ended, and the tag where the last
/// one put it. Without the repository's lock two moves read the same old
/// digest and the history forks.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn servers_racing_to_move_a_tag_keep_its_history_whole() {
    let pg = Postgres::start();
    let url = pg.create_database("t");
    let mut stores = Vec::new();
    for _ in 0..4 {
        stores.push(Arc::new(PgStore::open(&url, None).await.unwrap()));
    }
    let digest = |i: usize| format!("sha256:m{i:02}");
    for i in 0..=20 {
        let tag = (i == 0).then_some("latest");
        stores[0]
            .put_manifest("app", &manifest(&digest(i), None), &[], tag, &by("push"))
            .await
            .unwrap();
    }
    let mut tasks = Vec::new();
    for i in 1..=20 {
        let s = stores[i % stores.len()].clone();
        let to = digest(i);
        tasks.push(tokio::spawn(async move {
            let old = s
                .move_tag(
                    "app",
                    "latest",
                    &to,
                    &TagMove::new(format!("server-{i}"), None, "tag"),
                )
                .await
                .unwrap();
            (old, to)
        }));
    }
    let mut returned = Vec::new();
    for t in tasks {
        returned.push(t.await.unwrap());
    }
    let mut h = stores[1].tag_history("app", "latest", 100).await.unwrap();
    h.reverse();
    assert_eq!(h.len(), 21, "the push and one entry per move");
    assert_eq!(
        (h[0].old_digest.as_deref(), h[0].new_digest.as_deref()),
        (None, Some("sha256:m00"))
    );
    for w in h.windows(2) {
        assert_eq!(
            w[1].old_digest, w[0].new_digest,
            "a move starts where the last ended"
        );
    }
    let mut recorded: Vec<(Option<String>, String)> = h[1..]
        .iter()
        .map(|e| (e.old_digest.clone(), e.new_digest.clone().unwrap()))
        .collect();
    recorded.sort();
    returned.sort();
    assert_eq!(
        recorded, returned,
        "each move answered the digest it recorded"
    );
    assert_eq!(
        stores[2].tag("app", "latest").await.unwrap(),
        h[20].new_digest
    );
}

/// PostgreSQL: retention pruning a manifest while someone rolls a tag
/// back to it, on other servers. Either the prune goes first (the move
/// finds no manifest) or the move does (the prune finds it tagged), never
/// both: no tag may name a manifest that is gone. Without the
/// repository's lock the prune's "no tag names it" and the move's "the
/// manifest is there" are each read before the other writes.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn pruning_while_a_tag_moves_leaves_no_tag_dangling() {
    let pg = Postgres::start();
    let url = pg.create_database("t");
    let mut stores = Vec::new();
    for _ in 0..4 {
        stores.push(Arc::new(PgStore::open(&url, None).await.unwrap()));
    }
    let rounds = 30;
    for i in 0..rounds {
        stores[0]
            .put_manifest(
                "app",
                &manifest(&format!("sha256:m{i:02}"), None),
                &[],
                None,
                &by("build"),
            )
            .await
            .unwrap();
    }
    let mut tasks = Vec::new();
    for i in 0..rounds {
        let digest = format!("sha256:m{i:02}");
        let pruner = stores[i % 4].clone();
        let mover = stores[(i + 1) % 4].clone();
        let d = digest.clone();
        let prune = tokio::spawn(async move { pruner.prune_manifest("app", &d).await.unwrap() });
        let move_ = tokio::spawn(async move {
            mover
                .move_tag("app", &format!("t{i:02}"), &digest, &by("rollback"))
                .await
        });
        tasks.push((i, prune, move_));
    }
    for (i, prune, move_) in tasks {
        let pruned = !prune.await.unwrap().is_empty();
        let moved = match move_.await.unwrap() {
            Ok(_) => true,
            Err(StoreError::NotFound(_)) => false,
            Err(e) => panic!("round {i}: {e}"),
        };
        assert!(pruned != moved, "round {i}: pruned {pruned}, moved {moved}");
    }
    for t in stores[0].tag_digests("app").await.unwrap() {
        assert!(
            stores[0]
                .manifest("app", &t.digest)
                .await
                .unwrap()
                .is_some(),
            "{} names {}, which is gone",
            t.tag,
            t.digest
        );
    }
}

/// The blob gate across servers: GC's exclusive gate holds back every
/// server's writes (and theirs GC), shared gates do not hold back each
/// other, and a gate dropped without release (a cancelled request) is
/// let go with its connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_blob_gate_holds_back_writes_on_every_server_while_gc_runs() {
    use std::time::Duration;
    let pg = Postgres::start();
    let url = pg.create_database("t");
    let gc = Arc::new(PgStore::open(&url, None).await.unwrap());
    let writer = Arc::new(PgStore::open(&url, None).await.unwrap());
    let waits = |s: Arc<PgStore>, exclusive: bool| {
        tokio::spawn(async move { s.blob_gate(exclusive).await.unwrap() })
    };
    // Writes on two servers at once.
    let w1 = writer.blob_gate(false).await.unwrap();
    let w2 = gc.blob_gate(false).await.unwrap();
    // GC waits for both.
    let mut collecting = waits(gc.clone(), true);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!collecting.is_finished(), "GC went in past two writes");
    w1.release().await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!collecting.is_finished(), "GC went in past a write");
    w2.release().await;
    let held = tokio::time::timeout(Duration::from_secs(10), &mut collecting)
        .await
        .expect("GC never got the gate once the writes were done")
        .unwrap();
    // While GC holds it, a write on the other server waits, and so does
    // another GC (queued after the write: the database grants in order).
    let mut write = waits(writer.clone(), false);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut second_gc = waits(writer.clone(), true);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!write.is_finished(), "a write went in while GC ran");
    assert!(!second_gc.is_finished(), "two GCs at once");
    held.release().await;
    let w = tokio::time::timeout(Duration::from_secs(10), &mut write)
        .await
        .expect("the write never went in after GC")
        .unwrap();
    // Cancelled while holding it: dropped, not released.
    drop(w);
    let g = tokio::time::timeout(Duration::from_secs(10), &mut second_gc)
        .await
        .expect("a gate dropped without release was never let go")
        .unwrap();
    g.release().await;
    // Released gates go back to their pool: many more rounds than the
    // pool has connections.
    for _ in 0..40 {
        writer.blob_gate(false).await.unwrap().release().await;
        gc.blob_gate(true).await.unwrap().release().await;
    }
}
