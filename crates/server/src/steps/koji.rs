//! Koji, for one build: reserving its NVR before it is queued
//! (`CGInitBuild`, so Koji is the authority on NVRs, as in OSBS), and the
//! hub calls the Koji controller makes (log in, import, refund). The hub
//! client is blocking (`ureq`): every call here runs on a blocking thread.
//!
//! A hub that cannot be reached, or that refuses a reservation for any
//! reason other than the NVR being taken, never fails or holds a build: it
//! is built unreserved (the event says why) and imported later. Only an NVR
//! that Koji already has fails the build, before it starts.

use crate::Services;
use crate::config::{KojiAuth, KojiSettings};
use slipway_builder::LogSink;
use slipway_core::BuildId;
use slipway_core::build::conventions::{Preparation, next_release};
use slipway_koji::{Hub, KojiError, Session};
use slipway_store::KojiReservation;

/// Why a call to the hub did not do its job.
pub(crate) enum Failure {
    /// The hub could not be reached, or asked to come back: try later.
    Unreachable(String),
    /// The hub said no (or the settings are wrong): trying again as it is
    /// will not help.
    Refused(String),
}

impl From<KojiError> for Failure {
    fn from(e: KojiError) -> Self {
        match e {
            e @ KojiError::Transport { .. } => Failure::Unreachable(e.to_string()),
            // An expired session or a hub taken offline: worth another try.
            e if matches!(e.fault_code(), Some(1007 | 1014)) => Failure::Unreachable(e.to_string()),
            e => Failure::Refused(e.to_string()),
        }
    }
}

impl Failure {
    pub(crate) fn message(&self) -> &str {
        match self {
            Failure::Unreachable(m) | Failure::Refused(m) => m,
        }
    }
}

/// Log in as the settings say.
pub(crate) fn login<'h>(settings: &KojiSettings, hub: &'h Hub) -> Result<Session<'h>, Failure> {
    match settings.auth {
        KojiAuth::Password => {
            let password = settings.password().map_err(Failure::Refused)?;
            Ok(hub.login(settings.user.as_deref().unwrap_or_default(), &password)?)
        }
        KojiAuth::SslClientCert => Ok(hub.ssl_login()?),
    }
}

/// Whether the hub refused because the NVR is taken (built, importing or
/// reserved).
fn taken(e: &KojiError) -> bool {
    let text = e.to_string();
    e.fault_code() == Some(1000)
        && (text.contains("already exists") || text.contains("already reserved"))
}

/// What reserving came to.
enum Reserved {
    Yes {
        release: String,
        reservation: KojiReservation,
    },
    /// The NVR is Koji's already: the build must not start.
    Taken(String),
    /// Build unreserved, for this reason.
    No(String),
}

/// How many releases are tried when each is taken by the time it is
/// reserved (another server or a person reserving the same package).
const RELEASE_TRIES: u32 = 5;

