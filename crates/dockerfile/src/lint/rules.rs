//! hadolint's rules that need no shell parser, by ID.
//!
//! Each rule reads the parsed Dockerfile; stage-scoped rules (last USER,
//! one CMD, WORKDIR before a relative COPY…) walk the stages in order.

use super::config::LabelType;
use super::{Finding, LintConfig, Severity};
use crate::ast::{Args, Dockerfile, Instruction};
use std::collections::{HashMap, HashSet};

/// hadolint rules that read the commands inside `RUN` (apt-get, pip, npm,
/// apk, yum, dnf, zypper, gem, go, curl/wget, cd, sudo, useradd…); they need
/// a shell parser and are not checked.
pub const NOT_COVERED: &[&str] = &[
    "DL3001", "DL3003", "DL3004", "DL3008", "DL3009", "DL3010", "DL3013", "DL3014", "DL3015",
    "DL3016", "DL3018", "DL3019", "DL3027", "DL3028", "DL3030", "DL3032", "DL3033", "DL3034",
    "DL3035", "DL3036", "DL3037", "DL3038", "DL3040", "DL3041", "DL3042", "DL3046", "DL3047",
    "DL3060", "DL3062", "DL4001", "DL4005",
];

/// The rules checked here: ID, default severity, message (hadolint's).
#[rustfmt::skip]
pub const RULES: &[(&str, Severity, &str)] = &[
    ("DL1001", Severity::Ignore, "Please refrain from using inline ignore pragmas `# hadolint ignore=DLxxxx`."),
    ("DL3000", Severity::Error, "Use absolute WORKDIR"),
    ("DL3002", Severity::Warning, "Last USER should not be root."),
    ("DL3006", Severity::Warning, "Always tag the version of an image explicitly"),
    ("DL3007", Severity::Warning, "Using latest is prone to errors if the image will ever update. Pin the version explicitly to a release tag"),
    ("DL3011", Severity::Error, "Valid UNIX ports range from 0 to 65535"),
    ("DL3012", Severity::Error, "Multiple `HEALTHCHECK` instructions."),
    ("DL3020", Severity::Error, "Use COPY instead of ADD for files and folders"),
    ("DL3021", Severity::Error, "COPY with more than 2 arguments requires the last argument to end with /."),
    ("DL3022", Severity::Warning, "`COPY --from` should reference a previously defined `FROM` alias"),
    ("DL3023", Severity::Error, "`COPY --from` cannot reference its own `FROM` alias"),
    ("DL3024", Severity::Error, "FROM aliases (stage names) must be unique."),
    ("DL3025", Severity::Warning, "Use arguments JSON notation for CMD and ENTRYPOINT arguments"),
    ("DL3026", Severity::Error, "Use only an allowed registry in the FROM image"),
    ("DL3029", Severity::Warning, "Do not use --platform flag with FROM"),
    ("DL3043", Severity::Error, "`ONBUILD`, `FROM` or `MAINTAINER` triggered from within `ONBUILD` instruction."),
    ("DL3044", Severity::Error, "Do not refer to an environment variable within the same `ENV` statement where it is defined."),
    ("DL3045", Severity::Warning, "`COPY` to a relative destination without `WORKDIR` set."),
    ("DL3048", Severity::Style, "Invalid label key."),
    ("DL3049", Severity::Info, "Label `{}` is missing."),
    ("DL3050", Severity::Info, "Superfluous label(s) present."),
    ("DL3051", Severity::Warning, "label `{}` is empty."),
    ("DL3052", Severity::Warning, "Label `{}` is not a valid URL."),
    ("DL3053", Severity::Warning, "Label `{}` is not a valid time format - must conform to RFC3339."),
    ("DL3054", Severity::Warning, "Label `{}` is not a valid SPDX license identifier."),
    ("DL3055", Severity::Warning, "Label `{}` is not a valid git hash."),
    ("DL3056", Severity::Warning, "Label `{}` does not conform to semantic versioning."),
    ("DL3057", Severity::Ignore, "`HEALTHCHECK` instruction missing."),
    ("DL3058", Severity::Warning, "Label `{}` is not a valid email format - must conform to RFC5322."),
    ("DL3059", Severity::Info, "Multiple consecutive `RUN` instructions. Consider consolidation."),
    ("DL3061", Severity::Error, "Invalid instruction order. Dockerfile must begin with `FROM`, `ARG` or comment."),
    ("DL3063", Severity::Warning, "stage name should not be a reserved word"),
    ("DL3064", Severity::Warning, "Potentially sensitive data should not be used in the `ARG` or `ENV` commands"),
    ("DL3065", Severity::Warning, "Setting `FROM --platform` to predefined `$TARGETPLATFORM` in is redundant as this is the default behavior"),
    ("DL3066", Severity::Info, "Non-numeric user-id may not be resolvable by host system"),
    ("DL3067", Severity::Warning, "Do not copy an entire filesystem from another stage"),
    ("DL4000", Severity::Error, "MAINTAINER is deprecated"),
    ("DL4003", Severity::Warning, "Multiple `CMD` instructions found. If you list more than one `CMD` then only the last `CMD` will take effect"),
    ("DL4004", Severity::Error, "Multiple `ENTRYPOINT` instructions found. If you list more than one `ENTRYPOINT` then only the last `ENTRYPOINT` will take effect"),
    ("DL4006", Severity::Warning, "Set the SHELL option -o pipefail before RUN with a pipe in it. If you are using /bin/sh in an alpine image or if your shell is symlinked to busybox then consider explicitly setting your SHELL to /bin/ash, or disable this check"),
];

