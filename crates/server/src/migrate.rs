//! `slipway migrate --from DATA_DIR --to postgres://…`: move an
//! all-in-one server's state into PostgreSQL, for servers that will share
//! it (see `slipway_store::migrate` for what is copied and how).

use crate::config::DatabaseSettings;
use slipway_store::PgStore;
use slipway_store::migrate::MigrationReport;
use std::path::Path;

/// Copy `data`'s database into `to`. The server of `data` must be
/// stopped (its lock is taken for the copy). `progress` hears each table.
pub async fn sqlite_to_postgres(
    data: &Path,
    to: &DatabaseSettings,
    progress: &(dyn Fn(&str, u64) + Sync),
) -> Result<MigrationReport, String> {
    to.check()?;
    let db = data.join("slipway.db");
    if !db.is_file() {
        return Err(format!(
            "{} holds no Slipway database (slipway.db); give the data dir of the server to move (--from)",
            data.display()
        ));
    }
    let lock = std::fs::OpenOptions::new()
        .write(true)
        .open(data.join("lock"))
        .map_err(|e| format!("cannot open {}: {e}", data.join("lock").display()))?;
    if lock.try_lock().is_err() {
        return Err(format!(
            "a server is running on {}; stop it first, so nothing changes during the copy",
            data.display()
        ));
    }
    let key_path = data.join("secret-key");
    let key = std::fs::read_to_string(&key_path)
        .ok()
        .and_then(|t| hex::decode(t.trim()).ok())
        .and_then(|k| <[u8; 32]>::try_from(k).ok())
        .ok_or_else(|| {
            format!(
                "cannot read the secret key {} (64 hex digits); the servers on PostgreSQL need it to read the secrets being moved",
                key_path.display()
            )
        })?;
    let password = to.password()?;
    let target = PgStore::connect(&to.url, password.as_deref(), Some(&key))
        .await
        .map_err(|e| format!("cannot use the database {}: {e}", to.url))?;
    let mut report = slipway_store::migrate::sqlite_to_postgres(&db, &target, progress)
        .await
        .map_err(|e| format!("the copy failed and nothing was kept: {e}"))?;
    let logs = copy_logs(&data.join("logs"), &target).await?;
    progress("build logs", logs);
    report.tables.push(("build logs".into(), logs));
    Ok(report)
}

/// Copy the build logs (`<data>/logs/<id>.log`) into the database, where
/// servers sharing it keep them, in chunks of whole lines. A build whose
/// log is there already (a copy run again) is skipped.
async fn copy_logs(dir: &Path, target: &PgStore) -> Result<u64, String> {
    use slipway_store::LogStore;
    const CHUNK: usize = 64 * 1024;
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(format!("cannot read {}: {e}", dir.display())),
    };
    let mut n = 0;
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(id) = name
            .strip_suffix(".log")
            .and_then(|i| i.parse::<slipway_core::BuildId>().ok())
        else {
            continue;
        };
        let fail = |e: String| format!("cannot copy the log of build {id}: {e}");
        if target.log_len(id).await.map_err(|e| fail(e.to_string()))? > 0 {
            continue;
        }
        let bytes = tokio::fs::read(entry.path())
            .await
            .map_err(|e| fail(e.to_string()))?;
        let mut rest: &[u8] = &bytes;
        while !rest.is_empty() {
            // Up to CHUNK bytes, ending after a newline where one is.
            let mut end = rest.len().min(CHUNK);
            if end < rest.len()
                && let Some(nl) = rest[..end].iter().rposition(|b| *b == b'\n')
            {
                end = nl + 1;
            }
            target
                .append_log(id, &rest[..end])
                .await
                .map_err(|e| fail(e.to_string()))?;
            rest = &rest[end..];
        }
        n += 1;
    }
    Ok(n)
}

/// Copy the registry's blobs from `data`'s files into `to` (the storage
/// the servers sharing the database use). Returns (blobs, bytes) copied;
/// blobs already there are skipped, so it may run again after a failure.
pub async fn blobs(
    data: &Path,
    to: &slipway_registry::storage::BlobBackendConfig,
    progress: &(dyn Fn(&str, u64) + Sync),
) -> Result<(u64, u64), String> {
    use slipway_registry::storage::{BlobBackendConfig, BlobStore};
    if matches!(to, BlobBackendConfig::Filesystem { .. }) {
        return Ok((0, 0));
    }
    let from = BlobStore::open(&data.join("registry"))
        .map_err(|e| format!("cannot open {}: {e}", data.join("registry").display()))?;
    let to = BlobStore::from_config(to, &data.join("registry")).map_err(|e| e.to_string())?;
    to.check()
        .await
        .map_err(|e| format!("cannot use {}: {e}", to.describe()))?;
    from.copy_to(&to, &|d, n| progress(&d.to_string(), n))
        .await
        .map_err(|e| format!("copying the registry's blobs to {} failed: {e} (run it again: blobs copied are kept)", to.describe()))
}
