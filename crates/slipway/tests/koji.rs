//! Builds into a real Koji hub (Koji 1.35's own hub code on a private
//! PostgreSQL: `../shared/fixtures/koji-hub`), end to end with the real
//! binary and buildah: reserved before they are queued, imported
//! automatically once complete (single- and two-platform, placeholder and
//! docker-archive uploads), refunded when they fail, an NVR Koji has
//! refused before the build starts, a hub that is down when the build ends
//! imported into once it is back, and a hub that refuses leaving the build
//! Complete with the import Failed and the hub's words shown.

use slipway_test_support::{GitRepo, KojiHub, Server, require_tools, stderr, stdout};
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_slipway");

const TWO_PLATFORMS: &str = "clusters:\n  x86_64:\n  - name: amd\n    max_concurrent_builds: 2\n  aarch64:\n  - name: arm\n    max_concurrent_builds: 2\n";

/// A TCP forwarder to the hub that can be switched off: while off, every
/// connection is closed at once (the hub "is down"), so the server's hub
/// URL stays the same while the hub comes and goes.
struct Switch {
    port: u16,
    up: Arc<AtomicBool>,
}

impl Switch {
    fn to(hub_url: &str) -> Switch {
        let target: String = hub_url
            .trim_start_matches("http://")
            .split('/')
            .next()
            .unwrap()
            .to_string();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let up = Arc::new(AtomicBool::new(true));
        let on = up.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(client) = conn else { continue };
                if !on.load(Ordering::SeqCst) {
                    let _ = client.shutdown(Shutdown::Both);
                    continue;
                }
                let Ok(server) = TcpStream::connect(&target) else {
                    continue;
                };
                let (c2, s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
                std::thread::spawn(move || pipe(client, server));
                std::thread::spawn(move || pipe(s2, c2));
            }
        });
        Switch { port, up }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/kojihub", self.port)
    }

    fn set(&self, up: bool) {
        self.up.store(up, Ordering::SeqCst);
    }
}

fn pipe(mut from: TcpStream, mut to: TcpStream) {
    let mut buf = [0u8; 64 * 1024];
    while let Ok(n) = from.read(&mut buf) {
        if n == 0 || to.write_all(&buf[..n]).is_err() {
            break;
        }
    }
    let _ = to.shutdown(Shutdown::Write);
}

struct Env {
    hub: KojiHub,
    switch: Switch,
    server: Server,
    _dir: tempfile::TempDir,
}

