//! Builds into Koji, in the background like notifications: a hub that is
//! down or slow never holds or fails a build.
//!
//! ```text
//! import  a Complete build whose import is queued (its metadata was
//!         recorded): the log and each image output's file uploaded into a
//!         directory of its own, then CGImport (into its reservation, with
//!         the token, when its NVR was reserved)
//! refund  a reserved build that ended without completing: CGRefundBuild
//!         (FAILED, or CANCELED when it was cancelled)
//! ```
//!
//! A hub that cannot be reached is tried again later (2, 4, 8 … s, at most
//! 5 min apart); a hub that refuses (the NVR exists, the content
//! generator's access was revoked) ends the import Failed with its words,
//! and `slipway koji import BUILD` queues it again.

use crate::Services;
use crate::config::KojiSettings;
use crate::steps::koji::{Failure, login, refund};
use jiff::Timestamp;
use slipway_core::koji::{placeholder_readme, retry_delay};
use slipway_core::{BuildId, BuildPhase};
use slipway_koji::Checksum;
use slipway_store::{ImportAttempt, KojiReservation};
use std::sync::Arc;
use std::time::Duration;

/// How often the loop looks for due work when not woken.
const TICK: Duration = Duration::from_secs(2);

/// Imports or refunds taken per round.
const BATCH: u32 = 10;

pub async fn run(services: Arc<Services>) {
    let Some(settings) = services.koji.clone() else {
        return;
    };
    loop {
        // Imports upload whole images: the lease outlasts a long one.
        if !super::leases::leads(&services, "koji", Duration::from_secs(600)).await {
            let _ = tokio::time::timeout(TICK, services.events.koji.notified()).await;
            continue;
        }
        match services
            .store
            .due_koji_refunds(Timestamp::now(), BATCH)
            .await
        {
            Ok(due) => {
                for (id, phase) in due {
                    give_back(&services, &settings, id, phase).await;
                }
            }
            Err(e) => tracing::error!("koji: cannot list the reservations to give back: {e}"),
        }
        match services
            .store
            .due_koji_imports(Timestamp::now(), BATCH)
            .await
        {
            Ok(due) => {
                for id in due {
                    import(&services, &settings, id).await;
                }
            }
            Err(e) => tracing::error!("koji: cannot list the due imports: {e}"),
        }
        let _ = tokio::time::timeout(TICK, services.events.koji.notified()).await;
    }
}

/// How many attempts the build's import (or refund) has had.
async fn attempts(services: &Services, id: BuildId) -> u32 {
    services
        .store
        .koji_import(id)
        .await
        .ok()
        .flatten()
        .map_or(0, |i| i.attempts)
}

fn retry(message: String, attempts: u32) -> ImportAttempt {
    let delay = jiff::SignedDuration::try_from(retry_delay(attempts + 1))
        .unwrap_or(jiff::SignedDuration::from_secs(300));
    ImportAttempt::Retry {
        message,
        at: Timestamp::now()
            .checked_add(delay)
            .unwrap_or(Timestamp::MAX),
    }
}

async fn record(services: &Services, id: BuildId, attempt: &ImportAttempt, event: String) {
    if let Err(e) = services.store.record_koji_attempt(id, attempt).await {
        tracing::error!("build {id}: cannot record the Koji import: {e}");
    }
    let _ = services.store.record_event(id, &event).await;
}

