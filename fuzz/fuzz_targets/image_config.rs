//! Image configs as `slipway apply` reads them (YAML) and as the server
//! takes them (an apply request's JSON), each validated; and a CentOS
//! container index imported into configs. Nothing may panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use slipway_core::rebuild::image_config::parse_configs;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(configs) = parse_configs(&text) {
        for c in &configs {
            if let Ok(v) = c.validate(Some("registry.example.com")) {
                let _ = v.spec(Some("registry.example.com"));
                let _ = v.redacted();
            }
        }
    }
    if let Ok(req) = serde_json::from_slice::<slipway_core::api::ApplyRequest>(data) {
        for c in &req.configs {
            let _ = c.validate(None);
        }
    }
    let index = [slipway_core::rebuild::cccp::IndexSource {
        file: "index.yml",
        text: &text,
    }];
    let _ = slipway_core::rebuild::cccp::import(&index, Some("registry.example.com"));
});
