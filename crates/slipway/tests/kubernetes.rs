//! Kubernetes clusters end to end, minus the kubelet: the real server talks
//! kube-rs to a fake Kubernetes API (no API server can be installed here)
//! that keeps the objects it is sent; the test then plays the pod, running
//! `slipway worker` with exactly the arguments of the Job the server
//! created and the token of its Secret, and watches the server clean up.

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use slipway_test_support::{GitRepo, Registry, Server, require_tools, stderr, stdout};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_slipway");

#[derive(Default)]
struct FakeState {
    /// "secrets/NAME" or "jobs/NAME" → the object as posted.
    objects: BTreeMap<String, serde_json::Value>,
    requests: Vec<(String, String)>,
    refuse_jobs: bool,
    /// Report every Job as failed with this reason.
    fail_jobs: Option<String>,
}

type Fake = Arc<Mutex<FakeState>>;

fn status(code: u16, message: &str) -> Response {
    (
        StatusCode::from_u16(code).unwrap(),
        axum::Json(serde_json::json!({
            "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": message, "reason": "", "code": code
        })),
    )
        .into_response()
}

async fn handle(State(f): State<Fake>, method: Method, uri: Uri, body: Bytes) -> Response {
    let mut st = f.lock().unwrap();
    let path = uri.path().to_string();
    st.requests.push((method.to_string(), path.clone()));
    let kind_name = |p: &str| -> Option<String> {
        let p = p
            .strip_prefix("/api/v1/namespaces/builds/")
            .or_else(|| p.strip_prefix("/apis/batch/v1/namespaces/builds/"))?;
        Some(p.to_string())
    };
    match (method.as_str(), path.as_str()) {
        ("GET", "/version") => axum::Json(serde_json::json!({
            "major": "1", "minor": "33", "gitVersion": "v1.33.0", "gitCommit": "x",
            "gitTreeState": "clean", "buildDate": "2026-01-01T00:00:00Z",
            "goVersion": "go1.24", "compiler": "gc", "platform": "linux/amd64"
        }))
        .into_response(),
        ("POST", p) => {
            let Some(kind) = kind_name(p) else {
                return status(404, "unknown path");
            };
            if kind == "jobs" && st.refuse_jobs {
                return status(403, "jobs.batch is forbidden: quota exceeded");
            }
            let obj: serde_json::Value = serde_json::from_slice(&body).unwrap();
            let name = obj["metadata"]["name"].as_str().unwrap().to_string();
            st.objects.insert(format!("{kind}/{name}"), obj.clone());
            (StatusCode::CREATED, axum::Json(obj)).into_response()
        }
        ("GET", p) => match kind_name(p).and_then(|k| st.objects.get(&k).cloned()) {
            Some(mut obj) => {
                obj["status"] = match &st.fail_jobs {
                    Some(reason) => serde_json::json!({"failed": 1, "conditions": [
                        {"type": "Failed", "status": "True", "reason": reason}]}),
                    None => serde_json::json!({"active": 1}),
                };
                axum::Json(obj).into_response()
            }
            None => status(404, "not found"),
        },
        ("DELETE", p) => match kind_name(p).and_then(|k| st.objects.remove(&k)) {
            Some(_) => status(200, "deleted"),
            None => status(404, "not found"),
        },
        _ => status(404, "unknown path"),
    }
}

/// The fake API on a port of its own, served by a runtime on its own thread.
fn start_fake(fake: Fake) -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            let app = Router::new().fallback(handle).with_state(fake);
            axum::serve(listener, app).await.unwrap();
        });
    });
    format!("http://{addr}")
}

fn server(clusters_yaml: &str, dir: &Path) -> Server {
    require_tools();
    let file = dir.join("clusters.yaml");
    std::fs::write(&file, clusters_yaml).unwrap();
    std::fs::write(dir.join("k8s-token"), "fake-sa-token").unwrap();
    let config = format!("clusters_file: {}\n", file.display());
    Server::start_with_config(Path::new(BIN), 1, Some(&config))
}

