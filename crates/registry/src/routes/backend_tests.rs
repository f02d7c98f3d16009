//! The `/v2/` routes and garbage collection on both blob store backends,
//! with two registries (two servers) sharing one SQLite database and one
//! blob store: a push whose chunks alternate between them, ranged pulls,
//! a manifest, then GC.

use crate::Registry;
use crate::auth::RegistryAuth;
use crate::digest::{Algorithm, digest_of};
use crate::storage::tests::Place;
use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, Request, StatusCode};
use slipway_core::token::{ANY_REPOSITORY, Action, Grant};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tower::ServiceExt;

async fn registry(place: &Place, db: &Path) -> Arc<Registry> {
    let store = Arc::new(slipway_store::SqliteStore::open(db).await.unwrap());
    registry_on(place, store)
}

fn registry_on<S: slipway_store::Store + slipway_store::RegistryStore>(
    place: &Place,
    store: Arc<S>,
) -> Arc<Registry> {
    Arc::new(Registry {
        blobs: place.open(),
        meta: store.clone(),
        auth: RegistryAuth::new(store, b"test registry key".to_vec(), false),
        automatic_mount: true,
        gc_lock: tokio::sync::RwLock::new(()),
        write_slots: tokio::sync::Semaphore::new(16),
    })
}

struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

impl Answer {
    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }
}

async fn call(
    reg: &Arc<Registry>,
    method: &str,
    uri: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Answer {
    let token = reg
        .auth
        .issue(vec![Grant::new(ANY_REPOSITORY, &Action::ALL)]);
    let mut req = Request::builder()
        .method(method)
        .uri(uri)
        .header("authorization", format!("Bearer {token}"));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let req = req.body(Body::from(body.to_vec())).unwrap();
    let resp = crate::router(reg.clone()).oneshot(req).await.unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    let body = axum::body::to_bytes(resp.into_body(), usize::MAX)
        .await
        .unwrap();
    Answer {
        status,
        headers,
        body,
    }
}

async fn push_pull_and_collect(place: &Place) {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("slipway.db");
    let (a, b) = (registry(place, &db).await, registry(place, &db).await);
    let repo = "/v2/team/app";

    // A chunked push; each chunk reaches another server.
    let r = call(&a, "POST", &format!("{repo}/blobs/uploads/"), &[], b"").await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    let at = r.header("location").to_string();
    let r = call(&a, "PATCH", &at, &[("content-range", "0-4")], b"hello").await;
    assert_eq!((r.status, r.header("range")), (StatusCode::ACCEPTED, "0-4"));
    let r = call(&b, "PATCH", &at, &[("content-range", "5-10")], b" world").await;
    assert_eq!(
        (r.status, r.header("range")),
        (StatusCode::ACCEPTED, "0-10")
    );
    let r = call(&a, "PATCH", &at, &[("content-range", "3-5")], b"xyz").await;
    assert_eq!(r.status, StatusCode::RANGE_NOT_SATISFIABLE);
    let r = call(&b, "GET", &at, &[], b"").await;
    assert_eq!(
        (r.status, r.header("range")),
        (StatusCode::NO_CONTENT, "0-10")
    );
    let layer = digest_of(Algorithm::Sha256, b"hello world");
    let r = call(&a, "PUT", &format!("{at}?digest={layer}"), &[], b"").await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);

    // Pulled from the other server, whole and in part.
    let blob = format!("{repo}/blobs/{layer}");
    let r = call(&b, "GET", &blob, &[("range", "bytes=6-10")], b"").await;
    assert_eq!(r.status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(&r.body[..], b"world");
    assert_eq!(r.header("content-range"), "bytes 6-10/11");
    let r = call(&b, "GET", &blob, &[], b"").await;
    assert_eq!(
        (r.status, &r.body[..]),
        (StatusCode::OK, &b"hello world"[..])
    );
    let r = call(&a, "HEAD", &blob, &[], b"").await;
    assert_eq!(
        (r.status, r.header("content-length")),
        (StatusCode::OK, "11")
    );

    // A monolithic push with the wrong digest leaves nothing.
    let wrong = digest_of(Algorithm::Sha256, b"something else");
    let r = call(
        &b,
        "POST",
        &format!("{repo}/blobs/uploads/?digest={wrong}"),
        &[],
        b"{}",
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(a.blobs.stat(&wrong).await.unwrap(), None);
    let config = digest_of(Algorithm::Sha256, b"{}");
    let r = call(
        &b,
        "POST",
        &format!("{repo}/blobs/uploads/?digest={config}"),
        &[],
        b"{}",
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED);

    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config.to_string(), "size": 2},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layer.to_string(), "size": 11}],
    })
    .to_string();
    let media = [("content-type", "application/vnd.oci.image.manifest.v1+json")];
    let r = call(
        &a,
        "PUT",
        &format!("{repo}/manifests/v1"),
        &media,
        manifest.as_bytes(),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let r = call(&b, "GET", &format!("{repo}/manifests/v1"), &[], b"").await;
    assert_eq!(
        (r.status, &r.body[..]),
        (StatusCode::OK, manifest.as_bytes())
    );

    // GC: everything is referenced; then nothing is.
    let day = Duration::from_secs(86_400);
    let report = crate::gc::collect(&a, false, Duration::ZERO, day)
        .await
        .unwrap();
    assert_eq!((report.deleted_blobs.len(), report.kept_blobs), (0, 3));
    let manifest_digest = digest_of(Algorithm::Sha256, manifest.as_bytes());
    let r = call(
        &b,
        "DELETE",
        &format!("{repo}/manifests/{manifest_digest}"),
        &[],
        b"",
    )
    .await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    let kept = crate::gc::collect(&a, false, day, day).await.unwrap();
    assert_eq!(
        (kept.deleted_blobs.len(), kept.kept_blobs),
        (0, 3),
        "grace period"
    );
    let dry = crate::gc::collect(&a, true, Duration::ZERO, day)
        .await
        .unwrap();
    assert_eq!(
        (dry.deleted_blobs.len(), dry.freed_bytes),
        (3, 11 + 2 + manifest.len() as u64)
    );
    assert_eq!(a.blobs.list_blobs().await.unwrap().len(), 3, "a dry run");
    let report = crate::gc::collect(&a, false, Duration::ZERO, day)
        .await
        .unwrap();
    let mut want = vec![
        config.to_string(),
        layer.to_string(),
        manifest_digest.to_string(),
    ];
    want.sort();
    assert_eq!(report.deleted_blobs, want);
    assert_eq!(b.blobs.list_blobs().await.unwrap(), vec![]);
    let r = call(&b, "GET", &blob, &[], b"").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);

    // Upload data that no session owns goes once it is as old as a stale
    // session (here: at once); fresh, it stays.
    let orphan = a.blobs.start_upload().await.unwrap();
    let r = call(&b, "POST", &format!("{repo}/blobs/uploads/"), &[], b"").await;
    let live = r.header("location").rsplit('/').next().unwrap().to_string();
    let report = crate::gc::collect(&a, false, Duration::ZERO, day)
        .await
        .unwrap();
    assert!(report.stale_uploads.is_empty(), "{report:?}");
    let report = crate::gc::collect(&b, false, Duration::ZERO, Duration::ZERO)
        .await
        .unwrap();
    assert!(report.stale_uploads.contains(&orphan), "{report:?}");
    let ids: Vec<String> = a
        .blobs
        .list_uploads()
        .await
        .unwrap()
        .into_iter()
        .map(|u| u.id)
        .collect();
    assert!(!ids.contains(&orphan) && !ids.contains(&live), "{ids:?}");
}

