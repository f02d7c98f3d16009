//! Dockerfile reading.
//!
//! For now this crate knows what the build pipeline needs before buildah runs:
//! the logical lines of a Dockerfile (directives, comments, line
//! continuations with the `escape` character) and the base images its stages
//! start `FROM`, with `ARG` defaults and build args substituted. The full
//! parser and linter will grow here.
//!
//! Architecture invariant: no I/O; a malformed Dockerfile is an error with a
//! line number, never a panic.

pub mod ast;
pub mod parse;

pub use ast::{Args, Dockerfile, Instruction as Node, Pos};
pub use parse::{ParseError, parse};

use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DockerfileError {
    #[error("the Dockerfile has no FROM instruction")]
    NoFrom,
    #[error("line {line}: {message}")]
    Syntax { line: usize, message: String },
}

/// One instruction after joining continuation lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instruction {
    /// Upper-cased keyword (`FROM`, `RUN`…).
    pub keyword: String,
    /// Everything after the keyword, continuations joined with a space.
    pub args: String,
    /// 1-based line where the instruction starts.
    pub line: usize,
}

/// Split a Dockerfile into instructions. Heredoc bodies are skipped.
pub fn instructions(text: &str) -> Result<Vec<Instruction>, DockerfileError> {
    let mut escape = '\\';
    let mut out = Vec::new();
    let mut lines = text.lines().enumerate().peekable();
    // Parser directives: only comment lines at the very top.
    while let Some((_, l)) = lines.peek() {
        let t = l.trim();
        let Some(body) = t.strip_prefix('#') else {
            break;
        };
        let Some((k, v)) = body.split_once('=') else {
            break;
        };
        let key = k.trim().to_ascii_lowercase();
        if key.contains(' ') {
            break;
        }
        if key == "escape" {
            escape = match v.trim() {
                "`" => '`',
                "\\" => '\\',
                other => {
                    return Err(DockerfileError::Syntax {
                        line: lines.peek().map(|(i, _)| i + 1).unwrap_or(1),
                        message: format!("invalid escape directive {other:?}: use \\ or `"),
                    });
                }
            };
        }
        lines.next();
    }
    while let Some((i, raw)) = lines.next() {
        let t = raw.trim();
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        let start = i + 1;
        let mut logical = String::new();
        let mut cur = t.to_string();
        loop {
            if let Some(stripped) = cur.strip_suffix(escape) {
                logical.push_str(stripped.trim_end());
                logical.push(' ');
                // Continuation: skip comment and empty lines inside it.
                let mut next = None;
                for (_, l) in lines.by_ref() {
                    let lt = l.trim();
                    if lt.starts_with('#') || lt.is_empty() {
                        continue;
                    }
                    next = Some(lt.to_string());
                    break;
                }
                match next {
                    Some(n) => cur = n,
                    None => break,
                }
            } else {
                logical.push_str(&cur);
                break;
            }
        }
        let logical = logical.trim().to_string();
        let (kw, args) = match logical.split_once(char::is_whitespace) {
            Some((k, a)) => (k, a.trim()),
            None => (logical.as_str(), ""),
        };
        if !kw.chars().all(|c| c.is_ascii_alphabetic()) {
            return Err(DockerfileError::Syntax {
                line: start,
                message: format!("unknown instruction {kw:?}"),
            });
        }
        let keyword = kw.to_ascii_uppercase();
        // Skip heredoc bodies: `<<EOF`, `<<-EOF`, `<<"EOF"`.
        let heredocs: Vec<String> = args
            .split_whitespace()
            .filter_map(|w| w.strip_prefix("<<"))
            .map(|w| {
                w.trim_start_matches('-')
                    .trim_matches(|c| c == '"' || c == '\'')
            })
            .filter(|w| !w.is_empty() && w.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
            .map(str::to_string)
            .collect();
        for delim in &heredocs {
            let mut closed = false;
            for (_, l) in lines.by_ref() {
                if l.trim() == delim {
                    closed = true;
                    break;
                }
            }
            if !closed {
                return Err(DockerfileError::Syntax {
                    line: start,
                    message: format!("heredoc <<{delim} is never closed"),
                });
            }
        }
        out.push(Instruction {
            keyword,
            args: args.to_string(),
            line: start,
        });
    }
    Ok(out)
}

/// Substitute `$VAR`, `${VAR}`, `${VAR:-default}` and `${VAR:+alt}`.
pub fn substitute(s: &str, vars: &BTreeMap<String, String>) -> String {
    let mut out = String::new();
    let chars: Vec<char> = s.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c != '$' || i + 1 >= chars.len() {
            out.push(c);
            i += 1;
            continue;
        }
        if chars[i + 1] == '{' {
            let Some(end) = chars[i + 2..].iter().position(|&c| c == '}') else {
                out.push(c);
                i += 1;
                continue;
            };
            let inner: String = chars[i + 2..i + 2 + end].iter().collect();
            let value = if let Some((name, default)) = inner.split_once(":-") {
                vars.get(name)
                    .filter(|v| !v.is_empty())
                    .cloned()
                    .unwrap_or_else(|| default.to_string())
            } else if let Some((name, alt)) = inner.split_once(":+") {
                if vars.get(name).is_some_and(|v| !v.is_empty()) {
                    alt.to_string()
                } else {
                    String::new()
                }
            } else {
                vars.get(&inner).cloned().unwrap_or_default()
            };
            out.push_str(&value);
            i += 3 + end;
        } else {
            let starts_name = chars[i + 1].is_ascii_alphabetic() || chars[i + 1] == '_';
            let name: String = chars[i + 1..]
                .iter()
                .take_while(|c| starts_name && (c.is_ascii_alphanumeric() || **c == '_'))
                .collect();
            if name.is_empty() {
                out.push(c);
                i += 1;
            } else {
                out.push_str(vars.get(&name).map(String::as_str).unwrap_or(""));
                i += 1 + name.chars().count();
            }
        }
    }
    out
}

