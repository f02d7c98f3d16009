//! A provenance envelope signed with Slipway's key verifies with an
//! implementation that is not Slipway's (Python securesystemslib, from
//! PyPI), and its statement validates against the in-toto Statement v1
//! and SLSA Provenance v1 JSON schemas kept in `docs/schemas/supply-chain/`. A changed
//! payload, another key and another payload type are refused by it.

use slipway_core::supply::dsse::{Envelope, IN_TOTO_PAYLOAD_TYPE};
use slipway_core::supply::provenance::{Facts, statement};
use slipway_signing::SigningKey;
use std::path::Path;

fn facts() -> Facts {
    Facts {
        builder_id: "https://slipway.example.com".into(),
        builder_version: "0.1.0".into(),
        subjects: vec![(
            "127.0.0.1:5000/team/app".into(),
            format!("sha256:{}", "a".repeat(64)),
        )],
        source_url: "https://ci:token@git.example.com/team/app.git".into(),
        git_ref: Some("main".into()),
        commit: Some("0123456789abcdef0123456789abcdef01234567".into()),
        context_dir: ".".into(),
        dockerfile: "Dockerfile".into(),
        platforms: vec!["x86_64".into()],
        base_images: vec![(
            "registry.fedoraproject.org/fedora:40".into(),
            format!("sha256:{}", "b".repeat(64)),
        )],
        build_id: 7,
        invocation: "https://slipway.example.com/api/v1/builds/7".into(),
        started: Some("2026-12-01T04:00:00Z".into()),
        finished: Some("2026-12-01T04:02:30Z".into()),
        clusters: [("x86_64".to_string(), "local".to_string())].into(),
        ..Facts::default()
    }
}

fn verify(dir: &Path, envelope: &Envelope, key: &SigningKey) -> (bool, String) {
    let env_file = dir.join("envelope.json");
    std::fs::write(&env_file, serde_json::to_vec(envelope).unwrap()).unwrap();
    let key_file = dir.join("public.pem");
    std::fs::write(&key_file, key.public().to_pem()).unwrap();
    slipway_test_support::verify_dsse(&env_file, &key_file, &key.public().keyid())
}

#[test]
fn securesystemslib_verifies_the_envelope_and_the_schemas_hold() {
    let dir = tempfile::tempdir().unwrap();
    let key = SigningKey::load_or_create(&dir.path().join("signing-key")).unwrap();
    let payload = serde_json::to_vec(&statement(&facts())).unwrap();
    let keyid = key.public().keyid();
    let envelope = Envelope::sign(IN_TOTO_PAYLOAD_TYPE, &payload, &keyid, |m| key.sign(m)).unwrap();
    let (ok, out) = verify(dir.path(), &envelope, &key);
    assert!(ok, "{out}");
    assert!(
        out.contains("127.0.0.1:5000/team/app") && out.contains(&"a".repeat(64)),
        "{out}"
    );

    // A payload changed after signing.
    let mut changed = envelope.clone();
    let tampered = String::from_utf8(payload.clone())
        .unwrap()
        .replace("team/app", "team/evil");
    changed.payload = slipway_core::supply::dsse::base64_encode(tampered.as_bytes());
    let (ok, out) = verify(dir.path(), &changed, &key);
    assert!(!ok && out.contains("signature"), "{out}");

    // Signed by another key (under this key's id).
    let other = SigningKey::load_or_create(&dir.path().join("other-key")).unwrap();
    let forged = Envelope::sign(IN_TOTO_PAYLOAD_TYPE, &payload, &keyid, |m| other.sign(m)).unwrap();
    let (ok, out) = verify(dir.path(), &forged, &key);
    assert!(!ok, "{out}");

    // The same signature presented as another payload type: PAE differs.
    let mut retyped = envelope.clone();
    retyped.payload_type = "application/json".into();
    let (ok, _) = verify(dir.path(), &retyped, &key);
    assert!(!ok);

    // A statement missing what the schema requires is caught by it.
    let mut broken = statement(&facts());
    broken["predicate"]["buildDefinition"]
        .as_object_mut()
        .unwrap()
        .remove("buildType");
    let bytes = serde_json::to_vec(&broken).unwrap();
    let unschema = Envelope::sign(IN_TOTO_PAYLOAD_TYPE, &bytes, &keyid, |m| key.sign(m)).unwrap();
    let (ok, out) = verify(dir.path(), &unschema, &key);
    assert!(
        !ok && out.contains("slsa-provenance-v1") && out.contains("buildType"),
        "{out}"
    );
}
