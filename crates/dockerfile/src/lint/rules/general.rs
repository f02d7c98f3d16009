//! The rules that run once over the file (not again inside `ONBUILD`):
//! stages and images, users, ports, CMD/ENTRYPOINT/HEALTHCHECK, COPY/ADD,
//! ENV, labels, consecutive RUNs, `cd`, curl-and-wget, pipefail and
//! extracting a copied archive.

use super::labels::{check_labels, valid_label_key};
use super::{Ins, Out, drop_quotes, from_alias, is_archive};
use crate::ast::{Args, Dockerfile, Flag, Instruction};
use crate::lint::LintConfig;
use std::collections::{HashMap, HashSet};

pub(super) fn check(doc: &Dockerfile, config: &LintConfig, ins: &[Ins], out: &mut Out) {
    // DL3061: only ARG may come before the first FROM.
    for i in ins.iter().take_while(|i| i.i.keyword != "FROM") {
        if i.i.keyword != "ARG" {
            out.at("DL3061", i.line);
        }
    }
    // DL1001: inline ignore pragmas (off unless switched on).
    for c in &doc.comments {
        if crate::lint::pragma_codes(&c.text).is_some_and(|(global, _)| !global) {
            out.at("DL1001", c.line);
        }
    }
    let mut s = State::default();
    for i in ins {
        s.step(config, i, out);
    }
    s.end_stage(config, out);
    for (_, line) in s.root_users {
        out.at("DL3002", line);
    }
    for line in s.archive_findings {
        out.at("DL3010", line);
    }
    // DL3057 (off by default): stages without a HEALTHCHECK of their own or
    // of a descendant.
    for st in &s.stages {
        if !st.healthy {
            out.at("DL3057", st.line);
        }
    }
}

/// One stage, for DL3057: its name (alias or image), FROM line and image.
struct StageInfo {
    name: String,
    line: usize,
    src: String,
    healthy: bool,
}

/// A RUN's flags as written (name, value).
type RunFlags = Vec<(String, Option<String>)>;

#[derive(Default)]
struct State {
    froms: usize,
    aliases: Vec<String>,
    stage_alias: Option<String>,
    stage_key: Option<String>,
    stage_line: usize,
    /// ARG names seen so far, anywhere (DL3066).
    args: HashSet<String>,
    /// ENV and ARG names defined so far (DL3044).
    known_vars: HashSet<String>,
    /// Stage FROM line → line of its last `USER root` (DL3002).
    root_users: Vec<(usize, usize)>,
    cmds: usize,
    entrypoints: usize,
    healthchecks: usize,
    /// Stage key → WORKDIR set (DL3045).
    workdirs: HashMap<String, bool>,
    workdir: bool,
    labels: Vec<(String, String, usize)>,
    stages: Vec<StageInfo>,
    /// DL3059: the previous RUN's flags and command count, while the
    /// previous instruction is a RUN.
    prev_run: Option<(RunFlags, usize)>,
    /// DL4001: curl and wget seen in this stage.
    curl: bool,
    wget: bool,
    /// DL4006.
    pipefail: bool,
    /// DL3010: (COPY line, archive basename, extracted); reset by FROM.
    archives: Vec<(usize, String, bool)>,
    archive_findings: Vec<usize>,
}

