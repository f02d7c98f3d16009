//! A webhook delivery as it arrives: headers and body, for every provider:
//! the signature check, the payload read, the freshness check. Nothing may
//! panic. The first bytes choose the provider and the headers' values.
#![no_main]

use libfuzzer_sys::fuzz_target;
use slipway_core::rebuild::trigger::{Delivery, Provider, read_delivery, sign, verify};

fuzz_target!(|data: &[u8]| {
    let Some((&first, rest)) = data.split_first() else {
        return;
    };
    let provider = match first % 4 {
        0 => Provider::Github,
        1 => Provider::Gitlab,
        2 => Provider::Gitea,
        _ => Provider::Generic,
    };
    // Up to the first NUL: one header value (event, delivery, signature);
    // the rest is the body.
    let (value, body) = match rest.iter().position(|b| *b == 0) {
        Some(i) => (&rest[..i], &rest[i + 1..]),
        None => (&rest[..0], rest),
    };
    let value = String::from_utf8_lossy(value).to_string();
    let signed = sign(b"secret", body);
    let header = |name: &str| -> Option<String> {
        let n = name.to_ascii_lowercase();
        if n.contains("signature") || n.contains("token") {
            Some(if first & 0x80 == 0 { signed.clone() } else { value.clone() })
        } else if n.contains("event") {
            Some(match provider {
                Provider::Gitlab => "Push Hook".into(),
                _ => "push".into(),
            })
        } else {
            Some(value.clone())
        }
    };
    let _ = verify(provider, &header, body, b"secret");
    if let Ok(Delivery::Push(p)) = read_delivery(provider, &header, body) {
        let _ = p.check_fresh(1_700_000_000);
    }
});
