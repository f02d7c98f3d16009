//! The API client: finds the server and token, sends requests, turns API
//! errors into messages that say what to do next.

use serde::Deserialize;
use serde::de::DeserializeOwned;
use slipway_core::api::ErrorBody;
use std::path::{Path, PathBuf};

pub const DEFAULT_URL: &str = "http://127.0.0.1:8080";

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error(
        "cannot reach the Slipway server at {url}: {detail}\n  start one with `slipway serve`, or point SLIPWAY_URL at a running server"
    )]
    Unreachable { url: String, detail: String },
    #[error(
        "no API token found: {0}\n  set SLIPWAY_TOKEN, or SLIPWAY_TOKEN_FILE to the server's <data-dir>/admin-token"
    )]
    NoToken(String),
    #[error(
        "the server refused the token: {0}\n  set SLIPWAY_TOKEN or SLIPWAY_TOKEN_FILE to a valid token (the admin token is in the server's <data-dir>/admin-token)"
    )]
    Unauthorized(String),
    #[error("{message} ({code})")]
    Api {
        status: u16,
        code: String,
        message: String,
    },
    #[error("unexpected answer from the server: {0}")]
    Protocol(String),
    #[error("{0}")]
    Config(String),
}

/// Where the CLI connects, and with which token.
#[derive(Debug, Clone)]
pub struct Endpoint {
    pub url: String,
    pub token: String,
    /// The CA that signed an `https://` server's certificate, when the
    /// system's roots do not cover it.
    pub ca_file: Option<PathBuf>,
}

/// The user's config file (`~/.config/slipway/config.yaml`), or the state
/// file a local server writes on start (`~/.local/state/slipway/server.yaml`).
/// The user's file may name several servers (`contexts`, made by `slipway
/// login`) and the one in use (`current`).
#[derive(Debug, Default, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct ClientFile {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_file: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current: Option<String>,
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub contexts: std::collections::BTreeMap<String, Context>,
}

/// One server the CLI knows (`slipway login`).
#[derive(Debug, Clone, Default, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct Context {
    pub url: String,
    pub token_file: PathBuf,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<PathBuf>,
}

impl ClientFile {
    /// The fields of the context in use (`wanted`, else `current`), over
    /// the flat ones.
    fn resolved(mut self, wanted: Option<&str>) -> Result<ClientFile, ClientError> {
        let Some(name) = wanted.map(str::to_string).or_else(|| self.current.clone()) else {
            return Ok(self);
        };
        let Some(c) = self.contexts.get(&name).cloned() else {
            let known: Vec<&str> = self.contexts.keys().map(String::as_str).collect();
            return Err(ClientError::Config(format!(
                "no context named {name}; there are: {}\n  `slipway login URL --name {name}` makes it",
                if known.is_empty() {
                    "none".to_string()
                } else {
                    known.join(", ")
                }
            )));
        };
        self.url = Some(c.url);
        self.token_file = Some(c.token_file);
        self.token = None;
        self.ca_file = c.ca_file;
        Ok(self)
    }
}

pub fn user_config_path() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))?;
    Some(base.join("slipway/config.yaml"))
}

/// Written by `slipway serve` so that a CLI on the same machine finds it.
pub fn local_server_state_path() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_STATE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/state")))?;
    Some(base.join("slipway/server.yaml"))
}

