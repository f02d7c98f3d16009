//! The `slipway` client commands: build, builds, show, logs, cancel,
//! registry gc, clusters, cluster enable|disable, and the rebuild commands
//! (apply, configs, start, graph, waves, import-cccp).
//!
//! Thin by design: every command is one or two API calls plus formatting.
//! Human output goes to stdout, progress to stderr (hidden when stderr is not
//! a terminal), and `-o json` prints the API's JSON for scripts.

pub mod client;
mod format;
mod images;
mod koji;
pub mod lint;
mod rebuilds;
mod scans;

use clap::{Args, Subcommand, ValueEnum};
use client::{Client, ClientError, Endpoint};
use futures::StreamExt;
use indicatif::{ProgressBar, ProgressStyle};
use slipway_core::api::{CancelResponse, ClusterStatus, ConfigStatus, GraphView};
use slipway_core::build::SourceRequest;
use slipway_core::rebuild::Wave;
use slipway_core::{Build, BuildPhase, BuildRequest};
use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum Output {
    #[default]
    Table,
    Json,
}

/// How to reach the server (shared by every client command).
#[derive(Debug, Clone, Args)]
pub struct ConnectArgs {
    /// Server URL [default: from config, else http://127.0.0.1:8080]
    #[arg(long, global = true, env = "SLIPWAY_URL")]
    pub url: Option<String>,
    /// API token
    #[arg(long, global = true, env = "SLIPWAY_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// File holding the API token
    #[arg(long, global = true, env = "SLIPWAY_TOKEN_FILE")]
    pub token_file: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Build an image from a git repository and push it
    Build(BuildArgs),
    /// List recent builds
    Builds {
        #[arg(short, long, value_enum, default_value_t)]
        output: Output,
        /// How many builds to show
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
    /// Show one build: phase, reason, image, stages, events
    Show {
        build: String,
        #[arg(short, long, value_enum, default_value_t)]
        output: Output,
        /// Print the build's Koji content-generator metadata (JSON) instead
        #[arg(long, conflicts_with = "scan")]
        metadata: bool,
        /// Print the build's scan reports instead
        #[arg(long)]
        scan: bool,
        /// List the build's SBOMs (attached to its image as OCI referrers)
        /// instead; with a FORMAT (spdx, cyclonedx), print that document
        #[arg(long, value_name = "FORMAT", num_args = 0..=1, default_missing_value = "", conflicts_with_all = ["scan", "metadata"])]
        sbom: Option<String>,
        /// With --sbom FORMAT: the platform whose image's document to print
        /// (default: the build's first)
        #[arg(long, requires = "sbom")]
        platform: Option<String>,
    },
    /// Scan an image in any registry the server can reach
    Scan(scans::ScanArgs),
    /// List recent scans (builds', rescans, manual ones)
    Scans(scans::RecentArgs),
    /// List notifications (mail, webhooks) about builds and scans, and whether they were delivered
    Notifications(scans::RecentArgs),
    /// Scan a config's latest image again now (it is also rescanned on its schedule)
    Rescan {
        config: String,
        #[arg(short, long, value_enum, default_value_t)]
        output: Output,
    },
    /// Print a build's log
    Logs {
        build: String,
        /// Keep printing new lines until the build ends
        #[arg(short, long)]
        follow: bool,
    },
    /// Cancel a build in any phase that has not ended
    Cancel { build: String },
    /// Manage the embedded registry
    #[command(subcommand)]
    Registry(RegistryCommand),
    /// Imports into Koji
    #[command(subcommand)]
    Koji(koji::KojiCommand),
    #[command(flatten)]
    Images(images::ImageCommand),
    /// List worker clusters: active/max, load, enabled, reachable
    Clusters {
        #[arg(short, long, value_enum, default_value_t)]
        output: Output,
    },
    /// Switch a worker cluster on or off at runtime
    #[command(subcommand)]
    Cluster(ClusterCommand),
    /// Lint Dockerfiles with hadolint's rules (no server needed)
    Lint(lint::LintArgs),
    /// Create or update image configs from YAML (a file or a directory)
    Apply {
        /// A YAML file (several configs separated by ---) or a directory of them
        #[arg(short, long = "filename")]
        file: PathBuf,
        /// Delete every config not in the files
        #[arg(long)]
        prune: bool,
        #[arg(short, long, value_enum, default_value_t)]
        output: Output,
    },
    /// List image configs, or show one with its recent events
    Configs {
        name: Option<String>,
        #[arg(short, long, value_enum, default_value_t)]
        output: Output,
    },
    /// Delete an image config (refused while other configs build on it)
    DeleteConfig { name: String },
    /// Build a config now (it and its children rebuild as one wave)
    Start {
        config: String,
        /// Build even if the inputs equal the last successful build's
        #[arg(long)]
        force: bool,
        #[arg(short, long, value_enum, default_value_t)]
        output: Output,
    },
    /// Show the parent→child graph of configs (all, or around one config)
    Graph {
        config: Option<String>,
        #[arg(short, long, value_enum, default_value_t)]
        output: rebuilds::GraphOutput,
    },
    /// List rebuild waves, or show one wave's members and their progress
    Waves {
        wave: Option<i64>,
        #[arg(short, long, value_enum, default_value_t)]
        output: Output,
        #[arg(long, default_value_t = 20)]
        limit: u32,
    },
    /// Import a CentOS container-index directory (index.d/*.yaml) as configs
    ImportCccp {
        /// The index directory (or the directory holding index.d)
        index_dir: PathBuf,
        /// Registry (host[:port]) for the outputs [default: the server's]
        #[arg(long)]
        registry: Option<String>,
        /// Print the configs as YAML instead of applying them (no server needed)
        #[arg(long)]
        print: bool,
        /// Delete every config not in the index
        #[arg(long)]
        prune: bool,
        #[arg(short, long, value_enum, default_value_t)]
        output: Output,
    },
}

#[derive(Debug, Subcommand)]
pub enum ClusterCommand {
    /// Stop placing new builds on a cluster; running ones finish (drain)
    Disable {
        name: String,
        #[arg(short, long, value_enum, default_value_t)]
        output: Output,
    },
    /// Place builds on a cluster again
    Enable {
        name: String,
        #[arg(short, long, value_enum, default_value_t)]
        output: Output,
    },
}

#[derive(Debug, Subcommand)]
pub enum RegistryCommand {
    /// Remove blobs no manifest references, and stale upload sessions
    Gc {
        /// Only report what would be removed
        #[arg(long)]
        dry_run: bool,
        /// Keep unreferenced blobs younger than this many seconds
        #[arg(long, default_value_t = 3600)]
        grace: u64,
        /// Remove upload sessions older than this many seconds (pushes
        /// that were abandoned; default one day)
        #[arg(long, default_value_t = 86400)]
        upload_age: u64,
        #[arg(short, long, value_enum, default_value_t)]
        output: Output,
    },
}

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

/// Errors from client commands; the binary prints them and exits non-zero.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error(transparent)]
    Client(#[from] ClientError),
    #[error("{0}")]
    Usage(String),
    /// The build ran and did not complete; already reported.
    #[error("build {id} ended {phase}")]
    BuildDidNotComplete { id: i64, phase: BuildPhase },
    /// Findings reached the failure threshold; already printed.
    #[error("lint findings reached the failure threshold")]
    LintFailed,
    /// The scan failed its policy or could not see the image; printed.
    #[error("scan {id}: {outcome}")]
    ScanDidNotPass {
        id: i64,
        outcome: slipway_core::scan::ScanOutcome,
    },
}

pub async fn run(command: Command, connect: ConnectArgs) -> Result<(), CliError> {
    // Lint needs no server: never look for one.
    let command = match command {
        Command::Lint(args) => return lint_command(args),
        Command::ImportCccp {
            index_dir,
            registry,
            print: true,
            ..
        } => {
            let imported = rebuilds::import_cccp(&index_dir, registry.as_deref())?;
            for n in &imported.notes {
                eprintln!("note: {n}");
            }
            print!("{}", rebuilds::configs_yaml(&imported.configs)?);
            return Ok(());
        }
        other => other,
    };
    let endpoint = Endpoint::discover(connect.url, connect.token, connect.token_file)?;
    let client = Client::new(endpoint)?;
    match command {
        Command::Apply {
            file,
            prune,
            output,
        } => rebuilds::apply(&client, rebuilds::read_configs(&file)?, prune, output).await,
        Command::ImportCccp {
            index_dir,
            registry,
            prune,
            output,
            ..
        } => {
            let imported = rebuilds::import_cccp(&index_dir, registry.as_deref())?;
            for n in &imported.notes {
                eprintln!("note: {n}");
            }
            rebuilds::apply(&client, imported.configs, prune, output).await
        }
        Command::Configs { name: None, output } => {
            let configs: Vec<ConfigStatus> = client.get_json("/configs").await?;
            match output {
                Output::Json => print_json(&configs),
                Output::Table => print!("{}", rebuilds::config_table(&configs)),
            }
            Ok(())
        }
        Command::Configs {
            name: Some(name),
            output,
        } => {
            let c: ConfigStatus = client.get_json(&format!("/configs/{name}")).await?;
            match output {
                Output::Json => print_json(&c),
                Output::Table => print!("{}", rebuilds::config_details(&c)),
            }
            Ok(())
        }
        Command::DeleteConfig { name } => {
            client.delete(&format!("/configs/{name}")).await?;
            println!("config {name} deleted");
            Ok(())
        }
        Command::Start {
            config,
            force,
            output,
        } => rebuilds::start(&client, &config, force, output).await,
        Command::Graph { config, output } => {
            let path = match &config {
                Some(c) => format!("/graph?config={c}"),
                None => "/graph".to_string(),
            };
            let g: GraphView = client.get_json(&path).await?;
            match output {
                rebuilds::GraphOutput::Json => print_json(&g),
                rebuilds::GraphOutput::Dot => print!("{}", g.to_dot()),
                rebuilds::GraphOutput::Table => print!("{}", rebuilds::graph_table(&g)),
            }
            Ok(())
        }
        Command::Waves {
            wave: Some(id),
            output,
            ..
        } => {
            let w: Wave = client.get_json(&format!("/waves/{id}")).await?;
            match output {
                Output::Json => print_json(&w),
                Output::Table => print!("{}", rebuilds::wave_details(&w)),
            }
            Ok(())
        }
        Command::Waves {
            wave: None,
            output,
            limit,
        } => {
            let w: Vec<Wave> = client.get_json(&format!("/waves?limit={limit}")).await?;
            match output {
                Output::Json => print_json(&w),
                Output::Table => print!("{}", rebuilds::wave_table(&w)),
            }
            Ok(())
        }
        Command::Build(args) => build(&client, args).await,
        Command::Lint(args) => lint_command(args),
        Command::Builds { output, limit } => {
            let builds: Vec<slipway_core::api::BuildSummary> =
                client.get_json(&format!("/builds?limit={limit}")).await?;
            match output {
                Output::Json => print_json(&builds),
                Output::Table => print!("{}", format::build_table(&builds, jiff::Timestamp::now())),
            }
            Ok(())
        }
        Command::Show {
            build,
            scan: true,
            output,
            ..
        } => scans::of_build(&client, build_id(&build)?, output).await,
        Command::Show {
            build,
            sbom: Some(format),
            platform,
            output,
            ..
        } => scans::sboms(&client, build_id(&build)?, (&format, platform), output).await,
        Command::Scan(args) => scans::scan(&client, args).await,
        Command::Scans(args) => scans::list(&client, args).await,
        Command::Koji(cmd) => koji::run(&client, cmd).await,
        Command::Images(cmd) => images::run(&client, cmd).await,
        Command::Rescan { config, output } => scans::rescan(&client, &config, output).await,
        Command::Notifications(args) => scans::notifications(&client, args).await,
        Command::Show {
            build,
            metadata: true,
            ..
        } => {
            let m: serde_json::Value = client
                .get_json(&format!("/builds/{}/metadata", build_id(&build)?))
                .await?;
            print_json(&m);
            Ok(())
        }
        Command::Show { build, output, .. } => {
            let id = build_id(&build)?;
            let b: Build = client.get_json(&format!("/builds/{id}")).await?;
            // Its import into Koji, where there is one (a server without
            // Koji, or a build not imported, answers an error: none).
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
                    print!("{}", format::build_details(&b));
                    if let Some(t) = &tested {
                        println!("{}", t.describe());
                    }
                    if let Some(k) = &imported {
                        print!("{}", koji::describe(k));
                    }
                }
            }
            Ok(())
        }
        Command::Logs { build, follow } => {
            let id = build_id(&build)?;
            stream_log(&client, id, follow, None).await
        }
        Command::Cancel { build } => cancel(&client, build_id(&build)?).await,
        Command::Registry(RegistryCommand::Gc {
            dry_run,
            grace,
            upload_age,
            output,
        }) => {
            let report: serde_json::Value = client
                .post_json(
                    "/registry/gc",
                    &serde_json::json!({
                        "dry_run": dry_run,
                        "grace_seconds": grace,
                        "upload_max_age_seconds": upload_age,
                    }),
                )
                .await?;
            match output {
                Output::Json => print_json(&report),
                Output::Table => print!("{}", format::gc_report(&report)),
            }
            Ok(())
        }
        Command::Clusters { output } => {
            let clusters: Vec<ClusterStatus> = client.get_json("/clusters").await?;
            match output {
                Output::Json => print_json(&clusters),
                Output::Table => print!("{}", format::cluster_table(&clusters)),
            }
            Ok(())
        }
        Command::Cluster(cmd) => {
            let (name, action, output) = match cmd {
                ClusterCommand::Disable { name, output } => (name, "disable", output),
                ClusterCommand::Enable { name, output } => (name, "enable", output),
            };
            let c: ClusterStatus = client
                .post_json(
                    &format!("/clusters/{name}/{action}"),
                    &serde_json::json!({}),
                )
                .await?;
            match output {
                Output::Json => print_json(&c),
                Output::Table if c.enabled => {
                    println!(
                        "cluster {} enabled ({}/{} active)",
                        c.name, c.active, c.max_concurrent_builds
                    )
                }
                Output::Table => println!(
                    "cluster {} disabled: no new builds; {} running will finish",
                    c.name, c.active
                ),
            }
            Ok(())
        }
    }
}