fn rule(code: &str) -> (Severity, &'static str) {
    RULES
        .iter()
        .find(|r| r.0 == code)
        .map_or((Severity::Warning, ""), |r| (r.1, r.2))
}

struct Out(Vec<Finding>);

impl Out {
    fn at(&mut self, code: &str, ins: &Instruction) {
        self.with(code, ins, None);
    }

    /// A finding whose message names a label (`{}` in the message).
    fn with(&mut self, code: &str, ins: &Instruction, name: Option<&str>) {
        let (level, message) = rule(code);
        let message = match name {
            Some(n) => message.replacen("{}", n, 1),
            None => message.to_string(),
        };
        self.0.push(Finding {
            code: code.to_string(),
            level,
            message,
            line: ins.start.line,
            column: ins.start.column,
        });
    }
}

pub fn check(doc: &Dockerfile, config: &LintConfig) -> Vec<Finding> {
    let mut out = Out(Vec::new());
    let ins = &doc.instructions;

    // DL3061: only ARG may come before the first FROM (each other one is reported).
    for i in ins.iter().take_while(|i| i.keyword != "FROM") {
        if i.keyword != "ARG" {
            out.at("DL3061", i);
        }
    }
    // DL1001: inline ignore pragmas.
    if doc
        .comments
        .iter()
        .any(|c| c.text.starts_with("hadolint ignore="))
    {
        let (level, message) = rule("DL1001");
        for c in doc
            .comments
            .iter()
            .filter(|c| c.text.starts_with("hadolint ignore="))
        {
            out.0.push(Finding {
                code: "DL1001".into(),
                level,
                message: message.into(),
                line: c.line,
                column: 1,
            });
        }
    }

    let mut aliases: Vec<String> = Vec::new();
    let mut seen_alias: HashSet<String> = HashSet::new();
    // Per-stage state, reset at each FROM (WORKDIR is inherited from a stage
    // built FROM an earlier alias).
    let mut stage_alias: Option<String> = None;
    let mut last_user: Option<&Instruction> = None;
    let mut cmd_count = 0;
    let mut entrypoint_count = 0;
    let mut healthcheck_count = 0;
    let mut workdir_set = false;
    let mut stage_workdir: HashMap<String, bool> = HashMap::new();
    let mut pipefail = false;
    let mut labels: Vec<(String, String, &Instruction)> = Vec::new();
    let mut prev: Option<&Instruction> = None;
    let mut stage_count = 0usize;
    let mut stage_health = false;
    let mut stage_healthcheck: HashMap<String, bool> = HashMap::new();
    let mut stage_from: Option<&Instruction> = None;
    // Variables defined by ENV or ARG anywhere before (DL3044's exception).
    let mut known_vars: HashSet<String> = HashSet::new();

    let end_stage = |out: &mut Out,
                     last_user: Option<&Instruction>,
                     labels: &[(String, String, &Instruction)],
                     stage_start: Option<&Instruction>| {
        if let Some(u) = last_user {
            out.at("DL3002", u);
        }
        if let Some(from) = stage_start {
            check_labels(out, config, labels, from);
        }
    };
    let mut stage_start: Option<&Instruction> = None;

    for i in ins {
        match (&i.keyword[..], &i.args) {
            ("FROM", Args::From { image, alias }) => {
                end_stage(&mut out, last_user, &labels, stage_start);
                if let Some(from) = stage_from
                    && !stage_health
                {
                    out.at("DL3057", from);
                }
                stage_start = Some(i);
                last_user = None;
                cmd_count = 0;
                entrypoint_count = 0;
                healthcheck_count = 0;
                pipefail = false;
                labels.clear();
                workdir_set = stage_workdir
                    .get(&image.to_ascii_lowercase())
                    .copied()
                    .unwrap_or(false);
                let is_stage = aliases.iter().any(|a| a.eq_ignore_ascii_case(image));
                if !is_stage && !image.eq_ignore_ascii_case("scratch") && !image.contains('$') {
                    check_image(&mut out, config, i, image);
                }
                if let Some(p) = i.flag("platform") {
                    if p.contains("TARGETPLATFORM") {
                        out.at("DL3065", i);
                    } else if !p.contains("BUILDPLATFORM") {
                        out.at("DL3029", i);
                    }
                }
                if let Some(a) = alias {
                    if !seen_alias.insert(a.clone()) {
                        out.at("DL3024", i);
                    }
                    if a == "scratch" || a == "context" {
                        out.at("DL3063", i);
                    }
                    aliases.push(a.clone());
                }
                stage_count += 1;
                stage_health = stage_healthcheck
                    .get(&image.to_ascii_lowercase())
                    .copied()
                    .unwrap_or(false);
                stage_from = Some(i);
                stage_alias = alias.clone();
            }
            ("WORKDIR", Args::Words(w)) => {
                workdir_set = true;
                if let Some(a) = &stage_alias {
                    stage_workdir.insert(a.clone(), true);
                }
                if let Some(dir) = w.first()
                    && !absolute(dir)
                {
                    out.at("DL3000", i);
                }
            }
            ("USER", Args::Words(w)) => {
                let user = w.first().map(|u| u.split(':').next().unwrap_or(""));
                last_user = matches!(user, Some("root" | "0")).then_some(i);
                if let Some(u) = user
                    && !u.contains('$')
                    && !u.chars().all(|c| c.is_ascii_digit())
                {
                    out.at("DL3066", i);
                }
            }
            ("CMD", args) | ("ENTRYPOINT", args) => {
                if matches!(args, Args::Shell(_)) {
                    out.at("DL3025", i);
                }
                let count = if i.keyword == "CMD" {
                    &mut cmd_count
                } else {
                    &mut entrypoint_count
                };
                *count += 1;
                if *count > 1 {
                    out.at(
                        if i.keyword == "CMD" {
                            "DL4003"
                        } else {
                            "DL4004"
                        },
                        i,
                    );
                }
            }
            ("HEALTHCHECK", _) => {
                stage_health = true;
                if let Some(a) = &stage_alias {
                    stage_healthcheck.insert(a.clone(), true);
                }
                healthcheck_count += 1;
                if healthcheck_count > 1 {
                    out.at("DL3012", i);
                }
            }
            ("EXPOSE", Args::Words(ports)) if ports.iter().any(|p| !valid_port(p)) => {
                out.at("DL3011", i);
            }
            ("MAINTAINER", _) => out.at("DL4000", i),
            ("SHELL", Args::Exec(argv)) => {
                pipefail = argv.windows(2).any(|w| w[0] == "-o" && w[1] == "pipefail")
                    || !matches!(
                        argv.first().map(String::as_str),
                        Some(
                            "/bin/sh"
                                | "sh"
                                | "/bin/bash"
                                | "bash"
                                | "/bin/ash"
                                | "ash"
                                | "/bin/zsh"
                                | "zsh"
                        )
                    );
            }
            ("RUN", args) => {
                if let Args::Shell(cmd) = args
                    && !pipefail
                    && has_pipe(cmd)
                {
                    out.at("DL4006", i);
                }
                if let Some(p) = prev
                    && p.keyword == "RUN"
                    && p.flags == i.flags
                    && simple_commands(p) <= 2
                    && simple_commands(i) <= 2
                {
                    out.at("DL3059", i);
                }
            }
            ("ENV", Args::Pairs(pairs)) => {
                let mut defined: Vec<&str> = Vec::new();
                for (k, v) in pairs {
                    if defined
                        .iter()
                        .any(|d| !known_vars.contains(*d) && refers_to(v, d))
                    {
                        out.at("DL3044", i);
                        break;
                    }
                    defined.push(k);
                }
                if pairs.iter().any(|(k, _)| sensitive(k)) {
                    out.at("DL3064", i);
                }
                known_vars.extend(pairs.iter().map(|(k, _)| k.clone()));
            }
            ("ARG", Args::Arg(decls)) => {
                if decls.iter().any(|(k, _)| sensitive(k)) {
                    out.at("DL3064", i);
                }
                known_vars.extend(decls.iter().map(|(k, _)| k.clone()));
            }
            ("ONBUILD", Args::Onbuild(inner))
                if matches!(inner.keyword.as_str(), "ONBUILD" | "FROM" | "MAINTAINER") =>
            {
                out.at("DL3043", i);
            }
            ("LABEL", Args::Pairs(pairs)) => {
                for (k, v) in pairs {
                    if !valid_label_key(k) {
                        out.at("DL3048", i);
                    }
                    labels.push((k.clone(), v.clone(), i));
                }
            }
            ("ADD", Args::Copy { sources, .. }) => {
                if sources
                    .iter()
                    .any(|s| !s.starts_with("<<") && !is_url(s) && !is_archive(s))
                {
                    out.at("DL3020", i);
                }
                copy_dest(&mut out, i, workdir_set);
            }
            ("COPY", Args::Copy { .. }) => {
                if let Some(from) = i.flag("from") {
                    let from_l = from.to_ascii_lowercase();
                    // A stage index is fine when a stage with it exists already.
                    let earlier_index = from.parse::<usize>().is_ok_and(|n| n < stage_count);
                    if stage_alias.as_deref() == Some(from_l.as_str()) {
                        out.at("DL3023", i);
                    } else if !aliases.contains(&from_l) && !from.contains(':') && !earlier_index {
                        out.at("DL3022", i);
                    }
                    if let Args::Copy { sources, dest, .. } = &i.args
                        && sources.iter().any(|s| s.trim_matches('"') == "/")
                        && dest.trim_matches('"') == "/"
                    {
                        out.at("DL3067", i);
                    }
                }
                copy_dest(&mut out, i, workdir_set);
            }
            _ => {}
        }
        prev = Some(i);
    }
    end_stage(&mut out, last_user, &labels, stage_start);
    if let Some(from) = stage_from
        && !stage_health
    {
        out.at("DL3057", from);
    }
    out.0
}

