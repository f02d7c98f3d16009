//! Integrity: packaged files that differ from what the package database
//! recorded when it installed them.
//!
//! - rpm: `rpm -V` semantics, reimplemented over the image's file table
//!   (the unpacked copy keeps no owners, mtimes or devices, the tar headers
//!   do). The database is read with the real `rpm`; file contents are
//!   digested with the algorithm the package names. Flags are rpm's nine
//!   columns `SM5DLUGTP`, with the same per-type rules: directories and
//!   symlinks get no size, digest or mtime check, symlinks no mode check,
//!   only symlinks a link check, and a directory packaged as such may be a
//!   symlink to a directory.
//! - dpkg: the `md5sums` lists in `/var/lib/dpkg/info`, as `dpkg --verify`
//!   does: only the digest column (`??5??????`), others unknown.
//!
//! Skipped, as the issue and common sense ask: configuration files (rpm
//! `%config`, dpkg conffiles), documentation (rpm `%doc`/`%license`, and
//! `/usr/share/{doc,man,info}` for dpkg, which slim images drop on
//! purpose), rpm `%ghost` files, and volatile paths (logs, caches, run
//! and temporary directories).

mod dpkg;
mod python;
mod rpm;

pub use rpm::{FileCaps, caps_of_text, caps_of_xattr};

use crate::inventory::rpm_db_dir;
use crate::rootfs::Rootfs;
use slipway_core::scan::Finding;

/// Paths whose content changes at run time by design.
pub const VOLATILE: [&str; 10] = [
    "/tmp/",
    "/var/tmp/",
    "/run/",
    "/var/run/",
    "/var/log/",
    "/var/cache/",
    "/var/spool/",
    "/proc/",
    "/sys/",
    "/dev/",
];

/// dpkg's documentation directories.
pub(super) const DOC_DIRS: [&str; 3] = ["/usr/share/doc/", "/usr/share/man/", "/usr/share/info/"];

pub(super) fn volatile(path: &str) -> bool {
    VOLATILE.iter().any(|v| path.starts_with(v))
}

/// Check every package database in `fs`. Problems (an unreadable list, a
/// file that cannot be read) go to `problems`.
pub fn check(fs: &Rootfs, problems: &mut Vec<String>) -> Vec<Finding> {
    let mut out = Vec::new();
    dpkg::check(fs, &mut out, problems);
    if let Some(db) = rpm_db_dir(fs) {
        rpm::check(fs, &db, &mut out, problems);
    }
    python::check(fs, &mut out, problems);
    out.sort();
    out
}
