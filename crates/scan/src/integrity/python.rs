//! Python: the files of each installed distribution against its
//! `*.dist-info/RECORD` (`path,sha256=<urlsafe base64>,size`), the check
//! `pip` would make: a file whose SHA-256 differs is `??5??????`, one that
//! is gone is missing. Entries without a hash (the RECORD itself,
//! byte-code caches written later) are not checked; neither are files a
//! distribution installed outside its own tree (`../../bin/…` scripts,
//! which pip rewrites on install).

use crate::rootfs::Rootfs;
use base64::Engine;
use slipway_core::scan::Finding;
use slipway_core::scan::inventory::Ecosystem;

pub(super) fn check(fs: &Rootfs, out: &mut Vec<Finding>, problems: &mut Vec<String>) {
    let records: Vec<String> = fs
        .files
        .keys()
        .filter(|k| k.ends_with(".dist-info/RECORD"))
        .cloned()
        .collect();
    for record in records {
        let Some(text) = fs.read_text_noting(&record, problems) else {
            continue;
        };
        let Some(dist_info) = record.strip_suffix("/RECORD") else {
            continue;
        };
        let Some((site, dir)) = dist_info.rsplit_once('/') else {
            continue;
        };
        // `name-version.dist-info`: the name is before the last dash.
        let name = dir
            .strip_suffix(".dist-info")
            .and_then(|d| d.rsplit_once('-'))
            .map_or(dir, |(n, _)| n)
            .to_string();
        for line in text.lines() {
            let mut fields = line.rsplitn(3, ',');
            let (_size, hash, path) = (fields.next(), fields.next(), fields.next());
            let (Some(hash), Some(path)) = (hash, path) else {
                continue;
            };
            let Some(want) = hash.strip_prefix("sha256=") else {
                continue;
            };
            let path = path.trim_matches('"');
            if path.starts_with("..") || path.starts_with('/') || path.contains("/__pycache__/") {
                continue;
            }
            let full = format!("{site}/{path}");
            let Some(m) = fs.regular(&full) else {
                out.push(Finding::Missing {
                    ecosystem: Ecosystem::Pypi,
                    package: name.clone(),
                    path: full,
                });
                continue;
            };
            let got = m
                .sha256
                .map(|d| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(d));
            if got.as_deref() != Some(want.trim_end_matches('=')) {
                out.push(Finding::Modified {
                    ecosystem: Ecosystem::Pypi,
                    package: name.clone(),
                    path: full,
                    flags: "??5??????".into(),
                });
            }
        }
    }
}