/// Simple commands in a RUN (split on `&&`, `||`, `;`, `|`, `&` and
/// newlines outside quotes), as DL3059 counts them; exec form is one.
fn simple_commands(i: &Instruction) -> usize {
    let text = match &i.args {
        Args::Shell(s) => s.as_str(),
        _ => return 1,
    };
    let mut count = 0;
    let mut in_cmd = false;
    let mut quote: Option<char> = None;
    for c in text.chars() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if c == '"' || c == '\'' => {
                quote = Some(c);
                in_cmd = true;
            }
            None if matches!(c, '&' | '|' | ';' | '\n') => {
                if in_cmd {
                    count += 1;
                }
                in_cmd = false;
            }
            None if !c.is_whitespace() => in_cmd = true,
            None => {}
        }
    }
    count + usize::from(in_cmd) + i.heredocs.len()
}

/// Names hadolint treats as secrets in ARG and ENV (DL3064).
fn sensitive(name: &str) -> bool {
    const NAMES: &[&str] = &[
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "GITHUB_TOKEN",
        "GH_TOKEN",
        "GITLAB_TOKEN",
        "NPM_TOKEN",
        "DOCKER_PASSWORD",
        "POSTGRES_PASSWORD",
        "MYSQL_ROOT_PASSWORD",
        "MYSQL_PASSWORD",
        "OPENAI_API_KEY",
        "SLACK_TOKEN",
    ];
    let lower = name.to_ascii_lowercase();
    NAMES.contains(&name.to_ascii_uppercase().as_str())
        || [
            "api_key",
            "client_key",
            "password",
            "private",
            "secret",
            "token",
            "username",
        ]
        .iter()
        .any(|w| lower.contains(w))
}

