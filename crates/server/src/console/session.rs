//! Console sessions: a token given once at sign-in becomes an HttpOnly,
//! SameSite=Strict cookie naming a random session; the store keeps only
//! the session id's hash, the token's hash (so each request is checked as
//! the API checks a token: revoked or expired tokens end their sessions)
//! and a CSRF secret. Sessions are in the store, so every server sharing
//! the database knows them (and they survive a restart); one unused for
//! [`IDLE`] is gone.

use rand::RngCore;
use sha2::{Digest, Sha256};
use slipway_store::Store;
use std::time::Duration;

/// The cookie's name.
pub const COOKIE: &str = "slipway_session";
/// A session unused this long is gone.
pub const IDLE: Duration = Duration::from_secs(8 * 3600);

#[derive(Debug, Clone)]
pub struct Session {
    /// The hash of the token signed in with (`slipway_core::token`'s).
    pub token_hash: String,
    csrf: [u8; 32],
}

impl Session {
    /// The CSRF value a form posting to `path` carries.
    pub fn csrf_for(&self, path: &str) -> String {
        csrf_value(&self.csrf, path)
    }

    /// Whether `given` is the CSRF value for `path` (constant time).
    pub fn csrf_ok(&self, path: &str, given: &str) -> bool {
        let want = self.csrf_for(path);
        want.len() == given.len()
            && want
                .bytes()
                .zip(given.bytes())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0
    }
}

fn csrf_value(secret: &[u8; 32], path: &str) -> String {
    let mut h = Sha256::new();
    h.update(secret);
    h.update(b"\0csrf\0");
    h.update(path.as_bytes());
    hex::encode(h.finalize())
}

/// What the store knows a session by: the hash of its cookie's id.
fn key(id: &str) -> String {
    hex::encode(Sha256::digest(id.as_bytes()))
}

pub struct Sessions;

impl Sessions {
    /// A new session for the token whose hash is `token_hash`; returns the
    /// cookie value (64 hex digits), never stored.
    pub async fn open(store: &dyn Store, token_hash: &str) -> slipway_store::Result<String> {
        let mut id = [0u8; 32];
        rand::rng().fill_bytes(&mut id);
        let mut csrf = [0u8; 32];
        rand::rng().fill_bytes(&mut csrf);
        let id = hex::encode(id);
        store
            .put_session(&key(&id), token_hash, &hex::encode(csrf), IDLE)
            .await?;
        Ok(id)
    }

    /// The live session the cookie value `id` names, marked used.
    pub async fn get(store: &dyn Store, id: &str) -> Option<Session> {
        if id.len() != 64 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        let (token_hash, csrf) = match store.touch_session(&key(id), IDLE).await {
            Ok(found) => found?,
            Err(e) => {
                tracing::warn!("console: cannot read a session: {e}");
                return None;
            }
        };
        let csrf = hex::decode(csrf)
            .ok()
            .and_then(|c| <[u8; 32]>::try_from(c).ok())?;
        Some(Session { token_hash, csrf })
    }

    /// End the session `id` names.
    pub async fn close(store: &dyn Store, id: &str) {
        if let Err(e) = store.drop_session(&key(id)).await {
            tracing::warn!("console: cannot end a session: {e}");
        }
    }

    /// The `Set-Cookie` value that keeps `id` (`secure` over TLS).
    pub fn cookie(id: &str, secure: bool) -> String {
        format!(
            "{COOKIE}={id}; HttpOnly; SameSite=Strict; Path=/; Max-Age={}{}",
            IDLE.as_secs(),
            if secure { "; Secure" } else { "" }
        )
    }

    /// The `Set-Cookie` value that removes it.
    pub fn cleared() -> String {
        format!("{COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0")
    }
}

/// The session id in a `Cookie` header, if any.
pub fn from_cookie_header(header: &str) -> Option<&str> {
    header
        .split(';')
        .map(str::trim)
        .find_map(|kv| kv.strip_prefix(COOKIE)?.strip_prefix('='))
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn store() -> (tempfile::TempDir, slipway_store::SqliteStore) {
        let d = tempfile::tempdir().unwrap();
        let s = slipway_store::SqliteStore::open(&d.path().join("db"))
            .await
            .unwrap();
        (d, s)
    }

    #[tokio::test]
    async fn a_session_is_found_by_its_cookie_only() {
        let (_d, s) = store().await;
        let id = Sessions::open(&s, "hash-of-token").await.unwrap();
        assert_eq!(id.len(), 64);
        assert_eq!(
            Sessions::get(&s, &id).await.unwrap().token_hash,
            "hash-of-token"
        );
        // Another id, a malformed one: nothing.
        assert!(Sessions::get(&s, &"0".repeat(64)).await.is_none());
        assert!(Sessions::get(&s, "x; DROP").await.is_none());
        Sessions::close(&s, &id).await;
        assert!(Sessions::get(&s, &id).await.is_none());
    }

    #[tokio::test]
    async fn csrf_values_are_per_session_and_per_path() {
        let (_d, s) = store().await;
        let (a, b) = (
            Sessions::open(&s, "t").await.unwrap(),
            Sessions::open(&s, "t").await.unwrap(),
        );
        let (a, b) = (
            Sessions::get(&s, &a).await.unwrap(),
            Sessions::get(&s, &b).await.unwrap(),
        );
        let v = a.csrf_for("/builds/7/cancel");
        assert!(a.csrf_ok("/builds/7/cancel", &v));
        assert!(!a.csrf_ok("/builds/8/cancel", &v), "another form");
        assert!(!b.csrf_ok("/builds/7/cancel", &v), "another session");
        assert!(!a.csrf_ok("/builds/7/cancel", ""));
    }

    #[test]
    fn cookies_are_http_only_and_strict() {
        let c = Sessions::cookie(&"a".repeat(64), true);
        assert!(c.contains("HttpOnly") && c.contains("SameSite=Strict") && c.ends_with("Secure"));
        assert_eq!(
            from_cookie_header(&format!("x=1; {COOKIE}=abc; y=2")),
            Some("abc")
        );
        assert_eq!(from_cookie_header("x=1"), None);
    }
}
