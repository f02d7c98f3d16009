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

use crate::build::BuildId;
use crate::image_ref::ImageRef;
use crate::trigger::Trigger;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use std::cmp::Reverse;
use std::collections::{BTreeSet, BinaryHeap, HashMap};
use std::fmt;

/// What the graph needs to know about one config.
#[derive(Debug, Clone)]
pub struct GraphInput {
    pub name: String,
    /// The image the config produces, with its tag.
    pub output: ImageRef,
    /// The images its Dockerfile's FROM lines name (all stages), as written
    /// after ARG substitution.
    pub base_images: Vec<String>,
    /// Extra parents: config names or image references.
    pub depends_on: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GraphError {
    #[error(
        "the configs form a cycle: {}; a build must not depend on its own output, directly or through other configs",
        .0.join(" → ")
    )]
    Cycle(Vec<String>),
    #[error(
        "config {config}: depends_on entry {entry:?} names no config and no config's output; name a config or an image a config produces"
    )]
    UnknownDependency { config: String, entry: String },
    #[error(
        "config {config}: the base image {image} could come from several configs ({}); give the FROM line the tag one of them produces",
        .candidates.join(", ")
    )]
    Ambiguous {
        config: String,
        image: String,
        candidates: Vec<String>,
    },
    #[error("config {0} is defined twice")]
    Duplicate(String),
}

/// Configs and their parent→child edges, known to be acyclic.
#[derive(Debug, Clone, Default)]
pub struct ConfigGraph {
    names: Vec<String>,
    index: HashMap<String, usize>,
    parents: Vec<Vec<usize>>,
    children: Vec<Vec<usize>>,
    /// Every config, parents before children.
    topo: Vec<usize>,
}

impl ConfigGraph {
    /// Resolve every config's FROM images and `depends_on` entries to the
    /// configs producing them and check that the result has no cycle.
    /// Base images no config produces (`debian:12`, `scratch`) are not
    /// parents; a base image pinned by digest never changes, so it is not a
    /// parent either.
    pub fn build(inputs: &[GraphInput]) -> Result<ConfigGraph, GraphError> {
        let mut index = HashMap::new();
        for (i, c) in inputs.iter().enumerate() {
            if index.insert(c.name.clone(), i).is_some() {
                return Err(GraphError::Duplicate(c.name.clone()));
            }
        }
        // Producers by repository (registry + path).
        let mut by_repo: HashMap<(&str, &str), Vec<usize>> = HashMap::new();
        for (i, c) in inputs.iter().enumerate() {
            by_repo
                .entry((c.output.registry.as_str(), c.output.repository.as_str()))
                .or_default()
                .push(i);
        }
        let tag_of = |r: &ImageRef| r.tag.clone().unwrap_or_else(|| "latest".into());
        // Among the configs producing an image's repository: the one
        // producing its tag, else the only one; none when there is none.
        let pick = |config: &str,
                    image: &str,
                    producers: &[usize],
                    tag: &str|
         -> Result<Option<usize>, GraphError> {
            let exact: Vec<usize> = producers
                .iter()
                .copied()
                .filter(|&i| tag_of(&inputs[i].output) == tag)
                .collect();
            match (exact.as_slice(), producers) {
                ([one], _) | ([], [one]) => Ok(Some(*one)),
                ([], []) => Ok(None),
                _ => Err(GraphError::Ambiguous {
                    config: config.to_string(),
                    image: image.to_string(),
                    candidates: producers.iter().map(|&i| inputs[i].name.clone()).collect(),
                }),
            }
        };
        let resolve = |config: &str, image: &ImageRef| -> Result<Option<usize>, GraphError> {
            let producers = by_repo
                .get(&(image.registry.as_str(), image.repository.as_str()))
                .map_or(&[][..], Vec::as_slice);
            pick(config, &image.to_string(), producers, &tag_of(image))
        };
        let mut parents = vec![Vec::new(); inputs.len()];
        for (i, c) in inputs.iter().enumerate() {
            let mut set = BTreeSet::new();
            for base in &c.base_images {
                let Ok(image) = ImageRef::parse(base) else {
                    continue;
                };
                if image.digest.is_some() {
                    continue;
                }
                if let Some(p) = resolve(&c.name, &image)? {
                    set.insert(p);
                }
            }
            for entry in &c.depends_on {
                let entry = entry.trim();
                if let Some(&p) = index.get(entry) {
                    set.insert(p);
                    continue;
                }
                let found = match ImageRef::parse(entry) {
                    Ok(image) => resolve(&c.name, &image)?,
                    // `ns/job:tag` without a registry (CentOS index style):
                    // match the repository and tag in any registry.
                    Err(_) => {
                        let (repo, tag) = match entry.rsplit_once(':') {
                            Some((r, t)) if !t.contains('/') => (r, t),
                            _ => (entry, "latest"),
                        };
                        let all: Vec<usize> = inputs
                            .iter()
                            .enumerate()
                            .filter(|(_, o)| o.output.repository == repo)
                            .map(|(i, _)| i)
                            .collect();
                        pick(&c.name, entry, &all, tag)?
                    }
                };
                match found {
                    Some(p) => {
                        set.insert(p);
                    }
                    None => {
                        return Err(GraphError::UnknownDependency {
                            config: c.name.clone(),
                            entry: entry.to_string(),
                        });
                    }
                }
            }
            parents[i] = set.into_iter().collect();
        }
        let names = inputs.iter().map(|c| c.name.clone()).collect();
        ConfigGraph::from_parents(names, parents)
    }

