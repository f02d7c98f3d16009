//! `slipway worker`: one worker build run away from the server (a
//! Kubernetes Job's pod, or a child process), through the same pipeline as
//! in-process builds, reporting to the server's API with the worker build's
//! own short-lived token.
//!
//! Log lines are shipped in batches (every 250 ms, or sooner when many
//! pile up); the worker polls its state every 2 s and stops when the build
//! is cancelled or has ended; the end is reported with a few retries, since
//! losing it would leave the slot taken until the server restarts.

use crate::{Assignment, Outcome, RegistryCredentials, WorkerHost};
use async_trait::async_trait;
use slipway_builder::{Buildah, LogSink};
use slipway_core::WorkerBuildId;
use slipway_core::api::{WorkerResult, WorkerState};
use slipway_core::build::StageTiming;
use slipway_core::scan::ScanReport;
use slipway_core::{BuildPhase, PushedImage};
use std::path::PathBuf;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    #[error(
        "cannot reach the Slipway API at {url}: {source}; check --url and that the server is running"
    )]
    Unreachable { url: String, source: reqwest::Error },
    #[error("the Slipway API refused {what}: {status} {body}")]
    Refused {
        what: String,
        status: reqwest::StatusCode,
        body: String,
    },
    #[error("the Slipway API answered {what} with something unexpected: {0}", what = .1)]
    Protocol(String, String),
    #[error("{0}; pass --ca-file with the CA that signed the server's certificate")]
    Tls(String),
}

/// How to reach the server and which worker build to run.
pub struct RemoteConfig {
    /// The server's base URL, `http://host:port` or `https://…`.
    pub url: String,
    pub token: String,
    /// The CA of an `https://` server's certificate, besides the system's roots.
    pub ca_file: Option<PathBuf>,
    pub worker: WorkerBuildId,
    /// Checkouts and scratch space.
    pub work_dir: PathBuf,
}

#[derive(Clone)]
struct Api {
    http: reqwest::Client,
    base: String,
    token: String,
    worker: WorkerBuildId,
    /// Where the image is kept as an OCI layout for the worker's own scan
    /// (when the server sent a scan policy).
    layout: Option<PathBuf>,
}

impl Api {
    fn url(&self, tail: &str) -> String {
        format!(
            "{}/api/v1/worker-builds/{}{tail}",
            self.base.trim_end_matches('/'),
            self.worker
        )
    }

    async fn send(
        &self,
        method: reqwest::Method,
        tail: &str,
        body: Option<reqwest::Body>,
        json: bool,
    ) -> Result<reqwest::Response, RemoteError> {
        let url = self.url(tail);
        let mut req = self
            .http
            .request(method.clone(), &url)
            .bearer_auth(&self.token);
        if let Some(b) = body {
            req = req
                .header(
                    reqwest::header::CONTENT_TYPE,
                    if json {
                        "application/json"
                    } else {
                        "text/plain; charset=utf-8"
                    },
                )
                .body(b);
        }
        let resp = req
            .send()
            .await
            .map_err(|source| RemoteError::Unreachable {
                url: url.clone(),
                source,
            })?;
        if !resp.status().is_success() {
            let status = resp.status();
            let body = resp.text().await.unwrap_or_default();
            return Err(RemoteError::Refused {
                what: format!("{method} {url}"),
                status,
                body,
            });
        }
        Ok(resp)
    }

    async fn get<T: serde::de::DeserializeOwned>(&self, tail: &str) -> Result<T, RemoteError> {
        let r = self.send(reqwest::Method::GET, tail, None, false).await?;
        r.json()
            .await
            .map_err(|e| RemoteError::Protocol(e.to_string(), format!("GET {}", self.url(tail))))
    }

