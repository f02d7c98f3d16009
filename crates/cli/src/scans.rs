//! Client commands for scanning: `scan IMAGE_REF`, `scans`, `rescan
//! CONFIG` and `show BUILD --scan`.

use crate::client::Client;
use crate::{CliError, Output, print_json};
use clap::Args;
use slipway_core::notify::Delivery;
use slipway_core::scan::inventory::Ecosystem;
use slipway_core::scan::sbom::{SbomFormat, StoredSbom};
use slipway_core::scan::{
    Finding, LanguageIndices, PackageRepository, ScanOutcome, ScanPolicy, ScanRequest, Scanner,
    StoredScan,
};
use std::fmt::Write as _;

#[derive(Debug, Args)]
pub struct ScanArgs {
    /// The image, HOST[:PORT]/NAME[:TAG|@DIGEST] (no host: the server's registry)
    pub reference: String,
    /// Use this config's scan policy and file the scan under it
    #[arg(long, conflicts_with_all = ["scanner", "fail_on", "repo", "pypi", "npm"])]
    pub config: Option<String>,
    /// Run only these scanners (repeatable): package-updates, language-updates, integrity, capabilities
    #[arg(long, value_name = "SCANNER")]
    pub scanner: Vec<Scanner>,
    /// Fail (exit 1) on findings of these scanners (repeatable)
    #[arg(long, value_name = "SCANNER")]
    pub fail_on: Vec<Scanner>,
    /// A package repository to compare with, deb=URL or rpm=URL (repeatable)
    #[arg(long, value_name = "KIND=URL")]
    pub repo: Vec<String>,
    /// A PyPI simple index for language updates
    #[arg(long, value_name = "URL")]
    pub pypi: Option<String>,
    /// An npm registry for language updates
    #[arg(long, value_name = "URL")]
    pub npm: Option<String>,
    #[arg(short, long, value_enum, default_value_t)]
    pub output: Output,
}

fn policy_of(args: &ScanArgs) -> Result<Option<ScanPolicy>, CliError> {
    if args.config.is_some() {
        return Ok(None);
    }
    let mut policy = ScanPolicy {
        scanners: (!args.scanner.is_empty()).then(|| args.scanner.clone()),
        fail_on: args.fail_on.clone(),
        indices: LanguageIndices {
            pypi: args.pypi.clone(),
            npm: args.npm.clone(),
        },
        ..ScanPolicy::default()
    };
    for r in &args.repo {
        let (kind, url) = r.split_once('=').ok_or_else(|| {
            CliError::Usage(format!("--repo {r:?}: write it as deb=URL or rpm=URL"))
        })?;
        let kind = match kind {
            "deb" => Ecosystem::Deb,
            "rpm" => Ecosystem::Rpm,
            other => {
                return Err(CliError::Usage(format!(
                    "--repo {r:?}: kind {other:?} is not deb or rpm"
                )));
            }
        };
        policy.repositories.push(PackageRepository {
            kind,
            url: url.to_string(),
        });
    }
    policy
        .check()
        .map_err(|e| CliError::Usage(format!("{e}; see `slipway scan --help`")))?;
    Ok(Some(policy))
}

pub async fn scan(client: &Client, args: ScanArgs) -> Result<(), CliError> {
    let req = ScanRequest {
        reference: args.reference.clone(),
        config: args.config.clone(),
        policy: policy_of(&args)?,
    };
    let bar = crate::spinner(format!("scanning {}", args.reference));
    let result: Result<StoredScan, _> = client.post_json("/scans", &req).await;
    bar.finish_and_clear();
    let stored = result?;
    match args.output {
        Output::Json => print_json(&stored),
        Output::Table => print!("{}", scan_details(&stored)),
    }
    judge(&stored)
}

/// Exit status: a scan that failed its policy, or could not see the image.
fn judge(stored: &StoredScan) -> Result<(), CliError> {
    match stored.report.outcome {
        ScanOutcome::Passed => Ok(()),
        outcome => Err(CliError::ScanDidNotPass {
            id: stored.id,
            outcome,
        }),
    }
}

/// `scans` and `notifications`: the newest records, of one config or all.
#[derive(Debug, Args)]
pub struct RecentArgs {
    /// Only those of this config
    #[arg(long)]
    pub config: Option<String>,
    #[arg(long, default_value_t = 50)]
    pub limit: u32,
    #[arg(short, long, value_enum, default_value_t)]
    pub output: Output,
}

impl RecentArgs {
    /// `base` with the query these arguments ask for.
    fn path(&self, base: &str) -> String {
        let mut path = format!("{base}?limit={}", self.limit);
        if let Some(c) = &self.config {
            path.push_str(&format!("&config={c}"));
        }
        path
    }
}

pub async fn list(client: &Client, args: RecentArgs) -> Result<(), CliError> {
    let scans: Vec<slipway_core::scan::ScanSummary> = client.get_json(&args.path("/scans")).await?;
    match args.output {
        Output::Json => print_json(&scans),
        Output::Table => print!("{}", scan_table(&scans)),
    }
    Ok(())
}

