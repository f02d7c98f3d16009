//! Publishing a build whose platforms all completed: the unique tag (the
//! one platform's image, or an OCI image index of all of them), the scan
//! and the test stage before any other tag moves, then the primary,
//! floating and extra tags, and the Koji metadata. A rebuild that checks
//! another build (`steps::reproduce`) is compared with it instead.

use crate::Services;
use slipway_builder::LogSink;
use slipway_core::build::{Stage, StageTiming};
use slipway_core::{Build, BuildPhase, PushedImage};
use std::sync::Arc;

/// Publish the build under each of its tags (unique tag first): the
/// platform image itself when there is one platform, an OCI image index of
/// all of them otherwise; then record its metadata. Returns the image under
/// its primary tag.
pub async fn publish(services: &Arc<Services>, build: &Build) -> Result<PushedImage, String> {
    let id = build.id;
    // Each platform's complete worker build and its image, in spec order.
    let mut platforms = Vec::new();
    for platform in &build.spec.platforms {
        let (worker, image) = build
            .workers
            .iter()
            .find(|w| &w.platform == platform && w.phase == BuildPhase::Complete)
            .and_then(|w| w.image.as_ref().map(|i| (w, i)))
            .ok_or_else(|| format!("platform {platform} completed without an image"))?;
        platforms.push((worker, image));
    }
    let images: Vec<PushedImage> = platforms.iter().map(|(_, i)| (*i).clone()).collect();
    let output = &build.spec.output;
    let work = services.work_dir.join(format!("{id}-publish"));
    tokio::fs::create_dir_all(&work)
        .await
        .map_err(|e| format!("cannot make work dir {}: {e}", work.display()))?;
    let host = crate::backends::LocalHost::for_build(services, id);
    // The embedded registry's credentials, or the project's login to the
    // output's registry when it keeps one.
    let auth = slipway_worker::auth_for(
        &host,
        &services.own_registry_hosts(),
        &output.to_string(),
        &work,
    )
    .await
    .map_err(|e| e.to_string())?;
    let log = services
        .logs
        .open(id)
        .map_err(|e| format!("cannot open the build log: {e}"))?;
    let log: &dyn LogSink = log.as_ref();
    // Builds prepared before tags were planned publish the output's tag.
    let tags = if build.spec.tags.is_empty() {
        vec![output.tag.clone().unwrap_or_else(|| "latest".into())]
    } else {
        build.spec.tags.clone()
    };
    let tagged = |tag: &str| output.with_tag(tag);
    // (Builds prepared before tags were planned have none.)
    let immutable = crate::steps::ownership::immutable_tags(build);
    let result = async {
        crate::steps::ownership::check_free(services, build, &immutable, auth.as_deref(), log)
            .await?;
        let first = tagged(&tags[0]);
        let published = match images.as_slice() {
            [one] => {
                move_tags(services, build, one, &tags[..1], auth.as_deref(), log).await?;
                PushedImage {
                    tag_reference: first.to_string(),
                    ..one.clone()
                }
            }
            many => push_index(services, &platforms, &first, auth.as_deref(), log)
                .await
                .map(|digest| PushedImage {
                    reference: first.with_digest(&digest),
                    tag_reference: first.to_string(),
                    digest,
                    size: many.iter().map(|i| i.size).sum(),
                    layers: Vec::new(),
                })?,
        };
        // The unique tag is locked at once; the primary one once pushed.
        crate::steps::ownership::lock(
            services,
            build,
            immutable.get(..1).unwrap_or(&[]),
            &published.digest,
        )
        .await?;
        // A rebuild that checks another build is compared with it, and
        // that is all: it is neither signed nor scanned, and it has no
        // other tag.
        if build.spec.reproduces.is_some() {
            crate::steps::reproduce::compare(
                services,
                build,
                &platforms,
                &published,
                auth.as_deref(),
                log,
            )
            .await?;
            return Ok(published);
        }
        // Signed, with its provenance attached, before any other tag
        // names it.
        crate::steps::signing::sign(
            services,
            build,
            &platforms,
            &published,
            auth.as_deref(),
            log,
        )
        .await?;
        // Scan before the other tags move: an image that fails the
        // config's policy keeps only its unique tag. Each platform's
        // image is scanned (and gets its SBOMs) on its own.
        let started = std::time::Instant::now();
        let platform_images: Vec<(&str, &str)> = platforms
            .iter()
            .map(|(w, i)| (w.platform.as_str(), i.reference.as_str()))
            .collect();
        let scanned = crate::steps::scanning::scan_build(
            services,
            build,
            &platform_images,
            auth.as_deref(),
            log,
        )
        .await;
        let _ = services
            .store
            .record_stage(
                id,
                StageTiming {
                    stage: Stage::Scan,
                    duration_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
                },
            )
            .await;
        scanned?;
        // Then the test stage, if the repository has one: a failing test
        // fails the build, so only the unique tag names the image.
        if let Some(test) =
            crate::steps::testing::run(services, build, &published, auth.as_deref(), log).await
            && !test.passed
        {
            return Err(format!(
                "{}; only the unique tag {} names the image",
                test.describe(),
                tags[0]
            ));
        }
        // The primary tag (the second, after the unique one) names the result.
        let mut primary = published.clone();
        if let Some(tag) = tags.get(1) {
            move_tags(
                services,
                build,
                &published,
                &tags[1..2],
                auth.as_deref(),
                log,
            )
            .await?;
            crate::steps::ownership::lock(
                services,
                build,
                immutable.get(1..).unwrap_or(&[]),
                &published.digest,
            )
            .await?;
            primary.tag_reference = tagged(tag).to_string();
            let rest = tags.get(2..).unwrap_or(&[]);
            move_tags(services, build, &published, rest, auth.as_deref(), log).await?;
        }
        // While the registry credentials are at hand.
        crate::steps::metadata::record(services, build, &platforms, &primary, auth.as_deref())
            .await;
        Ok(primary)
    }
    .await;
    let _ = tokio::fs::remove_dir_all(&work).await;
    drop_platform_tags(services, build).await;
    result
}

