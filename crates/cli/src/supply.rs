//! `slipway show BUILD --provenance`: who built the image, from what, as
//! the server signed it.

use crate::client::Client;
use crate::{CliError, Output, print_json};
use serde_json::Value;
use slipway_core::supply::provenance;

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
