//! dpkg: the `md5sums` lists in `/var/lib/dpkg/info`, as `dpkg --verify`
//! does: a changed digest is `??5??????`; a file that is no longer a
//! regular file (a symlink, a directory) is `?M???????`, its digest not
//! taken, as dpkg 1.21 reports it. dpkg records no modes, so beyond it: a
//! packaged file that a later layer gave a setuid or setgid bit it was not
//! installed with is a [`Finding::Setuid`].

use super::{DOC_DIRS, volatile};
use crate::inventory::paragraphs;
use crate::rootfs::{FileKind, Rootfs};
use slipway_core::scan::Finding;
use slipway_core::scan::inventory::Ecosystem;

pub(super) fn check(fs: &Rootfs, out: &mut Vec<Finding>, problems: &mut Vec<String>) {
    let Some(status) = fs.read_text_noting("/var/lib/dpkg/status", problems) else {
        return;
    };
    for p in paragraphs(&status) {
        let get = |k: &str| {
            p.iter()
                .find(|(key, _)| key.eq_ignore_ascii_case(k))
                .map(|(_, v)| v.as_str())
        };
        let Some(name) = get("Package") else { continue };
        if get("Status").is_some_and(|s| s.split_whitespace().nth(2) != Some("installed")) {
            continue;
        }
        let conffiles: Vec<&str> = get("Conffiles")
            .map(|c| {
                c.lines()
                    .filter_map(|l| l.split_whitespace().next())
                    .collect()
            })
            .unwrap_or_default();
        let arch = get("Architecture").unwrap_or("");
        let list = [
            format!("/var/lib/dpkg/info/{name}:{arch}.md5sums"),
            format!("/var/lib/dpkg/info/{name}.md5sums"),
        ]
        .into_iter()
        .find_map(|f| fs.read_text(&f).ok().flatten());
        let Some(list) = list else { continue };
        for line in list.lines() {
            let Some((digest, path)) = line.split_once(char::is_whitespace) else {
                continue;
            };
            let path = format!("/{}", path.trim_start().trim_start_matches('/'));
            if volatile(&path)
                || DOC_DIRS.iter().any(|d| path.starts_with(d))
                || conffiles.contains(&path.as_str())
            {
                continue;
            }
            // One lookup, the last component not followed (dpkg does not).
            let meta = fs
                .resolve(&path, false)
                .ok()
                .and_then(|key| fs.files.get(&key));
            let Some(m) = meta else {
                out.push(Finding::Missing {
                    ecosystem: Ecosystem::Deb,
                    package: name.to_string(),
                    path,
                });
                continue;
            };
            if m.kind != FileKind::File {
                // No longer a regular file (a symlink, a directory).
                out.push(Finding::Modified {
                    ecosystem: Ecosystem::Deb,
                    package: name.to_string(),
                    path,
                    flags: "?M???????".into(),
                });
                continue;
            }
            if let Some(was) = m.first_mode
                && m.mode & 0o6000 & !was != 0
            {
                out.push(Finding::Setuid {
                    ecosystem: Ecosystem::Deb,
                    package: name.to_string(),
                    path: path.clone(),
                    mode: m.mode,
                    was,
                });
            }
            if !m
                .md5
                .map(hex::encode)
                .is_some_and(|d| d.eq_ignore_ascii_case(digest.trim()))
            {
                out.push(Finding::Modified {
                    ecosystem: Ecosystem::Deb,
                    package: name.to_string(),
                    path,
                    flags: "??5??????".into(),
                });
            }
        }
    }
}
