//! Projects and tokens: `slipway projects`, `slipway project create|set`,
//! `slipway token create|list|revoke`. A new token's secret is printed
//! once, on stdout alone (so `$(slipway token create … -q)` captures it);
//! lists never show secrets.

use crate::client::Client;
use crate::{CliError, Output, print_json};
use clap::Subcommand;
use slipway_core::access::Role;
use slipway_core::api::access::{
    AuditRecord, CreatedToken, NewTokenRequest, ProjectInfo, ProjectRequest, SecretInfo,
    SecretRequest, TokenInfo, TokenKind,
};
use std::path::PathBuf;

#[derive(Debug, Subcommand)]
pub enum ProjectCommand {
    /// Make a project (global admins): it owns the registry namespace NAME/
    Create {
        name: String,
        /// Let anyone pull its repositories
        #[arg(long)]
        anonymous_pull: bool,
        #[arg(short, long, value_enum, default_value_t)]
        output: Output,
    },
    /// Change a project (its admins)
    Set {
        name: String,
        /// Let anyone pull its repositories, or stop it
        #[arg(long, value_name = "true|false", action = clap::ArgAction::Set)]
        anonymous_pull: bool,
        #[arg(short, long, value_enum, default_value_t)]
        output: Output,
    },
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Make a token; its secret is shown this once
    Create {
        /// A name for people and the audit (letters, digits, - _ . @)
        #[arg(long)]
        name: String,
        /// The project it may act in [default: every project (global admins only)]
        #[arg(long)]
        project: Option<String>,
        /// viewer (read, pull), developer (also build and push) or admin (also tokens, deletes)
        #[arg(long)]
        role: String,
        /// Lifetime: 30d, 12h, 90m, 3600s [default: until revoked]
        #[arg(long)]
        expires: Option<String>,
        /// A service account's token (CI, bots), not a person's
        #[arg(long)]
        service: bool,
        /// Print the secret alone
        #[arg(short, long)]
        quiet: bool,
        #[arg(short, long, value_enum, default_value_t)]
        output: Output,
    },
    /// The tokens you manage (never their secrets)
    List {
        #[arg(short, long, value_enum, default_value_t)]
        output: Output,
    },
    /// Revoke a token at once
    Revoke {
        id: i64,
        #[arg(short, long, value_enum, default_value_t)]
        output: Output,
    },
}

#[derive(Debug, Subcommand)]
pub enum SecretCommand {
    /// Create or replace a build secret (project admins); RUN steps mount it
    /// with `--mount=type=secret,id=NAME`
    Create {
        name: String,
        #[arg(long)]
        project: String,
        /// The file holding the value (`-`: standard input); never an argument
        #[arg(long, value_name = "FILE")]
        from_file: PathBuf,
        #[arg(short, long, value_enum, default_value_t)]
        output: Output,
    },
    /// The secrets you can see: names and sizes, never values
    List {
        #[arg(long)]
        project: Option<String>,
        #[arg(short, long, value_enum, default_value_t)]
        output: Output,
    },
    /// Delete a build secret
    Delete {
        name: String,
        #[arg(long)]
        project: String,
    },
}

