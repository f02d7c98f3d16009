//! A private PostgreSQL server for tests (Debian's `postgresql`, installed
//! by `scripts/setup-debian.sh`): a fresh cluster in a temp dir on a free
//! loopback port, byte-order text (`--locale=C.UTF-8`), trust
//! authentication on loopback only, `fsync=off`; stopped and removed on
//! drop. As root it runs as the `postgres` user (initdb refuses root).
//!
//! The PostgreSQL store (issue 24) is tested against it.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Postgres {
    pub port: u16,
    child: Child,
    dir: tempfile::TempDir,
}

/// The newest `/usr/lib/postgresql/*/bin`.
fn bin_dir() -> PathBuf {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|d| d.flatten().map(|e| e.path().join("bin")).collect())
        .unwrap_or_default();
    dirs.retain(|d| d.join("initdb").is_file());
    dirs.sort_by_key(|d| {
        d.parent()
            .and_then(|v| v.file_name())
            .and_then(|v| v.to_str())
            .and_then(|v| v.parse::<u32>().ok())
            .unwrap_or(0)
    });
    dirs.pop().unwrap_or_else(|| {
        panic!("PostgreSQL is not installed; run `bash scripts/test.sh` (it installs Debian's postgresql)")
    })
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// `program args…`, as `postgres` when this process is root (`setpriv`
/// execs it: the child's pid is the program's, so it can be signalled).
fn as_owner(program: &Path) -> Command {
    if is_root() {
        let mut c = Command::new("setpriv");
        c.args([
            "--reuid=postgres",
            "--regid=postgres",
            "--init-groups",
            "--",
        ])
        .arg(program);
        c
    } else {
        Command::new(program)
    }
}

impl Postgres {
    pub fn start() -> Postgres {
        let bin = bin_dir();
        let dir = tempfile::Builder::new()
            .prefix("slipway-pg-")
            .tempdir()
            .expect("temp dir");
        let data = dir.path().join("data");
        if is_root() {
            let ok = Command::new("chown")
                .args(["postgres:postgres", &dir.path().display().to_string()])
                .status()
                .is_ok_and(|s| s.success());
            assert!(
                ok,
                "cannot hand {} to the postgres user",
                dir.path().display()
            );
        }
        let out = as_owner(&bin.join("initdb"))
            .args(["-D", &data.display().to_string()])
            .args([
                "-U",
                "slipway",
                "--auth=trust",
                "-E",
                "UTF8",
                "--locale=C.UTF-8",
            ])
            .current_dir("/")
            .output()
            .expect("run initdb");
        assert!(
            out.status.success(),
            "initdb failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let port = crate::free_port();
        let child = as_owner(&bin.join("postgres"))
            .args(["-D", &data.display().to_string()])
            .args(["-p", &port.to_string()])
            .args(["-k", &dir.path().display().to_string()])
            .args(["-c", "listen_addresses=127.0.0.1"])
            .args(["-c", "fsync=off", "-c", "synchronous_commit=off"])
            .args(["-c", "full_page_writes=off", "-c", "max_connections=200"])
            .current_dir("/")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(
                std::fs::File::create(dir.path().join("log")).map_or(Stdio::null(), Stdio::from),
            )
            .spawn()
            .expect("start postgres");
        let pg = Postgres { port, child, dir };
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "PostgreSQL did not listen within 30 s: {}",
                pg.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        // Listening is not quite ready: wait until it answers.
        let isready = bin.join("pg_isready");
        while !Command::new(&isready)
            .args(["-h", "127.0.0.1", "-p", &port.to_string(), "-U", "slipway"])
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
        {
            assert!(
                Instant::now() < deadline,
                "PostgreSQL is not ready: {}",
                pg.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        pg
    }

    /// The URL of database `db` (made by [`Postgres::create_database`], or
    /// `postgres`).
    pub fn url(&self, db: &str) -> String {
        format!("postgres://slipway@127.0.0.1:{}/{db}", self.port)
    }

    /// A new empty database named `name`.
    pub fn create_database(&self, name: &str) -> String {
        self.psql("postgres", &format!("CREATE DATABASE \"{name}\""));
        self.url(name)
    }

    /// Run `sql` in database `db` with `psql`; its output (unaligned, no
    /// headers). Panics when it fails.
    pub fn psql(&self, db: &str, sql: &str) -> String {
        run_psql(self.port, db, sql)
    }

    /// [`Postgres::psql`] on `db` as a function another thread may keep
    /// (while this server runs).
    pub fn psql_command(&self, db: &str) -> impl Fn(&str) -> String + Send + 'static {
        let (port, db) = (self.port, db.to_string());
        move |sql| run_psql(port, &db, sql)
    }

    /// Run the SQL file at `path` in database `db` (one transaction).
    pub fn psql_file(&self, db: &str, path: &Path) {
        let out = Command::new(bin_dir().join("psql"))
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-U",
                "slipway",
            ])
            .args(["-d", db, "-v", "ON_ERROR_STOP=1", "-q", "-1", "-f"])
            .arg(path)
            .output()
            .expect("run psql");
        assert!(
            out.status.success(),
            "psql failed on {}: {}",
            path.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Run `sql` in database `db`, expecting it to fail; the error.
    pub fn psql_error(&self, db: &str, sql: &str) -> String {
        let out = Command::new(bin_dir().join("psql"))
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-U",
                "slipway",
            ])
            .args(["-d", db, "-v", "ON_ERROR_STOP=1", "-At", "-c", sql])
            .output()
            .expect("run psql");
        assert!(!out.status.success(), "{sql} should have failed");
        String::from_utf8_lossy(&out.stderr).into_owned()
    }

    /// The server's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("log")).unwrap_or_default()
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        // SIGQUIT: immediate shutdown (the data is thrown away anyway).
        if let Ok(pid) = i32::try_from(self.child.id()) {
            let _ = Command::new("kill")
                .args(["-QUIT", &pid.to_string()])
                .status();
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn run_psql(port: u16, db: &str, sql: &str) -> String {
    let out = Command::new(bin_dir().join("psql"))
        .args(["-h", "127.0.0.1", "-p", &port.to_string(), "-U", "slipway"])
        .args(["-d", db, "-v", "ON_ERROR_STOP=1", "-At", "-c", sql])
        .output()
        .expect("run psql");
    assert!(
        out.status.success(),
        "psql failed on {sql}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}
