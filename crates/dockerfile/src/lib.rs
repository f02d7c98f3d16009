//! Dockerfiles: the parser ([`parse`], into the [`ast`]), variable
//! substitution, and what the build pipeline needs before buildah runs: the
//! stages and the external base images, with `ARG` defaults and build args
//! substituted. The linter will grow here (issue 5).
//!
//! Architecture invariant: no I/O; a malformed Dockerfile is an error with a
//! line (and, from the parser, a column), never a panic.

pub mod ast;
pub mod lint;
pub mod parse;
pub mod shell;

pub use ast::{Args, Dockerfile, Instruction, Pos};
pub use parse::{ParseError, parse};

use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DockerfileError {
    #[error("the Dockerfile has no FROM instruction")]
    NoFrom,
    #[error(transparent)]
    Parse(#[from] ParseError),
    #[error("line {line}: {message}")]
    Syntax { line: usize, message: String },
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
    stages_of(&parse(text)?, build_args)
}

/// The `ARG`s declared before the first `FROM`, build args over defaults.
fn global_args(
    doc: &Dockerfile,
    build_args: &BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    let mut global = BTreeMap::new();
    for ins in &doc.instructions {
        let Args::Arg(decls) = &ins.args else {
            break;
        };
        for (name, default) in decls {
            let v = build_args.get(name).cloned().or_else(|| default.clone());
            if let Some(v) = v {
                global.insert(name.clone(), v);
            }
        }
    }
    global
}

fn stages_of(
    doc: &Dockerfile,
    build_args: &BTreeMap<String, String>,
) -> Result<Vec<Stage>, DockerfileError> {
    let global = global_args(doc, build_args);
    let mut out: Vec<Stage> = Vec::new();
    for ins in &doc.instructions {
        match &ins.args {
            Args::Arg(_) if out.is_empty() => {}
            Args::From { image, alias } => {
                let from = substitute(image, &global);
                if from.is_empty() {
                    return Err(DockerfileError::Syntax {
                        line: ins.start.line,
                        message: format!(
                            "FROM {image} is empty after substituting build args; set the build arg"
                        ),
                    });
                }
                out.push(Stage {
                    from,
                    name: alias.clone(),
                    line: ins.start.line,
                });
            }
            _ if out.is_empty() => {
                return Err(DockerfileError::Syntax {
                    line: ins.start.line,
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
/// The ids of the build secrets the Dockerfile's `RUN` steps mount
/// (`--mount=type=secret,id=NAME`, or the file name of `target=` when
/// there is no id, as BuildKit does), sorted, each once.
pub fn secret_ids(text: &str) -> Result<Vec<String>, DockerfileError> {
    let doc = parse(text)?;
    let mut out = std::collections::BTreeSet::new();
    for ins in doc.instructions.iter().filter(|i| i.keyword == "RUN") {
        for flag in ins.flags.iter().filter(|f| f.name == "mount") {
            let fields: BTreeMap<&str, &str> = flag
                .value
                .as_deref()
                .unwrap_or("")
                .split(',')
                .filter_map(|kv| kv.split_once('='))
                .collect();
            if fields.get("type") != Some(&"secret") {
                continue;
            }
            let id = fields.get("id").copied().or_else(|| {
                fields
                    .get("target")
                    .and_then(|t| t.rsplit('/').next())
                    .filter(|n| !n.is_empty())
            });
            if let Some(id) = id {
                out.insert(id.to_string());
            }
        }
    }
    Ok(out.into_iter().collect())
}

pub fn base_images(
    text: &str,
    build_args: &BTreeMap<String, String>,
) -> Result<Vec<String>, DockerfileError> {
    let doc = parse(text)?;
    let stages = stages_of(&doc, build_args)?;
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
    for ins in &doc.instructions {
        if ins.keyword != "COPY" {
            continue;
        }
        if let Some(src) = ins.flag("from") {
            let lower = src.to_ascii_lowercase();
            if !names.contains(&lower)
                && src.parse::<usize>().is_err()
                && !out.iter().any(|o| o == src)
            {
                out.push(src.to_string());
            }
        }
    }
    Ok(out)
}

/// The labels the final stage sets: its own `LABEL`s over those of the
/// earlier stages it builds `FROM`, with `ARG` (build args over defaults)
/// and `ENV` values substituted. Labels inherited from external base images
/// are not included.
pub fn final_labels(
    doc: &Dockerfile,
    build_args: &BTreeMap<String, String>,
) -> Result<BTreeMap<String, String>, DockerfileError> {
    struct StageVars {
        name: Option<String>,
        env: BTreeMap<String, String>,
        labels: BTreeMap<String, String>,
    }
    // The stages, read once: this also refuses a file without FROM, or with
    // anything but ARG before it.
    let stages = stages_of(doc, build_args)?;
    let global = global_args(doc, build_args);
    let mut done: Vec<StageVars> = Vec::new();
    let mut current: Option<(StageVars, BTreeMap<String, String>)> = None;
    for ins in &doc.instructions {
        match (&ins.args, current.as_mut()) {
            (Args::From { alias, .. }, _) => {
                if let Some((s, _)) = current.take() {
                    done.push(s);
                }
                let from = stages
                    .get(done.len())
                    .map(|s| s.from.to_ascii_lowercase())
                    .unwrap_or_default();
                let parent = done
                    .iter()
                    .find(|s| s.name.as_deref() == Some(from.as_str()))
                    .or_else(|| from.parse::<usize>().ok().and_then(|n| done.get(n)));
                let (env, labels) = match parent {
                    Some(p) => (p.env.clone(), p.labels.clone()),
                    None => (BTreeMap::new(), BTreeMap::new()),
                };
                let vars = env.clone();
                current = Some((
                    StageVars {
                        name: alias.clone(),
                        env,
                        labels,
                    },
                    vars,
                ));
            }
            (Args::Arg(decls), Some((_, vars))) => {
                for (name, default) in decls {
                    let v = build_args
                        .get(name)
                        .cloned()
                        .or_else(|| default.as_ref().map(|d| substitute(d, vars)))
                        .or_else(|| global.get(name).cloned());
                    if let Some(v) = v {
                        vars.insert(name.clone(), v);
                    }
                }
            }
            (Args::Pairs(pairs), Some((stage, vars))) if ins.keyword == "ENV" => {
                for (k, v) in pairs {
                    let v = substitute(v, vars);
                    stage.env.insert(k.clone(), v.clone());
                    vars.insert(k.clone(), v);
                }
            }
            (Args::Pairs(pairs), Some((stage, vars))) if ins.keyword == "LABEL" => {
                for (k, v) in pairs {
                    stage
                        .labels
                        .insert(substitute(k, vars), substitute(v, vars));
                }
            }
            _ => {}
        }
    }
    match current {
        Some((s, _)) => Ok(s.labels),
        None => Err(DockerfileError::NoFrom),
    }
}

#[cfg(test)]
mod secret_tests {
    use super::*;

    #[test]
    fn secret_mounts_are_found() {
        let text = "FROM x\nRUN --mount=type=secret,id=tok cat /run/secrets/tok\nRUN --mount=type=secret,target=/root/.netrc --mount=type=cache,target=/c true\nRUN --mount=type=secret,id=tok echo again\nRUN --mount=type=bind,source=a,target=b true\n";
        assert_eq!(secret_ids(text).unwrap(), [".netrc", "tok"]);
        assert!(secret_ids("FROM x\nRUN true\n").unwrap().is_empty());
    }
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
    fn final_labels_follow_stages_and_substitute() {
        let df = "ARG VERSION=1.0\nFROM reg.io/base AS common\nLABEL vendor=Acme name=wrong\nFROM common AS final\nARG VERSION\nENV APP=web\nLABEL name=\"team/$APP\" version=${VERSION} component=$APP-container\nFROM reg.io/other AS unrelated\nLABEL name=x\nFROM final\nLABEL extra=1\n";
        let doc = parse(df).unwrap();
        let l = final_labels(&doc, &BTreeMap::new()).unwrap();
        assert_eq!(l["name"], "team/web");
        assert_eq!(l["version"], "1.0");
        assert_eq!(l["component"], "web-container");
        assert_eq!(l["vendor"], "Acme", "inherited from the stage it builds on");
        assert_eq!(l["extra"], "1");
        let l = final_labels(&doc, &args(&[("VERSION", "2.5")])).unwrap();
        assert_eq!(l["version"], "2.5");
        let l = final_labels(
            &parse("FROM a\nFROM b\nLABEL only=b\n").unwrap(),
            &BTreeMap::new(),
        )
        .unwrap();
        assert_eq!(l.len(), 1);
        assert_eq!(
            final_labels(&parse("# nothing\n").unwrap(), &BTreeMap::new()).unwrap_err(),
            DockerfileError::NoFrom
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
            Err(DockerfileError::Parse(ParseError {
                line: 1,
                column: 6,
                ..
            }))
        ));
        assert!(matches!(
            stages("FROM a\n!!! nonsense\n", &BTreeMap::new()),
            Err(DockerfileError::Parse(ParseError {
                line: 2,
                column: 1,
                ..
            }))
        ));
        assert!(matches!(
            stages("ARG B\nFROM $B\n", &BTreeMap::new()),
            Err(DockerfileError::Syntax { line: 2, .. })
        ));
    }
}
