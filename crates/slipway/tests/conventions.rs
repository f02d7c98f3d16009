//! Build conventions end to end: labels, release numbering, tags, scratch
//! and isolated builds, slipway.yaml, gating lint and the Koji metadata,
//! with the real binary, buildah, Debian's docker-registry, and skopeo and
//! Python's jsonschema to check the results.

use slipway_test_support::{
    GitRepo, Registry, Server, require_tools, run_ok, skopeo_inspect, stage_names, stderr, stdout,
    unpack_image, workspace_root,
};
use std::collections::BTreeSet;

const BIN: &str = env!("CARGO_BIN_EXE_slipway");

struct Env {
    registry: Registry,
    base: String,
    server: Server,
}

fn env() -> Env {
    require_tools();
    let registry = Registry::start();
    let base = registry.push_base_image();
    let server = Server::start(std::path::Path::new(BIN), 2);
    Env {
        registry,
        base,
        server,
    }
}

impl Env {
    /// `slipway build REPO --tag IMAGE extra… --no-follow -o json`, then wait.
    fn build(&self, repo: &GitRepo, image: &str, extra: &[&str]) -> serde_json::Value {
        self.server
            .wait_final(self.server.queue(repo, image, extra))
    }

    fn complete(&self, repo: &GitRepo, image: &str, extra: &[&str]) -> serde_json::Value {
        let b = self.build(repo, image, extra);
        let id = b["id"].as_i64().unwrap_or(0);
        assert_eq!(b["phase"], "Complete", "{b}\nlog:\n{}", self.server.log(id));
        b
    }
}

fn raw(reference: &str, config: bool) -> serde_json::Value {
    let mut args = vec!["inspect", "--tls-verify=false", "--raw"];
    if config {
        args.push("--config");
    }
    let r = format!("docker://{reference}");
    args.push(&r);
    serde_json::from_str(&run_ok("skopeo", &args)).expect("skopeo JSON")
}

/// The repository's image tags: without the per-platform `build-*` tags
/// and the `sha256-<hex>` tags that list each image's SBOM referrers on a
/// registry without the referrers API (see [`all_tags`]).
fn tags(repo: &str) -> BTreeSet<String> {
    all_tags(repo)
        .into_iter()
        // Every build also pushes one `build-<id>-<platform>` tag per platform.
        .filter(|t| !t.starts_with("build-") && !t.starts_with("sha256-"))
        .collect()
}

fn all_tags(repo: &str) -> BTreeSet<String> {
    let out = run_ok(
        "skopeo",
        &[
            "list-tags",
            "--tls-verify=false",
            &format!("docker://{repo}"),
        ],
    );
    let v: serde_json::Value = serde_json::from_str(&out).expect("list-tags JSON");
    v["Tags"]
        .as_array()
        .expect("Tags")
        .iter()
        .filter_map(|t| t.as_str().map(str::to_string))
        .collect()
}

fn digest(reference: &str) -> String {
    skopeo_inspect(reference)["Digest"]
        .as_str()
        .expect("Digest")
        .to_string()
}

fn reason(b: &serde_json::Value) -> String {
    b["reason"].as_str().unwrap_or("").to_string()
}

