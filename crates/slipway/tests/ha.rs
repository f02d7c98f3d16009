//! Several `slipway serve` replicas on one PostgreSQL database, behind a
//! round-robin load balancer (test-support's `Balancer`): any replica
//! answers, placement across them never exceeds a cluster's maximum nor
//! runs a worker build twice, and a replica killed mid-run leaves its
//! builds to the others.

use slipway_test_support::{
    Balancer, GitRepo, Postgres, Registry, S3Server, Server, http, require_tools,
};
use std::path::Path;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_slipway");

/// Replicas sharing `pg`'s database `slipway`, a bucket of `s3` for the
/// registry's blobs, a secret key and a cluster file, behind `lb`, which
/// is also the registry builds push to; the first one's admin token is
/// copied to the others' data dirs (the CLI of each finds it there).
struct Fleet {
    pg: Postgres,
    s3: Option<S3Server>,
    lb: Balancer,
    servers: Vec<Server>,
    _shared: tempfile::TempDir,
}

impl Fleet {
    fn start(n: usize, clusters: &str, extra_config: &str) -> Fleet {
        require_tools();
        let pg = Postgres::start();
        let url = pg.create_database("slipway");
        let s3 = S3Server::start();
        s3.create_bucket("slipway");
        let lb = Balancer::start(Vec::new());
        let extra_config = format!(
            "{extra_config}registry_host: {}\nregistry_storage:\n  backend: s3\n  bucket: slipway\n  endpoint: {}\n  allow_http: true\n  access_key_id: {{file: {}}}\n  secret_access_key: {{file: {}}}\n",
            lb.host(),
            s3.endpoint(),
            s3.access_key_id_file().display(),
            s3.secret_access_key_file().display()
        );
        let shared = tempfile::tempdir().unwrap();
        let key = shared.path().join("secret-key");
        std::fs::write(&key, "ab".repeat(32)).unwrap();
        // One signing key for every replica.
        let signing = shared.path().join("signing-key");
        slipway_signing::SigningKey::load_or_create(&signing).unwrap();
        let cluster_file = shared.path().join("clusters.yaml");
        std::fs::write(&cluster_file, clusters).unwrap();
        let config = format!(
            "database: {{url: '{url}'}}\nsecret_key_file: {}\nsigning_key_file: {}\nclusters_file: {}\n{extra_config}",
            key.display(),
            signing.display(),
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
        lb.set_backends(servers.iter().map(|s| s.port).collect());
        Fleet {
            pg,
            s3: Some(s3),
            lb,
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
    let lb = &fleet.lb;
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
        let r = http(
            lb.port,
            "GET",
            &format!("/api/v1/builds/{id}/log"),
            Some(&fleet.servers[0].token()),
            None,
        );
        assert!(r.body.contains("built-on-some-replica"));
    }
    // A console session made on one replica is good on the other, and
    // signing out there ends it everywhere.
    let token = fleet.servers[0].token();
    let login = slipway_test_support::http_raw(
        fleet.servers[0].port,
        "POST",
        "/login",
        &[("Content-Type", "application/x-www-form-urlencoded")],
        format!("token={token}").as_bytes(),
    );
    assert_eq!(login.status, 303, "{}", login.body);
    let cookie = login
        .header("set-cookie")
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let page = |port: u16| {
        slipway_test_support::http_raw(port, "GET", "/builds", &[("Cookie", &cookie)], b"")
    };
    let other = page(fleet.servers[1].port);
    assert_eq!(other.status, 200, "{}", other.headers);
    assert!(other.body.contains("built") || other.body.contains("Complete"));
    // The sign-out form's CSRF value, made on the other replica from
    // the session's secret in the database.
    let csrf = other
        .body
        .split("action=\"/logout\"><input type=\"hidden\" name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .unwrap()
        .to_string();
    let out = slipway_test_support::http_raw(
        fleet.servers[0].port,
        "POST",
        "/logout",
        &[
            ("Cookie", &cookie),
            ("Sec-Fetch-Site", "same-origin"),
            ("Content-Type", "application/x-www-form-urlencoded"),
        ],
        format!("csrf={csrf}").as_bytes(),
    );
    assert!(out.status < 400, "{}", out.status);
    assert_eq!(
        page(fleet.servers[1].port).status,
        303,
        "signed out everywhere"
    );

    // Ready while the bucket answers; not once it is gone (a balancer
    // then sends pulls elsewhere), saying why.
    let mut fleet = fleet;
    for s in &fleet.servers {
        let r = http(s.port, "GET", "/readyz", None, None);
        assert_eq!(r.status, 200, "{}", r.body);
    }
    drop(fleet.s3.take());
    let r = http(fleet.servers[1].port, "GET", "/readyz", None, None);
    assert_eq!(r.status, 503, "{}", r.body);
    assert!(
        r.body.contains("NOT_READY") && r.body.contains("bucket"),
        "{}",
        r.body
    );
}

/// The name a replica's leases and placements carry (its log says it).
fn holder(s: &Server) -> String {
    let log = s.server_log();
    let line = log
        .lines()
        .find(|l| l.contains("this server is "))
        .unwrap_or_else(|| panic!("no holder in the log: {log}"));
    line.rsplit("this server is ")
        .next()
        .unwrap()
        .trim()
        .to_string()
}

#[test]
fn a_replica_killed_mid_run_leaves_its_builds_to_the_others() {
    let registry = Registry::start();
    let base = registry.push_base_image();
    let mut fleet = Fleet::start(
        3,
        "clusters:\n  x86_64:\n  - name: a\n    max_concurrent_builds: 2\n  - name: b\n    max_concurrent_builds: 1\n",
        "",
    );
    let repo = GitRepo::new(&[(
        "Dockerfile",
        &format!(
            "FROM {base}\nLABEL name=test/ha version=1.0 component=ha-container\nRUN echo ha-build-ran && sleep 2\n"
        ),
    )]);
    // A config fired by cron every minute: whoever holds the timers'
    // lease fires it, once a minute, also across the kill.
    fleet.servers[1].apply(&format!(
        "name: cron\nsource: {{ url: {} }}\noutput: team/cron\ntriggers:\n  schedule: {{ cron: \"* * * * *\", timezone: UTC }}\n",
        repo.path().display(),
    ));
    // Pushed through the balancer into the embedded registry, whose
    // blobs are in the shared bucket.
    let image = format!("{}/team/ha", fleet.lb.host());
    let ids: Vec<i64> = (0..60)
        .map(|i| fleet.servers[i % 3].queue(&repo, &image, &[]))
        .collect();

    // Sample each cluster's running worker builds while everything runs.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sampler = {
        let stop = stop.clone();
        let pg = fleet.pg.psql_command("slipway");
        std::thread::spawn(move || {
            let mut worst: std::collections::HashMap<String, u32> = Default::default();
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let out = pg(
                    "SELECT cluster || ' ' || count(*) FROM worker_builds WHERE phase = 'Running' GROUP BY cluster",
                );
                for line in out.lines().filter(|l| !l.trim().is_empty()) {
                    let (c, n) = line.trim().split_once(' ').unwrap();
                    let n: u32 = n.parse().unwrap();
                    let w = worst.entry(c.to_string()).or_default();
                    *w = (*w).max(n);
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            worst
        })
    };

    // Kill a replica while it runs builds: whichever placed the first one
    // seen running (it goes to index 0; the others live on).
    let holders: Vec<String> = fleet.servers.iter().map(holder).collect();
    let deadline = Instant::now() + Duration::from_secs(300);
    let victim = loop {
        let owner = fleet.sql(
            "SELECT owner FROM worker_builds WHERE phase = 'Running' AND owner IS NOT NULL LIMIT 1",
        );
        if let Some(k) = holders.iter().position(|h| *h == owner) {
            break k;
        }
        assert!(Instant::now() < deadline, "no replica ever ran a build");
        std::thread::sleep(Duration::from_millis(50));
    };
    fleet.servers.swap(0, victim);
    let victim = holders[victim].clone();
    fleet.servers[0].kill9();
    // What it was running when it died (nobody else changes those rows
    // until its lease has expired).
    let interrupted: Vec<i64> = fleet
        .sql(&format!(
            "SELECT build_id FROM worker_builds WHERE phase = 'Running' AND owner = '{victim}' ORDER BY 1"
        ))
        .lines()
        .map(|l| l.trim().parse().unwrap())
        .collect();

    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let open: u32 = fleet
            .sql(&format!(
                "SELECT count(*) FROM builds WHERE id IN ({}) AND phase NOT IN ('Complete','Failed','Error','Cancelled','Skipped')",
                ids.iter().map(i64::to_string).collect::<Vec<_>>().join(",")
            ))
            .parse()
            .unwrap();
        if open == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{open} builds never ended: {}\nleases: {}",
            fleet.sql(
                "SELECT b.id || ' ' || b.phase || ' ' || coalesce(string_agg(w.phase || '@' || coalesce(w.owner, '-'), ','), '') \
                 FROM builds b LEFT JOIN worker_builds w ON w.build_id = b.id \
                 WHERE b.phase NOT IN ('Complete','Failed','Error','Cancelled','Skipped') GROUP BY b.id, b.phase"
            ),
            fleet.sql("SELECT name || ' ' || holder || ' ' || expires_ms FROM leases")
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let worst = sampler.join().unwrap();
    assert!(worst.get("a").copied().unwrap_or(0) <= 2, "{worst:?}");
    assert!(worst.get("b").copied().unwrap_or(0) <= 1, "{worst:?}");

    let live = &fleet.servers[1];
    for id in &ids {
        let b = live.build_json(*id);
        assert_eq!(b["phase"], "Complete", "build {id}: {b}");
        // Placed once per attempt: a worker build never ran twice at once.
        let events: Vec<&str> = b["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["message"].as_str().unwrap())
            .collect();
        let placed = events
            .iter()
            .filter(|m| m.contains("placed on cluster"))
            .count();
        let requeued = events.iter().filter(|m| m.contains("re-queued")).count();
        assert_eq!(placed, 1 + requeued, "build {id}: {events:?}");
        assert_eq!(b["attempts"].as_u64().unwrap() as usize, 1 + requeued);
    }
    // The builds the dead replica ran were re-queued, ran again, and their
    // logs (both attempts') are readable from the replicas left.
    assert!(!interrupted.is_empty());
    for id in &interrupted {
        let b = live.build_json(*id);
        let requeued = b["events"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["message"].as_str().unwrap().contains("re-queued"));
        assert!(
            requeued,
            "build {id} was running on the killed replica: {b}"
        );
        for s in &fleet.servers[1..] {
            let log = s.log(*id);
            assert!(
                log.matches("preparing build").count() >= 1 && log.contains("ha-build-ran"),
                "build {id}: {log}"
            );
        }
    }
    // Every image pulls byte for byte the same from every replica left:
    // its manifest and each blob it names.
    for id in ids.iter().step_by(7) {
        let b = live.build_json(*id);
        let digest = b["image"]["digest"].as_str().unwrap().to_string();
        let tag = b["spec"]["tags"][0].as_str().unwrap().to_string();
        let mut manifests = Vec::new();
        for s in &fleet.servers[1..] {
            let r = s.registry(
                "GET",
                &format!("/v2/team/ha/manifests/{tag}"),
                "repository:team/ha:pull",
            );
            assert_eq!(r.status, 200, "{}", r.body);
            manifests.push(r.body.clone());
        }
        assert!(manifests.windows(2).all(|w| w[0] == w[1]));
        let m: serde_json::Value = serde_json::from_str(&manifests[0]).unwrap();
        let mut blobs: Vec<String> = vec![m["config"]["digest"].as_str().unwrap().to_string()];
        for l in m["layers"].as_array().unwrap() {
            blobs.push(l["digest"].as_str().unwrap().to_string());
        }
        for blob in &blobs {
            let bodies: Vec<Vec<u8>> = fleet.servers[1..]
                .iter()
                .map(|s| {
                    let token = s.registry_token("repository:team/ha:pull");
                    let (status, bytes) = slipway_test_support::http_bytes(
                        s.port,
                        "GET",
                        &format!("/v2/team/ha/blobs/{blob}"),
                        &[("Authorization", &format!("Bearer {token}"))],
                    );
                    assert_eq!(status, 200, "blob {blob}");
                    bytes
                })
                .collect();
            assert!(
                bodies.windows(2).all(|w| w[0] == w[1]),
                "blob {blob} differs"
            );
            use sha2::Digest as _;
            let sum = format!("sha256:{}", hex::encode(sha2::Sha256::digest(&bodies[0])));
            assert_eq!(&sum, blob);
        }
        assert!(digest.starts_with("sha256:"));
    }
    // Cron fired at most once per minute, whichever replica held its lease.
    let fired = fleet
        .sql("SELECT to_char(created_at, 'HH24:MI') FROM builds WHERE config = 'cron' ORDER BY id");
    let minutes: Vec<&str> = fired.lines().map(str::trim).collect();
    let mut distinct = minutes.clone();
    distinct.dedup();
    assert_eq!(minutes, distinct, "a minute fired twice");
    assert!(!minutes.is_empty(), "the cron trigger never fired");
}

#[test]
fn an_all_in_one_server_moves_to_postgresql_with_everything_and_its_tokens() {
    require_tools();
    let mut old = Server::start(Path::new(BIN), 1);
    let base = old.push_base_image();
    let repo = GitRepo::new(&[(
        "Dockerfile",
        &format!("FROM {base}\nLABEL name=team/moved version=2.0 component=moved-container\n"),
    )]);
    old.apply(&format!(
        "name: moved\nsource: {{ url: {} }}\noutput: team/moved\n",
        repo.path().display()
    ));
    let image = format!("{}/team/moved", old.host());
    let id = old.queue(&repo, &image, &[]);
    assert_eq!(old.wait_final(id)["phase"], "Complete");
    let out = old.cli(&["token", "create", "--name", "ci", "--role", "viewer", "-q"]);
    assert!(out.status.success());
    let viewer = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let admin = old.token();
    let builds_before = old.cli_json(&["builds", "-o", "json"]);
    let build_before = old.build_json(id);
    let log_before = old.log(id);
    assert!(log_before.contains("preparing build"), "{log_before}");
    let tags_before = old.registry(
        "GET",
        "/v2/team/moved/tags/list",
        "repository:team/moved:pull",
    );
    assert_eq!(tags_before.status, 200);
    let manifest_before = old.registry(
        "GET",
        "/v2/team/moved/manifests/latest",
        "repository:team/moved:pull",
    );
    assert_eq!(manifest_before.status, 200);
    old.sigterm();

    let pg = Postgres::start();
    let url = pg.create_database("moved");
    // Refused while the server runs: tested by starting it again.
    old.start_again();
    let running = std::process::Command::new(BIN)
        .args(["migrate", "--from"])
        .arg(old.data_dir())
        .args(["--to", &url])
        .output()
        .unwrap();
    assert!(!running.status.success());
    assert!(String::from_utf8_lossy(&running.stderr).contains("stop it first"));
    old.sigterm();
    // The servers' config: the database, the old key, the blobs in S3.
    let s3 = S3Server::start();
    s3.create_bucket("moved");
    let config = format!(
        "database: {{url: '{url}'}}\nsecret_key_file: {}\nsigning_key_file: {}\nregistry_storage:\n  backend: s3\n  bucket: moved\n  endpoint: {}\n  allow_http: true\n  access_key_id: {{file: {}}}\n  secret_access_key: {{file: {}}}\n",
        old.data_dir().join("secret-key").display(),
        old.data_dir().join("signing-key").display(),
        s3.endpoint(),
        s3.access_key_id_file().display(),
        s3.secret_access_key_file().display()
    );
    let config_file = old.home.path().join("new-config.yaml");
    std::fs::write(&config_file, &config).unwrap();
    let moved = std::process::Command::new(BIN)
        .args(["migrate", "--from"])
        .arg(old.data_dir())
        .args(["--to", &url, "-o", "json", "--config"])
        .arg(&config_file)
        .output()
        .unwrap();
    assert!(
        moved.status.success(),
        "{}",
        String::from_utf8_lossy(&moved.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&moved.stdout).unwrap();
    assert_eq!(report["tables"]["builds"], 1, "{report}");
    assert_eq!(report["tables"]["build logs"], 1, "{report}");
    assert!(
        report["tables"]["api_tokens"].as_u64().unwrap() >= 2,
        "{report}"
    );
    assert!(report["blobs"].as_u64().unwrap() >= 2, "{report}");
    // Into a database that holds builds already: refused, nothing changed.
    let again = std::process::Command::new(BIN)
        .args(["migrate", "--from"])
        .arg(old.data_dir())
        .args(["--to", &url])
        .output()
        .unwrap();
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("empty database"));

    // A server on PostgreSQL with the old key and the bucket: the old
    // tokens work, and everything is there.
    let new = Server::start_with_config(Path::new(BIN), 1, Some(&config));
    assert!(
        !new.data_dir().join("admin-token").exists(),
        "no new admin token made"
    );
    let get = |token: &str, path: &str| {
        slipway_test_support::http(new.port, "GET", path, Some(token), None)
    };
    let builds = get(&admin, "/api/v1/builds");
    assert_eq!(builds.status, 200, "{}", builds.body);
    let after: serde_json::Value = builds.json();
    assert_eq!(after[0]["id"], builds_before[0]["id"]);
    assert_eq!(after[0]["phase"], "Complete");
    assert_eq!(get(&viewer, &format!("/api/v1/builds/{id}")).status, 200);
    let configs = get(&viewer, "/api/v1/configs");
    assert!(configs.body.contains("\"moved\""), "{}", configs.body);
    let b = get(&admin, &format!("/api/v1/builds/{id}")).json();
    assert_eq!(b["events"], build_before["events"]);
    // Its log moved into the database with it.
    let log = get(&admin, &format!("/api/v1/builds/{id}/log"));
    assert_eq!(log.status, 200);
    assert_eq!(log.body, log_before);
    assert_eq!(
        b["spec"], build_before["spec"],
        "the sealed spec reads with the old key"
    );
    // The registry's tags (the blobs move with object storage).
    std::fs::copy(
        old.data_dir().join("admin-token"),
        new.data_dir().join("admin-token"),
    )
    .unwrap();
    let tags = new.registry(
        "GET",
        "/v2/team/moved/tags/list",
        "repository:team/moved:pull",
    );
    assert_eq!(tags.status, 200, "{}", tags.body);
    assert_eq!(tags.json(), tags_before.json());
    // The image pulls from the new server, its blobs from the bucket.
    let manifest = new.registry(
        "GET",
        "/v2/team/moved/manifests/latest",
        "repository:team/moved:pull",
    );
    assert_eq!(manifest.body, manifest_before.body);
    let m = manifest.json();
    let token = new.registry_token("repository:team/moved:pull");
    for l in m["layers"].as_array().unwrap() {
        let digest = l["digest"].as_str().unwrap();
        let (status, bytes) = slipway_test_support::http_bytes(
            new.port,
            "GET",
            &format!("/v2/team/moved/blobs/{digest}"),
            &[("Authorization", &format!("Bearer {token}"))],
        );
        assert_eq!(status, 200);
        use sha2::Digest as _;
        assert_eq!(
            format!("sha256:{}", hex::encode(sha2::Sha256::digest(&bytes))),
            digest
        );
    }
    // New builds number on after the moved ones.
    let next = new.queue(&repo, &format!("{}/team/moved", new.host()), &["--scratch"]);
    assert!(next > id);
}