/// Give back the reservation of build `id`, which ended in `phase`.
async fn give_back(services: &Services, settings: &KojiSettings, id: BuildId, phase: BuildPhase) {
    let reservation = match services.store.koji_reservation(id).await {
        Ok(Some(r)) => r,
        Ok(None) => return,
        Err(e) => {
            tracing::error!("build {id}: cannot read its Koji reservation: {e}");
            return;
        }
    };
    let attempts = attempts(services, id).await;
    // A complete build is only here when it has no metadata to import.
    let (state, why) = match phase {
        BuildPhase::Cancelled => (Some(4), "it was cancelled"),
        BuildPhase::Complete => (None, "it has no metadata to import"),
        _ => (None, "it did not complete"),
    };
    let settings = settings.clone();
    let koji_id = reservation.koji_build_id;
    let done = tokio::task::spawn_blocking(move || refund(&settings, &reservation, state))
        .await
        .unwrap_or_else(|e| Err(Failure::Refused(format!("the refund crashed: {e}"))));
    let (attempt, event) = match done {
        Ok(()) => {
            tracing::info!("build {id}: Koji reservation given back ({why})");
            (
                ImportAttempt::Refunded {
                    message: format!("reservation given back: {why}"),
                },
                format!(
                    "Koji reservation given back (Koji build {koji_id} is {}): {why}",
                    crate::steps::koji::state_name(if state == Some(4) { 4 } else { 3 })
                ),
            )
        }
        Err(Failure::Unreachable(m)) => {
            tracing::warn!("build {id}: Koji reservation not given back yet: {m}");
            (
                retry(m.clone(), attempts),
                format!("Koji refund postponed: {m}"),
            )
        }
        Err(Failure::Refused(m)) => {
            tracing::warn!("build {id}: Koji refused to take the reservation back: {m}");
            (
                ImportAttempt::Failed {
                    message: format!("the reservation could not be given back: {m}"),
                    nvr: None,
                },
                format!("Koji refund failed: {m}"),
            )
        }
    };
    record(services, id, &attempt, event).await;
}

/// Import build `id` (Complete, its import due).
async fn import(services: &Arc<Services>, settings: &KojiSettings, id: BuildId) {
    let attempts = attempts(services, id).await;
    let reservation = match services.store.koji_reservation(id).await {
        Ok(r) => r,
        Err(e) => {
            tracing::error!("build {id}: cannot read its Koji reservation: {e}");
            return;
        }
    };
    let attempt = match prepare(services, settings, id, reservation.as_ref()).await {
        Err(message) => ImportAttempt::Failed { message, nvr: None },
        Ok((doc, files)) => {
            let settings = settings.clone();
            let nvr = nvr_of(&doc);
            let done = tokio::task::spawn_blocking(move || {
                send(&settings, id, &doc, &files, reservation.as_ref())
            })
            .await
            .unwrap_or_else(|e| Err(Failure::Refused(format!("the import crashed: {e}"))));
            match done {
                Ok((nvr, koji_build_id)) => ImportAttempt::Imported { nvr, koji_build_id },
                Err(Failure::Unreachable(message)) => retry(message, attempts),
                Err(Failure::Refused(message)) => ImportAttempt::Failed { message, nvr },
            }
        }
    };
    services.metrics.koji_import(match &attempt {
        ImportAttempt::Imported { .. } => "imported",
        ImportAttempt::Retry { .. } => "postponed",
        ImportAttempt::Failed { .. } | ImportAttempt::Refunded { .. } => "failed",
    });
    let event = match &attempt {
        ImportAttempt::Imported { nvr, koji_build_id } => {
            tracing::info!("build {id}: imported into Koji as {nvr} (Koji build {koji_build_id})");
            // The archives are in Koji now.
            let _ = tokio::fs::remove_dir_all(crate::steps::koji::files_dir(services, id)).await;
            format!("imported into Koji as {nvr} (Koji build {koji_build_id})")
        }
        ImportAttempt::Retry { message, .. } => {
            tracing::warn!("build {id}: Koji import postponed: {message}");
            format!("Koji import postponed: {message}")
        }
        ImportAttempt::Failed { message, .. } | ImportAttempt::Refunded { message } => {
            tracing::warn!("build {id}: Koji import failed: {message}");
            format!("Koji import failed: {message}")
        }
    };
    record(services, id, &attempt, event).await;
}

fn nvr_of(doc: &serde_json::Value) -> Option<String> {
    let b = &doc["build"];
    Some(format!(
        "{}-{}-{}",
        b["name"].as_str()?,
        b["version"].as_str()?,
        b["release"].as_str()?
    ))
}

/// A file to upload: its name in the upload directory, and its bytes or
/// where they are (a docker-archive is streamed, never held in memory).
struct Upload {
    name: String,
    source: Source,
}

enum Source {
    Bytes(Vec<u8>),
    File(std::path::PathBuf),
}

/// Size, SHA-256 and `extra` digest of a file, read once, in pieces.
fn file_sums(path: &std::path::Path, extra: Checksum) -> std::io::Result<(u64, String, String)> {
    use std::io::Read;
    let mut f = std::fs::File::open(path)?;
    let (mut sha, mut other) = (Checksum::Sha256.hasher(), extra.hasher());
    let mut buf = vec![0u8; 1024 * 1024];
    let mut size = 0u64;
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        sha.update(&buf[..n]);
        other.update(&buf[..n]);
        size += n as u64;
    }
    Ok((size, sha.finish(), other.finish()))
}