    /// A graph from names and each node's parents (indices); refuses cycles.
    pub fn from_parents(
        names: Vec<String>,
        parents: Vec<Vec<usize>>,
    ) -> Result<ConfigGraph, GraphError> {
        let n = names.len();
        let mut children = vec![Vec::new(); n];
        for (c, ps) in parents.iter().enumerate() {
            for &p in ps {
                children[p].push(c);
            }
        }
        // Kahn's algorithm; what is left over lies on or behind a cycle.
        let mut indegree: Vec<usize> = parents.iter().map(Vec::len).collect();
        let mut ready: Vec<usize> = (0..n).filter(|&i| indegree[i] == 0).rev().collect();
        let mut topo = Vec::with_capacity(n);
        while let Some(i) = ready.pop() {
            topo.push(i);
            for &c in children[i].iter().rev() {
                indegree[c] -= 1;
                if indegree[c] == 0 {
                    ready.push(c);
                }
            }
        }
        if topo.len() < n {
            return Err(GraphError::Cycle(find_cycle(&names, &parents, &indegree)));
        }
        let index = names
            .iter()
            .enumerate()
            .map(|(i, s)| (s.clone(), i))
            .collect();
        Ok(ConfigGraph {
            names,
            index,
            parents,
            children,
            topo,
        })
    }

    pub fn len(&self) -> usize {
        self.names.len()
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    pub fn name(&self, i: usize) -> &str {
        &self.names[i]
    }

    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.index.get(name).copied()
    }

    pub fn parents(&self, i: usize) -> &[usize] {
        &self.parents[i]
    }

    pub fn children(&self, i: usize) -> &[usize] {
        &self.children[i]
    }

    /// Every config, parents before children.
    pub fn topological(&self) -> &[usize] {
        &self.topo
    }

    /// The roots and everything below them, parents before children.
    pub fn descendants(&self, roots: &[usize]) -> Vec<usize> {
        let mut seen = vec![false; self.len()];
        let mut stack: Vec<usize> = roots.to_vec();
        while let Some(i) = stack.pop() {
            if !std::mem::replace(&mut seen[i], true) {
                stack.extend(&self.children[i]);
            }
        }
        self.topo.iter().copied().filter(|&i| seen[i]).collect()
    }

    /// A config's ancestors, the config and its descendants, parents first.
    pub fn lineage(&self, i: usize) -> Vec<usize> {
        let mut seen = vec![false; self.len()];
        let mut stack = vec![i];
        while let Some(j) = stack.pop() {
            if !std::mem::replace(&mut seen[j], true) {
                stack.extend(&self.parents[j]);
            }
        }
        for d in self.descendants(&[i]) {
            seen[d] = true;
        }
        self.topo.iter().copied().filter(|&j| seen[j]).collect()
    }

    /// Each config's level: 1 without parents, else one more than its
    /// deepest parent.
    pub fn levels(&self) -> Vec<usize> {
        let mut level = vec![0usize; self.len()];
        for &i in &self.topo {
            level[i] = 1 + self.parents[i].iter().map(|&p| level[p]).max().unwrap_or(0);
        }
        level
    }