fn read_client_file(path: &Path) -> Result<Option<ClientFile>, ClientError> {
    match std::fs::read_to_string(path) {
        Ok(t) => serde_saphyr::from_str(&t).map(Some).map_err(|e| {
            ClientError::Config(format!(
                "{} is invalid: {e}\n  fix or remove it",
                path.display()
            ))
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(ClientError::Config(format!(
            "cannot read {}: {e}",
            path.display()
        ))),
    }
}

fn read_token_file(path: &Path) -> Result<String, ClientError> {
    let t = std::fs::read_to_string(path).map_err(|e| {
        ClientError::NoToken(format!("cannot read token file {}: {e}", path.display()))
    })?;
    let t = t.trim().to_string();
    if t.is_empty() {
        return Err(ClientError::NoToken(format!(
            "token file {} is empty",
            path.display()
        )));
    }
    Ok(t)
}

impl Endpoint {
    /// Resolve the endpoint: flags and environment first (`--url`/`SLIPWAY_URL`,
    /// `--token`/`SLIPWAY_TOKEN`, `--token-file`/`SLIPWAY_TOKEN_FILE`), then the
    /// user's config file, then the last local server's state file, then the
    /// defaults (`http://127.0.0.1:8080`, `./.slipway/admin-token`).
    pub fn discover(
        url: Option<String>,
        token: Option<String>,
        token_file: Option<PathBuf>,
        ca_file: Option<PathBuf>,
    ) -> Result<Self, ClientError> {
        Self::discover_in(url, token, token_file, ca_file, None)
    }

    /// [`Endpoint::discover`], with a context of the user's config file.
    /// The first file that names a server supplies its URL, token and CA
    /// together: a local server's state file never mixes with a context.
    pub fn discover_in(
        url: Option<String>,
        token: Option<String>,
        token_file: Option<PathBuf>,
        ca_file: Option<PathBuf>,
        context: Option<&str>,
    ) -> Result<Self, ClientError> {
        let mut files = Vec::new();
        if let Some(p) = user_config_path()
            && let Some(f) = read_client_file(&p)?
        {
            files.push(f.resolved(context)?);
        } else if let Some(name) = context {
            return Err(ClientError::Config(format!(
                "no context named {name}: `slipway login URL --name {name}` makes it"
            )));
        }
        if let Some(p) = local_server_state_path()
            && let Some(f) = read_client_file(&p)?
        {
            files.push(f);
        }
        // The first file naming a URL is the one in use; another file that
        // names a different server lends it nothing (no stale mixtures).
        if url.is_none()
            && let Some(i) = files.iter().position(|f| f.url.is_some())
        {
            let chosen = files[i].url.clone();
            let mut kept = Vec::new();
            for (j, f) in files.into_iter().enumerate() {
                if j == i || f.url.is_none() || f.url == chosen {
                    kept.push(f);
                }
            }
            kept.sort_by_key(|f| f.url != chosen);
            files = kept;
        }
        let url = url
            .or_else(|| files.iter().find_map(|f| f.url.clone()))
            .unwrap_or_else(|| DEFAULT_URL.to_string());
        let url = url.trim_end_matches('/').to_string();
        let token = if let Some(t) = token.filter(|t| !t.trim().is_empty()) {
            t.trim().to_string()
        } else if let Some(p) = token_file {
            read_token_file(&p)?
        } else if let Some(t) = files.iter().find_map(|f| f.token.clone()) {
            t
        } else if let Some(p) = files.iter().find_map(|f| f.token_file.clone()) {
            read_token_file(&p)?
        } else {
            read_token_file(Path::new(".slipway/admin-token"))?
        };
        let ca_file = ca_file.or_else(|| files.iter().find_map(|f| f.ca_file.clone()));
        Ok(Endpoint {
            url,
            token,
            ca_file,
        })
    }
}

/// An HTTP client for `url`: over `https://`, TLS verified against the
/// system's roots and `ca_file`'s certificates; never unverified.
pub fn http_client(url: &str, ca_file: Option<&Path>) -> Result<reqwest::Client, ClientError> {
    // reqwest makes its default TLS setup even for http:// clients.
    slipway_tls::install_default_provider();
    let mut builder =
        reqwest::Client::builder().connect_timeout(std::time::Duration::from_secs(10));
    if url.starts_with("https://") {
        let tls = slipway_tls::client_config(ca_file).map_err(|e| {
            ClientError::Config(format!("{e}\n  pass --ca-file (or SLIPWAY_CA_FILE) with the CA that signed the server's certificate"))
        })?;
        builder = builder.tls_backend_preconfigured(tls);
    } else if !url.starts_with("http://") {
        return Err(ClientError::Config(format!(
            "{url} is not a server URL: it starts with https:// or http://"
        )));
    }
    builder
        .build()
        .map_err(|e| ClientError::Config(format!("cannot create HTTP client: {e}")))
}

/// A transport error as the user needs it: the innermost cause, and what
/// to do about a certificate the client does not trust.
pub fn unreachable(url: &str, e: &reqwest::Error) -> ClientError {
    let mut detail = e.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(s) = src {
        detail = s.to_string();
        src = s.source();
    }
    if detail.contains("UnknownIssuer")
        || detail.contains("certificate")
        || detail.contains("NotValidForName")
    {
        detail.push_str(
            "\n  the server's TLS certificate is not trusted here: pass --ca-file (or SLIPWAY_CA_FILE) with the CA that signed it, and reach the server by a name the certificate carries",
        );
    }
    ClientError::Unreachable {
        url: url.to_string(),
        detail,
    }
}

pub struct Client {
    pub endpoint: Endpoint,
    http: reqwest::Client,
}

impl Client {
    pub fn new(endpoint: Endpoint) -> Result<Self, ClientError> {
        let http = http_client(&endpoint.url, endpoint.ca_file.as_deref())?;
        Ok(Client { endpoint, http })
    }

    fn url(&self, path: &str) -> String {
        format!("{}/api/v1{path}", self.endpoint.url)
    }

    fn unreachable(&self, e: reqwest::Error) -> ClientError {
        unreachable(&self.endpoint.url, &e)
    }

    /// Send a request and check its status; API errors become [`ClientError::Api`].
    pub async fn send(
        &self,
        req: reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, ClientError> {
        let resp = req
            .bearer_auth(&self.endpoint.token)
            .send()
            .await
            .map_err(|e| self.unreachable(e))?;
        let status = resp.status();
        if status.is_success() {
            return Ok(resp);
        }
        let text = resp.text().await.unwrap_or_default();
        let body: Option<ErrorBody> = serde_json::from_str(&text).ok();
        match body {
            Some(b) if status.as_u16() == 401 => Err(ClientError::Unauthorized(b.message)),
            Some(b) => Err(ClientError::Api {
                status: status.as_u16(),
                code: b.code,
                message: b.message,
            }),
            None => Err(ClientError::Protocol(format!(
                "HTTP {status} from {}: {}",
                self.endpoint.url,
                text.chars().take(200).collect::<String>()
            ))),
        }
    }

    pub async fn get_json<T: DeserializeOwned>(&self, path: &str) -> Result<T, ClientError> {
        let resp = self.send(self.http.get(self.url(path))).await?;
        resp.json()
            .await
            .map_err(|e| ClientError::Protocol(e.to_string()))
    }

    pub async fn post_json<T: DeserializeOwned>(
        &self,
        path: &str,
        body: &impl serde::Serialize,
    ) -> Result<T, ClientError> {
        let resp = self.send(self.http.post(self.url(path)).json(body)).await?;
        resp.json()
            .await
            .map_err(|e| ClientError::Protocol(e.to_string()))
    }

    pub async fn patch_json<T: DeserializeOwned>(
        &self,
        path: &str,
        body: &impl serde::Serialize,
    ) -> Result<T, ClientError> {
        let resp = self
            .send(self.http.patch(self.url(path)).json(body))
            .await?;
        resp.json()
            .await
            .map_err(|e| ClientError::Protocol(e.to_string()))
    }

    pub async fn delete_json<T: DeserializeOwned>(&self, path: &str) -> Result<T, ClientError> {
        let resp = self.send(self.http.delete(self.url(path))).await?;
        resp.json()
            .await
            .map_err(|e| ClientError::Protocol(e.to_string()))
    }

    pub async fn delete(&self, path: &str) -> Result<(), ClientError> {
        self.send(self.http.delete(self.url(path)))
            .await
            .map(|_| ())
    }

    /// The server's version (from `/healthz`, which needs no token).
    pub async fn server_version(&self) -> Result<String, ClientError> {
        let url = format!("{}/healthz", self.endpoint.url);
        let v: serde_json::Value = self
            .http
            .get(&url)
            .send()
            .await
            .map_err(|e| self.unreachable(e))?
            .json()
            .await
            .map_err(|e| ClientError::Protocol(e.to_string()))?;
        Ok(v["version"]
            .as_str()
            .unwrap_or("unknown (older than 0.1)")
            .to_string())
    }

    /// `GET /api/v1{path}` as an event stream (SSE), resuming after
    /// `last_event_id` when given.
    pub async fn get_events(
        &self,
        path: &str,
        last_event_id: Option<&str>,
    ) -> Result<reqwest::Response, ClientError> {
        let mut req = self
            .http
            .get(self.url(path))
            .header(reqwest::header::ACCEPT, "text/event-stream");
        if let Some(id) = last_event_id {
            req = req.header("Last-Event-ID", id);
        }
        self.send(req).await
    }

    /// A streaming GET (for logs).
    pub async fn get_stream(&self, path: &str) -> Result<reqwest::Response, ClientError> {
        self.send(self.http.get(self.url(path))).await
    }
}
