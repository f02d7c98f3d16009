//! Image streams: `slipway images`, `tags`, `history`, `tag`, `untag`,
//! `rollback` — the embedded registry's repositories, tags and every move
//! of a tag.

use crate::client::Client;
use crate::{CliError, Output, print_json};
use clap::Subcommand;
use slipway_core::api::images::{
    ImageSummary, PruneReport, PruneRequest, RollbackRequest, TagMoveResult, TagRequest,
    UntagRequest,
};

#[derive(Debug, Subcommand)]
pub enum ImageCommand {
    /// The embedded registry's repositories, their owner configs and tags
    Images {
        #[arg(short, long, value_enum, default_value_t)]
        output: Output,
    },
    /// A repository's tags and the digests they name
    Tags {
        /// REPOSITORY (with or without the registry's host)
        repository: String,
        #[arg(short, long, value_enum, default_value_t)]
        output: Output,
    },
    /// Every move of a tag, newest first: from, to, who, why, when
    History {
        /// REPOSITORY:TAG
        reference: String,
        #[arg(short, long, value_enum, default_value_t)]
        output: Output,
    },
    /// Point a tag at the image another tag (or a digest) names
    Tag {
        /// REPOSITORY:TAG or REPOSITORY@DIGEST
        source: String,
        /// REPOSITORY:TAG, in the same repository
        target: String,
        #[arg(short, long, value_enum, default_value_t)]
        output: Output,
    },
    /// Remove a tag (the image stays while other tags or builds need it)
    Untag {
        /// REPOSITORY:TAG
        reference: String,
        #[arg(short, long, value_enum, default_value_t)]
        output: Output,
    },
    /// Move a tag back to an image it named before
    Rollback {
        /// REPOSITORY:TAG
        reference: String,
        /// The digest to go back to (one from `slipway history`)
        #[arg(long, conflicts_with = "steps")]
        to: Option<String>,
        /// How many images back (default 1)
        #[arg(long)]
        steps: Option<u32>,
        #[arg(short, long, value_enum, default_value_t)]
        output: Output,
    },
    /// Promote a build's image to an environment, once it passes its gates
    Promote {
        /// A build id, or REPOSITORY:TAG / REPOSITORY@DIGEST of a build's image
        what: String,
        /// The environment (from the server's config)
        #[arg(long)]
        to: String,
        #[arg(short, long, value_enum, default_value_t)]
        output: Output,
    },
    /// Apply the configs' history limits now: old builds, their tags and
    /// manifests go (then `slipway registry gc` frees their blobs)
    Prune {
        /// Only say what would go
        #[arg(long)]
        dry_run: bool,
        /// Only this config
        #[arg(long)]
        config: Option<String>,
        #[arg(short, long, value_enum, default_value_t)]
        output: Output,
    },
}

/// `?name=value`, the value form-encoded.
fn query(name: &str, value: &str) -> String {
    let pairs = form_urlencoded::Serializer::new(String::new())
        .append_pair(name, value)
        .finish();
    format!("?{pairs}")
}