fn k8s_cluster(name: &str, url: &str, dir: &Path, max: u32) -> String {
    format!(
        "  - name: {name}\n    max_concurrent_builds: {max}\n    kubernetes:\n      api_url: {url}\n      token_file: {}\n      namespace: builds\n      builder_image: quay.io/slipway/builder:test\n      deadline_seconds: 600\n",
        dir.join("k8s-token").display()
    )
}

fn wait_for<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn a_build_runs_as_the_job_the_server_creates_and_both_objects_are_deleted() {
    let registry = Registry::start();
    let base = registry.push_base_image();
    let fake: Fake = Arc::default();
    let url = start_fake(fake.clone());
    let dir = tempfile::tempdir().unwrap();
    let server = server(
        &format!(
            "clusters:\n  x86_64:\n{}",
            k8s_cluster("k8s", &url, dir.path(), 2)
        ),
        dir.path(),
    );
    let clusters = server.cli(&["clusters", "-o", "json"]);
    let clusters: serde_json::Value = serde_json::from_str(&stdout(&clusters)).unwrap();
    assert_eq!(clusters[0]["backend"], "kubernetes");
    assert_eq!(clusters[0]["reachable"], true, "{clusters}");

    let repo = GitRepo::new(&[(
        "Dockerfile",
        &format!(
            "FROM {base}\nLABEL name=test/app version=1.0 component=app-container\nRUN echo built-in-a-pod > /where\n"
        ),
    )]);
    let image = format!("{}/k8s:1", registry.host());
    let id = server.queue(&repo, &image, &[]);

    // The server creates the Secret and the Job.
    let (job, secret) = wait_for("the Job", || {
        let st = fake.lock().unwrap();
        let job = st
            .objects
            .iter()
            .find(|(k, _)| k.starts_with("jobs/"))?
            .1
            .clone();
        let secret = st
            .objects
            .iter()
            .find(|(k, _)| k.starts_with("secrets/"))?
            .1
            .clone();
        Some((job, secret))
    });
    let name = job["metadata"]["name"].as_str().unwrap().to_string();
    assert_eq!(secret["metadata"]["name"], name.as_str());
    assert_eq!(
        job["metadata"]["labels"]["slipway.io/build"],
        id.to_string()
    );
    let ctr = &job["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(ctr["image"], "quay.io/slipway/builder:test");
    let token = secret["stringData"]["token"].as_str().unwrap().to_string();
    assert!(token.starts_with("slw_"));

    // Play the pod: the Job's arguments, with the Secret's token and the
    // emptyDir mapped to local paths.
    let pod = tempfile::tempdir().unwrap();
    std::fs::write(pod.path().join("token"), &token).unwrap();
    let args: Vec<String> = ctr["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| match a.as_str().unwrap() {
            "/run/slipway/token" => pod.path().join("token").display().to_string(),
            "/var/lib/slipway-worker" => pod.path().join("data").display().to_string(),
            other => other.to_string(),
        })
        .collect();
    assert_eq!(args[0], "worker");
    let out = std::process::Command::new(BIN)
        .args(&args)
        .env("HOME", pod.path())
        .env_remove("SLIPWAY_URL")
        .env_remove("SLIPWAY_TOKEN")
        .output()
        .unwrap();
    assert!(out.status.success(), "worker: {}", stderr(&out));

    let b = server.wait_final(id);
    assert_eq!(b["phase"], "Complete", "{b}\n{}", server.log(id));
    assert_eq!(b["workers"][0]["cluster"], "k8s");
    let log = server.log(id);
    // Steps: FROM, the Dockerfile's LABEL and RUN, then Slipway's labels.
    assert!(log.contains("STEP 3/9: RUN echo built-in-a-pod"), "{log}");
    let events = b["events"].to_string();
    assert!(
        events.contains(&format!(
            "Job {name} created in namespace builds on cluster k8s"
        )),
        "{events}"
    );
    // The server deletes the Job and the Secret once the worker build ends.
    wait_for("the objects to be deleted", || {
        fake.lock().unwrap().objects.is_empty().then_some(())
    });
    let requests = fake.lock().unwrap().requests.clone();
    assert!(requests.contains(&(
        "DELETE".into(),
        format!("/apis/batch/v1/namespaces/builds/jobs/{name}")
    )));
    assert!(requests.contains(&(
        "DELETE".into(),
        format!("/api/v1/namespaces/builds/secrets/{name}")
    )));
    // The pod's token died with the worker build.
    let r = slipway_test_support::http(server.port, "GET", "/api/v1/builds", Some(&token), None);
    assert_eq!(r.status, 401);
}

