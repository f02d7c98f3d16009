//! Rebuild planning at scale: a wave over a forest of 2,000 image configs
//! (chains at most 8 deep, about one config in twelve a root, one in six
//! with a second parent), 16 builders.
//!
//! - **Makespan** (printed first, for seeds 1–10): the real
//!   [`WavePlanner`] decides, a simulated builder runs each build for a
//!   duration drawn from a seeded log-normal distribution (median 300 s);
//!   the planner only sees estimates within ±20 % of the true durations, as
//!   it would from build history. The figure is the makespan over the lower
//!   bound max(critical path, total work / 16). Goal ≤ 1.05.
//! - **`rebuild/planner_wave`** (criterion): the CPU the planner's
//!   decisions take for a whole 2,000-config wave: building the planner,
//!   the first `decide`, and one `finished` per build in the order the
//!   simulation finished them. Goal < 50 ms.
//!
//! `cargo bench -p slipway-core --bench rebuild`

use criterion::{Criterion, Throughput};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use slipway_core::rebuild::{
    ConfigGraph, MemberState, WaveMember, WavePlanner, random_forest, simulate,
};
use std::hint::black_box;
use std::time::Duration;

const CONFIGS: usize = 2_000;
const MAX_DEPTH: usize = 8;
const CAPACITY: usize = 16;
const MEDIAN_SECONDS: u64 = 300;

fn forest(seed: u64) -> (ConfigGraph, Vec<u64>, Vec<u64>) {
    let mut rng = StdRng::seed_from_u64(seed);
    random_forest(CONFIGS, MAX_DEPTH, 12, 6, MEDIAN_SECONDS, || {
        rng.random::<f64>()
    })
}

fn planner_wave(graph: &ConfigGraph, estimate: &[u64], finish_order: &[usize]) -> usize {
    let mut planner = WavePlanner::new(graph, WaveMember::every_config(graph), |c| estimate[c]);
    let mut decisions = planner.decide().len();
    for &c in finish_order {
        decisions += planner
            .finished(c, MemberState::Built { changed: true })
            .len();
    }
    decisions
}

fn main() {
    println!("rebuild wave: {CONFIGS} configs, depth <= {MAX_DEPTH}, capacity {CAPACITY}");
    let mut worst: f64 = 0.0;
    let mut sum = 0.0;
    for seed in 1..=10u64 {
        let (graph, duration, estimate) = forest(seed);
        let sim = simulate(&graph, &duration, &estimate, CAPACITY);
        assert_eq!(sim.schedule.len(), CONFIGS, "every config was built");
        println!("  seed {seed:2}: depth {} {sim}", graph.depth());
        worst = worst.max(sim.ratio());
        sum += sim.ratio();
    }
    println!(
        "makespan / lower bound: mean {:.4}, worst {:.4} (goal <= 1.05)",
        sum / 10.0,
        worst
    );

    // Not a goal: with ten times the builders the critical path, not the
    // total work, bounds the wave, which shows what the priority buys.
    for capacity in [64, 160] {
        let (graph, duration, estimate) = forest(1);
        let sim = simulate(&graph, &duration, &estimate, capacity);
        println!("  capacity {capacity:3}: {sim}");
    }

    let (graph, duration, estimate) = forest(1);
    let sim = simulate(&graph, &duration, &estimate, CAPACITY);
    let mut finish: Vec<(u64, usize)> = sim.schedule.iter().map(|&(c, _, e)| (e, c)).collect();
    finish.sort();
    let order: Vec<usize> = finish.into_iter().map(|(_, c)| c).collect();
    assert_eq!(planner_wave(&graph, &estimate, &order), CONFIGS);

    let mut c = Criterion::default()
        .measurement_time(Duration::from_secs(5))
        .configure_from_args();
    let mut group = c.benchmark_group("rebuild");
    group.throughput(Throughput::Elements(CONFIGS as u64));
    group.bench_function("planner_wave", |b| {
        b.iter(|| planner_wave(black_box(&graph), black_box(&estimate), black_box(&order)))
    });
    group.finish();
    c.final_summary();
}