impl State {
    fn step(&mut self, config: &LintConfig, ins: &Ins, out: &mut Out) {
        let (i, line) = (ins.i, ins.line);
        if i.keyword != "RUN" {
            self.prev_run = None;
        }
        match (i.keyword.as_str(), &i.args) {
            ("FROM", Args::From { image, .. }) => {
                self.from(config, i, image, &from_alias(i), out);
            }
            ("WORKDIR", Args::Words(w)) => {
                self.workdir = true;
                if let Some(k) = &self.stage_key {
                    self.workdirs.insert(k.clone(), true);
                }
                if let Some(dir) = w.first()
                    && !absolute_workdir(drop_quotes(dir))
                {
                    out.at("DL3000", line);
                }
            }
            ("USER", Args::Words(_)) => {
                // As written: `USER "root"` is not root for hadolint.
                let user = i.raw.trim();
                if self.froms > 0 {
                    let root = user == "root"
                        || user == "0"
                        || user.starts_with("root:")
                        || user.starts_with("0:");
                    let stage = self.stage_line;
                    self.root_users.retain(|(s, _)| *s != stage);
                    if root {
                        self.root_users.push((stage, line));
                    }
                }
                let uid = user.split(':').next().unwrap_or_default();
                let numeric = uid.chars().all(|c| c.is_ascii_digit());
                // Given by an ARG: hadolint cannot know it.
                let from_arg = self.args.iter().any(|a| refers_to(user, a));
                if !numeric && !from_arg {
                    out.at("DL3066", line);
                }
            }
            ("CMD" | "ENTRYPOINT", args) => {
                if matches!(args, Args::Shell(_)) {
                    out.at("DL3025", line);
                }
                let (count, code) = if i.keyword == "CMD" {
                    (&mut self.cmds, "DL4003")
                } else {
                    (&mut self.entrypoints, "DL4004")
                };
                *count += 1;
                if *count > 1 {
                    out.at(code, line);
                }
            }
            ("HEALTHCHECK", args) => {
                if let Args::Healthcheck(Some(cmd)) = args
                    && matches!(**cmd, Args::Shell(_))
                {
                    out.at("DL3025", line);
                }
                self.healthchecks += 1;
                if self.healthchecks > 1 {
                    out.at("DL3012", line);
                }
                self.mark_healthy();
            }
            ("EXPOSE", Args::Words(ports)) if ports.iter().any(|p| !valid_port(p)) => {
                out.at("DL3011", line);
            }
            ("MAINTAINER", _) => out.at("DL4000", line),
            ("SHELL", args) => {
                let text = match args {
                    Args::Exec(w) => w.join(" "),
                    Args::Shell(s) => s.clone(),
                    _ => String::new(),
                };
                self.pipefail = shell_sets_pipefail(&text);
            }
            ("RUN", _) => self.run(ins, out),
            ("ENV", Args::Pairs(pairs)) => {
                let fresh: Vec<&str> = pairs
                    .iter()
                    .map(|(k, _)| k.as_str())
                    .filter(|k| !self.known_vars.contains(*k))
                    .collect();
                let self_ref = pairs.iter().enumerate().any(|(j, (_, v))| {
                    pairs.iter().enumerate().any(|(k, (name, _))| {
                        k != j && fresh.contains(&name.as_str()) && refers_to(v, name)
                    })
                });
                if self_ref {
                    out.at("DL3044", line);
                }
                self.known_vars.extend(pairs.iter().map(|(k, _)| k.clone()));
            }
            ("ARG", Args::Arg(decls)) => {
                for (k, _) in decls {
                    self.known_vars.insert(k.clone());
                    self.args.insert(k.clone());
                }
            }
            ("ONBUILD", Args::Onbuild(inner)) => {
                if matches!(inner.keyword.as_str(), "ONBUILD" | "FROM" | "MAINTAINER") {
                    out.at("DL3043", line);
                }
            }
            ("LABEL", Args::Pairs(pairs)) => {
                if pairs.iter().any(|(k, _)| !valid_label_key(k)) {
                    out.at("DL3048", line);
                }
                self.labels
                    .extend(pairs.iter().map(|(k, v)| (k.clone(), v.clone(), line)));
            }
            ("ADD", Args::Copy { sources, .. }) => {
                let all_ok = sources.iter().all(|s| {
                    let s = drop_quotes(s);
                    s.starts_with("<<")
                        || s.starts_with("http://")
                        || s.starts_with("https://")
                        || is_archive(s)
                });
                if !all_ok {
                    out.at("DL3020", line);
                }
            }
            ("COPY", Args::Copy { sources, dest, .. }) => {
                self.copy(i, sources, dest, line, out);
            }
            _ => {}
        }
    }

    fn from(
        &mut self,
        config: &LintConfig,
        i: &Instruction,
        image: &str,
        alias: &Option<String>,
        out: &mut Out,
    ) {
        let line = i.start.line;
        if self.froms > 0 {
            self.end_stage(config, out);
        }
        let (name, tag, digest) = split_image(image);
        let earlier_alias = self.aliases.iter().any(|a| a == image);
        if image != "scratch"
            && digest.is_none()
            && !image.starts_with('$')
            && !earlier_alias
            && tag.is_none()
        {
            out.at("DL3006", line);
        }
        if tag == Some("latest") && digest.is_none() {
            out.at("DL3007", line);
        }
        if !config.trusted_registries.is_empty() && !earlier_alias && !trusted(config, name) {
            out.at("DL3026", line);
        }
        if let Some(p) = i.flag("platform") {
            if p == "$TARGETPLATFORM" || p == "${TARGETPLATFORM}" {
                out.at("DL3065", line);
            } else if !p.contains("BUILDPLATFORM") && !p.contains("TARGETPLATFORM") {
                out.at("DL3029", line);
            }
        }
        if let Some(a) = alias {
            if self.aliases.contains(a) {
                out.at("DL3024", line);
            }
            if a == "scratch" || a == "context" {
                out.at("DL3063", line);
            }
            self.aliases.push(a.clone());
        }
        self.froms += 1;
        self.stage_alias = alias.clone();
        self.stage_line = line;
        let key = alias.clone().unwrap_or_else(|| name.to_string());
        let inherited = self.workdirs.get(name).copied().unwrap_or(false);
        self.workdirs.insert(key.clone(), inherited);
        self.workdir = inherited;
        self.stage_key = Some(key.clone());
        self.cmds = 0;
        self.entrypoints = 0;
        self.healthchecks = 0;
        self.curl = false;
        self.wget = false;
        self.pipefail = false;
        self.archives.clear();
        self.archive_findings.clear();
        let healthy = self.stages.iter().any(|s| s.healthy && s.name == name);
        self.stages.push(StageInfo {
            name: key,
            line,
            src: name.to_string(),
            healthy,
        });
    }

