//! `slipway`: one binary for the server and the CLI.

use clap::{Args, Parser, Subcommand};
use slipway_cli::{CliError, ConnectArgs};
use slipway_core::BuildPhase;
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
    /// Run one worker build for a server (what a Kubernetes Job runs)
    Worker(WorkerArgs),
    /// Move an all-in-one server's state (builds, configs, tags, tokens,
    /// scans, notifications) into PostgreSQL, for several servers to share
    Migrate(MigrateArgs),
    /// Print a shell completion script: `slipway completions bash > /etc/bash_completion.d/slipway`
    Completions {
        /// bash, zsh, fish, elvish or powershell
        shell: clap_complete::Shell,
    },
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
    /// Keep state in PostgreSQL (postgres://user@host/db; the password from
    /// the config file's database:, PGPASSWORD or ~/.pgpass, never the URL)
    /// instead of the SQLite file in the data dir
    #[arg(long, env = "SLIPWAY_DATABASE", value_name = "URL")]
    database: Option<String>,
    /// Log lines on stderr: text (colored only on a terminal) or json (one
    /// object per line, with the build id of a build's lines in its span)
    #[arg(long, value_enum, default_value_t = LogFormat::Text, env = "SLIPWAY_LOG_FORMAT")]
    log_format: LogFormat,
}

#[derive(Args)]
struct MigrateArgs {
    /// The data dir of the server to move (stopped)
    #[arg(long, value_name = "DATA_DIR")]
    from: PathBuf,
    /// The PostgreSQL database to move it into: new and empty
    /// (postgres://user@host/db; the password from --password-file,
    /// PGPASSWORD or ~/.pgpass, never the URL)
    #[arg(long, value_name = "URL")]
    to: String,
    /// A file holding the database password (first line)
    #[arg(long)]
    password_file: Option<PathBuf>,
    /// The config file the servers on PostgreSQL will use: its
    /// registry_storage (an S3 bucket) receives the registry's blobs
    #[arg(long)]
    config: Option<PathBuf>,
    /// Output: text, or json (the tables and their row counts)
    #[arg(short = 'o', long, default_value = "text")]
    output: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Args)]
struct WorkerArgs {
    /// The worker build to run; the server's API (--url) and the worker
    /// build's token (--token-file) say where to report
    #[arg(long, env = "SLIPWAY_WORKER_BUILD")]
    worker_build: i64,
    /// Where buildah's storage and checkouts live
    #[arg(
        long,
        default_value = ".slipway-worker",
        env = "SLIPWAY_WORKER_DATA_DIR"
    )]
    data_dir: PathBuf,
    /// buildah's storage driver: vfs or overlay
    #[arg(long, default_value = "vfs")]
    storage_driver: String,
    /// A registry (host[:port]) reached over plain HTTP (repeatable); loopback always is
    #[arg(long = "insecure-registry", value_name = "HOST[:PORT]")]
    insecure_registries: Vec<String>,
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
        Top::Completions { shell } => {
            use clap::CommandFactory;
            clap_complete::generate(
                shell,
                &mut Cli::command(),
                "slipway",
                &mut std::io::stdout(),
            );
            ExitCode::SUCCESS
        }
        Top::Serve(args) => match runtime.block_on(serve(args)) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e:#}");
                ExitCode::FAILURE
            }
        },
        Top::Migrate(args) => match runtime.block_on(migrate(args)) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::FAILURE
            }
        },
        Top::Worker(args) => match runtime.block_on(worker(args, cli.connect)) {
            Ok(BuildPhase::Complete) => ExitCode::SUCCESS,
            Ok(phase) => {
                eprintln!("worker build ended {phase}");
                ExitCode::FAILURE
            }
            Err(e) => {
                eprintln!("error: {e:#}");
                ExitCode::from(2)
            }
        },
        Top::Client(cmd) => match runtime.block_on(slipway_cli::run(cmd, cli.connect)) {
            Ok(()) => ExitCode::SUCCESS,
            // Already reported with its reason.
            Err(
                CliError::BuildDidNotComplete { .. }
                | CliError::LintFailed
                | CliError::ScanDidNotPass { .. }
                | CliError::NotReproducible { .. }
                | CliError::NotVerified,
            ) => ExitCode::FAILURE,
            // Ctrl-C, as shells expect.
            Err(CliError::Interrupted) => ExitCode::from(130),
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::FAILURE
            }
        },
    }
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn"));
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match args.log_format {
        LogFormat::Json => logs
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .init(),
        // Escape codes only for a terminal: a file or journald gets plain text.
        LogFormat::Text => logs
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .init(),
    }
    let mut file = match &args.config {
        Some(p) => ConfigFile::load(p)?,
        None => ConfigFile::default(),
    };
    if let Some(url) = args.database {
        file.database.get_or_insert_with(Default::default).url = url;
    }
    let mut config = ServerConfig::new(args.data_dir, args.listen, args.workers, file)
        .map_err(anyhow::Error::msg)?;
    if let Some(c) = args.clusters {
        config.clusters_file = Some(c);
    }
    config.state_file = slipway_cli::client::local_server_state_path();
    config.commit = option_env!("SLIPWAY_COMMIT").map(str::to_string);
    slipway_server::serve(config).await?;
    Ok(())
}

