//! `slipway build` (queue a build from a repository, follow its log),
//! `slipway builds`, `slipway show` and `slipway cancel`.

use crate::client::{Client, ClientError};
use crate::{CliError, Output, print_json};
use clap::Args;
use futures::StreamExt;
use indicatif::{ProgressBar, ProgressStyle};
use slipway_core::api::CancelResponse;
use slipway_core::build::SourceRequest;
use slipway_core::{Build, BuildPhase, BuildRequest};
use std::io::Write;
use std::time::Duration;

#[derive(Debug, Args)]
pub struct BuildArgs {
    /// Git URL (https://…, file://…) or a local repository path
    pub source: String,
    /// Branch, tag or commit [default: the repository's default branch]
    #[arg(long = "ref")]
    pub git_ref: Option<String>,
    /// Dockerfile path, relative to the context directory
    #[arg(short = 'f', long = "file")]
    pub dockerfile: Option<String>,
    /// Build context directory inside the repository
    #[arg(long)]
    pub context_dir: Option<String>,
    /// Image to push, HOST[:PORT]/NAME[:TAG]
    #[arg(short, long)]
    pub tag: Option<String>,
    /// Build argument, KEY=VALUE (repeatable)
    #[arg(long = "build-arg", value_name = "KEY=VALUE")]
    pub build_args: Vec<String>,
    /// Give RUN steps network access
    #[arg(long)]
    pub network: bool,
    /// Platform to build, e.g. x86_64 or aarch64 (repeatable) [default: the server's]
    #[arg(long = "platform", value_name = "PLATFORM")]
    pub platforms: Vec<String>,
    /// Queue priority: higher runs first [default: 0]
    #[arg(long, default_value_t = 0, allow_negative_numbers = true)]
    pub priority: i32,
    /// Image label, KEY=VALUE (repeatable); wins over the Dockerfile's.
    /// name, version and component are required unless --scratch
    #[arg(long = "label", value_name = "KEY=VALUE")]
    pub labels: Vec<String>,
    /// Release [default: the next free one for the name and version]
    #[arg(long)]
    pub release: Option<String>,
    /// A throw-away build: no required labels, no release, only a unique tag
    #[arg(long, conflicts_with_all = ["isolated", "release"])]
    pub scratch: bool,
    /// Rebuild a version with an explicit new --release; moves no floating tag
    #[arg(long, requires = "release")]
    pub isolated: bool,
    /// Queue the build and return without following it
    #[arg(long)]
    pub no_follow: bool,
    /// Wait for the build to end without printing its log
    #[arg(long, conflicts_with = "no_follow")]
    pub wait: bool,
    /// Ctrl-C leaves the build running (default: it asks the server to
    /// cancel it)
    #[arg(long)]
    pub detach: bool,
    #[arg(short, long, value_enum, default_value_t)]
    pub output: Output,
}

fn parse_build_args(
    raw: &[String],
) -> Result<std::collections::BTreeMap<String, String>, CliError> {
    parse_pairs("--build-arg", raw)
}

pub(crate) fn parse_pairs(
    flag: &str,
    raw: &[String],
) -> Result<std::collections::BTreeMap<String, String>, CliError> {
    raw.iter()
        .map(|kv| {
            kv.split_once('=')
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .ok_or_else(|| CliError::Usage(format!("{flag} {kv:?} must be KEY=VALUE")))
        })
        .collect()
}

