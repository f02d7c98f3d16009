//! `slipway registry`: the embedded registry's garbage collection, and a
//! project's logins to other registries (`login`, `logins`, `logout`),
//! which its builds use to pull base images from them and push there, and
//! promotion to environments on them. A password is read from a file or
//! standard input, never from an argument, and never shown again.

use crate::client::Client;
use crate::{CliError, Output, format, print_json};
use clap::Subcommand;
use slipway_core::api::access::{RegistryLoginInfo, RegistryLoginRequest};
use std::path::PathBuf;

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
    /// Keep a project's login to another registry (its admins): its builds
    /// pull bases from there and push there with it, promotion copies there
    Login {
        /// The registry: registry.example.com or host:port
        registry: String,
        #[arg(long)]
        project: String,
        #[arg(long, short)]
        username: String,
        /// Read the password (or token) from standard input
        #[arg(long, conflicts_with = "password_file")]
        password_stdin: bool,
        /// Read the password (or token) from this file
        #[arg(long, value_name = "FILE")]
        password_file: Option<PathBuf>,
        #[arg(short, long, value_enum, default_value_t)]
        output: Output,
    },
    /// The logins of the projects you manage (never their passwords)
    Logins {
        #[arg(long)]
        project: Option<String>,
        #[arg(short, long, value_enum, default_value_t)]
        output: Output,
    },
    /// Forget a project's login to a registry
    Logout {
        registry: String,
        #[arg(long)]
        project: String,
    },
}

/// The password from standard input or a file, without its final newline.
fn read_password(stdin: bool, file: Option<PathBuf>) -> Result<String, CliError> {
    let raw = match (stdin, file) {
        (true, _) => {
            let mut buf = String::new();
            std::io::Read::read_to_string(&mut std::io::stdin(), &mut buf)
                .map_err(|e| CliError::Usage(format!("cannot read standard input: {e}")))?;
            buf
        }
        (false, Some(f)) => std::fs::read_to_string(&f)
            .map_err(|e| CliError::Usage(format!("cannot read {}: {e}", f.display())))?,
        (false, None) => {
            return Err(CliError::Usage(
                "give the password with --password-stdin or --password-file FILE (never as an argument)"
                    .into(),
            ));
        }
    };
    let password = raw.strip_suffix('\n').unwrap_or(&raw);
    let password = password.strip_suffix('\r').unwrap_or(password);
    if password.is_empty() {
        return Err(CliError::Usage("the password is empty".into()));
    }
    Ok(password.to_string())
}

pub async fn run(client: &Client, cmd: RegistryCommand) -> Result<(), CliError> {
    match cmd {
        RegistryCommand::Gc {
            dry_run,
            grace,
            upload_age,
            output,
        } => {
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
        }
        RegistryCommand::Login {
            registry,
            project,
            username,
            password_stdin,
            password_file,
            output,
        } => {
            let password = read_password(password_stdin, password_file)?;
            let info: RegistryLoginInfo = client
                .post_json(
                    "/registry-logins",
                    &RegistryLoginRequest {
                        project,
                        registry,
                        username,
                        password,
                    },
                )
                .await?;
            match output {
                Output::Json => print_json(&info),
                Output::Table => println!(
                    "project {} logs in to {} as {}",
                    info.project, info.registry, info.username
                ),
            }
        }
        RegistryCommand::Logins { project, output } => {
            let path = match &project {
                Some(p) => format!(
                    "/registry-logins?{}",
                    form_urlencoded::Serializer::new(String::new())
                        .append_pair("project", p)
                        .finish()
                ),
                None => "/registry-logins".to_string(),
            };
            let list: Vec<RegistryLoginInfo> = client.get_json(&path).await?;
            match output {
                Output::Json => print_json(&list),
                Output::Table => {
                    println!("{:<16} {:<32} {:<20} SET", "PROJECT", "REGISTRY", "USER");
                    for x in &list {
                        println!(
                            "{:<16} {:<32} {:<20} {} by {}",
                            x.project,
                            x.registry,
                            x.username,
                            x.created_at,
                            x.created_by.as_deref().unwrap_or("?")
                        );
                    }
                }
            }
        }
        RegistryCommand::Logout { registry, project } => {
            client
                .delete(&format!("/registry-logins/{project}/{registry}"))
                .await?;
            println!("project {project} no longer logs in to {registry}");
        }
    }
    Ok(())
}