    /// The length of the longest chain (in nodes).
    pub fn depth(&self) -> usize {
        self.levels().into_iter().max().unwrap_or(0)
    }
}

/// A cycle among the nodes Kahn's algorithm could not order, as names in
/// parent→child order, first name repeated at the end.
fn find_cycle(names: &[String], parents: &[Vec<usize>], indegree: &[usize]) -> Vec<String> {
    // Every left-over node has a left-over parent, so walking parents from
    // one must revisit a node.
    let Some(start) = (0..names.len()).find(|&i| indegree[i] > 0) else {
        return Vec::new();
    };
    let mut position = HashMap::new();
    let mut path = Vec::new();
    let mut at = start;
    loop {
        if let Some(&p) = position.get(&at) {
            // The walk went child → parent; show parent → child, starting
            // from the config defined first.
            let mut cycle: Vec<usize> = path[p..].iter().rev().copied().collect();
            if let Some(first) = (0..cycle.len()).min_by_key(|&k| cycle[k]) {
                cycle.rotate_left(first);
            }
            cycle.push(cycle[0]);
            return cycle.into_iter().map(|i| names[i].clone()).collect();
        }
        position.insert(at, path.len());
        path.push(at);
        match parents[at].iter().find(|&&p| indegree[p] > 0) {
            Some(&p) => at = p,
            None => return vec![names[at].clone()],
        }
    }
}

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
    pub created_at: Timestamp,
    /// Triggers arriving before this time join the wave.
    pub gather_until: Timestamp,
    pub started_at: Option<Timestamp>,
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

/// The outcome of a simulated wave.
#[derive(Debug, Clone, PartialEq)]
pub struct Simulation {
    /// When the last build ended.
    pub makespan: u64,
    /// The longest chain of durations in the wave.
    pub critical_path: u64,
    /// Sum of all durations.
    pub total_work: u64,
    /// max(critical path, ⌈total work / capacity⌉): no schedule can end sooner.
    pub lower_bound: u64,
    /// How many planner decisions were made.
    pub decisions: usize,
    /// (config, start, end) of every build.
    pub schedule: Vec<(usize, u64, u64)>,
}

impl Simulation {
    pub fn ratio(&self) -> f64 {
        self.makespan as f64 / self.lower_bound.max(1) as f64
    }
}

impl fmt::Display for Simulation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "makespan {} / lower bound {} = {:.4} (critical path {}, work {})",
            self.makespan,
            self.lower_bound,
            self.ratio(),
            self.critical_path,
            self.total_work
        )
    }
}

/// Run a wave in which every config of `graph` is triggered as a root, on
/// `capacity` identical builders, with the real planner deciding. A build
/// of config `c` takes `duration[c]`; the planner sees `estimate[c]` (its
/// guess from history). Every build is assumed to produce a new digest.
pub fn simulate(
    graph: &ConfigGraph,
    duration: &[u64],
    estimate: &[u64],
    capacity: usize,
) -> Simulation {
    let mut planner = WavePlanner::new(graph, WaveMember::every_config(graph), |c| estimate[c]);
    // Ready queue: highest priority first, then lowest config index.
    let mut queue: BinaryHeap<(u64, Reverse<usize>)> = BinaryHeap::new();
    // Running builds: earliest end first.
    let mut running: BinaryHeap<Reverse<(u64, usize)>> = BinaryHeap::new();
    let mut decisions = 0;
    let mut schedule = Vec::with_capacity(graph.len());
    let mut now = 0u64;
    let mut push = |ds: Vec<Decision>, queue: &mut BinaryHeap<(u64, Reverse<usize>)>| {
        decisions += ds.len();
        for d in ds {
            if let Decision::Start { config, priority } = d {
                queue.push((priority, Reverse(config)));
            }
        }
    };
    push(planner.decide(), &mut queue);
    loop {
        while running.len() < capacity {
            let Some((_, Reverse(c))) = queue.pop() else {
                break;
            };
            running.push(Reverse((now + duration[c], c)));
            schedule.push((c, now, now + duration[c]));
        }
        let Some(Reverse((end, c))) = running.pop() else {
            break;
        };
        now = end;
        push(
            planner.finished(c, MemberState::Built { changed: true }),
            &mut queue,
        );
    }
    let mut longest = vec![0u64; graph.len()];
    for &c in graph.topological() {
        longest[c] = duration[c]
            + graph.parents[c]
                .iter()
                .map(|&p| longest[p])
                .max()
                .unwrap_or(0);
    }
    let critical_path = longest.into_iter().max().unwrap_or(0);
    let total_work: u64 = duration.iter().sum();
    let lower_bound = critical_path.max(total_work.div_ceil(capacity.max(1) as u64));
    Simulation {
        makespan: now,
        critical_path,
        total_work,
        lower_bound,
        decisions,
        schedule,
    }
}