async fn migrate(args: MigrateArgs) -> Result<(), String> {
    let json = match args.output.as_str() {
        "json" => true,
        "text" => false,
        other => return Err(format!("-o {other}: give text or json")),
    };
    let to = slipway_server::DatabaseSettings {
        url: args.to,
        password_file: args.password_file,
        password_env: None,
    };
    let progress = |table: &str, n: u64| {
        if !json {
            eprintln!("  {table}: {n} rows");
        }
    };
    if !json {
        eprintln!(
            "copying {} into {} (one transaction)",
            args.from.display(),
            to.url
        );
    }
    let storage = match &args.config {
        Some(p) => {
            ConfigFile::load(p)
                .map_err(|e| format!("{e}"))?
                .registry_storage
        }
        None => Default::default(),
    };
    let report = slipway_server::migrate::sqlite_to_postgres(&args.from, &to, &progress).await?;
    let blob_progress = |digest: &str, n: u64| {
        if !json {
            eprintln!("  blob {digest}: {n} bytes");
        }
    };
    let (blobs, blob_bytes) =
        slipway_server::migrate::blobs(&args.from, &storage, &blob_progress).await?;
    if json {
        let tables: serde_json::Map<String, serde_json::Value> = report
            .tables
            .iter()
            .map(|(t, n)| (t.clone(), (*n).into()))
            .collect();
        println!(
            "{}",
            serde_json::json!({ "tables": tables, "blobs": blobs, "blob_bytes": blob_bytes })
        );
    } else {
        let rows: u64 = report.tables.iter().map(|(_, n)| n).sum();
        if blobs > 0 {
            println!("copied {blobs} registry blobs ({blob_bytes} bytes) to object storage");
        }
        println!(
            "moved {rows} rows in {} tables. Start the servers with database: {{url: {}}}, secret_key_file: {} (copy that key to every server; it reads the secrets moved) and signing_key_file: {} (the key consumers trust images by)",
            report.tables.len(),
            to.url,
            args.from.join("secret-key").display(),
            args.from.join("signing-key").display()
        );
    }
    Ok(())
}

async fn worker(args: WorkerArgs, connect: ConnectArgs) -> anyhow::Result<BuildPhase> {
    let endpoint = slipway_cli::client::Endpoint::discover_in(
        connect.url,
        connect.token,
        connect.token_file,
        connect.ca_file,
        connect.context.as_deref(),
    )?;
    let data = &args.data_dir;
    std::fs::create_dir_all(data)
        .map_err(|e| anyhow::anyhow!("cannot make {}: {e}; pass --data-dir", data.display()))?;
    let buildah = slipway_builder::Buildah::new(slipway_builder::BuildahConfig {
        storage_root: data.join("buildah/storage"),
        run_root: data.join("buildah/run"),
        storage_driver: args.storage_driver,
        insecure_registries: args.insecure_registries,
    });
    let config = slipway_worker::remote::RemoteConfig {
        url: endpoint.url.clone(),
        token: endpoint.token.clone(),
        ca_file: endpoint.ca_file.clone(),
        worker: args.worker_build,
        work_dir: data.join("work"),
    };
    Ok(slipway_worker::remote::run(config, &buildah).await?)
}