/// Reserve `prep`'s NVR in Koji when Koji is configured and the build has
/// an identity (scratch builds have no release): an explicit release as it
/// is, else the next free one here and in Koji. On success the release is
/// set in `prep` (the store queues it under that release). `Err` is the
/// reason the build fails: Koji has the NVR.
pub async fn reserve(
    services: &Services,
    id: BuildId,
    prep: &mut Preparation,
    log: &dyn LogSink,
) -> Result<(), String> {
    let (Some(settings), Some(ident)) = (services.koji.clone(), prep.identity.clone()) else {
        return Ok(());
    };
    let requested = prep.spec.release.clone();
    let local = match services
        .store
        .taken_releases(&prep.spec.output.name(), &ident.name, &ident.version)
        .await
    {
        Ok(taken) => next_release(taken.iter().map(String::as_str)),
        Err(e) => {
            note(services, id, log, &format!("releases here unreadable: {e}")).await;
            return Ok(());
        }
    };
    // Koji names the build after the component (as OSBS does; see
    // `slipway_core::koji`), while releases here count per name label.
    let (name, version) = (ident.component.clone(), ident.version.clone());
    let outcome = tokio::task::spawn_blocking(move || {
        reserve_on_hub(&settings, &name, &version, requested.as_deref(), &local)
    })
    .await
    .unwrap_or_else(|e| Reserved::No(format!("the reservation crashed: {e}")));
    match outcome {
        Reserved::Yes {
            release,
            reservation,
        } => {
            let nvr = format!("{}-{}-{release}", ident.component, ident.version);
            if let Err(e) = services.store.reserve_koji(id, &nvr, &reservation).await {
                // Unrecorded, it could never be imported into or refunded:
                // give it back now.
                give_back(services, reservation).await;
                note(
                    services,
                    id,
                    log,
                    &format!("cannot record the reservation: {e}"),
                )
                .await;
                return Ok(());
            }
            log.line(&format!(
                "==> reserved {nvr} in Koji (Koji build {})",
                reservation.koji_build_id
            ));
            let _ = services
                .store
                .record_event(
                    id,
                    &format!(
                        "reserved {nvr} in Koji (Koji build {})",
                        reservation.koji_build_id
                    ),
                )
                .await;
            prep.spec.release = Some(release);
            Ok(())
        }
        Reserved::Taken(reason) => Err(reason),
        Reserved::No(why) => {
            note(services, id, log, &why).await;
            Ok(())
        }
    }
}

/// Say that the build goes on unreserved, and why.
async fn note(services: &Services, id: BuildId, log: &dyn LogSink, why: &str) {
    let text = format!("not reserved in Koji ({why}); the build goes on and is imported after");
    log.line(&format!("==> {text}"));
    tracing::warn!("build {id}: {text}");
    let _ = services.store.record_event(id, &text).await;
}

fn reserve_on_hub(
    settings: &KojiSettings,
    name: &str,
    version: &str,
    requested: Option<&str>,
    local_next: &str,
) -> Reserved {
    let hub = match settings.hub() {
        Ok(h) => h,
        Err(e) => return Reserved::No(e),
    };
    let session = match login(settings, &hub) {
        Ok(s) => s,
        Err(f) => return Reserved::No(f.message().to_string()),
    };
    let cg = settings.content_generator.as_str();
    let outcome = match requested {
        Some(release) => match session.cg_init_build(cg, name, version, release) {
            Ok(r) => Reserved::Yes {
                release: release.to_string(),
                reservation: kept(r),
            },
            Err(e) if taken(&e) => {
                Reserved::Taken(taken_reason(&session, name, version, release, &e))
            }
            Err(e) => Reserved::No(e.to_string()),
        },
        None => next_free(&session, cg, name, version, local_next),
    };
    session.logout();
    outcome
}

/// Reserve the next release free both here and in Koji, trying the ones
/// after it when another reserves it first.
fn next_free(
    session: &Session<'_>,
    cg: &str,
    name: &str,
    version: &str,
    local_next: &str,
) -> Reserved {
    let mut last = String::new();
    for attempt in 0..RELEASE_TRIES {
        let koji_next = match session.get_next_release(name, version, attempt + 1) {
            Ok(r) => r,
            Err(e) => return Reserved::No(e.to_string()),
        };
        // Numeric releases: the higher of Koji's and this server's (which
        // may hold releases built before Koji was configured).
        let release = match (koji_next.parse::<u64>(), local_next.parse::<u64>()) {
            (Ok(k), Ok(l)) => k.max(l.saturating_add(u64::from(attempt))).to_string(),
            _ => koji_next,
        };
        match session.cg_init_build(cg, name, version, &release) {
            Ok(r) => {
                return Reserved::Yes {
                    release,
                    reservation: kept(r),
                };
            }
            Err(e) if taken(&e) => last = e.to_string(),
            Err(e) => return Reserved::No(e.to_string()),
        }
    }
    Reserved::No(format!(
        "{RELEASE_TRIES} releases in a row were taken by the time they were reserved; last: {last}"
    ))
}

