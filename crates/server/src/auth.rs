//! API token checks and the first admin token. Hashing rules live in
//! `slipway_core::token`.

use crate::error::ApiError;
use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::Response;
use rand::RngCore;
pub use slipway_core::token::{TOKEN_PREFIX, hash_token};
use slipway_store::Store;
use std::path::Path;
use std::sync::Arc;

pub fn new_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!("{TOKEN_PREFIX}{}", hex::encode(bytes))
}

/// On first start (no tokens in the store), create the admin token and write
/// it to `path`, readable by its owner only. Returns whether one was created.
pub async fn bootstrap_admin_token(store: &dyn Store, path: &Path) -> Result<bool, BootstrapError> {
    if store.token_count().await? > 0 {
        return Ok(false);
    }
    let token = new_token();
    write_secret_file(path, &token)?;
    store.add_token("admin", &hash_token(&token)).await?;
    Ok(true)
}

#[derive(Debug, thiserror::Error)]
pub enum BootstrapError {
    #[error(transparent)]
    Store(#[from] slipway_store::StoreError),
    #[error("cannot write the admin token file: {0}")]
    Io(#[from] std::io::Error),
}

pub(crate) use slipway_worker::write_secret_file;

/// Axum middleware: require `Authorization: Bearer <token>` naming a known token.
pub async fn require_token(
    State(store): State<Arc<dyn Store>>,
    req: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let header = req
        .headers()
        .get(header::AUTHORIZATION)
        .ok_or_else(|| {
            ApiError::unauthorized(
                "missing bearer token: send 'Authorization: Bearer <token>' (the admin token is in <data-dir>/admin-token)",
            )
        })?
        .to_str()
        .map_err(|_| ApiError::unauthorized("the Authorization header is not valid text"))?;
    let token = header
        .strip_prefix("Bearer ")
        .or_else(|| header.strip_prefix("bearer "))
        .map(str::trim)
        .ok_or_else(|| {
            ApiError::unauthorized("the Authorization header must use the Bearer scheme")
        })?;
    let hash = hash_token(token);
    if store.token_name(&hash).await?.is_some() {
        return Ok(next.run(req).await);
    }
    // A worker build's token reaches that worker build's endpoints only.
    if let Some(worker) = store.worker_token(&hash).await? {
        let path = req
            .extensions()
            .get::<axum::extract::OriginalUri>()
            .map_or_else(|| req.uri().path().to_string(), |u| u.path().to_string());
        if worker_build_of(&path) == Some(worker) {
            return Ok(next.run(req).await);
        }
        return Err(ApiError::forbidden(format!(
            "this token belongs to worker build {worker}; it only reaches /api/v1/worker-builds/{worker}"
        )));
    }
    Err(ApiError::unauthorized("invalid token"))
}

/// The worker build id in `/api/v1/worker-builds/{id}[/…]`.
fn worker_build_of(path: &str) -> Option<i64> {
    let rest = path.strip_prefix("/api/v1/worker-builds/")?;
    rest.split('/').next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn worker_paths() {
        assert_eq!(worker_build_of("/api/v1/worker-builds/12"), Some(12));
        assert_eq!(worker_build_of("/api/v1/worker-builds/12/log"), Some(12));
        assert_eq!(worker_build_of("/api/v1/worker-builds/x/log"), None);
        assert_eq!(worker_build_of("/api/v1/builds/12"), None);
    }

    #[test]
    fn tokens_are_random_and_hashed() {
        let a = new_token();
        let b = new_token();
        assert_ne!(a, b);
        assert!(a.starts_with(TOKEN_PREFIX) && a.len() == TOKEN_PREFIX.len() + 64);
        assert_eq!(hash_token(&a), hash_token(&a));
        assert_ne!(hash_token(&a), a);
    }

    #[test]
    fn secret_file_is_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("admin-token");
        write_secret_file(&p, "x").unwrap();
        write_secret_file(&p, "y").unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "y\n");
        assert_eq!(
            std::fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
}
