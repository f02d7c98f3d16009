//! Scan an image in a local OCI layout, timing each step:
//! `cargo run --release -p slipway-scan --example scan_layout -- LAYOUT [CACHE_DIR]`.

use slipway_core::scan::ScanPolicy;
use slipway_scan::layers::LayerCache;
use std::path::PathBuf;
use std::time::Instant;

fn main() {
    let mut args = std::env::args().skip(1);
    let layout = PathBuf::from(args.next().expect("usage: scan_layout LAYOUT [CACHE_DIR]"));
    let cache = args.next().map(|d| LayerCache {
        dir: PathBuf::from(d),
        max_bytes: 2 << 30,
    });
    if std::env::var("DECOMPRESS_ONLY").is_ok() {
        let img = slipway_scan::image::read_layout("layout", &layout).expect("a layout");
        for l in &img.layers {
            eprintln!("{}: {:.2} s", l.display(), decompress_only(l));
        }
        return;
    }
    let start = Instant::now();
    let img = slipway_scan::image::read_layout("layout", &layout).expect("a layout");
    let scratch = tempfile::tempdir().expect("tempdir");
    let fs = slipway_scan::rootfs::Rootfs::read_layers(scratch.path(), &img.layers, cache.as_ref())
        .expect("layers");
    let read = start.elapsed();
    let report = slipway_scan::scan_unpacked(&img, &fs, &ScanPolicy::default());
    if std::env::var("FINDINGS").is_ok() {
        for f in &report.findings {
            eprintln!("finding: {f}");
        }
        for p in &report.problems {
            eprintln!("problem: {p}");
        }
    }
    if let Ok(out) = std::env::var("INVENTORY_JSON") {
        std::fs::write(out, serde_json::to_vec(&report.inventory).expect("json")).expect("write");
    }
    eprintln!(
        "layers read in {:.2} s ({} files, {} from the cache), scanned in {:.2} s: {} packages, {} findings, {} problems",
        read.as_secs_f64(),
        fs.files.len(),
        fs.notes.cached,
        (start.elapsed() - read).as_secs_f64(),
        report.inventory.packages.len(),
        report.findings.len(),
        report.problems.len()
    );
}

#[allow(dead_code)]
fn decompress_only(path: &std::path::Path) -> f64 {
    let start = Instant::now();
    let mut r = slipway_scan::layers::decompress(std::fs::File::open(path).unwrap()).unwrap();
    std::io::copy(&mut r, &mut std::io::sink()).unwrap();
    start.elapsed().as_secs_f64()
}
