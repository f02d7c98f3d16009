//! kube-rs against an HTTP endpoint that records every request and answers
//! as the Kubernetes API would (no API server can be installed here). The
//! objects' fields are unit-tested in the crate; this checks what goes over
//! the wire: paths, methods, bodies, the bearer token, and how answers are
//! read.

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use slipway_core::Platform;
use slipway_core::cluster::KubernetesCluster;
use slipway_kubernetes::{JobState, KubeCluster, WorkerPod};
use std::sync::{Arc, Mutex};

#[derive(Debug, Clone)]
struct Recorded {
    method: String,
    path: String,
    auth: String,
    body: serde_json::Value,
}

#[derive(Clone, Default)]
struct Fake {
    log: Arc<Mutex<Vec<Recorded>>>,
    /// Answer job creation with 403.
    refuse_jobs: bool,
    /// What GET on the job returns.
    job_status: Option<serde_json::Value>,
}

fn status(code: u16, reason: &str, message: &str) -> Response {
    (
        StatusCode::from_u16(code).unwrap(),
        axum::Json(serde_json::json!({
            "kind": "Status", "apiVersion": "v1", "metadata": {},
            "status": "Failure", "message": message, "reason": reason, "code": code
        })),
    )
        .into_response()
}

async fn handle(
    State(f): State<Fake>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let body_json: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    f.log.lock().unwrap().push(Recorded {
        method: method.to_string(),
        path: uri.path().to_string(),
        auth: headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string(),
        body: body_json.clone(),
    });
    let path = uri.path();
    match (method.as_str(), path) {
        ("GET", "/version") => axum::Json(serde_json::json!({
            "major": "1", "minor": "33", "gitVersion": "v1.33.0", "gitCommit": "x",
            "gitTreeState": "clean", "buildDate": "2026-01-01T00:00:00Z",
            "goVersion": "go1.24", "compiler": "gc", "platform": "linux/amd64"
        }))
        .into_response(),
        ("POST", "/api/v1/namespaces/builds/secrets") => {
            (StatusCode::CREATED, axum::Json(body_json)).into_response()
        }
        ("POST", "/apis/batch/v1/namespaces/builds/jobs") if f.refuse_jobs => status(
            403,
            "Forbidden",
            "jobs.batch is forbidden: User \"slipway\" cannot create resource \"jobs\"",
        ),
        ("POST", "/apis/batch/v1/namespaces/builds/jobs") => {
            (StatusCode::CREATED, axum::Json(body_json)).into_response()
        }
        ("GET", "/apis/batch/v1/namespaces/builds/jobs/slipway-worker-34") => match &f.job_status {
            Some(s) => axum::Json(serde_json::json!({
                "apiVersion": "batch/v1", "kind": "Job",
                "metadata": {"name": "slipway-worker-34", "namespace": "builds"},
                "spec": {"template": {"spec": {"containers": []}}},
                "status": s
            }))
            .into_response(),
            None => status(
                404,
                "NotFound",
                "jobs.batch \"slipway-worker-34\" not found",
            ),
        },
        ("DELETE", "/apis/batch/v1/namespaces/builds/jobs/slipway-worker-34") => {
            status(200, "", "deleted")
        }
        ("DELETE", "/api/v1/namespaces/builds/secrets/slipway-worker-34") => {
            // Already gone: delete must still succeed.
            status(404, "NotFound", "secrets \"slipway-worker-34\" not found")
        }
        _ => status(404, "NotFound", "no such path in the fake"),
    }
}

async fn start(fake: Fake) -> (String, tempfile::TempDir) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = Router::new().fallback(handle).with_state(fake);
    tokio::spawn(async move { axum::serve(listener, app).await });
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("token"), "k8s-sa-token\n").unwrap();
    (format!("http://{addr}"), dir)
}

fn cluster(url: &str, dir: &std::path::Path) -> KubernetesCluster {
    KubernetesCluster {
        api_url: Some(url.to_string()),
        token_file: Some(dir.join("token").display().to_string()),
        namespace: "builds".into(),
        builder_image: "quay.io/slipway/builder:0.1".into(),
        deadline_seconds: 600,
        ..Default::default()
    }
}

