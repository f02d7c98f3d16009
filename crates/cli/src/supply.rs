//! `slipway show BUILD --provenance`: who built the image, from what, as
//! the server signed it; `slipway rebuild --verify BUILD` and `slipway show
//! BUILD --reproductions`: whether the same inputs give the same image.

use crate::client::Client;
use crate::{CliError, Output, print_json};
use serde_json::Value;
use slipway_core::Build;
use slipway_core::supply::provenance;
use slipway_core::supply::reproduce::Reproduction;

pub async fn provenance(client: &Client, build: i64, output: Output) -> Result<(), CliError> {
    let answer: Value = client
        .get_json(&format!("/builds/{build}/provenance"))
        .await?;
    match output {
        Output::Json => print_json(&answer),
        Output::Table => print!("{}", summary(&answer)),
    }
    Ok(())
}

/// The statement's facts a person checks, then the statement itself.
fn summary(answer: &Value) -> String {
    let statement = &answer["statement"];
    let mut out = String::new();
    match provenance::read(statement) {
        Ok(r) => {
            for (name, digest) in &r.subjects {
                out.push_str(&format!("image:        {name}@{digest}\n"));
            }
            out.push_str(&format!("built by:     {}\n", r.builder_id));
            out.push_str(&format!(
                "source:       {}{}\n",
                r.source_url,
                r.commit.map(|c| format!(" @ {c}")).unwrap_or_default()
            ));
            for base in &r.base_images {
                out.push_str(&format!("base image:   {base}\n"));
            }
        }
        Err(e) => out.push_str(&format!(
            "(the statement does not read as SLSA provenance: {e})\n"
        )),
    }
    let key = answer["key_id"].as_str().unwrap_or("?");
    let verified = if answer["verified_with_current_key"] == true {
        "verifies with the server's key"
    } else {
        "does NOT verify with the server's current key (signed before a key rotation, or altered)"
    };
    out.push_str(&format!("signed by:    key {key}: {verified}\n\n"));
    out.push_str(&serde_json::to_string_pretty(statement).unwrap_or_default());
    out.push('\n');
    out
}

/// `slipway rebuild --verify BUILD`: queue the rebuild, wait for it (its
/// log with `follow`), then say whether the image came out identical and,
/// when not, where it first differs.
pub async fn verify_rebuild(
    client: &Client,
    build: i64,
    (follow, no_wait): (bool, bool),
    output: Output,
) -> Result<(), CliError> {
    let rebuild: Build = client
        .post_json(
            &format!("/builds/{build}/reproduce"),
            &serde_json::json!({}),
        )
        .await?;
    let id = rebuild.id;
    if no_wait {
        match output {
            Output::Json => print_json(&rebuild),
            Output::Table => println!(
                "rebuild {id} of build {build} queued; `slipway show {build} --reproductions` shows what it finds"
            ),
        }
        return Ok(());
    }
    let json = output == Output::Json;
    let bar = crate::spinner(format!("rebuild {id} of build {build}: queued"));
    crate::builds::follow_until_ended(client, id, &bar, follow, false, json).await?;
    let found: Vec<Reproduction> = client
        .get_json(&format!("/builds/{build}/reproductions"))
        .await?;
    let Some(r) = found.into_iter().find(|r| r.rebuild == id) else {
        // It ended before it could compare (a failed step, a cancel).
        let b: Build = client.get_json(&format!("/builds/{id}")).await?;
        crate::builds::report_end(&b)?;
        return Err(CliError::Usage(format!(
            "rebuild {id} ended without comparing its image; see `slipway logs {id}`"
        )));
    };
    match output {
        Output::Json => print_json(&r),
        Output::Table => print!("{}", reproduction_text(&r)),
    }
    if r.identical {
        Ok(())
    } else {
        Err(CliError::NotReproducible { build })
    }
}

/// `slipway show BUILD --reproductions`.
pub async fn reproductions(client: &Client, build: i64, output: Output) -> Result<(), CliError> {
    let found: Vec<Reproduction> = client
        .get_json(&format!("/builds/{build}/reproductions"))
        .await?;
    match output {
        Output::Json => print_json(&found),
        Output::Table if found.is_empty() => println!(
            "build {build} has not been rebuilt to check it; `slipway rebuild --verify {build}` does"
        ),
        Output::Table => {
            for r in &found {
                print!("{}", reproduction_text(r));
            }
        }
    }
    Ok(())
}

fn reproduction_text(r: &Reproduction) -> String {
    let mut out = format!("{} (checked {})\n", r.summary(), r.checked_at);
    for p in &r.platforms {
        match &p.difference {
            None if p.identical => {
                out.push_str(&format!("  {}: identical {}\n", p.platform, p.rebuilt));
            }
            None => out.push_str(&format!(
                "  {}: {} rebuilt as {}\n",
                p.platform, p.original, p.rebuilt
            )),
            Some(d) => out.push_str(&format!("  {}: {}\n", p.platform, d.describe())),
        }
    }
    out
}
