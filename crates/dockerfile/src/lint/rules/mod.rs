//! hadolint 2.15's rules, by ID, with its messages and default severities.
//!
//! As in hadolint, each rule is a fold over the instructions that keeps its
//! own state (per stage where hadolint's does). The rules that read the
//! commands of a `RUN` ([`run`]) also run a second time over the
//! instructions inside `ONBUILD`, with fresh state, as hadolint's
//! `onbuild` combinator does; the others ([`general`]) see `ONBUILD` only as
//! itself.

mod general;
mod labels;
mod packages;
mod run;

use super::{Finding, LintConfig, Severity};
use crate::ast::{Args, Dockerfile, Instruction};
use crate::shell::ParsedShell;

/// Every rule: ID, default severity, message (hadolint 2.15.1's, word for
/// word; `{}` is a label's name). `Ignore` means off unless overridden.
#[rustfmt::skip]
pub const RULES: &[(&str, Severity, &str)] = &[
    ("DL1001", Severity::Ignore, "Please refrain from using inline ignore pragmas  `# hadolint ignore=DLxxxx`."),
    ("DL3000", Severity::Error, "Use absolute WORKDIR"),
    ("DL3001", Severity::Info, "For some bash commands it makes no sense running them in a Docker container like `ssh`, `vim`, `shutdown`, `service`, `ps`, `free`, `top`, `kill`, `mount`, `ifconfig`"),
    ("DL3002", Severity::Warning, "Last USER should not be root"),
    ("DL3003", Severity::Warning, "Use WORKDIR to switch to a directory"),
    ("DL3004", Severity::Error, "Do not use sudo as it leads to unpredictable behavior. Use a tool like gosu to enforce root"),
    ("DL3006", Severity::Warning, "Always tag the version of an image explicitly"),
    ("DL3007", Severity::Warning, "Using latest is prone to errors if the image will ever update. Pin the version explicitly to a release tag"),
    ("DL3008", Severity::Warning, "Pin versions in apt get install. Instead of `apt-get install <package>` use `apt-get install <package>=<version>`"),
    ("DL3009", Severity::Info, "Delete the apt lists (/var/lib/apt/lists) after installing something"),
    ("DL3010", Severity::Info, "Use `ADD` for extracting archives into an image"),
    ("DL3011", Severity::Error, "Valid UNIX ports range from 0 to 65535"),
    ("DL3012", Severity::Error, "Multiple `HEALTHCHECK` instructions"),
    ("DL3013", Severity::Warning, "Pin versions in pip. Instead of `pip install <package>` use `pip install <package>==<version>` or `pip install --requirement <requirements file>`"),
    ("DL3014", Severity::Warning, "Use the `-y` switch to avoid manual input `apt-get -y install <package>`"),
    ("DL3015", Severity::Info, "Avoid additional packages by specifying `--no-install-recommends`"),
    ("DL3016", Severity::Warning, "Pin versions in npm. Instead of `npm install <package>` use `npm install <package>@<version>`"),
    ("DL3018", Severity::Warning, "Pin versions in apk add. Instead of `apk add <package>` use `apk add <package>=<version>`"),
    ("DL3019", Severity::Info, "Use the `--no-cache` switch to avoid the need to use `--update` and remove `/var/cache/apk/*` when done installing packages"),
    ("DL3020", Severity::Error, "Use COPY instead of ADD for files and folders"),
    ("DL3021", Severity::Error, "COPY with more than 2 arguments requires the last argument to end with /"),
    ("DL3022", Severity::Warning, "`COPY --from` should reference a previously defined `FROM` alias"),
    ("DL3023", Severity::Error, "`COPY --from` cannot reference its own `FROM` alias"),
    ("DL3024", Severity::Error, "FROM aliases (stage names) must be unique"),
    ("DL3025", Severity::Warning, "Use arguments JSON notation for CMD and ENTRYPOINT arguments"),
    ("DL3026", Severity::Error, "Use only an allowed registry in the FROM image"),
    ("DL3027", Severity::Warning, "Do not use apt as it is meant to be an end-user tool, use apt-get or apt-cache instead"),
    ("DL3028", Severity::Warning, "Pin versions in gem install. Instead of `gem install <gem>` use `gem install <gem>:<version>`"),
    ("DL3029", Severity::Warning, "Do not use --platform flag with FROM"),
    ("DL3030", Severity::Warning, "Use the -y switch to avoid manual input `yum install -y <package>`"),
    ("DL3032", Severity::Warning, "`yum clean all` missing after yum command."),
    ("DL3033", Severity::Warning, "Specify version with `yum install -y <package>-<version>`."),
    ("DL3034", Severity::Warning, "Non-interactive switch missing from `zypper` command: `zypper install -y`"),
    ("DL3035", Severity::Warning, "Do not use `zypper dist-upgrade`."),
    ("DL3036", Severity::Warning, "`zypper clean` missing after zypper use."),
    ("DL3037", Severity::Warning, "Specify version with `zypper install -y <package>=<version>`."),
    ("DL3038", Severity::Warning, "Use the -y switch to avoid manual input `dnf install -y <package>`"),
    ("DL3040", Severity::Warning, "`dnf clean all` missing after dnf command."),
    ("DL3041", Severity::Warning, "Specify version with `dnf install -y <package>-<version>`."),
    ("DL3042", Severity::Warning, "Avoid use of cache directory with pip. Use `pip install --no-cache-dir <package>`"),
    ("DL3043", Severity::Error, "`ONBUILD`, `FROM` or `MAINTAINER` triggered from within `ONBUILD` instruction."),
    ("DL3044", Severity::Error, "Do not refer to an environment variable within the same `ENV` statement where it is defined."),
    ("DL3045", Severity::Warning, "`COPY` to a relative destination without `WORKDIR` set."),
    ("DL3046", Severity::Warning, "`useradd` without flag `-l` and high UID will result in excessively large Image."),
    ("DL3047", Severity::Info, "Avoid use of wget without progress bar. Use `wget --progress=dot:giga <url>`. Or consider using `-q` or `-nv` (shorthands for `--quiet` or `--no-verbose`)."),
    ("DL3048", Severity::Style, "Invalid label key."),
    ("DL3049", Severity::Info, "Label `{}` is missing."),
    ("DL3050", Severity::Info, "Superfluous label(s) present."),
    ("DL3051", Severity::Warning, "label `{}` is empty."),
    ("DL3052", Severity::Warning, "Label `{}` is not a valid URL."),
    ("DL3053", Severity::Warning, "Label `{}` is not a valid time format - must conform to RFC3339."),
    ("DL3054", Severity::Warning, "Label `{}` is not a valid SPDX identifier."),
    ("DL3055", Severity::Warning, "Label `{}` is not a valid git hash."),
    ("DL3056", Severity::Warning, "Label `{}` does not conform to semantic versioning."),
    ("DL3057", Severity::Ignore, "`HEALTHCHECK` instruction missing."),
    ("DL3058", Severity::Warning, "Label `{}` is not a valid email format - must conform to RFC5322."),
    ("DL3059", Severity::Info, "Multiple consecutive `RUN` instructions. Consider consolidation."),
    ("DL3060", Severity::Info, "`yarn cache clean` missing after `yarn install` was run."),
    ("DL3061", Severity::Error, "Invalid instruction order. Dockerfile must begin with `FROM`, `ARG` or comment."),
    ("DL3062", Severity::Warning, "Pin versions in go. Instead of `go install <package>` use `go install <package>@<version>`"),
    ("DL3063", Severity::Warning, "stage name should not be a reserved word"),
    ("DL3064", Severity::Warning, "Potentially sensitive data should not be used in the `ARG` or `ENV` commands"),
    ("DL3065", Severity::Warning, "Setting `FROM --platform` to predefined `$TARGETPLATFORM` in is redundant as this is the default behavior"),
    ("DL3066", Severity::Info, "Non-numeric user-id may not be resolvable by host system"),
    ("DL3067", Severity::Warning, "Do not copy an entire filesystem from another stage"),
    ("DL4000", Severity::Error, "MAINTAINER is deprecated"),
    ("DL4001", Severity::Warning, "Either use Wget or Curl but not both"),
    ("DL4003", Severity::Warning, "Multiple `CMD` instructions found. If you list more than one `CMD` then only the last `CMD` will take effect"),
    ("DL4004", Severity::Error, "Multiple `ENTRYPOINT` instructions found. If you list more than one `ENTRYPOINT` then only the last `ENTRYPOINT` will take effect"),
    ("DL4005", Severity::Warning, "Use SHELL to change the default shell"),
    ("DL4006", Severity::Warning, "Set the SHELL option -o pipefail before RUN with a pipe in it. If you are using /bin/sh in an alpine image or if your shell is symlinked to busybox then consider explicitly setting your SHELL to /bin/ash, or disable this check"),
];