/// A `FROM` line read with its variables substituted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stage {
    /// The image or earlier stage this stage starts from.
    pub from: String,
    /// `AS name`, lower-cased.
    pub name: Option<String>,
    pub line: usize,
}

/// The stages of a Dockerfile. `build_args` override `ARG` defaults declared
/// before the first `FROM`, as in `buildah bud --build-arg`.
pub fn stages(
    text: &str,
    build_args: &BTreeMap<String, String>,
) -> Result<Vec<Stage>, DockerfileError> {
    let mut global: BTreeMap<String, String> = BTreeMap::new();
    let mut out: Vec<Stage> = Vec::new();
    for ins in instructions(text)? {
        match ins.keyword.as_str() {
            "ARG" if out.is_empty() => {
                for decl in ins.args.split_whitespace() {
                    let (name, default) = match decl.split_once('=') {
                        Some((n, d)) => (n, Some(d.trim_matches('"').to_string())),
                        None => (decl, None),
                    };
                    let v = build_args.get(name).cloned().or(default);
                    if let Some(v) = v {
                        global.insert(name.to_string(), v);
                    }
                }
            }
            "FROM" => {
                let words: Vec<&str> = ins
                    .args
                    .split_whitespace()
                    .filter(|w| !w.starts_with("--"))
                    .collect();
                let (image, name) = match words.as_slice() {
                    [img] => (*img, None),
                    [img, as_kw, name] if as_kw.eq_ignore_ascii_case("as") => {
                        (*img, Some(name.to_ascii_lowercase()))
                    }
                    _ => {
                        return Err(DockerfileError::Syntax {
                            line: ins.line,
                            message: format!("FROM expects IMAGE [AS NAME], got {:?}", ins.args),
                        });
                    }
                };
                let from = substitute(image, &global);
                if from.is_empty() {
                    return Err(DockerfileError::Syntax {
                        line: ins.line,
                        message: format!(
                            "FROM {image} is empty after substituting build args; set the build arg"
                        ),
                    });
                }
                out.push(Stage {
                    from,
                    name,
                    line: ins.line,
                });
            }
            _ if out.is_empty() => {
                return Err(DockerfileError::Syntax {
                    line: ins.line,
                    message: format!(
                        "{} before the first FROM (only ARG may come first)",
                        ins.keyword
                    ),
                });
            }
            _ => {}
        }
    }
    if out.is_empty() {
        return Err(DockerfileError::NoFrom);
    }
    Ok(out)
}

