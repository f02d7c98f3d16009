//! Version pinning, per package manager, as hadolint 2.15 decides it:
//! which words of an install command are packages, and when one counts as
//! pinned.

use crate::shell::{Command, ParsedShell};

/// DL3008: `apt-get install` of a package without `=version` (or a path
/// or `.deb`).
pub(super) fn apt_unpinned(c: &Command) -> bool {
    if !c.has_args("apt-get", &["install"]) {
        return false;
    }
    let c = c.drop_flag_arg(&["t", "target-release"]);
    c.args_no_flags()
        .into_iter()
        .filter(|a| *a != "install")
        .any(|p| !(p.contains('=') || p.contains('/') || p.ends_with(".deb")))
}

/// hadolint's `isPipInstall`: `pip*` with `install`, or `python* -m pip
/// install`.
pub(super) fn is_pip_install(c: &Command) -> bool {
    (c.name.starts_with("pip") && c.has_arg("install"))
        || (c.name.starts_with("python")
            && c.args
                .windows(3)
                .any(|w| w[0] == "-m" && w[1] == "pip" && w[2] == "install"))
}

/// pipx and pipenv manage their own caches (DL3042).
pub(super) fn pip_wrapper(c: &Command) -> bool {
    c.name.contains("pipx")
        || c.name.contains("pipenv")
        || (c.name.starts_with("python")
            && c.args
                .windows(2)
                .any(|w| w[0] == "-m" && (w[1] == "pipx" || w[1] == "pipenv")))
}

/// DL3013: a pip install of a package without a version specifier.
pub(super) fn pip_unpinned(c: &Command) -> bool {
    if !is_pip_install(c)
        || c.args
            .iter()
            .any(|a| a == "--requirement" || a == "-r" || a == ".")
        || c.has_any_flag(&["constraint", "c"])
    {
        return false;
    }
    let c = c.drop_flag_arg(&[
        "abi",
        "b",
        "build",
        "e",
        "editable",
        "extra-index-url",
        "f",
        "find-links",
        "i",
        "index-url",
        "implementation",
        "no-binary",
        "only-binary",
        "platform",
        "prefix",
        "progress-bar",
        "proxy",
        "python-version",
        "root",
        "root-user-action",
        "src",
        "t",
        "target",
        "trusted-host",
        "upgrade-strategy",
    ]);
    let args = c.args_no_flags();
    let Some(k) = args.iter().position(|a| *a == "install") else {
        return false;
    };
    args[k + 1..].iter().any(|p| !pip_pinned(p))
}

fn pip_pinned(p: &str) -> bool {
    const VCS: &[&str] = &[
        "git+file",
        "git+https",
        "git+ssh",
        "git+http",
        "git+git",
        "git",
        "hg+file",
        "hg+http",
        "hg+https",
        "hg+ssh",
        "hg+static-http",
        "svn",
        "svn+svn",
        "svn+http",
        "svn+https",
        "svn+ssh",
        "bzr+http",
        "bzr+https",
        "bzr+ssh",
        "bzr+sftp",
        "bzr+ftp",
        "bzr+lp",
    ];
    let vcs = VCS.iter().any(|v| p.starts_with(v));
    ["==", ">=", "<=", ">", "<", "!=", "~=", "==="]
        .iter()
        .any(|s| p.contains(s))
        || (vcs && p.contains('@'))
        || p.ends_with(".whl")
        || p.ends_with(".tar.gz")
        || (!vcs && p.contains('/'))
}

/// DL3016: `npm install PACKAGE` without `@version`.
pub(super) fn npm_unpinned(c: &Command) -> bool {
    if !c.has_args("npm", &["install"]) {
        return false;
    }
    let c = c.drop_flag_arg(&["loglevel"]);
    let args = c.args_no_flags();
    if args.first() != Some(&"install") {
        return false;
    }
    args.iter()
        .skip_while(|a| **a == "install")
        .any(|p| !npm_pinned(p))
}

fn npm_pinned(p: &str) -> bool {
    let git = ["git://", "git+ssh://", "git+http://", "git+https://"]
        .iter()
        .any(|g| p.starts_with(g));
    if git {
        return p.contains('#');
    }
    if [".tar", ".tar.gz", ".tgz"].iter().any(|e| p.ends_with(e))
        || ["/", "./", "../", "~/"].iter().any(|s| p.starts_with(s))
    {
        return true;
    }
    // A scope: hadolint drops the leading characters above '/' first.
    let unscoped = match p.strip_prefix('@') {
        Some(_) => p.trim_start_matches(|c: char| c > '/'),
        None => p,
    };
    unscoped.contains('@')
}

/// DL3018: `apk add PACKAGE` without `=version`.
pub(super) fn apk_unpinned(c: &Command) -> bool {
    if !c.has_args("apk", &["add"]) {
        return false;
    }
    let c = c.drop_flag_arg(&["t", "virtual", "repository", "X"]);
    c.args_no_flags()
        .into_iter()
        .filter(|a| *a != "add")
        .any(|p| !(p.contains('=') || p.contains('~') || p.ends_with(".apk")))
}

/// DL3028: `gem install GEM` without `:version`.
pub(super) fn gem_unpinned(c: &Command) -> bool {
    if !c.has_args("gem", &["install", "i"])
        || c.args
            .iter()
            .any(|a| a == "-v" || a == "--version" || a.starts_with("--version="))
    {
        return false;
    }
    let mut packages = Vec::new();
    let mut words = c.args.iter().take_while(|a| *a != "--");
    while let Some(a) = words.next() {
        if a.starts_with('-') {
            words.next();
        } else if a != "install" && a != "i" {
            packages.push(a);
        }
    }
    packages.iter().any(|p| !p.contains(':'))
}