pub async fn run(client: &Client, cmd: ImageCommand) -> Result<(), CliError> {
    match cmd {
        ImageCommand::Images { output } => {
            let images: Vec<ImageSummary> = client.get_json("/images").await?;
            match output {
                Output::Json => print_json(&images),
                Output::Table => {
                    println!("{:<48} {:<16} TAGS", "REPOSITORY", "OWNER");
                    for i in &images {
                        println!(
                            "{:<48} {:<16} {}",
                            i.repository,
                            i.owner.as_deref().unwrap_or("-"),
                            i.tags.join(", ")
                        );
                    }
                }
            }
        }
        ImageCommand::Tags { repository, output } => {
            let tags: Vec<serde_json::Value> = client
                .get_json(&format!("/images/tags{}", query("repository", &repository)))
                .await?;
            match output {
                Output::Json => print_json(&tags),
                Output::Table => {
                    println!("{:<32} {:<73} UPDATED", "TAG", "DIGEST");
                    for t in &tags {
                        println!(
                            "{:<32} {:<73} {}",
                            text(&t["tag"]),
                            text(&t["digest"]),
                            text(&t["updated_at"])
                        );
                    }
                }
            }
        }
        ImageCommand::History { reference, output } => {
            let events: Vec<serde_json::Value> = client
                .get_json(&format!(
                    "/images/history{}",
                    query("reference", &reference)
                ))
                .await?;
            match output {
                Output::Json => print_json(&events),
                Output::Table => {
                    if events.is_empty() {
                        println!("{reference} has never moved");
                    }
                    for e in &events {
                        let build = e["build"]
                            .as_i64()
                            .map(|b| format!(" (build {b})"))
                            .unwrap_or_default();
                        println!(
                            "{}  {:<8} {} → {}  by {}{build}",
                            text(&e["at"]),
                            text(&e["why"]),
                            short(&e["old_digest"]),
                            short(&e["new_digest"]),
                            text(&e["who"]),
                        );
                    }
                }
            }
        }
        ImageCommand::Tag {
            source,
            target,
            output,
        } => {
            let r: TagMoveResult = client
                .post_json("/images/tag", &TagRequest { source, target })
                .await?;
            show(&r, output);
        }
        ImageCommand::Untag { reference, output } => {
            let r: TagMoveResult = client
                .post_json("/images/untag", &UntagRequest { reference })
                .await?;
            show(&r, output);
        }
        ImageCommand::Rollback {
            reference,
            to,
            steps,
            output,
        } => {
            let r: TagMoveResult = client
                .post_json(
                    "/images/rollback",
                    &RollbackRequest {
                        reference,
                        to,
                        steps,
                    },
                )
                .await?;
            show(&r, output);
        }
        ImageCommand::Promote { what, to, output } => {
            let p: slipway_core::promotion::Promotion = client
                .post_json(
                    "/promote",
                    &slipway_core::promotion::PromoteRequest { what, to },
                )
                .await?;
            match output {
                Output::Json => print_json(&p),
                Output::Table => println!(
                    "build {} promoted to {}: {}@{} as {}",
                    p.build,
                    p.environment,
                    p.repository,
                    p.digest,
                    p.tags.join(", ")
                ),
            }
        }
        ImageCommand::Prune {
            dry_run,
            config,
            output,
        } => {
            let r: PruneReport = client
                .post_json("/prune", &PruneRequest { dry_run, config })
                .await?;
            match output {
                Output::Json => print_json(&r),
                Output::Table => {
                    let verb = if r.dry_run { "would prune" } else { "pruned" };
                    if r.builds.is_empty() {
                        println!("nothing to prune: every config is within its history limits");
                    }
                    for b in &r.builds {
                        println!("{verb} build {} of {} ({})", b.build, b.config, b.phase);
                        for t in &b.tags {
                            println!("  tag {t}");
                        }
                        if !b.manifests.is_empty() {
                            println!("  {} manifest(s) deleted", b.manifests.len());
                        }
                    }
                }
            }
        }
    }
    Ok(())
}

fn text(v: &serde_json::Value) -> String {
    v.as_str().unwrap_or("-").to_string()
}

/// A digest cut to `sha256:` and 12 hex digits; `(none)` for none.
fn short(v: &serde_json::Value) -> String {
    match v.as_str() {
        Some(d) => d.chars().take(19).collect(),
        None => "(none)".into(),
    }
}

fn show(r: &TagMoveResult, output: Output) {
    match output {
        Output::Json => print_json(r),
        Output::Table => println!(
            "{}: {} → {}",
            r.reference,
            r.old_digest.as_deref().unwrap_or("(none)"),
            r.new_digest.as_deref().unwrap_or("(none)")
        ),
    }
}
