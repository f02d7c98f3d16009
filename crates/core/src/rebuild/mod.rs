//! The parent→child graph of image configs and the rebuild planner.
//!
//! A config's parents are the configs whose images its Dockerfile's FROM
//! lines name (every stage), plus those in its `depends_on`
//! ([`ConfigGraph::build`]). The graph must be acyclic: a cycle, including a
//! config built FROM its own output, is refused with the cycle named, because
//! a trigger loop would rebuild forever.
//!
//! A *wave* is one coalesced round of rebuilds: the configs that were
//! triggered (the roots) and every descendant of them. The [`WavePlanner`]
//! decides, from the members' states, which member starts next:
//!
//! - a member starts only when every in-wave parent has finished, so a child
//!   never builds while an ancestor in the same wave is queued or running;
//! - a member whose parent failed is blocked, and so is its subtree, each
//!   naming the failed ancestor;
//! - a member that was not triggered itself and whose parents all finished
//!   without a new digest is skipped (nothing it builds on changed);
//! - a starting member's priority is its *remaining critical path*: its own
//!   estimated duration plus the longest chain of estimated durations below
//!   it in the wave. The queue runs higher priorities first, so the longest
//!   chains start first and the wave ends soonest (Hu's highest-level-first
//!   list scheduling).
//!
//! The planner is incremental: [`WavePlanner::finished`] looks only at the
//! finished member's children. [`simulate`] drives it with a simulated
//! builder, for the makespan benchmark and the tests.
//!
//! Around the planner: the image configs users apply ([`image_config`]),
//! the triggers recorded with every build ([`trigger`]), build input keys
//! for build avoidance ([`input_key`]) and the CentOS container index
//! import ([`cccp`]).

pub mod cccp;
mod graph;
pub mod image_config;
pub mod input_key;
mod planner;
mod simulate;
pub mod trigger;
mod wave;

pub use graph::{ConfigGraph, GraphError, GraphInput, check_ownership};
pub use planner::{Decision, MemberState, WaveMember, WavePlanner};
pub use simulate::{Simulation, random_forest, simulate};
pub use wave::{Wave, WaveMemberRecord, WaveState};

#[cfg(test)]
mod tests;
