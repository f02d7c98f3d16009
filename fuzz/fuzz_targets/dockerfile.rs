//! A Dockerfile from a repository: parsed, linted, and read for its base
//! images and labels, as preparation does. Nothing may panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::collections::BTreeMap;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(doc) = slipway_dockerfile::parse(&text) {
        let _ = slipway_dockerfile::lint::lint(&doc, &Default::default());
        let mut args = BTreeMap::new();
        args.insert("BASE".to_string(), "example.com/base:1".to_string());
        let _ = slipway_dockerfile::final_labels(&doc, &args);
    }
    let _ = slipway_dockerfile::base_images(&text, &BTreeMap::new());
});
