//! Resolve and fetch against real git repositories made in a temp dir.

use slipway_core::build::source::SourceLocation;
use slipway_source::{SourceError, fetch, resolve};
use std::path::Path;
use std::process::Command;

fn sh(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args(["-c", "user.name=t", "-c", "user.email=t@example.com"])
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// A repo with two commits on main, a tag on the first, and a branch `dev`.
fn repo() -> (tempfile::TempDir, String, String) {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    sh(p, &["init", "-q", "-b", "main"]);
    std::fs::write(p.join("f"), "one").unwrap();
    sh(p, &["add", "f"]);
    sh(p, &["commit", "-qm", "one"]);
    let first = sh(p, &["rev-parse", "HEAD"]);
    sh(p, &["tag", "-a", "v1", "-m", "v1"]);
    sh(p, &["branch", "dev"]);
    std::fs::write(p.join("f"), "two").unwrap();
    sh(p, &["commit", "-qam", "two"]);
    let second = sh(p, &["rev-parse", "HEAD"]);
    (d, first, second)
}

#[tokio::test]
async fn resolves_head_branch_and_annotated_tag() {
    let (d, first, second) = repo();
    let loc = SourceLocation::Path(d.path().display().to_string());
    assert_eq!(resolve(&loc, None).await.unwrap().commit, second);
    assert_eq!(resolve(&loc, Some("main")).await.unwrap().commit, second);
    let dev = resolve(&loc, Some("dev")).await.unwrap();
    assert_eq!(dev.commit, first);
    assert_eq!(dev.ref_name, "refs/heads/dev");
    let tag = resolve(&loc, Some("v1")).await.unwrap();
    assert_eq!(tag.commit, first, "annotated tag must peel to its commit");
    assert_eq!(tag.ref_name, "refs/tags/v1");
}

#[tokio::test]
async fn unknown_ref_and_unreachable_repo() {
    let (d, _, _) = repo();
    let loc = SourceLocation::Path(d.path().display().to_string());
    let e = resolve(&loc, Some("nope")).await.unwrap_err();
    assert!(matches!(e, SourceError::UnknownRef { .. }), "{e}");
    assert!(e.to_string().contains("\"nope\""), "{e}");

    let missing = SourceLocation::Path("/nonexistent/repo".into());
    let e = resolve(&missing, None).await.unwrap_err();
    assert!(matches!(e, SourceError::Unreachable { .. }), "{e}");
}

#[tokio::test]
async fn fetches_one_commit_shallowly() {
    let (d, first, _) = repo();
    let loc = SourceLocation::Url(format!("file://{}", d.path().display()));
    let dest = tempfile::tempdir().unwrap();
    fetch(&loc, &first, dest.path()).await.unwrap();
    assert_eq!(
        std::fs::read_to_string(dest.path().join("f")).unwrap(),
        "one"
    );
    assert_eq!(sh(dest.path(), &["rev-parse", "HEAD"]), first);
    assert_eq!(
        sh(dest.path(), &["rev-list", "--count", "HEAD"]),
        "1",
        "not shallow"
    );
}

#[tokio::test]
async fn fetch_of_unknown_commit_fails_clearly() {
    let (d, _, _) = repo();
    let loc = SourceLocation::Path(d.path().display().to_string());
    let dest = tempfile::tempdir().unwrap();
    let e = fetch(&loc, &"0".repeat(40), dest.path()).await.unwrap_err();
    assert!(matches!(e, SourceError::UnknownCommit { .. }), "{e}");
}

#[tokio::test]
async fn credentials_never_appear_in_errors() {
    let loc = SourceLocation::Url("https://user:hunter2@127.0.0.1:1/repo.git".into());
    let e = resolve(&loc, None).await.unwrap_err();
    let msg = e.to_string();
    assert!(!msg.contains("hunter2"), "{msg}");
    assert!(matches!(e, SourceError::Unreachable { .. }), "{msg}");
}

#[tokio::test]
async fn tree_ids_follow_the_content_of_a_directory() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    sh(p, &["init", "-q", "-b", "main"]);
    std::fs::create_dir(p.join("ctx")).unwrap();
    std::fs::write(p.join("ctx/Dockerfile"), "FROM scratch\n").unwrap();
    std::fs::write(p.join("README"), "one").unwrap();
    sh(p, &["add", "."]);
    sh(p, &["commit", "-qm", "one"]);
    let first = sh(p, &["rev-parse", "HEAD"]);
    std::fs::write(p.join("README"), "two").unwrap();
    sh(p, &["commit", "-qam", "readme only"]);
    let second = sh(p, &["rev-parse", "HEAD"]);
    std::fs::write(p.join("ctx/Dockerfile"), "FROM scratch\nCOPY README /\n").unwrap();
    sh(p, &["commit", "-qam", "dockerfile"]);
    let third = sh(p, &["rev-parse", "HEAD"]);
    let loc = SourceLocation::Url(format!("file://{}", p.display()));
    let mut ctx = Vec::new();
    let mut root = Vec::new();
    for commit in [&first, &second, &third] {
        let dest = tempfile::tempdir().unwrap();
        fetch(&loc, commit, dest.path()).await.unwrap();
        ctx.push(slipway_source::tree_id(dest.path(), "ctx").await.unwrap());
        root.push(slipway_source::tree_id(dest.path(), ".").await.unwrap());
        let e = slipway_source::tree_id(dest.path(), "nope")
            .await
            .unwrap_err();
        assert!(e.to_string().contains("nope"), "{e}");
    }
    assert_eq!(ctx[0], ctx[1], "a commit outside the context keeps its id");
    assert_ne!(ctx[1], ctx[2]);
    assert_ne!(root[0], root[1]);
}
