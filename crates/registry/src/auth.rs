//! Who may use the registry.
//!
//! The same API tokens as the HTTP API, accepted three ways: `Authorization:
//! Basic` with the token as password, `Bearer <api token>`, or the
//! Docker/OCI token flow: a 401 carries `WWW-Authenticate: Bearer
//! realm="…/auth/token",service="slipway"`, the client fetches a short-lived
//! registry token there with Basic auth, and retries with `Bearer <it>`.
//! That is what `skopeo login`, `podman login` and `buildah login` do.
//!
//! Registry tokens are `slr_<expiry>_<scope>_<hmac>`, HMAC-SHA256 with a key
//! the server keeps in its data dir; scope `rw` (from an API token) or `r`
//! (anonymous, when anonymous pull is on).

use crate::error::RegistryError;
use axum::http::{HeaderMap, Method, header};
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use slipway_core::token::hash_token;
use slipway_store::Store;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const REGISTRY_TOKEN_PREFIX: &str = "slr_";
/// How long a registry token lives.
pub const TOKEN_TTL: Duration = Duration::from_secs(300);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Pull,
    PushPull,
}

pub struct RegistryAuth {
    store: Arc<dyn Store>,
    key: Vec<u8>,
    pub anonymous_pull: bool,
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
        }
    }

    fn mac(&self, payload: &str) -> Hmac<Sha256> {
        let mut m = <Hmac<Sha256> as Mac>::new_from_slice(&self.key).unwrap_or_else(|_| {
            // HMAC accepts keys of any length; this cannot happen.
            unreachable!("HMAC key rejected")
        });
        m.update(payload.as_bytes());
        m
    }

    /// Issue a registry token.
    pub fn issue(&self, access: Access) -> String {
        let scope = match access {
            Access::Pull => "r",
            Access::PushPull => "rw",
        };
        let payload = format!("{}_{scope}", now_secs() + TOKEN_TTL.as_secs());
        let sig = hex::encode(self.mac(&payload).finalize().into_bytes());
        format!("{REGISTRY_TOKEN_PREFIX}{payload}_{sig}")
    }

    fn verify_registry_token(&self, token: &str) -> Option<Access> {
        let rest = token.strip_prefix(REGISTRY_TOKEN_PREFIX)?;
        let (payload, sig) = rest.rsplit_once('_')?;
        let sig = hex::decode(sig).ok()?;
        self.mac(payload).verify_slice(&sig).ok()?;
        let (exp, scope) = payload.split_once('_')?;
        if exp.parse::<u64>().ok()? < now_secs() {
            return None;
        }
        match scope {
            "r" => Some(Access::Pull),
            "rw" => Some(Access::PushPull),
            _ => None,
        }
    }

    async fn api_token_valid(&self, token: &str) -> Result<bool, RegistryError> {
        Ok(self.store.token_name(&hash_token(token)).await?.is_some())
    }

    /// The access the request's credentials grant, or `None` if it has none.
    /// Invalid credentials are an error (a wrong password must not silently
    /// become anonymous access).
    pub async fn credentials(&self, headers: &HeaderMap) -> Result<Option<Access>, ()> {
        let Some(value) = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
        else {
            return Ok(None);
        };
        let (scheme, rest) = value.split_once(' ').unwrap_or((value, ""));
        let rest = rest.trim();
        let ok = match scheme.to_ascii_lowercase().as_str() {
            "bearer" => {
                if let Some(a) = self.verify_registry_token(rest) {
                    return Ok(Some(a));
                }
                self.api_token_valid(rest).await.unwrap_or(false)
            }
            "basic" => {
                let decoded = base64::engine::general_purpose::STANDARD
                    .decode(rest)
                    .ok()
                    .and_then(|b| String::from_utf8(b).ok());
                match decoded.as_deref().and_then(|d| d.split_once(':')) {
                    Some((_, password)) => {
                        if let Some(a) = self.verify_registry_token(password) {
                            return Ok(Some(a));
                        }
                        self.api_token_valid(password).await.unwrap_or(false)
                    }
                    None => false,
                }
            }
            _ => false,
        };
        if ok {
            Ok(Some(Access::PushPull))
        } else {
            Err(())
        }
    }

    /// Allow or refuse a registry request. `host` builds the challenge's realm.
    /// The base endpoint (`/v2/`, `base`) always challenges a request without
    /// credentials, even with anonymous pull on: clients learn where tokens
    /// come from only from that challenge, and a client that saw `/v2/`
    /// answer 200 would push without credentials and fail. Anonymous clients
    /// then get a pull-only token from `/auth/token`.
    pub async fn check(
        &self,
        headers: &HeaderMap,
        method: &Method,
        base: bool,
    ) -> Result<(), RegistryError> {
        let challenge = challenge(headers);
        let write = !matches!(*method, Method::GET | Method::HEAD);
        match self.credentials(headers).await {
            Ok(Some(Access::PushPull)) => Ok(()),
            Ok(Some(Access::Pull)) if !write => Ok(()),
            Ok(Some(Access::Pull)) => Err(RegistryError::denied("this token may only pull")),
            Ok(None) if self.anonymous_pull && !write && !base => Ok(()),
            Ok(None) => Err(RegistryError::unauthorized(
                "authentication required: log in with any user name and a Slipway API token as the password",
                challenge,
            )),
            Err(()) => Err(RegistryError::unauthorized(
                "invalid credentials",
                challenge,
            )),
        }
    }
}

