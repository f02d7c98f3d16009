//! The linter: hadolint's rules (same IDs, meanings and default
//! severities) on the parsed Dockerfile, its `.hadolint.yaml` keys, its
//! inline pragmas and its output formats.
//!
//! Pragmas: `# hadolint ignore=DL3006,DL3008` on the line(s) right before an
//! instruction silences those rules for that instruction;
//! `# hadolint global ignore=DL3059` silences them for the whole file.
//! The commands inside `RUN` are read with [`crate::shell`].

pub mod config;
pub mod format;
pub mod rules;
pub mod shellcheck;

pub use config::{LintConfig, LintConfigError};
pub use shellcheck::{ShellCheck, ShellCheckComment};

use crate::ast::Dockerfile;
use serde::{Deserialize, Serialize};
use std::collections::HashSet;

/// hadolint's severities, most severe first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
    Info,
    Style,
    /// Reported nowhere (a rule whose severity was overridden to `ignore`).
    Ignore,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Info => "info",
            Severity::Style => "style",
            Severity::Ignore => "ignore",
        }
    }

    pub fn parse(s: &str) -> Option<Severity> {
        match s.to_ascii_lowercase().as_str() {
            "error" => Some(Severity::Error),
            "warning" => Some(Severity::Warning),
            "info" => Some(Severity::Info),
            "style" => Some(Severity::Style),
            "ignore" | "none" => Some(Severity::Ignore),
            _ => None,
        }
    }
}

/// One finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    pub code: String,
    pub level: Severity,
    pub message: String,
    pub line: usize,
    pub column: usize,
}

/// Lint a parsed Dockerfile with `config`: rules, then overrides, `ignored`,
/// and pragmas. Findings come sorted by line, then code. No ShellCheck
/// findings: [`lint_with`] has them.
pub fn lint(doc: &Dockerfile, config: &LintConfig) -> Vec<Finding> {
    finish(doc, config, rules::check(doc, config))
}

/// [`lint`] plus ShellCheck's findings on the RUN scripts (as hadolint
/// reports them: at most one per RUN), and why ShellCheck could not run
/// when it could not (the other findings are there all the same).
pub fn lint_with(
    doc: &Dockerfile,
    config: &LintConfig,
    checker: &dyn ShellCheck,
) -> (Vec<Finding>, Option<String>) {
    let mut found = rules::check(doc, config);
    let scripts = shellcheck::scripts(doc);
    let texts: Vec<String> = scripts.iter().map(|s| s.text.clone()).collect();
    let skipped = match checker.check(&texts) {
        Ok(results) => {
            for (script, comments) in scripts.iter().zip(&results) {
                if let Some(c) = shellcheck::finding(comments) {
                    found.push(Finding {
                        code: format!("SC{}", c.code),
                        level: c.level,
                        message: c.message.clone(),
                        line: script.line,
                        column: 1,
                    });
                }
            }
            None
        }
        Err(e) => Some(e),
    };
    (finish(doc, config, found), skipped)
}

fn finish(doc: &Dockerfile, config: &LintConfig, found: Vec<Finding>) -> Vec<Finding> {
    let pragmas = Pragmas::read(doc, config.disable_ignore_pragma);
    let mut out: Vec<Finding> = found
        .into_iter()
        .filter_map(|mut f| {
            if config.ignored.iter().any(|c| c == &f.code) || pragmas.silences(&f) {
                return None;
            }
            if let Some(level) = config.severity_override(&f.code) {
                f.level = level;
            }
            (f.level != Severity::Ignore).then_some(f)
        })
        .collect();
    out.sort_by(|a, b| (a.line, &a.code, a.column).cmp(&(b.line, &b.code, b.column)));
    out
}

/// A Dockerfile BuildKit refuses although it parses: nothing in it, or no
/// FROM. As DL1000 (a parse error), with BuildKit's words.
pub fn structure_error(doc: &Dockerfile) -> Option<Finding> {
    let message = if doc.instructions.is_empty() {
        "file with no instructions"
    } else if !doc.instructions.iter().any(|i| i.keyword == "FROM") {
        "no build stage in current context"
    } else {
        return None;
    };
    Some(Finding {
        code: "DL1000".into(),
        level: Severity::Error,
        message: message.into(),
        line: doc.instructions.first().map_or(1, |i| i.start.line),
        column: 1,
    })
}

/// Whether `findings` should fail: any at or above `threshold`.
pub fn fails(findings: &[Finding], threshold: Severity) -> bool {
    threshold != Severity::Ignore && findings.iter().any(|f| f.level <= threshold)
}

