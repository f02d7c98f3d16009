//! Pruning removes a build's tags; GC then frees its blobs.

use super::*;

#[test]
fn pruned_builds_lose_their_tags_and_gc_frees_their_blobs() {
    let (server, host, base_image) = start(1);
    let repo = GitRepo::new(&[(
        "Dockerfile",
        &dockerfile(&base_image, "team/ret", "echo one > /ret"),
    )]);
    let yaml = format!(
        "{}history: {{ successful: 1, failed: 1 }}\n",
        config("ret", &repo, "team/ret")
    );
    let out = apply(&server, &yaml);
    assert!(out.status.success(), "{}", stderr(&out));
    let b1 = build_config(&server, "ret");
    assert_eq!(b1["phase"], "Complete", "{b1}");
    let b1_unique = b1["spec"]["tags"][0].as_str().unwrap().to_string();
    let b1_digest = digest(&format!("{host}/team/ret:latest"));
    // Its own layer (the RUN step's), which no other image has.
    let b1_layer = b1["image"]["layers"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .as_str()
        .unwrap()
        .to_string();
    // Two no-op triggers: Skipped builds, which push no real one out.
    for _ in 0..2 {
        let s = build_config(&server, "ret");
        assert_eq!(s["phase"], "Skipped", "{s}");
    }
    assert_eq!(digest(&format!("{host}/team/ret:1.0-1")), b1_digest);

    // A real change: b2 replaces b1, which is pruned with its tags.
    repo.commit(
        &[(
            "Dockerfile",
            &dockerfile(&base_image, "team/ret", "echo two > /ret"),
        )],
        "two",
    );
    let b2 = build_config(&server, "ret");
    assert_eq!(b2["phase"], "Complete", "{b2}");
    let b2_digest = digest(&format!("{host}/team/ret:latest"));
    let b1_id = b1["id"].as_i64().unwrap();
    server.wait_until("b1 to be pruned", Duration::from_secs(30), || {
        (server
            .api("GET", &format!("/api/v1/builds/{b1_id}"), None)
            .status
            == 410)
            .then_some(())
    });
    let tags: Vec<String> = server
        .cli_json(&["tags", "team/ret", "-o", "json"])
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["tag"].as_str().unwrap().to_string())
        .collect();
    for gone in [
        b1_unique.as_str(),
        "1.0-1",
        &format!("build-{b1_id}-x86_64"),
    ] {
        assert!(
            !tags.iter().any(|t| t == gone),
            "{gone} is still there: {tags:?}"
        );
    }
    for kept in ["1.0-2", "1.0", "latest"] {
        assert!(tags.iter().any(|t| t == kept), "{kept} went: {tags:?}");
        assert_eq!(digest(&format!("{host}/team/ret:{kept}")), b2_digest);
    }
    let h = history(&server, "team/ret:1.0-1");
    assert_eq!(
        (h[0]["why"].as_str(), h[0]["who"].as_str()),
        (Some("prune"), Some("slipway"))
    );
    assert!(h[0]["new_digest"].is_null());
    // Nothing more to prune.
    let dry = server.cli_json(&["prune", "--dry-run", "-o", "json"]);
    assert_eq!(dry["builds"], serde_json::json!([]), "{dry}");

    // GC frees b1's own layer; b2 still pulls, byte for byte.
    let blob = |d: &str| {
        server
            .registry(
                "HEAD",
                &format!("/v2/team/ret/blobs/{d}"),
                "repository:team/ret:pull",
            )
            .status
    };
    assert_eq!(blob(&b1_layer), 200, "before gc");
    let gc = server.cli_json(&["registry", "gc", "--grace", "0", "-o", "json"]);
    assert!(
        gc["deleted_blobs"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d == b1_layer.as_str()),
        "{gc}"
    );
    assert_eq!(blob(&b1_layer), 404, "after gc");
    let dir = tempfile::tempdir().unwrap();
    run_ok(
        "skopeo",
        &[
            "copy",
            "--src-tls-verify=false",
            &format!("docker://{host}/team/ret:latest"),
            &format!("dir:{}", dir.path().display()),
        ],
    );
    let manifest = std::fs::read(dir.path().join("manifest.json")).unwrap();
    use sha2::Digest;
    assert_eq!(
        format!("sha256:{}", hex::encode(sha2::Sha256::digest(&manifest))),
        b2_digest
    );
    for layer in b2["image"]["layers"].as_array().unwrap() {
        let hex = layer.as_str().unwrap().trim_start_matches("sha256:");
        let bytes = std::fs::read(dir.path().join(hex)).unwrap();
        assert_eq!(hex::encode(sha2::Sha256::digest(&bytes)), hex);
    }
}
