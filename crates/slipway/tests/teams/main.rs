//! One service for several teams (issue 19), end to end with the real
//! binary: TLS on the server's own listener, used by the CLI, `slipway
//! worker`, skopeo and podman with a CA the test makes (openssl).

mod cli;
mod identities;
mod logins;
mod quotas;
mod roles;
mod secrets;
mod tls;
mod upgrade;

use std::path::Path;
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_slipway");

/// A CA and a server certificate it signed for `127.0.0.1` and
/// `localhost`, made with openssl in `dir`: (ca.crt, server.crt,
/// server.key). `cn` tells certificates apart.
fn make_certificates(dir: &Path, cn: &str) -> (String, String, String) {
    let at = |f: &str| dir.join(f).display().to_string();
    let openssl = |args: &[&str]| {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .expect("openssl is installed");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    if !dir.join("ca.crt").exists() {
        openssl(&[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.crt",
            "-days",
            "2",
            "-subj",
            "/CN=slipway test CA",
        ]);
    }
    std::fs::write(
        dir.join("ext.cnf"),
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    openssl(&[
        "req",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        "-subj",
        &format!("/CN={cn}"),
    ]);
    openssl(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.crt",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.crt",
        "-days",
        "2",
        "-extfile",
        "ext.cnf",
    ]);
    (at("ca.crt"), at("server.crt"), at("server.key"))
}