/// DL3021 and DL3045 for COPY/ADD.
fn copy_dest(out: &mut Out, i: &Instruction, workdir_set: bool) {
    let Args::Copy { sources, dest, .. } = &i.args else {
        return;
    };
    if sources.len() > 1 && !dest.ends_with('/') && !dest.contains('$') && i.keyword == "COPY" {
        out.at("DL3021", i);
    }
    if !workdir_set && !absolute(dest) {
        out.at("DL3045", i);
    }
}

fn absolute(p: &str) -> bool {
    let p = p.trim_matches(|c| c == '"' || c == '\'');
    p.starts_with('/')
        || p.starts_with('$')
        || (p.len() >= 2 && p.as_bytes()[1] == b':' && p.as_bytes()[0].is_ascii_alphabetic())
}

/// DL3006, DL3007 and DL3026 for an external FROM image.
fn check_image(out: &mut Out, config: &LintConfig, i: &Instruction, image: &str) {
    let (name, digest) = match image.split_once('@') {
        Some((n, d)) => (n, Some(d)),
        None => (image, None),
    };
    let last = name.rsplit('/').next().unwrap_or(name);
    let tag = last.split_once(':').map(|(_, t)| t);
    match (tag, digest) {
        (None, None) => out.at("DL3006", i),
        (Some("latest"), None) => out.at("DL3007", i),
        _ => {}
    }
    if !config.trusted_registries.is_empty() {
        let registry = match name.split_once('/') {
            Some((first, _)) if first.contains(['.', ':']) || first == "localhost" => first,
            _ => "docker.io",
        };
        let ok = config.trusted_registries.iter().any(|pat| {
            glob_match(pat, registry) || (registry == "docker.io" && pat == "hub.docker.com")
        });
        if !ok {
            out.at("DL3026", i);
        }
    }
}

