//! The test stage: `slipway.yaml`'s `test:` run against the image just
//! pushed under its unique tag and scanned, before any other tag moves.
//! Its output is its own log section and stage; what came of it (passed,
//! exit code, duration, JUnit totals) is kept with the build, and a
//! failing test fails the build (only the unique tag then names it).

use crate::Services;
use slipway_builder::{LogSink, TestJob};
use slipway_core::build::test_stage::{
    JUNIT_FILE, MAX_JUNIT_BYTES, TestMode, TestResult, junit_summary,
};
use slipway_core::build::{Stage, StageTiming};
use slipway_core::{Build, Platform, PushedImage};
use std::path::Path;
use tokio_util::sync::CancellationToken;

/// Run the build's test stage, if its `slipway.yaml` has one; `None` when
/// it has none. The result is recorded with the build either way.
pub async fn run(
    services: &Services,
    build: &Build,
    image: &PushedImage,
    auth: Option<&Path>,
    log: &dyn LogSink,
) -> Option<TestResult> {
    let stage = build.repo_config.as_ref()?.test.as_ref()?.stage();
    let id = build.id;
    let started = std::time::Instant::now();
    log.line(&format!(
        "==> test ({}): sh -c {:?}",
        stage.mode.as_str(),
        stage.command
    ));
    let work = services.work_dir.join(format!("{id}-test"));
    let outcome = run_in(services, build, image, auth, &stage, &work, log).await;
    let duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    let junit = read_junit(&work.join("results").join(JUNIT_FILE)).await;
    let _ = tokio::fs::remove_dir_all(&work).await;
    let (exit_code, message) = match outcome {
        Ok(Some(0)) => (Some(0), None),
        Ok(Some(c)) => (Some(c), Some(format!("the test command exited with {c}"))),
        Ok(None) => (None, Some("the test command was killed".to_string())),
        Err(e) => (None, Some(e)),
    };
    let result = TestResult {
        mode: stage.mode,
        command: stage.command.clone(),
        passed: exit_code == Some(0),
        exit_code,
        duration_ms,
        junit: junit.as_deref().and_then(junit_summary),
        message,
    };
    log.line(&format!("==> {}", result.describe()));
    if let Err(e) = services
        .store
        .record_test(id, &result, junit.as_deref())
        .await
    {
        tracing::error!("build {id}: cannot record its test result: {e}");
    }
    let _ = services
        .store
        .record_stage(
            id,
            StageTiming {
                stage: Stage::Test,
                duration_ms,
            },
        )
        .await;
    let _ = services.store.record_event(id, &result.describe()).await;
    Some(result)
}

/// Check the repository out again and run the command; its exit code.
async fn run_in(
    services: &Services,
    build: &Build,
    image: &PushedImage,
    auth: Option<&Path>,
    stage: &slipway_core::build::test_stage::TestStage,
    work: &Path,
    log: &dyn LogSink,
) -> Result<Option<i32>, String> {
    let _ = tokio::fs::remove_dir_all(work).await;
    let src = work.join("src");
    let results = work.join("results");
    tokio::fs::create_dir_all(&results)
        .await
        .map_err(|e| format!("cannot make {}: {e}", results.display()))?;
    let host = crate::backends::LocalHost::for_build(services, build.id);
    let never = CancellationToken::new();
    slipway_worker::checkout(&host, &build.spec, &src, log, &never)
        .await
        .map_err(|o| match o {
            slipway_worker::Outcome::Failed(m) | slipway_worker::Outcome::Error(m) => {
                format!("cannot check the repository out for the test: {m}")
            }
            _ => "the repository's checkout for the test stopped".to_string(),
        })?;
    // The host's own platform when it was built, else the first.
    let host_platform = Platform::host();
    let platform = build
        .spec
        .platforms
        .iter()
        .find(|p| **p == host_platform)
        .or(build.spec.platforms.first())
        .map(Platform::oci)
        .unwrap_or_else(|| host_platform.oci());
    let name = format!("slipway-test-{}", build.id);
    // `secrets:` as files at /run/secrets, masked in the log.
    let secrets =
        slipway_worker::secrets::prepare(&host, &build.spec.command_secrets, &work.join("secrets"))
            .await?;
    let log = &slipway_worker::secrets::Masking {
        inner: log,
        needles: &secrets.needles,
    };
    let job = TestJob {
        image: &image.reference,
        platform: &platform,
        source: &src,
        results: &results,
        command: &stage.command,
        network: build.spec.network,
        authfile: auth,
        name: &name,
        secrets: secrets.dir(),
    };
    let ran = match stage.mode {
        TestMode::Container => services.buildah.test_in_container(&job, log, &never).await,
        TestMode::Host => services.buildah.test_on_host(&job, log, &never).await,
    };
    ran.map_err(|e| e.to_string())
}

/// The JUnit file the test wrote, if it is one and not too big.
async fn read_junit(path: &Path) -> Option<String> {
    let meta = tokio::fs::symlink_metadata(path).await.ok()?;
    // A symlink could point anywhere on the host: only a plain file counts.
    if !meta.is_file() || meta.len() > MAX_JUNIT_BYTES as u64 {
        return None;
    }
    tokio::fs::read_to_string(path).await.ok()
}