/// A hub, and a server importing into it through the switch with `koji`
/// settings `extra` (YAML lines indented by two spaces).
fn env(extra: &str) -> Env {
    require_tools();
    let hub = KojiHub::start();
    let switch = Switch::to(&hub.url);
    let dir = tempfile::tempdir().unwrap();
    let clusters = dir.path().join("clusters.yaml");
    std::fs::write(&clusters, TWO_PLATFORMS).unwrap();
    let password = dir.path().join("koji-password");
    std::fs::write(&password, format!("{}\n", hub.env["KOJI_PASSWORD"])).unwrap();
    std::fs::set_permissions(
        &password,
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .unwrap();
    let config = format!(
        "clusters_file: {}\nkoji:\n  hub_url: {}\n  user: {}\n  password_file: {}\n{extra}",
        clusters.display(),
        switch.url(),
        hub.env["KOJI_USER"],
        password.display()
    );
    let server = Server::start_with_config(Path::new(BIN), 2, Some(&config));
    Env {
        hub,
        switch,
        server,
        _dir: dir,
    }
}

impl Env {
    /// Wait for build `id`'s Koji import to reach `state`; its JSON.
    fn import_state(&self, id: i64, state: &str) -> serde_json::Value {
        self.server.wait_until(
            &format!("build {id}'s Koji import becoming {state}"),
            Duration::from_secs(120),
            || {
                let out = self
                    .server
                    .cli(&["koji", "status", &id.to_string(), "-o", "json"]);
                let v: serde_json::Value = serde_json::from_str(&stdout(&out)).ok()?;
                (v["state"] == state).then_some(v)
            },
        )
    }

    fn complete(&self, repo: &GitRepo, image: &str, extra: &[&str]) -> serde_json::Value {
        let id = self.server.queue(repo, image, extra);
        let b = self.server.wait_final(id);
        assert_eq!(b["phase"], "Complete", "{b}\nlog:\n{}", self.server.log(id));
        b
    }

    /// Koji build `koji_id`'s archives' buildroots: (arch, content generator).
    fn buildroots(&self, koji_id: i64) -> Vec<(String, String)> {
        let archives: serde_json::Value = serde_json::from_str(&self.hub.cli(&[
            "call",
            "--json-output",
            "listArchives",
            &format!("buildID={koji_id}"),
        ]))
        .unwrap();
        archives
            .as_array()
            .unwrap()
            .iter()
            .map(|a| {
                let root: serde_json::Value = serde_json::from_str(&self.hub.cli(&[
                    "call",
                    "--json-output",
                    "getBuildroot",
                    &a["buildroot_id"].to_string(),
                ]))
                .unwrap();
                (
                    root["container_arch"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string(),
                    root["cg_name"].as_str().unwrap_or_default().to_string(),
                )
            })
            .collect()
    }

    /// The files of Koji build `nvr` under the hub's top directory.
    fn koji_files(&self, nvr: &str, sub: &str) -> Vec<String> {
        let (rest, release) = nvr.rsplit_once('-').unwrap();
        let (name, version) = rest.rsplit_once('-').unwrap();
        let dir = Path::new(&self.hub.env["KOJI_TOPDIR"])
            .join("packages")
            .join(name)
            .join(version)
            .join(release)
            .join(sub);
        let mut names: Vec<String> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }
}

fn events(b: &serde_json::Value) -> String {
    b["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["message"].as_str())
        .collect::<Vec<_>>()
        .join("\n")
}

fn scratch_repo(component: &str) -> GitRepo {
    GitRepo::new(&[
        (
            "Dockerfile",
            &format!(
                "FROM scratch\nLABEL name=test/{component} version=1.0 component={component}\nCOPY hello.txt /hello.txt\n"
            ),
        ),
        ("hello.txt", "hello from every platform\n"),
    ])
}

#[test]
fn builds_are_reserved_imported_refunded_and_retried_against_a_real_hub() {
    let e = env("  owner_map:\n    slipway-one: kojiadmin\n");
    let image = |name: &str| format!("{}/koji/{name}:1", e.server.host());

    // One platform: reserved before it is queued, imported once complete.
    let one = scratch_repo("slipway-one");
    let b = e.complete(&one, &image("one"), &[]);
    let id = b["id"].as_i64().unwrap();
    let ev = events(&b);
    assert!(ev.contains("reserved slipway-one-1.0-1 in Koji"), "{ev}");
    let imported = e.import_state(id, "imported");
    assert_eq!(imported["nvr"], "slipway-one-1.0-1");
    let koji_id = imported["koji_build_id"].as_i64().unwrap();
    assert!(
        ev.contains(&format!("(Koji build {koji_id})")),
        "the import went into the reservation: {ev}"
    );
    let info = e.hub.cli(&["buildinfo", "slipway-one-1.0-1"]);
    assert!(info.contains("State: COMPLETE"), "{info}");
    assert!(info.contains("Built by: kojiadmin"), "owner_map: {info}");
    assert_eq!(
        e.koji_files("slipway-one-1.0-1", "data/logs"),
        ["build.log"]
    );
    let images = e.koji_files("slipway-one-1.0-1", "images");
    assert_eq!(images.len(), 1, "{images:?}");
    assert!(
        images[0].starts_with("docker-image-") && images[0].ends_with(".x86_64.tar.gz"),
        "{images:?}"
    );
    assert!(info.contains(&images[0]), "{info}");
    // The placeholder holds a README naming the image by digest.
    let topdir = Path::new(&e.hub.env["KOJI_TOPDIR"]);
    let archive = topdir
        .join("packages/slipway-one/1.0/1/images")
        .join(&images[0]);
    let listing = slipway_test_support::run_ok("tar", &["-xzOf", &archive.display().to_string()]);
    assert!(listing.contains("@sha256:"), "{listing}");
    // The buildroot is Slipway's.
    assert_eq!(
        e.buildroots(koji_id),
        [("x86_64".to_string(), "slipway".to_string())]
    );
    // `slipway show` and `koji status` say it.
    let shown = stdout(&e.server.cli(&["show", &id.to_string()]));
    assert!(
        shown.contains(&format!(
            "Koji import imported after 1 attempt, as slipway-one-1.0-1 (Koji build {koji_id})"
        )),
        "{shown}"
    );
    let shown = e.server.cli_json(&["show", &id.to_string(), "-o", "json"]);
    assert_eq!(shown["koji"]["state"], "imported", "{shown}");
    // The same NVR is not imported twice.
    let again = e.server.cli(&["koji", "import", &id.to_string()]);
    assert!(!again.status.success());
    assert!(
        stderr(&again).contains("is in Koji already, as slipway-one-1.0-1"),
        "{}",
        stderr(&again)
    );

    // A scratch build is a throw-away: never reserved, never imported.
    let s = e.complete(&one, &image("one-scratch"), &["--scratch"]);
    let sid = s["id"].as_i64().unwrap().to_string();
    assert!(!events(&s).contains("Koji"), "{}", events(&s));
    let status = e.server.cli(&["koji", "status", &sid]);
    assert!(!status.status.success());
    assert!(
        stderr(&status).contains("has no Koji import"),
        "{}",
        stderr(&status)
    );
    let forced = e.server.cli(&["koji", "import", &sid]);
    assert!(!forced.status.success());
    assert!(
        stderr(&forced).contains("scratch builds are never imported into Koji"),
        "{}",
        stderr(&forced)
    );

    // Two platforms: one archive per platform, two buildroots, the index.
    let b = e.complete(
        &scratch_repo("slipway-two"),
        &image("two"),
        &["--platform", "x86_64", "--platform", "aarch64"],
    );
    let id2 = b["id"].as_i64().unwrap();
    let two = e.import_state(id2, "imported");
    let info = e.hub.cli(&["buildinfo", "slipway-two-1.0-1"]);
    assert!(info.contains("State: COMPLETE"), "{info}");
    assert!(
        info.contains("'index'"),
        "the image index is in the build's extra: {info}"
    );
    let images = e.koji_files("slipway-two-1.0-1", "images");
    assert_eq!(images.len(), 2, "{images:?}");
    assert!(
        images.iter().any(|f| f.ends_with(".x86_64.tar.gz")),
        "{images:?}"
    );
    assert!(
        images.iter().any(|f| f.ends_with(".aarch64.tar.gz")),
        "{images:?}"
    );
    let mut roots = e.buildroots(two["koji_build_id"].as_i64().unwrap());
    roots.sort();
    assert_eq!(
        roots,
        [
            ("aarch64".to_string(), "slipway".to_string()),
            ("x86_64".to_string(), "slipway".to_string())
        ]
    );
    assert!(
        e.koji_files("slipway-two-1.0-1", "data/logs")
            .contains(&"build.log".to_string())
    );

    // The next build of the same version gets Koji's next release.
    let b = e.complete(&one, &image("one"), &[]);
    assert!(
        events(&b).contains("reserved slipway-one-1.0-2 in Koji"),
        "{}",
        events(&b)
    );
    e.import_state(b["id"].as_i64().unwrap(), "imported");

    // An NVR Koji has: the build fails before it starts, naming Koji's build.
    let id = e.server.queue(&one, &image("one"), &["--release", "1"]);
    let b = e.server.wait_final(id);
    assert_eq!(b["phase"], "Failed", "{b}");
    let reason = b["reason"].as_str().unwrap();
    assert!(
        reason.contains(&format!(
            "slipway-one-1.0-1 is Koji build {koji_id} (COMPLETE)"
        )),
        "{reason}"
    );
    assert!(
        b["workers"].as_array().is_none_or(Vec::is_empty),
        "never started: {b}"
    );

    // A reserved build that fails is refunded: FAILED in Koji.
    let base = e.server.push_base_image();
    let failing = GitRepo::new(&[(
        "Dockerfile",
        &format!(
            "FROM {base}\nLABEL name=test/f version=1.0 component=slipway-fails\nRUN exit 3\n"
        ),
    )]);
    let id = e.server.queue(&failing, &image("fails"), &[]);
    assert_eq!(e.server.wait_final(id)["phase"], "Failed");
    let refunded = e.import_state(id, "refunded");
    assert_eq!(refunded["nvr"], "slipway-fails-1.0-1");
    let info = e.hub.cli(&["buildinfo", "slipway-fails-1.0-1"]);
    assert!(info.contains("State: FAILED"), "{info}");

    // The hub is down when the build ends: the import waits, and happens
    // once the hub is back.
    let slow = GitRepo::new(&[(
        "Dockerfile",
        &format!(
            "FROM {base}\nLABEL name=test/s version=1.0 component=slipway-later\nRUN sleep 6\n"
        ),
    )]);
    let id = e.server.queue(&slow, &image("later"), &[]);
    e.server
        .wait_until("the reservation", Duration::from_secs(120), || {
            events(&e.server.build_json(id))
                .contains("reserved slipway-later-1.0-1")
                .then_some(())
        });
    e.switch.set(false);
    assert_eq!(e.server.wait_final(id)["phase"], "Complete");
    let waiting = e
        .server
        .wait_until("a postponed import", Duration::from_secs(60), || {
            let v = e
                .server
                .cli_json(&["koji", "status", &id.to_string(), "-o", "json"]);
            (v["attempts"].as_u64() >= Some(2)).then_some(v)
        });
    assert_eq!(waiting["state"], "pending", "{waiting}");
    assert!(
        waiting["message"]
            .as_str()
            .unwrap()
            .contains("cannot reach the Koji hub"),
        "{waiting}"
    );
    assert!(waiting["next_attempt_at"].is_string(), "{waiting}");
    e.switch.set(true);
    e.import_state(id, "imported");
    let info = e.hub.cli(&["buildinfo", "slipway-later-1.0-1"]);
    assert!(info.contains("State: COMPLETE"), "{info}");

    // A hub that refuses (the content generator's access revoked): the
    // build is Complete, the import Failed with the hub's words.
    e.hub.cli(&["revoke-cg-access", "slipway", "slipway"]);
    let b = e.complete(&scratch_repo("slipway-refused"), &image("refused"), &[]);
    let id = b["id"].as_i64().unwrap();
    let failed = e.import_state(id, "failed");
    let message = failed["message"].as_str().unwrap();
    assert!(message.contains("the Koji hub refused"), "{message}");
    assert!(message.contains("slipway"), "{message}");
    assert_eq!(e.server.build_json(id)["phase"], "Complete");
    let status = stdout(&e.server.cli(&["koji", "status", &id.to_string()]));
    assert!(status.contains("Koji import failed"), "{status}");
    assert!(status.contains(message), "{status}");
    assert!(
        status.contains(&format!("slipway koji import {id}")),
        "{status}"
    );
    // Access back: the retry by hand imports it.
    e.hub.cli(&["grant-cg-access", "slipway", "slipway"]);
    let queued = e
        .server
        .cli_json(&["koji", "import", &id.to_string(), "-o", "json"]);
    assert_eq!(queued["state"], "pending", "{queued}");
    e.import_state(id, "imported");
}

#[test]
fn docker_archives_with_md5_checksums() {
    let e = env("  upload_mode: archive\n  checksum: md5\n");
    let base = e.server.push_base_image();
    let repo = GitRepo::new(&[(
        "Dockerfile",
        &format!(
            "FROM {base}\nLABEL name=test/a version=2.0 component=slipway-archive\nRUN echo hi > /hi\n"
        ),
    )]);
    let b = e.complete(&repo, &format!("{}/koji/archive:1", e.server.host()), &[]);
    let id = b["id"].as_i64().unwrap();
    let imported = e.import_state(id, "imported");
    let images = e.koji_files("slipway-archive-2.0-1", "images");
    assert_eq!(images.len(), 1, "{images:?}");
    // A docker-archive: manifest.json and the layers, gzipped.
    let archive = Path::new(&e.hub.env["KOJI_TOPDIR"])
        .join("packages/slipway-archive/2.0/1/images")
        .join(&images[0]);
    let listing = slipway_test_support::run_ok("tar", &["-tzf", &archive.display().to_string()]);
    assert!(listing.lines().any(|l| l == "manifest.json"), "{listing}");
    let archives = e.hub.cli(&[
        "call",
        "--json-output",
        "listArchives",
        &format!("buildID={}", imported["koji_build_id"]),
    ]);
    assert!(
        archives.contains("\"checksum_type\": 0"),
        "md5 is Koji's checksum type 0: {archives}"
    );
    let md5 = slipway_test_support::run_ok("md5sum", &[&archive.display().to_string()]);
    let md5 = md5.split_whitespace().next().unwrap();
    assert!(archives.contains(md5), "{archives}");
    // Imported: the server keeps no copy.
    assert!(
        !e.server
            .data_dir()
            .join("koji")
            .join(id.to_string())
            .exists()
    );
}
