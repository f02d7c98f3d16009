//! One owner per repository; unique and primary tags never move.

use super::*;

#[test]
fn one_owner_per_repository_and_tags_that_never_move() {
    let (server, host, base_image) = start(2);
    let base_repo = GitRepo::new(&[(
        "Dockerfile",
        &dockerfile(&base_image, "team/base", "echo base > /base"),
    )]);
    let app1 = GitRepo::new(&[(
        "Dockerfile",
        &dockerfile(&base_image, "team/app1", "echo app1 > /app1"),
    )]);
    let out = apply(&server, &config("base", &base_repo, "team/base"));
    assert!(out.status.success(), "{}", stderr(&out));
    let b1 = build_config(&server, "base");
    assert_eq!(b1["phase"], "Complete", "{b1}");
    assert_eq!(b1["spec"]["release"], "1");
    let base_digest = digest(&format!("{host}/team/base:latest"));
    let unique = b1["spec"]["tags"][0].as_str().unwrap().to_string();

    // A second config into team/base is refused, naming the owner; so are
    // two new configs with one output.
    let out = apply(&server, &config("app1", &app1, "team/base:selfie"));
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains(&format!(
            "the repository {host}/team/base belongs to config base"
        )),
        "{}",
        stderr(&out)
    );
    let out = apply(
        &server,
        &[
            config("app1", &app1, "team/app1"),
            config("app1b", &app1, "team/app1:b"),
        ]
        .concat(),
    );
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("belongs to config app1"),
        "{}",
        stderr(&out)
    );
    let listed = server.cli_json(&["configs", "-o", "json"]);
    assert_eq!(
        listed.as_array().map(Vec::len),
        Some(1),
        "nothing was applied: {listed}"
    );

    // An ad-hoc build into base's repository moves only the tag it names;
    // its release counts in the repository (its name label is another),
    // so it cannot take base's primary tag 1.0-1.
    let id = server.queue(&app1, &format!("{host}/team/base:direct"), &[]);
    let adhoc = server.wait_final(id);
    assert_eq!(adhoc["phase"], "Complete", "{adhoc}\n{}", server.log(id));
    assert_eq!(adhoc["spec"]["release"], "2", "{adhoc}");
    let tags: Vec<&str> = adhoc["spec"]["tags"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t.as_str())
        .collect();
    assert_eq!(tags[1..], ["1.0-2", "direct"], "{adhoc}");
    assert!(
        server.log(id).contains("belongs to config base"),
        "{}",
        server.log(id)
    );
    let adhoc_digest = digest(&format!("{host}/team/base:direct"));
    assert_ne!(adhoc_digest, base_digest);
    assert_eq!(digest(&format!("{host}/team/base:latest")), base_digest);
    assert_eq!(digest(&format!("{host}/team/base:1.0")), base_digest);
    assert_eq!(digest(&format!("{host}/team/base:1.0-1")), base_digest);

    // The primary and unique tags cannot be moved by a direct push, even
    // with a token that may push; nor deleted. A floating tag can.
    for tag in ["1.0-1", unique.as_str()] {
        let out = push_directly(
            &server,
            &format!("{host}/team/base:direct"),
            &format!("{host}/team/base:{tag}"),
        );
        assert!(!out.status.success(), "{tag} was moved");
        assert!(
            stderr(&out).contains(&format!("tag team/base:{tag} is immutable")),
            "{}",
            stderr(&out)
        );
        assert_eq!(digest(&format!("{host}/team/base:{tag}")), base_digest);
        let r = server.registry(
            "DELETE",
            &format!("/v2/team/base/manifests/{tag}"),
            "repository:team/base:pull,push,delete",
        );
        assert_eq!(r.status, 409, "{}", r.body);
        assert!(
            r.body.contains("DENIED") && r.body.contains("immutable"),
            "{}",
            r.body
        );
    }
    let r = server.registry(
        "DELETE",
        &format!("/v2/team/base/manifests/{base_digest}"),
        "repository:team/base:pull,push,delete",
    );
    assert_eq!(
        r.status, 409,
        "deleting the manifest under them: {}",
        r.body
    );
    let out = push_directly(
        &server,
        &format!("{host}/team/base:direct"),
        &format!("{host}/team/base:moved-by-hand"),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    // Pushing the same image again under its own primary tag is no move.
    let out = push_directly(
        &server,
        &format!("{host}/team/base:1.0-1"),
        &format!("{host}/team/base:1.0-1"),
    );
    assert!(out.status.success(), "{}", stderr(&out));

    // Another registry: a primary tag that exists already (pushed there by
    // someone else) fails the build before anything is pushed.
    let registry = Registry::start();
    let foreign = registry.push_base_image();
    let other = format!("{}/team/app1", registry.host());
    run_ok(
        "skopeo",
        &[
            "copy",
            "--src-tls-verify=false",
            "--dest-tls-verify=false",
            &format!("docker://{foreign}"),
            &format!("docker://{other}:1.0-1"),
        ],
    );
    let id = server.queue(&app1, &format!("{other}:x"), &[]);
    let refused = server.wait_final(id);
    assert_eq!(refused["phase"], "Failed", "{refused}");
    let reason = refused["reason"].as_str().unwrap();
    assert!(
        reason.contains(&format!("the primary tag {other}:1.0-1 exists already")),
        "{reason}"
    );
    let listed = stdout(
        &Command::new("skopeo")
            .args([
                "list-tags",
                "--tls-verify=false",
                &format!("docker://{other}"),
            ])
            .output()
            .unwrap(),
    );
    assert!(!listed.contains("\"x\""), "nothing was pushed: {listed}");
    // A free one is pushed and read back.
    let id = server.queue(&app1, &format!("{}/team/app2:y", registry.host()), &[]);
    let ok = server.wait_final(id);
    assert_eq!(ok["phase"], "Complete", "{ok}\n{}", server.log(id));
}