/// Give `image` (in the build's output repository) each of `tags`: in the
/// embedded registry a metadata write per tag (recorded as the build's
/// move, as a push with its token is), elsewhere one manifest PUT per tag
/// of the bytes already pushed (no `skopeo copy` process per tag).
async fn move_tags(
    services: &Services,
    build: &Build,
    image: &PushedImage,
    tags: &[String],
    auth: Option<&std::path::Path>,
    log: &dyn LogSink,
) -> Result<(), String> {
    let output = &build.spec.output;
    let shown = |tag: &str| output.with_tag(tag).to_string();
    for tag in tags {
        log.line(&format!(
            "--> tagging {} as {}",
            image.reference,
            shown(tag)
        ));
    }
    if services.own_registry_hosts().contains(&output.registry) {
        let by =
            slipway_store::TagMove::new(format!("build:{}", build.id), Some(build.id), "build");
        for tag in tags {
            services
                .registry
                .meta
                .move_tag(&output.repository, tag, &image.digest, &by)
                .await
                .map_err(|e| format!("cannot tag {}: {e}", shown(tag)))?;
        }
        return Ok(());
    }
    let opts = slipway_scan::image::FetchOptions {
        authfile: auth.map(std::path::Path::to_path_buf),
        tls_verify: services.buildah.tls_verify(&output.to_string()),
        ..Default::default()
    };
    let (reference, all) = (image.reference.clone(), tags.to_vec());
    tokio::task::spawn_blocking(move || slipway_scan::distribution::retag(&reference, &all, &opts))
        .await
        .map_err(|e| format!("the tag mover crashed: {e}"))?
        .map_err(|e| format!("cannot tag {}: {e}", output.name()))
}

/// Put the OCI image index of the platforms' images under `dest`'s tag:
/// their manifests read once each and one PUT of the index (no `buildah
/// manifest` list in local storage, no process). Returns its digest.
async fn push_index(
    services: &Services,
    platforms: &[(&slipway_core::WorkerBuild, &PushedImage)],
    dest: &slipway_core::ImageRef,
    auth: Option<&std::path::Path>,
    log: &dyn LogSink,
) -> Result<String, String> {
    log.line(&format!(
        "--> pushing image index {dest} ({} platforms)",
        platforms.len()
    ));
    let members: Vec<(slipway_core::Platform, String)> = platforms
        .iter()
        .map(|(w, i)| (w.platform.clone(), i.reference.clone()))
        .collect();
    let opts = slipway_scan::image::FetchOptions {
        authfile: auth.map(std::path::Path::to_path_buf),
        tls_verify: services.buildah.tls_verify(&dest.to_string()),
        ..Default::default()
    };
    let repository = dest.name();
    let tag = dest.tag.clone().unwrap_or_else(|| "latest".into());
    let digest = tokio::task::spawn_blocking(move || {
        let refs: Vec<(&slipway_core::Platform, &str)> =
            members.iter().map(|(p, r)| (p, r.as_str())).collect();
        slipway_scan::distribution::push_index(&repository, &tag, &refs, &opts)
    })
    .await
    .map_err(|e| format!("the index pusher crashed: {e}"))?
    .map_err(|e| format!("cannot push the image index {dest}: {e}"))?;
    log.line(&format!("--> pushed {}", dest.with_digest(&digest)));
    Ok(digest)
}

/// The per-platform tags (`build-ID-PLATFORM`) carried the worker builds'
/// images to the publish step; once it is done — published or not — they
/// go, so the unique tag alone names a build that failed its scan or test
/// (the manifests stay while an index or a tag needs them). Only in the
/// embedded registry: another registry's tags are its owner's to manage.
async fn drop_platform_tags(services: &Services, build: &Build) {
    let output = &build.spec.output;
    if !services.own_registry_hosts().contains(&output.registry) {
        return;
    }
    let by = slipway_store::TagMove::new(format!("build:{}", build.id), Some(build.id), "build");
    for p in &build.spec.platforms {
        let tag = format!("build-{}-{p}", build.id);
        if let Err(e) = services
            .registry
            .meta
            .delete_tag(&output.repository, &tag, &by)
            .await
        {
            tracing::warn!("build {}: cannot remove tag {tag}: {e}", build.id);
        }
    }
}
