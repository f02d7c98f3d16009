//! Who may do what in the registry.
//!
//! Credentials come three ways: `Authorization: Basic` with a Slipway API
//! token (or a registry token) as the password, `Bearer <api token>`, or
//! the Docker/OCI token flow: a 401 carries `WWW-Authenticate: Bearer
//! realm="…/auth/token",service="slipway",scope="…"`, the client fetches a
//! short-lived registry token there and retries with `Bearer <it>`. That
//! is what `skopeo login`, `podman login` and `buildah login` do.
//!
//! Every request needs something ([`Need`]): a repository and an action
//! (pull for reads, push for uploads and manifest pushes, delete for
//! deletes), or the catalog. What credentials allow is a list of
//! [`Grant`]s: an API token may do everything (until projects and roles
//! exist); a registry token carries the grants it was issued with, which
//! are never more than what its holder had and what it asked for (the
//! token specification's `scope=repository:NAME:pull,push`); anonymous
//! clients, when anonymous pull is on, may pull.
//!
//! Registry tokens are `slr_<payload>.<hmac>`: the payload is base64url
//! JSON (`exp`, grants `g`, and the subject `s` it was issued to), the
//! HMAC-SHA256 is keyed with a secret the server keeps in its data dir.
//! The subject — `token:NAME` for an API token, `build:ID` for a build's
//! registry token — is what the tag history records as who moved a tag.

use crate::error::RegistryError;
use axum::http::{HeaderMap, header};
use base64::Engine;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use slipway_core::token::{ANY_REPOSITORY, Action, Grant, allowed, hash_token, intersect};
use slipway_store::Store;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const REGISTRY_TOKEN_PREFIX: &str = "slr_";
/// How long a registry token lives.
pub const TOKEN_TTL: Duration = Duration::from_secs(300);

/// A registry token with `grants`, expiring at `exp`, signed with `key`
/// (what the server does; tests use it to make an expired one).
pub fn mint(key: &[u8], grants: Vec<Grant>, exp: u64) -> String {
    mint_as(key, Access::new(grants, None), exp)
}

/// [`mint`], for a subject.
pub fn mint_as(key: &[u8], access: Access, exp: u64) -> String {
    let json = serde_json::to_vec(&Payload {
        exp,
        g: access.grants,
        s: access.subject,
    })
    .unwrap_or_default();
    let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json);
    let mut m = <Hmac<Sha256> as Mac>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
    m.update(payload.as_bytes());
    let sig = hex::encode(m.finalize().into_bytes());
    format!("{REGISTRY_TOKEN_PREFIX}{payload}.{sig}")
}

/// What a request needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Need {
    /// `/v2/`: any valid credentials (and a challenge without them).
    Base,
    /// `/v2/_catalog`: pull on every repository.
    Catalog,
    /// An action on one repository.
    Repository(String, Action),
}

impl Need {
    /// The token scope a client should ask for to satisfy this need.
    fn scope(&self) -> Option<String> {
        match self {
            Need::Base => None,
            Need::Catalog => Some("registry:catalog:*".into()),
            Need::Repository(name, action) => Some(format!(
                "repository:{name}:{}",
                match action {
                    // Clients that pull ask for pull; those that push ask
                    // for both, so say both.
                    Action::Pull => "pull",
                    Action::Push => "pull,push",
                    Action::Delete => "delete",
                }
            )),
        }
    }
}

/// Grants for everything: what an API token may do.
pub fn everything() -> Vec<Grant> {
    vec![Grant::new(ANY_REPOSITORY, &Action::ALL)]
}

fn anonymous() -> Vec<Grant> {
    vec![Grant::new(ANY_REPOSITORY, &[Action::Pull])]
}

/// What credentials allow, and whose they are.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Access {
    pub grants: Vec<Grant>,
    /// `token:NAME`, `build:ID`; `None` for anonymous clients.
    pub subject: Option<String>,
}

impl Access {
    pub fn new(grants: Vec<Grant>, subject: Option<String>) -> Self {
        Access { grants, subject }
    }

