//! Placement throughput: 10,000 queued worker builds over 100 clusters.
//!
//! - `placement/store`: through `SqliteStore::place_queued` in passes of
//!   `PLACEMENT_BATCH`, as the scheduler calls it (each pass counts loads,
//!   walks the queue and records its placements and their events in one
//!   transaction); the 10,000 builds are queued before the clock starts.
//! - `placement/algorithm`: the pure rule (`slipway_core::cluster::Placer`).
//!
//! Criterion prints elements/s: placements per second (goal ≥ 10,000/s
//! through the store). `cargo bench -p slipway-store --bench placement`.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use slipway_core::build::SourceRequest;
use slipway_core::cluster::{ClusterFile, ClusterSpec, Placer};
use slipway_core::{BuildRequest, Clusters, Platform};
use slipway_store::{PLACEMENT_BATCH, SqliteStore, WorkerStore};
use std::collections::HashMap;
use std::time::{Duration, Instant};

const BUILDS: usize = 10_000;
const CLUSTERS: usize = 100;

/// 100 x86_64 clusters with maxima 50..150 (10,000 slots in all), so every
/// queued build is placed and loads differ from cluster to cluster.
fn clusters() -> Clusters {
    let mut file = ClusterFile::default();
    let list = (0..CLUSTERS)
        .map(|i| ClusterSpec {
            name: format!("cluster-{i}"),
            max_concurrent_builds: if i % 2 == 0 { 50 } else { 150 },
            enabled: true,
            kubernetes: None,
            worker_process: false,
            callback_url: None,
        })
        .collect();
    file.clusters.insert("x86_64".into(), list);
    file.validate().expect("valid cluster file")
}

fn placement(c: &mut Criterion) {
    let clusters = clusters();
    let slots: u32 = clusters.all().map(|c| c.max_concurrent_builds).sum();
    assert_eq!(slots as usize, BUILDS);
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let spec = BuildRequest {
        source: SourceRequest {
            url: "/srv/repo".into(),
            ..Default::default()
        },
        output: Some("127.0.0.1:5000/app:1".into()),
        platforms: vec!["x86_64".into()],
        ..Default::default()
    }
    .validate(None)
    .expect("valid spec");

    let mut group = c.benchmark_group("placement");
    group.throughput(Throughput::Elements(BUILDS as u64));
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(10));
    group.bench_function("store", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let dir = tempfile::tempdir().expect("tempdir");
                total += rt.block_on(async {
                    let store = SqliteStore::open(&dir.path().join("db.sqlite"))
                        .await
                        .expect("open store");
                    for _ in 0..BUILDS {
                        slipway_store::create_queued_scratch(&store, &spec)
                            .await
                            .expect("queue build");
                    }
                    let start = Instant::now();
                    let mut placed = 0;
                    while placed < BUILDS {
                        let n = store
                            .place_queued(&clusters, PLACEMENT_BATCH)
                            .await
                            .expect("place")
                            .len();
                        assert!(n > 0, "placement stalled at {placed}");
                        placed += n;
                    }
                    start.elapsed()
                });
            }
            total
        })
    });
    let platform = Platform::parse("x86_64").expect("platform");
    group.bench_function("algorithm", |b| {
        b.iter(|| {
            let mut placer = Placer::new(&clusters, &HashMap::new());
            let mut placed = 0;
            while placer.place(&platform, &[]).is_some() {
                placed += 1;
            }
            assert_eq!(placed, BUILDS);
            placed
        })
    });
    group.finish();
}

criterion_group!(benches, placement);
criterion_main!(benches);
