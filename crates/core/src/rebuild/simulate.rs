//! A simulated builder for the planner: the makespan benchmark and the
//! tests drive [`WavePlanner`](super::WavePlanner) with it.

use super::{ConfigGraph, Decision, MemberState, WaveMember, WavePlanner};
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fmt;

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
