//! What a build's input key is made of that needs the world: the build
//! tools' versions and the digests base images resolve to now.

use crate::Services;
use slipway_core::ImageRef;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Slipway's and the build tools' versions (read once, with the Koji
/// buildroot), part of every input key.
pub async fn builder_version() -> String {
    let root = crate::steps::metadata::buildroot().await;
    let tools: Vec<String> = root
        .tools
        .iter()
        .map(|t| format!("{} {}", t.name, t.version))
        .collect();
    format!("slipway {}, {}", root.generator_version, tools.join(", "))
}

/// The digest `image` resolves to now: from the embedded registry's tags
/// directly, else by asking its registry (`unresolved` when it cannot say).
pub async fn resolve_digest(services: &Services, image: &str) -> String {
    let Ok(r) = ImageRef::parse(image) else {
        return "unresolved".into();
    };
    if let Some(d) = &r.digest {
        return d.clone();
    }
    let tag = r.tag.clone().unwrap_or_else(|| "latest".into());
    if r.registry == services.own_registry {
        return match services.registry.meta.tag(&r.repository, &tag).await {
            Ok(Some(d)) => d,
            _ => "absent".into(),
        };
    }
    let never = CancellationToken::new();
    let read = tokio::time::timeout(
        Duration::from_secs(30),
        services
            .buildah
            .inspect_raw(image, false, None, &crate::steps::metadata::Discard, &never),
    )
    .await;
    match read {
        Ok(Ok(raw)) => {
            use sha2::Digest;
            format!(
                "sha256:{}",
                hex::encode(sha2::Sha256::digest(raw.as_bytes()))
            )
        }
        _ => "unresolved".into(),
    }
}