/// A local directory argument becomes an absolute path (the server resolves
/// paths on its own machine); URLs pass through. A directory that does not
/// exist or is no git repository is refused, saying what to do; one with
/// uncommitted changes is built as committed, with a warning (the server
/// builds commits, never a working tree).
pub(crate) fn source_for_request(source: &str) -> Result<String, CliError> {
    if source.contains("://") {
        return Ok(source.to_string());
    }
    let path = std::path::Path::new(source);
    let abs = std::fs::canonicalize(path).map_err(|_| {
        CliError::Usage(format!(
            "no such directory: {source}; give a local git repository or a git URL (https://…, file://…)"
        ))
    })?;
    if !abs.is_dir() {
        return Err(CliError::Usage(format!(
            "{source} is not a directory; give a local git repository or a git URL"
        )));
    }
    let git = |args: &[&str]| {
        std::process::Command::new("git")
            .arg("-C")
            .arg(&abs)
            .args(args)
            .output()
    };
    match git(&["rev-parse", "--is-inside-work-tree"]) {
        Ok(o) if o.status.success() => {}
        _ => {
            return Err(CliError::Usage(format!(
                "{source} is not a git repository: the server builds commits. Run `git init && git add -A && git commit -m init` there, or give a git URL"
            )));
        }
    }
    if let Ok(o) = git(&["status", "--porcelain", "--untracked-files=no"])
        && o.status.success()
        && !o.stdout.is_empty()
    {
        eprintln!(
            "warning: {source} has uncommitted changes; the build uses the last commit (commit them to include them)"
        );
    }
    Ok(abs.display().to_string())
}

pub(crate) async fn build(client: &Client, args: BuildArgs) -> Result<(), CliError> {
    let req = BuildRequest {
        source: SourceRequest {
            url: source_for_request(&args.source)?,
            git_ref: args.git_ref,
            context_dir: args.context_dir,
            dockerfile: args.dockerfile,
        },
        build_args: parse_build_args(&args.build_args)?,
        output: args.tag,
        network: args.network,
        platforms: args.platforms,
        priority: args.priority,
        labels: parse_pairs("--label", &args.labels)?,
        release: args.release,
        scratch: args.scratch,
        isolated: args.isolated,
    };
    let created: Build = client.post_json("/builds", &req).await?;
    let id = created.id;
    if args.no_follow {
        match args.output {
            Output::Json => print_json(&created),
            Output::Table => println!("build {id} queued; follow it with `slipway logs -f {id}`"),
        }
        return Ok(());
    }
    let bar = spinner(format!("build {id}: queued"));
    // Log lines go to stderr in JSON mode so stdout stays parseable.
    let json = args.output == Output::Json;
    follow_until_ended(client, id, &bar, !args.wait, args.detach, json).await?;
    let b: Build = client.get_json(&format!("/builds/{id}")).await?;
    if json {
        print_json(&b);
    } else if let (BuildPhase::Complete, Some(img)) = (&b.phase, &b.image) {
        println!("{}", img.reference);
    }
    report_end(&b)
}

/// Print build `id`'s log as it comes (`follow`; to stderr when `json`,
/// so stdout stays parseable) or wait with its phase on `bar`, until it
/// ends or Ctrl-C ([`until_ended`]); `bar` is cleared either way.
pub(crate) async fn follow_until_ended(
    client: &Client,
    id: i64,
    bar: &ProgressBar,
    follow: bool,
    detach: bool,
    json: bool,
) -> Result<(), CliError> {
    let waited = until_ended(client, id, detach, async {
        if follow {
            stream_log(client, id, true, Some((bar, json))).await
        } else {
            wait_final(client, id, Some(bar)).await
        }
    })
    .await;
    bar.finish_and_clear();
    waited
}

/// Run `waiting` (following or waiting for build `id`) until it is done,
/// or until Ctrl-C: then ask the server to cancel the build, or with
/// `detach` leave it running and say how to follow it.
async fn until_ended(
    client: &Client,
    id: i64,
    detach: bool,
    waiting: impl std::future::Future<Output = Result<(), CliError>>,
) -> Result<(), CliError> {
    tokio::select! {
        r = waiting => r,
        _ = tokio::signal::ctrl_c() => {
            if detach {
                eprintln!("\nbuild {id} goes on; follow it with `slipway logs -f {id}`");
                return Err(CliError::Interrupted);
            }
            eprintln!("\ninterrupted: asking the server to cancel build {id} (--detach leaves it running)");
            let r: Result<CancelResponse, _> = client
                .post_json(&format!("/builds/{id}/cancel"), &serde_json::json!({}))
                .await;
            if let Err(e) = r {
                eprintln!("could not cancel build {id}: {e}\n  cancel it with `slipway cancel {id}`");
            }
            Err(CliError::Interrupted)
        }
    }
}

