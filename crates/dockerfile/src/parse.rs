//! The Dockerfile parser: text → [`Dockerfile`], or an error with a line
//! and column. It never panics: every index it takes comes from a search
//! in the same string, and the property test feeds it arbitrary input.
//!
//! What it follows (BuildKit's frontend): parser directives only at the very
//! top; comment and empty lines inside continuations are dropped; a line
//! ending in the escape character continues; JSON arrays that do not parse
//! fall back to the shell form; heredocs (`<<EOF`, `<<-EOF`, `<<"EOF"`)
//! in `RUN`, `COPY` and `ADD` take the following lines up to the delimiter;
//! flags come before the arguments and each instruction accepts its own.

use crate::ast::{Args, Comment, Directive, Dockerfile, Flag, Heredoc, Instruction, Pos};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}, column {column}: {message}")]
pub struct ParseError {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

/// An EXPOSE port: `80`, `8000-8010`, either with `/tcp`, `/udp` or
/// `/sctp`, or anything with a variable in it (BuildKit refuses the rest).
fn port_spec(p: &str) -> bool {
    if p.contains('$') {
        return true;
    }
    let (ports, proto) = match p.split_once('/') {
        Some((a, b)) => (a, Some(b)),
        None => (p, None),
    };
    let number = |n: &str| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit());
    let ports_ok = match ports.split_once('-') {
        Some((a, b)) => number(a) && number(b),
        None => number(ports),
    };
    ports_ok
        && proto.is_none_or(|x| ["tcp", "udp", "sctp"].contains(&x.to_ascii_lowercase().as_str()))
}

fn err(pos: Pos, message: impl Into<String>) -> ParseError {
    ParseError {
        line: pos.line,
        column: pos.column,
        message: message.into(),
    }
}

const KEYWORDS: &[&str] = &[
    "ADD",
    "ARG",
    "CMD",
    "COPY",
    "ENTRYPOINT",
    "ENV",
    "EXPOSE",
    "FROM",
    "HEALTHCHECK",
    "LABEL",
    "MAINTAINER",
    "ONBUILD",
    "RUN",
    "SHELL",
    "STOPSIGNAL",
    "USER",
    "VOLUME",
    "WORKDIR",
];

/// The flags each instruction takes; `true` when the flag may stand alone.
fn allowed_flags(keyword: &str) -> &'static [(&'static str, bool)] {
    match keyword {
        "FROM" => &[("platform", false)],
        "RUN" => &[("mount", false), ("network", false), ("security", false)],
        "COPY" => &[
            ("from", false),
            ("chown", false),
            ("chmod", false),
            ("link", true),
            ("parents", true),
            ("exclude", false),
        ],
        "ADD" => &[
            ("chown", false),
            ("chmod", false),
            ("link", true),
            ("checksum", false),
            ("keep-git-dir", true),
            ("exclude", false),
        ],
        "HEALTHCHECK" => &[
            ("interval", false),
            ("timeout", false),
            ("start-period", false),
            ("start-interval", false),
            ("retries", false),
        ],
        _ => &[],
    }
}

/// One instruction's text with continuations joined, and where each piece
/// of it came from, so any offset maps back to a line and column.
struct Logical {
    text: String,
    /// (offset in `text`, line, 0-based column of that offset).
    pieces: Vec<(usize, usize, usize)>,
}

impl Logical {
    fn pos(&self, offset: usize) -> Pos {
        let (start, line, col0) = self
            .pieces
            .iter()
            .rev()
            .find(|(o, _, _)| *o <= offset)
            .copied()
            .unwrap_or((0, 1, 0));
        let chars = self
            .text
            .get(start..offset.min(self.text.len()))
            .map_or(0, |s| s.chars().count());
        Pos {
            line,
            column: col0 + chars + 1,
        }
    }
}