/// The document to import and the files it names: the log, and each image
/// output's placeholder or docker-archive, checked against what the
/// document says of it. The document gets the reservation's Koji build id,
/// the owner the settings map its package to, and the settings' checksum.
async fn prepare(
    services: &Services,
    settings: &KojiSettings,
    id: BuildId,
    reservation: Option<&KojiReservation>,
) -> Result<(serde_json::Value, Vec<Upload>), String> {
    let mut doc = crate::steps::metadata::served(services, id)
        .await?
        .ok_or_else(|| format!("build {id} has no metadata"))?;
    let checksum = settings.checksum();
    let mut files = Vec::new();
    for o in doc["output"].as_array_mut().into_iter().flatten() {
        let name = o["filename"].as_str().unwrap_or_default().to_string();
        if name.is_empty() || name.contains('/') || name.starts_with('.') {
            return Err(format!(
                "output file name {name:?} is not a plain file name"
            ));
        }
        let kept = crate::steps::koji::files_dir(services, id).join(&name);
        let source = match o["type"].as_str() {
            Some("log") => Source::Bytes(
                services
                    .logs
                    .snapshot(id, 0)
                    .await
                    .map_err(|e| format!("cannot read the build log: {e}"))?,
            ),
            // The docker-archive saved when the build published, if any.
            Some("docker-image") if kept.is_file() => Source::File(kept),
            Some("docker-image") => {
                Source::Bytes(slipway_koji::placeholder::archive(&placeholder_readme(o)))
            }
            other => {
                return Err(format!(
                    "output {name} has a type Slipway does not upload: {other:?}"
                ));
            }
        };
        let (size, sha256, sum) = match &source {
            Source::Bytes(b) => (b.len() as u64, Checksum::Sha256.hex(b), checksum.hex(b)),
            Source::File(path) => {
                let path = path.clone();
                tokio::task::spawn_blocking(move || file_sums(&path, checksum))
                    .await
                    .map_err(|e| format!("hashing {name} crashed: {e}"))?
                    .map_err(|e| format!("cannot read {name}: {e}"))?
            }
        };
        if Some(size) != o["filesize"].as_u64() || Some(sha256.as_str()) != o["checksum"].as_str() {
            return Err(format!(
                "{name} is not what the metadata says (size or checksum differ); rebuild to import it"
            ));
        }
        o["checksum"] = serde_json::json!(sum);
        o["checksum_type"] = serde_json::json!(checksum.name());
        files.push(Upload { name, source });
    }
    if let Some(r) = reservation {
        doc["build"]["build_id"] = serde_json::json!(r.koji_build_id);
    }
    let package = doc["build"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    if let Some(owner) = settings.owner(&package) {
        doc["build"]["owner"] = serde_json::json!(owner);
    }
    // The content generator the hub knows Slipway as.
    for b in doc["buildroots"].as_array_mut().into_iter().flatten() {
        b["content_generator"]["name"] = serde_json::json!(settings.content_generator);
    }
    Ok((doc, files))
}

/// Log in, upload the files into a directory of their own, import.
fn send(
    settings: &KojiSettings,
    id: BuildId,
    doc: &serde_json::Value,
    files: &[Upload],
    reservation: Option<&KojiReservation>,
) -> Result<(String, i64), Failure> {
    let hub = settings.hub().map_err(Failure::Refused)?;
    let session = login(settings, &hub)?;
    let dir = format!("slipway-import/{id}.{}", Timestamp::now().as_millisecond());
    let result = (|| -> Result<slipway_koji::KojiBuild, Failure> {
        for f in files {
            match &f.source {
                Source::Bytes(b) => session.upload(&dir, &f.name, b, settings.checksum())?,
                Source::File(path) => {
                    let file = std::fs::File::open(path).map_err(|e| {
                        Failure::Refused(format!("cannot read {}: {e}", path.display()))
                    })?;
                    session.upload_from(&dir, &f.name, file, settings.checksum())?;
                }
            }
        }
        Ok(session.cg_import(
            &doc.to_string(),
            &dir,
            reservation.map(|r| r.token.as_str()),
        )?)
    })();
    session.logout();
    let build = result?;
    Ok((build.nvr, build.id))
}
