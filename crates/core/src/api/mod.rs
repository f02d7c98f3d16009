//! Wire types of the HTTP API shared by the server and the CLI.

use serde::{Deserialize, Serialize};

/// Every API error body: a stable machine-readable `code` and a message for people.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub code: String,
    pub message: String,
}

/// `GET /api/v1/signing-key`: the key images and provenance are signed with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SigningKeyInfo {
    /// SHA-256 of the key's DER SubjectPublicKeyInfo, hex (the DSSE keyid).
    pub key_id: String,
    pub algorithm: String,
    /// `-----BEGIN PUBLIC KEY-----` PEM.
    pub public_key: String,
}

impl SigningKeyInfo {
    pub const ALGORITHM: &'static str = "ecdsa-p256-sha256";
}

/// The stable error codes of the API.
pub mod codes {
    pub const UNAUTHORIZED: &str = "UNAUTHORIZED";
    pub const FORBIDDEN: &str = "FORBIDDEN";
    pub const INVALID_REQUEST: &str = "INVALID_REQUEST";
    pub const NOT_FOUND: &str = "NOT_FOUND";
    pub const CONFLICT: &str = "CONFLICT";
    /// The build was deleted by its config's history limits (410).
    pub const PRUNED: &str = "PRUNED";
    pub const INTERNAL: &str = "INTERNAL";
    pub const METHOD_NOT_ALLOWED: &str = "METHOD_NOT_ALLOWED";
    /// The request body is larger than `limits.request_bytes` (413).
    pub const PAYLOAD_TOO_LARGE: &str = "PAYLOAD_TOO_LARGE";
    /// The request body's Content-Type is not one the endpoint takes (415).
    pub const UNSUPPORTED_MEDIA_TYPE: &str = "UNSUPPORTED_MEDIA_TYPE";
    pub const TOO_MANY_REQUESTS: &str = "TOO_MANY_REQUESTS";
    /// The server's disk is full (507).
    pub const INSUFFICIENT_STORAGE: &str = "INSUFFICIENT_STORAGE";
    /// Not ready to take work (`/readyz`, 503).
    pub const NOT_READY: &str = "NOT_READY";
    /// A registry or service the server talks to on the caller's behalf
    /// failed or could not be reached (502).
    pub const UPSTREAM_FAILED: &str = "UPSTREAM_FAILED";

    /// The stable code of an error answer with `status` that carries none of
    /// its own (framework rejections: a body too large, a path that is not
    /// UTF-8).
    pub fn for_status(status: u16) -> &'static str {
        match status {
            401 => UNAUTHORIZED,
            403 => FORBIDDEN,
            404 => NOT_FOUND,
            405 => METHOD_NOT_ALLOWED,
            409 => CONFLICT,
            410 => PRUNED,
            413 => PAYLOAD_TOO_LARGE,
            415 => UNSUPPORTED_MEDIA_TYPE,
            429 => TOO_MANY_REQUESTS,
            507 => INSUFFICIENT_STORAGE,
            503 => NOT_READY,
            502 => UPSTREAM_FAILED,
            s if s >= 500 => INTERNAL,
            _ => INVALID_REQUEST,
        }
    }
}

/// One build in a list (`GET /builds`): enough to recognise it and see how
/// it went; `GET /builds/{id}` has the rest (spec, events, stages, lint).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BuildSummary {
    pub id: i64,
    pub phase: crate::BuildPhase,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<String>,
    /// The project it belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
    /// What started it (`manual`, `webhook`, `poll`, …).
    pub trigger: String,
    /// The source, with any password in its URL hidden.
    pub source: String,
    /// The output repository (and tag, when one was asked for).
    pub output: String,
    /// The image, by digest, once the build completed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// Why it ended the way it did (for endings other than Complete).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(with = "crate::api::time::seconds")]
    pub created_at: jiff::Timestamp,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "crate::api::time::seconds_opt"
    )]
    pub started_at: Option<jiff::Timestamp>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "crate::api::time::seconds_opt"
    )]
    pub finished_at: Option<jiff::Timestamp>,
}

impl BuildSummary {
    pub fn of(b: &crate::Build) -> BuildSummary {
        BuildSummary {
            id: b.id,
            phase: b.phase,
            config: b.spec.config.clone(),
            project: Some(b.spec.project_name().to_string()),
            trigger: b.spec.trigger.kind().to_string(),
            source: b.spec.source.location.redacted(),
            output: b.spec.output.to_string(),
            image: b.image.as_ref().map(|i| i.reference.clone()),
            reason: b.reason.clone(),
            created_at: b.created_at,
            started_at: b.started_at,
            finished_at: b.finished_at,
        }
    }
}