/// `*` matches any run of characters.
fn glob_match(pattern: &str, s: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == s,
        Some((head, tail)) => {
            let Some(rest) = s.strip_prefix(head) else {
                return false;
            };
            (0..=rest.len())
                .filter(|k| rest.is_char_boundary(*k))
                .any(|k| glob_match(tail, &rest[k..]))
        }
    }
}

fn valid_port(p: &str) -> bool {
    let p = p.split('/').next().unwrap_or(p);
    if p.contains('$') {
        return true;
    }
    let ok = |n: &str| n.parse::<u32>().is_ok_and(|n| n <= 65535);
    match p.split_once('-') {
        Some((a, b)) => ok(a) && ok(b),
        None => ok(p),
    }
}

/// A pipe between commands (`a | b`), not `||`, outside quotes.
fn has_pipe(cmd: &str) -> bool {
    let b = cmd.as_bytes();
    let mut quote: Option<u8> = None;
    for (k, &c) in b.iter().enumerate() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if c == b'\'' || c == b'"' => quote = Some(c),
            None if c == b'|' => {
                let before = k > 0 && b[k - 1] == b'|';
                let after = b.get(k + 1) == Some(&b'|');
                if !before && !after {
                    return true;
                }
            }
            None => {}
        }
    }
    false
}

/// Whether `value` uses `$name` or `${name…}`.
fn refers_to(value: &str, name: &str) -> bool {
    let mut rest = value;
    while let Some(k) = rest.find('$') {
        let after = &rest[k + 1..];
        let after = after.strip_prefix('{').unwrap_or(after);
        if let Some(tail) = after.strip_prefix(name)
            && !tail.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_')
        {
            return true;
        }
        rest = &rest[k + 1..];
    }
    false
}

