//! The S3 backend's own cases (its chunk objects written by hand).

use super::*;
use crate::storage::BlobStore;
use crate::storage::tests::{Place, chunks};

fn s3(store: &BlobStore) -> &S3Blobs {
    match store {
        BlobStore::S3(s) => s,
        BlobStore::Fs(_) => unreachable!("an S3 place"),
    }
}

/// Chunks that do not follow each other (two clients wrote one upload
/// at once) are refused rather than stitched into a blob; chunks whose
/// session marker is gone are no upload, but GC still sees them.
#[tokio::test]
async fn gaps_and_orphans() {
    let place = Place::s3();
    let store = place.open();
    let b = s3(&store);
    let id = store.start_upload().await.unwrap();
    store.append(&id, None, chunks(&[b"abc"])).await.unwrap();
    b.store
        .put(&b.part_key(&id, 10), PutPayload::from_static(b"stray"))
        .await
        .unwrap();
    let inconsistent = |r: Result<u64, StorageError>| matches!(r, Err(StorageError::Inconsistent { why, .. }) if why.contains("starts at 10"));
    assert!(inconsistent(store.upload_size(&id).await));
    let d = crate::digest::digest_of(Algorithm::Sha256, b"abc");
    assert!(inconsistent(store.commit(&id, &d).await));
    assert_eq!(store.stat(&d).await.unwrap(), None);

    let orphan = new_id();
    b.store
        .put(&b.part_key(&orphan, 0), PutPayload::from_static(b"left"))
        .await
        .unwrap();
    assert!(matches!(
        store.upload_size(&orphan).await,
        Err(StorageError::UploadUnknown(_))
    ));
    let ids: Vec<String> = store
        .list_uploads()
        .await
        .unwrap()
        .into_iter()
        .map(|u| u.id)
        .collect();
    assert!(ids.contains(&orphan) && ids.contains(&id), "{ids:?}");
    store.discard_upload(&orphan).await;
    store.discard_upload(&id).await;
    assert_eq!(store.list_uploads().await.unwrap(), vec![]);
}
