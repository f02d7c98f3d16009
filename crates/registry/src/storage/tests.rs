//! The blob store's behaviour, run on both backends: the filesystem in a
//! temp dir, and S3 on a real S3 server (moto, see
//! `slipway_test_support::S3Server`) with a fresh bucket per test.

use super::*;
use crate::digest::digest_of;
use slipway_test_support::S3Server;

/// Where one test's blobs live; [`Place::open`] opens a store on them, as
/// another server sharing the same storage would.
pub(crate) enum Place {
    Fs(tempfile::TempDir),
    S3(Box<OnS3>),
}

pub(crate) struct OnS3 {
    server: S3Server,
    config: S3Config,
}

impl Place {
    pub(crate) fn fs() -> Place {
        Place::Fs(tempfile::tempdir().unwrap())
    }

    /// A moto server with bucket `blobs`; keys under `ci/registry`.
    pub(crate) fn s3() -> Place {
        Self::s3_with_prefix(Some("ci/registry"))
    }

    pub(crate) fn s3_with_prefix(prefix: Option<&str>) -> Place {
        let server = S3Server::start();
        server.create_bucket("blobs");
        let config = Place::s3_config(&server, "blobs", prefix);
        Place::S3(Box::new(OnS3 { server, config }))
    }

    pub(crate) fn s3_config(server: &S3Server, bucket: &str, prefix: Option<&str>) -> S3Config {
        let mut c = S3Config::new(bucket);
        c.endpoint = Some(server.endpoint());
        c.region = Some("us-east-1".into());
        c.allow_http = true;
        c.prefix = prefix.map(str::to_string);
        c.access_key_id = Some(SecretSource::File(server.access_key_id_file()));
        c.secret_access_key = Some(SecretSource::File(server.secret_access_key_file()));
        c
    }

    pub(crate) fn open(&self) -> BlobStore {
        match self {
            Place::Fs(d) => BlobStore::open(d.path()).unwrap(),
            Place::S3(s) => BlobStore::open_s3(&s.config).unwrap(),
        }
    }
}

