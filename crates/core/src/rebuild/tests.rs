use super::*;
use crate::image_ref::ImageRef;

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
    let e =
        ConfigGraph::build(&[input("a", "r.example/t/a:latest", &[], &["nope/x:1"])]).unwrap_err();
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

#[test]
fn a_repository_has_one_owner() {
    let configs = [
        input("base", "r.example/team/base:latest", &[], &[]),
        input("app1", "r.example/team/base:selfie", &[], &[]),
        input("app2", "r.example/team/app2:latest", &[], &[]),
    ];
    // Applying app1 beside the stored base: refused, base named.
    let e = check_ownership(&configs, &|n| n == "app1").unwrap_err();
    assert_eq!(
        e,
        GraphError::SharedOutput {
            config: "app1".into(),
            owner: "base".into(),
            repository: "r.example/team/base".into(),
        }
    );
    assert!(e.to_string().contains("belongs to config base"), "{e}");
    // Two new configs with one output: the second is refused.
    let e = check_ownership(&configs, &|n| n != "app2").unwrap_err();
    assert!(matches!(e, GraphError::SharedOutput { .. }), "{e}");
    // Changing only a config that owns its repository alone is fine, even
    // beside an older pair that shares one.
    check_ownership(&configs, &|n| n == "app2").unwrap();
    // Another registry is another repository.
    check_ownership(
        &[
            input("a", "r.example/team/base:latest", &[], &[]),
            input("b", "other.example/team/base:latest", &[], &[]),
        ],
        &|_| true,
    )
    .unwrap();
}
