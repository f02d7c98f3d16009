//! Signing a published build: every manifest it pushed (each platform's
//! image and, with several, their index) gets a sigstore signature by the
//! server's key, and the image gets its SLSA provenance as a signed DSSE
//! envelope attached as an OCI referrer. Done before any tag but the
//! unique one moves: an image under a primary or floating tag is signed.

use crate::Services;
use slipway_builder::LogSink;
use slipway_core::supply::dsse::{ENVELOPE_MEDIA_TYPE, Envelope, IN_TOTO_PAYLOAD_TYPE};
use slipway_core::supply::provenance::{Facts, statement};
use slipway_core::supply::simple_signing::Payload;
use slipway_core::{Build, PushedImage, WorkerBuild};
use slipway_scan::image::FetchOptions;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use slipway_core::supply::reproduce::{BASE_DIGEST, BASE_NAME};

/// Sign what `build` pushed and attach its provenance to `published`
/// (the image under the unique tag). Returns the provenance envelope.
pub async fn sign(
    services: &Arc<Services>,
    build: &Build,
    platforms: &[(&WorkerBuild, &PushedImage)],
    published: &PushedImage,
    auth: Option<&Path>,
    log: &dyn LogSink,
) -> Result<Envelope, String> {
    let output = &build.spec.output;
    let repository = format!("{}/{}", output.registry, output.repository);
    let opts = FetchOptions {
        authfile: auth.map(Path::to_path_buf),
        tls_verify: services.buildah.tls_verify(&output.to_string()),
        ..Default::default()
    };
    let mut digests = vec![published.digest.clone()];
    for (_, image) in platforms {
        if !digests.contains(&image.digest) {
            digests.push(image.digest.clone());
        }
    }
    push_signatures(services, &repository, &digests, &opts, log).await?;

    let facts = facts(services, build, platforms, published, &repository, &opts).await;
    let payload = serde_json::to_vec(&statement(&facts)).map_err(|e| e.to_string())?;
    let key = services.signing.clone();
    let envelope = Envelope::sign(IN_TOTO_PAYLOAD_TYPE, &payload, &key.public().keyid(), |m| {
        key.sign(m)
    })
    .map_err(|e| e.to_string())?;
    let content = serde_json::to_vec(&envelope).map_err(|e| e.to_string())?;
    attach_provenance(
        &format!("{repository}@{}", published.digest),
        content,
        &opts,
        log,
    )
    .await?;
    let kept = serde_json::to_string(&envelope).map_err(|e| e.to_string())?;
    services
        .store
        .put_provenance(build.id, &kept)
        .await
        .map_err(|e| format!("cannot keep the provenance with the build: {e}"))?;
    Ok(envelope)
}

/// Sign each of `digests` for `repository` (`host/path`) with the
/// server's key and push the signatures there.
async fn push_signatures(
    services: &Services,
    repository: &str,
    digests: &[String],
    opts: &FetchOptions,
    log: &dyn LogSink,
) -> Result<(), String> {
    let key = services.signing.clone();
    let creator = format!("Slipway {}", env!("CARGO_PKG_VERSION"));
    let now = jiff::Timestamp::now();
    for digest in digests {
        let image = format!("{repository}@{digest}");
        log.line(&format!("--> signing {image}"));
        let payload = Payload::new(repository, digest, &creator, now.as_second()).to_bytes();
        let signature = key.sign(&payload).map_err(|e| e.to_string())?;
        let signature = slipway_core::supply::dsse::base64_encode(&signature);
        let opts = opts.clone();
        retried(log, move || {
            slipway_scan::signature::push(&image, &payload, &signature, &opts).map(|_| ())
        })
        .await
        .map_err(|e| format!("cannot sign {repository}@{digest}: {e}"))?;
    }
    Ok(())
}

/// Attach the provenance envelope `content` to `image` (`host/path@digest`).
async fn attach_provenance(
    image: &str,
    content: Vec<u8>,
    opts: &FetchOptions,
    log: &dyn LogSink,
) -> Result<(), String> {
    log.line(&format!("--> attaching provenance to {image}"));
    let (target, opts) = (image.to_string(), opts.clone());
    retried(log, move || {
        let artifact = slipway_scan::referrer::Artifact {
            artifact_type: ENVELOPE_MEDIA_TYPE,
            file_name: "provenance.intoto.json",
            content: &content,
            annotations: BTreeMap::from([(
                "in-toto.io/predicate-type".to_string(),
                slipway_core::supply::provenance::PREDICATE_TYPE.to_string(),
            )]),
        };
        slipway_scan::referrer::attach(&target, &artifact, &opts)
            .map(|_| ())
            .map_err(|e| e.to_string())
    })
    .await
    .map_err(|e| format!("cannot attach the provenance to {image}: {e}"))
}