fn pod<'a>(c: &'a KubernetesCluster, platform: &'a Platform) -> WorkerPod<'a> {
    WorkerPod {
        cluster: c,
        cluster_name: "k8s-arm",
        build: 12,
        worker: 34,
        platform,
        api_url: "http://slipway.builds.svc:8080",
        insecure_registries: &[],
        ca_pem: None,
    }
}

#[tokio::test]
async fn submit_creates_the_secret_then_the_job_with_the_clusters_token() {
    let fake = Fake::default();
    let (url, dir) = start(fake.clone()).await;
    let c = cluster(&url, dir.path());
    let platform = Platform::parse("aarch64").unwrap();
    let kube = KubeCluster::connect(&c).await.unwrap();
    assert!(kube.reachable().await);
    kube.submit(&pod(&c, &platform), "slw_worker_token")
        .await
        .unwrap();

    let log = fake.log.lock().unwrap().clone();
    let writes: Vec<&Recorded> = log.iter().filter(|r| r.method == "POST").collect();
    assert_eq!(writes.len(), 2, "{log:#?}");
    // The Secret first, so the pod never starts without its token.
    assert_eq!(writes[0].path, "/api/v1/namespaces/builds/secrets");
    assert_eq!(writes[1].path, "/apis/batch/v1/namespaces/builds/jobs");
    for w in &writes {
        assert_eq!(
            w.auth, "Bearer k8s-sa-token",
            "the cluster's token, not Slipway's"
        );
    }
    let s = &writes[0].body;
    assert_eq!(s["apiVersion"], "v1");
    assert_eq!(s["kind"], "Secret");
    assert_eq!(s["metadata"]["name"], "slipway-worker-34");
    assert_eq!(s["metadata"]["namespace"], "builds");
    assert_eq!(s["metadata"]["labels"]["slipway.io/worker-build"], "34");
    assert_eq!(s["type"], "Opaque");
    assert_eq!(s["immutable"], true);
    assert_eq!(s["stringData"]["token"], "slw_worker_token");

    let j = &writes[1].body;
    assert_eq!(j["apiVersion"], "batch/v1");
    assert_eq!(j["kind"], "Job");
    assert_eq!(j["metadata"]["name"], "slipway-worker-34");
    assert_eq!(j["spec"]["backoffLimit"], 0);
    assert_eq!(j["spec"]["activeDeadlineSeconds"], 600);
    assert_eq!(j["spec"]["ttlSecondsAfterFinished"], 3600);
    let podspec = &j["spec"]["template"]["spec"];
    assert_eq!(podspec["restartPolicy"], "Never");
    assert_eq!(podspec["automountServiceAccountToken"], false);
    assert_eq!(podspec["nodeSelector"]["kubernetes.io/arch"], "arm64");
    let ctr = &podspec["containers"][0];
    assert_eq!(ctr["name"], "worker");
    assert_eq!(ctr["image"], "quay.io/slipway/builder:0.1");
    assert_eq!(
        ctr["args"],
        serde_json::json!([
            "worker",
            "--worker-build",
            "34",
            "--url",
            "http://slipway.builds.svc:8080",
            "--token-file",
            "/run/slipway/token",
            "--data-dir",
            "/var/lib/slipway-worker"
        ])
    );
    assert_eq!(ctr["securityContext"]["privileged"], true);
    assert_eq!(
        podspec["volumes"][0]["secret"]["secretName"],
        "slipway-worker-34"
    );
    assert_eq!(podspec["volumes"][0]["secret"]["defaultMode"], 0o400);
    assert!(podspec["volumes"][1]["emptyDir"].is_object());
    // The token never appears in the Job.
    assert!(!j.to_string().contains("slw_worker_token"));
}