#[tokio::test]
async fn push_pull_and_collect_on_fs() {
    push_pull_and_collect(&Place::fs()).await
}

#[tokio::test]
async fn push_pull_and_collect_on_s3() {
    push_pull_and_collect(&Place::s3()).await
}

/// GC on one server while another pushes manifests naming blobs GC finds
/// unreferenced (old enough: grace zero), on one PostgreSQL database and
/// one blob store: whatever the interleaving, a manifest accepted has its
/// blobs and its own bytes in the store afterwards; one refused was
/// refused as MANIFEST_BLOB_UNKNOWN (the client pushes the blobs again).
async fn gc_racing_pushes_on_another_server(place: &Place) {
    let pg = slipway_test_support::Postgres::start();
    let url = pg.create_database("t");
    let open = || async { Arc::new(slipway_store::PgStore::open(&url, None).await.unwrap()) };
    let (a, b) = (
        registry_on(place, open().await),
        registry_on(place, open().await),
    );
    let repo = "/v2/team/app";
    let media = [("content-type", "application/vnd.oci.image.manifest.v1+json")];
    let day = Duration::from_secs(86_400);
    let (mut accepted, mut refused) = (0, 0);
    for round in 0..30 {
        let layer_bytes = format!("layer {round}");
        let config_bytes = format!("{{\"round\":{round}}}");
        let mut digests = Vec::new();
        for bytes in [&layer_bytes, &config_bytes] {
            let d = digest_of(Algorithm::Sha256, bytes.as_bytes());
            let r = call(
                &a,
                "POST",
                &format!("{repo}/blobs/uploads/?digest={d}"),
                &[],
                bytes.as_bytes(),
            )
            .await;
            assert_eq!(r.status, StatusCode::CREATED);
            digests.push(d);
        }
        let manifest = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": digests[1].to_string(), "size": config_bytes.len()},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": digests[0].to_string(), "size": layer_bytes.len()}],
        })
        .to_string();
        // Start both at once; which goes first varies by round.
        let gc = {
            let a = a.clone();
            tokio::spawn(async move {
                if round % 3 == 1 {
                    tokio::task::yield_now().await;
                }
                crate::gc::collect(&a, false, Duration::ZERO, day)
                    .await
                    .unwrap()
            })
        };
        let push = {
            let b = b.clone();
            let manifest = manifest.clone();
            tokio::spawn(async move {
                if round % 3 == 2 {
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
                call(
                    &b,
                    "PUT",
                    &format!("{repo}/manifests/r{round}"),
                    &media,
                    manifest.as_bytes(),
                )
                .await
            })
        };
        let (report, r) = (gc.await.unwrap(), push.await.unwrap());
        let manifest_digest = digest_of(Algorithm::Sha256, manifest.as_bytes());
        if r.status == StatusCode::CREATED {
            accepted += 1;
            for d in digests.iter().chain([&manifest_digest]) {
                assert!(
                    b.blobs.stat(d).await.unwrap().is_some(),
                    "round {round}: manifest accepted, but GC deleted {d} ({report:?})"
                );
            }
            let r = call(&a, "GET", &format!("{repo}/manifests/r{round}"), &[], b"").await;
            assert_eq!(
                (r.status, &r.body[..]),
                (StatusCode::OK, manifest.as_bytes())
            );
        } else {
            refused += 1;
            assert_eq!(r.status, StatusCode::BAD_REQUEST, "{:?}", r.body);
            assert!(
                String::from_utf8_lossy(&r.body).contains("MANIFEST_BLOB_UNKNOWN"),
                "{:?}",
                r.body
            );
        }
    }
    // Both outcomes are right; a run with only one of them still checks it.
    assert_eq!(accepted + refused, 30);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn gc_racing_pushes_on_another_server_on_fs() {
    gc_racing_pushes_on_another_server(&Place::fs()).await
}