pub fn parse(text: &str) -> Result<Dockerfile, ParseError> {
    let lines: Vec<&str> = text
        .split('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .collect();
    let mut doc = Dockerfile {
        escape: '\\',
        ..Default::default()
    };
    let mut i = 0;

    // Parser directives: `# name=value` lines at the very top.
    while i < lines.len() {
        let t = lines[i].trim();
        let Some((name, value)) = t
            .strip_prefix('#')
            .and_then(|body| body.split_once('='))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim()))
        else {
            break;
        };
        if !matches!(name.as_str(), "syntax" | "escape" | "check") {
            break;
        }
        let pos = Pos {
            line: i + 1,
            column: lines[i].len() - lines[i].trim_start().len() + 1,
        };
        if doc.directives.iter().any(|d| d.name == name) {
            return Err(err(pos, format!("the {name} directive is given twice")));
        }
        if name == "escape" {
            doc.escape = match value {
                "\\" => '\\',
                "`" => '`',
                other => {
                    return Err(err(
                        pos,
                        format!("invalid escape directive {other:?}: use \\ or `"),
                    ));
                }
            };
        }
        doc.directives.push(Directive {
            name,
            value: value.to_string(),
            line: i + 1,
        });
        i += 1;
    }

    while i < lines.len() {
        let raw = lines[i];
        let t = raw.trim_start();
        if t.trim().is_empty() {
            i += 1;
            continue;
        }
        if let Some(c) = t.strip_prefix('#') {
            doc.comments.push(Comment {
                text: c.trim().to_string(),
                line: i + 1,
            });
            i += 1;
            continue;
        }
        let (logical, next) = join_continuations(&lines, i, doc.escape, &mut doc.comments);
        i = next;
        let mut ins = parse_instruction(&logical, 0, doc.escape)?;
        // Heredoc bodies follow the instruction's last line.
        for h in &mut ins.heredocs {
            let mut body = String::new();
            let mut closed = false;
            while i < lines.len() {
                let l = lines[i];
                i += 1;
                let content = if h.strip_tabs {
                    l.trim_start_matches('\t')
                } else {
                    l
                };
                if content == h.delimiter {
                    closed = true;
                    break;
                }
                body.push_str(content);
                body.push('\n');
            }
            if !closed {
                return Err(err(
                    Pos {
                        line: h.line,
                        column: 1,
                    },
                    format!(
                        "heredoc <<{0} is never closed; end it with a line holding only {0}",
                        h.delimiter
                    ),
                ));
            }
            h.body = body;
            ins.end_line = i;
        }
        doc.instructions.push(ins);
    }
    Ok(doc)
}

/// Join an instruction's continuation lines, starting at line index `i`.
/// Returns the joined text and the index of the first line after it.
fn join_continuations(
    lines: &[&str],
    mut i: usize,
    escape: char,
    comments: &mut Vec<Comment>,
) -> (Logical, usize) {
    let mut text = String::new();
    let mut pieces = Vec::new();
    let first = lines[i];
    let indent = first.len() - first.trim_start().len();
    let mut cur = &first[indent..];
    let mut col0 = first[..indent].chars().count();
    loop {
        let trimmed = cur.trim_end();
        pieces.push((text.len(), i + 1, col0));
        // An escape at the end continues the line, an escaped escape
        // (`\\`) does not: an odd number of them at the end.
        let trailing = trimmed.chars().rev().take_while(|c| *c == escape).count();
        let continued = trailing % 2 == 1;
        match trimmed.strip_suffix(escape).filter(|_| continued) {
            Some(head) => {
                text.push_str(head);
                i += 1;
                // Comment and empty lines inside a continuation are dropped.
                while i < lines.len() {
                    let lt = lines[i].trim_start();
                    if let Some(c) = lt.strip_prefix('#') {
                        comments.push(Comment {
                            text: c.trim().to_string(),
                            line: i + 1,
                        });
                    } else if !lt.trim().is_empty() {
                        break;
                    }
                    i += 1;
                }
                if i >= lines.len() {
                    return (Logical { text, pieces }, i);
                }
                cur = lines[i];
                col0 = 0;
            }
            None => {
                text.push_str(cur);
                return (Logical { text, pieces }, i + 1);
            }
        }
    }
}

