//! The `slipway` client commands: build, builds, show, logs, cancel,
//! registry gc, clusters, cluster enable|disable, and the rebuild commands
//! (apply, configs, start, graph, waves, import-cccp).
//!
//! Thin by design: every command is one or two API calls plus formatting.
//! Human output goes to stdout, progress to stderr (hidden when stderr is not
//! a terminal), and `-o json` prints the API's JSON for scripts.

mod access;
mod builds;
pub mod client;
mod contexts;
mod format;
mod identities;
mod images;
mod koji;
pub mod lint;
mod rebuilds;
mod registry;
mod scans;
mod supply;
mod verify;
mod watch;

pub use builds::BuildArgs;
use builds::{build, cancel, spinner, stream_log};
use clap::{Args, Subcommand, ValueEnum};
use client::{Client, ClientError, Endpoint};
use slipway_core::BuildPhase;
use slipway_core::api::ClusterStatus;
use std::path::PathBuf;

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
    /// CA certificate(s), PEM, that signed an https:// server's certificate
    /// (besides the system's roots)
    #[arg(long, global = true, env = "SLIPWAY_CA_FILE")]
    pub ca_file: Option<PathBuf>,
    /// A server you logged in to (`slipway context list`) [default: the current one]
    #[arg(long, global = true, env = "SLIPWAY_CONTEXT")]
    pub context: Option<String>,
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
        /// Only this config's builds
        #[arg(long)]
        config: Option<String>,
        /// Only builds in this phase (Running, Failed, …)
        #[arg(long)]
        phase: Option<String>,
        /// Only builds started by this trigger (manual, webhook, poll, cron, parent, …)
        #[arg(long)]
        trigger: Option<String>,
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
        /// Print the build's provenance (SLSA, signed by the server) instead
        #[arg(long, conflicts_with_all = ["scan", "metadata", "sbom"])]
        provenance: bool,
        /// Print what rebuilds found (`slipway rebuild --verify`): whether
        /// the build's image is reproducible, and where it differed
        #[arg(long, conflicts_with_all = ["scan", "metadata", "sbom", "provenance"])]
        reproductions: bool,
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
    /// Print the server's changes as they happen: builds, configs, waves,
    /// clusters, tags, scans (reconnects without losing any)
    Watch(watch::WatchArgs),
    /// Print a build's log
    Logs {
        /// A build id, or a config (its newest build)
        build: String,
        /// Keep printing new lines until the build ends; exit non-zero
        /// unless it completes
        #[arg(short, long)]
        follow: bool,
    },
    /// Log in to a server: check the token (--token-file, or typed) and
    /// keep it as a context in ~/.config/slipway/config.yaml, in use from now on
    Login {
        /// The server's URL (https://slipway.example.com:8443)
        url: String,
        /// The context's name [default: the URL's host]
        #[arg(long)]
        name: Option<String>,
    },
    /// The servers you logged in to, and which one is in use
    #[command(subcommand)]
    Context(contexts::ContextCommand),
    /// The CLI's version and the server's
    Version {
        #[arg(short, long, value_enum, default_value_t)]
        output: Output,
    },
    /// Cancel a build in any phase that has not ended
    Cancel { build: String },
    /// Manage the embedded registry
    #[command(subcommand)]
    Registry(registry::RegistryCommand),
    /// Imports into Koji
    #[command(subcommand)]
    Koji(koji::KojiCommand),
    /// The projects you can see, and whether anyone may pull from them
    Projects {
        #[arg(short, long, value_enum, default_value_t)]
        output: Output,
    },
    /// Make or change a project
    #[command(subcommand)]
    Project(access::ProjectCommand),
    /// Make, list and revoke API tokens
    #[command(subcommand)]
    Token(access::TokenCommand),
    /// People who hold tokens: make, list, disable (global admins)
    #[command(subcommand)]
    User(identities::UserCommand),
    /// A project's service accounts (CI, bots): make, list, disable
    #[command(subcommand)]
    ServiceAccount(identities::ServiceAccountCommand),
    /// Build secrets for RUN --mount=type=secret (values never shown)
    #[command(subcommand)]
    Secret(access::SecretCommand),
    /// Who changed what, when and from where (mutating API requests)
    Audit {
        /// Only the records of this project's tokens
        #[arg(long)]
        project: Option<String>,
        /// Since a time (RFC 3339) or a span back (1h, 7d)
        #[arg(long)]
        since: Option<String>,
        #[arg(long, default_value_t = 100)]
        limit: u32,
        #[arg(short, long, value_enum, default_value_t)]
        output: Output,
    },
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
        /// Wait for the config's build to end; exit non-zero unless it
        /// completes (or is skipped: nothing changed)
        #[arg(long)]
        wait: bool,
        /// Like --wait, printing the build's log as it comes
        #[arg(long)]
        follow: bool,
        /// With --wait/--follow: Ctrl-C leaves the build running instead
        /// of cancelling it
        #[arg(long)]
        detach: bool,
        #[arg(short, long, value_enum, default_value_t)]
        output: Output,
    },
    /// Check that an image was signed by the server's key and that its
    /// provenance verifies and names it, reading the registry as any
    /// consumer would. Exits non-zero unless both hold.
    Verify(verify::VerifyArgs),
    /// Rebuild a complete build's inputs (same commit, labels, base image
    /// digests, SOURCE_DATE_EPOCH) and check the image comes out identical;
    /// when it does not, name the first differing layer and the step that
    /// made it. Exits non-zero unless identical.
    Rebuild {
        /// The build to check
        build: String,
        /// Compare the rebuilt image with the build's (required: the
        /// rebuild publishes only a unique tag; `slipway start` or `slipway
        /// build` build anew)
        #[arg(long)]
        verify: bool,
        /// Print the rebuild's log as it comes
        #[arg(short, long)]
        follow: bool,
        /// Queue the rebuild and return (see `slipway rebuild --verify
        /// BUILD` results with `slipway show BUILD --reproductions`)
        #[arg(long)]
        no_wait: bool,
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
    /// An image's signature or provenance did not verify; printed.
    #[error("the image did not verify")]
    NotVerified,
    /// A rebuild found the build's image is not reproducible; printed.
    #[error("build {build} is not reproducible")]
    NotReproducible { build: i64 },
    /// Ctrl-C while waiting; what became of the build was printed.
    #[error("interrupted")]
    Interrupted,
}

