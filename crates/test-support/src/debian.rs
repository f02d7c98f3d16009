//! Peers from a newer Debian release than the machine's, for a feature
//! Debian 12's builds lack: its skopeo (1.9.3) and podman (4.3.1) are
//! built with sigstore disabled ("Debian-local change: sigstore
//! disabled"), so the signature tests verify with Debian 13's skopeo
//! (1.18) and cosign (2.5). The packages come from Debian's archive (its
//! index says each file and its SHA-256, checked), are unpacked under
//! `target/debian13-tools` (not installed: the machine stays Debian 12),
//! and skopeo runs on Debian 13's C library through that library's own
//! dynamic loader.

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const MIRROR: &str = "http://deb.debian.org/debian";
const SUITE: &str = "trixie";
/// What the two tools need beyond the machine's own files.
const PACKAGES: &[&str] = &[
    "skopeo",
    "cosign",
    "libc6",
    "libgcc-s1",
    "libgpgme11t64",
    "libassuan9",
    "libgpg-error0",
    "libsqlite3-0",
];

pub struct Debian13Tools {
    root: PathBuf,
}

impl Debian13Tools {
    /// The unpacked tools, fetched on first use (under a lock: several
    /// test binaries may ask at once).
    pub fn get() -> Debian13Tools {
        let target = crate::workspace_root().join("target");
        let root = target.join("debian13-tools");
        let stamp = root.join(".slipway-installed");
        let want = PACKAGES.join("\n");
        let ready = || std::fs::read_to_string(&stamp).is_ok_and(|s| s == want);
        if !ready() {
            std::fs::create_dir_all(&target).expect("create target/");
            let lock =
                std::fs::File::create(target.join("debian13-tools.lock")).expect("lock file");
            lock.lock().expect("lock the Debian 13 tools");
            if !ready() {
                fetch(&root);
                std::fs::write(&stamp, &want).expect("mark the Debian 13 tools");
            }
        }
        Debian13Tools { root }
    }

    fn libs(&self) -> PathBuf {
        self.root.join("usr/lib/x86_64-linux-gnu")
    }

    /// Debian 13's skopeo.
    pub fn skopeo(&self) -> Command {
        let mut c = Command::new(self.libs().join("ld-linux-x86-64.so.2"));
        c.arg("--library-path")
            .arg(self.libs())
            .arg(self.root.join("usr/bin/skopeo"));
        c
    }

    /// Debian 13's cosign (a static Go program).
    pub fn cosign(&self) -> Command {
        Command::new(self.root.join("usr/bin/cosign"))
    }
}

/// Download and unpack every package of [`PACKAGES`] into `root`.
fn fetch(root: &Path) {
    let _ = std::fs::remove_dir_all(root);
    let work = tempfile::tempdir().expect("temp dir");
    let index = work.path().join("Packages.xz");
    download(
        &format!("{MIRROR}/dists/{SUITE}/main/binary-amd64/Packages.xz"),
        &index,
    );
    let files = files_of(&index);
    for name in PACKAGES {
        let (file, sha256) = files
            .iter()
            .find(|(n, _, _)| n == name)
            .map(|(_, f, s)| (f.clone(), s.clone()))
            .unwrap_or_else(|| panic!("Debian {SUITE} has no package {name}"));
        let deb = work.path().join(format!("{name}.deb"));
        download(&format!("{MIRROR}/{file}"), &deb);
        let sum = Command::new("sha256sum")
            .arg(&deb)
            .output()
            .expect("sha256sum");
        let got = String::from_utf8_lossy(&sum.stdout);
        assert!(
            got.starts_with(&sha256),
            "{file}: SHA-256 {got} is not the index's {sha256}"
        );
        let out = Command::new("dpkg-deb")
            .arg("-x")
            .arg(&deb)
            .arg(root)
            .output()
            .expect("dpkg-deb");
        assert!(
            out.status.success(),
            "dpkg-deb -x {file}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

fn download(url: &str, to: &Path) {
    let out = Command::new("curl")
        .args(["-fsS", "--retry", "3", "--max-time", "300", "-o"])
        .arg(to)
        .arg(url)
        .output()
        .expect("curl");
    assert!(
        out.status.success(),
        "cannot download {url}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `(package, Filename, SHA256)` of every stanza of a `Packages.xz`.
fn files_of(index: &Path) -> Vec<(String, String, String)> {
    let mut child = Command::new("xz")
        .arg("-dc")
        .arg(index)
        .stdout(Stdio::piped())
        .spawn()
        .expect("xz");
    let stdout = child.stdout.take().expect("xz output");
    let mut out = Vec::new();
    let (mut name, mut file, mut sum) = (String::new(), String::new(), String::new());
    for line in std::io::BufReader::new(stdout).lines() {
        let line = line.expect("read the index");
        if line.is_empty() {
            if !name.is_empty() && !file.is_empty() {
                out.push((name.clone(), file.clone(), sum.clone()));
            }
            (name, file, sum) = (String::new(), String::new(), String::new());
        } else if let Some(v) = line.strip_prefix("Package: ") {
            name = v.to_string();
        } else if let Some(v) = line.strip_prefix("Filename: ") {
            file = v.to_string();
        } else if let Some(v) = line.strip_prefix("SHA256: ") {
            sum = v.to_string();
        }
    }
    if !name.is_empty() && !file.is_empty() {
        out.push((name, file, sum));
    }
    let status = child.wait().expect("wait for xz");
    assert!(status.success(), "xz -dc {}: {status}", index.display());
    out
}