/// Sign a promoted build's image where the promotion put it
/// (`repository`: `host/path`, in the embedded registry or another), and
/// attach its provenance there: a signature names its repository, so a
/// copy in another repository needs its own to pass a `matchRepository`
/// policy. The same signatures again replace them; the same envelope
/// again is the same referrer.
pub async fn sign_copy(
    services: &Services,
    build: &Build,
    repository: &str,
    auth: Option<&Path>,
    log: &dyn LogSink,
) -> Result<(), String> {
    let digests = crate::steps::evidence::manifests(build);
    let Some(published) = digests.first() else {
        return Ok(());
    };
    let opts = FetchOptions {
        authfile: auth.map(Path::to_path_buf),
        tls_verify: services.buildah.tls_verify(repository),
        ..Default::default()
    };
    push_signatures(services, repository, &digests, &opts, log).await?;
    match services.store.provenance(build.id).await {
        Ok(Some(envelope)) => {
            attach_provenance(
                &format!("{repository}@{published}"),
                envelope.into_bytes(),
                &opts,
                log,
            )
            .await
        }
        Ok(None) => Ok(()),
        Err(e) => Err(format!("cannot read the build's provenance: {e}")),
    }
}

/// Tries a registry write gets: the registry may be several servers
/// behind a balancer, and one of them may be going away (each try opens
/// new connections, which the balancer sends to another).
const TRIES: u32 = 4;

/// Run the blocking registry write `write` until it succeeds, [`TRIES`]
/// times at most, 1, 2, then 4 s apart; the last error.
async fn retried<F>(log: &dyn LogSink, write: F) -> Result<(), String>
where
    F: Fn() -> Result<(), String> + Send + Sync + 'static,
{
    let write = Arc::new(write);
    let mut wait = std::time::Duration::from_secs(1);
    let mut tried = 0;
    loop {
        tried += 1;
        let w = write.clone();
        let result = tokio::task::spawn_blocking(move || w())
            .await
            .map_err(|e| e.to_string())
            .and_then(|r| r);
        match result {
            Ok(()) => return Ok(()),
            Err(e) if tried >= TRIES => return Err(e),
            Err(e) => {
                log.line(&format!("--> {e}; trying again in {}s", wait.as_secs()));
                tokio::time::sleep(wait).await;
                wait *= 2;
            }
        }
    }
}

/// The provenance's facts: the build's inputs, the base images by digest
/// (as buildah annotated each platform's image, parents pinned by a wave,
/// and the other stages' and `COPY --from` images resolved), the run.
async fn facts(
    services: &Services,
    build: &Build,
    platforms: &[(&WorkerBuild, &PushedImage)],
    published: &PushedImage,
    repository: &str,
    opts: &FetchOptions,
) -> Facts {
    let mut subjects = vec![(repository.to_string(), published.digest.clone())];
    let mut base_images: Vec<(String, String)> = Vec::new();
    for (_, image) in platforms {
        if image.digest != published.digest {
            subjects.push((repository.to_string(), image.digest.clone()));
        }
        let reference = format!("{repository}@{}", image.digest);
        let opts = opts.clone();
        let read = tokio::task::spawn_blocking(move || {
            slipway_scan::distribution::read_manifest(&reference, &opts)
        })
        .await;
        if let Ok(Ok((bytes, _))) = read
            && let Ok(m) = serde_json::from_slice::<serde_json::Value>(&bytes)
            && let (Some(name), Some(digest)) = (
                m["annotations"][BASE_NAME].as_str(),
                m["annotations"][BASE_DIGEST].as_str(),
            )
        {
            let base = (name.to_string(), digest.to_string());
            if !base_images.contains(&base) {
                base_images.push(base);
            }
        }
    }
    for (name, pinned) in &build.spec.parent_digests {
        if let Some((_, digest)) = pinned.rsplit_once('@') {
            let base = (name.clone(), digest.to_string());
            if !base_images.contains(&base) {
                base_images.push(base);
            }
        }
    }
    // The images of other stages and `COPY --from` (buildah annotates only
    // the final stage's base): their digests as the registry resolves them
    // now, moments after the build pulled them.
    let canonical = slipway_core::image_ref::canonical_name;
    for name in &build.spec.base_images {
        let known = base_images
            .iter()
            .any(|(n, _)| canonical(n).is_some() && canonical(n) == canonical(name));
        if known {
            continue;
        }
        let digest =
            crate::steps::inputs::resolve_digest(services, build.spec.project_name(), name).await;
        if digest.starts_with("sha256:") {
            base_images.push((name.clone(), digest));
        }
    }
    let source = &build.spec.source;
    let location = match &source.location {
        slipway_core::build::source::SourceLocation::Url(u) => u.clone(),
        slipway_core::build::source::SourceLocation::Path(p) => format!("file://{p}"),
    };
    let time =
        |t: Option<jiff::Timestamp>| t.map(|t| slipway_core::api::time::to_second(t).to_string());
    Facts {
        builder_id: services.notifier.public_url.clone(),
        builder_version: env!("CARGO_PKG_VERSION").to_string(),
        subjects,
        source_url: location,
        git_ref: source.git_ref.clone(),
        commit: build.commit.clone(),
        context_dir: source.context_dir.clone(),
        dockerfile: source.dockerfile.clone(),
        build_args: build.spec.build_args.clone(),
        secret_args: Vec::new(),
        platforms: build
            .spec
            .platforms
            .iter()
            .map(ToString::to_string)
            .collect(),
        base_images,
        build_id: build.id,
        invocation: format!(
            "{}/api/v1/builds/{}",
            services.notifier.public_url.trim_end_matches('/'),
            build.id
        ),
        started: time(build.started_at),
        finished: time(Some(jiff::Timestamp::now())),
        clusters: platforms
            .iter()
            .filter_map(|(w, _)| Some((w.platform.to_string(), w.cluster.clone()?)))
            .collect(),
    }
}
