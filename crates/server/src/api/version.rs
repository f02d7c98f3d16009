//! `GET /api/v1/version`: what this server is (its version and commit)
//! and what it builds with (buildah's and skopeo's versions, the features
//! it was configured with).

use crate::Services;
use axum::Json;
use axum::extract::State;
use std::sync::Arc;

/// What the answer says of the tools, read once (on the first request,
/// not at start-up): buildah's and skopeo's as the Koji metadata records
/// them, git's and ShellCheck's.
async fn tools() -> &'static serde_json::Value {
    static TOOLS: tokio::sync::OnceCell<serde_json::Value> = tokio::sync::OnceCell::const_new();
    TOOLS
        .get_or_init(|| async {
            let root = crate::steps::metadata::buildroot().await;
            let (git, shellcheck) = tokio::join!(
                crate::steps::metadata::tool_version("git"),
                crate::steps::metadata::tool_version("shellcheck"),
            );
            let mut tools = serde_json::Map::new();
            for t in &root.tools {
                // "unknown": the tool did not answer.
                let v = Some(t.version.clone()).filter(|v| v != "unknown");
                tools.insert(t.name.clone(), v.into());
            }
            tools.insert("git".into(), git.into());
            tools.insert("shellcheck".into(), shellcheck.into());
            tools.into()
        })
        .await
}

pub(super) async fn get(State(s): State<Arc<Services>>) -> Json<serde_json::Value> {
    Json(serde_json::json!({
        "version": env!("CARGO_PKG_VERSION"),
        "commit": s.commit,
        "api": "v1",
        "tools": tools().await,
        "features": features(&s),
    }))
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
