//! Client commands for automatic rebuilds: apply, configs, start, graph,
//! waves, import-cccp.

use crate::client::{Client, ClientError};
use crate::{CliError, Output, print_json};
use clap::ValueEnum;
use slipway_core::api::{
    ApplyRequest, ApplyResponse, ConfigStatus, GraphView, StartRequest, TriggerResponse,
};
use slipway_core::rebuild::cccp::{self, IndexSource};
use slipway_core::rebuild::image_config::{ImageConfig, parse_configs};
use slipway_core::rebuild::{MemberState, Wave};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum GraphOutput {
    #[default]
    Table,
    Json,
    Dot,
}

/// The YAML files of `path`: the file itself, or every `*.yaml`/`*.yml`
/// directly in the directory, by name.
fn yaml_files(path: &Path) -> Result<Vec<PathBuf>, CliError> {
    let meta = std::fs::metadata(path)
        .map_err(|e| CliError::Usage(format!("cannot read {}: {e}", path.display())))?;
    if meta.is_file() {
        return Ok(vec![path.to_path_buf()]);
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(path)
        .map_err(|e| CliError::Usage(format!("cannot list {}: {e}", path.display())))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && p.extension().is_some_and(|x| x == "yaml" || x == "yml"))
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(CliError::Usage(format!(
            "{} has no .yaml files; pass a config file or a directory of them",
            path.display()
        )));
    }
    Ok(files)
}

/// Read configs from files, resolving `secret_env` from this environment.
pub fn read_configs(path: &Path) -> Result<Vec<ImageConfig>, CliError> {
    let mut out = Vec::new();
    for f in yaml_files(path)? {
        let text = std::fs::read_to_string(&f)
            .map_err(|e| CliError::Usage(format!("cannot read {}: {e}", f.display())))?;
        let configs =
            parse_configs(&text).map_err(|e| CliError::Usage(format!("{}: {e}", f.display())))?;
        out.extend(configs);
    }
    for c in &mut out {
        c.resolve_secrets(&|var| std::env::var(var).ok())
            .map_err(|(field, var)| {
                CliError::Usage(format!(
                    "config {}: the environment variable {var} ({field}) is not set; set it and run apply again",
                    c.name
                ))
            })?;
    }
    Ok(out)
}

pub async fn apply(
    client: &Client,
    configs: Vec<ImageConfig>,
    prune: bool,
    output: Output,
) -> Result<(), CliError> {
    let r: ApplyResponse = client
        .post_json("/configs/apply", &ApplyRequest { configs, prune })
        .await?;
    match output {
        Output::Json => print_json(&r),
        Output::Table => {
            for (names, what) in [
                (&r.created, "created"),
                (&r.updated, "updated"),
                (&r.unchanged, "unchanged"),
                (&r.deleted, "deleted"),
            ] {
                for n in names {
                    println!("config {n} {what}");
                }
            }
        }
    }
    Ok(())
}

fn triggers_of(c: &ImageConfig) -> String {
    let t = &c.triggers;
    let mut v = Vec::new();
    if t.webhook.is_some() {
        v.push("webhook".to_string());
    }
    if let Some(p) = &t.poll {
        v.push(format!("poll {p}"));
    }
    if let Some(s) = &t.schedule {
        v.push(format!("cron {} {}", s.cron, s.timezone));
    }
    if t.parent {
        v.push("parent".into());
    }
    if v.is_empty() {
        "manual".into()
    } else {
        v.join(", ")
    }
}

pub fn config_table(configs: &[ConfigStatus]) -> String {
    let mut out = format!(
        "{:<28} {:<40} {:<10} {:<24} {:<14} {}\n",
        "NAME", "OUTPUT", "BRANCH", "PARENTS", "LAST BUILD", "TRIGGERS"
    );
    for c in configs {
        let last = match (c.last_build, c.last_phase) {
            (Some(id), Some(p)) => format!("{id} {p}"),
            _ => "-".into(),
        };
        let parents = if c.parents.is_empty() {
            "-".into()
        } else {
            c.parents.join(",")
        };
        let _ = writeln!(
            out,
            "{:<28} {:<40} {:<10} {:<24} {:<14} {}",
            c.config.name,
            c.config.output,
            c.config.source.branch,
            parents,
            last,
            triggers_of(&c.config)
        );
    }
    out
}

