//! ShellCheck's findings on `RUN` scripts, the way hadolint 2.15 gets them:
//! which RUNs are checked, the script handed over (a shebang from the
//! stage's `SHELL`, the ARG and ENV names exported so they count as
//! assigned) and how ShellCheck's comments become findings (one per RUN,
//! at the RUN's line). Running ShellCheck is not done here (no I/O in this
//! crate): a [`ShellCheck`] does it, `slipway-shellcheck` with the
//! `shellcheck` program.

use super::Severity;
use crate::ast::{Args, Dockerfile, Instruction};
use std::collections::BTreeSet;

/// One ShellCheck comment on a script.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShellCheckComment {
    pub line: usize,
    pub column: usize,
    pub level: Severity,
    /// `2086` for SC2086.
    pub code: u32,
    pub message: String,
}

/// Something that runs ShellCheck.
pub trait ShellCheck {
    /// The comments on each script (with its `#!` line), in order, or why
    /// ShellCheck could not run.
    fn check(&self, scripts: &[String]) -> Result<Vec<Vec<ShellCheckComment>>, String>;
}

/// The codes hadolint leaves out (ash's `SC2187`, and sourced files, which
/// a Dockerfile's script cannot see).
pub const EXCLUDED: [&str; 3] = ["SC2187", "SC1090", "SC1091"];

/// A RUN to check: the line findings go to and the script.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Script {
    pub line: usize,
    pub text: String,
}

/// The shell and variables of one stage (hadolint's `ShellOpts`).
#[derive(Clone)]
struct Opts {
    shell: String,
    vars: BTreeSet<String>,
}

impl Default for Opts {
    fn default() -> Opts {
        Opts {
            shell: "/bin/sh -c".into(),
            vars: [
                "HTTP_PROXY",
                "http_proxy",
                "HTTPS_PROXY",
                "https_proxy",
                "FTP_PROXY",
                "ftp_proxy",
                "NO_PROXY",
                "no_proxy",
            ]
            .into_iter()
            .map(String::from)
            .collect(),
        }
    }
}

/// The scripts of `doc` ShellCheck should see: the file's RUNs, then the
/// RUNs inside ONBUILD (on their own, as hadolint does).
pub fn scripts(doc: &Dockerfile) -> Vec<Script> {
    let mut out = Vec::new();
    let top: Vec<(&Instruction, usize)> =
        doc.instructions.iter().map(|i| (i, i.start.line)).collect();
    walk(doc, &top, true, &mut out);
    let onbuild: Vec<(&Instruction, usize)> = doc
        .instructions
        .iter()
        .filter_map(|i| match &i.args {
            Args::Onbuild(inner) => Some((&**inner, i.start.line)),
            _ => None,
        })
        .collect();
    walk(doc, &onbuild, false, &mut out);
    out
}

fn walk(doc: &Dockerfile, ins: &[(&Instruction, usize)], pragmas: bool, out: &mut Vec<Script>) {
    let mut default = Opts::default();
    let mut opts = default.clone();
    let mut stages: Vec<(Option<String>, Opts)> = Vec::new();
    let mut touched = false;
    let mut comments = doc.comments.iter().peekable();
    for (i, line) in ins {
        // `# hadolint shell=…` above this instruction.
        while pragmas && let Some(c) = comments.next_if(|c| c.line < i.start.line) {
            if let Some(shell) = c.text.strip_prefix("hadolint shell=") {
                if !touched {
                    default.shell = shell.to_string();
                }
                opts.shell = shell.to_string();
            }
        }
        match (i.keyword.as_str(), &i.args) {
            ("FROM", Args::From { image, .. }) => {
                touched = true;
                if let Some(last) = stages.last_mut() {
                    last.1 = opts.clone();
                }
                let inherited = stages
                    .iter()
                    .find(|(alias, _)| alias.as_deref() == Some(image.as_str()))
                    .map(|(_, o)| o.clone());
                opts = inherited.unwrap_or_else(|| default.clone());
                stages.push((super::rules::from_alias(i), opts.clone()));
            }
            ("ARG", Args::Arg(decls)) => {
                touched = true;
                opts.vars.extend(decls.iter().map(|(k, _)| k.clone()));
                opts.shell = "/bin/sh -c".into();
            }
            ("ENV", Args::Pairs(pairs)) => {
                touched = true;
                opts.vars.extend(pairs.iter().map(|(k, _)| k.clone()));
                opts.shell = "/bin/sh -c".into();
            }
            ("SHELL", args) => {
                touched = true;
                opts.shell = match args {
                    Args::Exec(w) => w.join(" "),
                    Args::Shell(s) => s.clone(),
                    _ => opts.shell.clone(),
                };
            }
            ("RUN", Args::Shell(_)) => {
                let Some(text) = super::rules::run_script(i) else {
                    continue;
                };
                if ["pwsh", "powershell", "cmd"]
                    .iter()
                    .any(|s| opts.shell.contains(s))
                    || foreign_shebang(&text)
                {
                    continue;
                }
                let interpreter = opts.shell.split_whitespace().next().unwrap_or("/bin/sh");
                let mut script = format!("#!{interpreter}\n");
                // hadolint exports every ARG and ENV name. Each line costs
                // ShellCheck time, and a name can change what ShellCheck
                // says only when the script uses it or a word close to it
                // (SC2154's "did you mean 'VERSION'?"): only those.
                let words = words_of(&text);
                for v in opts.vars.iter().filter(|v| near_any(v, &words)) {
                    script.push_str(&format!("export {v}=1\n"));
                }
                script.push_str(&text);
                out.push(Script {
                    line: *line,
                    text: script,
                });
            }
            _ => {}
        }
    }
}

