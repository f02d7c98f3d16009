//! The test stage: it gates every tag but the unique one.

use super::*;

#[test]
fn the_test_stage_gates_every_tag_but_the_unique_one() {
    let (server, host, base_image) = start(2);

    // A passing test, in a container of the image, with the repository's
    // files and a JUnit report.
    let check = "set -e\ngrep -q hello /greeting\ntest -f /slipway/src/slipway.yaml\ncat > \"$TEST_RESULTS/junit.xml\" <<EOF\n<testsuites><testsuite name=\"image\" tests=\"2\" failures=\"0\" errors=\"0\"/></testsuites>\nEOF\n";
    let repo = tested_repo(
        &base_image,
        "team/tested",
        "sh tests/check.sh",
        &[("tests/check.sh", check)],
    );
    let id = server.queue(&repo, &format!("{host}/team/tested:x"), &[]);
    let b = server.wait_final(id);
    assert_eq!(b["phase"], "Complete", "{b}\n{}", server.log(id));
    let shown = server.cli_json(&["show", &id.to_string(), "-o", "json"]);
    assert_eq!(shown["test"]["passed"], true, "{shown}");
    assert_eq!(shown["test"]["mode"], "container");
    assert_eq!(shown["test"]["exit_code"], 0);
    assert_eq!(shown["test"]["junit"]["tests"], 2, "{shown}");
    assert!(
        slipway_test_support::stage_names(&b).contains(&"test".to_string()),
        "{b}"
    );
    let table = stdout(&server.cli(&["show", &id.to_string()]));
    assert!(table.contains("test (container): passed"), "{table}");
    let junit = server.api("GET", &format!("/api/v1/builds/{id}/test/junit"), None);
    assert_eq!(junit.status, 200);
    assert!(
        junit.body.contains("<testsuite name=\"image\""),
        "{}",
        junit.body
    );
    assert!(
        server.log(id).contains("==> test (container)"),
        "{}",
        server.log(id)
    );

    // A failing test fails the build; only the unique tag names the image.
    let repo = tested_repo(&base_image, "team/untested", "\"echo no; exit 3\"", &[]);
    let id = server.queue(&repo, &format!("{host}/team/untested:x"), &[]);
    let b = server.wait_final(id);
    assert_eq!(b["phase"], "Failed", "{b}");
    let reason = b["reason"].as_str().unwrap();
    assert!(
        reason.contains("test (container): failed") && reason.contains("exit code 3"),
        "{reason}"
    );
    assert_eq!(
        tags_of(&server, "team/untested"),
        [b["spec"]["tags"][0].as_str().unwrap()]
    );
    let shown = server.cli_json(&["show", &id.to_string(), "-o", "json"]);
    assert_eq!(shown["test"]["exit_code"], 3, "{shown}");

    // Without --network the test has none: reaching the server fails.
    let port = host.rsplit(':').next().unwrap();
    let probe = format!(
        "(printf 'GET /healthz HTTP/1.0\\r\\n\\r\\n'; sleep 2) | nc -w 3 127.0.0.1 {port} > /tmp/probe.txt\ngrep -q ' 200 ' /tmp/probe.txt\n"
    );
    let repo = tested_repo(
        &base_image,
        "team/offline",
        "sh tests/net.sh",
        &[("tests/net.sh", &probe)],
    );
    let id = server.queue(&repo, &format!("{host}/team/offline:x"), &[]);
    let b = server.wait_final(id);
    assert_eq!(b["phase"], "Failed", "{b}\n{}", server.log(id));
    let log = server.log(id);
    assert!(
        log.contains("test (container): failed") && !log.contains("segmentation"),
        "{log}"
    );
    // With it, it may.
    let id = server.queue(&repo, &format!("{host}/team/offline:y"), &["--network"]);
    let b = server.wait_final(id);
    assert_eq!(b["phase"], "Complete", "{b}\n{}", server.log(id));

    // Host mode: the command runs beside the image, IMAGE naming it.
    let host_test = "{command: 'test -n \"$IMAGE\" && skopeo inspect --tls-verify=false \"docker://$IMAGE\" > /dev/null', mode: host}";
    let repo = tested_repo(&base_image, "team/hosted", host_test, &[]);
    let id = server.queue(&repo, &format!("{host}/team/hosted:x"), &[]);
    let b = server.wait_final(id);
    assert_eq!(b["phase"], "Complete", "{b}\n{}", server.log(id));
    let shown = server.cli_json(&["show", &id.to_string(), "-o", "json"]);
    assert_eq!(shown["test"]["mode"], "host", "{shown}");
}