fn rule(code: &str) -> (Severity, &'static str) {
    RULES
        .iter()
        .find(|r| r.0 == code)
        .map_or((Severity::Warning, ""), |r| (r.1, r.2))
}

/// The findings of one pass.
pub(super) struct Out(Vec<Finding>);

impl Out {
    fn at(&mut self, code: &str, line: usize) {
        let (level, message) = rule(code);
        self.push(code, level, message.to_string(), line);
    }

    /// A finding whose message names a label (`{}` in the message).
    fn named(&mut self, code: &str, line: usize, name: &str) {
        let (level, message) = rule(code);
        self.push(code, level, message.replacen("{}", name, 1), line);
    }

    fn push(&mut self, code: &str, level: Severity, message: String, line: usize) {
        self.0.push(Finding {
            code: code.to_string(),
            level,
            message,
            line,
            column: 1,
        });
    }
}

/// An instruction as the rules see it: where findings go (an `ONBUILD`'s
/// line for what it wraps) and, for `RUN`, its script parsed.
pub(super) struct Ins<'a> {
    pub i: &'a Instruction,
    pub line: usize,
    pub shell: Option<ParsedShell>,
}

impl<'a> Ins<'a> {
    fn new(i: &'a Instruction, line: usize) -> Ins<'a> {
        let shell = (i.keyword == "RUN")
            .then(|| run_script(i))
            .flatten()
            .map(|s| ParsedShell::parse(&s));
        Ins { i, line, shell }
    }

    /// The `--mount` targets of type `cache` or `tmpfs`.
    fn cache_mounts(&self) -> Vec<&'a str> {
        self.i
            .flags
            .iter()
            .filter(|f| f.name == "mount")
            .filter_map(|f| f.value.as_deref())
            .filter_map(|m| {
                let kv = |k: &str| {
                    m.split(',')
                        .find_map(|p| p.split_once('=').filter(|(n, _)| *n == k).map(|x| x.1))
                };
                matches!(kv("type"), Some("cache" | "tmpfs"))
                    .then(|| kv("target").or(kv("dst")).or(kv("destination")))
                    .flatten()
            })
            .collect()
    }