pub async fn secret(client: &Client, cmd: SecretCommand) -> Result<(), CliError> {
    use base64::Engine;
    match cmd {
        SecretCommand::Create {
            name,
            project,
            from_file,
            output,
        } => {
            let value = if from_file.as_os_str() == "-" {
                let mut buf = Vec::new();
                std::io::Read::read_to_end(&mut std::io::stdin(), &mut buf)
                    .map_err(|e| CliError::Usage(format!("cannot read standard input: {e}")))?;
                buf
            } else {
                std::fs::read(&from_file).map_err(|e| {
                    CliError::Usage(format!("cannot read {}: {e}", from_file.display()))
                })?
            };
            let info: SecretInfo = client
                .post_json(
                    "/secrets",
                    &SecretRequest {
                        project,
                        name,
                        value_base64: base64::engine::general_purpose::STANDARD.encode(value),
                    },
                )
                .await?;
            match output {
                Output::Json => print_json(&info),
                Output::Table => println!(
                    "secret {}/{} set ({} bytes); mount it with RUN --mount=type=secret,id={}",
                    info.project, info.name, info.size, info.name
                ),
            }
        }
        SecretCommand::List { project, output } => {
            let path = match &project {
                Some(p) => format!(
                    "/secrets?{}",
                    form_urlencoded::Serializer::new(String::new())
                        .append_pair("project", p)
                        .finish()
                ),
                None => "/secrets".to_string(),
            };
            let list: Vec<SecretInfo> = client.get_json(&path).await?;
            match output {
                Output::Json => print_json(&list),
                Output::Table => {
                    println!("{:<16} {:<24} {:>7} SET", "PROJECT", "NAME", "BYTES");
                    for x in &list {
                        println!(
                            "{:<16} {:<24} {:>7} {} by {}",
                            x.project,
                            x.name,
                            x.size,
                            x.created_at,
                            x.created_by.as_deref().unwrap_or("?")
                        );
                    }
                }
            }
        }
        SecretCommand::Delete { name, project } => {
            client.delete(&format!("/secrets/{project}/{name}")).await?;
            println!("secret {project}/{name} deleted");
        }
    }
    Ok(())
}

/// `30d`, `12h`, `90m`, `3600s` or plain seconds.
pub fn parse_lifetime(text: &str) -> Result<u64, CliError> {
    let bad = || {
        CliError::Usage(format!(
            "--expires {text:?} is not a lifetime: a number with d, h, m or s (30d, 12h)"
        ))
    };
    let (number, unit) = match text.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => text.split_at(i),
        None => (text, "s"),
    };
    let n: u64 = number.parse().map_err(|_| bad())?;
    let factor = match unit {
        "d" => 86_400,
        "h" => 3_600,
        "m" => 60,
        "s" => 1,
        _ => return Err(bad()),
    };
    match n.checked_mul(factor) {
        Some(0) | None => Err(bad()),
        Some(secs) => Ok(secs),
    }
}

pub async fn projects(client: &Client, output: Output) -> Result<(), CliError> {
    let list: Vec<ProjectInfo> = client.get_json("/projects").await?;
    match output {
        Output::Json => print_json(&list),
        Output::Table => {
            println!("{:<24} {:<15} CREATED", "PROJECT", "ANONYMOUS PULL");
            for p in &list {
                println!(
                    "{:<24} {:<15} {}",
                    p.name,
                    if p.anonymous_pull { "yes" } else { "no" },
                    p.created_at
                );
            }
        }
    }
    Ok(())
}

pub async fn project(client: &Client, cmd: ProjectCommand) -> Result<(), CliError> {
    let (p, output): (ProjectInfo, Output) = match cmd {
        ProjectCommand::Create {
            name,
            anonymous_pull,
            output,
        } => (
            client
                .post_json(
                    "/projects",
                    &ProjectRequest {
                        name: Some(name),
                        anonymous_pull: Some(anonymous_pull),
                    },
                )
                .await?,
            output,
        ),
        ProjectCommand::Set {
            name,
            anonymous_pull,
            output,
        } => (
            client
                .patch_json(
                    &format!("/projects/{name}"),
                    &ProjectRequest {
                        name: None,
                        anonymous_pull: Some(anonymous_pull),
                    },
                )
                .await?,
            output,
        ),
    };
    match output {
        Output::Json => print_json(&p),
        Output::Table => println!(
            "project {}: anonymous pull {}",
            p.name,
            if p.anonymous_pull { "on" } else { "off" }
        ),
    }
    Ok(())
}

fn describe(t: &TokenInfo) -> String {
    format!(
        "{}/{}",
        t.project.as_deref().unwrap_or("*"),
        t.role.as_str()
    )
}