fn lint_command(args: lint::LintArgs) -> Result<(), CliError> {
    if lint::run(args)? {
        Ok(())
    } else {
        Err(CliError::LintFailed)
    }
}

fn build_id(raw: &str) -> Result<i64, CliError> {
    raw.trim_start_matches('#')
        .parse::<i64>()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| {
            CliError::Usage(format!(
                "{raw:?} is not a build id; `slipway builds` lists them"
            ))
        })
}

fn print_json(v: &impl serde::Serialize) {
    match serde_json::to_string_pretty(v) {
        Ok(s) => println!("{s}"),
        Err(e) => eprintln!("error: cannot encode JSON: {e}"),
    }
}

fn parse_build_args(
    raw: &[String],
) -> Result<std::collections::BTreeMap<String, String>, CliError> {
    parse_pairs("--build-arg", raw)
}

fn parse_pairs(
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
fn source_for_request(source: &str) -> String {
    if source.contains("://") || source.starts_with('/') {
        return source.to_string();
    }
    match std::fs::canonicalize(source) {
        Ok(p) if p.is_dir() => p.display().to_string(),
        _ => source.to_string(),
    }
}

async fn build(client: &Client, args: BuildArgs) -> Result<(), CliError> {
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
async fn stream_log(
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

async fn cancel(client: &Client, id: i64) -> Result<(), CliError> {
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
    fn build_ids_and_args() {
        assert_eq!(build_id("12").unwrap(), 12);
        assert_eq!(build_id("#3").unwrap(), 3);
        assert!(build_id("abc").is_err());
        assert!(build_id("0").is_err());
        let a = parse_build_args(&["A=1".into(), "B=x=y".into()]).unwrap();
        assert_eq!(a.get("B").map(String::as_str), Some("x=y"));
        assert!(parse_build_args(&["nope".into()]).is_err());
    }
}