/// Poll build `id` until it ends, its phase on the spinner.
pub(crate) async fn wait_final(
    client: &Client,
    id: i64,
    bar: Option<&ProgressBar>,
) -> Result<(), CliError> {
    loop {
        let b: Build = client.get_json(&format!("/builds/{id}")).await?;
        if b.phase.is_final() {
            return Ok(());
        }
        if let Some(bar) = bar {
            bar.set_message(format!("build {id}: {}", b.phase.as_str().to_lowercase()));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Ok when the build completed (or was skipped: nothing to do); else say
/// how it ended and why, and fail.
pub(crate) fn report_end(b: &Build) -> Result<(), CliError> {
    match b.phase {
        BuildPhase::Complete | BuildPhase::Skipped => Ok(()),
        phase => {
            eprintln!(
                "build {} {}: {}\n  see `slipway show {}` and `slipway logs {}`",
                b.id,
                phase.as_str().to_lowercase(),
                b.reason.as_deref().unwrap_or("no reason recorded"),
                b.id,
                b.id
            );
            Err(CliError::BuildDidNotComplete { id: b.id, phase })
        }
    }
}

/// After following a log: how did build `id` end?
pub(crate) async fn ended(client: &Client, id: i64) -> Result<(), CliError> {
    let b: Build = client.get_json(&format!("/builds/{id}")).await?;
    report_end(&b)
}

/// A ticking spinner with the elapsed time and `message`, for work the
/// server does while the CLI waits.
pub(crate) fn spinner(message: String) -> ProgressBar {
    let bar = ProgressBar::new_spinner();
    bar.set_style(
        ProgressStyle::with_template("{spinner} {elapsed:>4} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    bar.set_message(message);
    bar.enable_steady_tick(Duration::from_millis(120));
    bar
}

/// Print a build's log; with `follow`, until the build ends. With a progress
/// bar, lines are printed above it and the bar shows the build's phase.
pub(crate) async fn stream_log(
    client: &Client,
    id: i64,
    follow: bool,
    bar: Option<(&ProgressBar, bool)>,
) -> Result<(), CliError> {
    let resp = client
        .get_stream(&format!("/builds/{id}/log?follow={follow}"))
        .await?;
    let mut stream = resp.bytes_stream();
    let mut pending: Vec<u8> = Vec::new();
    let mut out = std::io::stdout();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| {
            ClientError::Protocol(format!(
                "the log stream of build {id} was cut ({e}); the server may have stopped. Check it, then run `slipway logs -f {id}` again"
            ))
        })?;
        match bar {
            None => {
                let _ = out.write_all(&chunk);
                let _ = out.flush();
            }
            Some((bar, to_stderr)) => {
                pending.extend_from_slice(&chunk);
                while let Some(pos) = pending.iter().position(|b| *b == b'\n') {
                    let line: Vec<u8> = pending.drain(..=pos).collect();
                    let text = String::from_utf8_lossy(&line[..line.len() - 1]).into_owned();
                    if let Some(stage) = text.strip_prefix("==> ") {
                        bar.set_message(format!("build {id}: {stage}"));
                    }
                    bar.suspend(|| {
                        if to_stderr {
                            eprintln!("{text}");
                        } else {
                            println!("{text}");
                        }
                    });
                }
            }
        }
    }
    if !pending.is_empty() {
        let _ = out.write_all(&pending);
    }
    Ok(())
}

pub(crate) async fn cancel(client: &Client, id: i64) -> Result<(), CliError> {
    let r: CancelResponse = client
        .post_json(&format!("/builds/{id}/cancel"), &serde_json::json!({}))
        .await?;
    if r.already_final {
        println!("build {id} had already ended: {}", r.phase);
        return Ok(());
    }
    let mut phase = r.phase;
    // A running build stops within seconds; wait so the user sees the end.
    for _ in 0..120 {
        if phase.is_final() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
        phase = client
            .get_json::<Build>(&format!("/builds/{id}"))
            .await?
            .phase;
    }
    if phase.is_final() {
        println!("build {id}: {phase}");
    } else {
        println!("build {id}: cancel requested, still {phase}; check with `slipway show {id}`");
    }
    Ok(())
}

/// `slipway builds`: newest first, filtered by config, phase and trigger.
pub async fn list(
    client: &Client,
    limit: u32,
    [config, phase, trigger]: [Option<String>; 3],
    output: Output,
) -> Result<(), CliError> {
    let mut query = form_urlencoded::Serializer::new(String::new());
    query.append_pair("limit", &limit.to_string());
    // Phases as the server spells them: `failed` works too.
    let phase = phase.map(|p| {
        let mut c = p.to_ascii_lowercase();
        if let Some(first) = c.get_mut(..1) {
            first.make_ascii_uppercase();
        }
        c
    });
    for (name, value) in [
        ("config", &config),
        ("phase", &phase),
        ("trigger", &trigger),
    ] {
        if let Some(v) = value {
            query.append_pair(name, v);
        }
    }
    let builds: Vec<slipway_core::api::BuildSummary> = client
        .get_json(&format!("/builds?{}", query.finish()))
        .await?;
    match output {
        Output::Json => print_json(&builds),
        Output::Table => print!(
            "{}",
            crate::format::build_table(&builds, jiff::Timestamp::now())
        ),
    }
    Ok(())
}

/// `slipway show BUILD --metadata`: its Koji content-generator metadata.
pub async fn metadata(client: &Client, id: i64) -> Result<(), CliError> {
    let m: serde_json::Value = client.get_json(&format!("/builds/{id}/metadata")).await?;
    print_json(&m);
    Ok(())
}

/// `slipway show BUILD`: the build, its test stage and its Koji import.
pub async fn show(client: &Client, id: i64, output: Output) -> Result<(), CliError> {
    let b: Build = client.get_json(&format!("/builds/{id}")).await?;
    // Its import into Koji, where there is one (a server without Koji, or
    // a build not imported, answers an error: none).
    let imported: Option<slipway_core::koji::KojiImport> =
        client.get_json(&format!("/builds/{id}/koji")).await.ok();
    // Its test stage, where it had one.
    let tested: Option<slipway_core::build::test_stage::TestResult> =
        client.get_json(&format!("/builds/{id}/test")).await.ok();
    match output {
        Output::Json => {
            // A Build always serializes (plain fields, string keys).
            let mut v = serde_json::to_value(&b).unwrap_or_default();
            if let Some(obj) = v.as_object_mut() {
                if let Some(k) = &imported {
                    obj.insert("koji".into(), serde_json::to_value(k).unwrap_or_default());
                }
                if let Some(t) = &tested {
                    obj.insert("test".into(), serde_json::to_value(t).unwrap_or_default());
                }
            }
            print_json(&v)
        }
        Output::Table => {
            print!("{}", crate::format::build_details(&b));
            if let Some(t) = &tested {
                println!("{}", t.describe());
            }
            if let Some(k) = &imported {
                print!("{}", crate::koji::describe(k));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn build_args_are_key_value_pairs() {
        let a = parse_build_args(&["A=1".into(), "B=x=y".into()]).unwrap();
        assert_eq!(a.get("B").map(String::as_str), Some("x=y"));
        assert!(parse_build_args(&["nope".into()]).is_err());
    }
}