/// DL3037: `zypper install PACKAGE` without a version.
pub(super) fn zypper_unpinned(c: &Command) -> bool {
    if !c.has_args("zypper", &["install", "in"]) {
        return false;
    }
    c.args_no_flags()
        .into_iter()
        .filter(|a| *a != "install" && *a != "in")
        .any(|p| {
            !(["=", ">=", ">", "<=", "<"].iter().any(|s| p.contains(s)) || p.ends_with(".rpm"))
        })
}

/// DL3033 (`yum`) and DL3041 (`dnf`, `microdnf`): packages without
/// `-version` and modules without `:stream`; `defined` says whether a
/// variable a package uses is an ARG or ENV.
pub(super) fn yum_unpinned(
    shell: &ParsedShell,
    names: &[&str],
    defined: &dyn Fn(&str) -> bool,
) -> bool {
    let dnf = names.contains(&"dnf");
    shell.commands.iter().any(|c| {
        if !c.names_have_args(names, &["install"]) {
            return false;
        }
        let module = c.has_arg("module");
        let group = dnf && c.has_arg("group");
        let words: Vec<&str> = c
            .args_no_flags()
            .into_iter()
            .filter(|a| *a != "install" && *a != "module")
            .collect();
        if module {
            words.iter().any(|m| !m.contains(':'))
        } else if group {
            false
        } else {
            words.iter().any(|p| !rpm_pinned(p, defined))
        }
    })
}

fn rpm_pinned(p: &str, defined: &dyn Fn(&str) -> bool) -> bool {
    let parts: Vec<&str> = p.split('-').collect();
    if parts.len() < 2 {
        return false;
    }
    if p.ends_with(".rpm") {
        return true;
    }
    if p.contains('$') {
        return variables(p).iter().any(|v| defined(v));
    }
    let version_chars = |s: &str| {
        s.chars()
            .all(|c| c.is_ascii_alphanumeric() || ".~^_:+".contains(c))
    };
    parts[1..].iter().all(|s| version_chars(s))
        && parts[1..]
            .iter()
            .any(|s| s.starts_with(|c: char| c.is_ascii_digit()))
}

/// The names of the `${NAME…}` in a rendered word.
fn variables(p: &str) -> Vec<&str> {
    p.match_indices("${")
        .filter_map(|(k, _)| {
            let rest = &p[k + 2..];
            let end = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(rest.len());
            (end > 0).then(|| &rest[..end])
        })
        .collect()
}

/// DL3062: `go install`/`go get` (or `go run`) of a module without a
/// version (`@latest` and `@none` are not versions).
pub(super) fn go_unpinned(shell: &ParsedShell) -> bool {
    let runs: Vec<&Command> = shell
        .commands
        .iter()
        .filter(|c| c.has_args("go", &["run"]))
        .collect();
    let packages: Vec<&str> = if runs.is_empty() {
        shell
            .commands
            .iter()
            .filter(|c| c.has_args("go", &["install", "get"]))
            .flat_map(|c| c.args_no_flags())
            .filter(|a| !["install", "get", "tool"].contains(a))
            .collect()
    } else {
        runs.iter()
            .flat_map(|c| c.args_no_flags().into_iter().take(2))
            .filter(|a| *a != "run")
            .collect()
    };
    packages.iter().any(|p| {
        let ok = *p == "."
            || p.starts_with('/')
            || p.starts_with('.')
            || (p.contains('@') && !p.ends_with("@latest") && !p.ends_with("@none"));
        !ok
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn first(s: &str) -> Command {
        ParsedShell::parse(s).commands.remove(0)
    }

    #[test]
    fn pins() {
        assert!(apt_unpinned(&first("apt-get install -y curl")));
        assert!(!apt_unpinned(&first(
            "apt-get install -y curl=1 ./x.deb -t buster y/z"
        )));
        assert!(apt_unpinned(&first("apt-get install -y -- x=1")));
        assert!(pip_unpinned(&first("pip install -U pip")));
        assert!(!pip_unpinned(&first("pip install -r req.txt flask")));
        assert!(!pip_unpinned(&first(
            "python3 -m pip install 'flask==2' -i http://x"
        )));
        assert!(npm_unpinned(&first("npm install express")));
        assert!(!npm_unpinned(&first(
            "npm install express@4 @scope/x@1 ./local"
        )));
        assert!(npm_unpinned(&first("npm install @my-scope/pkg")));
        assert!(!npm_unpinned(&first("npm i express")));
        assert!(apk_unpinned(&first("apk add --no-cache curl")));
        assert!(!apk_unpinned(&first("apk add -t .deps curl=8.1 x~1")));
        assert!(!gem_unpinned(&first("gem install --no-document rails")));
        assert!(gem_unpinned(&first("gem install rails --no-document")));
        assert!(zypper_unpinned(&first("zypper install -y curl")));
        let defined = |v: &str| v == "V";
        let yum = |s: &str| yum_unpinned(&ParsedShell::parse(s), &["yum"], &defined);
        assert!(yum("yum install -y python3-pip x.rpm"));
        assert!(!yum("yum install -y a-1.0-1.el8_6 b-${V}"));
        assert!(yum("yum install -y b-${W}"));
        assert!(yum("yum module install -y nodejs"));
        assert!(!yum("yum module install -y nodejs:18"));
        assert!(go_unpinned(&ParsedShell::parse("go get -u a.com/x")));
        assert!(!go_unpinned(&ParsedShell::parse(
            "go install ./... && go install a.com/x@v1"
        )));
        assert!(!go_unpinned(&ParsedShell::parse(
            "go run a@v1 && go install b"
        )));
    }
}