fn is_url(s: &str) -> bool {
    s.starts_with("http://") || s.starts_with("https://") || s.starts_with("git@")
}

fn is_archive(s: &str) -> bool {
    const EXT: &[&str] = &[
        ".tar",
        ".tar.gz",
        ".tgz",
        ".tar.bz2",
        ".tbz2",
        ".tbz",
        ".tar.xz",
        ".txz",
        ".tar.zst",
        ".tar.lz",
        ".tlz",
        ".tar.lzma",
        ".tar.Z",
        ".taz",
        ".gz",
        ".bz2",
        ".xz",
        ".zst",
        ".lz",
        ".lzma",
        ".Z",
    ];
    EXT.iter().any(|e| s.ends_with(e))
}

/// Docker's label key rules: lowercase alphanumerics, `.` and `-`, starting
/// and ending with an alphanumeric, no `..`/`--`, and not in a namespace
/// Docker reserves.
fn valid_label_key(k: &str) -> bool {
    let reserved = ["com.docker.", "io.docker.", "org.dockerproject."];
    if reserved.iter().any(|r| k.starts_with(r)) {
        return false;
    }
    let b = k.as_bytes();
    !b.is_empty()
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && !k.contains("..")
        && !k.contains("--")
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'.' || *c == b'-')
}

/// DL3049–DL3058 for one stage's labels.
fn check_labels(
    out: &mut Out,
    config: &LintConfig,
    labels: &[(String, String, &Instruction)],
    from: &Instruction,
) {
    for key in config.label_schema.keys() {
        if !labels.iter().any(|(k, _, _)| k == key) {
            out.with("DL3049", from, Some(key));
        }
    }
    for (k, v, ins) in labels {
        match config.label_schema.get(k) {
            None => {
                if config.strict_labels {
                    out.at("DL3050", ins);
                }
            }
            Some(t) => {
                if v.is_empty() {
                    out.with("DL3051", ins, Some(k));
                    continue;
                }
                let (code, ok) = match t {
                    LabelType::Text => ("", true),
                    LabelType::Url => ("DL3052", valid_url(v)),
                    LabelType::Rfc3339 => ("DL3053", v.parse::<jiff::Timestamp>().is_ok()),
                    LabelType::Spdx => ("DL3054", valid_spdx(v)),
                    LabelType::Hash => ("DL3055", valid_git_hash(v)),
                    LabelType::Semver => ("DL3056", valid_semver(v)),
                    LabelType::Email => ("DL3058", valid_email(v)),
                };
                if !ok {
                    out.with(code, ins, Some(k));
                }
            }
        }
    }
}

fn valid_url(v: &str) -> bool {
    match v.split_once("://") {
        Some((scheme, rest)) => {
            !scheme.is_empty()
                && scheme
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
                && !rest.is_empty()
                && !rest.contains(char::is_whitespace)
        }
        None => false,
    }
}

fn valid_git_hash(v: &str) -> bool {
    (v.len() == 40 || v.len() == 64 || (7..=40).contains(&v.len()))
        && v.chars().all(|c| c.is_ascii_hexdigit())
}

fn valid_semver(v: &str) -> bool {
    let core = v.split(['-', '+']).next().unwrap_or("");
    let parts: Vec<&str> = core.split('.').collect();
    parts.len() == 3
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.chars().all(|c| c.is_ascii_digit())
                && (p.len() == 1 || !p.starts_with('0'))
        })
}

fn valid_email(v: &str) -> bool {
    match v.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && !domain.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !v.contains(char::is_whitespace)
        }
        None => false,
    }
}

