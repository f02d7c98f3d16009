//! Release numbering and preparation outcomes, on both backends (see `common`).

use slipway_core::build::SourceRequest;
use slipway_core::build::conventions::{ImageIdentity, LintMode, LintReport, Preparation};
use slipway_core::{BuildPhase, BuildRequest, BuildSpec, PushedImage};
use slipway_store::{Queued, Store};
use std::sync::Arc;

mod common;
use common::Db;

on_both_backends!(
    releases_count_up_per_name_and_version,
    releases_count_per_repository_whatever_the_name_label,
    an_explicit_release_that_exists_is_refused_and_a_failed_build_frees_its_own,
    racing_builds_never_share_a_release,
    failed_preparation_keeps_its_findings_and_a_cancelled_build_is_not_queued,
);

fn spec(release: Option<&str>) -> BuildSpec {
    BuildRequest {
        source: SourceRequest {
            url: "/srv/repo".into(),
            ..Default::default()
        },
        output: Some("127.0.0.1:5000/app".into()),
        release: release.map(String::from),
        ..Default::default()
    }
    .validate(None)
    .unwrap()
}

fn prep(spec: BuildSpec, id: i64, version: &str) -> Preparation {
    Preparation {
        spec,
        identity: Some(ImageIdentity {
            name: "team/app".into(),
            version: version.into(),
            component: "app-container".into(),
        }),
        unique_tag: format!("{id}-20261123000000"),
        floating: vec!["{version}".into(), "latest".into()],
        extra: vec![],
        lint: None,
        repo_config: None,
    }
}

async fn queue(s: &dyn Store, release: Option<&str>, version: &str) -> (i64, Queued) {
    let b = s.create_build(&spec(release)).await.unwrap();
    assert_eq!(b.phase, BuildPhase::New);
    assert!(b.workers.is_empty(), "no worker builds before preparation");
    let q = s
        .queue_build(b.id, &prep(b.spec.clone(), b.id, version))
        .await
        .unwrap();
    (b.id, q)
}

fn queued(q: Queued) -> slipway_core::Build {
    match q {
        Queued::Queued(b) => *b,
        other => panic!("not queued: {other:?}"),
    }
}

async fn releases_count_up_per_name_and_version(db: &Db) {
    let s = db.open().await;
    let s = &*s;
    let first = queued(queue(s, None, "1.0").await.1);
    assert_eq!(first.phase, BuildPhase::Pending);
    assert_eq!(first.spec.release.as_deref(), Some("1"));
    assert_eq!(first.spec.labels["release"], "1");
    assert_eq!(first.workers.len(), 1);
    assert_eq!(
        first.spec.tags,
        [
            format!("{}-20261123000000", first.id),
            "1.0-1".into(),
            "1.0".into(),
            "latest".into()
        ]
    );
    let second = queued(queue(s, None, "1.0").await.1);
    assert_eq!(second.spec.release.as_deref(), Some("2"));
    let other_version = queued(queue(s, None, "2.0").await.1);
    assert_eq!(other_version.spec.release.as_deref(), Some("1"));
    assert!(
        other_version
            .events
            .iter()
            .any(|e| e.message == "queued as team/app 2.0-1")
    );
}

/// Queue a build of `output` whose name label is `name`.
async fn queue_into(s: &dyn Store, output: &str, name: &str) -> slipway_core::Build {
    let mut sp = spec(None);
    sp.output = slipway_core::ImageRef::parse(output).unwrap();
    let b = s.create_build(&sp).await.unwrap();
    let mut p = prep(b.spec.clone(), b.id, "1.0");
    p.identity.as_mut().unwrap().name = name.into();
    queued(s.queue_build(b.id, &p).await.unwrap())
}

async fn releases_count_per_repository_whatever_the_name_label(db: &Db) {
    let s = db.open().await;
    let s = &*s;
    // One name label, two repositories: each counts its own.
    let a = queue_into(s, "127.0.0.1:5000/team/base:selfie", "team/app1").await;
    let b = queue_into(s, "127.0.0.1:5000/team/app1", "team/app1").await;
    assert_eq!(a.spec.release.as_deref(), Some("1"));
    assert_eq!(b.spec.release.as_deref(), Some("1"));
    // One repository, another name label: its primary tags are the
    // repository's, so the release goes on counting.
    let c = queue_into(s, "127.0.0.1:5000/team/base", "team/base").await;
    assert_eq!(c.spec.release.as_deref(), Some("2"));
    assert!(
        c.spec.tags.contains(&"1.0-2".to_string()),
        "{:?}",
        c.spec.tags
    );
    let taken = s
        .taken_releases("127.0.0.1:5000/team/base", "team/base", "1.0")
        .await
        .unwrap();
    assert_eq!(taken.len(), 2, "{taken:?}");
}

