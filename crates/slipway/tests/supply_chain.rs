//! Signed images and provenance, checked with tools that are not
//! Slipway's: skopeo with a `policy.json` requiring Slipway's sigstore
//! signature copies a Slipway-built image and refuses an unsigned one and
//! one whose manifest was pushed again without a signature; cosign
//! verifies the signature too; the provenance attached to the image
//! verifies with Python securesystemslib and validates against the in-toto
//! and SLSA schemas.
//!
//! Debian 12's skopeo and podman are built with sigstore disabled (this
//! test checks that they still say so), so the policy is enforced by
//! Debian 13's skopeo and cosign, unpacked by test-support.

use slipway_test_support::{Debian13Tools, GitRepo, Server, require_tools};
use std::path::Path;
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_slipway");
const LABELS: &str = "LABEL name=t/app version=1 component=app-container";

/// skopeo with a policy that accepts only images signed by `key_pem`
/// from `host`, finding signatures as sigstore attachments.
struct Verifier {
    dir: tempfile::TempDir,
    tools: Debian13Tools,
}

impl Verifier {
    fn new(host: &str, key_pem: &str) -> Verifier {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("slipway.pub");
        std::fs::write(&key, key_pem).unwrap();
        let policy = serde_json::json!({
            "default": [{"type": "reject"}],
            "transports": {
                "docker": {
                    host: [{
                        "type": "sigstoreSigned",
                        "keyPath": key,
                        "signedIdentity": {"type": "matchRepository"},
                    }]
                },
                "oci": {"": [{"type": "insecureAcceptAnything"}]},
            }
        });
        std::fs::write(dir.path().join("policy.json"), policy.to_string()).unwrap();
        let registries = dir.path().join("registries.d");
        std::fs::create_dir_all(&registries).unwrap();
        std::fs::write(
            registries.join("slipway.yaml"),
            format!("docker:\n  {host}:\n    use-sigstore-attachments: true\n"),
        )
        .unwrap();
        Verifier {
            dir,
            tools: Debian13Tools::get(),
        }
    }

    /// `skopeo copy` of `image` into an OCI layout under this policy:
    /// whether it was allowed, and what skopeo said.
    fn copy(&self, server: &Server, image: &str) -> (bool, String) {
        self.copy_with(self.tools.skopeo(), server, image)
    }

    fn copy_with(&self, mut skopeo: Command, server: &Server, image: &str) -> (bool, String) {
        let dest = self.dir.path().join("out");
        let _ = std::fs::remove_dir_all(&dest);
        let out = skopeo
            .arg("--policy")
            .arg(self.dir.path().join("policy.json"))
            .arg("--registries.d")
            .arg(self.dir.path().join("registries.d"))
            .args([
                "copy",
                "--remove-signatures",
                "--src-tls-verify=false",
                "--src-creds",
            ])
            .arg(format!("ci:{}", server.token()))
            .arg(format!("docker://{image}"))
            .arg(format!("oci:{}:x", dest.display()))
            .output()
            .unwrap();
        (
            out.status.success(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        )
    }
}

/// A docker config dir with the admin token as `ci`'s password for the
/// server's registry (what cosign reads).
fn docker_config(v: &Verifier, server: &Server) -> std::path::PathBuf {
    use base64::Engine;
    let dir = v.dir.path().join("docker");
    std::fs::create_dir_all(&dir).unwrap();
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("ci:{}", server.token()));
    std::fs::write(
        dir.join("config.json"),
        serde_json::json!({"auths": {server.host(): {"auth": auth}}}).to_string(),
    )
    .unwrap();
    dir
}

