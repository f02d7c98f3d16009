//! A real `slipway serve` with its own data dir, port and HOME, and a CLI
//! bound to it.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::{
    GitRepo, HttpResponse, free_port, http, run_ok, stderr, stdout, wait_for_port, workspace_root,
};

/// A running `slipway serve` with its own data dir, port and HOME.
pub struct Server {
    pub bin: PathBuf,
    pub port: u16,
    pub home: tempfile::TempDir,
    pub workers: usize,
    /// YAML written to `<home>/config.yaml` and passed with `--config`.
    pub config: Option<String>,
    child: Option<Child>,
}

impl Server {
    pub fn start(bin: &Path, workers: usize) -> Server {
        Self::start_with_config(bin, workers, None)
    }

    pub fn start_with_config(bin: &Path, workers: usize, config: Option<&str>) -> Server {
        Self::start_with_setup(bin, workers, config, |_| {})
    }

    /// Start a server on `port` after `setup` has prepared its HOME (a
    /// data dir whose images name that port).
    pub fn start_on_port(
        bin: &Path,
        workers: usize,
        port: u16,
        setup: impl FnOnce(&Path),
    ) -> Server {
        let mut s = Server::unstarted(bin, workers);
        s.port = port;
        setup(s.home.path());
        s.spawn();
        s
    }

    /// Start a server whose config is made knowing its port and HOME
    /// (certificates, a cluster file that names its URL).
    pub fn start_configured(
        bin: &Path,
        workers: usize,
        make_config: impl FnOnce(u16, &Path) -> String,
    ) -> Server {
        let mut s = Server::unstarted(bin, workers);
        s.config = Some(make_config(s.port, s.home.path()));
        s.spawn();
        s
    }

    /// Start a server after `setup` has prepared its HOME (say, mounted a
    /// small file system where its data dir goes).
    pub fn start_with_setup(
        bin: &Path,
        workers: usize,
        config: Option<&str>,
        setup: impl FnOnce(&Path),
    ) -> Server {
        let mut s = Server::unstarted(bin, workers);
        s.config = config.map(str::to_string);
        setup(s.home.path());
        s.spawn();
        s
    }

    fn unstarted(bin: &Path, workers: usize) -> Server {
        Server {
            bin: bin.to_path_buf(),
            port: free_port(),
            home: tempfile::tempdir().expect("tempdir"),
            workers,
            config: None,
            child: None,
        }
    }