async fn an_explicit_release_that_exists_is_refused_and_a_failed_build_frees_its_own(db: &Db) {
    let s = db.open().await;
    let s = &*s;
    queued(queue(s, Some("5"), "1.0").await.1);
    let (id, q) = queue(s, Some("5"), "1.0").await;
    let Queued::Refused(why) = q else {
        panic!("{q:?}")
    };
    assert!(
        why.starts_with("release 5 of 127.0.0.1:5000/app 1.0 already exists (build 1)"),
        "{why}"
    );
    assert_eq!(
        s.get_build(id).await.unwrap().unwrap().phase,
        BuildPhase::New,
        "a refusal changes nothing"
    );
    assert!(
        s.fail_preparation(id, BuildPhase::Failed, &why, None, None)
            .await
            .unwrap()
    );
    // The next free one is past the explicit one.
    let next = queued(queue(s, None, "1.0").await.1);
    assert_eq!(next.spec.release.as_deref(), Some("6"));
    // Build 3 fails: release 6 is free again.
    s.place_queued(&slipway_core::Clusters::local_default(10), 10)
        .await
        .unwrap();
    assert!(
        s.finish(
            next.id,
            BuildPhase::Failed,
            Some("RUN failed"),
            None::<&PushedImage>
        )
        .await
        .unwrap()
    );
    let again = queued(queue(s, None, "1.0").await.1);
    assert_eq!(again.spec.release.as_deref(), Some("6"));
}

async fn racing_builds_never_share_a_release(db: &Db) {
    // Four stores on one database: four servers, on PostgreSQL.
    let mut stores: Vec<Arc<dyn Store>> = Vec::new();
    for _ in 0..4 {
        stores.push(Arc::from(db.open().await));
    }
    let s = &*stores[0];
    let mut ids = Vec::new();
    for _ in 0..20 {
        ids.push(s.create_build(&spec(None)).await.unwrap());
    }
    let tasks: Vec<_> = ids
        .into_iter()
        .enumerate()
        .map(|(i, b)| {
            let s = Arc::clone(&stores[i % stores.len()]);
            tokio::spawn(async move {
                let q = s
                    .queue_build(b.id, &prep(b.spec.clone(), b.id, "3.1"))
                    .await
                    .unwrap();
                queued(q).spec.release.unwrap()
            })
        })
        .collect();
    let mut releases = Vec::new();
    for t in tasks {
        releases.push(t.await.unwrap().parse::<u32>().unwrap());
    }
    releases.sort_unstable();
    assert_eq!(releases, (1..=20).collect::<Vec<_>>());
}

async fn failed_preparation_keeps_its_findings_and_a_cancelled_build_is_not_queued(db: &Db) {
    let s = db.open().await;
    let s = &*s;
    let b = s.create_build(&spec(None)).await.unwrap();
    let report = LintReport {
        mode: LintMode::Gating,
        dockerfile: "Dockerfile".into(),
        findings: vec![],
        fails: true,
    };
    assert!(
        s.fail_preparation(b.id, BuildPhase::Failed, "lint failed", Some(&report), None)
            .await
            .unwrap()
    );
    let got = s.get_build(b.id).await.unwrap().unwrap();
    assert_eq!(got.phase, BuildPhase::Failed);
    assert_eq!(got.reason.as_deref(), Some("lint failed"));
    assert_eq!(got.lint, Some(report));
    assert_eq!(s.builds_to_prepare().await.unwrap(), Vec::<i64>::new());

    let b = s.create_build(&spec(None)).await.unwrap();
    assert_eq!(s.builds_to_prepare().await.unwrap(), [b.id]);
    s.request_cancel(b.id).await.unwrap();
    let q = s
        .queue_build(b.id, &prep(b.spec.clone(), b.id, "1"))
        .await
        .unwrap();
    assert_eq!(q, Queued::NotNew(BuildPhase::Cancelled));
    // Nothing was reserved by the refused queueing.
    let next = queued(queue(s, None, "1").await.1);
    assert_eq!(next.spec.release.as_deref(), Some("1"));
}
