//! Wire types of the HTTP API shared by the server and the CLI.

use serde::{Deserialize, Serialize};

/// Every API error body: a stable machine-readable `code` and a message for people.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub code: String,
    pub message: String,
}

/// The stable error codes of the API.
pub mod codes {
    pub const UNAUTHORIZED: &str = "UNAUTHORIZED";
    pub const FORBIDDEN: &str = "FORBIDDEN";
    pub const INVALID_REQUEST: &str = "INVALID_REQUEST";
    pub const NOT_FOUND: &str = "NOT_FOUND";
    pub const CONFLICT: &str = "CONFLICT";
    pub const INTERNAL: &str = "INTERNAL";
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