    /// `127.0.0.1:<port>`: the embedded registry's host.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn data_dir(&self) -> PathBuf {
        self.home.path().join("data")
    }

    fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.home.path().join("server.log"))
            .expect("server log");
        let mut cmd = Command::new(&self.bin);
        cmd.args(["serve", "--listen", &format!("127.0.0.1:{}", self.port)]);
        if let Some(c) = &self.config {
            let path = self.home.path().join("config.yaml");
            std::fs::write(&path, c).expect("write server config");
            cmd.arg("--config").arg(path);
        }
        let mut child = cmd
            .arg("--data-dir")
            .arg(self.data_dir())
            .args(["--workers", &self.workers.to_string()])
            .env("HOME", self.home.path())
            .env_remove("SLIPWAY_URL")
            .env_remove("SLIPWAY_TOKEN")
            .env_remove("SLIPWAY_TOKEN_FILE")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start slipway serve");
        wait_for_port(self.port, "slipway serve", &mut child);
        let deadline = Instant::now() + Duration::from_secs(30);
        while http(self.port, "GET", "/healthz", None, None).status != 200 {
            assert!(Instant::now() < deadline, "healthz never answered 200");
            std::thread::sleep(Duration::from_millis(50));
        }
        self.child = Some(child);
    }

    /// The server's process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Copy an image (from a loopback peer registry) into this server's
    /// embedded registry with skopeo, logged in with the admin token.
    pub fn copy_in(&self, src: &str, dest: &str) {
        let creds = format!("ci:{}", self.token());
        run_ok(
            "skopeo",
            &[
                "copy",
                "--quiet",
                "--src-tls-verify=false",
                "--dest-tls-verify=false",
                "--dest-creds",
                &creds,
                &format!("docker://{src}"),
                &format!("docker://{dest}"),
            ],
        );
    }

    pub fn server_log(&self) -> String {
        std::fs::read_to_string(self.home.path().join("server.log")).unwrap_or_default()
    }

    /// SIGKILL the server, as a crash would.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Send SIGTERM and wait for the server to exit; returns how long it took.
    pub fn sigterm(&mut self) -> Duration {
        let start = Instant::now();
        if let Some(mut c) = self.child.take() {
            let _ = Command::new("kill")
                .args(["-TERM", &c.id().to_string()])
                .status();
            loop {
                if let Ok(Some(_)) = c.try_wait() {
                    break;
                }
                if start.elapsed() > Duration::from_secs(60) {
                    let _ = c.kill();
                    let _ = c.wait();
                    panic!("slipway serve ignored SIGTERM for 60s");
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        start.elapsed()
    }

    /// Push the busybox base image into this server's embedded registry
    /// (logged in with the admin token) as `slipway/busybox:latest`;
    /// returns its reference.
    pub fn push_base_image(&self) -> String {
        let reference = format!("{}/slipway/busybox:latest", self.host());
        let out = Command::new("bash")
            .arg(workspace_root().join("scripts/make-base-image.sh"))
            .arg(&reference)
            .env("SLIPWAY_TOKEN_FILE", self.data_dir().join("admin-token"))
            .output()
            .expect("run make-base-image.sh");
        assert!(
            out.status.success(),
            "make-base-image.sh failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        reference
    }

    /// Start the server again on the same data dir and port.
    pub fn start_again(&mut self) {
        assert!(self.child.is_none(), "server still running");
        self.spawn();
    }

    pub fn restart(&mut self) {
        self.kill9();
        self.spawn();
    }

    pub fn token(&self) -> String {
        std::fs::read_to_string(self.data_dir().join("admin-token"))
            .expect("admin token file")
            .trim()
            .to_string()
    }

    /// Run the slipway CLI against this server (found through the state file in HOME).
    /// Run the CLI with `args` (ending in `-o json`), require success and
    /// parse what it printed.
    pub fn cli_json(&self, args: &[&str]) -> serde_json::Value {
        let out = self.cli(args);
        assert!(out.status.success(), "slipway {args:?}: {}", stderr(&out));
        serde_json::from_str(&stdout(&out))
            .unwrap_or_else(|e| panic!("slipway {args:?} printed no JSON ({e}): {}", stdout(&out)))
    }

    pub fn cli(&self, args: &[&str]) -> Output {
        self.cli_cmd(args).output().expect("run slipway")
    }

    pub fn cli_cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(&self.bin);
        c.args(args)
            .env("HOME", self.home.path())
            .env_remove("SLIPWAY_URL")
            .env_remove("SLIPWAY_TOKEN")
            .env_remove("SLIPWAY_TOKEN_FILE")
            .env_remove("SLIPWAY_CA_FILE")
            .current_dir(self.home.path());
        c
    }

    /// A registry token for `scope` (`repository:NAME:pull,push,delete`),
    /// traded at `/auth/token` for the admin token.
    pub fn registry_token(&self, scope: &str) -> String {
        use base64::Engine;
        let basic =
            base64::engine::general_purpose::STANDARD.encode(format!("slipway:{}", self.token()));
        let r = crate::http_raw(
            self.port,
            "GET",
            &format!("/auth/token?service=slipway&scope={scope}"),
            &[("Authorization", &format!("Basic {basic}"))],
            b"",
        );
        assert_eq!(r.status, 200, "{}", r.body);
        r.json()["token"].as_str().expect("token").to_string()
    }

    /// A registry request with a registry token for `scope`.
    pub fn registry(&self, method: &str, path: &str, scope: &str) -> HttpResponse {
        let token = self.registry_token(scope);
        crate::http_raw(
            self.port,
            method,
            path,
            &[("Authorization", &format!("Bearer {token}"))],
            b"",
        )
    }

    pub fn api(&self, method: &str, path: &str, body: Option<&str>) -> HttpResponse {
        http(self.port, method, path, Some(&self.token()), body)
    }

    /// `slipway build REPO --tag IMAGE --no-follow -o json extra…`: queue a
    /// build through the CLI and return its id.
    pub fn queue(&self, repo: &GitRepo, image: &str, extra: &[&str]) -> i64 {
        let path = repo.path().display().to_string();
        let mut args = vec![
            "build",
            path.as_str(),
            "--tag",
            image,
            "--no-follow",
            "-o",
            "json",
        ];
        args.extend_from_slice(extra);
        let out = self.cli(&args);
        assert!(out.status.success(), "queue failed: {}", stderr(&out));
        let v: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("build JSON");
        v["id"].as_i64().expect("id")
    }

    /// `slipway apply -f` a YAML text of image configs; panics on failure.
    pub fn apply(&self, yaml: &str) {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("configs.yaml");
        std::fs::write(&file, yaml).expect("write configs");
        let out = self.cli(&["apply", "-f", &file.display().to_string()]);
        assert!(out.status.success(), "apply failed: {}", stderr(&out));
    }

    pub fn build_json(&self, id: i64) -> serde_json::Value {
        let r = self.api("GET", &format!("/api/v1/builds/{id}"), None);
        assert_eq!(r.status, 200, "{}", r.body);
        r.json()
    }

    /// Wait until the build's phase satisfies `pred`, returning the build.
    pub fn wait_build(
        &self,
        id: i64,
        what: &str,
        pred: impl Fn(&str) -> bool,
    ) -> serde_json::Value {
        self.wait_until(
            &format!("build {id} becoming {what}"),
            Duration::from_secs(180),
            || {
                let b = self.build_json(id);
                pred(b["phase"].as_str().unwrap_or("")).then_some(b)
            },
        )
    }

    /// Poll `probe` until it returns something; fail with the server log
    /// after `within`.
    pub fn wait_until<T>(&self, what: &str, within: Duration, probe: impl Fn() -> Option<T>) -> T {
        let deadline = Instant::now() + within;
        loop {
            if let Some(v) = probe() {
                return v;
            }
            assert!(
                Instant::now() < deadline,
                "{what} did not happen within {within:?}\nserver log:\n{}",
                self.server_log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn wait_final(&self, id: i64) -> serde_json::Value {
        self.wait_build(id, "final", |p| {
            matches!(p, "Complete" | "Failed" | "Error" | "Cancelled" | "Skipped")
        })
    }

    pub fn log(&self, id: i64) -> String {
        self.api("GET", &format!("/api/v1/builds/{id}/log"), None)
            .body
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill9();
        if std::thread::panicking() {
            self.print_evidence();
        }
    }
}

impl Server {
    /// For a failed test: the end of the server's log and of the newest
    /// build logs, so a failure seen once (in CI) can be understood.
    fn print_evidence(&self) {
        fn tail(text: &str, n: usize) -> String {
            let lines: Vec<&str> = text.lines().collect();
            lines[lines.len().saturating_sub(n)..].join("\n")
        }
        eprintln!(
            "---- slipway serve's log (last 40 lines) ----\n{}",
            tail(&self.server_log(), 40)
        );
        let mut logs: Vec<(std::time::SystemTime, PathBuf)> =
            std::fs::read_dir(self.data_dir().join("logs"))
                .into_iter()
                .flatten()
                .flatten()
                .filter_map(|e| Some((e.metadata().ok()?.modified().ok()?, e.path())))
                .collect();
        logs.sort();
        for (_, path) in logs.iter().rev().take(3) {
            let text = std::fs::read_to_string(path).unwrap_or_default();
            eprintln!(
                "---- {} (last 30 lines) ----\n{}",
                path.display(),
                tail(&text, 30)
            );
        }
    }
}
