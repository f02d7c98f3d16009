//! Projects and tokens: `slipway projects`, `slipway project create|set`,
//! `slipway token create|list|revoke`. A new token's secret is printed
//! once, on stdout alone (so `$(slipway token create … -q)` captures it);
//! lists never show secrets.

use crate::client::Client;
use crate::{CliError, Output, print_json};
use clap::Subcommand;
use slipway_core::access::Role;
use slipway_core::api::access::{
    AuditRecord, CreatedToken, NewTokenRequest, ProjectInfo, ProjectRequest, Quota, SecretInfo,
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
    /// Change a project: anonymous pull (its admins), quotas (global admins)
    Set {
        name: String,
        /// Let anyone pull its repositories, or stop it
        #[arg(long, value_name = "true|false", action = clap::ArgAction::Set)]
        anonymous_pull: Option<bool>,
        /// Builds running at once (0: no limit); the quota is replaced whole
        #[arg(long, value_name = "N")]
        max_concurrent_builds: Option<u32>,
        /// Builds made per hour (0: no limit)
        #[arg(long, value_name = "N")]
        builds_per_hour: Option<u32>,
        /// Registry storage: bytes, or with KiB, MiB, GiB, TiB (0: no limit)
        #[arg(long, value_name = "SIZE")]
        storage: Option<String>,
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
        #[arg(long, conflicts_with_all = ["user", "service_account"])]
        service: bool,
        /// Issue it to this user (`slipway user create`)
        #[arg(long, value_name = "NAME", conflicts_with = "service_account")]
        user: Option<String>,
        /// Issue it to this service account of the project
        #[arg(long, value_name = "NAME")]
        service_account: Option<String>,
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

fn describe_quota(q: &Quota) -> String {
    let mut parts = Vec::new();
    if let Some(n) = q.max_concurrent_builds {
        parts.push(format!("{n} builds at once"));
    }
    if let Some(n) = q.builds_per_hour {
        parts.push(format!("{n} builds an hour"));
    }
    if let Some(b) = q.storage_bytes {
        parts.push(format!("{} of registry storage", bytes(b)));
    }
    if parts.is_empty() {
        "none".into()
    } else {
        parts.join(", ")
    }
}

fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

/// `10GiB`, `512MiB`, `2000` (bytes).
pub fn parse_size(text: &str) -> Result<u64, CliError> {
    let bad = || {
        CliError::Usage(format!(
            "--storage {text:?} is not a size: bytes, or a number with KiB, MiB, GiB or TiB"
        ))
    };
    let t = text.trim();
    let (number, unit) = match t.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => t.split_at(i),
        None => (t, ""),
    };
    let n: u64 = number.parse().map_err(|_| bad())?;
    let factor: u64 = match unit.trim() {
        "" | "B" => 1,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        "TiB" => 1 << 40,
        _ => return Err(bad()),
    };
    n.checked_mul(factor).ok_or_else(bad)
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
            println!(
                "{:<20} {:<6} {:<12} {:<12} STORAGE",
                "PROJECT", "ANON", "RUNNING", "BUILDS/HOUR"
            );
            for p in &list {
                let u = p.usage.unwrap_or_default();
                let of = |n: u64, q: Option<u64>| match q {
                    Some(q) => format!("{n}/{q}"),
                    None => n.to_string(),
                };
                println!(
                    "{:<20} {:<6} {:<12} {:<12} {}",
                    p.name,
                    if p.anonymous_pull { "yes" } else { "no" },
                    of(
                        u.running_builds,
                        p.quota.max_concurrent_builds.map(u64::from)
                    ),
                    of(u.builds_last_hour, p.quota.builds_per_hour.map(u64::from)),
                    match p.quota.storage_bytes {
                        Some(q) => format!("{} of {}", bytes(u.storage_bytes), bytes(q)),
                        None => bytes(u.storage_bytes),
                    }
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
                        quota: None,
                    },
                )
                .await?,
            output,
        ),
        ProjectCommand::Set {
            name,
            anonymous_pull,
            max_concurrent_builds,
            builds_per_hour,
            storage,
            output,
        } => {
            let quota = if max_concurrent_builds.is_some()
                || builds_per_hour.is_some()
                || storage.is_some()
            {
                let limit = |n: Option<u32>| n.filter(|n| *n > 0);
                Some(Quota {
                    max_concurrent_builds: limit(max_concurrent_builds),
                    builds_per_hour: limit(builds_per_hour),
                    storage_bytes: storage
                        .as_deref()
                        .map(parse_size)
                        .transpose()?
                        .filter(|b| *b > 0),
                })
            } else {
                None
            };
            (
                client
                    .patch_json(
                        &format!("/projects/{name}"),
                        &ProjectRequest {
                            name: None,
                            anonymous_pull,
                            quota,
                        },
                    )
                    .await?,
                output,
            )
        }
    };
    match output {
        Output::Json => print_json(&p),
        Output::Table => println!(
            "project {}: anonymous pull {}; quota: {}",
            p.name,
            if p.anonymous_pull { "on" } else { "off" },
            describe_quota(&p.quota)
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
            user,
            service_account,
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
                        kind: if service || service_account.is_some() {
                            TokenKind::Service
                        } else {
                            TokenKind::User
                        },
                        project,
                        role,
                        expires_in_seconds,
                        identity: user.or(service_account),
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
                        "{:<5} {:<20} {:<8} {:<20} {:<22} {:<10} EXPIRES",
                        "ID", "NAME", "KIND", "HOLDER", "REACH", "STATE"
                    );
                    for t in &list {
                        println!(
                            "{:<5} {:<20} {:<8} {:<20} {:<22} {:<10} {}",
                            t.id,
                            t.name,
                            t.kind.as_str(),
                            t.identity.as_deref().unwrap_or("-"),
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
        assert_eq!(parse_size("10GiB").unwrap(), 10 << 30);
        assert_eq!(parse_size("2000").unwrap(), 2000);
        assert!(parse_size("10GB").is_err());
        assert_eq!(bytes(1536), "1.5 KiB");
    }
}