pub(crate) fn chunks(
    parts: &[&'static [u8]],
) -> impl Stream<Item = Result<Bytes, std::io::Error>> + Unpin + Send {
    futures::stream::iter(
        parts
            .iter()
            .map(|p| Ok(Bytes::from_static(p)))
            .collect::<Vec<_>>(),
    )
}

fn owned(
    data: &[u8],
    piece: usize,
) -> impl Stream<Item = Result<Bytes, std::io::Error>> + Unpin + Send {
    futures::stream::iter(
        data.chunks(piece)
            .map(|p| Ok(Bytes::copy_from_slice(p)))
            .collect::<Vec<_>>(),
    )
}

/// Nothing committed, no upload data left.
async fn empty(s: &BlobStore) {
    assert_eq!(s.list_blobs().await.unwrap(), vec![], "blobs");
    assert_eq!(s.list_uploads().await.unwrap(), vec![], "uploads");
}

async fn chunked_upload_commits_once_verified(place: &Place) {
    let s = place.open();
    let id = s.start_upload().await.unwrap();
    assert_eq!(s.upload_size(&id).await.unwrap(), 0);
    assert_eq!(
        s.append(&id, Some(0), chunks(&[b"hello ", b"w"]))
            .await
            .unwrap(),
        7
    );
    assert_eq!(s.append(&id, Some(7), chunks(&[b"or"])).await.unwrap(), 9);
    let e = s.append(&id, Some(3), chunks(&[b"x"])).await.unwrap_err();
    assert!(
        matches!(
            e,
            StorageError::OutOfOrder {
                expected: 9,
                got: 3
            }
        ),
        "{e}"
    );
    let e = s.append(&id, Some(10), chunks(&[b"x"])).await.unwrap_err();
    assert!(
        matches!(
            e,
            StorageError::OutOfOrder {
                expected: 9,
                got: 10
            }
        ),
        "{e}"
    );
    assert_eq!(
        s.upload_size(&id).await.unwrap(),
        9,
        "refused chunks leave no trace"
    );
    assert_eq!(s.append(&id, None, chunks(&[b"ld"])).await.unwrap(), 11);
    // The final PUT's empty body adds nothing.
    assert_eq!(s.append(&id, None, chunks(&[])).await.unwrap(), 11);
    let want = digest_of(Algorithm::Sha256, b"hello world");
    assert_eq!(s.stat(&want).await.unwrap(), None, "visible before commit");
    assert_eq!(s.list_blobs().await.unwrap(), vec![]);
    assert_eq!(s.commit(&id, &want).await.unwrap(), 11);
    assert_eq!(s.stat(&want).await.unwrap(), Some(11));
    assert_eq!(s.read_all(&want).await.unwrap(), b"hello world");
    assert!(matches!(
        s.upload_size(&id).await,
        Err(StorageError::UploadUnknown(_))
    ));
    assert_eq!(
        s.list_uploads().await.unwrap(),
        vec![],
        "the chunks are gone"
    );
}

async fn mismatch_stores_nothing(place: &Place) {
    let s = place.open();
    let id = s.start_upload().await.unwrap();
    s.append(&id, None, chunks(&[b"data"])).await.unwrap();
    let wrong = digest_of(Algorithm::Sha256, b"other");
    assert!(matches!(
        s.commit(&id, &wrong).await,
        Err(StorageError::DigestMismatch { .. })
    ));
    assert_eq!(s.stat(&wrong).await.unwrap(), None);
    let right = digest_of(Algorithm::Sha256, b"data");
    assert_eq!(s.stat(&right).await.unwrap(), None);
    assert!(matches!(
        s.upload_size(&id).await,
        Err(StorageError::UploadUnknown(_))
    ));
    empty(&s).await;
}

/// Two servers on the same storage: each chunk reaches another one, and
/// the commit a third (also: a SHA-512 digest, with no running hash).
async fn chunks_through_two_servers(place: &Place) {
    let (a, b) = (place.open(), place.open());
    let id = a.start_upload().await.unwrap();
    a.append(&id, Some(0), chunks(&[b"part one,"]))
        .await
        .unwrap();
    assert_eq!(b.upload_size(&id).await.unwrap(), 9);
    b.append(&id, Some(9), chunks(&[b" part two"]))
        .await
        .unwrap();
    let e = a
        .append(&id, Some(9), chunks(&[b"again"]))
        .await
        .unwrap_err();
    assert!(
        matches!(
            e,
            StorageError::OutOfOrder {
                expected: 18,
                got: 9
            }
        ),
        "{e}"
    );
    a.append(&id, Some(18), chunks(&[b", three"]))
        .await
        .unwrap();
    let want = digest_of(Algorithm::Sha512, b"part one, part two, three");
    let c = place.open();
    assert_eq!(c.commit(&id, &want).await.unwrap(), 25);
    assert_eq!(
        b.read_all(&want).await.unwrap(),
        b"part one, part two, three"
    );
    assert!(matches!(
        a.upload_size(&id).await,
        Err(StorageError::UploadUnknown(_))
    ));
}

/// Bytes that do not repeat in any short period.
fn noise(len: usize) -> Vec<u8> {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// Past the S3 backend's in-memory sizes: chunks written as multipart
/// uploads, and a commit streamed into one.
async fn large_blob_in_parts(place: &Place) {
    let s = place.open();
    let data = noise(20 * 1024 * 1024 + 123);
    let (one, two) = data.split_at(12 * 1024 * 1024 + 7);
    let id = s.start_upload().await.unwrap();
    s.append(&id, Some(0), owned(one, 1024 * 1024))
        .await
        .unwrap();
    let n = s
        .append(&id, Some(one.len() as u64), owned(two, two.len()))
        .await
        .unwrap();
    assert_eq!(n, data.len() as u64);
    let want = digest_of(Algorithm::Sha256, &data);
    assert_eq!(s.commit(&id, &want).await.unwrap(), data.len() as u64);
    assert_eq!(s.stat(&want).await.unwrap(), Some(data.len() as u64));
    // A range across the two chunks, streamed.
    let start = one.len() as u64 - 1000;
    let got = s
        .read(&want, start, 5000)
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    assert_eq!(&got[..], &data[start as usize..start as usize + 5000]);
    assert_eq!(s.read_all(&want).await.unwrap(), data);

    // The same size with a wrong digest: the multipart commit is abandoned.
    let id = s.start_upload().await.unwrap();
    s.append(&id, None, owned(&data[..SMALL + 1], 4 * 1024 * 1024))
        .await
        .unwrap();
    let wrong = digest_of(Algorithm::Sha256, b"not it");
    assert!(matches!(
        s.commit(&id, &wrong).await,
        Err(StorageError::DigestMismatch { .. })
    ));
    assert_eq!(s.stat(&wrong).await.unwrap(), None);
    let blobs = s.list_blobs().await.unwrap();
    assert_eq!(blobs.len(), 1, "only the first blob: {blobs:?}");
    assert_eq!(s.list_uploads().await.unwrap(), vec![]);
    if let Place::S3(s3) = place {
        assert_eq!(
            s3.server.multipart_uploads("blobs"),
            0,
            "aborted multipart uploads"
        );
    }
}

const SMALL: usize = s3::SMALL_BLOB as usize;

async fn reads_ranges_and_puts_small_blobs(place: &Place) {
    let s = place.open();
    let dg = s.put(b"0123456789", Algorithm::Sha256).await.unwrap();
    assert_eq!(&s.map(&dg, 2, 5).await.unwrap()[..], b"23456");
    assert_eq!(&s.map(&dg, 0, 10).await.unwrap()[..], b"0123456789");
    assert_eq!(&s.map(&dg, 9, 1).await.unwrap()[..], b"9");
    assert!(s.map(&dg, 8, 5).await.is_err(), "past the end");
    assert!(s.map(&dg, 10, 1).await.is_err(), "past the end");
    assert_eq!(
        s.put(b"0123456789", Algorithm::Sha256).await.unwrap(),
        dg,
        "idempotent"
    );
    let other = digest_of(Algorithm::Sha256, b"absent");
    assert_eq!(s.stat(&other).await.unwrap(), None);
    assert!(s.read_all(&other).await.is_err());
    assert!(s.delete_blob(&dg).await.unwrap());
    assert!(!s.delete_blob(&dg).await.unwrap());
    assert_eq!(s.stat(&dg).await.unwrap(), None);
}

async fn empty_blob(place: &Place) {
    let s = place.open();
    let id = s.start_upload().await.unwrap();
    let want = digest_of(Algorithm::Sha256, b"");
    assert_eq!(s.commit(&id, &want).await.unwrap(), 0);
    assert_eq!(s.stat(&want).await.unwrap(), Some(0));
    assert!(s.read_all(&want).await.unwrap().is_empty());
}

async fn broken_stream_keeps_what_was_written(place: &Place) {
    let s = place.open();
    let id = s.start_upload().await.unwrap();
    let body = futures::stream::iter(vec![
        Ok(Bytes::from_static(b"abc")),
        Err("connection reset"),
    ]);
    assert!(matches!(
        s.append(&id, None, body).await,
        Err(StorageError::Stream(_))
    ));
    assert_eq!(s.upload_size(&id).await.unwrap(), 3);
    // The interrupted upload is never visible as a blob.
    assert_eq!(s.list_blobs().await.unwrap(), vec![]);
    s.append(&id, Some(3), chunks(&[b"def"])).await.unwrap();
    s.commit(&id, &digest_of(Algorithm::Sha256, b"abcdef"))
        .await
        .unwrap();
}

async fn unknown_uploads(place: &Place) {
    let s = place.open();
    let id = "0123456789abcdef0123456789abcdef";
    let unknown = |r: Result<u64, StorageError>| matches!(r, Err(StorageError::UploadUnknown(_)));
    assert!(unknown(s.upload_size(id).await));
    assert!(unknown(s.append(id, None, chunks(&[b"x"])).await));
    let d = digest_of(Algorithm::Sha256, b"x");
    assert!(unknown(s.commit(id, &d).await));
    s.discard_upload(id).await;
    empty(&s).await;
}

/// What garbage collection sees: every blob with its size and age, every
/// upload with data.
async fn lists_for_gc(place: &Place) {
    let s = place.open();
    let before = std::time::SystemTime::now() - std::time::Duration::from_secs(120);
    let a = s.put(b"first", Algorithm::Sha256).await.unwrap();
    let b = s.put(b"second blob", Algorithm::Sha512).await.unwrap();
    let id = s.start_upload().await.unwrap();
    s.append(&id, None, chunks(&[b"pending"])).await.unwrap();
    let mut blobs = s.list_blobs().await.unwrap();
    blobs.sort_by_key(|b| b.size);
    assert_eq!(
        blobs
            .iter()
            .map(|b| (&b.digest, b.size))
            .collect::<Vec<_>>(),
        vec![(&a, 5), (&b, 11)]
    );
    assert!(blobs.iter().all(|b| b.modified > before), "{blobs:?}");
    let uploads = s.list_uploads().await.unwrap();
    assert_eq!(uploads.len(), 1, "{uploads:?}");
    assert_eq!(uploads[0].id, id);
    assert!(uploads[0].modified > before);
    s.discard_upload(&id).await;
    assert!(s.delete_blob(&a).await.unwrap());
    let left: Vec<Digest> = s
        .list_blobs()
        .await
        .unwrap()
        .into_iter()
        .map(|b| b.digest)
        .collect();
    assert_eq!(left, vec![b]);
    assert_eq!(s.list_uploads().await.unwrap(), vec![]);
}

async fn local_files_for_the_scanner(place: &Place) {
    let s = place.open();
    let scratch = tempfile::tempdir().unwrap();
    let d = s.put(b"layer bytes", Algorithm::Sha256).await.unwrap();
    let path = s.local_file(&d, scratch.path()).await.unwrap().unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), b"layer bytes");
    let absent = digest_of(Algorithm::Sha256, b"absent");
    assert_eq!(s.local_file(&absent, scratch.path()).await.unwrap(), None);
}

macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod on_fs {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name(&super::Place::fs()).await
                }
            )*
        }
        mod on_s3 {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name(&super::Place::s3()).await
                }
            )*
        }
    };
}

on_both_backends!(
    chunked_upload_commits_once_verified,
    mismatch_stores_nothing,
    chunks_through_two_servers,
    large_blob_in_parts,
    reads_ranges_and_puts_small_blobs,
    empty_blob,
    broken_stream_keeps_what_was_written,
    unknown_uploads,
    lists_for_gc,
    local_files_for_the_scanner,
);

/// Two prefixes in one bucket are two stores; without a prefix keys start
/// at the bucket's root.
#[tokio::test]
async fn s3_prefixes_keep_stores_apart() {
    let place = Place::s3_with_prefix(None);
    let Place::S3(s3) = &place else {
        unreachable!()
    };
    let root_config = &s3.config;
    let root = place.open();
    let mut other = root_config.clone();
    other.prefix = Some("team-b".into());
    let b = BlobStore::open_s3(&other).unwrap();
    let d = b.put(b"only in team-b", Algorithm::Sha256).await.unwrap();
    assert_eq!(b.stat(&d).await.unwrap(), Some(14));
    assert_eq!(root.stat(&d).await.unwrap(), None);
    assert!(b.describe().contains("blobs/team-b"), "{}", b.describe());
    // Listing the root store does not take the prefix's keys for blobs.
    assert_eq!(root.list_blobs().await.unwrap(), vec![]);
}

#[tokio::test]
async fn s3_check_finds_a_missing_bucket() {
    let place = Place::s3();
    let Place::S3(s3) = &place else {
        unreachable!()
    };
    let (server, config) = (&s3.server, &s3.config);
    place.open().check().await.unwrap();
    let missing = BlobStore::open_s3(&Place::s3_config(server, "no-such-bucket", None)).unwrap();
    assert!(missing.check().await.is_err());
    let mut bad = config.clone();
    bad.access_key_id = Some(SecretSource::Env("SLIPWAY_TEST_UNSET_VARIABLE".into()));
    assert!(matches!(
        BlobStore::open_s3(&bad),
        Err(StorageError::Config(m)) if m.contains("SLIPWAY_TEST_UNSET_VARIABLE")
    ));
    let mut http = config.clone();
    http.allow_http = false;
    let refused = BlobStore::open_s3(&http).unwrap();
    assert!(
        refused.check().await.is_err(),
        "plain HTTP without allow_http"
    );
}
