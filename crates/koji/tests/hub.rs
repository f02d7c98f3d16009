//! The Koji adapter against a real Koji hub (the fixture in
//! `../shared/fixtures/koji-hub`: Koji 1.35's own hub on PostgreSQL).

use slipway_koji::placeholder::{archive, size_and_sha256};
use slipway_koji::{Checksum, Hub, KojiError};
use slipway_test_support::KojiHub;
use std::time::Duration;

/// A content-generator document for NVR `name-1.0-1` with a log and one
/// image output naming `placeholder`.
fn metadata(name: &str, log: &[u8], placeholder: &[u8]) -> String {
    let (log_size, log_sum) = size_and_sha256(log);
    let (img_size, img_sum) = size_and_sha256(placeholder);
    serde_json::json!({
        "metadata_version": 0,
        "build": {
            "name": name, "version": "1.0", "release": "1",
            "source": "git://example.invalid/app#0123456789abcdef0123456789abcdef01234567",
            "start_time": 1795981113, "end_time": 1795981173,
            "extra": {"image": {}},
        },
        "buildroots": [{
            "id": 1,
            "host": {"os": "Debian GNU/Linux 12 (bookworm)", "arch": "x86_64"},
            "content_generator": {"name": "slipway", "version": "0.1.0"},
            "container": {"type": "none", "arch": "x86_64"},
            "tools": [{"name": "buildah", "version": "1.28.2"}],
            "components": [], "extra": {},
        }],
        "output": [
            {"buildroot_id": 1, "filename": "build.log", "filesize": log_size, "arch": "noarch",
             "checksum": log_sum, "checksum_type": "sha256", "type": "log"},
            {"buildroot_id": 1, "filename": "docker-image-0123.x86_64.tar.gz", "filesize": img_size,
             "arch": "x86_64", "checksum": img_sum, "checksum_type": "sha256",
             "type": "docker-image", "components": [],
             "extra": {"image": {"arch": "x86_64"},
                       "docker": {"id": "sha256:0123",
                                  "repositories": ["registry.example.invalid/app:1.0-1"],
                                  "tags": ["1.0-1"]}}},
        ],
    })
    .to_string()
}

