//! The wave planner: which member of a wave starts, skips or is blocked,
//! and with which priority (remaining critical path).

use super::ConfigGraph;
use serde::{Deserialize, Serialize};

/// Where one member of a wave stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "state")]
pub enum MemberState {
    /// Not started: waiting for in-wave parents.
    Waiting,
    /// A build is queued or running.
    Building,
    /// The build completed; `changed` when the image got a new digest.
    Built { changed: bool },
    /// No build was needed (up to date, or nothing it builds on changed).
    Skipped,
    /// The build failed, errored or was cancelled.
    Failed,
    /// An ancestor failed, so it was not built.
    Blocked,
}

impl MemberState {
    pub fn is_terminal(self) -> bool {
        !matches!(self, MemberState::Waiting | MemberState::Building)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            MemberState::Waiting => "waiting",
            MemberState::Building => "building",
            MemberState::Built { changed: true } => "built",
            MemberState::Built { changed: false } => "built (same digest)",
            MemberState::Skipped => "skipped",
            MemberState::Failed => "failed",
            MemberState::Blocked => "blocked",
        }
    }
}

/// One config in a wave.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WaveMember {
    /// Index in the [`ConfigGraph`].
    pub config: usize,
    /// Triggered directly (webhook, poll, schedule, manual), not only
    /// through a parent.
    pub root: bool,
    pub state: MemberState,
}

impl WaveMember {
    /// A wave in which every config of `graph` was triggered and none has
    /// started (a rebuild of everything).
    pub fn every_config(graph: &ConfigGraph) -> Vec<WaveMember> {
        (0..graph.len())
            .map(|config| WaveMember {
                config,
                root: true,
                state: MemberState::Waiting,
            })
            .collect()
    }
}

/// What the planner wants done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Queue a build of `config` with this priority (higher first).
    Start { config: usize, priority: u64 },
    /// Nothing `config` builds on changed; record it as skipped.
    Skip { config: usize },
    /// `failed` (an ancestor in the wave) failed; `config` is not built.
    Block { config: usize, failed: usize },
}

const NOT_IN_WAVE: u32 = u32::MAX;

/// Decides, for one wave, which members start, skip or are blocked.
#[derive(Debug, Clone)]
pub struct WavePlanner<'g> {
    graph: &'g ConfigGraph,
    /// Graph index → member index, or NOT_IN_WAVE.
    slot: Vec<u32>,
    members: Vec<WaveMember>,
    /// In-wave parents not finished yet, per member.
    pending: Vec<u32>,
    /// Remaining critical path, per member.
    path: Vec<u64>,
    /// The failed ancestor behind a blocked member.
    blocked_by: Vec<Option<usize>>,
}

