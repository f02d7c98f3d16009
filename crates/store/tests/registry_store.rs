//! The registry metadata in a real SQLite file.

use slipway_store::{ManifestRecord, RegistryStore, SqliteStore};

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
        s.put_manifest("c", &manifest("sha256:m1", None), &[], Some(t))
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

    s.put_manifest("c", &manifest("sha256:sbom", Some("sha256:m1")), &[], None)
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

    assert!(s.delete_tag("c", "v2").await.unwrap());
    assert!(!s.delete_tag("c", "v2").await.unwrap());
    assert!(s.delete_manifest("c", "sha256:m1").await.unwrap());
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