#[test]
fn login_upload_import_reserve_and_refund_against_a_real_hub() {
    let fixture = KojiHub::start();
    let hub = Hub::new(&fixture.url, Duration::from_secs(60));
    assert_eq!(
        hub.call("getKojiVersion", vec![]).unwrap(),
        dxr::Value::String("1.35.3".into())
    );
    // A wrong password is the hub's AuthError.
    let e = hub.login("slipway", "wrong").err().expect("refused");
    assert_eq!(e.fault_code(), Some(1002), "{e}");

    let s = hub.login("slipway", "slipway").unwrap();
    let log = b"==> build 1\n==> build 1 complete\n".to_vec();
    let placeholder = archive("pull it from registry.example.invalid/app@sha256:00\n");
    // Bigger than one upload chunk, so chunking is exercised.
    let big: Vec<u8> = (0..(2 * 1024 * 1024 + 17))
        .map(|i| u8::try_from(i % 251).unwrap())
        .collect();
    let dir = "slipway-import/test-1";
    s.upload(dir, "build.log", &log, Checksum::Sha256).unwrap();
    s.upload(
        dir,
        "docker-image-0123.x86_64.tar.gz",
        &placeholder,
        Checksum::Sha256,
    )
    .unwrap();
    s.upload(dir, "big.bin", &big, Checksum::Sha256).unwrap();
    let on_hub = std::path::Path::new(&fixture.env["KOJI_TOPDIR"])
        .join("work")
        .join(dir)
        .join("big.bin");
    assert_eq!(std::fs::read(&on_hub).unwrap(), big);
    // From a file, streamed, exactly two chunks long.
    let even = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(even.path(), &big[..2 * 1024 * 1024]).unwrap();
    let sent = s
        .upload_from(
            dir,
            "even.bin",
            std::fs::File::open(even.path()).unwrap(),
            Checksum::Md5,
        )
        .unwrap();
    assert_eq!(sent, 2 * 1024 * 1024);
    assert_eq!(
        std::fs::read(on_hub.with_file_name("even.bin")).unwrap(),
        &big[..2 * 1024 * 1024]
    );

    let doc = metadata("slipway-koji-test", &log, &placeholder);
    let imported = s.cg_import(&doc, dir, None).unwrap();
    assert_eq!(imported.nvr, "slipway-koji-test-1.0-1");
    assert_eq!(imported.state, 1, "COMPLETE");
    let got = s.get_build("slipway-koji-test-1.0-1").unwrap().unwrap();
    assert_eq!((got.id, got.state), (imported.id, 1));
    assert!(s.get_build("no-such-1-1").unwrap().is_none());
    let info = fixture.cli(&["buildinfo", "slipway-koji-test-1.0-1"]);
    assert!(info.contains("State: COMPLETE"), "{info}");
    assert!(info.contains("docker-image-0123.x86_64.tar.gz"), "{info}");

    // The same NVR again: refused, with the hub's words.
    let dir2 = "slipway-import/test-2";
    s.upload(dir2, "build.log", &log, Checksum::Sha256).unwrap();
    s.upload(
        dir2,
        "docker-image-0123.x86_64.tar.gz",
        &placeholder,
        Checksum::Sha256,
    )
    .unwrap();
    let e = s.cg_import(&doc, dir2, None).unwrap_err();
    assert_eq!(e.fault_code(), Some(1000), "{e}");
    assert!(e.to_string().contains("Build already exists"), "{e}");

    // A size that does not match the upload is caught by the hub.
    let mut wrong: serde_json::Value =
        serde_json::from_str(&metadata("slipway-wrong", &log, &placeholder)).unwrap();
    wrong["output"][1]["filesize"] = serde_json::json!(1);
    let e = s.cg_import(&wrong.to_string(), dir2, None).unwrap_err();
    assert!(e.to_string().contains("doesn't match"), "{e}");

    // Reserve, refund (FAILED), reserve again: the same build id.
    let r = s
        .cg_init_build("slipway", "slipway-reserved", "1.0", "1")
        .unwrap();
    let building = s.get_build("slipway-reserved-1.0-1").unwrap().unwrap();
    assert_eq!((building.id, building.state), (r.build_id, 0));
    let e = s
        .cg_init_build("slipway", "slipway-reserved", "1.0", "1")
        .unwrap_err();
    assert!(e.to_string().contains("already reserved"), "{e}");
    s.cg_refund_build("slipway", r.build_id, &r.token, None)
        .unwrap();
    assert_eq!(
        s.get_build("slipway-reserved-1.0-1")
            .unwrap()
            .unwrap()
            .state,
        3
    );
    let again = s
        .cg_init_build("slipway", "slipway-reserved", "1.0", "1")
        .unwrap();
    assert_eq!(again.build_id, r.build_id);
    // Import into the reservation, with its token.
    let dir3 = "slipway-import/test-3";
    s.upload(dir3, "build.log", &log, Checksum::Sha256).unwrap();
    s.upload(
        dir3,
        "docker-image-0123.x86_64.tar.gz",
        &placeholder,
        Checksum::Sha256,
    )
    .unwrap();
    let mut reserved: serde_json::Value =
        serde_json::from_str(&metadata("slipway-reserved", &log, &placeholder)).unwrap();
    reserved["build"]["build_id"] = serde_json::json!(again.build_id);
    let done = s
        .cg_import(&reserved.to_string(), dir3, Some(&again.token))
        .unwrap();
    assert_eq!((done.id, done.state), (again.build_id, 1));
    // The next release counts complete and reserved builds.
    assert_eq!(
        s.get_next_release("slipway-reserved", "1.0", 1).unwrap(),
        "2"
    );
    assert_eq!(
        s.get_next_release("slipway-reserved", "1.0", 3).unwrap(),
        "4"
    );
    assert_eq!(s.get_next_release("slipway-none", "1.0", 1).unwrap(), "1");
    s.cg_init_build("slipway", "slipway-reserved", "1.0", "2")
        .unwrap();
    assert_eq!(
        s.get_next_release("slipway-reserved", "1.0", 1).unwrap(),
        "3"
    );

    // MD5, for hubs that take nothing else: uploads and outputs.
    let dir4 = "slipway-import/test-4";
    s.upload(dir4, "build.log", &log, Checksum::Md5).unwrap();
    s.upload(
        dir4,
        "docker-image-0123.x86_64.tar.gz",
        &placeholder,
        Checksum::Md5,
    )
    .unwrap();
    let mut md5: serde_json::Value =
        serde_json::from_str(&metadata("slipway-md5", &log, &placeholder)).unwrap();
    for (o, bytes) in [(0, &log), (1, &placeholder)] {
        md5["output"][o]["checksum"] = serde_json::json!(Checksum::Md5.hex(bytes));
        md5["output"][o]["checksum_type"] = serde_json::json!("md5");
    }
    assert_eq!(s.cg_import(&md5.to_string(), dir4, None).unwrap().state, 1);
    s.logout();

    // A hub that is not there: a transport error (retry later), not a refusal.
    fixture.stop();
    let e = Hub::new(&fixture.url, Duration::from_secs(5))
        .login("slipway", "slipway")
        .err()
        .expect("down");
    assert!(
        matches!(e, KojiError::Transport { .. }) && e.is_transport(),
        "{e}"
    );
}