/// The identifier-like words of a script, lower-cased.
fn words_of(text: &str) -> BTreeSet<String> {
    text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|w| !w.is_empty())
        .map(str::to_ascii_lowercase)
        .collect()
}

/// Whether `name` (any case) is within two edits of one of `words`
/// (ShellCheck suggests names up to two edits away).
fn near_any(name: &str, words: &BTreeSet<String>) -> bool {
    let name = name.to_ascii_lowercase();
    words.contains(&name)
        || words
            .iter()
            .filter(|w| w.len().abs_diff(name.len()) <= 2)
            .any(|w| edit_distance(w.as_bytes(), name.as_bytes()) <= 2)
}

/// Optimal string alignment distance (insert, delete, substitute, swap
/// two neighbours).
fn edit_distance(a: &[u8], b: &[u8]) -> usize {
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut v = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                v = v.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = v;
        }
    }
    d[a.len()][b.len()]
}

/// A script of its own interpreter that ShellCheck does not read.
fn foreign_shebang(text: &str) -> bool {
    let t = text.trim_start();
    t.starts_with("#!")
        && ![
            "#!/bin/sh",
            "#!/bin/bash",
            "#!/bin/ksh",
            "#!/usr/bin/env sh",
            "#!/usr/bin/env bash",
            "#!/usr/bin/env ksh",
        ]
        .iter()
        .any(|p| t.starts_with(p))
}

/// The finding hadolint keeps of a script's comments: only one, the last
/// in ShellCheck's order (line, column, severity, code, message).
pub fn finding(comments: &[ShellCheckComment]) -> Option<&ShellCheckComment> {
    let rank = |s: Severity| match s {
        Severity::Error => 0,
        Severity::Warning => 1,
        Severity::Info => 2,
        _ => 3,
    };
    comments.iter().max_by(|a, b| {
        (a.line, a.column, rank(a.level), a.code, &a.message).cmp(&(
            b.line,
            b.column,
            rank(b.level),
            b.code,
            &b.message,
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(df: &str) -> Vec<String> {
        scripts(&crate::parse(df).unwrap())
            .into_iter()
            .map(|s| s.text)
            .collect()
    }

    #[test]
    fn scripts_carry_the_stage_shell_and_variables() {
        // Only the names the script uses or comes within two edits of
        // (`$versoin` may be "did you mean 'VERSION'?"; NO_PROXY is far).
        let t = texts("FROM a:1\nARG V\nARG VERSION\nRUN echo $V $http_proxy $versoin\n");
        assert_eq!(
            t[0],
            "#!/bin/sh\nexport FTP_PROXY=1\nexport HTTPS_PROXY=1\nexport HTTP_PROXY=1\nexport V=1\nexport VERSION=1\nexport ftp_proxy=1\nexport http_proxy=1\nexport https_proxy=1\necho $V $http_proxy $versoin"
        );
        // SHELL sets the interpreter; a later ENV puts /bin/sh back.
        let t = texts("FROM a:1\nSHELL [\"/bin/bash\", \"-c\"]\nRUN echo 1\nENV A=1\nRUN echo 2\n");
        assert!(t[0].starts_with("#!/bin/bash\n") && t[1].starts_with("#!/bin/sh\n"));
        // PowerShell, exec form and other interpreters are not checked.
        assert!(texts("FROM a:1\nSHELL [\"pwsh\", \"-c\"]\nRUN echo 1\n").is_empty());
        assert!(texts("FROM a:1\nRUN [\"echo\", \"1\"]\n").is_empty());
        // A stage built on another keeps its shell.
        let t = texts("FROM a:1 AS base\nSHELL [\"/bin/bash\", \"-c\"]\nFROM base\nRUN echo 1\n");
        assert!(t[0].starts_with("#!/bin/bash\n"));
        let t = texts("# hadolint shell=/bin/bash\nFROM a:1\nRUN echo 1\n");
        assert!(t[0].starts_with("#!/bin/bash\n"));
    }

    #[test]
    fn only_the_last_comment_counts() {
        let c = |line, column, code| ShellCheckComment {
            line,
            column,
            level: Severity::Info,
            code,
            message: String::new(),
        };
        let all = [c(12, 1, 2164), c(12, 9, 2086), c(11, 30, 2046)];
        assert_eq!(finding(&all).map(|c| c.code), Some(2086));
    }
}