    fn end_stage(&mut self, config: &LintConfig, out: &mut Out) {
        let labels = std::mem::take(&mut self.labels);
        if self.froms > 0 && !config.label_schema.is_empty() || config.strict_labels {
            check_labels(out, config, &labels, self.stage_line);
        }
    }

    /// A HEALTHCHECK marks its stage and, transitively, the stages it is
    /// built from (DL3057).
    fn mark_healthy(&mut self) {
        let Some(mut k) = self.stages.len().checked_sub(1) else {
            return;
        };
        let mut seen = HashSet::new();
        while seen.insert(k) {
            self.stages[k].healthy = true;
            let src = self.stages[k].src.clone();
            match self.stages.iter().position(|s| s.name == src) {
                Some(p) => k = p,
                None => break,
            }
        }
    }

    fn copy(
        &mut self,
        i: &Instruction,
        sources: &[String],
        dest: &str,
        line: usize,
        out: &mut Out,
    ) {
        if sources.len() > 1 && !dest.ends_with('/') {
            out.at("DL3021", line);
        }
        let d = drop_quotes(dest);
        let relative_ok = self.workdir
            || d.starts_with('/')
            || d.starts_with('$')
            || d.get(1..)
                .is_some_and(|r| r.starts_with(":\\") || r.starts_with(":/"));
        if !relative_ok {
            out.at("DL3045", line);
        }
        // As written: hadolint keeps the quotes of `--from="a"`.
        let from_written = i
            .flags
            .iter()
            .rev()
            .find(|f| f.name == "from")
            .map(|f| f.written.as_deref().unwrap_or(""));
        match from_written {
            Some(from) => {
                let f = drop_quotes(from);
                let leading: String = from.chars().take_while(char::is_ascii_digit).collect();
                let index_ok = leading.parse::<usize>().is_ok_and(|n| n < self.froms);
                if self.stage_alias.as_deref() == Some(from) {
                    out.at("DL3023", line);
                } else if !f.contains(':') && !self.aliases.iter().any(|a| a == from) && !index_ok {
                    out.at("DL3022", line);
                }
                if sources.iter().any(|s| drop_quotes(s) == "/") && d == "/" {
                    out.at("DL3067", line);
                }
            }
            None => {
                // DL3010: remember the archives copied in.
                let base = |s: &str| {
                    let s = drop_quotes(s);
                    s.rsplit(['/', '\\']).next().unwrap_or(s).to_string()
                };
                if is_archive(d) {
                    self.archives.push((line, base(d), false));
                } else {
                    for s in sources.iter().filter(|s| is_archive(drop_quotes(s))) {
                        self.archives.push((line, base(s), false));
                    }
                }
            }
        }
    }

    fn run(&mut self, ins: &Ins, out: &mut Out) {
        let line = ins.line;
        let empty = crate::shell::ParsedShell::default();
        let shell = ins.shell.as_ref().unwrap_or(&empty);
        // DL3059: two single-command RUNs in a row with the same flags.
        let flags: RunFlags = ins
            .i
            .flags
            .iter()
            .map(|Flag { name, written, .. }| (name.clone(), written.clone()))
            .collect();
        let count = shell.commands.len();
        if let Some((pflags, pcount)) = &self.prev_run
            && *pflags == flags
            && *pcount <= 1
            && count <= 1
        {
            out.at("DL3059", line);
        }
        self.prev_run = Some((flags, count));
        if shell.using_program("cd") {
            out.at("DL3003", line);
        }
        if !self.pipefail && shell.has_pipes {
            out.at("DL4006", line);
        }
        // DL4001: curl and wget in one stage.
        let (curl, wget) = (shell.using_program("curl"), shell.using_program("wget"));
        self.curl |= curl;
        self.wget |= wget;
        if (curl || wget) && self.curl && self.wget {
            out.at("DL4001", line);
        }
        // DL3010: an archive COPY put in, extracted here.
        for c in &shell.commands {
            let extracts = (c.name == "tar"
                && c.args.iter().any(|a| {
                    a == "--extract" || a == "--get" || (a.starts_with('-') && a.contains('x'))
                }))
                || [
                    "unzip",
                    "gunzip",
                    "bunzip2",
                    "unlzma",
                    "unxz",
                    "zgz",
                    "uncompress",
                    "zcat",
                    "gzcat",
                ]
                .contains(&c.name.as_str());
            if !extracts {
                continue;
            }
            for a in c.args_no_flags() {
                let b = a.rsplit(['/', '\\']).next().unwrap_or(a);
                for (copy_line, name, done) in &mut self.archives {
                    if name == b && !*done {
                        *done = true;
                        if !self.archive_findings.contains(copy_line) {
                            self.archive_findings.push(*copy_line);
                        }
                    }
                }
            }
        }
    }
}

