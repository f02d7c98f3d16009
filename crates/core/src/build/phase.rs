//! The build lifecycle.
//!
//! ```text
//! New ──► Pending ──► Running ──► Complete | Failed | Error
//!  │         │  ▲        │
//!  │         │  └────────┘ (re-queued once after a server restart)
//!  ├─────────┴────────────┴──► Cancelled
//!  ├──► Failed | Error (preparation refused the build)
//!  └──► Skipped (its inputs equal the last successful build's)
//! ```
//!
//! A New build is being prepared: source fetched, `slipway.yaml` read,
//! Dockerfile linted, labels checked, a release reserved. Only then is it
//! queued (Pending) with one worker build per platform.
//!
//! `Failed` means the build itself failed (bad Dockerfile, failing RUN, push
//! refused); `Error` means Slipway could not run it (for example it was
//! interrupted twice by a server restart).

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum BuildPhase {
    New,
    Pending,
    Running,
    Complete,
    Failed,
    Error,
    Cancelled,
    /// Not built: the inputs (commit, context, parent digests, build args,
    /// platforms, builder) equal those of the config's last successful
    /// build, so the image would be the same.
    Skipped,
}

impl BuildPhase {
    pub const ALL: [BuildPhase; 8] = [
        BuildPhase::New,
        BuildPhase::Pending,
        BuildPhase::Running,
        BuildPhase::Complete,
        BuildPhase::Failed,
        BuildPhase::Error,
        BuildPhase::Cancelled,
        BuildPhase::Skipped,
    ];

    /// A final phase never changes again.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            BuildPhase::Complete
                | BuildPhase::Failed
                | BuildPhase::Error
                | BuildPhase::Cancelled
                | BuildPhase::Skipped
        )
    }

    /// Whether the lifecycle allows moving from `self` to `next`.
    pub fn can_transition_to(self, next: BuildPhase) -> bool {
        use BuildPhase::*;
        match (self, next) {
            (New, Pending) | (New, Cancelled) | (New, Failed) | (New, Error) | (New, Skipped) => {
                true
            }
            (Pending, Running) | (Pending, Cancelled) | (Pending, Error) => true,
            // Running → Pending only happens when a restart re-queues the build.
            (Running, Complete | Failed | Error | Cancelled | Pending) => true,
            _ => false,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            BuildPhase::New => "New",
            BuildPhase::Pending => "Pending",
            BuildPhase::Running => "Running",
            BuildPhase::Complete => "Complete",
            BuildPhase::Failed => "Failed",
            BuildPhase::Error => "Error",
            BuildPhase::Cancelled => "Cancelled",
            BuildPhase::Skipped => "Skipped",
        }
    }
}

impl fmt::Display for BuildPhase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, thiserror::Error)]
#[error("unknown build phase {0:?}")]
pub struct UnknownPhase(pub String);

impl FromStr for BuildPhase {
    type Err = UnknownPhase;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        BuildPhase::ALL
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or_else(|| UnknownPhase(s.to_string()))
    }
}

/// What a restart should do with a build that was running when the server died.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestartDecision {
    /// Put it back in the queue; it has not been interrupted before.
    Requeue,
    /// Give up: it was already re-queued once.
    GiveUp,
}

/// How many times a build may be started before an interruption is final.
pub const MAX_ATTEMPTS: u32 = 2;

/// Decide the fate of a build found `Running` at start-up, given how many times
/// it has been started already.
pub fn after_restart(attempts: u32) -> RestartDecision {
    if attempts < MAX_ATTEMPTS {
        RestartDecision::Requeue
    } else {
        RestartDecision::GiveUp
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use BuildPhase::*;

    #[test]
    fn final_phases() {
        let finals: Vec<_> = BuildPhase::ALL
            .into_iter()
            .filter(|p| p.is_final())
            .collect();
        assert_eq!(finals, vec![Complete, Failed, Error, Cancelled, Skipped]);
    }

    #[test]
    fn final_phases_never_move() {
        for from in BuildPhase::ALL.into_iter().filter(|p| p.is_final()) {
            for to in BuildPhase::ALL {
                assert!(!from.can_transition_to(to), "{from} -> {to}");
            }
        }
    }

    #[test]
    fn every_non_final_phase_can_be_cancelled() {
        for p in BuildPhase::ALL.into_iter().filter(|p| !p.is_final()) {
            assert!(p.can_transition_to(Cancelled), "{p}");
        }
    }

    #[test]
    fn forward_path() {
        assert!(New.can_transition_to(Pending));
        assert!(Pending.can_transition_to(Running));
        assert!(Running.can_transition_to(Complete));
        assert!(!New.can_transition_to(Running));
        assert!(!Pending.can_transition_to(Complete));
    }

    #[test]
    fn parse_round_trip() {
        for p in BuildPhase::ALL {
            assert_eq!(p.as_str().parse::<BuildPhase>().unwrap(), p);
        }
        assert!("running".parse::<BuildPhase>().is_err());
    }

    #[test]
    fn restart_requeues_once() {
        assert_eq!(after_restart(1), RestartDecision::Requeue);
        assert_eq!(after_restart(2), RestartDecision::GiveUp);
        assert_eq!(after_restart(5), RestartDecision::GiveUp);
    }
}