pub async fn run(command: Command, connect: ConnectArgs) -> Result<(), CliError> {
    // Lint, printing an import, login and contexts need no server: never
    // look for one.
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
        // Logging in makes the context that discovery would read.
        Command::Login { url, name } => {
            return contexts::login(&url, name, connect.token_file, connect.ca_file).await;
        }
        Command::Context(cmd) => return contexts::run(cmd),
        other => other,
    };
    // `version` asks only /healthz: a missing token does not stop it.
    let version = matches!(command, Command::Version { .. });
    let context = connect.context.as_deref();
    let endpoint = match Endpoint::discover_in(
        connect.url.clone(),
        connect.token,
        connect.token_file,
        connect.ca_file.clone(),
        context,
    ) {
        Err(ClientError::NoToken(_)) if version => Endpoint::discover_in(
            connect.url,
            Some("none".into()),
            None,
            connect.ca_file,
            context,
        )?,
        other => other?,
    };
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
        Command::Configs { name, output } => rebuilds::configs(&client, name, output).await,
        Command::DeleteConfig { name } => {
            client.delete(&format!("/configs/{name}")).await?;
            println!("config {name} deleted");
            Ok(())
        }
        Command::Start {
            config,
            force,
            wait,
            follow,
            detach,
            output,
        } => {
            let how = rebuilds::Waiting {
                wait: wait || follow,
                follow,
                detach,
            };
            rebuilds::start(&client, &config, force, how, output).await
        }
        Command::Graph { config, output } => rebuilds::graph(&client, config, output).await,
        Command::Waves {
            wave,
            output,
            limit,
        } => rebuilds::waves(&client, wave, limit, output).await,
        Command::Build(args) => build(&client, args).await,
        Command::Lint(args) => lint_command(args),
        // Returned from before a server is looked for.
        Command::Login { .. } | Command::Context(_) => Ok(()),
        Command::Builds {
            output,
            limit,
            config,
            phase,
            trigger,
        } => builds::list(&client, limit, [config, phase, trigger], output).await,
        Command::Show {
            build,
            scan: true,
            output,
            ..
        } => scans::of_build(&client, build_id(&build)?, output).await,
        Command::Show {
            build,
            provenance: true,
            output,
            ..
        } => supply::provenance(&client, build_id(&build)?, output).await,
        Command::Show {
            build,
            reproductions: true,
            output,
            ..
        } => supply::reproductions(&client, build_id(&build)?, output).await,
        Command::Verify(args) => verify::verify(&client, args).await,
        Command::Rebuild {
            build,
            verify,
            follow,
            no_wait,
            output,
        } => {
            if !verify {
                return Err(CliError::Usage(
                    "slipway rebuild checks a build: give --verify (to build again, use `slipway start CONFIG` or `slipway build`)".into(),
                ));
            }
            supply::verify_rebuild(&client, build_id(&build)?, (follow, no_wait), output).await
        }
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
        Command::Projects { output } => access::projects(&client, output).await,
        Command::Project(cmd) => access::project(&client, cmd).await,
        Command::Token(cmd) => access::token(&client, cmd).await,
        Command::User(cmd) => identities::user(&client, cmd).await,
        Command::ServiceAccount(cmd) => identities::service_account(&client, cmd).await,
        Command::Secret(cmd) => access::secret(&client, cmd).await,
        Command::Audit {
            project,
            since,
            limit,
            output,
        } => access::audit(&client, project, since, limit, output).await,
        Command::Images(cmd) => images::run(&client, cmd).await,
        Command::Rescan { config, output } => scans::rescan(&client, &config, output).await,
        Command::Notifications(args) => scans::notifications(&client, args).await,
        Command::Show {
            build,
            metadata: true,
            ..
        } => builds::metadata(&client, build_id(&build)?).await,
        Command::Show { build, output, .. } => {
            builds::show(&client, build_id(&build)?, output).await
        }
        Command::Watch(a) => watch::watch(&client, a).await,
        Command::Logs { build, follow } => {
            let id = match build_id(&build) {
                Ok(id) => id,
                // Not a build id: a config, and its newest build.
                Err(_) => rebuilds::newest_build(&client, &build).await?,
            };
            stream_log(&client, id, follow, None).await?;
            if follow {
                builds::ended(&client, id).await?;
            }
            Ok(())
        }
        Command::Version { output } => {
            let server = client.server_version().await;
            let mine = env!("CARGO_PKG_VERSION");
            match output {
                Output::Json => print_json(&serde_json::json!({
                    "client": mine,
                    "server": server.as_ref().ok(),
                    "server_url": client.endpoint.url,
                })),
                Output::Table => {
                    println!("client {mine}");
                    match &server {
                        Ok(v) => println!("server {v} at {}", client.endpoint.url),
                        Err(e) => println!("server: {e}"),
                    }
                }
            }
            Ok(())
        }
        Command::Cancel { build } => cancel(&client, build_id(&build)?).await,
        Command::Registry(cmd) => registry::run(&client, cmd).await,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn build_ids() {
        assert_eq!(build_id("12").unwrap(), 12);
        assert_eq!(build_id("#3").unwrap(), 3);
        assert!(build_id("abc").is_err());
        assert!(build_id("0").is_err());
    }
}