    async fn post<T: serde::de::DeserializeOwned>(
        &self,
        tail: &str,
        body: &impl serde::Serialize,
    ) -> Result<T, RemoteError> {
        let text = serde_json::to_vec(body)
            .map_err(|e| RemoteError::Protocol(e.to_string(), "encoding".into()))?;
        let r = self
            .send(reqwest::Method::POST, tail, Some(text.into()), true)
            .await?;
        if r.status() == reqwest::StatusCode::NO_CONTENT {
            return serde_json::from_str("null")
                .map_err(|e| RemoteError::Protocol(e.to_string(), format!("POST {tail}")));
        }
        r.json()
            .await
            .map_err(|e| RemoteError::Protocol(e.to_string(), format!("POST {}", self.url(tail))))
    }
}

#[async_trait]
impl WorkerHost for Api {
    fn image_layout(&self, _platform: &str) -> Option<PathBuf> {
        self.layout.clone()
    }

    async fn record_scan(&self, _platform: &str, report: ScanReport) {
        if let Err(e) = self.post::<()>("/scan", &report).await {
            eprintln!("warning: cannot report the scan (the server scans the image itself): {e}");
        }
    }

    async fn known_commit(&self) -> Result<Option<String>, String> {
        let s: WorkerState = self.get("/state").await.map_err(|e| e.to_string())?;
        Ok(s.commit)
    }

    async fn record_commit(&self, ref_name: &str, commit: &str) -> Result<String, String> {
        let v: serde_json::Value = self
            .post(
                "/commit",
                &serde_json::json!({ "ref_name": ref_name, "commit": commit }),
            )
            .await
            .map_err(|e| e.to_string())?;
        v["commit"]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| format!("the API recorded no commit: {v}"))
    }

    async fn record_stage(&self, timing: StageTiming) {
        if let Err(e) = self.post::<()>("/stage", &timing).await {
            eprintln!(
                "warning: cannot report the {} stage: {e}",
                timing.stage.as_str()
            );
        }
    }

    async fn own_registry(&self) -> Result<RegistryCredentials, String> {
        self.post("/registry-credentials", &serde_json::json!({}))
            .await
            .map_err(|e| e.to_string())
    }

    async fn registry_logins(
        &self,
        registries: &[String],
    ) -> Result<Vec<RegistryCredentials>, String> {
        self.post(
            "/registry-logins",
            &serde_json::json!({ "registries": registries }),
        )
        .await
        .map_err(|e| e.to_string())
    }

    async fn secrets(
        &self,
        names: &[String],
    ) -> Result<std::collections::BTreeMap<String, Vec<u8>>, String> {
        use base64::Engine;
        let v: serde_json::Value = self
            .post("/secrets", &serde_json::json!({ "names": names }))
            .await
            .map_err(|e| e.to_string())?;
        let mut out = std::collections::BTreeMap::new();
        for (k, b64) in v["values"].as_object().into_iter().flatten() {
            let bytes = b64
                .as_str()
                .and_then(|t| base64::engine::general_purpose::STANDARD.decode(t).ok())
                .ok_or_else(|| format!("secret {k}: the API sent no base64 value"))?;
            out.insert(k.clone(), bytes);
        }
        Ok(out)
    }
}

/// A log sink that queues lines for the shipper task (and echoes them to
/// stderr, so `kubectl logs` shows the build too).
struct ShippedLog {
    lines: mpsc::UnboundedSender<String>,
}

impl LogSink for ShippedLog {
    fn line(&self, text: &str) {
        eprintln!("{text}");
        let _ = self.lines.send(text.to_string());
    }
}

/// Send queued log lines in batches until the queue closes.
async fn ship_log(api: Api, mut rx: mpsc::UnboundedReceiver<String>) {
    let mut batch = String::new();
    loop {
        let first = match rx.recv().await {
            Some(l) => l,
            None => break,
        };
        batch.push_str(&first);
        batch.push('\n');
        // Collect what arrives in the next 250 ms (at most 1 MiB).
        let deadline = tokio::time::Instant::now() + Duration::from_millis(250);
        while batch.len() < 1 << 20 {
            match tokio::time::timeout_at(deadline, rx.recv()).await {
                Ok(Some(l)) => {
                    batch.push_str(&l);
                    batch.push('\n');
                }
                _ => break,
            }
        }
        let text = std::mem::take(&mut batch);
        for attempt in 0..3 {
            match api
                .send(
                    reqwest::Method::POST,
                    "/log",
                    Some(text.clone().into()),
                    false,
                )
                .await
            {
                Ok(_) => break,
                Err(e) if attempt == 2 => eprintln!("warning: log lines lost: {e}"),
                Err(_) => tokio::time::sleep(Duration::from_millis(500)).await,
            }
        }
    }
}