/// An ignore pragma's codes, as hadolint reads it: the whole comment is
/// `hadolint [global] ignore=CODE[,CODE…]` (spaces allowed around `=` and
/// `,`; codes made of `DLSC0-9`). `(global, codes)`.
pub(crate) fn pragma_codes(comment: &str) -> Option<(bool, HashSet<String>)> {
    let rest = comment
        .trim_start_matches([' ', '\t'])
        .strip_prefix("hadolint")?;
    if !rest.starts_with([' ', '\t']) {
        return None;
    }
    let rest = rest.trim_start_matches([' ', '\t']);
    let (global, rest) = match rest.strip_prefix("global") {
        Some(r) if r.starts_with([' ', '\t']) => (true, r.trim_start_matches([' ', '\t'])),
        _ => (false, rest),
    };
    let list = rest
        .strip_prefix("ignore")?
        .trim_start_matches([' ', '\t'])
        .strip_prefix('=')?;
    let codes: Vec<&str> = list
        .trim_end()
        .split(',')
        .map(|c| c.trim_matches([' ', '\t']))
        .collect();
    let valid = |c: &&str| !c.is_empty() && c.chars().all(|ch| "DLSC0123456789".contains(ch));
    codes
        .iter()
        .all(valid)
        .then(|| (global, codes.iter().map(|c| c.to_string()).collect()))
}

/// The ignore pragmas of one file.
struct Pragmas {
    global: HashSet<String>,
    /// (line, codes) for `# hadolint ignore=` comments: the line below each.
    local: Vec<(usize, HashSet<String>)>,
}

impl Pragmas {
    fn read(doc: &Dockerfile, disabled: bool) -> Pragmas {
        let mut p = Pragmas {
            global: HashSet::new(),
            local: Vec::new(),
        };
        if disabled {
            return p;
        }
        for c in &doc.comments {
            let Some((global, codes)) = pragma_codes(&c.text) else {
                continue;
            };
            if global {
                p.global.extend(codes);
            } else {
                // The pragma covers the findings of the line right below it.
                p.local.push((c.line + 1, codes));
            }
        }
        p
    }

    fn silences(&self, f: &Finding) -> bool {
        self.global.contains(&f.code)
            || self
                .local
                .iter()
                .any(|(line, codes)| *line == f.line && codes.contains(&f.code))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse;

    fn codes(text: &str, config: &LintConfig) -> Vec<String> {
        lint(&parse(text).unwrap(), config)
            .into_iter()
            .map(|f| f.code)
            .collect()
    }

    #[test]
    fn pragmas_silence_the_next_instruction_or_the_file() {
        let c = LintConfig::default();
        assert_eq!(
            codes("FROM debian\nMAINTAINER me\n", &c),
            ["DL3006", "DL4000"]
        );
        assert_eq!(
            codes("# hadolint ignore=DL3006\nFROM debian\nMAINTAINER me\n", &c),
            ["DL4000"]
        );
        assert_eq!(
            codes(
                "FROM debian:12\n# hadolint ignore=DL4000 , DL3006\nMAINTAINER me\n",
                &c
            ),
            Vec::<String>::new()
        );
        // As in hadolint, only the line right below: another comment in
        // between, or text after the codes, and the pragma covers nothing.
        assert_eq!(
            codes(
                "FROM debian:12\n# hadolint ignore=DL4000\n# another comment\nMAINTAINER me\n",
                &c
            ),
            ["DL4000"]
        );
        assert_eq!(
            codes(
                "FROM debian:12\n# hadolint ignore=DL4000 why\nMAINTAINER me\n",
                &c
            ),
            ["DL4000"]
        );
        // Not directly above: no effect.
        assert_eq!(
            codes(
                "# hadolint ignore=DL4000\nFROM debian:12\nMAINTAINER me\n",
                &c
            ),
            ["DL4000"]
        );
        assert_eq!(
            codes(
                "FROM debian\n# hadolint global ignore=DL3006,DL4000\nMAINTAINER me\n",
                &c
            ),
            Vec::<String>::new()
        );
        let off = LintConfig {
            disable_ignore_pragma: true,
            ..Default::default()
        };
        assert_eq!(
            codes("# hadolint ignore=DL3006\nFROM debian\n", &off),
            ["DL3006"]
        );
    }

    #[test]
    fn thresholds() {
        let f = |level| Finding {
            code: "X".into(),
            level,
            message: String::new(),
            line: 1,
            column: 1,
        };
        assert!(fails(&[f(Severity::Error)], Severity::Error));
        assert!(!fails(&[f(Severity::Warning)], Severity::Error));
        assert!(fails(&[f(Severity::Warning)], Severity::Info));
        assert!(fails(&[f(Severity::Style)], Severity::Style));
        assert!(!fails(&[f(Severity::Error)], Severity::Ignore));
    }
}
