//! A cluster file, read and validated as `slipway serve --clusters` does.
//! Nothing may panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use slipway_core::cluster::ClusterFile;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(file) = serde_saphyr::from_str::<ClusterFile>(&text) {
        let _ = file.validate();
    }
});
