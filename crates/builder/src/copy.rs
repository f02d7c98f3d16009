//! Copying an image between registries (promotion to an environment in
//! another registry): `skopeo copy --all --preserve-digests`, so the
//! image keeps its digest there. skopeo's blob-info cache remembers where
//! it has seen each layer and mounts it from another repository of the
//! destination registry instead of uploading it again when it can.

use crate::process::run;
use crate::{Buildah, BuilderError, LogSink, succeeded};
use slipway_core::ImageRef;
use std::path::Path;
use tokio_util::sync::CancellationToken;

impl Buildah {
    /// Copy `source` (`registry/name@digest`) to `dest`, reading the
    /// source with `src_authfile` (the embedded registry's short-lived
    /// credentials) and writing with `dest_authfile` (the project's login
    /// there), else the server user's own credentials.
    pub async fn copy_image(
        &self,
        source: &str,
        dest: &ImageRef,
        src_authfile: Option<&Path>,
        dest_authfile: Option<&Path>,
        log: &dyn LogSink,
        cancel: &CancellationToken,
    ) -> Result<(), BuilderError> {
        let dest_text = dest.to_string();
        let mut args = vec![
            "copy".to_string(),
            "--quiet".into(),
            "--all".into(),
            "--preserve-digests".into(),
            format!("--src-tls-verify={}", self.tls_verify(source)),
            format!("--dest-tls-verify={}", self.tls_verify(&dest_text)),
        ];
        if let Some(p) = src_authfile {
            args.extend(["--src-authfile".into(), p.display().to_string()]);
        }
        if let Some(p) = dest_authfile {
            args.extend(["--dest-authfile".into(), p.display().to_string()]);
        }
        args.extend([
            format!("docker://{source}"),
            format!("docker://{dest_text}"),
        ]);
        log.line(&format!("--> copying {source} to {dest_text}"));
        let out = run("skopeo", &args, log, cancel).await?;
        succeeded(&out, format!("cannot copy the image to {dest_text}"))
    }
}
