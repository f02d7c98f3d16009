//! Resolve and fetch against real git repositories made in a temp dir.

use slipway_core::build::source::SourceLocation;
use slipway_source::{SourceError, fetch, resolve};
use slipway_test_support::command_lines;

mod common;

use common::sh;

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

/// A server that accepts connections and never answers (issue 16, item 9):
/// the call ends after the connect timeout, and no git process is left.
#[tokio::test]
async fn a_hung_server_times_out_and_leaves_no_git_process() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let held = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let keep = held.clone();
    std::thread::spawn(move || {
        for c in listener.incoming().flatten() {
            keep.lock().unwrap().push(c); // accepted, never answered
        }
    });
    slipway_source::set_timeouts(slipway_source::Timeouts {
        connect: std::time::Duration::from_secs(2),
        no_progress: std::time::Duration::from_secs(2),
    });
    let marker = format!("127.0.0.1:{port}/hung-repo.git");
    let loc = SourceLocation::Url(format!("http://{marker}"));
    let started = std::time::Instant::now();
    let e = resolve(&loc, None).await.unwrap_err();
    assert!(matches!(e, SourceError::Timeout(..)), "{e}");
    assert!(e.to_string().contains("no answer within 2s"), "{e}");
    assert!(started.elapsed() < std::time::Duration::from_secs(20));
    // git and its remote helper are gone.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while command_lines().contains(&marker) {
        assert!(
            std::time::Instant::now() < deadline,
            "git outlived its timeout"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    // A dropped call (a cancelled build) kills its git too.
    slipway_source::set_timeouts(slipway_source::Timeouts::default());
    let call = tokio::spawn(async move { resolve(&loc, None).await });
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !command_lines().contains(&marker) {
        assert!(std::time::Instant::now() < deadline, "git never started");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    call.abort();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while command_lines().contains(&marker) {
        assert!(
            std::time::Instant::now() < deadline,
            "git outlived its cancel"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// A URL's password reaches the git server (through a credential helper
/// in git's environment), never a command line (issue 16, item 4).
#[tokio::test]
async fn url_credentials_reach_the_server_but_no_command_line() {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let log = seen.clone();
    std::thread::spawn(move || {
        for mut c in listener.incoming().flatten() {
            let mut buf = [0u8; 8192];
            let n = c.read(&mut buf).unwrap_or(0);
            let req = String::from_utf8_lossy(&buf[..n]).to_string();
            let authorized = req.to_ascii_lowercase().contains("authorization: basic");
            log.lock().unwrap().push(req);
            let answer = if authorized {
                "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            } else {
                "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm=\"git\"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            };
            let _ = c.write_all(answer.as_bytes());
        }
    });
    let password = "pa55-w0rd-9931";
    let loc = SourceLocation::Url(format!(
        "http://robot:{password}@127.0.0.1:{port}/private.git"
    ));
    let sampler = std::thread::spawn(move || {
        let mut leaked = false;
        for _ in 0..40 {
            leaked |= command_lines().contains(password);
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        leaked
    });
    let e = resolve(&loc, None).await.unwrap_err();
    assert!(!e.to_string().contains(password), "{e}");
    assert!(
        !sampler.join().unwrap(),
        "the password was on a command line"
    );
    // base64("robot:pa55-w0rd-9931")
    let requests = seen.lock().unwrap().join("\n---\n");
    assert!(
        requests.contains("Basic cm9ib3Q6cGE1NS13MHJkLTk5MzE="),
        "git never sent the credentials: {requests}"
    );
    // Nor is the password written to a checkout's config.
    let dest = tempfile::tempdir().unwrap();
    let _ = fetch(&loc, &"a".repeat(40), dest.path()).await;
    let config = std::fs::read_to_string(dest.path().join(".git/config")).unwrap();
    assert!(!config.contains(password), "{config}");
}
