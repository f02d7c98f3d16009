//! `slipway build` (queue a build from a repository, follow its log) and
//! `slipway cancel`.

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
/// paths on its own machine); URLs pass through.
pub(crate) fn source_for_request(source: &str) -> String {
    if source.contains("://") || source.starts_with('/') {
        return source.to_string();
    }
    match std::fs::canonicalize(source) {
        Ok(p) if p.is_dir() => p.display().to_string(),
        _ => source.to_string(),
    }
}

pub(crate) async fn build(client: &Client, args: BuildArgs) -> Result<(), CliError> {
    let req = BuildRequest {
        source: SourceRequest {
            url: source_for_request(&args.source),
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
    let result = stream_log(client, id, true, Some((&bar, args.output == Output::Json))).await;
    bar.finish_and_clear();
    result?;
    let b: Build = client.get_json(&format!("/builds/{id}")).await?;
    if args.output == Output::Json {
        print_json(&b);
    }
    match (&b.phase, &b.image) {
        (BuildPhase::Complete, Some(img)) => {
            if args.output == Output::Table {
                println!("{}", img.reference);
            }
            Ok(())
        }
        (phase, _) => {
            eprintln!(
                "build {id} {}: {}\n  see `slipway show {id}` and `slipway logs {id}`",
                phase.as_str().to_lowercase(),
                b.reason.as_deref().unwrap_or("no reason recorded")
            );
            Err(CliError::BuildDidNotComplete { id, phase: *phase })
        }
    }
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
