//! `slipway lint [FILE...]`: hadolint's rules, formats and config, with no
//! server. Exit status 1 when a finding reaches the failure threshold (or a
//! file cannot be read or parsed). ShellCheck's findings come from the
//! `shellcheck` program when it is installed (one run for all the files);
//! without it a one-line note says they were skipped.

use crate::CliError;
use clap::{Args, ValueEnum};
use slipway_dockerfile::lint::{
    Finding, LintConfig, Severity, ShellCheck, ShellCheckComment, fails, format, lint_with,
    shellcheck, structure_error,
};
use std::collections::HashMap;
use std::path::PathBuf;

/// ShellCheck's answers, worked out for every file in one run.
struct Answers(HashMap<String, Vec<ShellCheckComment>>);

impl ShellCheck for Answers {
    fn check(&self, scripts: &[String]) -> Result<Vec<Vec<ShellCheckComment>>, String> {
        Ok(scripts
            .iter()
            .map(|s| self.0.get(s).cloned().unwrap_or_default())
            .collect())
    }
}

/// ShellCheck over every script of `docs` in one run, or why it did not run.
fn shellcheck_all<'a>(
    docs: impl Iterator<Item = &'a slipway_dockerfile::Dockerfile>,
) -> Result<Answers, String> {
    let mut program = slipway_shellcheck::Program::find().ok_or(
        "shellcheck is not installed, so ShellCheck (SC) checks were skipped; install it (apt-get install shellcheck) to have them",
    )?;
    // Answers for scripts seen before, in the user's cache directory.
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")));
    if let Some(dir) = cache {
        program = program.with_cache(dir.join("slipway/shellcheck"));
    }
    let mut scripts: Vec<String> = docs.flat_map(shellcheck::scripts).map(|s| s.text).collect();
    scripts.sort_unstable();
    scripts.dedup();
    let results = program
        .check(&scripts)
        .map_err(|e| format!("ShellCheck (SC) checks were skipped: {e}"))?;
    Ok(Answers(scripts.into_iter().zip(results).collect()))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum LintFormat {
    #[default]
    Tty,
    Json,
    Sarif,
}

#[derive(Debug, Args)]
pub struct LintArgs {
    /// Dockerfiles to lint [default: ./Dockerfile]
    pub files: Vec<PathBuf>,
    /// Output format
    #[arg(short, long, value_enum, default_value_t)]
    pub format: LintFormat,
    /// hadolint config file [default: ./.hadolint.yaml when it exists]
    #[arg(short, long)]
    pub config: Option<PathBuf>,
    /// Fail on findings at or above this level: error, warning, info, style, ignore/none
    #[arg(short = 't', long)]
    pub failure_threshold: Option<String>,
    /// A rule to skip (repeatable)
    #[arg(long = "ignore", value_name = "CODE")]
    pub ignore: Vec<String>,
    /// Report only: exit 0 whatever the findings (also `no-fail: true` in the config)
    #[arg(long)]
    pub no_fail: bool,
}

/// Lint; `Ok(true)` when the findings pass the threshold.
pub fn run(args: LintArgs) -> Result<bool, CliError> {
    let mut config = match &args.config {
        Some(p) => read_config(p)?,
        None => {
            let default = PathBuf::from(".hadolint.yaml");
            if default.exists() {
                read_config(&default)?
            } else {
                LintConfig::default()
            }
        }
    };
    if let Some(t) = &args.failure_threshold {
        config.failure_threshold = Severity::parse(t).ok_or_else(|| {
            CliError::Usage(format!(
                "--failure-threshold {t:?}: use error, warning, info, style, ignore or none"
            ))
        })?;
    }
    config.ignored.extend(args.ignore.iter().cloned());
    config.no_fail |= args.no_fail;
    let files = if args.files.is_empty() {
        vec![PathBuf::from("Dockerfile")]
    } else {
        args.files
    };
    let mut parsed = Vec::new();
    for f in &files {
        let name = f.display().to_string();
        let text = std::fs::read_to_string(f).map_err(|e| {
            CliError::Usage(format!(
                "cannot read {name}: {e}; name an existing Dockerfile"
            ))
        })?;
        parsed.push((name, slipway_dockerfile::parse(&text)));
    }
    let answers = shellcheck_all(parsed.iter().filter_map(|(_, d)| d.as_ref().ok()));
    let answers = answers.unwrap_or_else(|note| {
        eprintln!("note: {note}");
        Answers(HashMap::new())
    });
    let mut results: Vec<(String, Vec<Finding>)> = Vec::new();
    let mut broken = false;
    for (name, doc) in parsed {
        let findings = match doc {
            Ok(doc) => {
                // What BuildKit refuses, then what hadolint says of it.
                let refused = structure_error(&doc);
                broken |= refused.is_some();
                let mut all: Vec<Finding> = refused.into_iter().collect();
                all.extend(lint_with(&doc, &config, &answers).0);
                all
            }
            Err(e) => {
                broken = true;
                vec![Finding {
                    code: "DL1000".into(),
                    level: Severity::Error,
                    message: e.message.clone(),
                    line: e.line,
                    column: e.column,
                }]
            }
        };
        results.push((name, findings));
    }
    match args.format {
        LintFormat::Tty => {
            for (file, findings) in &results {
                print!("{}", format::tty(file, findings));
            }
        }
        LintFormat::Json => println!("{}", format::json(&results)),
        LintFormat::Sarif => println!(
            "{}",
            serde_json::to_string_pretty(&format::sarif(&results)).unwrap_or_default()
        ),
    }
    let all: Vec<Finding> = results.into_iter().flat_map(|(_, f)| f).collect();
    Ok(config.no_fail || (!broken && !fails(&all, config.failure_threshold)))
}

fn read_config(p: &std::path::Path) -> Result<LintConfig, CliError> {
    let text = std::fs::read_to_string(p)
        .map_err(|e| CliError::Usage(format!("cannot read {}: {e}", p.display())))?;
    LintConfig::parse(&text)
        .map_err(|e| CliError::Usage(format!("{}: {e}; fix the key it names", p.display())))
}