fn kept(r: slipway_koji::Reservation) -> KojiReservation {
    KojiReservation {
        koji_build_id: r.build_id,
        token: r.token,
    }
}

/// The build's failure reason when Koji has its NVR, naming Koji's build.
fn taken_reason(
    session: &Session<'_>,
    name: &str,
    version: &str,
    release: &str,
    e: &KojiError,
) -> String {
    let nvr = format!("{name}-{version}-{release}");
    let which = match session.get_build(&nvr) {
        Ok(Some(b)) => format!("Koji build {} ({})", b.id, state_name(b.state)),
        _ => e.to_string(),
    };
    format!(
        "release {release} of {name} {version} is taken in Koji: {nvr} is {which}; give another release, or none to get the next free one"
    )
}

/// Koji's name of a build state.
pub(crate) fn state_name(state: i64) -> &'static str {
    match state {
        0 => "BUILDING",
        1 => "COMPLETE",
        2 => "DELETED",
        3 => "FAILED",
        4 => "CANCELED",
        _ => "in an unknown state",
    }
}

/// Refund a reservation that could not be recorded (best effort).
async fn give_back(services: &Services, reservation: KojiReservation) {
    let Some(settings) = services.koji.clone() else {
        return;
    };
    let _ = tokio::task::spawn_blocking(move || refund(&settings, &reservation, None)).await;
}

/// Give a reservation back: the Koji build becomes FAILED (or CANCELED,
/// `state` 4) and its NVR may be reserved again.
pub(crate) fn refund(
    settings: &KojiSettings,
    reservation: &KojiReservation,
    state: Option<i32>,
) -> Result<(), Failure> {
    let hub = settings.hub().map_err(Failure::Refused)?;
    let session = login(settings, &hub)?;
    let done = session.cg_refund_build(
        &settings.content_generator,
        reservation.koji_build_id,
        &reservation.token,
        state,
    );
    session.logout();
    Ok(done?)
}

/// Where a build's files for Koji (docker-archives) wait to be uploaded.
pub(crate) fn files_dir(services: &Services, id: BuildId) -> std::path::PathBuf {
    services.data_dir.join("koji").join(id.to_string())
}

/// Save the platform image `reference` as the gzipped docker-archive that
/// image output `output` names, in the build's Koji files; its size and
/// SHA-256.
pub(crate) async fn save_archive(
    services: &Services,
    id: BuildId,
    reference: &str,
    output: &serde_json::Value,
    auth: Option<&std::path::Path>,
) -> Result<(u64, String), String> {
    let name = output["filename"].as_str().unwrap_or_default();
    if name.is_empty() || name.contains('/') || name.starts_with('.') {
        return Err(format!(
            "image output file name {name:?} is not a plain file name"
        ));
    }
    // The tag inside the archive: the first pull spec (`repo:tag`).
    let tag = output
        .pointer("/extra/docker/repositories/0")
        .and_then(|r| r.as_str())
        .unwrap_or(reference)
        .to_string();
    let dir = files_dir(services, id);
    tokio::fs::create_dir_all(&dir)
        .await
        .map_err(|e| format!("cannot make {}: {e}", dir.display()))?;
    let tar = dir.join(format!("{name}.tar"));
    let _ = tokio::fs::remove_file(&tar).await;
    services
        .buildah
        .save_docker_archive(
            reference,
            &tag,
            &tar,
            auth,
            &crate::steps::metadata::Discard,
            &tokio_util::sync::CancellationToken::new(),
        )
        .await
        .map_err(|e| e.to_string())?;
    let gz = dir.join(name);
    let done = tokio::task::spawn_blocking(move || {
        let compressed = slipway_koji::archive::gzip_file(&tar, &gz);
        let _ = std::fs::remove_file(&tar);
        compressed
    })
    .await
    .map_err(|e| format!("the archive's compression crashed: {e}"))?;
    done.map_err(|e| format!("cannot compress the docker-archive of {reference}: {e}"))
}