/// Parse the instruction in `l.text[from..]`.
fn parse_instruction(l: &Logical, from: usize, escape: char) -> Result<Instruction, ParseError> {
    let text = &l.text[from..];
    let kw_len = text.find(char::is_whitespace).unwrap_or(text.len());
    let word = &text[..kw_len];
    let start = l.pos(from);
    let keyword = word.to_ascii_uppercase();
    if !KEYWORDS.contains(&keyword.as_str()) {
        return Err(err(start, format!("unknown instruction {word:?}")));
    }
    let mut off = from + kw_len;
    off += ws_len(&l.text[off..]);

    // Flags.
    let allowed = allowed_flags(&keyword);
    let mut flags = Vec::new();
    while !allowed.is_empty() && l.text[off..].starts_with("--") {
        let tok_len = l.text[off..]
            .find(char::is_whitespace)
            .unwrap_or(l.text.len() - off);
        let tok = &l.text[off + 2..off + tok_len];
        let pos = l.pos(off);
        let (name, value, written) = match tok.split_once('=') {
            Some((n, v)) => (n, Some(unquote(v)), Some(v.to_string())),
            None => (tok, None, None),
        };
        let Some((_, bare_ok)) = allowed.iter().find(|(n, _)| *n == name) else {
            let names: Vec<String> = allowed.iter().map(|(n, _)| format!("--{n}")).collect();
            return Err(err(
                pos,
                format!(
                    "unknown flag --{name} for {keyword}; it takes {}",
                    names.join(", ")
                ),
            ));
        };
        if value.is_none() && !bare_ok {
            return Err(err(pos, format!("--{name} needs a value: --{name}=VALUE")));
        }
        flags.push(Flag {
            name: name.to_string(),
            value,
            written,
            pos,
        });
        off += tok_len;
        off += ws_len(&l.text[off..]);
    }

    let rest = l.text[off..].trim_end();
    let end_line = l.pieces.last().map_or(start.line, |p| p.1);
    if rest.is_empty() {
        return Err(err(
            start,
            format!("{keyword} requires at least one argument"),
        ));
    }
    let heredocs = if matches!(keyword.as_str(), "RUN" | "COPY" | "ADD") {
        find_heredocs(l, off)
    } else {
        Vec::new()
    };
    let args = match keyword.as_str() {
        "RUN" | "CMD" | "ENTRYPOINT" => command(rest),
        "SHELL" => match json_array(rest) {
            Some(v) if !v.is_empty() => Args::Exec(v),
            _ => {
                return Err(err(
                    l.pos(off),
                    "SHELL takes a JSON array, e.g. SHELL [\"/bin/bash\", \"-c\"]",
                ));
            }
        },
        "FROM" => {
            let words = words(l, off, escape)?;
            match words.as_slice() {
                [image] => Args::From {
                    image: image.clone(),
                    alias: None,
                },
                [image, as_kw, alias] if as_kw.eq_ignore_ascii_case("as") => {
                    if !valid_stage_name(alias) {
                        return Err(err(
                            l.pos(off),
                            format!(
                                "invalid stage name {alias:?}: use letters, digits, '-', '_' and '.', starting with a letter"
                            ),
                        ));
                    }
                    Args::From {
                        image: image.clone(),
                        alias: Some(alias.to_ascii_lowercase()),
                    }
                }
                _ => {
                    return Err(err(
                        l.pos(off),
                        format!("FROM takes IMAGE [AS NAME], got {rest:?}"),
                    ));
                }
            }
        }
        "COPY" | "ADD" => {
            let (items, json) = match json_array(rest) {
                Some(v) => (v, true),
                None => (words(l, off, escape)?, false),
            };
            // A heredoc marker (`<<EOF`) counts as a source.
            if items.len() < 2 {
                return Err(err(
                    l.pos(off),
                    format!("{keyword} needs at least one source and a destination"),
                ));
            }
            let mut items = items;
            let dest = items.pop().unwrap_or_default();
            Args::Copy {
                sources: items,
                dest,
                json,
            }
        }
        "ENV" | "LABEL" => Args::Pairs(pairs(l, off, escape, &keyword)?),
        "ARG" => {
            let mut out = Vec::new();
            for w in words(l, off, escape)? {
                let (name, default) = match w.split_once('=') {
                    Some((n, d)) => (n.to_string(), Some(d.to_string())),
                    None => (w.clone(), None),
                };
                if !valid_var_name(&name) {
                    return Err(err(
                        l.pos(off),
                        format!("invalid ARG name {name:?}: use letters, digits and _"),
                    ));
                }
                out.push((name, default));
            }
            Args::Arg(out)
        }
        "HEALTHCHECK" => {
            let first_len = rest.find(char::is_whitespace).unwrap_or(rest.len());
            let first = &rest[..first_len];
            if first.eq_ignore_ascii_case("NONE") {
                if rest.len() > first_len || !flags.is_empty() {
                    return Err(err(l.pos(off), "HEALTHCHECK NONE takes no other arguments"));
                }
                Args::Healthcheck(None)
            } else if first.eq_ignore_ascii_case("CMD") {
                let cmd = rest[first_len..].trim();
                if cmd.is_empty() {
                    return Err(err(l.pos(off), "HEALTHCHECK CMD needs a command"));
                }
                Args::Healthcheck(Some(Box::new(command(cmd))))
            } else {
                return Err(err(
                    l.pos(off),
                    format!("HEALTHCHECK takes NONE or CMD …, got {first:?}"),
                ));
            }
        }
        // `ONBUILD FROM|ONBUILD|MAINTAINER` parses; the linter reports it
        // (DL3043) and the builder refuses it.
        "ONBUILD" => Args::Onbuild(Box::new(parse_instruction(l, off, escape)?)),
        "VOLUME" => match json_array(rest) {
            Some(v) => Args::Words(v),
            None => Args::Words(words(l, off, escape)?),
        },
        "EXPOSE" => {
            let ports = words(l, off, escape)?;
            if let Some(bad) = ports.iter().find(|p| !port_spec(p)) {
                return Err(err(
                    l.pos(off),
                    format!(
                        "EXPOSE {bad}: give a port (80), a range (8000-8010) or a variable, optionally with /tcp, /udp or /sctp"
                    ),
                ));
            }
            Args::Words(ports)
        }
        // USER, WORKDIR, STOPSIGNAL, MAINTAINER.
        _ => Args::Words(words(l, off, escape)?),
    };
    Ok(Instruction {
        keyword,
        flags,
        args,
        heredocs,
        start,
        end_line,
        raw: rest.to_string(),
    })
}