/// `name[:tag][@digest]` → (name, tag, digest).
fn split_image(image: &str) -> (&str, Option<&str>, Option<&str>) {
    let (rest, digest) = match image.split_once('@') {
        Some((r, d)) => (r, Some(d)),
        None => (image, None),
    };
    let slash = rest.rfind('/').map_or(0, |k| k + 1);
    match rest[slash..].find(':') {
        Some(k) => (&rest[..slash + k], Some(&rest[slash + k + 1..]), digest),
        None => (rest, None, digest),
    }
}

/// DL3026: the image's registry (the first path component when it has a
/// `.` or `:`) matches an allowed entry; an image without one is
/// `docker.io`'s (or `scratch`, always allowed).
fn trusted(config: &LintConfig, name: &str) -> bool {
    let registry = match name.split_once('/') {
        Some((first, _)) if first.contains(['.', ':']) => Some(first),
        _ => None,
    };
    let allowed = |r: &str| {
        config.trusted_registries.iter().any(|pat| {
            if pat == "*" {
                true
            } else if let Some(suffix) = pat.strip_prefix('*') {
                r.ends_with(suffix)
            } else if let Some(prefix) = pat.strip_suffix('*') {
                r.starts_with(prefix)
            } else {
                pat == r
            }
        })
    };
    match registry {
        Some(r) => allowed(r),
        None => name == "scratch" || allowed("docker.io") || allowed("hub.docker.com"),
    }
}

fn absolute_workdir(q: &str) -> bool {
    let b = q.as_bytes();
    q.starts_with('$')
        || q.starts_with('/')
        || (b.len() >= 2 && b[0].is_ascii_alphabetic() && b[1] == b':')
}

fn valid_port(p: &str) -> bool {
    let p = p.split('/').next().unwrap_or(p);
    if p.contains('$') {
        return true;
    }
    let ok = |n: &str| n.parse::<u64>().is_ok_and(|n| n <= 65535);
    match p.split_once('-') {
        Some((a, b)) => ok(a) && ok(b),
        None => ok(p),
    }
}

/// DL4006's pipefail: SHELL starting with `pwsh`, `powershell` or `cmd`,
/// or a bash/zsh/ash command with `-o pipefail`.
fn shell_sets_pipefail(text: &str) -> bool {
    if ["pwsh", "powershell", "cmd"]
        .iter()
        .any(|p| text.starts_with(p))
    {
        return true;
    }
    crate::shell::ParsedShell::parse(text)
        .commands
        .iter()
        .any(|c| {
            ["/bin/bash", "/bin/zsh", "/bin/ash", "bash", "zsh", "ash"].contains(&c.name.as_str())
                && c.has_flag("o")
                && c.has_arg("pipefail")
        })
}

/// Whether `value` uses `${name}` or `$name` (not followed by a name
/// character).
fn refers_to(value: &str, name: &str) -> bool {
    if value.contains(&format!("${{{name}}}")) {
        return true;
    }
    let needle = format!("${name}");
    value.match_indices(&needle).any(|(k, _)| {
        !value[k + needle.len()..].starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_')
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn helpers() {
        assert_eq!(
            split_image("a/b:1@sha256:x"),
            ("a/b", Some("1"), Some("sha256:x"))
        );
        assert_eq!(split_image("host:5000/b"), ("host:5000/b", None, None));
        assert!(refers_to("$A/x", "A") && refers_to("${A}", "A"));
        assert!(!refers_to("$AB", "A") && !refers_to("${A:-1}", "A"));
        assert!(valid_port("80/tcp") && valid_port("8000-8010") && !valid_port("70000"));
        assert!(shell_sets_pipefail("/bin/bash -exo pipefail -c"));
        assert!(shell_sets_pipefail("/bin/bash -c set -o pipefail"));
        assert!(shell_sets_pipefail("cmd.exe /S /C"));
        assert!(!shell_sets_pipefail("/usr/bin/bash -o pipefail -c"));
        assert!(!shell_sets_pipefail("/bin/sh -c"));
    }
}