pub async fn notifications(client: &Client, args: RecentArgs) -> Result<(), CliError> {
    let list: Vec<Delivery> = client.get_json(&args.path("/notifications")).await?;
    match args.output {
        Output::Json => print_json(&list),
        Output::Table => {
            let mut out = format!(
                "{:<6} {:<10} {:<8} {:<34} {:<40} LAST ERROR\n",
                "ID", "STATE", "TRIES", "TO", "SUBJECT"
            );
            for d in &list {
                let to = match &d.target.webhook {
                    Some(w) => w.url.clone(),
                    None => d.target.email.join(","),
                };
                let _ = writeln!(
                    out,
                    "{:<6} {:<10} {:<8} {:<34} {:<40} {}",
                    d.id,
                    d.state.as_str(),
                    d.attempts,
                    to,
                    d.message.subject.chars().take(40).collect::<String>(),
                    d.last_error.as_deref().unwrap_or("")
                );
            }
            print!("{out}");
        }
    }
    Ok(())
}

pub async fn rescan(client: &Client, config: &str, output: Output) -> Result<(), CliError> {
    let stored: StoredScan = client
        .post_json(&format!("/configs/{config}/rescan"), &serde_json::json!({}))
        .await?;
    match output {
        Output::Json => print_json(&stored),
        Output::Table => print!("{}", scan_details(&stored)),
    }
    judge(&stored)
}

pub async fn of_build(client: &Client, build: i64, output: Output) -> Result<(), CliError> {
    let scans: Vec<StoredScan> = client.get_json(&format!("/builds/{build}/scans")).await?;
    match output {
        Output::Json => print_json(&scans),
        Output::Table => {
            if scans.is_empty() {
                println!("build {build} has no scans (it did not publish an image)");
            }
            for s in &scans {
                print!("{}", scan_details(s));
            }
        }
    }
    Ok(())
}

/// `show BUILD --sbom [FORMAT]`: the build's SBOMs, or one document.
pub async fn sboms(
    client: &Client,
    build: i64,
    (format, platform): (&str, Option<String>),
    output: Output,
) -> Result<(), CliError> {
    if !format.is_empty() {
        let format: SbomFormat = format.parse().map_err(CliError::Usage)?;
        let mut path = format!("/builds/{build}/sboms/{format}");
        if let Some(p) = &platform {
            path.push_str(&format!("?platform={p}"));
        }
        let doc: serde_json::Value = client.get_json(&path).await?;
        print_json(&doc);
        return Ok(());
    }
    let sboms: Vec<StoredSbom> = client.get_json(&format!("/builds/{build}/sboms")).await?;
    match output {
        Output::Json => print_json(&sboms),
        Output::Table => {
            if sboms.is_empty() {
                println!("build {build} has no SBOMs (they are made when its image is scanned)");
            } else {
                print!("{}", sbom_table(&sboms));
                println!(
                    "print one with `slipway show {build} --sbom FORMAT [--platform P]`; registries list them as referrers of each platform's image"
                );
            }
        }
    }
    Ok(())
}

pub fn sbom_table(sboms: &[StoredSbom]) -> String {
    let mut out = format!(
        "{:<9} {:<10} {:<14} {:<9} {:<32} ARTIFACT\n",
        "PLATFORM", "FORMAT", "SPEC", "PACKAGES", "ARTIFACT TYPE"
    );
    for s in sboms {
        let _ = writeln!(
            out,
            "{:<9} {:<10} {:<14} {:<9} {:<32} {}",
            s.platform,
            s.format.as_str(),
            s.format.spec(),
            s.packages,
            s.artifact_type,
            match (&s.reference, &s.problem) {
                (Some(r), _) => r.clone(),
                (None, Some(p)) => format!("not attached: {p}"),
                (None, None) => "not attached".into(),
            }
        );
    }
    out
}

pub fn scan_table(scans: &[slipway_core::scan::ScanSummary]) -> String {
    let mut out = format!(
        "{:<6} {:<8} {:<8} {:<8} {:<6} {:<20} REFERENCE\n",
        "ID", "REASON", "OUTCOME", "FINDINGS", "BUILD", "CONFIG"
    );
    for s in scans {
        let _ = writeln!(
            out,
            "{:<6} {:<8} {:<8} {:<8} {:<6} {:<20} {}",
            s.id,
            s.reason.as_str(),
            s.outcome.as_str(),
            s.findings,
            s.build.map(|b| b.to_string()).unwrap_or_else(|| "-".into()),
            s.config.as_deref().unwrap_or("-"),
            s.reference
        );
    }
    out
}

pub fn scan_details(s: &StoredScan) -> String {
    let r = &s.report;
    let mut out = format!(
        "scan {} ({}) of {}: {}\n",
        s.id,
        s.reason.as_str(),
        r.reference,
        r.outcome
    );
    if let Some(d) = &r.manifest_digest {
        let _ = writeln!(out, "  manifest:  {d}");
    }
    let _ = writeln!(out, "  at:        {}", s.created_at);
    if let Some(b) = s.build {
        let _ = writeln!(out, "  build:     {b}");
    }
    if let Some(c) = &s.config {
        let _ = writeln!(out, "  config:    {c}");
    }
    let _ = writeln!(
        out,
        "  scanners:  {}",
        r.scanners
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    );
    let _ = writeln!(out, "  packages:  {}", r.inventory.packages.len());
    for scanner in Scanner::ALL {
        let found: Vec<&Finding> = r
            .findings
            .iter()
            .filter(|f| f.scanner() == scanner)
            .collect();
        if found.is_empty() {
            continue;
        }
        let _ = writeln!(out, "  {scanner} ({}):", found.len());
        for f in found {
            let _ = writeln!(out, "    {f}");
        }
    }
    if r.findings.is_empty() && r.outcome == ScanOutcome::Passed {
        let _ = writeln!(out, "  no findings");
    }
    for p in &r.problems {
        let _ = writeln!(out, "  note: {p}");
    }
    out
}
