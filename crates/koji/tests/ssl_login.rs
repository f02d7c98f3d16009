//! `sslLogin` with a client certificate against Koji's own hub code: the
//! fixture's hub application served again over TLS by `tls-hub.py` (which
//! asks for a client certificate and passes on what mod_ssl would), with
//! certificates made here by openssl.

use slipway_koji::{Hub, KojiError};
use slipway_test_support::{KojiHub, fixture_dir_of_koji, run_ok};
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

/// A CA, a certificate for 127.0.0.1 and one for the user `cn`, in `dir`.
fn certificates(dir: &Path, cn: &str) {
    let d = |f: &str| dir.join(f).display().to_string();
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    let mut ca = vec!["req", "-x509", "-days", "2", "-subj", "/CN=Slipway test CA"];
    ca.extend(ec);
    let (ca_key, ca_crt) = (d("ca.key"), d("ca.crt"));
    ca.extend(["-keyout", &ca_key, "-out", &ca_crt]);
    run_ok("openssl", &ca);
    for (name, subject, ext) in [
        (
            "server",
            "/CN=127.0.0.1".to_string(),
            "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n",
        ),
        (
            "client",
            format!("/O=Slipway/CN={cn}"),
            "extendedKeyUsage=clientAuth\n",
        ),
    ] {
        let (key, csr, crt, extf) = (
            d(&format!("{name}.key")),
            d(&format!("{name}.csr")),
            d(&format!("{name}.crt")),
            d(&format!("{name}.ext")),
        );
        std::fs::write(&extf, ext).unwrap();
        let mut req = vec!["req", "-new", "-subj", &subject];
        req.extend(ec);
        req.extend(["-keyout", &key, "-out", &csr]);
        run_ok("openssl", &req);
        run_ok(
            "openssl",
            &[
                "x509",
                "-req",
                "-days",
                "2",
                "-in",
                &csr,
                "-CA",
                &ca_crt,
                "-CAkey",
                &ca_key,
                "-CAcreateserial",
                "-extfile",
                &extf,
                "-out",
                &crt,
            ],
        );
    }
}

struct TlsHub {
    child: Child,
    url: String,
}

impl Drop for TlsHub {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve_tls(hub: &KojiHub, certs: &Path) -> TlsHub {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/tls-hub.py");
    let port_file = certs.join("port");
    // The Python the fixture runs the hub with (it has python3-rpm &c.).
    let python = std::env::var("KOJI_FIXTURE_PYTHON").unwrap_or_else(|_| "/usr/bin/python3".into());
    let mut child = Command::new(python)
        .arg(&script)
        .arg(fixture_dir_of_koji())
        .arg(hub.dir())
        .arg(certs.join("server.crt"))
        .arg(certs.join("server.key"))
        .arg(certs.join("ca.crt"))
        .arg(&port_file)
        .env("PYTHONPYCACHEPREFIX", certs.join("pycache"))
        .stderr(std::fs::File::create(certs.join("tls-hub.log")).unwrap())
        .spawn()
        .expect("python3 tls-hub.py");
    let deadline = Instant::now() + Duration::from_secs(30);
    let port = loop {
        if let Ok(p) = std::fs::read_to_string(&port_file) {
            break p.trim().to_string();
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "tls-hub.py exited: {}",
            std::fs::read_to_string(certs.join("tls-hub.log")).unwrap_or_default()
        );
        assert!(Instant::now() < deadline, "tls-hub.py did not start");
        std::thread::sleep(Duration::from_millis(100));
    };
    TlsHub {
        child,
        url: format!("https://127.0.0.1:{port}/kojihub"),
    }
}

#[test]
fn ssl_login_with_a_client_certificate() {
    let hub = KojiHub::start();
    let certs = tempfile::tempdir().unwrap();
    certificates(certs.path(), &hub.env["KOJI_USER"]);
    let tls = serve_tls(&hub, certs.path());
    let read = |f: &str| std::fs::read(certs.path().join(f)).unwrap();
    let (ca, crt, key) = (read("ca.crt"), read("client.crt"), read("client.key"));

    let koji = Hub::with_tls(
        &tls.url,
        Duration::from_secs(30),
        Some(&ca),
        Some((&crt, &key)),
    )
    .unwrap();
    let session = koji.ssl_login().unwrap();
    let me = session.call("getLoggedInUser", vec![]).unwrap();
    assert!(format!("{me:?}").contains("\"slipway\""), "{me:?}");
    // The session can do what the content generator does.
    let r = session
        .cg_init_build("slipway", "slipway-ssl", "1.0", "1")
        .unwrap();
    session
        .cg_refund_build("slipway", r.build_id, &r.token, None)
        .unwrap();
    session.logout();

    // Without a client certificate the handshake fails: not a refusal by
    // Koji, but the hub cannot be reached.
    let e = Hub::with_tls(&tls.url, Duration::from_secs(30), Some(&ca), None)
        .unwrap()
        .ssl_login()
        .err()
        .expect("no certificate");
    assert!(matches!(e, KojiError::Transport { .. }), "{e}");
    // A hub certificate the configured CA did not sign is not trusted.
    let e = Hub::with_tls(&tls.url, Duration::from_secs(30), None, Some((&crt, &key)))
        .unwrap()
        .ssl_login()
        .err()
        .expect("untrusted hub");
    assert!(matches!(e, KojiError::Transport { .. }), "{e}");
    // Files that are not PEM say so, never what they hold.
    let e = Hub::with_tls(
        &tls.url,
        Duration::from_secs(30),
        Some(&ca),
        Some((&crt, b"secret")),
    )
    .err()
    .expect("no key");
    assert!(
        e.contains("no PEM private key") && !e.contains("secret"),
        "{e}"
    );
    assert!(Hub::with_tls(&tls.url, Duration::from_secs(30), Some(b"nope"), None).is_err());
}
