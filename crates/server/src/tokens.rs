//! Minting tokens: the first admin token, and fresh random tokens.
//! Hashing rules live in `slipway_core::token`.

use rand::RngCore;
pub use slipway_core::token::{TOKEN_PREFIX, hash_token};
use slipway_store::Store;
use std::path::Path;

pub fn new_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!("{TOKEN_PREFIX}{}", hex::encode(bytes))
}

/// On first start (no tokens in the store), create the admin token and write
/// it to `path`, readable by its owner only. Returns whether one was created.
pub async fn bootstrap_admin_token(store: &dyn Store, path: &Path) -> Result<bool, BootstrapError> {
    // Servers sharing a database may start at once: one of them makes
    // the first token (the others find it made, or wait their turn).
    let lease = "bootstrap-admin-token";
    let ttl = std::time::Duration::from_secs(60);
    let deadline = std::time::Instant::now() + ttl;
    while !store.take_lease(lease, &store.holder(), ttl).await? {
        if std::time::Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    if store.token_count().await? > 0 {
        store.release_lease(lease, &store.holder()).await?;
        return Ok(false);
    }
    let token = new_token();
    write_secret_file(path, &token)?;
    store
        .add_token(&slipway_store::NewToken {
            name: "admin",
            hash: &hash_token(&token),
            kind: slipway_core::api::access::TokenKind::User,
            binding: slipway_core::access::Binding::global_admin(),
            created_by: None,
            expires_at: None,
            identity: None,
        })
        .await?;
    store.release_lease(lease, &store.holder()).await?;
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

#[cfg(test)]
mod tests {
    use super::*;
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
