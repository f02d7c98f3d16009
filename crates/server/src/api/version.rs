//! `GET /api/v1/version`: what this server is (its version and commit)
//! and what it builds with (buildah's and skopeo's versions, the features
//! it was configured with), made once at start-up.

use crate::Services;
use axum::Json;
use axum::extract::State;
use std::sync::Arc;
use std::time::Duration;

/// The first line a tool prints for `--version` (`buildah version 1.28.2
/// (image-spec …)` → `1.28.2`), or `None` when it does not run.
async fn tool_version(name: &str) -> Option<String> {
    let out = tokio::time::timeout(
        Duration::from_secs(10),
        tokio::process::Command::new(name)
            .arg("--version")
            .kill_on_drop(true)
            .output(),
    )
    .await
    .ok()?
    .ok()
    .filter(|o| o.status.success())?;
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().next()?;
    Some(
        line.split_whitespace()
            .skip_while(|w| *w != "version")
            .nth(1)
            .unwrap_or(line)
            .to_string(),
    )
}

/// The answer, made once.
pub(crate) async fn describe(commit: Option<&str>) -> serde_json::Value {
    let (buildah, skopeo, git, shellcheck) = tokio::join!(
        tool_version("buildah"),
        tool_version("skopeo"),
        tool_version("git"),
        tool_version("shellcheck"),
    );
    serde_json::json!({
        "version": env!("CARGO_PKG_VERSION"),
        "commit": commit,
        "api": "v1",
        "tools": {
            "buildah": buildah,
            "skopeo": skopeo,
            "git": git,
            "shellcheck": shellcheck,
        },
    })
}

pub(super) async fn get(State(s): State<Arc<Services>>) -> Json<serde_json::Value> {
    let mut v = s.version.clone();
    v["features"] = features(&s).into();
    Json(v)
}

/// The features this server runs with, by name.
fn features(s: &Services) -> Vec<&'static str> {
    let mut f = vec!["embedded-registry", "scanning", "sbom", "metrics"];
    if s.koji.is_some() {
        f.push("koji");
    }
    if !s.kube.read().map(|k| k.is_empty()).unwrap_or(true) {
        f.push("kubernetes");
    }
    if s.notifier.smtp.is_some() {
        f.push("mail");
    }
    if !s.environments.is_empty() {
        f.push("promotion");
    }
    f
}
