//! A wave as it is stored: its state and its members' records.

use super::MemberState;
use crate::build::BuildId;
use crate::rebuild::trigger::Trigger;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

/// Where a wave stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum WaveState {
    /// Collecting triggers until its debounce window closes.
    Gathering,
    /// Its members are being built in order.
    Running,
    /// Every member finished.
    Done,
}

impl WaveState {
    pub fn as_str(self) -> &'static str {
        match self {
            WaveState::Gathering => "Gathering",
            WaveState::Running => "Running",
            WaveState::Done => "Done",
        }
    }

    pub fn parse(s: &str) -> Option<WaveState> {
        [WaveState::Gathering, WaveState::Running, WaveState::Done]
            .into_iter()
            .find(|w| w.as_str() == s)
    }
}

/// A wave as stored and shown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Wave {
    pub id: i64,
    pub state: WaveState,
    #[serde(with = "crate::api::time::seconds")]
    pub created_at: Timestamp,
    /// Triggers arriving before this time join the wave.
    #[serde(with = "crate::api::time::seconds")]
    pub gather_until: Timestamp,
    #[serde(default, with = "crate::api::time::seconds_opt")]
    pub started_at: Option<Timestamp>,
    #[serde(default, with = "crate::api::time::seconds_opt")]
    pub finished_at: Option<Timestamp>,
    /// Parents before children once the wave runs.
    pub members: Vec<WaveMemberRecord>,
}

/// One config of a wave as stored and shown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WaveMemberRecord {
    pub config: String,
    /// Triggered directly, not only through a parent.
    pub root: bool,
    /// The (newest) trigger of a root.
    pub trigger: Option<Trigger>,
    /// Build even if up to date.
    pub force: bool,
    #[serde(flatten)]
    pub state: MemberState,
    pub build: Option<BuildId>,
    /// The config's image digest before the wave (to tell whether the build
    /// changed it).
    pub previous_digest: Option<String>,
    /// Why it was skipped or blocked.
    pub reason: Option<String>,
}