    /// The build whose registry token this is, if it is one.
    pub fn build(&self) -> Option<i64> {
        self.subject
            .as_deref()?
            .strip_prefix("build:")?
            .parse()
            .ok()
    }

    /// Who, for people: the subject, or `anonymous`.
    pub fn who(&self) -> String {
        self.subject.clone().unwrap_or_else(|| "anonymous".into())
    }
}

/// What the request's `Authorization` header proves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credentials {
    /// No `Authorization` header.
    None,
    Valid(Access),
    /// A registry token whose time is up: the client should get a new one.
    Expired,
    Invalid,
}

#[derive(Serialize, Deserialize)]
struct Payload {
    exp: u64,
    g: Vec<Grant>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    s: Option<String>,
}

pub struct RegistryAuth {
    store: Arc<dyn Store>,
    key: Vec<u8>,
    pub anonymous_pull: bool,
    /// The prefixes of the environments in this registry (`stable`): a
    /// project's images there are its too.
    pub env_prefixes: Vec<String>,
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl RegistryAuth {
    pub fn new(store: Arc<dyn Store>, key: Vec<u8>, anonymous_pull: bool) -> Self {
        RegistryAuth {
            store,
            key,
            anonymous_pull,
            env_prefixes: Vec::new(),
        }
    }

    pub(crate) fn store(&self) -> &dyn Store {
        self.store.as_ref()
    }

    /// The environments' prefixes in this registry (see `env_prefixes`).
    pub fn with_env_prefixes(mut self, prefixes: Vec<String>) -> Self {
        self.env_prefixes = prefixes;
        self
    }

    fn mac(&self, payload: &str) -> Hmac<Sha256> {
        let mut m = <Hmac<Sha256> as Mac>::new_from_slice(&self.key).unwrap_or_else(|_| {
            // HMAC accepts keys of any length; this cannot happen.
            unreachable!("HMAC key rejected")
        });
        m.update(payload.as_bytes());
        m
    }

    /// Issue a registry token with `grants`, valid for [`TOKEN_TTL`].
    pub fn issue(&self, grants: Vec<Grant>) -> String {
        self.issue_until(grants, now_secs() + TOKEN_TTL.as_secs())
    }

    /// Issue a registry token for `access` (its grants, to its subject),
    /// valid for [`TOKEN_TTL`].
    pub fn issue_to(&self, access: Access) -> String {
        mint_as(&self.key, access, now_secs() + TOKEN_TTL.as_secs())
    }

    /// Issue a registry token with `grants` that expires at `exp` (seconds
    /// since the epoch).
    pub fn issue_until(&self, grants: Vec<Grant>, exp: u64) -> String {
        mint(&self.key, grants, exp)
    }

    /// The grants of a registry token; `None` when it is not one of ours
    /// (or was tampered with), `Some(Err(()))` when it expired.
    fn verify_registry_token(&self, token: &str) -> Option<Result<Access, ()>> {
        let rest = token.strip_prefix(REGISTRY_TOKEN_PREFIX)?;
        let (payload, sig) = rest.rsplit_once('.')?;
        let sig = hex::decode(sig).ok()?;
        self.mac(payload).verify_slice(&sig).ok()?;
        let json = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .ok()?;
        let p: Payload = serde_json::from_slice(&json).ok()?;
        if p.exp < now_secs() {
            return Some(Err(()));
        }
        Some(Ok(Access::new(p.g, p.s)))
    }

    async fn password(&self, secret: &str) -> Credentials {
        match self.verify_registry_token(secret) {
            Some(Ok(access)) => return Credentials::Valid(access),
            Some(Err(())) => return Credentials::Expired,
            None => {}
        }
        match self.store.principal(&hash_token(secret)).await {
            Ok(Some(p)) => {
                // What its binding reaches, given the projects there are.
                let Ok(projects) = self.store.project_names().await else {
                    return Credentials::Invalid;
                };
                Credentials::Valid(Access::new(
                    p.binding.registry_grants(&projects, &self.env_prefixes),
                    Some(p.subject()),
                ))
            }
            _ => Credentials::Invalid,
        }
    }

    /// What anyone may do without credentials: pull everything when the
    /// server says so (`registry_anonymous_pull`), else the repositories
    /// of the projects that allow anonymous pull.
    async fn anonymous_grants(&self) -> Vec<Grant> {
        if self.anonymous_pull {
            return anonymous();
        }
        let Ok(projects) = self.store.projects().await else {
            return Vec::new();
        };
        let names: Vec<String> = projects.iter().map(|p| p.name.clone()).collect();
        projects
            .iter()
            .filter(|p| p.anonymous_pull)
            .flat_map(|p| {
                slipway_core::access::Binding {
                    project: Some(p.name.clone()),
                    role: slipway_core::access::Role::Viewer,
                }
                .registry_grants(&names, &self.env_prefixes)
            })
            .collect()
    }

    /// What the request's credentials prove. Invalid credentials are never
    /// treated as none (a wrong password must not silently become
    /// anonymous access).
    pub async fn credentials(&self, headers: &HeaderMap) -> Credentials {
        let Some(value) = headers.get(header::AUTHORIZATION) else {
            return Credentials::None;
        };
        let Ok(value) = value.to_str() else {
            return Credentials::Invalid;
        };
        let (scheme, rest) = value.split_once(' ').unwrap_or((value, ""));
        let rest = rest.trim();
        match scheme.to_ascii_lowercase().as_str() {
            "bearer" => self.password(rest).await,
            "basic" => {
                let decoded = base64::engine::general_purpose::STANDARD
                    .decode(rest)
                    .ok()
                    .and_then(|b| String::from_utf8(b).ok());
                match decoded.as_deref().and_then(|d| d.split_once(':')) {
                    Some((_, password)) => self.password(password).await,
                    None => Credentials::Invalid,
                }
            }
            _ => Credentials::Invalid,
        }
    }

    /// Allow or refuse a request that needs `need`; on success, the
    /// grants it was allowed with. The base endpoint always challenges a
    /// request without credentials, even with anonymous pull on: clients
    /// learn where tokens come from only from that challenge, and a client
    /// that saw `/v2/` answer 200 would push without credentials and fail.
    pub async fn authorize(
        &self,
        headers: &HeaderMap,
        need: &Need,
    ) -> Result<Access, RegistryError> {
        let scope = need.scope();
        let challenge = || challenge(headers, scope.as_deref());
        let access = match self.credentials(headers).await {
            Credentials::Valid(a) => a,
            // Anonymous clients may pull what is open to them; anything
            // else asks them to log in.
            Credentials::None => {
                if *need != Need::Base {
                    let anon = self.anonymous_grants().await;
                    if satisfies(&anon, need) {
                        return Ok(Access::new(anon, None));
                    }
                }
                return Err(RegistryError::unauthorized(
                    "authentication required: log in with any user name and a Slipway API token as the password",
                    challenge(),
                ));
            }
            Credentials::Expired => {
                return Err(RegistryError::unauthorized(
                    "the registry token has expired; get a new one from /auth/token",
                    challenge(),
                ));
            }
            Credentials::Invalid => {
                return Err(RegistryError::unauthorized(
                    "invalid credentials",
                    challenge(),
                ));
            }
        };
        if *need == Need::Base || satisfies(&access.grants, need) {
            Ok(access)
        } else {
            // 403 DENIED, with the challenge a token-flow client needs to
            // ask for a token of the right scope (oras-py refreshes its
            // token on exactly this); credentials that may not have that
            // scope get a token without it, and the same answer.
            let mut e = RegistryError::denied(match need {
                Need::Repository(name, action) => format!(
                    "these credentials may not {} repository {name}",
                    action.as_str()
                ),
                _ => "these credentials may not list every repository".to_string(),
            });
            e.challenge = Some(format!("{},error=\"insufficient_scope\"", challenge()));
            Err(e)
        }
    }

    /// `GET /auth/token`: the grants a new token gets for the request's
    /// credentials and the scopes it asks for (`scope=` parameters, each
    /// possibly several space-separated scopes). Without a scope, a token
    /// for the base endpoint only.
    pub async fn token_grants(
        &self,
        headers: &HeaderMap,
        scopes: &[String],
    ) -> Result<Access, RegistryError> {
        let held = match self.credentials(headers).await {
            Credentials::Valid(a) => a,
            Credentials::None => {
                let anon = self.anonymous_grants().await;
                if anon.is_empty() {
                    return Err(RegistryError::unauthorized(
                        "log in with any user name and a Slipway API token as the password",
                        challenge(headers, None),
                    ));
                }
                Access::new(anon, None)
            }
            Credentials::Expired => {
                return Err(RegistryError::unauthorized(
                    "the registry token has expired; log in again",
                    challenge(headers, None),
                ));
            }
            _ => {
                return Err(RegistryError::unauthorized(
                    "log in with any user name and a Slipway API token as the password",
                    challenge(headers, None),
                ));
            }
        };
        let mut wanted: Vec<Grant> = Vec::new();
        for s in scopes.iter().flat_map(|s| s.split_whitespace()) {
            if s == "registry:catalog:*" {
                wanted.push(Grant::new(ANY_REPOSITORY, &[Action::Pull]));
            } else if let Some(g) = Grant::parse_scope(s) {
                wanted.push(g);
            }
        }
        Ok(Access::new(intersect(&held.grants, &wanted), held.subject))
    }
}

fn satisfies(grants: &[Grant], need: &Need) -> bool {
    match need {
        Need::Base => false,
        Need::Catalog => allowed(grants, ANY_REPOSITORY, Action::Pull),
        Need::Repository(name, action) => allowed(grants, name, *action),
    }
}

/// `Bearer realm="http://<host>/auth/token",service="slipway"[,scope="…"]`.
pub fn challenge(headers: &HeaderMap, scope: Option<&str>) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| {
            h.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | ':' | '-' | '[' | ']'))
        })
        .unwrap_or("127.0.0.1");
    let mut c = format!("Bearer realm=\"http://{host}/auth/token\",service=\"slipway\"");
    if let Some(s) = scope {
        c.push_str(&format!(",scope=\"{s}\""));
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;
    use slipway_store::SqliteStore;

    async fn auth(anonymous: bool) -> (tempfile::TempDir, RegistryAuth, String) {
        let d = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&d.path().join("db")).await.unwrap();
        use slipway_store::AccessStore;
        store
            .add_token(&slipway_store::NewToken {
                name: "t",
                hash: &hash_token("slw_good"),
                kind: slipway_core::api::access::TokenKind::User,
                binding: slipway_core::access::Binding::global_admin(),
                created_by: None,
                expires_at: None,
                identity: None,
            })
            .await
            .unwrap();
        let a = RegistryAuth::new(Arc::new(store), b"key".to_vec(), anonymous);
        (d, a, "slw_good".into())
    }

    fn headers(auth: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, "127.0.0.1:8080".parse().unwrap());
        if !auth.is_empty() {
            h.insert(header::AUTHORIZATION, auth.parse().unwrap());
        }
        h
    }

    fn push(name: &str) -> Need {
        Need::Repository(name.into(), Action::Push)
    }
    fn pull(name: &str) -> Need {
        Need::Repository(name.into(), Action::Pull)
    }

    #[tokio::test]
    async fn token_forms() {
        let (_d, a, tok) = auth(false).await;
        let basic = base64::engine::general_purpose::STANDARD.encode(format!("anyone:{tok}"));
        let ok = |h: &str, n: Need| {
            let h = headers(h);
            let a = &a;
            async move { a.authorize(&h, &n).await.is_ok() }
        };
        assert!(ok(&format!("Basic {basic}"), push("x")).await);
        assert!(ok(&format!("Bearer {tok}"), push("x")).await);
        let issued = a.issue(everything());
        assert!(ok(&format!("Bearer {issued}"), push("x")).await);
        // Registry tokens also work as a Basic password (how auth files carry them).
        let basic_issued =
            base64::engine::general_purpose::STANDARD.encode(format!("slipway:{issued}"));
        assert!(ok(&format!("Basic {basic_issued}"), push("x")).await);

        let e = a.authorize(&headers(""), &pull("x")).await.unwrap_err();
        assert_eq!(e.code, "UNAUTHORIZED");
        assert_eq!(
            e.challenge.as_deref(),
            Some(
                "Bearer realm=\"http://127.0.0.1:8080/auth/token\",service=\"slipway\",scope=\"repository:x:pull\""
            )
        );
        let bad = base64::engine::general_purpose::STANDARD.encode("u:slw_bad");
        assert!(!ok(&format!("Basic {bad}"), pull("x")).await);
        // A tampered registry token.
        let (payload, sig) = issued.rsplit_once('.').unwrap();
        let tampered = format!("{payload}A.{sig}");
        assert!(!ok(&format!("Bearer {tampered}"), pull("x")).await);
    }

    #[tokio::test]
    async fn scoped_tokens_reach_only_their_repositories() {
        let (_d, a, _) = auth(false).await;
        let t = a.issue(vec![
            Grant::new("team/app", &[Action::Pull, Action::Push]),
            Grant::new("base/os", &[Action::Pull]),
        ]);
        let h = headers(&format!("Bearer {t}"));
        assert!(a.authorize(&h, &push("team/app")).await.is_ok());
        assert!(a.authorize(&h, &pull("base/os")).await.is_ok());
        for need in [
            push("base/os"),
            pull("other/repo"),
            push("other/repo"),
            Need::Repository("team/app".into(), Action::Delete),
            Need::Catalog,
        ] {
            let e = a.authorize(&h, &need).await.unwrap_err();
            assert_eq!((e.status.as_u16(), e.code), (403, "DENIED"), "{need:?}");
            // With the challenge a token-flow client needs to ask again.
            let c = e.challenge.unwrap();
            assert!(c.contains("error=\"insufficient_scope\""), "{c}");
        }
        let e = a.authorize(&h, &push("base/os")).await.unwrap_err();
        assert!(
            e.challenge
                .unwrap()
                .contains("scope=\"repository:base/os:pull,push\""),
        );
        // Trading it for a new token never widens it.
        let scopes = ["repository:other/repo:pull,push repository:team/app:*".to_string()];
        assert_eq!(
            a.token_grants(&h, &scopes).await.unwrap().grants,
            [Grant::new("team/app", &[Action::Pull, Action::Push])]
        );
        // An expired token is refused with a challenge.
        let old = a.issue_until(vec![Grant::new("team/app", &Action::ALL)], 1);
        let e = a
            .authorize(&headers(&format!("Bearer {old}")), &pull("team/app"))
            .await
            .unwrap_err();
        assert_eq!((e.status.as_u16(), e.code), (401, "UNAUTHORIZED"));
        assert!(e.message.contains("expired"), "{}", e.message);
    }

    #[tokio::test]
    async fn anonymous_pull_is_read_only_and_off_by_default() {
        let (_d, a, _) = auth(false).await;
        assert!(a.authorize(&headers(""), &pull("x")).await.is_err());
        let (_d, a, _) = auth(true).await;
        assert!(a.authorize(&headers(""), &pull("x")).await.is_ok());
        // The base endpoint still challenges, so clients learn the realm.
        assert!(a.authorize(&headers(""), &Need::Base).await.is_err());
        // A push without credentials is asked to log in.
        assert_eq!(
            a.authorize(&headers(""), &push("x"))
                .await
                .unwrap_err()
                .code,
            "UNAUTHORIZED"
        );
        let grants = a
            .token_grants(&headers(""), &["repository:x:pull,push".into()])
            .await
            .unwrap();
        let pull_token = a.issue_to(grants);
        assert_eq!(
            a.authorize(&headers(&format!("Bearer {pull_token}")), &push("x"))
                .await
                .unwrap_err()
                .code,
            "DENIED"
        );
    }
}
