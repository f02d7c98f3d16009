//! A private S3 server for tests: moto's (`moto_server`, from PyPI) on a
//! free loopback port, its buckets in memory; stopped on drop.
//!
//! moto is installed on first use into `target/moto-venv` (pinned below),
//! like the lint tools of [`crate::hadolint_venv`];
//! `SLIPWAY_MOTO_SERVER` names another `moto_server` to use instead.
//! moto accepts any credentials; the fixture hands out key files anyway,
//! so tests read credentials the way a server does.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// The moto release the tests run against.
const MOTO: &str = "moto[server]==5.2.5";

pub struct S3Server {
    pub port: u16,
    child: Child,
    dir: tempfile::TempDir,
}

/// `moto_server`: `SLIPWAY_MOTO_SERVER`, else the one in
/// `target/moto-venv`, made there once (under a lock: tests start
/// servers in parallel, from several test binaries).
pub fn moto_server() -> PathBuf {
    if let Some(p) = std::env::var_os("SLIPWAY_MOTO_SERVER") {
        return PathBuf::from(p);
    }
    crate::pinned_venv("moto-venv", &[MOTO]).join("moto_server")
}

impl S3Server {
    pub fn start() -> S3Server {
        let bin = moto_server();
        let dir = tempfile::Builder::new()
            .prefix("slipway-s3-")
            .tempdir()
            .expect("temp dir");
        std::fs::write(dir.path().join("access-key-id"), "slipway-test\n").expect("key file");
        std::fs::write(
            dir.path().join("secret-access-key"),
            "slipway-test-secret\n",
        )
        .expect("secret file");
        let port = crate::free_port();
        let mut child = Command::new(&bin)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(
                std::fs::File::create(dir.path().join("log")).map_or(Stdio::null(), Stdio::from),
            )
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", bin.display()));
        crate::wait_for_port(port, "moto_server", &mut child);
        let server = S3Server { port, child, dir };
        // Listening is not serving, for werkzeug (a loaded machine resets
        // the first connections): wait for an S3 answer (the bucket list).
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while !answers_200(port) {
            assert!(
                std::time::Instant::now() < deadline,
                "moto_server never answered: {}",
                server.log()
            );
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
        server
    }

    /// The endpoint URL (`http://127.0.0.1:PORT`).
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Make bucket `name` (path-style `PUT /name`).
    pub fn create_bucket(&self, name: &str) {
        let r = crate::http_raw(self.port, "PUT", &format!("/{name}"), &[], b"");
        assert_eq!(r.status, 200, "create bucket {name}: {}", r.body);
    }

    /// How many multipart uploads are open (neither completed nor aborted)
    /// in `bucket`.
    pub fn multipart_uploads(&self, bucket: &str) -> usize {
        let r = crate::http_raw(self.port, "GET", &format!("/{bucket}?uploads"), &[], b"");
        assert_eq!(r.status, 200, "list multipart uploads: {}", r.body);
        r.body.matches("<Upload>").count()
    }

    /// A file holding the access key id (what a server's config names).
    pub fn access_key_id_file(&self) -> PathBuf {
        self.dir.path().join("access-key-id")
    }

    /// A file holding the secret access key.
    pub fn secret_access_key_file(&self) -> PathBuf {
        self.dir.path().join("secret-access-key")
    }

    /// A scratch directory that lives as long as the server.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The server's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("log")).unwrap_or_default()
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether `GET /` on `port` answers 200 (any failure: not yet).
fn answers_200(port: u16) -> bool {
    use std::io::{Read, Write};
    let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(std::time::Duration::from_secs(5)));
    let req = format!("GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n");
    if s.write_all(req.as_bytes()).is_err() {
        return false;
    }
    let mut head = [0u8; 12];
    s.read_exact(&mut head).is_ok() && head.ends_with(b"200")
}