fn skopeo(server: &Server, args: &[&str]) -> String {
    let out = Command::new("skopeo")
        .args(args)
        .arg("--creds")
        .arg(format!("ci:{}", server.token()))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "skopeo {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn skopeo_requires_slipways_signature_and_the_provenance_verifies_independently() {
    require_tools();
    let server = Server::start(Path::new(BIN), 1);
    let base = server.push_base_image();
    let host = server.host();
    let repo = GitRepo::new(&[(
        "Dockerfile",
        &format!("FROM {base}\n{LABELS}\nRUN echo signed > /signed\n"),
    )]);
    let image = format!("{host}/t/app:1");
    let id = server.queue(&repo, &image, &[]);
    let build = server.wait_final(id);
    assert_eq!(build["phase"], "Complete", "{build}");
    let digest = build["image"]["digest"].as_str().unwrap().to_string();
    let log = server
        .api("GET", &format!("/api/v1/builds/{id}/log"), None)
        .body;
    assert!(
        log.contains("--> signing") && log.contains("--> attaching provenance"),
        "{log}"
    );

    // Kept with the build, and shown.
    let shown = server.cli_json(&["show", &id.to_string(), "--provenance", "-o", "json"]);
    assert_eq!(shown["verified_with_current_key"], true, "{shown}");
    assert_eq!(
        shown["statement"]["subject"][0]["digest"]["sha256"],
        digest.trim_start_matches("sha256:"),
        "{shown}"
    );
    assert_eq!(
        shown["statement"]["predicate"]["buildDefinition"]["externalParameters"]["source"]["commit"],
        build["commit"],
        "{shown}"
    );
    let out = server.cli(&["show", &id.to_string(), "--provenance"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && text.contains("verifies with the server's key"),
        "{text}"
    );
    assert!(
        text.contains(&format!("image:        {host}/t/app@{digest}")),
        "{text}"
    );

    // The public key, for anyone (no token).
    let key = slipway_test_support::http(server.port, "GET", "/api/v1/signing-key", None, None);
    assert_eq!(key.status, 200, "{}", key.body);
    let key = key.json();
    let pem = key["public_key"].as_str().unwrap().to_string();
    assert!(pem.starts_with("-----BEGIN PUBLIC KEY-----"), "{pem}");
    assert_eq!(key["algorithm"], "ecdsa-p256-sha256");

    // Signed: skopeo copies it, by tag and by digest.
    let verifier = Verifier::new(&host, &pem);
    let (ok, said) = verifier.copy(&server, &image);
    assert!(ok, "the signed image was refused: {said}");
    let (ok, said) = verifier.copy(&server, &format!("{host}/t/app@{digest}"));
    assert!(ok, "the signed image by digest was refused: {said}");

    // Debian 12's own skopeo cannot check it (and says why).
    let (ok, said) = verifier.copy_with(Command::new("skopeo"), &server, &image);
    assert!(!ok && said.contains("sigstore disabled"), "{said}");

    // cosign, with the key (no transparency log: Slipway signs with its
    // own key and publishes to none).
    let key_file = verifier.dir.path().join("slipway.pub");
    let out = verifier
        .tools
        .cosign()
        .args([
            "verify",
            "--insecure-ignore-tlog=true",
            "--allow-http-registry",
            "--key",
        ])
        .arg(&key_file)
        .arg(&image)
        .env("HOME", verifier.dir.path())
        .env("DOCKER_CONFIG", docker_config(&verifier, &server))
        .output()
        .unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "cosign verify: {said}");
    assert!(said.contains(&digest), "{said}");

    // Another key: refused.
    let other = slipway_signing::SigningKey::load_or_create(&verifier.dir.path().join("other"))
        .unwrap()
        .public()
        .to_pem();
    let (ok, said) = Verifier::new(&host, &other).copy(&server, &image);
    assert!(!ok, "accepted under another key: {said}");

    // `slipway verify`, reading the registry as a consumer: signed and
    // with provenance, against the server's key or a key file; not
    // against another key; the unsigned base image neither.
    let verified = server.cli_json(&["verify", &image, "-o", "json"]);
    assert_eq!(verified["verified"], true, "{verified}");
    assert_eq!(verified["digest"], digest.as_str(), "{verified}");
    assert_eq!(verified["key_id"], key["key_id"], "{verified}");
    assert_eq!(
        verified["provenance"]["commit"], build["commit"],
        "{verified}"
    );
    let out = server.cli(&["verify", &format!("t/app@{digest}")]);
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("provenance:  ok, built by") && text.ends_with("verified\n"),
        "{text}"
    );
    let with_file = server.cli(&[
        "verify",
        &image,
        "--key",
        &verifier
            .dir
            .path()
            .join("slipway.pub")
            .display()
            .to_string(),
    ]);
    assert!(with_file.status.success());
    let other_file = verifier.dir.path().join("other.pub");
    std::fs::write(&other_file, &other).unwrap();
    let out = server.cli(&["verify", &image, "--key", &other_file.display().to_string()]);
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(!out.status.success(), "{text}");
    assert!(
        text.contains("signature:   FAILED") && text.contains("does not verify with this key"),
        "{text}"
    );
    let out = server.cli(&["verify", &base, "-o", "json"]);
    assert!(!out.status.success());
    let unsigned: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(unsigned["verified"], false, "{unsigned}");
    assert!(
        unsigned["signatures"][0]["problem"]
            .as_str()
            .unwrap()
            .starts_with("no signature"),
        "{unsigned}"
    );
    assert_eq!(
        unsigned["provenance"]["problem"], "no provenance is attached to it",
        "{unsigned}"
    );

    // Unsigned: the base image, pushed by a script, not built here.
    let (ok, said) = verifier.copy(&server, &base);
    assert!(!ok, "an unsigned image was accepted: {said}");
    assert!(said.contains("signature"), "{said}");

    // The built image's manifest pushed again, changed (an annotation),
    // under its tag: a new digest that nobody signed.
    let raw = skopeo(
        &server,
        &[
            "inspect",
            "--raw",
            "--tls-verify=false",
            &format!("docker://{image}"),
        ],
    );
    let mut manifest: serde_json::Value = serde_json::from_str(&raw).unwrap();
    manifest["annotations"] = serde_json::json!({"tampered": "yes"});
    let work = tempfile::tempdir().unwrap();
    let layout = work.path().join("layout");
    let out = Command::new("skopeo")
        .args(["copy", "--src-tls-verify=false", "--src-creds"])
        .arg(format!("ci:{}", server.token()))
        .arg(format!("docker://{image}"))
        .arg(format!("dir:{}", layout.display()))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::write(layout.join("manifest.json"), manifest.to_string()).unwrap();
    let out = Command::new("skopeo")
        .args(["copy", "--dest-tls-verify=false", "--dest-creds"])
        .arg(format!("ci:{}", server.token()))
        .arg(format!("dir:{}", layout.display()))
        .arg(format!("docker://{image}"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (ok, said) = verifier.copy(&server, &image);
    assert!(
        !ok,
        "a manifest pushed again without a signature was accepted: {said}"
    );
    let out = server.cli(&["verify", &image]);
    assert!(
        !out.status.success(),
        "slipway verify accepted the re-pushed manifest: {}",
        String::from_utf8_lossy(&out.stdout)
    );

    // The provenance: the DSSE referrer of the built image.
    let provenance = provenance_referrer(&server, &digest);
    let manifest = server.registry(
        "GET",
        &format!("/v2/t/app/manifests/{provenance}"),
        "repository:t/app:pull",
    );
    let manifest: serde_json::Value = serde_json::from_str(&manifest.body).unwrap();
    let layer = manifest["layers"][0]["digest"].as_str().unwrap();
    let envelope = server.registry(
        "GET",
        &format!("/v2/t/app/blobs/{layer}"),
        "repository:t/app:pull",
    );
    assert_eq!(envelope.status, 200);
    std::fs::write(work.path().join("envelope.json"), &envelope.body).unwrap();
    std::fs::write(work.path().join("key.pem"), &pem).unwrap();
    let (ok, said) = slipway_test_support::verify_dsse(
        &work.path().join("envelope.json"),
        &work.path().join("key.pem"),
        key["key_id"].as_str().unwrap(),
    );
    assert!(ok, "{said}");
    assert!(
        said.contains(&format!("{host}/t/app"))
            && said.contains(digest.trim_start_matches("sha256:")),
        "{said}"
    );
}

/// The digest of the provenance (DSSE envelope) referrer attached to
/// `digest` in `t/app`, as the registry's referrers API lists it.
fn provenance_referrer(server: &Server, digest: &str) -> String {
    let referrers = server.registry(
        "GET",
        &format!("/v2/t/app/referrers/{digest}"),
        "repository:t/app:pull",
    );
    assert_eq!(referrers.status, 200, "{}", referrers.body);
    let index: serde_json::Value = serde_json::from_str(&referrers.body).unwrap();
    index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["artifactType"] == "application/vnd.dsse.envelope.v1+json")
        .unwrap_or_else(|| panic!("no provenance referrer: {index}"))["digest"]
        .as_str()
        .unwrap()
        .to_string()
}