fn ws_len(s: &str) -> usize {
    s.len() - s.trim_start().len()
}

/// Shell form, or exec form when the text is a JSON array of strings.
fn command(rest: &str) -> Args {
    match json_array(rest) {
        Some(v) => Args::Exec(v),
        None => Args::Shell(rest.to_string()),
    }
}

fn json_array(s: &str) -> Option<Vec<String>> {
    let t = s.trim();
    if !t.starts_with('[') {
        return None;
    }
    serde_json::from_str::<Vec<String>>(t).ok()
}

fn unquote(v: &str) -> String {
    for q in ['"', '\''] {
        if v.len() >= 2 && v.starts_with(q) && v.ends_with(q) {
            return v[1..v.len() - 1].to_string();
        }
    }
    v.to_string()
}

pub(crate) fn valid_var_name(n: &str) -> bool {
    !n.is_empty()
        && !n.starts_with(|c: char| c.is_ascii_digit())
        && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn valid_stage_name(n: &str) -> bool {
    n.starts_with(|c: char| c.is_ascii_alphabetic())
        && n.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// Split `l.text[off..]` into words: whitespace separates, quotes group
/// (and are removed), the escape character protects the next character.
fn words(l: &Logical, off: usize, escape: char) -> Result<Vec<String>, ParseError> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut quote: Option<(char, usize)> = None;
    let mut chars = l.text[off..].char_indices().peekable();
    while let Some((idx, c)) = chars.next() {
        match quote {
            Some((q, _)) if c == q => quote = None,
            Some(('"', _)) if c == escape => {
                if let Some(&(_, n)) = chars.peek() {
                    if n == '"' || n == escape {
                        cur.push(n);
                        chars.next();
                    } else {
                        cur.push(c);
                    }
                }
            }
            Some(_) => cur.push(c),
            None if c == '"' || c == '\'' => {
                quote = Some((c, off + idx));
                in_word = true;
            }
            None if c == escape => {
                in_word = true;
                match chars.next() {
                    Some((_, n)) => cur.push(n),
                    None => cur.push(c),
                }
            }
            None if c.is_whitespace() => {
                if in_word {
                    out.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            None => {
                cur.push(c);
                in_word = true;
            }
        }
    }
    if let Some((q, at)) = quote {
        return Err(err(l.pos(at), format!("unterminated {q} quote")));
    }
    if in_word {
        out.push(cur);
    }
    Ok(out)
}

/// `ENV`/`LABEL` pairs: `k=v k2="v 2"`, or the legacy `ENV key value …`.
fn pairs(
    l: &Logical,
    off: usize,
    escape: char,
    keyword: &str,
) -> Result<Vec<(String, String)>, ParseError> {
    let ws = words(l, off, escape)?;
    let first_raw = l.text[off..].split_whitespace().next().unwrap_or("");
    if !first_raw.contains('=') {
        // Legacy form: the first word is the key, the rest is the value.
        let key = ws.first().cloned().unwrap_or_default();
        let value = l.text[off + first_raw.len()..].trim().to_string();
        if value.is_empty() {
            return Err(err(
                l.pos(off),
                format!("{keyword} {key} has no value; write {keyword} {key}=VALUE"),
            ));
        }
        return Ok(vec![(key, unquote(&value))]);
    }
    let mut out = Vec::new();
    for w in ws {
        match w.split_once('=') {
            Some((k, v)) if !k.is_empty() => out.push((k.to_string(), v.to_string())),
            _ => {
                return Err(err(
                    l.pos(off),
                    format!("{keyword} expects KEY=VALUE pairs, got {w:?}"),
                ));
            }
        }
    }
    Ok(out)
}

/// Heredoc markers in `l.text[off..]`, outside quotes: `<<EOF`, `<<-EOF`,
/// `<<"EOF"`, `<<'EOF'` (not `<<<`).
fn find_heredocs(l: &Logical, off: usize) -> Vec<Heredoc> {
    let s = &l.text[off..];
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut quote: Option<u8> = None;
    let mut k = 0;
    while k < b.len() {
        let c = b[k];
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if c == b'"' || c == b'\'' => quote = Some(c),
            None if c == b'<' && b.get(k + 1) == Some(&b'<') && b.get(k + 2) != Some(&b'<') => {
                let mut j = k + 2;
                let strip_tabs = b.get(j) == Some(&b'-');
                if strip_tabs {
                    j += 1;
                }
                let q = b.get(j).copied().filter(|c| *c == b'"' || *c == b'\'');
                if q.is_some() {
                    j += 1;
                }
                let name_start = j;
                while j < b.len() && (b[j].is_ascii_alphanumeric() || b[j] == b'_') {
                    j += 1;
                }
                let closes = match q {
                    Some(q) => b.get(j) == Some(&q),
                    None => true,
                };
                if j > name_start && closes {
                    out.push(Heredoc {
                        delimiter: s[name_start..j].to_string(),
                        strip_tabs,
                        quoted: q.is_some(),
                        body: String::new(),
                        line: l.pos(off + k).line,
                    });
                    k = j + usize::from(q.is_some());
                    continue;
                }
            }
            None => {}
        }
        k += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(text: &str) -> Instruction {
        let d = parse(text).unwrap();
        assert_eq!(d.instructions.len(), 1, "{d:?}");
        d.instructions.into_iter().next().unwrap()
    }

    fn error(text: &str) -> ParseError {
        parse(text).unwrap_err()
    }

    #[test]
    fn directives_only_at_the_top() {
        let d = parse("# syntax=docker/dockerfile:1\n# escape=`\nFROM a\n# escape=\\\n").unwrap();
        assert_eq!(d.directives.len(), 2);
        assert_eq!(d.directives[0].name, "syntax");
        assert_eq!(d.directives[0].value, "docker/dockerfile:1");
        assert_eq!(d.escape, '`');
        assert_eq!(d.comments.len(), 1, "a directive after FROM is a comment");
        // An empty line ends the directives.
        let d = parse("\n# escape=`\nFROM a\n").unwrap();
        assert_eq!(d.escape, '\\');
        let e = error("# escape=x\nFROM a\n");
        assert_eq!((e.line, e.column), (1, 1));
        assert!(e.message.contains("invalid escape"));
        assert!(
            error("# syntax=a\n# syntax=b\nFROM a\n")
                .message
                .contains("twice")
        );
    }

    #[test]
    fn continuations_comments_and_positions() {
        let d = parse("FROM a\n  RUN echo 1 \\\n  # dropped\n\n    && echo 2\nENV X=1\n").unwrap();
        let run = &d.instructions[1];
        assert_eq!(run.keyword, "RUN");
        assert_eq!(run.start, Pos { line: 2, column: 3 });
        assert_eq!(run.end_line, 5);
        assert_eq!(run.args, Args::Shell("echo 1     && echo 2".into()));
        assert_eq!(d.comments[0].text, "dropped");
        assert_eq!(d.instructions[2].start.line, 6);
        // The escape directive changes the continuation character.
        let d = parse("# escape=`\nFROM a\nRUN dir `\n  c:\\\n").unwrap();
        assert_eq!(d.instructions[1].args, Args::Shell("dir   c:\\".into()));
        // An escaped escape at the end is not a continuation (BuildKit).
        let d = parse("FROM a\nENV C trailing\\\\backslash\\\\\nRUN true\n").unwrap();
        assert_eq!(d.instructions.len(), 3);
        assert_eq!(d.instructions[2].keyword, "RUN");
        // Ports EXPOSE can take.
        assert!(parse("FROM a\nEXPOSE 80 8000-8010/udp ${P}/tcp\n").is_ok());
        let e = parse("FROM a\nEXPOSE http\n").unwrap_err();
        assert_eq!((e.line, e.message.contains("EXPOSE http")), (2, true));
    }

    #[test]
    fn shell_and_exec_forms() {
        assert_eq!(
            one("CMD [\"nginx\", \"-g\", \"daemon off;\"]").args,
            Args::Exec(vec!["nginx".into(), "-g".into(), "daemon off;".into()])
        );
        assert_eq!(
            one("CMD nginx -g 'daemon off;'").args,
            Args::Shell("nginx -g 'daemon off;'".into())
        );
        // Invalid JSON falls back to the shell form, as in Docker.
        assert_eq!(
            one("ENTRYPOINT [\"a\", b]").args,
            Args::Shell("[\"a\", b]".into())
        );
        assert_eq!(
            one("SHELL [\"/bin/bash\", \"-o\", \"pipefail\", \"-c\"]").args,
            Args::Exec(vec![
                "/bin/bash".into(),
                "-o".into(),
                "pipefail".into(),
                "-c".into()
            ])
        );
        assert!(error("SHELL /bin/bash -c").message.contains("JSON array"));
    }

    #[test]
    fn from_forms_and_flags() {
        let i = one("FROM --platform=$BUILDPLATFORM golang:1.22 AS Build");
        assert_eq!(i.flag("platform"), Some("$BUILDPLATFORM"));
        assert_eq!(
            i.args,
            Args::From {
                image: "golang:1.22".into(),
                alias: Some("build".into())
            }
        );
        let e = error("FROM a b");
        assert_eq!((e.line, e.column), (1, 6));
        assert!(error("FROM a AS 1x").message.contains("invalid stage name"));
        let e = error("FROM --plattform=x a");
        assert_eq!((e.line, e.column), (1, 6));
        assert!(
            e.message
                .contains("unknown flag --plattform for FROM; it takes --platform")
        );
    }

    #[test]
    fn copy_and_add() {
        let i = one("COPY --from=build --chown=app:app --chmod=0755 --link a b /dst/");
        assert_eq!(i.flag("from"), Some("build"));
        assert_eq!(i.flag("chown"), Some("app:app"));
        assert_eq!(i.flag("chmod"), Some("0755"));
        assert!(i.has_flag("link"));
        assert_eq!(
            i.args,
            Args::Copy {
                sources: vec!["a".into(), "b".into()],
                dest: "/dst/".into(),
                json: false
            }
        );
        assert_eq!(
            one("COPY [\"a b\", \"/c d/\"]").args,
            Args::Copy {
                sources: vec!["a b".into()],
                dest: "/c d/".into(),
                json: true
            }
        );
        assert!(one("ADD --checksum=sha256:abc https://x/y /y").has_flag("checksum"));
        assert!(
            error("COPY onlyone")
                .message
                .contains("at least one source and a destination")
        );
        assert!(
            error("COPY --from /a /b")
                .message
                .contains("--from needs a value")
        );
        assert!(
            error("ADD --from=x a b")
                .message
                .contains("unknown flag --from for ADD")
        );
    }

    #[test]
    fn run_flags() {
        let i = one("RUN --mount=type=cache,target=/root/.cache --network=none pip install x");
        assert_eq!(i.flag("mount"), Some("type=cache,target=/root/.cache"));
        assert_eq!(i.flag("network"), Some("none"));
        assert_eq!(i.args, Args::Shell("pip install x".into()));
    }

    #[test]
    fn heredocs() {
        let d = parse("FROM a\nRUN <<EOF\nset -e\nFROM not-an-instruction\nEOF\nCMD x\n").unwrap();
        let run = &d.instructions[1];
        assert_eq!(run.heredocs.len(), 1);
        assert_eq!(run.heredocs[0].body, "set -e\nFROM not-an-instruction\n");
        assert_eq!(run.end_line, 5);
        assert_eq!(d.instructions[2].keyword, "CMD");

        let d = parse("FROM a\nRUN <<-\"EOT\" cat > /x\n\t\tindented $HOME\n\tEOT\n").unwrap();
        let h = &d.instructions[1].heredocs[0];
        assert!(h.strip_tabs && h.quoted);
        assert_eq!(h.body, "indented $HOME\n");

        let d = parse("FROM a\nCOPY <<one <<'two' /dest/\n1\none\n2\ntwo\n").unwrap();
        let c = &d.instructions[1];
        assert_eq!(c.heredocs.len(), 2);
        assert_eq!(c.heredocs[1].body, "2\n");

        // `<<<` is a here-string, not a heredoc; quoted `<<` is text.
        assert!(one("RUN cat <<< hi").heredocs.is_empty());
        assert!(one("RUN echo '<<EOF'").heredocs.is_empty());

        let e = error("FROM a\nRUN <<EOF\necho\n");
        assert_eq!(e.line, 2);
        assert!(e.message.contains("<<EOF is never closed"));
    }

    #[test]
    fn env_label_arg() {
        assert_eq!(
            one("ENV A=1 B=\"two words\" C=three\\ words D='$x'").args,
            Args::Pairs(vec![
                ("A".into(), "1".into()),
                ("B".into(), "two words".into()),
                ("C".into(), "three words".into()),
                ("D".into(), "$x".into()),
            ])
        );
        assert_eq!(
            one("ENV PATH /usr/local/bin:$PATH").args,
            Args::Pairs(vec![("PATH".into(), "/usr/local/bin:$PATH".into())])
        );
        assert_eq!(
            one("LABEL \"com.example.vendor\"=\"ACME\" version=1.0").args,
            Args::Pairs(vec![
                ("com.example.vendor".into(), "ACME".into()),
                ("version".into(), "1.0".into())
            ])
        );
        assert_eq!(
            one("ARG VERSION=1.2 TARGETARCH").args,
            Args::Arg(vec![
                ("VERSION".into(), Some("1.2".into())),
                ("TARGETARCH".into(), None)
            ])
        );
        assert!(error("ENV A=1 =2").message.contains("KEY=VALUE"));
        assert!(error("ENV ONLYKEY").message.contains("has no value"));
        let e = error("LABEL a=\"open");
        assert_eq!((e.line, e.column), (1, 9));
        assert!(e.message.contains("unterminated \" quote"));
        assert!(error("ARG 9x=1").message.contains("invalid ARG name"));
    }

    #[test]
    fn healthcheck_onbuild_and_others() {
        let i = one("HEALTHCHECK --interval=30s --retries=3 CMD curl -f http://localhost/");
        assert_eq!(i.flag("interval"), Some("30s"));
        assert_eq!(
            i.args,
            Args::Healthcheck(Some(Box::new(Args::Shell(
                "curl -f http://localhost/".into()
            ))))
        );
        assert_eq!(one("HEALTHCHECK NONE").args, Args::Healthcheck(None));
        assert!(
            error("HEALTHCHECK --interval=1s NONE")
                .message
                .contains("NONE takes no")
        );
        assert!(error("HEALTHCHECK curl x").message.contains("NONE or CMD"));
        match one("ONBUILD COPY --chown=1 . /app").args {
            Args::Onbuild(inner) => {
                assert_eq!(inner.keyword, "COPY");
                assert_eq!(inner.flag("chown"), Some("1"));
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(one("ONBUILD FROM x").args, Args::Onbuild(i) if i.keyword == "FROM"));
        assert_eq!(
            one("VOLUME [\"/data\", \"/logs\"]").args,
            Args::Words(vec!["/data".into(), "/logs".into()])
        );
        assert_eq!(
            one("EXPOSE 80/tcp 443").args,
            Args::Words(vec!["80/tcp".into(), "443".into()])
        );
        assert_eq!(one("user app:app").keyword, "USER");
    }

    #[test]
    fn errors_name_line_and_column() {
        let e = error("FROM a\n\n   FORM b\n");
        assert_eq!((e.line, e.column), (3, 4));
        assert_eq!(e.message, "unknown instruction \"FORM\"");
        let e = error("FROM a\nRUN\n");
        assert_eq!((e.line, e.column), (2, 1));
        assert_eq!(e.message, "RUN requires at least one argument");
        assert_eq!(
            e.to_string(),
            "line 2, column 1: RUN requires at least one argument"
        );
        // A continuation maps columns back to the line they came from.
        let e = error("FROM a\nCOPY \\\n   --form=x a b\n");
        assert_eq!((e.line, e.column), (3, 4));
    }

    #[test]
    fn windows_line_endings_and_no_trailing_newline() {
        let d = parse("FROM a\r\nRUN echo hi\r\nCMD x").unwrap();
        assert_eq!(d.instructions.len(), 3);
        assert_eq!(d.instructions[1].args, Args::Shell("echo hi".into()));
    }
}
