//! Promotion to an environment in another registry: the image is copied
//! there (skopeo, digests preserved; layers the registry already holds in
//! another repository are mounted, not uploaded, when skopeo's blob cache
//! knows where they are), after checking that the primary tag is free or
//! already names the image — a primary tag is never overwritten, in any
//! registry. Every tag it moves there is recorded in the history under
//! `host/repository`. The copy gets signatures of its own, naming its
//! repository there, and its provenance attached (`signing::sign_copy`).

use crate::Services;
use crate::error::ApiError;
use slipway_core::{Build, ImageRef, PushedImage};
use slipway_store::TagMove;
use tokio_util::sync::CancellationToken;

/// Where to: `host/target:tags` (the first of `tags` the primary one
/// when `primary`).
pub(crate) struct Destination<'a> {
    pub host: &'a str,
    pub target: &'a str,
    pub tags: &'a [String],
    pub primary: bool,
}

/// Copy `image` (the build's, in the embedded registry) to `to`, as `by`.
pub(crate) async fn copy(
    services: &Services,
    build: &Build,
    image: &PushedImage,
    to: &Destination<'_>,
    by: &TagMove,
) -> Result<(), ApiError> {
    let work = services
        .scratch_dir(&format!("{}-promote", build.id))
        .await
        .map_err(ApiError::internal)?;
    let result = copy_in(services, build, image, to, by, &work).await;
    let _ = tokio::fs::remove_dir_all(&work).await;
    result
}

async fn copy_in(
    services: &Services,
    build: &Build,
    image: &PushedImage,
    to: &Destination<'_>,
    by: &TagMove,
    work: &std::path::Path,
) -> Result<(), ApiError> {
    let output = &build.spec.output;
    let dest = |tag: &str| ImageRef {
        registry: to.host.to_string(),
        repository: to.target.to_string(),
        tag: Some(tag.to_string()),
        digest: None,
    };
    let host = crate::backends::LocalHost {
        services,
        build: build.id,
        reach: crate::backends::Reach::Pull(output.repository.clone()),
    };
    // The project's login there (`slipway registry login`), else the
    // server user's own credentials; in a directory of its own, as the
    // embedded registry's auth file has the same name.
    let dest_dir = work.join("dest");
    tokio::fs::create_dir_all(&dest_dir)
        .await
        .map_err(ApiError::internal)?;
    let dest_auth = match to.tags.first() {
        Some(tag) => slipway_worker::auth_for(
            &host,
            &services.own_registry_hosts(),
            &dest(tag).to_string(),
            &dest_dir,
        )
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?,
        None => None,
    };
    // What each tag names there now.
    let mut before = Vec::with_capacity(to.tags.len());
    for tag in to.tags {
        let now =
            crate::steps::ownership::external_digest(services, &dest(tag), dest_auth.as_deref())
                .await
                .map_err(ApiError::upstream)?;
        before.push(now);
    }
    if to.primary
        && let (Some(tag), Some(Some(held))) = (to.tags.first(), before.first())
        && held != &image.digest
    {
        return Err(ApiError::conflict(format!(
            "the primary tag {} exists already, naming {held}; unique and primary tags are never overwritten",
            dest(tag)
        )));
    }
    let log = services.logs.open_or_discard(build.id);
    let log = log.as_ref();
    let full = format!("{}/{}", to.host, to.target);
    if before
        .iter()
        .all(|b| b.as_deref() == Some(image.digest.as_str()))
    {
        // Promoted before: nothing moves; its signatures there are made
        // again (a promotion that could not sign them is tried again so).
        return sign_there(services, build, &full, dest_auth.as_deref(), log).await;
    }
    let source = format!("{}/{}@{}", output.registry, output.repository, image.digest);
    let auth = slipway_worker::own_auth_for(&host, &services.own_registry_hosts(), &source, work)
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?;
    log.line(&format!(
        "==> promoting {source} to {}/{}",
        to.host, to.target
    ));
    let never = CancellationToken::new();
    // The first tag from here; the others within the other registry,
    // where every blob now is.
    let there = format!("{}/{}@{}", to.host, to.target, image.digest);
    for (i, tag) in to.tags.iter().enumerate() {
        let (from, auth) = if i == 0 {
            (source.as_str(), auth.as_deref())
        } else {
            (there.as_str(), dest_auth.as_deref())
        };
        services
            .buildah
            .copy_image(from, &dest(tag), auth, dest_auth.as_deref(), log, &never)
            .await
            .map_err(|e| ApiError::upstream(e.to_string()))?;
        services
            .registry
            .meta
            .record_external_move(&full, tag, before[i].as_deref(), Some(&image.digest), by)
            .await?;
    }
    sign_there(services, build, &full, dest_auth.as_deref(), log).await
}

/// The copy's own signatures and provenance, for its repository there.
async fn sign_there(
    services: &Services,
    build: &Build,
    repository: &str,
    auth: Option<&std::path::Path>,
    log: &dyn slipway_builder::LogSink,
) -> Result<(), ApiError> {
    crate::steps::signing::sign_copy(services, build, repository, auth, log)
        .await
        .map_err(|e| {
            ApiError::upstream(format!(
                "the image was copied to {repository} but could not be signed there: {e}; promote it again to try again"
            ))
        })
}
