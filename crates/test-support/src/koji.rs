//! The real Koji hub of `../shared/fixtures/koji-hub` (Koji's own hub code
//! on a private PostgreSQL), started in a temp dir and stopped on drop.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Command;

/// A running fixture hub.
pub struct KojiHub {
    pub url: String,
    /// `hub.env`'s settings (`KOJI_TOPDIR`, `KOJI_CLI`, `KOJI_USER`, …).
    pub env: HashMap<String, String>,
    fixture: PathBuf,
    dir: tempfile::TempDir,
}

/// Where the fixture is: `SLIPWAY_KOJI_FIXTURE`, else `../shared/fixtures/koji-hub`
/// beside the repository, else `/work/shared/fixtures/koji-hub`.
pub fn fixture_dir() -> PathBuf {
    let candidates = [
        std::env::var_os("SLIPWAY_KOJI_FIXTURE").map(PathBuf::from),
        Some(crate::workspace_root().join("../shared/fixtures/koji-hub")),
        Some(PathBuf::from("/work/shared/fixtures/koji-hub")),
    ];
    candidates
        .into_iter()
        .flatten()
        .find(|p| p.join("start-hub.sh").exists())
        .expect(
            "the Koji hub fixture is missing: set SLIPWAY_KOJI_FIXTURE to the folder holding start-hub.sh",
        )
}

impl KojiHub {
    pub fn start() -> KojiHub {
        let fixture = fixture_dir();
        let dir = tempfile::Builder::new()
            .prefix("kh")
            .tempdir_in("/tmp")
            .expect("tempdir");
        let out = Command::new(fixture.join("start-hub.sh"))
            .arg(dir.path())
            .output()
            .expect("run start-hub.sh");
        assert!(
            out.status.success(),
            "start-hub.sh failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let env: HashMap<String, String> = std::fs::read_to_string(dir.path().join("hub.env"))
            .expect("hub.env")
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        KojiHub {
            url: env["KOJI_HUB_URL"].clone(),
            env,
            fixture,
            dir,
        }
    }

    /// Run the fixture's `koji` CLI (as kojiadmin) and return its stdout.
    pub fn cli(&self, args: &[&str]) -> String {
        let out = Command::new(&self.env["KOJI_CLI"])
            .args(args)
            .output()
            .expect("run the koji CLI");
        assert!(
            out.status.success(),
            "koji {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The fixture's work directory (`etc/hub.conf`, `kojidir`, …).
    pub fn dir(&self) -> &std::path::Path {
        self.dir.path()
    }

    /// Stop the hub (it can be started again only in a new directory).
    pub fn stop(&self) {
        let _ = Command::new(self.fixture.join("stop-hub.sh"))
            .arg(self.dir.path())
            .output();
    }
}

impl Drop for KojiHub {
    fn drop(&mut self) {
        self.stop();
    }
}