/// A deterministic random forest for benchmarks and tests: `n` configs,
/// chains at most `max_depth` long, about one in `root_every` a root; each
/// other config takes one parent among configs less than `max_depth` deep,
/// and one in `extra_parent_every` a second one (a multi-stage build).
/// Durations are log-normal-like (median ~`median`), estimates within ±20 %
/// of them. `next` is the caller's random source (values uniform in [0,1)).
pub fn random_forest(
    n: usize,
    max_depth: usize,
    root_every: usize,
    extra_parent_every: usize,
    median: u64,
    mut next: impl FnMut() -> f64,
) -> (ConfigGraph, Vec<u64>, Vec<u64>) {
    let mut depth = Vec::with_capacity(n);
    let mut parents: Vec<Vec<usize>> = Vec::with_capacity(n);
    for i in 0..n {
        let eligible: Vec<usize> = (0..i).filter(|&j| depth[j] < max_depth).collect();
        let root = i == 0 || eligible.is_empty() || next() * root_every as f64 <= 1.0;
        if root {
            depth.push(1);
            parents.push(Vec::new());
            continue;
        }
        let pick =
            |r: f64| eligible[((r * eligible.len() as f64) as usize).min(eligible.len() - 1)];
        let mut ps = vec![pick(next())];
        if next() * extra_parent_every as f64 <= 1.0 {
            let second = pick(next());
            if !ps.contains(&second) {
                ps.push(second);
            }
        }
        // Depth is the longest chain to a root; a second parent may not
        // push the config past max_depth.
        ps.retain(|&p| depth[p] < max_depth);
        depth.push(1 + ps.iter().map(|&p| depth[p]).max().unwrap_or(0));
        parents.push(ps);
    }
    let names = (0..n).map(|i| format!("config-{i}")).collect();
    let graph = match ConfigGraph::from_parents(names, parents) {
        Ok(g) => g,
        Err(_) => unreachable!("parents always have lower indices"),
    };
    let mut duration = Vec::with_capacity(n);
    let mut estimate = Vec::with_capacity(n);
    for _ in 0..n {
        // Sum of uniforms ≈ normal; exp of it ≈ log-normal.
        let z: f64 = (0..6).map(|_| next()).sum::<f64>() - 3.0;
        let d = ((median as f64) * (0.6 * z).exp()).round().max(1.0) as u64;
        duration.push(d);
        let noise = 0.8 + 0.4 * next();
        estimate.push(((d as f64) * noise).round().max(1.0) as u64);
    }
    (graph, duration, estimate)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(name: &str, output: &str, bases: &[&str], deps: &[&str]) -> GraphInput {
        GraphInput {
            name: name.into(),
            output: ImageRef::parse(output).unwrap(),
            base_images: bases.iter().map(|s| s.to_string()).collect(),
            depends_on: deps.iter().map(|s| s.to_string()).collect(),
        }
    }

    /// A → B → C, A → D.
    fn abcd() -> ConfigGraph {
        ConfigGraph::build(&[
            input("c", "r.example/t/c:latest", &["r.example/t/b:latest"], &[]),
            input(
                "a",
                "r.example/t/a:latest",
                &["docker.io/library/debian:12"],
                &[],
            ),
            input("b", "r.example/t/b:latest", &["r.example/t/a"], &[]),
            input(
                "d",
                "r.example/t/d:latest",
                &["r.example/t/a:latest", "scratch"],
                &[],
            ),
        ])
        .unwrap()
    }

    fn names(g: &ConfigGraph, v: &[usize]) -> Vec<String> {
        v.iter().map(|&i| g.name(i).to_string()).collect()
    }

    #[test]
    fn parents_come_from_from_lines_and_depends_on() {
        let g = abcd();
        let a = g.index_of("a").unwrap();
        assert_eq!(names(&g, g.children(a)), ["b", "d"]);
        assert_eq!(names(&g, g.topological()), ["a", "b", "c", "d"]);
        assert_eq!(g.depth(), 3);
        let g = ConfigGraph::build(&[
            input("base", "r.example/centos/base:7", &[], &[]),
            input("app", "r.example/apps/app:latest", &[], &["centos/base:7"]),
            input("tool", "r.example/apps/tool:latest", &[], &["app"]),
        ])
        .unwrap();
        assert_eq!(names(&g, g.topological()), ["base", "app", "tool"]);
    }

    #[test]
    fn digests_and_unknown_images_are_not_parents() {
        let digest = format!("r.example/t/a@sha256:{}", "1".repeat(64));
        let g = ConfigGraph::build(&[
            input("a", "r.example/t/a:latest", &[], &[]),
            input(
                "b",
                "r.example/t/b:latest",
                &[&digest, "quay.io/x/y:1"],
                &[],
            ),
        ])
        .unwrap();
        assert!(g.parents(1).is_empty());
    }

    #[test]
    fn tags_pick_among_configs_sharing_a_repository() {
        let g = ConfigGraph::build(&[
            input("c7", "r.example/centos/centos:7", &[], &[]),
            input("c8", "r.example/centos/centos:8", &[], &[]),
            input(
                "app",
                "r.example/t/app:latest",
                &["r.example/centos/centos:8"],
                &[],
            ),
        ])
        .unwrap();
        assert_eq!(names(&g, g.parents(2)), ["c8"]);
        let e = ConfigGraph::build(&[
            input("c7", "r.example/centos/centos:7", &[], &[]),
            input("c8", "r.example/centos/centos:8", &[], &[]),
            input(
                "app",
                "r.example/t/app:latest",
                &["r.example/centos/centos"],
                &[],
            ),
        ])
        .unwrap_err();
        assert!(matches!(e, GraphError::Ambiguous { .. }), "{e}");
    }

    #[test]
    fn cycles_are_named() {
        let e = ConfigGraph::build(&[
            input("a", "r.example/t/a:latest", &["r.example/t/c"], &[]),
            input("b", "r.example/t/b:latest", &["r.example/t/a"], &[]),
            input("c", "r.example/t/c:latest", &["r.example/t/b"], &[]),
            input("d", "r.example/t/d:latest", &["r.example/t/a"], &[]),
        ])
        .unwrap_err();
        assert_eq!(
            e,
            GraphError::Cycle(vec!["a".into(), "b".into(), "c".into(), "a".into()])
        );
        assert!(e.to_string().contains("a → b → c → a"), "{e}");
        // A build whose output is its own input.
        let e = ConfigGraph::build(&[input(
            "loop",
            "r.example/t/loop:latest",
            &["r.example/t/loop:latest"],
            &[],
        )])
        .unwrap_err();
        assert_eq!(e, GraphError::Cycle(vec!["loop".into(), "loop".into()]));
    }

    #[test]
    fn unknown_dependencies_are_refused() {
        let e = ConfigGraph::build(&[input("a", "r.example/t/a:latest", &[], &["nope/x:1"])])
            .unwrap_err();
        assert!(e.to_string().contains("nope/x:1"), "{e}");
    }

    fn wave(g: &ConfigGraph, roots: &[&str]) -> Vec<WaveMember> {
        let roots: Vec<usize> = roots.iter().map(|r| g.index_of(r).unwrap()).collect();
        g.descendants(&roots)
            .into_iter()
            .map(|c| WaveMember {
                config: c,
                root: roots.contains(&c),
                state: MemberState::Waiting,
            })
            .collect()
    }

    fn started(g: &ConfigGraph, ds: &[Decision]) -> Vec<String> {
        ds.iter()
            .filter_map(|d| match d {
                Decision::Start { config, .. } => Some(g.name(*config).to_string()),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn a_wave_runs_parents_before_children() {
        let g = abcd();
        let id = |n| g.index_of(n).unwrap();
        let mut p = WavePlanner::new(&g, wave(&g, &["a"]), |_| 10);
        assert_eq!(started(&g, &p.decide()), ["a"]);
        assert_eq!(p.priority(id("a")), Some(30));
        assert_eq!(p.decide(), vec![]);
        let ds = p.finished(id("a"), MemberState::Built { changed: true });
        assert_eq!(started(&g, &ds), ["b", "d"]);
        // b has the longer remaining path (b → c), so it goes first.
        assert_eq!(p.priority(id("b")), Some(20));
        assert_eq!(p.priority(id("d")), Some(10));
        assert_eq!(
            started(
                &g,
                &p.finished(id("d"), MemberState::Built { changed: true })
            ),
            Vec::<String>::new()
        );
        assert_eq!(
            started(
                &g,
                &p.finished(id("b"), MemberState::Built { changed: true })
            ),
            ["c"]
        );
        assert!(!p.is_done());
        p.finished(id("c"), MemberState::Built { changed: false });
        assert!(p.is_done());
    }

    #[test]
    fn a_failed_parent_blocks_its_subtree() {
        let g = abcd();
        let id = |n| g.index_of(n).unwrap();
        let mut p = WavePlanner::new(&g, wave(&g, &["a"]), |_| 1);
        p.decide();
        let ds = p.finished(id("a"), MemberState::Failed);
        let mut blocked: Vec<(String, String)> = ds
            .iter()
            .map(|d| match d {
                Decision::Block { config, failed } => {
                    (g.name(*config).to_string(), g.name(*failed).to_string())
                }
                other => panic!("unexpected {other:?}"),
            })
            .collect();
        blocked.sort();
        assert_eq!(
            blocked,
            [
                ("b".into(), "a".into()),
                ("c".into(), "a".into()),
                ("d".into(), "a".into())
            ]
        );
        assert!(p.is_done());
    }

    #[test]
    fn unchanged_parents_skip_children_that_were_not_triggered() {
        let g = abcd();
        let id = |n| g.index_of(n).unwrap();
        // a and c both triggered: c must still build even if b is skipped.
        let mut p = WavePlanner::new(&g, wave(&g, &["a", "c"]), |_| 1);
        assert_eq!(started(&g, &p.decide()), ["a"]);
        let ds = p.finished(id("a"), MemberState::Skipped);
        assert!(ds.contains(&Decision::Skip { config: id("b") }));
        assert!(ds.contains(&Decision::Skip { config: id("d") }));
        assert_eq!(started(&g, &ds), ["c"]);
    }

    #[test]
    fn a_restarted_planner_continues_from_stored_states() {
        let g = abcd();
        let id = |n| g.index_of(n).unwrap();
        let mut members = wave(&g, &["a"]);
        for m in &mut members {
            if m.config == id("a") {
                m.state = MemberState::Built { changed: true };
            }
            if m.config == id("b") {
                m.state = MemberState::Building;
            }
        }
        let mut p = WavePlanner::new(&g, members, |_| 1);
        assert_eq!(started(&g, &p.decide()), ["d"]);
        assert_eq!(
            started(
                &g,
                &p.finished(id("b"), MemberState::Built { changed: true })
            ),
            ["c"]
        );
    }

    #[test]
    fn simulation_respects_precedence_and_capacity() {
        let mut seed = 7u64;
        let mut next = move || {
            // xorshift64*, enough for a test.
            seed ^= seed >> 12;
            seed ^= seed << 25;
            seed ^= seed >> 27;
            (seed.wrapping_mul(0x2545F4914F6CDD1D) >> 11) as f64 / (1u64 << 53) as f64
        };
        let (g, duration, estimate) = random_forest(300, 8, 12, 6, 100, &mut next);
        assert!(g.depth() <= 8, "depth {}", g.depth());
        let sim = simulate(&g, &duration, &estimate, 4);
        assert_eq!(sim.schedule.len(), 300);
        let mut end = vec![0; g.len()];
        let mut start = vec![0; g.len()];
        for &(c, s, e) in &sim.schedule {
            start[c] = s;
            end[c] = e;
            assert_eq!(e - s, duration[c]);
        }
        for (c, &s) in start.iter().enumerate() {
            for &p in g.parents(c) {
                assert!(s >= end[p], "{c} started before its parent {p} ended");
            }
        }
        // At no moment do more than `capacity` builds run.
        let mut points: Vec<(u64, i32)> = sim
            .schedule
            .iter()
            .flat_map(|&(_, s, e)| [(s, 1), (e, -1)])
            .collect();
        points.sort_by_key(|&(t, d)| (t, d));
        let mut load = 0;
        for (_, d) in points {
            load += d;
            assert!(load <= 4);
        }
        assert!(sim.makespan >= sim.lower_bound);
        assert!(sim.ratio() < 1.5, "{sim}");
    }
}