pub fn config_details(c: &ConfigStatus) -> String {
    let mut out = String::new();
    let cfg = &c.config;
    let _ = writeln!(out, "config {}", cfg.name);
    let _ = writeln!(
        out,
        "  source:     {} ({})",
        cfg.source.url, cfg.source.branch
    );
    let _ = writeln!(out, "  output:     {}", cfg.output);
    let _ = writeln!(out, "  run policy: {}", cfg.run_policy.as_str());
    let _ = writeln!(out, "  triggers:   {}", triggers_of(cfg));
    if let Some(w) = &c.webhook_path {
        let _ = writeln!(out, "  webhook:    {w}");
    }
    if let Some(at) = c.next_poll_at {
        let seen = c.poll_head.as_deref().unwrap_or("nothing yet");
        let _ = writeln!(out, "  polling:    saw {seen}; next at {at}");
    }
    if let Some(at) = c.next_schedule_at {
        let _ = writeln!(out, "  schedule:   next at {at}");
    }
    let _ = writeln!(out, "  FROM:       {}", c.base_images.join(", "));
    let _ = writeln!(out, "  parents:    {}", c.parents.join(", "));
    let _ = writeln!(out, "  children:   {}", c.children.join(", "));
    if let (Some(id), Some(p)) = (c.last_build, c.last_phase) {
        let _ = writeln!(out, "  last build: {id} ({p})");
    }
    if !c.events.is_empty() {
        let _ = writeln!(out, "  events:");
        for e in &c.events {
            let build = e.build.map(|b| format!(" [build {b}]")).unwrap_or_default();
            let _ = writeln!(out, "    {} {}{build}", e.at, e.message);
        }
    }
    out
}

/// How `slipway start` waits.
#[derive(Debug, Clone, Copy, Default)]
pub struct Waiting {
    /// Until the config's build ends (exit code says how).
    pub wait: bool,
    /// Printing its log.
    pub follow: bool,
    /// Ctrl-C leaves it running.
    pub detach: bool,
}

pub async fn start(
    client: &Client,
    config: &str,
    force: bool,
    how: Waiting,
    output: Output,
) -> Result<(), CliError> {
    let r: TriggerResponse = client
        .post_json(&format!("/configs/{config}/start"), &StartRequest { force })
        .await?;
    if !how.wait {
        match output {
            Output::Json => print_json(&r),
            Output::Table => println!(
                "config {config} joins wave {}; follow it with `slipway waves {}`",
                r.wave, r.wave
            ),
        }
        return Ok(());
    }
    // The config's build in its wave, once the wave makes it; a member
    // that ends without one was skipped (nothing changed) or blocked.
    let bar = crate::spinner(format!("config {config}: wave {} gathering", r.wave));
    let id = loop {
        let w: Wave = client.get_json(&format!("/waves/{}", r.wave)).await?;
        let Some(m) = w.members.iter().find(|m| m.config == config) else {
            bar.finish_and_clear();
            return Err(CliError::Usage(format!(
                "config {config} is not in wave {}; see `slipway waves {}`",
                r.wave, r.wave
            )));
        };
        if let Some(id) = m.build {
            break id;
        }
        if m.state.is_terminal() {
            bar.finish_and_clear();
            let state = m.state.as_str();
            if output == Output::Json {
                print_json(
                    &serde_json::json!({ "wave": r.wave, "config": config, "state": state }),
                );
            } else {
                println!("config {config}: {state} in wave {} (no build)", r.wave);
            }
            return match m.state {
                slipway_core::rebuild::MemberState::Skipped => Ok(()),
                _ => Err(CliError::Usage(format!(
                    "config {config} was {state} in wave {}; see `slipway waves {}`",
                    r.wave, r.wave
                ))),
            };
        }
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    };
    let json = output == Output::Json;
    crate::builds::follow_until_ended(client, id, &bar, how.follow, how.detach, json).await?;
    let b: slipway_core::Build = client.get_json(&format!("/builds/{id}")).await?;
    if json {
        print_json(&b);
    } else {
        println!(
            "build {id} of {config}: {}{}",
            b.phase.as_str().to_lowercase(),
            b.image
                .as_ref()
                .map(|i| format!(" {}", i.reference))
                .unwrap_or_default()
        );
    }
    crate::builds::report_end(&b)
}