#[test]
fn a_refusing_cluster_falls_back_to_the_next_best_and_says_so() {
    let registry = Registry::start();
    let fake: Fake = Arc::new(Mutex::new(FakeState {
        refuse_jobs: true,
        ..Default::default()
    }));
    let url = start_fake(fake.clone());
    let dir = tempfile::tempdir().unwrap();
    // Equal loads: the Kubernetes cluster is first in the file, so it is
    // tried first; it refuses, and the local one takes the build.
    let server = server(
        &format!(
            "clusters:\n  x86_64:\n{}  - name: local\n    max_concurrent_builds: 1\n",
            k8s_cluster("quota", &url, dir.path(), 1)
        ),
        dir.path(),
    );
    let repo = GitRepo::new(&[
        (
            "Dockerfile",
            "FROM scratch\nLABEL name=test/app version=1.0 component=app-container\nCOPY f /f\n",
        ),
        ("f", "x\n"),
    ]);
    let image = format!("{}/fallback:1", registry.host());
    let id = server.queue(&repo, &image, &[]);
    let b = server.wait_final(id);
    assert_eq!(b["phase"], "Complete", "{b}");
    assert_eq!(b["workers"][0]["cluster"], "local");
    assert_eq!(b["workers"][0]["tried"], serde_json::json!(["quota"]));
    let events = b["events"].to_string();
    assert!(
        events.contains("x86_64: cluster quota could not take it (attempt 1 of 3): the Kubernetes API refused to create the worker's Job"),
        "{events}"
    );
    assert!(events.contains("quota exceeded"), "{events}");
    // The refused Job left no Secret behind.
    assert!(fake.lock().unwrap().objects.is_empty());
}

#[test]
fn a_failed_pod_ends_the_build_with_kubernetes_reason() {
    let registry = Registry::start();
    let fake: Fake = Arc::new(Mutex::new(FakeState {
        fail_jobs: Some("DeadlineExceeded".into()),
        ..Default::default()
    }));
    let url = start_fake(fake.clone());
    let dir = tempfile::tempdir().unwrap();
    let unreachable = format!("http://127.0.0.1:{}", slipway_test_support::free_port());
    let server = server(
        &format!(
            "clusters:\n  x86_64:\n{}{}",
            k8s_cluster("k8s", &url, dir.path(), 1),
            k8s_cluster("gone", &unreachable, dir.path(), 1)
        ),
        dir.path(),
    );
    let clusters: serde_json::Value =
        serde_json::from_str(&stdout(&server.cli(&["clusters", "-o", "json"]))).unwrap();
    let reach: Vec<(String, bool)> = clusters
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap().to_string(),
                c["reachable"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        reach,
        [("k8s".to_string(), true), ("gone".to_string(), false)]
    );

    let repo = GitRepo::new(&[
        (
            "Dockerfile",
            "FROM scratch\nLABEL name=test/app version=1.0 component=app-container\nCOPY f /f\n",
        ),
        ("f", "x\n"),
    ]);
    let image = format!("{}/deadline:1", registry.host());
    let id = server.queue(&repo, &image, &[]);
    let b = server.wait_final(id);
    assert_eq!(b["phase"], "Error", "{b}");
    assert_eq!(
        b["reason"], "the worker's pod failed on cluster k8s: DeadlineExceeded",
        "{b}"
    );
    wait_for("the objects to be deleted", || {
        fake.lock().unwrap().objects.is_empty().then_some(())
    });
}