/// An SPDX license expression made of known short identifiers (a common
/// subset of the SPDX list), `AND`, `OR`, `WITH` and parentheses.
fn valid_spdx(v: &str) -> bool {
    const IDS: &[&str] = &[
        "0BSD",
        "AFL-3.0",
        "AGPL-3.0",
        "AGPL-3.0-only",
        "AGPL-3.0-or-later",
        "Apache-1.1",
        "Apache-2.0",
        "Artistic-2.0",
        "BSD-1-Clause",
        "BSD-2-Clause",
        "BSD-3-Clause",
        "BSD-4-Clause",
        "BSL-1.0",
        "CC-BY-4.0",
        "CC-BY-SA-4.0",
        "CC0-1.0",
        "CDDL-1.0",
        "CDDL-1.1",
        "EPL-1.0",
        "EPL-2.0",
        "EUPL-1.2",
        "GPL-2.0",
        "GPL-2.0-only",
        "GPL-2.0-or-later",
        "GPL-3.0",
        "GPL-3.0-only",
        "GPL-3.0-or-later",
        "ISC",
        "LGPL-2.1",
        "LGPL-2.1-only",
        "LGPL-2.1-or-later",
        "LGPL-3.0",
        "LGPL-3.0-only",
        "LGPL-3.0-or-later",
        "MIT",
        "MIT-0",
        "MPL-1.1",
        "MPL-2.0",
        "MS-PL",
        "NCSA",
        "OpenSSL",
        "PostgreSQL",
        "Python-2.0",
        "Ruby",
        "Unlicense",
        "UPL-1.0",
        "Vim",
        "WTFPL",
        "X11",
        "Zlib",
        "ZPL-2.1",
    ];
    const EXCEPTIONS: &[&str] = &[
        "Classpath-exception-2.0",
        "LLVM-exception",
        "GCC-exception-3.1",
    ];
    let tokens: Vec<String> = v
        .replace('(', " ( ")
        .replace(')', " ) ")
        .split_whitespace()
        .map(str::to_string)
        .collect();
    if tokens.is_empty() {
        return false;
    }
    let mut expect_id = true;
    let mut after_with = false;
    let mut depth = 0i32;
    for t in &tokens {
        match t.as_str() {
            "(" if expect_id => depth += 1,
            ")" if !expect_id => {
                depth -= 1;
                if depth < 0 {
                    return false;
                }
            }
            "AND" | "OR" if !expect_id => expect_id = true,
            "WITH" if !expect_id => {
                expect_id = true;
                after_with = true;
            }
            id if expect_id => {
                let id = id.trim_end_matches('+');
                let known = if after_with {
                    EXCEPTIONS.contains(&id)
                } else {
                    IDS.contains(&id) || id.starts_with("LicenseRef-")
                };
                if !known {
                    return false;
                }
                expect_id = false;
                after_with = false;
            }
            _ => return false,
        }
    }
    !expect_id && depth == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn helpers() {
        assert!(glob_match("*.gcr.io", "eu.gcr.io"));
        assert!(!glob_match("*.gcr.io", "gcr.io"));
        assert!(glob_match("docker.io", "docker.io"));
        assert!(has_pipe("a | b"));
        assert!(!has_pipe("a || b"));
        assert!(!has_pipe("echo 'a|b'"));
        assert!(refers_to("$A/x", "A") && refers_to("${A:-1}", "A"));
        assert!(!refers_to("$AB", "A"));
        assert!(valid_port("80/tcp") && valid_port("8000-8010") && !valid_port("70000"));
        assert!(valid_label_key("org.opencontainers.image.title"));
        assert!(
            !valid_label_key("com.docker.x") && !valid_label_key("Bad") && !valid_label_key("a..b")
        );
        assert!(
            valid_spdx("MIT")
                && valid_spdx("(MIT OR Apache-2.0)")
                && valid_spdx("GPL-2.0-only WITH Classpath-exception-2.0")
        );
        assert!(!valid_spdx("Nonsense") && !valid_spdx("MIT OR") && !valid_spdx(""));
        assert!(
            valid_semver("1.2.3")
                && valid_semver("1.0.0-rc.1+b5")
                && !valid_semver("1.2")
                && !valid_semver("01.2.3")
        );
        assert!(valid_email("a@b.org") && !valid_email("a@b") && !valid_email("nope"));
        assert!(valid_url("https://example.com/x") && !valid_url("example.com"));
        assert!(valid_git_hash("a1b2c3d") && !valid_git_hash("xyz"));
    }
}
