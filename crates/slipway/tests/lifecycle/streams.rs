//! Every move of a tag in its history: build, push, tag, untag, rollback.

use super::*;

#[test]
fn tag_history_rollback_tag_and_untag() {
    let (server, host, base_image) = start(1);
    let repo = GitRepo::new(&[(
        "Dockerfile",
        &dockerfile(&base_image, "team/app", "echo one > /app"),
    )]);
    let out = apply(&server, &config("app", &repo, "team/app"));
    assert!(out.status.success(), "{}", stderr(&out));
    let first = build_config(&server, "app");
    assert_eq!(first["phase"], "Complete", "{first}");
    let latest = format!("{host}/team/app:latest");
    let a = digest(&latest);
    repo.commit(
        &[(
            "Dockerfile",
            &dockerfile(&base_image, "team/app", "echo two > /app"),
        )],
        "two",
    );
    let second = build_config(&server, "app");
    assert_eq!(second["phase"], "Complete", "{second}");
    let b = digest(&latest);
    assert_ne!(a, b);

    // Two builds moved latest: none → a → b, each by its build.
    let h = history(&server, "team/app:latest");
    assert_eq!(h.len(), 2, "{h:?}");
    assert_eq!(
        (h[0]["old_digest"].as_str(), h[0]["new_digest"].as_str()),
        (Some(a.as_str()), Some(b.as_str()))
    );
    assert_eq!(h[0]["why"], "build");
    assert_eq!(h[0]["build"], second["id"]);
    assert_eq!(h[0]["who"], format!("build:{}", second["id"]));
    assert!(h[1]["old_digest"].is_null());
    assert_eq!(h[1]["new_digest"], a.as_str());
    let shown = stdout(&server.cli(&["history", "team/app:latest"]));
    assert!(
        shown.contains(&format!("(build {})", second["id"])),
        "{shown}"
    );

    // Roll back one step: a again, recorded as the admin token's rollback.
    let r = server.cli_json(&["rollback", "team/app:latest", "-o", "json"]);
    assert_eq!(r["new_digest"], a.as_str(), "{r}");
    assert_eq!(digest(&latest), a);
    let h = history(&server, &latest);
    assert_eq!(
        (h[0]["why"].as_str(), h[0]["who"].as_str()),
        (Some("rollback"), Some("token:admin"))
    );
    // And forward again, by digest.
    let r = server.cli_json(&["rollback", "team/app:latest", "--to", &b, "-o", "json"]);
    assert_eq!(r["new_digest"], b.as_str(), "{r}");
    assert_eq!(digest(&latest), b);
    // A digest the tag never named is refused.
    let out = server.cli(&[
        "rollback",
        "team/app:latest",
        "--to",
        &format!("sha256:{}", "0".repeat(64)),
    ]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("never named"), "{}", stderr(&out));

    // Tag and untag by hand.
    let out = server.cli(&["tag", &format!("team/app@{a}"), "team/app:stable"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(digest(&format!("{host}/team/app:stable")), a);
    let tags = server.cli_json(&["tags", "team/app", "-o", "json"]);
    let stable = tags
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["tag"] == "stable")
        .unwrap_or_else(|| panic!("{tags}"));
    assert_eq!(stable["digest"], a.as_str());
    let out = server.cli(&["untag", "team/app:stable"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let gone = Command::new("skopeo")
        .args([
            "inspect",
            "--tls-verify=false",
            &format!("docker://{host}/team/app:stable"),
        ])
        .output()
        .unwrap();
    assert!(!gone.status.success(), "stable is gone");
    let h = history(&server, "team/app:stable");
    let whys: Vec<&str> = h.iter().filter_map(|e| e["why"].as_str()).collect();
    assert_eq!(whys, ["untag", "tag"]);
    // The primary tag cannot be untagged.
    let out = server.cli(&["untag", "team/app:1.0-1"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("is immutable"), "{}", stderr(&out));
    // A push by hand is recorded as one, by the token that pushed.
    let out = push_directly(&server, &format!("{host}/team/app:1.0-1"), &latest);
    assert!(out.status.success(), "{}", stderr(&out));
    let h = history(&server, "team/app:latest");
    assert_eq!(
        (h[0]["why"].as_str(), h[0]["who"].as_str()),
        (Some("push"), Some("token:admin"))
    );
    assert_eq!(h[0]["new_digest"], a.as_str());

    // The repositories, with their owner.
    let images = server.cli_json(&["images", "-o", "json"]);
    let app = images
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["repository"] == format!("{host}/team/app"))
        .unwrap_or_else(|| panic!("{images}"));
    assert_eq!(app["owner"], "app");
    // Another registry's tags: only the moves Slipway made there
    // (promotions), none here.
    let h = history(&server, "quay.io/team/app:latest");
    assert!(h.is_empty(), "{h:?}");
}