impl<'g> WavePlanner<'g> {
    /// A planner for `members` (any order; configs must be distinct and in
    /// `graph`). `estimate` gives a config's expected build duration, in
    /// any unit (the priority is in the same unit).
    pub fn new(
        graph: &'g ConfigGraph,
        members: Vec<WaveMember>,
        estimate: impl Fn(usize) -> u64,
    ) -> WavePlanner<'g> {
        let mut slot = vec![NOT_IN_WAVE; graph.len()];
        for (m, member) in members.iter().enumerate() {
            slot[member.config] = m as u32;
        }
        let mut pending = vec![0u32; members.len()];
        for (m, member) in members.iter().enumerate() {
            pending[m] = graph.parents[member.config]
                .iter()
                .filter(|&&p| {
                    let s = slot[p];
                    s != NOT_IN_WAVE && !members[s as usize].state.is_terminal()
                })
                .count() as u32;
        }
        let mut path = vec![0u64; members.len()];
        for &c in graph.topo.iter().rev() {
            let s = slot[c];
            if s == NOT_IN_WAVE {
                continue;
            }
            let below = graph.children[c]
                .iter()
                .filter_map(|&ch| {
                    let t = slot[ch];
                    (t != NOT_IN_WAVE).then(|| path[t as usize])
                })
                .max()
                .unwrap_or(0);
            let own = if members[s as usize].state.is_terminal() {
                0
            } else {
                estimate(c)
            };
            path[s as usize] = own + below;
        }
        let blocked_by = vec![None; members.len()];
        WavePlanner {
            graph,
            slot,
            members,
            pending,
            path,
            blocked_by,
        }
    }

    fn member(&self, config: usize) -> Option<usize> {
        let s = self.slot[config];
        (s != NOT_IN_WAVE).then_some(s as usize)
    }

    /// Every decision that can be made now (call once after [`Self::new`]).
    /// Members it starts become Building, skipped members Skipped, blocked
    /// members Blocked.
    pub fn decide(&mut self) -> Vec<Decision> {
        let mut out = Vec::new();
        let ready: Vec<usize> = self
            .graph
            .topo
            .iter()
            .filter_map(|&c| self.member(c))
            .filter(|&m| self.members[m].state == MemberState::Waiting && self.pending[m] == 0)
            .collect();
        for m in ready {
            // A cascade from an earlier member may have decided it already.
            if self.members[m].state == MemberState::Waiting && self.pending[m] == 0 {
                self.evaluate(m, &mut out);
            }
        }
        out
    }

    /// Record that `config`'s build ended (`state` is terminal) and return
    /// what that makes possible. Looks only at the config's children.
    pub fn finished(&mut self, config: usize, state: MemberState) -> Vec<Decision> {
        let mut out = Vec::new();
        let Some(m) = self.member(config) else {
            return out;
        };
        if self.members[m].state.is_terminal() || !state.is_terminal() {
            self.members[m].state = state;
            return out;
        }
        self.members[m].state = state;
        self.release_children(m, &mut out);
        out
    }

    fn release_children(&mut self, m: usize, out: &mut Vec<Decision>) {
        let mut stack = vec![m];
        while let Some(done) = stack.pop() {
            let config = self.members[done].config;
            for &child in &self.graph.children[config] {
                let Some(cm) = self.member(child) else {
                    continue;
                };
                if self.members[cm].state != MemberState::Waiting {
                    continue;
                }
                self.pending[cm] -= 1;
                if self.pending[cm] == 0 && self.decide_member(cm, out) {
                    stack.push(cm);
                }
            }
        }
    }

    fn evaluate(&mut self, m: usize, out: &mut Vec<Decision>) {
        if self.decide_member(m, out) {
            self.release_children(m, out);
        }
    }

    /// Decide one member whose in-wave parents are all finished. True when
    /// the decision finished it (skip or block), so its children may move.
    fn decide_member(&mut self, m: usize, out: &mut Vec<Decision>) -> bool {
        let config = self.members[m].config;
        let mut failed = None;
        let mut changed = false;
        for &p in &self.graph.parents[config] {
            let Some(pm) = self.member(p) else {
                continue;
            };
            match self.members[pm].state {
                MemberState::Failed => failed = failed.or(Some(p)),
                MemberState::Blocked => failed = failed.or(self.blocked_by[pm]),
                MemberState::Built { changed: true } => changed = true,
                _ => {}
            }
        }
        if let Some(f) = failed {
            self.members[m].state = MemberState::Blocked;
            self.blocked_by[m] = Some(f);
            out.push(Decision::Block { config, failed: f });
            return true;
        }
        if self.members[m].root || changed {
            self.members[m].state = MemberState::Building;
            out.push(Decision::Start {
                config,
                priority: self.path[m],
            });
            return false;
        }
        self.members[m].state = MemberState::Skipped;
        out.push(Decision::Skip { config });
        true
    }

    /// The member's remaining critical path (its priority when it starts).
    pub fn priority(&self, config: usize) -> Option<u64> {
        self.member(config).map(|m| self.path[m])
    }

    pub fn members(&self) -> &[WaveMember] {
        &self.members
    }

    /// True when every member has finished.
    pub fn is_done(&self) -> bool {
        self.members.iter().all(|m| m.state.is_terminal())
    }
}
