//! Placement throughput: 10,000 queued worker builds over 100 clusters.
//!
//! - `placement/store`: through `SqliteStore::place_queued` in passes of
//!   `PLACEMENT_BATCH`, as the scheduler calls it (each pass counts loads,
//!   walks the queue and records its placements and their events in one
//!   transaction); the 10,000 builds are queued before the clock starts.
//! - `placement/algorithm`: the pure rule (`slipway_core::cluster::Placer`).
//! - then, outside Criterion: the same 10,000 placements through the
//!   PostgreSQL store with three stores (three servers) placing at once
//!   on one database (a private server from test-support), beside one
//!   SQLite store in the same run; it prints both rates and their ratio
//!   (goal ≥ 10,000/s in total on PostgreSQL).
//!
//! Criterion prints elements/s: placements per second (goal ≥ 10,000/s
//! through the store). `cargo bench -p slipway-store --bench placement`.

use criterion::{Criterion, Throughput, criterion_group};
use slipway_core::build::SourceRequest;
use slipway_core::cluster::{ClusterFile, ClusterSpec, Placer};
use slipway_core::{BuildRequest, Clusters, Platform};
use slipway_store::{PLACEMENT_BATCH, PgStore, SqliteStore, Store, WorkerStore};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
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

fn spec() -> slipway_core::BuildSpec {
    BuildRequest {
        source: SourceRequest {
            url: "/srv/repo".into(),
            ..Default::default()
        },
        output: Some("127.0.0.1:5000/app:1".into()),
        platforms: vec!["x86_64".into()],
        ..Default::default()
    }
    .validate(None)
    .expect("valid spec")
}

/// Queue `BUILDS` builds through `stores`, 32 at a time.
async fn fill(stores: &[Arc<dyn Store>]) {
    let next = Arc::new(AtomicUsize::new(0));
    let tasks: Vec<_> = (0..32)
        .map(|i| {
            let (store, next) = (stores[i % stores.len()].clone(), next.clone());
            tokio::spawn(async move {
                let spec = spec();
                while next.fetch_add(1, Ordering::Relaxed) < BUILDS {
                    slipway_store::create_queued_scratch(&*store, &spec)
                        .await
                        .expect("queue build");
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.expect("filler");
    }
}

/// Place every queued build with all `stores` placing at once; the time
/// it took.
async fn place_all(stores: &[Arc<dyn Store>], clusters: &Clusters) -> Duration {
    let placed = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let tasks: Vec<_> = stores
        .iter()
        .map(|store| {
            let (store, placed, clusters) = (store.clone(), placed.clone(), clusters.clone());
            tokio::spawn(async move {
                while placed.load(Ordering::Relaxed) < BUILDS {
                    let n = store
                        .place_queued(&clusters, PLACEMENT_BATCH)
                        .await
                        .expect("place")
                        .len();
                    placed.fetch_add(n, Ordering::Relaxed);
                    if n == 0 {
                        tokio::task::yield_now().await;
                    }
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.expect("placer");
    }
    assert_eq!(placed.load(Ordering::Relaxed), BUILDS, "placed twice");
    start.elapsed()
}

/// Three servers on PostgreSQL against one on SQLite, in one run.
fn replicas() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let clusters = clusters();
    let rounds = 3;
    let (mut sqlite, mut postgres) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        let dir = tempfile::tempdir().expect("tempdir");
        sqlite.push(rt.block_on(async {
            let store: Arc<dyn Store> = Arc::new(
                SqliteStore::open(&dir.path().join("db.sqlite"))
                    .await
                    .expect("open store"),
            );
            fill(std::slice::from_ref(&store)).await;
            place_all(&[store], &clusters).await
        }));
        let pg = slipway_test_support::Postgres::start();
        let url = pg.create_database("bench");
        postgres.push(rt.block_on(async {
            let mut stores: Vec<Arc<dyn Store>> = Vec::new();
            for _ in 0..3 {
                stores.push(Arc::new(PgStore::open(&url, None).await.expect("open")));
            }
            fill(&stores).await;
            place_all(&stores, &clusters).await
        }));
    }
    let median = |v: &mut Vec<Duration>| {
        v.sort();
        v[v.len() / 2]
    };
    let rate = |d: Duration| BUILDS as f64 / d.as_secs_f64();
    let (s, p) = (rate(median(&mut sqlite)), rate(median(&mut postgres)));
    println!(
        "placement/replicas: {BUILDS} placements, median of {rounds}: SQLite (1 server) {s:.0}/s, \
         PostgreSQL (3 servers at once) {p:.0}/s; PostgreSQL / SQLite = {:.2} (goal ≥ 10,000/s on PostgreSQL)",
        p / s
    );
}

criterion_group!(benches, placement);

fn main() {
    benches();
    replicas();
    Criterion::default().configure_from_args().final_summary();
}
