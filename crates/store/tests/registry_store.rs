//! The registry metadata in a real SQLite file.

use slipway_store::{ManifestRecord, RegistryStore, SqliteStore, StoreError, TagMove};

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

#[tokio::test]
async fn links_manifests_tags_and_paging() {
    let d = tempfile::tempdir().unwrap();
    let s = SqliteStore::open(&d.path().join("db")).await.unwrap();
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

#[tokio::test]
async fn locked_tags_never_move_and_every_move_is_history() {
    let d = tempfile::tempdir().unwrap();
    let s = SqliteStore::open(&d.path().join("db")).await.unwrap();
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