/// Validate `doc` against the repository's Koji metadata schema with
/// Python's jsonschema (installed by scripts/test.sh).
fn validate_metadata(doc: &serde_json::Value) -> Result<(), String> {
    let python = workspace_root().join("target/interop-venv/bin/python");
    assert!(
        python.exists(),
        "{} is missing: run scripts/test.sh, which installs jsonschema",
        python.display()
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("metadata.json");
    std::fs::write(&file, doc.to_string()).expect("write metadata");
    let schema = workspace_root().join("docs/schemas/koji-cg-metadata-v0.schema.json");
    let out = std::process::Command::new(python)
        .args([
            "-c",
            "import json, sys, jsonschema\n\
             schema = json.load(open(sys.argv[1]))\n\
             jsonschema.Draft7Validator.check_schema(schema)\n\
             errors = list(jsonschema.Draft7Validator(schema).iter_errors(json.load(open(sys.argv[2]))))\n\
             for e in errors: print(list(e.absolute_path), e.message)\n\
             sys.exit(1 if errors else 0)\n",
        ])
        .arg(&schema)
        .arg(&file)
        .output()
        .expect("run python");
    if out.status.success() {
        Ok(())
    } else {
        Err(format!("{}{}", stdout(&out), stderr(&out)))
    }
}

#[test]
fn labels_releases_tags_kinds_and_metadata() {
    let e = env();
    let dockerfile = format!(
        "FROM {}\nLABEL name=team/web version=2.1 com.redhat.component=web-container\nARG GREETING=unset\nCOPY generated.txt /generated.txt\nRUN echo \"$GREETING\" > /greeting\n",
        e.base
    );
    let repo = GitRepo::new(&[
        ("Dockerfile", &dockerfile),
        (
            "slipway.yaml",
            &format!(
                "tags: [stable]\nbuild_args:\n  GREETING: from-slipway-yaml\nprebuild: 'echo made-by-prebuild > generated.txt && test ! -e {data}/admin-token && ! touch /usr/x 2>/dev/null'\nnotify: [team@example.com]\n",
                // The sandbox hides the server's data directory and keeps
                // the system read-only.
                data = e.server.data_dir().canonicalize().unwrap().display()
            ),
        ),
    ]);
    let commit = repo.git(&["rev-parse", "HEAD"]).trim().to_string();
    let image = format!("{}/team/web", e.registry.host());

    // First build: release 1, every label, every tag, the prebuild output.
    let b1 = e.complete(&repo, &image, &[]);
    let id1 = b1["id"].as_i64().unwrap();
    assert_eq!(b1["spec"]["release"], "1");
    let stages = stage_names(&b1);
    assert!(
        stages.contains(&"prepare".to_string()) && stages.contains(&"prebuild".to_string()),
        "{stages:?}"
    );
    assert!(
        e.server
            .log(id1)
            .contains("==> prebuild: echo made-by-prebuild"),
        "the prebuild step has its own log section"
    );
    assert_eq!(b1["repo_config"]["notify"][0], "team@example.com");
    let info = skopeo_inspect(&format!("{image}:2.1-1"));
    let labels = &info["Labels"];
    let date = labels["build-date"].as_str().expect("build-date");
    date.parse::<jiff::Timestamp>()
        .unwrap_or_else(|err| panic!("build-date {date:?} is not RFC 3339: {err}"));
    assert_eq!(labels["architecture"], "x86_64");
    assert_eq!(labels["vcs-type"], "git");
    assert_eq!(labels["vcs-url"], repo.path().display().to_string());
    assert_eq!(labels["vcs-ref"], commit.as_str());
    // Nothing of the build's own (its id, the clock): the provenance says
    // which build made it.
    assert!(labels.get("io.slipway.build-id").is_none(), "{labels}");
    assert_eq!(labels["release"], "1");
    assert_eq!(labels["name"], "team/web");
    assert_eq!(labels["version"], "2.1");
    let unique1 = b1["spec"]["tags"][0].as_str().unwrap().to_string();
    assert!(
        unique1.starts_with(&format!("{id1}-")) && unique1.len() == format!("{id1}-").len() + 14,
        "{unique1}"
    );
    assert_eq!(
        tags(&image),
        BTreeSet::from([
            unique1.clone(),
            "2.1-1".into(),
            "2.1".into(),
            "latest".into(),
            "stable".into()
        ])
    );
    // The build's SBOMs are listed by the referrers fallback tag of its
    // platform image (this registry has no referrers API).
    let platform_digest = b1["workers"][0]["image"]["digest"].as_str().unwrap();
    assert!(
        all_tags(&image).contains(&platform_digest.replacen(':', "-", 1)),
        "{:?}",
        all_tags(&image)
    );
    let (_dir, root) = unpack_image(&format!("{image}:2.1-1"));
    assert_eq!(
        std::fs::read_to_string(root.join("generated.txt")).unwrap(),
        "made-by-prebuild\n"
    );
    assert_eq!(
        std::fs::read_to_string(root.join("greeting")).unwrap(),
        "from-slipway-yaml\n",
        "slipway.yaml build args reach the build"
    );

    // The metadata validates against the schema, and its digests and sizes
    // are what skopeo reports.
    let r = e
        .server
        .api("GET", &format!("/api/v1/builds/{id1}/metadata"), None);
    assert_eq!(r.status, 200, "{}", r.body);
    let doc = r.json();
    validate_metadata(&doc).unwrap_or_else(|err| panic!("metadata is invalid: {err}\n{doc:#}"));
    assert_eq!(doc["build"]["name"], "web-container");
    assert_eq!(doc["build"]["version"], "2.1");
    assert_eq!(doc["build"]["release"], "1");
    assert_eq!(
        doc["build"]["source"],
        format!("{}#{commit}", repo.path().display())
    );
    let out = &doc["output"][0];
    let docker = &out["extra"]["docker"];
    let skopeo = skopeo_inspect(&format!("{image}:2.1-1"));
    let manifest = raw(&format!("{image}:2.1-1"), false);
    let config = raw(&format!("{image}:2.1-1"), true);
    assert_eq!(
        docker["digests"]["application/vnd.oci.image.manifest.v1+json"],
        skopeo["Digest"]
    );
    assert_eq!(docker["id"], manifest["config"]["digest"]);
    assert_eq!(docker["config"], config);
    // Debian's skopeo 1.9 lists layer digests (`Layers`); their sizes are
    // in the manifest it returns with --raw.
    let layer_digests = skopeo["Layers"].as_array().expect("Layers");
    let manifest_layers = manifest["layers"].as_array().expect("layers");
    let sizes = docker["layer_sizes"].as_array().expect("layer_sizes");
    assert_eq!(layer_digests.len(), sizes.len());
    for ((d, l), s) in layer_digests.iter().zip(manifest_layers).zip(sizes) {
        assert_eq!(s["digest"], *d);
        assert_eq!(s["digest"], l["digest"]);
        assert_eq!(s["size"], l["size"]);
    }
    let diff_ids = config["rootfs"]["diff_ids"].as_array().expect("diff_ids");
    for (id, s) in diff_ids.iter().zip(sizes) {
        assert_eq!(s["diff_id"], *id);
    }
    // The output names a placeholder archive (a hub checks every output's
    // file): a real size and SHA-256, and the image type only once.
    assert!(out["filesize"].as_u64().unwrap() > 0, "{out}");
    assert_eq!(out["checksum"].as_str().unwrap().len(), 64, "{out}");
    assert!(doc["build"]["extra"]["image"].is_object());
    assert!(doc["build"]["extra"].get("typeinfo").is_none(), "{doc}");
    assert_eq!(out["arch"], "x86_64");
    let log = doc["output"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["type"] == "log")
        .expect("a log output");
    assert_eq!(
        log["filesize"].as_u64(),
        Some(e.server.log(id1).len() as u64)
    );
    let shown = e.server.cli(&["show", &id1.to_string(), "--metadata"]);
    assert!(shown.status.success(), "{}", stderr(&shown));
    let shown: serde_json::Value = serde_json::from_str(&stdout(&shown)).expect("JSON");
    assert_eq!(shown, doc);
    // A broken document is caught by the validator (it is not a rubber stamp).
    let mut broken = doc.clone();
    broken["output"][0]["extra"]["docker"]
        .as_object_mut()
        .unwrap()
        .remove("layer_sizes");
    assert!(validate_metadata(&broken).is_err());
    // Both image type keys: what a hub refuses, and so does the schema.
    let mut both = doc.clone();
    both["build"]["extra"]["typeinfo"] = serde_json::json!({"image": {}});
    assert!(validate_metadata(&both).is_err());

    // Second build of the same name and version: release 2; the floating
    // tags move to it.
    let b2 = e.complete(&repo, &image, &[]);
    assert_eq!(b2["spec"]["release"], "2");
    let d2 = digest(&format!("{image}:2.1-2"));
    assert_eq!(digest(&format!("{image}:2.1")), d2);
    assert_eq!(digest(&format!("{image}:latest")), d2);
    assert_ne!(digest(&format!("{image}:2.1-1")), d2);

    // Scratch: only the unique tag, no release, floating tags untouched.
    let before = tags(&image);
    let s = e.complete(&repo, &image, &["--scratch"]);
    assert!(s["spec"]["release"].is_null(), "{s}");
    let unique_s = s["spec"]["tags"][0].as_str().unwrap().to_string();
    assert_eq!(s["spec"]["tags"].as_array().unwrap().len(), 1);
    let mut expected = before.clone();
    expected.insert(unique_s.clone());
    assert_eq!(tags(&image), expected);
    assert!(skopeo_inspect(&format!("{image}:{unique_s}"))["Labels"]["release"].is_null());
    assert_eq!(digest(&format!("{image}:latest")), d2);

    // Isolated: an explicit release, primary and unique tags only.
    let iso = e.complete(&repo, &image, &["--isolated", "--release", "7"]);
    assert_eq!(iso["spec"]["release"], "7");
    assert_eq!(iso["spec"]["tags"].as_array().unwrap().len(), 2);
    assert_eq!(
        skopeo_inspect(&format!("{image}:2.1-7"))["Labels"]["release"],
        "7"
    );
    assert_eq!(
        digest(&format!("{image}:latest")),
        d2,
        "latest did not move"
    );
    assert_eq!(digest(&format!("{image}:2.1")), d2, "2.1 did not move");

    // An explicit release that exists is refused; the next free is past 7.
    let again = e.build(&repo, &image, &["--isolated", "--release", "7"]);
    assert_eq!(again["phase"], "Failed");
    assert!(
        reason(&again).starts_with(&format!("release 7 of {image} 2.1 already exists")),
        "{again}"
    );
    assert!(again["workers"].as_array().unwrap().is_empty());
    let b3 = e.complete(&repo, &image, &[]);
    assert_eq!(b3["spec"]["release"], "8");

    // Metadata is only for complete builds.
    let r = e.server.api(
        "GET",
        &format!("/api/v1/builds/{}/metadata", again["id"]),
        None,
    );
    assert_eq!(r.status, 409, "{}", r.body);
    assert_eq!(r.json()["code"], "CONFLICT");
}

#[test]
fn refusals_fail_fast_with_the_reason() {
    let e = env();
    let image = format!("{}/team/refused", e.registry.host());

    // No name label: refused before any platform builds.
    let repo = GitRepo::new(&[(
        "Dockerfile",
        &format!("FROM {}\nLABEL version=1 component=c\nRUN true\n", e.base),
    )]);
    let b = e.build(&repo, &image, &[]);
    assert_eq!(b["phase"], "Failed", "{b}");
    assert!(
        reason(&b).starts_with("missing required label name: set it with LABEL"),
        "{b}"
    );
    assert!(b["workers"].as_array().unwrap().is_empty(), "{b}");
    assert!(!stage_names(&b).contains(&"build".to_string()));
    // A label given with the request is enough.
    let b = e.build(&repo, &image, &["--label", "name=team/refused"]);
    assert_eq!(b["phase"], "Complete", "{b}");
    // So is a scratch build.
    let b = e.build(&repo, &image, &["--scratch"]);
    assert_eq!(b["phase"], "Complete", "{b}");

    // A bad slipway.yaml key is named.
    let repo = GitRepo::new(&[
        (
            "Dockerfile",
            &format!("FROM {}\nLABEL name=n version=1 component=c\n", e.base),
        ),
        ("slipway.yaml", "lint: advisory\nprebuilt: make\n"),
    ]);
    let b = e.build(&repo, &image, &[]);
    assert_eq!(b["phase"], "Failed", "{b}");
    assert!(reason(&b).starts_with("slipway.yaml is invalid"), "{b}");
    assert!(reason(&b).contains("prebuilt"), "{b}");

    // Gating lint: an error-level finding (DL3000, relative WORKDIR) fails
    // the build, and the findings are kept with it.
    let dockerfile = format!(
        "FROM {}\nLABEL name=n version=1 component=c\nWORKDIR app\n",
        e.base
    );
    let repo = GitRepo::new(&[
        ("Dockerfile", &dockerfile),
        ("slipway.yaml", "lint: gating\n"),
    ]);
    let b = e.build(&repo, &image, &[]);
    assert_eq!(b["phase"], "Failed", "{b}");
    assert!(reason(&b).starts_with("lint is gating"), "{b}");
    assert!(reason(&b).contains("DL3000"), "{b}");
    assert_eq!(b["lint"]["mode"], "gating");
    let codes: Vec<&str> = b["lint"]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|f| f["code"].as_str())
        .collect();
    assert!(codes.contains(&"DL3000"), "{codes:?}");
    // Advisory (the default): the same Dockerfile builds, findings kept.
    let repo = GitRepo::new(&[("Dockerfile", &dockerfile)]);
    let b = e.build(&repo, &image, &[]);
    assert_eq!(b["phase"], "Complete", "{b}");
    assert_eq!(b["lint"]["mode"], "advisory");
    assert!(
        b["lint"]["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["code"] == "DL3000")
    );
    // .hadolint.yaml applies: ignoring DL3000 lets the gating build pass.
    let repo = GitRepo::new(&[
        ("Dockerfile", &dockerfile),
        ("slipway.yaml", "lint: gating\n"),
        (".hadolint.yaml", "ignored: [DL3000]\n"),
    ]);
    let b = e.build(&repo, &image, &[]);
    assert_eq!(b["phase"], "Complete", "{b}");
    assert!(!b["lint"]["findings"].to_string().contains("DL3000"));

    // A failing prebuild command fails the build with its own reason.
    let repo = GitRepo::new(&[
        (
            "Dockerfile",
            &format!("FROM {}\nLABEL name=n version=1 component=c\n", e.base),
        ),
        ("slipway.yaml", "prebuild: echo generating >&2 && exit 3\n"),
    ]);
    let b = e.build(&repo, &image, &[]);
    assert_eq!(b["phase"], "Failed", "{b}");
    assert!(reason(&b).contains("prebuild command failed"), "{b}");
    assert!(
        e.server
            .log(b["id"].as_i64().unwrap())
            .contains("generating"),
        "the prebuild's output is in the build log"
    );

    // slipway.yaml's platforms can exclude everything this server builds.
    let repo = GitRepo::new(&[
        (
            "Dockerfile",
            &format!("FROM {}\nLABEL name=n version=1 component=c\n", e.base),
        ),
        ("slipway.yaml", "platforms:\n  not: [x86_64]\n"),
    ]);
    let b = e.build(&repo, &image, &[]);
    assert_eq!(b["phase"], "Failed", "{b}");
    assert!(reason(&b).contains("no platform is left"), "{b}");
}
