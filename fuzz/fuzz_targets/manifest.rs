//! A manifest pushed to the embedded registry, with the Content-Type the
//! client sent (the first line of the input). Nothing may panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use slipway_core::oci::manifest::parse;

fuzz_target!(|data: &[u8]| {
    let (ct, body) = match data.iter().position(|b| *b == b'\n') {
        Some(i) => (Some(String::from_utf8_lossy(&data[..i]).to_string()), &data[i + 1..]),
        None => (None, data),
    };
    let _ = parse(ct.as_deref(), body);
    let _ = parse(None, data);
    if let Ok(s) = std::str::from_utf8(data) {
        let _ = s.parse::<slipway_core::oci::digest::Digest>();
    }
});