/// The external images a build needs: every `FROM` that is neither `scratch`
/// nor an earlier stage, plus `COPY --from=IMAGE` sources, without duplicates.
pub fn base_images(
    text: &str,
    build_args: &BTreeMap<String, String>,
) -> Result<Vec<String>, DockerfileError> {
    let stages = stages(text, build_args)?;
    let mut seen_names: Vec<&str> = Vec::new();
    let mut out: Vec<String> = Vec::new();
    for (idx, s) in stages.iter().enumerate() {
        let is_stage = seen_names.contains(&s.from.to_ascii_lowercase().as_str())
            || s.from.parse::<usize>().is_ok_and(|n| n < idx);
        if !is_stage && !s.from.eq_ignore_ascii_case("scratch") && !out.contains(&s.from) {
            out.push(s.from.clone());
        }
        if let Some(n) = &s.name {
            seen_names.push(n);
        }
    }
    let names: Vec<String> = stages.iter().filter_map(|s| s.name.clone()).collect();
    for ins in instructions(text)? {
        if ins.keyword != "COPY" {
            continue;
        }
        for w in ins.args.split_whitespace() {
            if let Some(src) = w.strip_prefix("--from=") {
                let lower = src.to_ascii_lowercase();
                if !names.contains(&lower)
                    && src.parse::<usize>().is_err()
                    && !out.iter().any(|o| o == src)
                {
                    out.push(src.to_string());
                }
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(kv: &[(&str, &str)]) -> BTreeMap<String, String> {
        kv.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn joins_continuations_and_skips_comments() {
        let ins =
            instructions("# c\nFROM a\nRUN echo 1 \\\n  # inside\n  && echo 2\nENV X=1\n").unwrap();
        assert_eq!(ins.len(), 3);
        assert_eq!(ins[1].keyword, "RUN");
        assert_eq!(ins[1].args, "echo 1 && echo 2");
        assert_eq!(ins[1].line, 3);
        assert_eq!(ins[2].line, 6);
    }

    #[test]
    fn escape_directive() {
        let ins = instructions("# escape=`\nFROM a\nRUN dir `\n  c:\\\n").unwrap();
        assert_eq!(ins[1].args, "dir c:\\");
    }

    #[test]
    fn heredoc_bodies_are_skipped() {
        let ins = instructions("FROM a\nRUN <<EOF\nFROM not-an-instruction\nEOF\nCMD x\n").unwrap();
        assert_eq!(
            ins.iter().map(|i| i.keyword.as_str()).collect::<Vec<_>>(),
            ["FROM", "RUN", "CMD"]
        );
        let e = instructions("FROM a\nRUN <<EOF\necho\n").unwrap_err();
        assert_eq!(
            e,
            DockerfileError::Syntax {
                line: 2,
                message: "heredoc <<EOF is never closed".into()
            }
        );
    }

    #[test]
    fn substitution_forms() {
        let v = args(&[("A", "x"), ("E", "")]);
        assert_eq!(
            substitute("$A/${A}/${B:-d}/${A:+alt}/${B:+alt}/${E:-e}", &v),
            "x/x/d/alt//e"
        );
        assert_eq!(substitute("cost $5", &v), "cost $5");
    }

    #[test]
    fn base_images_skip_stages_and_scratch() {
        let df = "ARG BASE=reg.io/base:1\nFROM $BASE AS build\nRUN make\nFROM scratch\nCOPY --from=build /a /a\nFROM build\nCOPY --from=reg.io/tools:2 /t /t\n";
        assert_eq!(
            base_images(df, &BTreeMap::new()).unwrap(),
            ["reg.io/base:1", "reg.io/tools:2"]
        );
        assert_eq!(
            base_images(df, &args(&[("BASE", "other.io/b:2")])).unwrap(),
            ["other.io/b:2", "reg.io/tools:2"]
        );
    }

    #[test]
    fn from_with_platform_flag() {
        let s = stages(
            "FROM --platform=linux/amd64 reg.io/a AS One\n",
            &BTreeMap::new(),
        )
        .unwrap();
        assert_eq!(s[0].from, "reg.io/a");
        assert_eq!(s[0].name.as_deref(), Some("one"));
    }

    #[test]
    fn errors_have_line_numbers() {
        assert_eq!(
            stages("RUN x\n", &BTreeMap::new()).unwrap_err().to_string(),
            "line 1: RUN before the first FROM (only ARG may come first)"
        );
        assert_eq!(
            stages("# just a comment\n", &BTreeMap::new()).unwrap_err(),
            DockerfileError::NoFrom
        );
        assert!(matches!(
            stages("FROM a b c d\n", &BTreeMap::new()),
            Err(DockerfileError::Syntax { line: 1, .. })
        ));
        assert!(matches!(
            instructions("FROM a\n!!! nonsense\n"),
            Err(DockerfileError::Syntax { line: 2, .. })
        ));
        assert!(matches!(
            stages("ARG B\nFROM $B\n", &BTreeMap::new()),
            Err(DockerfileError::Syntax { line: 2, .. })
        ));
    }
}