#[tokio::test]
async fn a_refused_job_takes_its_secret_back_and_says_why() {
    let fake = Fake {
        refuse_jobs: true,
        ..Default::default()
    };
    let (url, dir) = start(fake.clone()).await;
    let c = cluster(&url, dir.path());
    let platform = Platform::parse("x86_64").unwrap();
    let kube = KubeCluster::connect(&c).await.unwrap();
    let err = kube
        .submit(&pod(&c, &platform), "slw_t")
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("create the worker's Job"), "{err}");
    assert!(err.contains("forbidden"), "{err}");
    let log = fake.log.lock().unwrap().clone();
    let last = log.last().unwrap();
    assert_eq!(last.method, "DELETE");
    assert_eq!(
        last.path,
        "/api/v1/namespaces/builds/secrets/slipway-worker-34"
    );
}

#[tokio::test]
async fn job_states_and_delete() {
    let fake = Fake {
        job_status: Some(serde_json::json!({
            "failed": 1,
            "conditions": [{"type": "Failed", "status": "True", "reason": "DeadlineExceeded",
                            "message": "Job was active longer than specified deadline"}]
        })),
        ..Default::default()
    };
    let (url, dir) = start(fake.clone()).await;
    let c = cluster(&url, dir.path());
    let kube = KubeCluster::connect(&c).await.unwrap();
    assert_eq!(
        kube.job_state(34).await.unwrap(),
        JobState::Failed("DeadlineExceeded".into())
    );
    assert_eq!(kube.job_state(35).await.unwrap(), JobState::Missing);

    kube.delete(34).await.unwrap();
    let log = fake.log.lock().unwrap().clone();
    let deletes: Vec<&Recorded> = log.iter().filter(|r| r.method == "DELETE").collect();
    assert_eq!(deletes.len(), 2);
    assert_eq!(
        deletes[0].path,
        "/apis/batch/v1/namespaces/builds/jobs/slipway-worker-34"
    );
    // Background propagation, so the pod goes with the Job.
    assert_eq!(
        deletes[0].body["propagationPolicy"], "Background",
        "{:?}",
        deletes[0]
    );
    assert_eq!(
        deletes[1].path,
        "/api/v1/namespaces/builds/secrets/slipway-worker-34"
    );
}

#[tokio::test]
async fn an_unreachable_cluster_is_reported() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("token"), "t\n").unwrap();
    let c = cluster(&format!("http://127.0.0.1:{port}"), dir.path());
    let kube = KubeCluster::connect(&c).await.unwrap();
    assert!(!kube.reachable().await);
    let platform = Platform::parse("x86_64").unwrap();
    let err = kube
        .submit(&pod(&c, &platform), "t")
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("create the worker's Secret"), "{err}");
}

#[tokio::test]
async fn a_kubeconfig_context_picks_server_and_credentials() {
    let fake = Fake::default();
    let (url, dir) = start(fake.clone()).await;
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        format!(
            "apiVersion: v1\nkind: Config\ncurrent-context: other\nclusters:\n- name: fake\n  cluster:\n    server: {url}\n- name: nowhere\n  cluster:\n    server: http://127.0.0.1:1\ncontexts:\n- name: builds\n  context:\n    cluster: fake\n    user: builder\n- name: other\n  context:\n    cluster: nowhere\n    user: builder\nusers:\n- name: builder\n  user:\n    token: from-kubeconfig\n"
        ),
    )
    .unwrap();
    let c = KubernetesCluster {
        kubeconfig: Some(kubeconfig.display().to_string()),
        context: Some("builds".into()),
        namespace: "builds".into(),
        builder_image: "quay.io/slipway/builder:0.1".into(),
        deadline_seconds: 600,
        ..Default::default()
    };
    let kube = KubeCluster::connect(&c).await.unwrap();
    assert!(
        kube.reachable().await,
        "the named context, not current-context"
    );
    let log = fake.log.lock().unwrap().clone();
    assert_eq!(log.last().unwrap().auth, "Bearer from-kubeconfig");

    let missing = KubernetesCluster {
        kubeconfig: Some(dir.path().join("nope").display().to_string()),
        ..c
    };
    let err = KubeCluster::connect(&missing)
        .await
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("cannot read kubeconfig"), "{err}");
}