/// `Bearer realm="http://<host>/auth/token",service="slipway"`.
pub fn challenge(headers: &HeaderMap) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| {
            h.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | ':' | '-' | '[' | ']'))
        })
        .unwrap_or("127.0.0.1");
    format!("Bearer realm=\"http://{host}/auth/token\",service=\"slipway\"")
}

#[cfg(test)]
mod tests {
    use super::*;
    use slipway_store::SqliteStore;

    async fn auth(anonymous: bool) -> (tempfile::TempDir, RegistryAuth, String) {
        let d = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&d.path().join("db")).await.unwrap();
        store.add_token("t", &hash_token("slw_good")).await.unwrap();
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

    #[tokio::test]
    async fn token_forms() {
        let (_d, a, tok) = auth(false).await;
        let basic = base64::engine::general_purpose::STANDARD.encode(format!("anyone:{tok}"));
        assert!(
            a.check(&headers(&format!("Basic {basic}")), &Method::PUT, false)
                .await
                .is_ok()
        );
        assert!(
            a.check(&headers(&format!("Bearer {tok}")), &Method::PUT, false)
                .await
                .is_ok()
        );
        let issued = a.issue(Access::PushPull);
        assert!(
            a.check(&headers(&format!("Bearer {issued}")), &Method::PUT, false)
                .await
                .is_ok()
        );
        // Registry tokens also work as a Basic password (how auth files carry them).
        let basic_issued =
            base64::engine::general_purpose::STANDARD.encode(format!("slipway:{issued}"));
        assert!(
            a.check(
                &headers(&format!("Basic {basic_issued}")),
                &Method::PUT,
                false
            )
            .await
            .is_ok()
        );

        let e = a
            .check(&headers(""), &Method::GET, false)
            .await
            .unwrap_err();
        assert_eq!(e.code, "UNAUTHORIZED");
        assert_eq!(
            e.challenge.as_deref(),
            Some("Bearer realm=\"http://127.0.0.1:8080/auth/token\",service=\"slipway\"")
        );
        let bad = base64::engine::general_purpose::STANDARD.encode("u:slw_bad");
        assert!(
            a.check(&headers(&format!("Basic {bad}")), &Method::GET, false)
                .await
                .is_err()
        );
        // A tampered registry token.
        let tampered = issued.replace("_rw_", "_r_");
        assert!(
            a.check(&headers(&format!("Bearer {tampered}")), &Method::GET, false)
                .await
                .is_err()
        );
    }

    #[tokio::test]
    async fn anonymous_pull_is_read_only_and_off_by_default() {
        let (_d, a, _) = auth(false).await;
        assert!(a.check(&headers(""), &Method::GET, false).await.is_err());
        let (_d, a, _) = auth(true).await;
        assert!(a.check(&headers(""), &Method::GET, false).await.is_ok());
        assert!(a.check(&headers(""), &Method::HEAD, false).await.is_ok());
        // The base endpoint still challenges, so clients learn the realm.
        assert!(a.check(&headers(""), &Method::GET, true).await.is_err());
        assert_eq!(
            a.check(&headers(""), &Method::PUT, false)
                .await
                .unwrap_err()
                .code,
            "UNAUTHORIZED"
        );
        let pull = a.issue(Access::Pull);
        assert_eq!(
            a.check(&headers(&format!("Bearer {pull}")), &Method::POST, false)
                .await
                .unwrap_err()
                .code,
            "DENIED"
        );
    }
}
