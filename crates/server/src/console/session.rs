//! Console sessions: a token given once at sign-in becomes an HttpOnly,
//! SameSite=Strict cookie naming a random session; the server keeps only
//! the session id's hash, the token's hash (so each request is checked as
//! the API checks a token: revoked or expired tokens end their sessions)
//! and a CSRF secret. Sessions live in memory (signing in again after a
//! restart is the cost), idle ones expire, and there is a cap.

use rand::RngCore;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The cookie's name.
pub const COOKIE: &str = "slipway_session";
/// A session unused this long is gone.
pub const IDLE: Duration = Duration::from_secs(8 * 3600);
/// Sessions kept at most (the oldest-used go first).
const MAX: usize = 10_000;

#[derive(Debug, Clone)]
pub struct Session {
    /// The hash of the token signed in with (`slipway_core::token`'s).
    pub token_hash: String,
    csrf: [u8; 32],
    used: Instant,
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

fn key(id: &str) -> [u8; 32] {
    Sha256::digest(id.as_bytes()).into()
}

#[derive(Default)]
pub struct Sessions {
    inner: Mutex<HashMap<[u8; 32], Session>>,
}

impl Sessions {
    /// A new session for the token whose hash is `token_hash`; returns the
    /// cookie value (64 hex digits), never stored.
    pub fn open(&self, token_hash: String) -> String {
        let mut id = [0u8; 32];
        rand::rng().fill_bytes(&mut id);
        let mut csrf = [0u8; 32];
        rand::rng().fill_bytes(&mut csrf);
        let id = hex::encode(id);
        if let Ok(mut m) = self.inner.lock() {
            let now = Instant::now();
            m.retain(|_, s| now.duration_since(s.used) < IDLE);
            if m.len() >= MAX
                && let Some(oldest) = m.iter().min_by_key(|(_, s)| s.used).map(|(k, _)| *k)
            {
                m.remove(&oldest);
            }
            m.insert(
                key(&id),
                Session {
                    token_hash,
                    csrf,
                    used: now,
                },
            );
        }
        id
    }

    /// The live session the cookie value `id` names, marked used.
    pub fn get(&self, id: &str) -> Option<Session> {
        if id.len() != 64 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        let mut m = self.inner.lock().ok()?;
        let k = key(id);
        let now = Instant::now();
        match m.get_mut(&k) {
            Some(s) if now.duration_since(s.used) < IDLE => {
                s.used = now;
                Some(s.clone())
            }
            Some(_) => {
                m.remove(&k);
                None
            }
            None => None,
        }
    }

    /// End the session `id` names.
    pub fn close(&self, id: &str) {
        if let Ok(mut m) = self.inner.lock() {
            m.remove(&key(id));
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

    #[test]
    fn a_session_is_found_by_its_cookie_only() {
        let s = Sessions::default();
        let id = s.open("hash-of-token".into());
        assert_eq!(id.len(), 64);
        assert_eq!(s.get(&id).unwrap().token_hash, "hash-of-token");
        // Another id, a malformed one: nothing.
        assert!(s.get(&"0".repeat(64)).is_none());
        assert!(s.get("x; DROP").is_none());
        s.close(&id);
        assert!(s.get(&id).is_none());
    }

    #[test]
    fn csrf_values_are_per_session_and_per_path() {
        let s = Sessions::default();
        let (a, b) = (s.open("t".into()), s.open("t".into()));
        let (a, b) = (s.get(&a).unwrap(), s.get(&b).unwrap());
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
