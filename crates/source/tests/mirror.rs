//! Mirrors against real git repositories made in a temp dir: one fetch per
//! commit, the same tree ids as a checkout, checkouts without `.git`, the
//! few files preparation reads, and no secret in any mirror file.

use slipway_core::build::source::SourceLocation;
use slipway_source::{Mirrors, SourceError, fetch, tree_id};
use std::path::Path;

mod common;

use common::sh;

/// A repository with a context directory, an executable, a symlinked
/// directory and a commit that changes only the README.
fn repo() -> (tempfile::TempDir, String, String) {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    sh(p, &["init", "-q", "-b", "main"]);
    std::fs::create_dir_all(p.join("ctx/sub")).unwrap();
    std::fs::write(p.join("ctx/Dockerfile"), "FROM scratch\n").unwrap();
    std::fs::write(p.join("ctx/slipway.yaml"), "tags: [x]\n").unwrap();
    std::fs::write(p.join("ctx/sub/run.sh"), "#!/bin/sh\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(
        p.join("ctx/sub/run.sh"),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    std::fs::write(p.join("README"), "one").unwrap();
    std::os::unix::fs::symlink("ctx", p.join("alias")).unwrap();
    sh(p, &["add", "."]);
    sh(p, &["commit", "-qm", "one"]);
    let first = sh(p, &["rev-parse", "HEAD"]);
    std::fs::write(p.join("README"), "two").unwrap();
    sh(p, &["commit", "-qam", "readme only"]);
    let second = sh(p, &["rev-parse", "HEAD"]);
    (d, first, second)
}

fn url(d: &Path) -> SourceLocation {
    SourceLocation::Url(format!("file://{}", d.display()))
}

/// The sizes of a mirror's packs (one per fetch).
fn pack_sizes(mirror: &Path) -> Vec<u64> {
    std::fs::read_dir(mirror.join("objects/pack"))
        .unwrap()
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "pack"))
        .map(|e| e.metadata().unwrap().len())
        .collect()
}

fn files_under(dir: &Path) -> Vec<String> {
    let mut all = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let path = e.path();
            let rel = path.strip_prefix(dir).unwrap().display().to_string();
            if e.file_type().unwrap().is_dir() {
                stack.push(path);
            }
            all.push(rel);
        }
    }
    all.sort();
    all
}

