//! An image as a docker-archive: what OSBS 1 uploaded to Koji for each
//! platform (`skopeo copy docker://… docker-archive:…`, byte-reproducible
//! for the same image).

use crate::{Buildah, BuilderError, LogSink, authfile_args, run, succeeded};
use std::path::Path;
use tokio_util::sync::CancellationToken;

impl Buildah {
    /// Write `reference` (`registry/name@digest`) as a docker-archive tar
    /// to `dest`, tagged `tag` inside the archive (`name:tag`).
    pub async fn save_docker_archive(
        &self,
        reference: &str,
        tag: &str,
        dest: &Path,
        authfile: Option<&Path>,
        log: &dyn LogSink,
        cancel: &CancellationToken,
    ) -> Result<(), BuilderError> {
        let tls = self.tls_verify(reference);
        let mut args = vec![
            "copy".to_string(),
            "--quiet".into(),
            format!("--src-tls-verify={tls}"),
        ];
        args.extend(authfile_args(authfile));
        args.extend([
            format!("docker://{reference}"),
            format!("docker-archive:{}:{tag}", dest.display()),
        ]);
        log.line(&format!("--> saving {reference} as a docker-archive"));
        let out = run("skopeo", &args, log, cancel).await?;
        succeeded(&out, format!("cannot save {reference} as a docker-archive"))
    }
}