    /// Whether a cache or tmpfs mount's target contains `path`.
    fn caches(&self, path: &str) -> bool {
        self.cache_mounts().iter().any(|t| t.contains(path))
    }
}

/// The shell text of a `RUN` as hadolint hands it to the parser: the
/// command (continuations joined, their comment lines dropped) with its
/// heredocs, the words of the exec form joined by spaces, or the body of a
/// heredoc that starts the instruction (`RUN <<EOF`).
pub(crate) fn run_script(i: &Instruction) -> Option<String> {
    match &i.args {
        Args::Shell(s) => match i.heredocs.first() {
            Some(h) if s.trim_start().starts_with("<<") => Some(h.body.clone()),
            Some(_) => {
                let mut text = s.clone();
                for h in &i.heredocs {
                    text.push('\n');
                    text.push_str(&h.body);
                    text.push_str(&h.delimiter);
                }
                Some(text)
            }
            None => Some(s.clone()),
        },
        Args::Exec(words) => Some(words.join(" ")),
        _ => None,
    }
}

pub fn check(doc: &Dockerfile, config: &LintConfig) -> Vec<Finding> {
    let mut out = Out(Vec::new());
    let top: Vec<Ins> = doc
        .instructions
        .iter()
        .map(|i| Ins::new(i, i.start.line))
        .collect();
    general::check(doc, config, &top, &mut out);
    run::check(&top, &mut out);
    // The same command rules over what ONBUILD will run, on their own.
    let onbuild: Vec<Ins> = doc
        .instructions
        .iter()
        .filter_map(|i| match &i.args {
            Args::Onbuild(inner) => Some(Ins::new(inner, i.start.line)),
            _ => None,
        })
        .collect();
    if !onbuild.is_empty() {
        run::check(&onbuild, &mut out);
    }
    out.0
}

/// A FROM's stage name as written (the parser lower-cases it, as BuildKit
/// compares names; hadolint's rules compare them as written).
pub(crate) fn from_alias(i: &Instruction) -> Option<String> {
    let words: Vec<&str> = i.raw.split_whitespace().collect();
    match words.as_slice() {
        [.., kw, alias] if words.len() >= 3 && kw.eq_ignore_ascii_case("as") => {
            Some(alias.to_string())
        }
        _ => None,
    }
}

/// `"a"` → `a`, `'a'` → `a` (hadolint's `dropQuotes`).
fn drop_quotes(s: &str) -> &str {
    s.trim_matches(|c| c == '"' || c == '\'')
}

/// The archive extensions hadolint knows (DL3010, DL3020).
fn is_archive(s: &str) -> bool {
    const EXT: &[&str] = &[
        ".tar", ".Z", ".bz2", ".gz", ".lz", ".lzma", ".tZ", ".tb2", ".tbz", ".tbz2", ".tgz",
        ".tlz", ".tpz", ".txz", ".xz",
    ];
    EXT.iter().any(|e| s.ends_with(e))
}
