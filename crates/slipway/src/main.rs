//! `slipway`: one binary for the server and the CLI.

use clap::{Args, Parser, Subcommand};
use slipway_cli::{CliError, ConnectArgs};
use slipway_server::{ConfigFile, ServerConfig};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "slipway",
    version,
    about = "Container image build service",
    propagate_version = true
)]
struct Cli {
    #[command(subcommand)]
    command: Top,
    #[command(flatten)]
    connect: ConnectArgs,
}

#[derive(Subcommand)]
enum Top {
    /// Run the all-in-one server: API, store, scheduler and local workers
    Serve(ServeArgs),
    #[command(flatten)]
    Client(slipway_cli::Command),
}

#[derive(Args)]
struct ServeArgs {
    /// Where the database, logs, tokens and image storage live
    #[arg(long, default_value = ".slipway", env = "SLIPWAY_DATA_DIR")]
    data_dir: PathBuf,
    /// Address to listen on
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Builds run at once by the default local cluster (when no cluster file is given)
    #[arg(long, default_value_t = 2)]
    workers: usize,
    /// Cluster file (YAML): worker clusters per platform; reloaded on SIGHUP
    #[arg(long, env = "SLIPWAY_CLUSTERS")]
    clusters: Option<PathBuf>,
    /// YAML config file (insecure_registries, default_registry, storage_driver, clusters_file, …)
    #[arg(long)]
    config: Option<PathBuf>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match cli.command {
        Top::Serve(args) => match runtime.block_on(serve(args)) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e:#}");
                ExitCode::FAILURE
            }
        },
        Top::Client(cmd) => match runtime.block_on(slipway_cli::run(cmd, cli.connect)) {
            Ok(()) => ExitCode::SUCCESS,
            // Already reported with its reason.
            Err(CliError::BuildDidNotComplete { .. }) => ExitCode::FAILURE,
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::FAILURE
            }
        },
    }
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let file = match &args.config {
        Some(p) => ConfigFile::load(p)?,
        None => ConfigFile::default(),
    };
    let mut config = ServerConfig::new(args.data_dir, args.listen, args.workers, file)
        .map_err(anyhow::Error::msg)?;
    if let Some(c) = args.clusters {
        config.clusters_file = Some(c);
    }
    config.state_file = slipway_cli::client::local_server_state_path();
    slipway_server::serve(config).await?;
    Ok(())
}
