//! Promotion: gates, environments in the embedded registry and in
//! another one, automatic promotion, followers.

use super::*;

/// A notification target that never answers: what was queued for it is
/// what the test reads.
const HOOK: &str = "notify:\n- webhook: { url: \"http://127.0.0.1:9/hook\", secret: a-secret-of-32-characters-long }\n";

#[test]
fn promotion_checks_its_gates_and_moves_no_bytes() {
    require_tools();
    let server = Server::start_with_config(
        Path::new(BIN),
        2,
        Some(
            "rebuild_debounce_seconds: 0\nregistry_anonymous_pull: true\nenvironments:\n  stable:\n    prefix: stable\n  qa:\n    prefix: qa/\n    gates: [scan-clean]\n",
        ),
    );
    let host = server.host();
    let base_image = server.push_base_image();

    // Untested: refused by the tests gate, named.
    let plain = GitRepo::new(&[(
        "Dockerfile",
        &dockerfile(&base_image, "team/plain", "echo plain > /plain"),
    )]);
    let id = server.queue(&plain, &format!("{host}/team/plain:x"), &[]);
    assert_eq!(server.wait_final(id)["phase"], "Complete");
    let out = server.cli(&["promote", &id.to_string(), "--to", "stable"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("gate tests-passed failed: it ran no test stage"),
        "{}",
        stderr(&out)
    );
    // An environment whose gates it passes takes it, by reference too.
    let p = server.cli_json(&["promote", "team/plain:x", "--to", "qa", "-o", "json"]);
    assert_eq!(p["build"], id, "{p}");
    assert_eq!(p["repository"], format!("{host}/qa/team/plain"));
    assert_eq!(
        digest(&format!("{host}/qa/team/plain:latest")),
        digest(&format!("{host}/team/plain:x"))
    );
    // Unknown environments are named.
    let out = server.cli(&["promote", &id.to_string(), "--to", "prod"]);
    assert!(
        stderr(&out).contains("there are: qa, stable"),
        "{}",
        stderr(&out)
    );

    // A failed build is never promoted.
    let failing = tested_repo(&base_image, "team/bad", "\"exit 1\"", &[]);
    let bad = server.queue(&failing, &format!("{host}/team/bad:x"), &[]);
    assert_eq!(server.wait_final(bad)["phase"], "Failed");
    let out = server.cli(&["promote", &bad.to_string(), "--to", "qa"]);
    assert!(
        stderr(&out).contains("only complete builds are promoted"),
        "{}",
        stderr(&out)
    );

    // Tested, scanned, with SBOMs: into stable, its tags there, the
    // primary one locked; the same bytes under a second name.
    let good = tested_repo(&base_image, "team/good", "\"grep -q hello /greeting\"", &[]);
    let id = server.queue(&good, &format!("{host}/team/good:x"), &[]);
    let b = server.wait_final(id);
    assert_eq!(b["phase"], "Complete", "{b}\n{}", server.log(id));
    let candidate = digest(&format!("{host}/team/good:1.0-1"));
    let p = server.cli_json(&["promote", &id.to_string(), "--to", "stable", "-o", "json"]);
    assert_eq!(
        p["tags"],
        serde_json::json!(["1.0-1", "1.0", "latest", "x"]),
        "{p}"
    );
    for tag in ["1.0-1", "1.0", "latest"] {
        assert_eq!(digest(&format!("{host}/stable/team/good:{tag}")), candidate);
    }
    let h = history(&server, "stable/team/good:latest");
    assert_eq!(
        (
            h[0]["why"].as_str(),
            h[0]["who"].as_str(),
            h[0]["build"].as_i64()
        ),
        (Some("promote"), Some("token:admin"), Some(id))
    );
    let out = server.cli(&["untag", "stable/team/good:1.0-1"]);
    assert!(stderr(&out).contains("is immutable"), "{}", stderr(&out));
    let dir = tempfile::tempdir().unwrap();
    run_ok(
        "skopeo",
        &[
            "copy",
            "--src-tls-verify=false",
            &format!("docker://{host}/stable/team/good:latest"),
            &format!("dir:{}", dir.path().display()),
        ],
    );
    // A config may promote on its own; a refusal is an event, the build
    // stays Complete. An environment the server lacks is refused at apply.
    let auto = GitRepo::new(&[(
        "Dockerfile",
        &dockerfile(&base_image, "team/auto", "echo auto > /auto"),
    )]);
    let out = apply(
        &server,
        &format!(
            "{}promote: {{ to: prod }}\n",
            config("auto", &auto, "team/auto")
        ),
    );
    assert!(
        stderr(&out).contains("promote.to \"prod\" is no environment"),
        "{}",
        stderr(&out)
    );
    let out = apply(
        &server,
        &[
            format!(
                "{}promote: {{ to: qa }}\n{HOOK}",
                config("auto", &auto, "team/auto")
            ),
            format!(
                "{}promote: {{ to: stable, when: gates-pass }}\n{HOOK}",
                config("strict", &plain, "team/strict")
            ),
        ]
        .concat(),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let a = build_config(&server, "auto");
    assert_eq!(a["phase"], "Complete", "{a}");
    let promoted = server.wait_until("auto's promotion", Duration::from_secs(30), || {
        let h = history(&server, "qa/team/auto:latest");
        h.first().cloned()
    });
    assert_eq!(
        (promoted["why"].as_str(), promoted["who"].as_str()),
        (Some("promote"), Some("config:auto"))
    );
    let s = build_config(&server, "strict");
    assert_eq!(s["phase"], "Complete", "{s}");
    let events = server.wait_until("strict's refusal", Duration::from_secs(30), || {
        let e = stdout(&server.cli(&["configs", "strict"]));
        e.contains("not promoted to stable").then_some(e)
    });
    assert!(events.contains("gate tests-passed failed"), "{events}");
    // Both are told, like builds: the promotion, and the refusal (as a
    // failure).
    let told = |config: &str| {
        server.wait_until("a promotion message", Duration::from_secs(30), || {
            let list = server
                .api(
                    "GET",
                    &format!("/api/v1/notifications?config={config}"),
                    None,
                )
                .json();
            list.as_array()?
                .iter()
                .find(|d| d["message"]["payload"]["event"] == "promotion")
                .cloned()
        })
    };
    let m = told("auto");
    assert_eq!(m["message"]["payload"]["environment"], "qa", "{m}");
    assert_eq!(m["message"]["failure"], false, "{m}");
    let m = told("strict");
    assert_eq!(m["message"]["failure"], true, "{m}");
    assert!(
        m["message"]["payload"]["refused"]
            .as_str()
            .unwrap()
            .contains("tests-passed"),
        "{m}"
    );

    // A child following its parent's qa tag: the parent's build alone does
    // not rebuild it; its promotion does, onto the promoted digest.
    let parent = GitRepo::new(&[(
        "Dockerfile",
        &dockerfile(&base_image, "team/fbase", "echo v1 > /fbase"),
    )]);
    let child = GitRepo::new(&[(
        "Dockerfile",
        &dockerfile(
            &format!("{host}/qa/team/fbase:latest"),
            "team/fchild",
            "cat /fbase > /fchild",
        ),
    )]);
    let out = apply(
        &server,
        &[
            config("fbase", &parent, "team/fbase"),
            config("fchild", &child, "team/fchild"),
        ]
        .concat(),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let graph = server.cli_json(&["graph", "-o", "json"]);
    let fchild = graph["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["name"] == "fchild")
        .unwrap_or_else(|| panic!("{graph}"));
    assert_eq!(
        fchild["parents"],
        serde_json::json!([]),
        "a follower is no wave child: {graph}"
    );
    let pb = build_config(&server, "fbase");
    assert_eq!(pb["phase"], "Complete", "{pb}");
    std::thread::sleep(Duration::from_secs(2));
    let builds = server
        .api("GET", "/api/v1/builds?config=fchild", None)
        .json();
    assert_eq!(
        builds,
        serde_json::json!([]),
        "built before the promotion: {builds}"
    );
    let p = server.cli_json(&["promote", &pb["id"].to_string(), "--to", "qa", "-o", "json"]);
    let cb = server.wait_until("the follower's build", Duration::from_secs(60), || {
        let list = server
            .api("GET", "/api/v1/builds?config=fchild", None)
            .json();
        list.as_array()?.first()?["id"].as_i64()
    });
    let cb = server.wait_final(cb);
    assert_eq!(
        cb["phase"],
        "Complete",
        "{cb}\n{}",
        server.log(cb["id"].as_i64().unwrap())
    );
    assert_eq!(cb["spec"]["trigger"]["kind"], "promoted", "{cb}");
    assert_eq!(cb["spec"]["trigger"]["digest"], p["digest"], "{cb}");

    // Promoting again is no move.
    let again = server.cli_json(&["promote", &id.to_string(), "--to", "stable", "-o", "json"]);
    assert_eq!(again["digest"], candidate.as_str());
    assert_eq!(history(&server, "stable/team/good:latest").len(), 1);
}

/// The SBOM referrers of `repository@digest` in the embedded registry.
fn sbom_referrers(server: &Server, repository: &str, digest: &str) -> Vec<String> {
    let r = server.registry(
        "GET",
        &format!("/v2/{repository}/referrers/{digest}"),
        &format!("repository:{repository}:pull"),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    r.json()["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| {
            m["artifactType"]
                .as_str()
                .is_some_and(|t| t.contains("spdx") || t.contains("cyclonedx"))
        })
        .map(|m| m["digest"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn gates_read_the_image_as_it_is_now_and_another_registry_gets_a_copy() {
    require_tools();
    let ext = Registry::start_logged();
    let settings = format!(
        "rebuild_debounce_seconds: 0\nregistry_anonymous_pull: true\nenvironments:\n  clean:\n    prefix: clean\n    gates: [scan-clean]\n  sbom:\n    prefix: sbom\n    gates: [sbom-attached]\n  ext:\n    prefix: stable\n    registry: {}\n",
        ext.host()
    );
    let server = Server::start_with_config(Path::new(BIN), 1, Some(&settings));
    let host = server.host();
    let base_image = server.push_base_image();
    // An image with a capabilities finding (a label asking for
    // --privileged), reported only: the build completes, tested.
    let repo = GitRepo::new(&[
        (
            "Dockerfile",
            &format!(
                "FROM {base_image}\nLABEL name=team/gated version=1.0 component=gated-c RUN=\"podman run -d --privileged IMAGE\"\nRUN echo hello > /greeting\n"
            ),
        ),
        ("slipway.yaml", "test: \"grep -q hello /greeting\"\n"),
    ]);
    let lenient = config("gated", &repo, "team/gated");
    assert!(apply(&server, &lenient).status.success());
    let b = build_config(&server, "gated");
    assert_eq!(b["phase"], "Complete", "{b}");
    let id = b["id"].as_i64().unwrap();
    let candidate = digest(&format!("{host}/team/gated:1.0-1"));

    // The policy tightens and a rescan finds what it now fails on: the
    // scan-clean gate refuses, naming itself; loosened and rescanned, it
    // lets the image in.
    let strict = format!("{lenient}scan:\n  fail_on: [capabilities]\n");
    assert!(apply(&server, &strict).status.success());
    // (`rescan` exits non-zero when the scan fails, like `scan`.)
    let out = server.cli(&["rescan", "gated", "-o", "json"]);
    assert!(!out.status.success());
    let scan: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(scan["report"]["outcome"], "failed", "{scan}");
    let out = server.cli(&["promote", &id.to_string(), "--to", "clean"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("gate scan-clean failed: its newest scan's outcome is failed"),
        "{}",
        stderr(&out)
    );
    assert!(apply(&server, &lenient).status.success());
    let scan = server.cli_json(&["rescan", "gated", "-o", "json"]);
    assert_eq!(scan["report"]["outcome"], "passed", "{scan}");
    let p = server.cli_json(&["promote", &id.to_string(), "--to", "clean", "-o", "json"]);
    assert_eq!(p["repository"], format!("{host}/clean/team/gated"), "{p}");

    // The SBOMs are deleted from the registry: the sbom-attached gate
    // sees it (it asks the registry, not the build's record); a rescan
    // attaches them again.
    let sboms = sbom_referrers(&server, "team/gated", &candidate);
    assert_eq!(sboms.len(), 2, "{sboms:?}");
    for d in &sboms {
        let r = server.registry(
            "DELETE",
            &format!("/v2/team/gated/manifests/{d}"),
            "repository:team/gated:delete",
        );
        assert_eq!(r.status, 202, "{}", r.body);
    }
    let out = server.cli(&["promote", &id.to_string(), "--to", "sbom"]);
    assert!(
        stderr(&out).contains("gate sbom-attached failed: no SBOM is attached to it"),
        "{}",
        stderr(&out)
    );
    server.cli_json(&["rescan", "gated", "-o", "json"]);
    assert_eq!(sbom_referrers(&server, "team/gated", &candidate).len(), 2);
    assert!(
        server.log(id).contains("attaching them again"),
        "{}",
        server.log(id)
    );
    let p = server.cli_json(&["promote", &id.to_string(), "--to", "sbom", "-o", "json"]);
    assert_eq!(p["gates"], serde_json::json!(["sbom-attached"]), "{p}");

    // Another registry: its primary tag is checked first and never
    // overwritten.
    let there = format!("{}/stable/team/gated", ext.host());
    run_ok(
        "skopeo",
        &[
            "copy",
            "--src-tls-verify=false",
            "--dest-tls-verify=false",
            &format!("docker://{base_image}"),
            &format!("docker://{there}:1.0-1"),
        ],
    );
    let out = server.cli(&["promote", &id.to_string(), "--to", "ext"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains(&format!("the primary tag {there}:1.0-1 exists already"))
            && stderr(&out).contains("never overwritten"),
        "{}",
        stderr(&out)
    );
    assert_ne!(digest(&format!("{there}:1.0-1")), candidate);
    run_ok(
        "skopeo",
        &[
            "delete",
            "--tls-verify=false",
            &format!("docker://{there}:1.0-1"),
        ],
    );
    // Free again: copied, every tag naming the candidate's digest, each
    // move in the history under the other registry's name.
    let p = server.cli_json(&["promote", &id.to_string(), "--to", "ext", "-o", "json"]);
    assert_eq!(p["repository"], there, "{p}");
    assert_eq!(p["tags"], serde_json::json!(["1.0-1", "1.0", "latest"]));
    for tag in ["1.0-1", "1.0", "latest"] {
        assert_eq!(digest(&format!("{there}:{tag}")), candidate, "{tag}");
    }
    let h = history(&server, &format!("{there}:latest"));
    assert_eq!(h.len(), 1, "{h:?}");
    assert_eq!(
        (
            h[0]["why"].as_str(),
            h[0]["who"].as_str(),
            h[0]["build"].as_i64()
        ),
        (Some("promote"), Some("token:admin"), Some(id))
    );
    assert_eq!(h[0]["new_digest"], candidate.as_str());
    // Again: nothing moves.
    server.cli_json(&["promote", &id.to_string(), "--to", "ext", "-o", "json"]);
    assert_eq!(history(&server, &format!("{there}:latest")).len(), 1);
    // The copy is signed for its repository there, its provenance
    // attached: `slipway verify` reads the other registry and accepts it.
    let verified = server.cli_json(&["verify", &format!("{there}:1.0-1"), "-o", "json"]);
    assert_eq!(verified["verified"], true, "{verified}");
    assert_eq!(verified["digest"], candidate.as_str(), "{verified}");

    // A sibling on the same base: the base layer, already in the other
    // registry under stable/team/gated, is mounted from there, not sent.
    let sibling = GitRepo::new(&[
        (
            "Dockerfile",
            &dockerfile(&base_image, "team/sibling", "echo hello > /greeting"),
        ),
        ("slipway.yaml", "test: \"grep -q hello /greeting\"\n"),
    ]);
    assert!(
        apply(&server, &config("sibling", &sibling, "team/sibling"))
            .status
            .success()
    );
    let s = build_config(&server, "sibling");
    assert_eq!(s["phase"], "Complete", "{s}");
    let p = server.cli_json(&["promote", &s["id"].to_string(), "--to", "ext", "-o", "json"]);
    let copied = format!("{}/stable/team/sibling:latest", ext.host());
    assert_eq!(digest(&copied), p["digest"].as_str().unwrap());
    let log = ext.log();
    assert!(
        log.contains("/v2/stable/team/sibling/blobs/uploads/?from=stable%2Fteam%2Fgated&mount="),
        "no cross-repository mount in the registry's log:\n{log}"
    );
    let dir = tempfile::tempdir().unwrap();
    run_ok(
        "skopeo",
        &[
            "copy",
            "--src-tls-verify=false",
            &format!("docker://{copied}"),
            &format!("dir:{}", dir.path().display()),
        ],
    );
}
