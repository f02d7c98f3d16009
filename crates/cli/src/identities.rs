//! Users and service accounts: `slipway user create|list|disable` (global
//! admins) and `slipway service-account create|list|disable --project P`
//! (the project's admins). Tokens are issued to them with `slipway token
//! create --user NAME` or `--service-account NAME`; disabling one revokes
//! all its tokens.

use crate::client::Client;
use crate::{CliError, Output, print_json};
use clap::Subcommand;
use slipway_core::api::access::{IdentityInfo, IdentityRequest, TokenKind};

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Make a user (global admins); then issue tokens with `token create --user NAME`
    Create {
        /// Letters, digits, - _ . @ (an email address is fine)
        name: String,
        #[arg(short, long, value_enum, default_value_t)]
        output: Output,
    },
    /// Every user, with how many live tokens each holds
    List {
        #[arg(short, long, value_enum, default_value_t)]
        output: Output,
    },
    /// Disable a user: every token of theirs is revoked at once
    Disable {
        name: String,
        #[arg(short, long, value_enum, default_value_t)]
        output: Output,
    },
}

#[derive(Debug, Subcommand)]
pub enum ServiceAccountCommand {
    /// Make a service account of a project (its admins), for CI and bots
    Create {
        name: String,
        #[arg(long)]
        project: String,
        #[arg(short, long, value_enum, default_value_t)]
        output: Output,
    },
    /// The service accounts of the projects you manage
    List {
        #[arg(long)]
        project: Option<String>,
        #[arg(short, long, value_enum, default_value_t)]
        output: Output,
    },
    /// Disable a service account: every token of it is revoked at once
    Disable {
        name: String,
        #[arg(short, long, value_enum, default_value_t)]
        output: Output,
    },
}

fn kind_name(kind: TokenKind) -> &'static str {
    match kind {
        TokenKind::User => "user",
        TokenKind::Service => "service account",
    }
}

fn print_one(i: &IdentityInfo, done: &str, output: Output) {
    match output {
        Output::Json => print_json(i),
        Output::Table => {
            let project = i
                .project
                .as_deref()
                .map(|p| format!(" of project {p}"))
                .unwrap_or_default();
            println!("{} {}{project} {done}", kind_name(i.kind), i.name);
        }
    }
}

fn print_list(list: &[IdentityInfo], output: Output) {
    match output {
        Output::Json => print_json(&list),
        Output::Table => {
            println!(
                "{:<24} {:<16} {:<9} {:<7} CREATED",
                "NAME", "PROJECT", "STATE", "TOKENS"
            );
            for i in list {
                println!(
                    "{:<24} {:<16} {:<9} {:<7} {} by {}",
                    i.name,
                    i.project.as_deref().unwrap_or("-"),
                    if i.disabled_at.is_some() {
                        "disabled"
                    } else {
                        "active"
                    },
                    i.live_tokens,
                    i.created_at,
                    i.created_by.as_deref().unwrap_or("?")
                );
            }
        }
    }
}

async fn create(
    client: &Client,
    name: String,
    kind: TokenKind,
    project: Option<String>,
    output: Output,
) -> Result<(), CliError> {
    let made: IdentityInfo = client
        .post_json(
            "/identities",
            &IdentityRequest {
                name,
                kind,
                project,
            },
        )
        .await?;
    let next = match made.kind {
        TokenKind::User => "--user",
        TokenKind::Service => "--service-account",
    };
    print_one(&made, "created", output);
    if output == Output::Table {
        eprintln!(
            "issue it a token: slipway token create --name NAME {next} {} --project P --role R",
            made.name
        );
    }
    Ok(())
}

async fn list(
    client: &Client,
    kind: TokenKind,
    project: Option<&str>,
    output: Output,
) -> Result<(), CliError> {
    let all: Vec<IdentityInfo> = client.get_json("/identities").await?;
    let list: Vec<IdentityInfo> = all
        .into_iter()
        .filter(|i| i.kind == kind && project.is_none_or(|p| i.project.as_deref() == Some(p)))
        .collect();
    print_list(&list, output);
    Ok(())
}

async fn disable(client: &Client, name: &str, output: Output) -> Result<(), CliError> {
    let done: IdentityInfo = client.delete_json(&format!("/identities/{name}")).await?;
    print_one(&done, "disabled; its tokens are revoked", output);
    Ok(())
}

pub async fn user(client: &Client, cmd: UserCommand) -> Result<(), CliError> {
    match cmd {
        UserCommand::Create { name, output } => {
            create(client, name, TokenKind::User, None, output).await
        }
        UserCommand::List { output } => list(client, TokenKind::User, None, output).await,
        UserCommand::Disable { name, output } => disable(client, &name, output).await,
    }
}

pub async fn service_account(client: &Client, cmd: ServiceAccountCommand) -> Result<(), CliError> {
    match cmd {
        ServiceAccountCommand::Create {
            name,
            project,
            output,
        } => create(client, name, TokenKind::Service, Some(project), output).await,
        ServiceAccountCommand::List { project, output } => {
            list(client, TokenKind::Service, project.as_deref(), output).await
        }
        ServiceAccountCommand::Disable { name, output } => disable(client, &name, output).await,
    }
}