/// The image config and labels of `image`, as skopeo reads them.
fn inspect(server: &Server, image: &str) -> serde_json::Value {
    let text = skopeo(
        server,
        &[
            "inspect",
            "--tls-verify=false",
            &format!("docker://{image}"),
        ],
    );
    serde_json::from_str(&text).unwrap()
}

#[test]
fn the_same_commit_gives_the_same_image_and_rebuild_verify_names_the_differing_layer() {
    require_tools();
    let server = Server::start(Path::new(BIN), 2);
    let base = server.push_base_image();
    let host = server.host();
    let steady = format!(
        "FROM {base}\n{LABELS}\nARG SOURCE_DATE_EPOCH\nRUN echo \"built from $SOURCE_DATE_EPOCH\" > /epoch && mkdir -p /srv/app\nCOPY app.txt /srv/app/\n"
    );
    let dated = format!(
        "FROM {base}\n{LABELS}\nRUN echo steady > /steady\nRUN date > /built-at\nRUN echo after > /after\n"
    );
    let repo = GitRepo::new(&[
        ("Dockerfile", steady.as_str()),
        ("app.txt", "hello\n"),
        ("dated/Dockerfile", dated.as_str()),
    ]);
    let commit_time: i64 = repo
        .git(&["show", "-s", "--format=%ct", "HEAD"])
        .parse()
        .unwrap();
    let commit_date = jiff::Timestamp::from_second(commit_time)
        .unwrap()
        .to_string();

    // The same commit built twice (scratch builds: no release of their
    // own) gives the same image, however far apart in time.
    let a = server.queue(&repo, &format!("{host}/t/same"), &["--scratch"]);
    let first = server.wait_final(a);
    assert_eq!(first["phase"], "Complete", "{first}");
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let b = server.queue(&repo, &format!("{host}/t/same"), &["--scratch"]);
    let second = server.wait_final(b);
    assert_eq!(second["phase"], "Complete", "{second}");
    let digest = first["image"]["digest"].as_str().unwrap().to_string();
    assert_eq!(second["image"]["digest"], digest.as_str(), "{second}");
    // The one time it carries is the commit's.
    let seen = inspect(&server, &format!("{host}/t/same@{digest}"));
    assert_eq!(seen["Created"], commit_date.as_str(), "{seen}");
    assert_eq!(seen["Labels"]["build-date"], commit_date.as_str(), "{seen}");
    assert!(
        seen["Labels"].get("io.slipway.build-id").is_none(),
        "{seen}"
    );

    // A release build, and its rebuild: identical (same release label).
    let rel = server.queue(&repo, &format!("{host}/t/same"), &[]);
    let released = server.wait_final(rel);
    assert_eq!(released["phase"], "Complete", "{released}");
    let out = server.cli(&["rebuild", "--verify", &rel.to_string(), "-o", "json"]);
    assert!(
        out.status.success(),
        "rebuild --verify of a reproducible build failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(r["identical"], true, "{r}");
    assert_eq!(r["build"], rel, "{r}");
    assert_eq!(r["original"], released["image"]["digest"], "{r}");
    assert_eq!(r["rebuilt"], r["original"], "{r}");
    let rebuild = server.build_json(r["rebuild"].as_i64().unwrap());
    assert_eq!(rebuild["phase"], "Complete", "{rebuild}");
    assert_eq!(rebuild["commit"], released["commit"], "{rebuild}");
    // The rebuild moved no tag of the build's: only its unique tag.
    assert_eq!(
        rebuild["spec"]["tags"].as_array().map(Vec::len),
        Some(1),
        "{rebuild}"
    );
    // A rebuild is not checked again.
    let again = server.api(
        "POST",
        &format!("/api/v1/builds/{}/reproduce", r["rebuild"]),
        Some("{}"),
    );
    assert_eq!(again.status, 409, "{}", again.body);
    assert!(again.body.contains("itself a rebuild"), "{}", again.body);
    // Without --verify, the CLI says what to do.
    let out = server.cli(&["rebuild", &rel.to_string()]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--verify"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // A Dockerfile that writes `date` into a file: not reproducible, and
    // the rebuild names the layer and the step.
    let d = server.queue(
        &repo,
        &format!("{host}/t/dated"),
        &["--scratch", "--file", "dated/Dockerfile"],
    );
    let dated_build = server.wait_final(d);
    assert_eq!(dated_build["phase"], "Complete", "{dated_build}");
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let out = server.cli(&["rebuild", "--verify", &d.to_string()]);
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(!out.status.success(), "{text}");
    assert!(text.contains("is not reproducible"), "{text}");
    assert!(
        text.contains("made by") && text.contains("date > /built-at"),
        "{text}"
    );
    let shown = server.cli_json(&["show", &d.to_string(), "--reproductions", "-o", "json"]);
    let found = &shown[0];
    assert_eq!(found["identical"], false, "{shown}");
    let diff = &found["platforms"][0]["difference"];
    assert_eq!(diff["what"], "layer", "{shown}");
    let layers = inspect(
        &server,
        &format!(
            "{host}/t/dated@{}",
            dated_build["image"]["digest"].as_str().unwrap()
        ),
    )["Layers"]
        .as_array()
        .unwrap()
        .clone();
    // The base's layers are the same; buildah commits the Dockerfile's own
    // steps as one layer, the last, which names the steps that made it.
    let n = diff["layer"].as_u64().unwrap() as usize;
    assert_eq!(n, layers.len(), "{shown}");
    assert_eq!(diff["original"], layers[n - 1], "{shown}");
    let steps: Vec<&str> = diff["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s.as_str())
        .collect();
    assert!(
        steps.iter().any(|s| s.contains("date > /built-at")),
        "{shown}"
    );
    // The failed rebuild says so too.
    let failed = server.build_json(found["rebuild"].as_i64().unwrap());
    assert_eq!(failed["phase"], "Failed", "{failed}");
    assert!(
        failed["reason"]
            .as_str()
            .unwrap()
            .contains("is not reproducible"),
        "{failed}"
    );

    // A config may ask for it after every build.
    server.apply(&format!(
        "name: steady\nsource: {{ url: {} }}\noutput: t/steady\nverify_reproducible: true\n",
        repo.path().display()
    ));
    let started = server.cli_json(&["start", "steady", "--wait", "-o", "json"]);
    assert_eq!(started["phase"], "Complete", "{started}");
    let id = started["id"].as_i64().unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(180);
    let found = loop {
        let r = server.cli_json(&["show", &id.to_string(), "--reproductions", "-o", "json"]);
        if let Some(first) = r.as_array().and_then(|a| a.first()) {
            break first.clone();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no rebuild of config build {id} was compared"
        );
        std::thread::sleep(std::time::Duration::from_millis(500));
    };
    assert_eq!(found["identical"], true, "{found}");
    assert_eq!(found["original"], started["image"]["digest"], "{found}");
}

#[test]
fn promotion_is_refused_by_each_policy_rule_and_supply_chain_gate_then_allowed() {
    require_tools();
    let server = Server::start_configured(Path::new(BIN), 1, |port, _| {
        format!(
            "environments:
  hosts: {{ prefix: hosts, gates: [], policy: {{ source_hosts: [git.example.com] }} }}
  bases: {{ prefix: bases, gates: [], policy: {{ base_repositories: [quay.io/fedora/] }} }}
  findings: {{ prefix: findings, gates: [], policy: {{ max_findings: {{ capabilities: 0 }} }} }}
  signed: {{ prefix: signed, gates: [signed] }}
  provenance: {{ prefix: provenance, gates: [provenance] }}
  reproducible: {{ prefix: reproducible, gates: [reproducible] }}
  prod:
    prefix: prod
    gates: [signed, provenance, reproducible]
    policy:
      source_hosts: [localhost]
      base_repositories: [\"127.0.0.1:{port}/slipway/\"]
      max_findings: {{ capabilities: 1, integrity: 0 }}
"
        )
    });
    let base = server.push_base_image();
    let host = server.host();
    // A second image, for a `COPY --from` (buildah annotates only the
    // final stage's base; the provenance names it too).
    let tool = format!("{host}/slipway/tool:1");
    let creds = format!("ci:{}", server.token());
    let out = Command::new("skopeo")
        .args([
            "copy",
            "--src-tls-verify=false",
            "--dest-tls-verify=false",
            "--src-creds",
            &creds,
            "--dest-creds",
            &creds,
            &format!("docker://{base}"),
            &format!("docker://{tool}"),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let repo = GitRepo::new(&[(
        "Dockerfile",
        &format!(
            "FROM {base}\n{LABELS}\nCOPY --from={tool} /bin/busybox /tool\nRUN echo policy > /policy\n"
        ),
    )]);
    let id = server.queue(&repo, &format!("{host}/t/app"), &[]);
    let build = server.wait_final(id);
    assert_eq!(build["phase"], "Complete", "{build}");
    let digest = build["image"]["digest"].as_str().unwrap().to_string();
    let shown = server.cli_json(&["show", &id.to_string(), "--provenance", "-o", "json"]);
    let deps = shown["statement"]["predicate"]["buildDefinition"]["resolvedDependencies"]
        .as_array()
        .unwrap()
        .clone();
    for name in [&base, &tool] {
        assert!(
            deps.iter()
                .any(|d| d["name"] == name.as_str() && d["digest"]["sha256"].is_string()),
            "{name} is not a resolved dependency: {deps:?}"
        );
    }
    let promote = |to: &str| {
        let out = server.cli(&["promote", &id.to_string(), "--to", to]);
        (
            out.status.success(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        )
    };
    // Each rule refuses, named, with why.
    for (env, says) in [
        ("hosts", "policy rule source_hosts failed: its source"),
        (
            "bases",
            "policy rule base_repositories failed: its base image",
        ),
        (
            "findings",
            "policy rule max_findings.capabilities failed: its newest scan has 1 capabilities findings, at most 0 allowed",
        ),
        (
            "reproducible",
            "gate reproducible failed: it was never rebuilt",
        ),
        ("prod", "gate reproducible failed"),
    ] {
        let (ok, said) = promote(env);
        assert!(!ok, "{env}: promoted: {said}");
        assert!(said.contains(says), "{env}: {said}");
    }
    let (_, said) = promote("hosts");
    assert!(
        said.contains("is on localhost, not on git.example.com"),
        "{said}"
    );

    // Rebuilt and found identical: the gate opens, and prod (every
    // supply-chain gate and rule) takes it.
    let out = server.cli(&["rebuild", "--verify", &id.to_string()]);
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    for env in ["reproducible", "prod"] {
        let (ok, said) = promote(env);
        assert!(ok, "{env}: {said}");
    }
    // The promoted image is signed for its new repository: skopeo under a
    // sigstoreSigned policy and `slipway verify` accept it there.
    let key =
        slipway_test_support::http(server.port, "GET", "/api/v1/signing-key", None, None).json();
    let verifier = Verifier::new(&host, key["public_key"].as_str().unwrap());
    let promoted = format!("{host}/prod/t/app:1");
    let (ok, said) = verifier.copy(&server, &promoted);
    assert!(ok, "the promoted image was refused: {said}");
    let verified = server.cli_json(&["verify", &promoted, "-o", "json"]);
    assert_eq!(verified["verified"], true, "{verified}");
    assert_eq!(verified["digest"], digest.as_str(), "{verified}");

    // The signature taken away: `signed` refuses.
    let hex = digest.trim_start_matches("sha256:");
    let gone = server.registry(
        "DELETE",
        &format!("/v2/t/app/manifests/sha256-{hex}.sig"),
        "repository:t/app:delete",
    );
    assert!(gone.status == 202 || gone.status == 200, "{}", gone.body);
    let (ok, said) = promote("signed");
    assert!(!ok, "{said}");
    assert!(
        said.contains("gate signed failed: no signature by this server's key"),
        "{said}"
    );
    // The provenance taken off the image: `provenance` refuses.
    let envelope = provenance_referrer(&server, &digest);
    let gone = server.registry(
        "DELETE",
        &format!("/v2/t/app/manifests/{envelope}"),
        "repository:t/app:delete",
    );
    assert!(gone.status == 202 || gone.status == 200, "{}", gone.body);
    let (ok, said) = promote("provenance");
    assert!(!ok, "{said}");
    assert!(
        said.contains("gate provenance failed: its provenance is not attached"),
        "{said}"
    );
}