#[tokio::test]
async fn one_fetch_per_commit_and_the_same_tree_ids_as_a_checkout() {
    let (d, first, second) = repo();
    let root = tempfile::tempdir().unwrap();
    let mirrors = Mirrors::new(root.path().join("git"));
    let m = mirrors.open(&url(d.path()), "p").await.unwrap();
    m.ensure_commit(&first).await.unwrap();
    m.ensure_commit(&second).await.unwrap();
    // Fetched once each: a second ensure is answered locally, even with
    // the origin gone.
    let moved = d.path().with_extension("moved");
    std::fs::rename(d.path(), &moved).unwrap();
    m.ensure_commit(&first).await.unwrap();
    let e = m.ensure_commit(&"0".repeat(40)).await.unwrap_err();
    assert!(!matches!(e, SourceError::Spawn(_)), "{e}");
    std::fs::rename(&moved, d.path()).unwrap();
    let e = m.ensure_commit(&"0".repeat(40)).await.unwrap_err();
    assert!(matches!(e, SourceError::UnknownCommit { .. }), "{e}");
    let e = m.ensure_commit("--upload-pack=x").await.unwrap_err();
    assert!(matches!(e, SourceError::UnknownCommit { .. }), "{e}");

    // Tree ids: the strings a checkout's tree_id gives, so input keys do
    // not change when builds read the mirror.
    let checkout = tempfile::tempdir().unwrap();
    fetch(&url(d.path()), &first, checkout.path())
        .await
        .unwrap();
    for path in [".", "ctx", "ctx/sub"] {
        assert_eq!(
            m.tree_id(&first, path).await.unwrap(),
            tree_id(checkout.path(), path).await.unwrap(),
            "{path}"
        );
    }
    assert_eq!(
        m.tree_id(&first, "ctx").await.unwrap(),
        m.tree_id(&second, "ctx").await.unwrap(),
        "a README change leaves the context's tree alone"
    );
    assert_ne!(
        m.tree_id(&first, ".").await.unwrap(),
        m.tree_id(&second, ".").await.unwrap()
    );
    assert!(m.tree_id(&first, "nope").await.is_err());

    // A full checkout: the tree, modes and symlinks, no .git.
    let dest = tempfile::tempdir().unwrap();
    let src = dest.path().join("src");
    assert!(m.checkout(&first, &src).await.unwrap());
    assert_eq!(
        files_under(&src),
        [
            "README",
            "alias",
            "ctx",
            "ctx/Dockerfile",
            "ctx/slipway.yaml",
            "ctx/sub",
            "ctx/sub/run.sh"
        ]
    );
    assert_eq!(std::fs::read_to_string(src.join("README")).unwrap(), "one");
    assert_eq!(
        std::fs::read_link(src.join("alias")).unwrap(),
        Path::new("ctx")
    );
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(src.join("ctx/sub/run.sh"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o111, 0o111, "executable bit kept");
    assert!(!dest.path().join("src.index").exists(), "index left behind");
}

#[tokio::test]
async fn only_the_files_asked_for_unless_a_symlink_is_on_the_way() {
    let (d, first, _) = repo();
    let root = tempfile::tempdir().unwrap();
    let mirrors = Mirrors::new(root.path().join("git"));
    let m = mirrors.open(&url(d.path()), "p").await.unwrap();
    m.ensure_commit(&first).await.unwrap();
    let dest = tempfile::tempdir().unwrap();
    let wanted: Vec<String> = [
        "ctx/Dockerfile",
        "ctx/slipway.yaml",
        "ctx/.hadolint.yaml",
        ".hadolint.yaml",
        "ctx/sub/run.sh",
        "README/x",
    ]
    .map(String::from)
    .to_vec();
    assert!(
        m.checkout_files(&first, dest.path(), &wanted)
            .await
            .unwrap()
    );
    assert_eq!(
        files_under(dest.path()),
        [
            "ctx",
            "ctx/Dockerfile",
            "ctx/slipway.yaml",
            "ctx/sub",
            "ctx/sub/run.sh"
        ]
    );
    assert_eq!(
        std::fs::read_to_string(dest.path().join("ctx/Dockerfile")).unwrap(),
        "FROM scratch\n"
    );
    // Through the symlinked directory, or out of the tree: a checkout's
    // business.
    for odd in ["alias/Dockerfile", "ctx/../README", "/etc/passwd"] {
        let other = tempfile::tempdir().unwrap();
        assert!(
            !m.checkout_files(&first, other.path(), &[odd.to_string()])
                .await
                .unwrap(),
            "{odd}"
        );
    }
}

#[tokio::test]
async fn mirrors_are_kept_apart_by_scope_and_credentials_and_hold_no_secret() {
    let (d, first, _) = repo();
    let root = tempfile::tempdir().unwrap();
    let mirrors = Mirrors::new(root.path().join("git"));
    let plain = url(d.path());
    let a = mirrors.open(&plain, "team-a").await.unwrap();
    let b = mirrors.open(&plain, "team-b").await.unwrap();
    assert_ne!(a.path(), b.path());
    assert_eq!(
        a.path(),
        mirrors.open(&plain, "team-a").await.unwrap().path()
    );
    let password = "s3cret-pa55-8812";
    let with = |p: &str| SourceLocation::Url(format!("http://robot:{p}@127.0.0.1:9/private.git"));
    let c1 = mirrors.open(&with(password), "team-a").await.unwrap();
    let c2 = mirrors.open(&with("other"), "team-a").await.unwrap();
    assert_ne!(c1.path(), c2.path(), "other credentials, another mirror");
    a.ensure_commit(&first).await.unwrap();
    let e = c1.ensure_commit(&first).await.unwrap_err();
    assert!(!e.to_string().contains(password), "{e}");
    // No file under the mirrors holds the password, and only the owner
    // may read them.
    let git = root.path().join("git");
    for rel in files_under(&git) {
        let p = git.join(&rel);
        if p.is_file() {
            let bytes = std::fs::read(&p).unwrap();
            assert!(
                !String::from_utf8_lossy(&bytes).contains(password),
                "{rel} holds the password"
            );
        }
    }
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(root.path().join("git"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o077, 0, "{mode:o}");
    let described = std::fs::read_to_string(c1.path().join("description")).unwrap();
    assert!(described.contains("127.0.0.1:9/private.git"), "{described}");
}

#[tokio::test]
async fn builds_of_one_commit_at_once_fetch_it_once() {
    let (d, first, _) = repo();
    let root = tempfile::tempdir().unwrap();
    let mirrors = Mirrors::new(root.path().join("git"));
    let m = mirrors.open(&url(d.path()), "p").await.unwrap();
    let runs: Vec<_> = (0..6)
        .map(|_| {
            let m = m.clone();
            let c = first.clone();
            tokio::spawn(async move { m.ensure_commit(&c).await })
        })
        .collect();
    for r in runs {
        r.await.unwrap().unwrap();
    }
    // One fetch: one pack.
    assert_eq!(pack_sizes(m.path()).len(), 1);
}

#[tokio::test]
async fn a_new_commit_brings_only_what_changed() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    sh(p, &["init", "-q", "-b", "main"]);
    let big: Vec<u8> = (0..1_000_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(p.join("big"), &big).unwrap();
    std::fs::write(p.join("small"), "1").unwrap();
    sh(p, &["add", "."]);
    sh(p, &["commit", "-qm", "one"]);
    let first = sh(p, &["rev-parse", "HEAD"]);
    std::fs::write(p.join("small"), "2").unwrap();
    sh(p, &["commit", "-qam", "two"]);
    let second = sh(p, &["rev-parse", "HEAD"]);
    let root = tempfile::tempdir().unwrap();
    let mirrors = Mirrors::new(root.path().join("git"));
    let m = mirrors.open(&url(p), "p").await.unwrap();
    m.ensure_commit(&first).await.unwrap();
    m.ensure_commit(&second).await.unwrap();
    // And back to the first: still there.
    m.ensure_commit(&first).await.unwrap();
    let sizes = pack_sizes(m.path());
    assert_eq!(sizes.len(), 2, "{sizes:?}");
    assert!(
        sizes.iter().min().unwrap() < &10_000,
        "the second commit's fetch sent the big file again: {sizes:?}"
    );
}

#[tokio::test]
async fn mirrors_unused_for_long_are_pruned_and_made_again_when_needed() {
    let (d, first, _) = repo();
    let root = tempfile::tempdir().unwrap();
    let mirrors = Mirrors::new(root.path().join("git"));
    let m = mirrors.open(&url(d.path()), "p").await.unwrap();
    m.ensure_commit(&first).await.unwrap();
    let other = mirrors.open(&url(d.path()), "q").await.unwrap();
    assert!(
        mirrors
            .prune_unused(std::time::Duration::from_secs(3600))
            .await
            .is_empty(),
        "just used"
    );
    // Last used two days ago.
    let old = std::time::SystemTime::now() - std::time::Duration::from_secs(2 * 86_400);
    std::fs::File::options()
        .write(true)
        .open(m.path().join("slipway-used"))
        .unwrap()
        .set_modified(old)
        .unwrap();
    let removed = mirrors
        .prune_unused(std::time::Duration::from_secs(86_400))
        .await;
    assert_eq!(removed, [m.path().to_path_buf()]);
    assert!(other.path().exists(), "the other mirror stays");
    // The next build makes it again.
    let again = mirrors.open(&url(d.path()), "p").await.unwrap();
    assert_eq!(again.path(), m.path());
    again.ensure_commit(&first).await.unwrap();
    assert!(again.tree_id(&first, "ctx").await.is_ok());
}