pub async fn token(client: &Client, cmd: TokenCommand) -> Result<(), CliError> {
    match cmd {
        TokenCommand::Create {
            name,
            project,
            role,
            expires,
            service,
            quiet,
            output,
        } => {
            let role = Role::parse(&role).map_err(CliError::Usage)?;
            let expires_in_seconds = expires.as_deref().map(parse_lifetime).transpose()?;
            let created: CreatedToken = client
                .post_json(
                    "/tokens",
                    &NewTokenRequest {
                        name,
                        kind: if service {
                            TokenKind::Service
                        } else {
                            TokenKind::User
                        },
                        project,
                        role,
                        expires_in_seconds,
                    },
                )
                .await?;
            match (output, quiet) {
                (Output::Json, _) => print_json(&created),
                (Output::Table, true) => println!("{}", created.token),
                (Output::Table, false) => {
                    println!("{}", created.token);
                    eprintln!(
                        "token {} ({}, id {}){}: shown this once; keep it in a secret store",
                        created.info.name,
                        describe(&created.info),
                        created.info.id,
                        created
                            .info
                            .expires_at
                            .as_deref()
                            .map(|e| format!(", expires {e}"))
                            .unwrap_or_default()
                    );
                }
            }
        }
        TokenCommand::List { output } => {
            let list: Vec<TokenInfo> = client.get_json("/tokens").await?;
            match output {
                Output::Json => print_json(&list),
                Output::Table => {
                    println!(
                        "{:<5} {:<20} {:<8} {:<22} {:<10} EXPIRES",
                        "ID", "NAME", "KIND", "REACH", "STATE"
                    );
                    for t in &list {
                        println!(
                            "{:<5} {:<20} {:<8} {:<22} {:<10} {}",
                            t.id,
                            t.name,
                            t.kind.as_str(),
                            describe(t),
                            if t.revoked_at.is_some() {
                                "revoked"
                            } else {
                                "active"
                            },
                            t.expires_at.as_deref().unwrap_or("never")
                        );
                    }
                }
            }
        }
        TokenCommand::Revoke { id, output } => {
            let t: TokenInfo = client.delete_json(&format!("/tokens/{id}")).await?;
            match output {
                Output::Json => print_json(&t),
                Output::Table => println!("token {} ({}) revoked", t.id, t.name),
            }
        }
    }
    Ok(())
}

/// `slipway audit`: the audit log, newest first.
pub async fn audit(
    client: &Client,
    project: Option<String>,
    since: Option<String>,
    limit: u32,
    output: Output,
) -> Result<(), CliError> {
    let mut query = form_urlencoded::Serializer::new(String::new());
    query.append_pair("limit", &limit.to_string());
    if let Some(p) = &project {
        query.append_pair("project", p);
    }
    if let Some(s) = &since {
        // An RFC 3339 time, or a lifetime back from now (1h, 7d).
        let at = match s.parse::<jiff::Timestamp>() {
            Ok(t) => t,
            Err(_) => {
                let back = parse_lifetime(s).map_err(|_| {
                    CliError::Usage(format!(
                        "--since {s:?} is neither a time (2026-11-30T12:00:00Z) nor a span back (1h, 7d)"
                    ))
                })?;
                jiff::Timestamp::now()
                    - jiff::SignedDuration::from_secs(i64::try_from(back).unwrap_or(i64::MAX))
            }
        };
        query.append_pair("since", &at.to_string());
    }
    let records: Vec<AuditRecord> = client
        .get_json(&format!("/audit?{}", query.finish()))
        .await?;
    match output {
        Output::Json => print_json(&records),
        Output::Table => {
            for r in &records {
                println!(
                    "{}  {:<18} {:<10} {:<4} {}  from {}",
                    r.at,
                    r.who,
                    r.project.as_deref().unwrap_or("*"),
                    r.status,
                    r.action,
                    r.source.as_deref().unwrap_or("?")
                );
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lifetimes() {
        assert_eq!(parse_lifetime("30d").unwrap(), 30 * 86_400);
        assert_eq!(parse_lifetime("12h").unwrap(), 43_200);
        assert_eq!(parse_lifetime("90m").unwrap(), 5_400);
        assert_eq!(parse_lifetime("3600").unwrap(), 3_600);
        for bad in ["", "0d", "d", "3w", "-1h", "99999999999999999999d"] {
            assert!(parse_lifetime(bad).is_err(), "{bad}");
        }
    }
}