/// Which builds a list shows: newest first, at most `limit`, older than
/// the `before` cursor, of one config.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BuildQuery {
    pub limit: u32,
    pub before: Option<i64>,
    pub config: Option<String>,
    /// Only builds of these projects (`None`: every project).
    pub projects: Option<Vec<String>>,
    /// Only builds in this phase.
    pub phase: Option<crate::BuildPhase>,
    /// Only builds started by this kind of trigger (`manual`, `webhook`, …).
    pub trigger: Option<String>,
}

/// The answer to a cancel request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CancelResponse {
    pub id: i64,
    pub phase: crate::BuildPhase,
    /// Whether the build was already final before the request.
    pub already_final: bool,
}

/// One cluster as `slipway clusters` shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClusterStatus {
    pub name: String,
    pub platform: String,
    pub backend: String,
    pub active: u32,
    pub max_concurrent_builds: u32,
    /// active / max, for display; placement compares exact fractions.
    pub load: f64,
    /// Whether it takes new builds (the file's `enabled`, unless switched
    /// at runtime).
    pub enabled: bool,
    pub enabled_in_file: bool,
    pub reachable: bool,
}

/// What a worker build reports when it ends (`POST /worker-builds/{id}/finish`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkerResult {
    /// Complete, Failed, Error or Cancelled.
    pub phase: crate::BuildPhase,
    #[serde(default)]
    pub reason: Option<String>,
    #[serde(default)]
    pub image: Option<crate::PushedImage>,
}

/// What a worker learns about its worker build (`GET /worker-builds/{id}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkerState {
    pub phase: crate::BuildPhase,
    /// The build was cancelled or has ended: stop.
    pub stop: bool,
    /// The commit the build resolved to, once one platform resolved it.
    pub commit: Option<String>,
}

/// `POST /api/v1/configs/apply`: create or update these configs; with
/// `prune`, delete every config not listed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApplyRequest {
    pub configs: Vec<crate::rebuild::image_config::ImageConfig>,
    #[serde(default)]
    pub prune: bool,
}

/// What an apply changed, by config name.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApplyResponse {
    pub created: Vec<String>,
    pub updated: Vec<String>,
    pub unchanged: Vec<String>,
    pub deleted: Vec<String>,
}

/// One config as `slipway configs` shows it (webhook secret hidden).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigStatus {
    pub config: crate::rebuild::image_config::ImageConfig,
    /// Parent configs (from FROM lines and depends_on).
    pub parents: Vec<String>,
    pub children: Vec<String>,
    /// The Dockerfile's FROM images, as last read.
    pub base_images: Vec<String>,
    /// The newest build of the config.
    pub last_build: Option<crate::BuildId>,
    pub last_phase: Option<crate::BuildPhase>,
    /// Where the config's webhook is delivered (`/api/v1/webhooks/NAME/PROVIDER`).
    pub webhook_path: Option<String>,
    /// The branch head polling saw last, and when it looks again.
    #[serde(default)]
    pub poll_head: Option<String>,
    #[serde(default, with = "crate::api::time::seconds_opt")]
    pub next_poll_at: Option<jiff::Timestamp>,
    /// When the cron schedule fires next.
    #[serde(default, with = "crate::api::time::seconds_opt")]
    pub next_schedule_at: Option<jiff::Timestamp>,
    /// Recent events (newest last): skipped triggers, applies.
    pub events: Vec<ConfigEvent>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigEvent {
    #[serde(with = "crate::api::time::seconds")]
    pub at: jiff::Timestamp,
    pub message: String,
    pub build: Option<crate::BuildId>,
}

/// `POST /api/v1/configs/{name}/start`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StartRequest {
    /// Build even if the inputs equal the last successful build's.
    #[serde(default)]
    pub force: bool,
}

/// Which wave a trigger joined.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TriggerResponse {
    pub config: String,
    pub wave: i64,
    pub trigger: crate::rebuild::trigger::Trigger,
}

/// The answer to a webhook delivery.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookResponse {
    /// `triggered` or `ignored`.
    pub outcome: String,
    pub message: String,
    pub wave: Option<i64>,
}

/// The parent→child graph (`GET /api/v1/graph`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GraphView {
    /// Parents before children.
    pub nodes: Vec<GraphNode>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GraphNode {
    pub name: String,
    pub output: String,
    pub parents: Vec<String>,
    /// 1 for a config with no parent config.
    pub level: usize,
}

impl GraphView {
    /// Graphviz `dot` text: one node per config, an edge parent → child.
    pub fn to_dot(&self) -> String {
        let q = |s: &str| format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""));
        let mut out = String::from("digraph slipway {\n  rankdir=LR;\n  node [shape=box];\n");
        for n in &self.nodes {
            out.push_str(&format!(
                "  {} [label={}];\n",
                q(&n.name),
                q(&format!("{}\n{}", n.name, n.output))
            ));
        }
        for n in &self.nodes {
            for p in &n.parents {
                out.push_str(&format!("  {} -> {};\n", q(p), q(&n.name)));
            }
        }
        out.push_str("}\n");
        out
    }
}

pub mod access;
mod graph_svg;
pub mod images;
pub mod time;