/// Run the worker build and report its end. Returns the phase it ended in.
pub async fn run(config: RemoteConfig, buildah: &Buildah) -> Result<BuildPhase, RemoteError> {
    slipway_tls::install_default_provider();
    let mut builder = reqwest::Client::builder().connect_timeout(Duration::from_secs(10));
    if config.url.starts_with("https://") {
        let tls = slipway_tls::client_config(config.ca_file.as_deref())
            .map_err(|e| RemoteError::Tls(e.to_string()))?;
        builder = builder.tls_backend_preconfigured(tls);
    }
    let http = builder.build().map_err(|source| RemoteError::Unreachable {
        url: config.url.clone(),
        source,
    })?;
    let mut api = Api {
        http,
        base: config.url.clone(),
        token: config.token.clone(),
        worker: config.worker,
        layout: None,
    };
    let assignment: Assignment = api.get("").await?;
    if assignment.scan.is_some() {
        api.layout = Some(crate::image_layout_in(
            &config.work_dir,
            assignment.build,
            assignment.platform.as_str(),
        ));
    }
    // The embedded registry's names, so its images get its credentials.
    let creds: RegistryCredentials = api
        .post("/registry-credentials", &serde_json::json!({}))
        .await?;

    let (tx, rx) = mpsc::unbounded_channel();
    let shipper = tokio::spawn(ship_log(api.clone(), rx));
    let log = ShippedLog { lines: tx };

    // Stop when the build is cancelled or ends elsewhere (a sibling failed).
    let cancel = CancellationToken::new();
    let poller = {
        let (api, cancel) = (api.clone(), cancel.clone());
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(2)).await;
                if let Ok(s) = api.get::<WorkerState>("/state").await
                    && s.stop
                {
                    cancel.cancel();
                    return;
                }
            }
        })
    };

    if assignment.attempts > 1 {
        log.line(&format!(
            "==> build {}: attempt {} after a server restart",
            assignment.build, assignment.attempts
        ));
    }
    let work = config
        .work_dir
        .join(format!("{}-{}", assignment.build, assignment.platform));
    let outcome = crate::run(
        &api,
        buildah,
        &assignment,
        &creds.hosts,
        &work,
        &log,
        &cancel,
    )
    .await;
    if assignment.spec.platforms.len() > 1 {
        log.line(&outcome.summary(&assignment.platform));
    }
    let _ = tokio::fs::remove_dir_all(&work).await;
    if let Some(layout) = &api.layout {
        let _ = tokio::fs::remove_dir_all(layout).await;
    }
    poller.abort();
    drop(log);
    let _ = shipper.await;

    let (phase, reason, image): (BuildPhase, Option<String>, Option<PushedImage>) = match outcome {
        Outcome::Complete(img) => (BuildPhase::Complete, None, Some(img)),
        Outcome::Failed(r) => (BuildPhase::Failed, Some(r), None),
        Outcome::Cancelled => (BuildPhase::Cancelled, Some("cancelled".into()), None),
        Outcome::Error(r) => (BuildPhase::Error, Some(r), None),
    };
    let result = WorkerResult {
        phase,
        reason,
        image,
    };
    let mut last = None;
    for attempt in 0..5u64 {
        match api.post::<serde_json::Value>("/finish", &result).await {
            Ok(_) => return Ok(phase),
            // Refusals (the build already ended) will not change on retry.
            Err(e @ RemoteError::Refused { .. }) => return Err(e),
            Err(e) => {
                last = Some(e);
                tokio::time::sleep(Duration::from_secs(1 << attempt)).await;
            }
        }
    }
    Err(last.unwrap_or_else(|| RemoteError::Protocol("no answer".into(), "finish".into())))
}
