//! The other files a repository brings: `slipway.yaml` and
//! `.hadolint.yaml`, and a build request as the API takes it. Nothing may
//! panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = slipway_core::build::conventions::RepoConfig::parse(&text);
    let _ = slipway_dockerfile::lint::LintConfig::parse(&text);
    if let Ok(req) = serde_json::from_slice::<slipway_core::BuildRequest>(data) {
        let _ = slipway_core::build::Limits::default().check(&req);
        let _ = req.validate(Some("registry.example.com"));
    }
});