/// The newest build of `config`, for `slipway logs CONFIG`.
pub async fn newest_build(client: &Client, config: &str) -> Result<i64, CliError> {
    let list: Vec<slipway_core::api::BuildSummary> = client
        .get_json(&format!(
            "/builds?limit=1&{}",
            form_urlencoded::Serializer::new(String::new())
                .append_pair("config", config)
                .finish()
        ))
        .await
        .map_err(|e| match e {
            ClientError::Api { status: 400, .. } => CliError::Usage(format!(
                "{config:?} is neither a build id nor a config name"
            )),
            e => e.into(),
        })?;
    list.first().map(|b| b.id).ok_or_else(|| {
        CliError::Usage(format!(
            "{config:?} is no build id, and no config of that name has a build: `slipway configs` lists them, `slipway builds` the builds"
        ))
    })
}

pub fn graph_table(g: &GraphView) -> String {
    let mut out = String::new();
    for n in &g.nodes {
        let indent = "  ".repeat(n.level.saturating_sub(1));
        let parents = if n.parents.is_empty() {
            String::new()
        } else {
            format!("  ← {}", n.parents.join(", "))
        };
        let _ = writeln!(out, "{indent}{} ({}){parents}", n.name, n.output);
    }
    out
}

pub fn wave_table(waves: &[Wave]) -> String {
    let mut out = format!(
        "{:<6} {:<10} {:<8} {:<6} {:<8} {:<8} {}\n",
        "WAVE", "STATE", "CONFIGS", "DONE", "FAILED", "SKIPPED", "CREATED"
    );
    for w in waves {
        let done = w.members.iter().filter(|m| m.state.is_terminal()).count();
        let failed = w
            .members
            .iter()
            .filter(|m| matches!(m.state, MemberState::Failed | MemberState::Blocked))
            .count();
        let skipped = w
            .members
            .iter()
            .filter(|m| m.state == MemberState::Skipped)
            .count();
        let _ = writeln!(
            out,
            "{:<6} {:<10} {:<8} {:<6} {:<8} {:<8} {}",
            w.id,
            w.state.as_str(),
            w.members.len(),
            done,
            failed,
            skipped,
            w.created_at
        );
    }
    out
}

pub fn wave_details(w: &Wave) -> String {
    let done = w.members.iter().filter(|m| m.state.is_terminal()).count();
    let mut out = format!(
        "wave {} {} ({done}/{} finished)\n",
        w.id,
        w.state.as_str(),
        w.members.len()
    );
    let _ = writeln!(out, "  {:<28} {:<20} {:<7} WHY", "CONFIG", "STATE", "BUILD");
    for m in &w.members {
        let why = match (&m.trigger, &m.reason) {
            (_, Some(r)) => r.clone(),
            (Some(t), None) => t.to_string(),
            (None, None) => "parent rebuilt".into(),
        };
        let _ = writeln!(
            out,
            "  {:<28} {:<20} {:<7} {why}",
            m.config,
            m.state.as_str(),
            m.build.map(|b| b.to_string()).unwrap_or_else(|| "-".into())
        );
    }
    out
}

