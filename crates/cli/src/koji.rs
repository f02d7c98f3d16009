//! `slipway koji`: a build's import into Koji.

use crate::client::Client;
use crate::{CliError, Output, print_json};
use clap::Subcommand;
use slipway_core::koji::{ImportState, KojiImport};

#[derive(Debug, Subcommand)]
pub enum KojiCommand {
    /// Where a build's import into Koji stands
    Status {
        build: String,
        #[arg(short, long, value_enum, default_value_t)]
        output: Output,
    },
    /// Import a complete build into Koji (again, after it failed)
    Import {
        build: String,
        #[arg(short, long, value_enum, default_value_t)]
        output: Output,
    },
}

pub async fn run(client: &Client, cmd: KojiCommand) -> Result<(), CliError> {
    let (import, output) = match cmd {
        KojiCommand::Status { build, output } => {
            let id = crate::build_id(&build)?;
            let i: KojiImport = client.get_json(&format!("/builds/{id}/koji")).await?;
            (i, output)
        }
        KojiCommand::Import { build, output } => {
            let id = crate::build_id(&build)?;
            let i: KojiImport = client
                .post_json(&format!("/builds/{id}/koji/import"), &serde_json::json!({}))
                .await?;
            (i, output)
        }
    };
    match output {
        Output::Json => print_json(&import),
        Output::Table => print!("{}", describe(&import)),
    }
    Ok(())
}

/// One import, for people.
pub fn describe(i: &KojiImport) -> String {
    let mut out = format!(
        "build {}: Koji import {} after {} attempt{}",
        i.build,
        i.state.as_str(),
        i.attempts,
        if i.attempts == 1 { "" } else { "s" }
    );
    if let (Some(nvr), Some(id)) = (&i.nvr, i.koji_build_id) {
        out.push_str(&format!(", as {nvr} (Koji build {id})"));
    }
    out.push('\n');
    if let Some(m) = &i.message {
        out.push_str(&format!("  {m}\n"));
    }
    match (i.state, i.next_attempt_at) {
        (ImportState::Pending, Some(at)) => out.push_str(&format!("  next attempt at {at}\n")),
        (ImportState::Failed, _) => out.push_str(&format!(
            "  run `slipway koji import {}` to try again once the hub's complaint is dealt with\n",
            i.build
        )),
        _ => {}
    }
    out
}