/// Read a container-index directory (`index.d/*.yaml`, or the directory
/// holding `index.d`).
pub fn import_cccp(dir: &Path, registry: Option<&str>) -> Result<cccp::Imported, CliError> {
    let index = if dir.join("index.d").is_dir() {
        dir.join("index.d")
    } else {
        dir.to_path_buf()
    };
    let files = yaml_files(&index)?;
    let mut texts = Vec::new();
    for f in &files {
        let text = std::fs::read_to_string(f)
            .map_err(|e| CliError::Usage(format!("cannot read {}: {e}", f.display())))?;
        texts.push((f.display().to_string(), text));
    }
    let sources: Vec<IndexSource<'_>> = texts
        .iter()
        .map(|(file, text)| IndexSource { file, text })
        .collect();
    cccp::import(&sources, registry)
        .map_err(|e| CliError::Usage(format!("{e}; fix the index and import again")))
}

/// The configs as one YAML stream (documents separated by `---`).
pub fn configs_yaml(configs: &[ImageConfig]) -> Result<String, CliError> {
    let mut out = String::new();
    for c in configs {
        let doc = serde_saphyr::to_string(c)
            .map_err(|e| CliError::Usage(format!("cannot write config {}: {e}", c.name)))?;
        out.push_str("---\n");
        out.push_str(&doc);
    }
    Ok(out)
}

/// Configs asked for per request.
const CONFIG_PAGE: usize = 1000;

/// `slipway configs [NAME]`.
pub async fn configs(
    client: &Client,
    name: Option<String>,
    output: Output,
) -> Result<(), CliError> {
    match name {
        None => {
            // Page by page (by name), to the end.
            let mut configs: Vec<ConfigStatus> = Vec::new();
            loop {
                let path = match configs.last() {
                    None => format!("/configs?limit={CONFIG_PAGE}"),
                    Some(c) => format!(
                        "/configs?limit={CONFIG_PAGE}&after={}",
                        slipway_core::scan::inventory::percent_encode(&c.config.name)
                    ),
                };
                let page: Vec<ConfigStatus> = client.get_json(&path).await?;
                let full = page.len() == CONFIG_PAGE;
                configs.extend(page);
                if !full {
                    break;
                }
            }
            match output {
                Output::Json => print_json(&configs),
                Output::Table => print!("{}", config_table(&configs)),
            }
        }
        Some(name) => {
            let c: ConfigStatus = client.get_json(&format!("/configs/{name}")).await?;
            match output {
                Output::Json => print_json(&c),
                Output::Table => print!("{}", config_details(&c)),
            }
        }
    }
    Ok(())
}

/// `slipway graph [--config C]`.
pub async fn graph(
    client: &Client,
    config: Option<String>,
    output: GraphOutput,
) -> Result<(), CliError> {
    let path = match &config {
        Some(c) => format!(
            "/graph?{}",
            form_urlencoded::Serializer::new(String::new())
                .append_pair("config", c)
                .finish()
        ),
        None => "/graph".to_string(),
    };
    let g: GraphView = client.get_json(&path).await?;
    match output {
        GraphOutput::Json => print_json(&g),
        GraphOutput::Dot => print!("{}", g.to_dot()),
        GraphOutput::Table => print!("{}", graph_table(&g)),
    }
    Ok(())
}

/// `slipway waves [WAVE]`.
pub async fn waves(
    client: &Client,
    wave: Option<i64>,
    limit: u32,
    output: Output,
) -> Result<(), CliError> {
    match wave {
        Some(id) => {
            let w: Wave = client.get_json(&format!("/waves/{id}")).await?;
            match output {
                Output::Json => print_json(&w),
                Output::Table => print!("{}", wave_details(&w)),
            }
        }
        None => {
            let w: Vec<Wave> = client.get_json(&format!("/waves?limit={limit}")).await?;
            match output {
                Output::Json => print_json(&w),
                Output::Table => print!("{}", wave_table(&w)),
            }
        }
    }
    Ok(())
}
