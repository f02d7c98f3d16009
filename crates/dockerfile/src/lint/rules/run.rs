//! The rules that read a RUN's commands (and DL3064 on ARG/ENV): they run
//! over the file, and again over what `ONBUILD` wraps, each time with fresh
//! state. Version pinning lives in [`super::packages`].

use super::packages;
use super::{Ins, Out};
use crate::ast::Args;
use crate::shell::{Command, ParsedShell};
use std::collections::{HashMap, HashSet};

/// Per-RUN rules without state: (code, does the RUN break it).
type RunRule = fn(&Ins, &ParsedShell) -> bool;

const STATELESS: &[(&str, RunRule)] = &[
    ("DL3001", |_, s| {
        s.commands.iter().any(|c| {
            [
                "free", "kill", "mount", "ps", "service", "shutdown", "ssh", "top", "vim",
            ]
            .contains(&c.name.as_str())
        })
    }),
    ("DL3004", |_, s| s.using_program("sudo")),
    ("DL3008", |_, s| {
        s.commands.iter().any(packages::apt_unpinned)
    }),
    ("DL3013", |_, s| {
        s.commands.iter().any(packages::pip_unpinned)
    }),
    ("DL3014", |_, s| {
        s.commands
            .iter()
            .any(|c| c.has_args("apt-get", &["install"]) && !apt_yes(c))
    }),
    ("DL3015", |_, s| {
        s.commands.iter().any(|c| {
            c.has_args("apt-get", &["install"])
                && !c.has_flag("no-install-recommends")
                && !c.has_arg("APT::Install-Recommends=false")
        })
    }),
    ("DL3016", |_, s| {
        s.commands.iter().any(packages::npm_unpinned)
    }),
    ("DL3018", |_, s| {
        s.commands.iter().any(packages::apk_unpinned)
    }),
    ("DL3019", |i, s| {
        !i.caches("/var/cache/apk")
            && s.commands
                .iter()
                .any(|c| c.has_args("apk", &["add"]) && !c.has_flag("no-cache"))
    }),
    ("DL3027", |_, s| s.using_program("apt")),
    ("DL3028", |_, s| {
        s.commands.iter().any(packages::gem_unpinned)
    }),
    ("DL3030", |_, s| {
        s.commands.iter().any(|c| {
            c.has_args("yum", &["install", "groupinstall", "localinstall"])
                && !c.has_any_flag(&["y", "assumeyes"])
        })
    }),
    ("DL3032", |_, s| {
        s.any_has_args("yum", &["install"])
            && !s.any_has_args("yum", &["clean", "all"])
            && !s.any_has_args("rm", &["-rf", "/var/cache/yum/*"])
    }),
    ("DL3034", |_, s| {
        s.commands.iter().any(|c| {
            c.has_args(
                "zypper",
                &[
                    "install",
                    "in",
                    "remove",
                    "rm",
                    "source-install",
                    "si",
                    "patch",
                ],
            ) && !c.has_any_flag(&["non-interactive", "n", "no-confirm", "y"])
        })
    }),
    ("DL3035", |_, s| {
        s.any_has_args("zypper", &["dist-upgrade", "dup"])
    }),
    ("DL3036", |i, s| {
        !i.caches("/var/cache/zypp")
            && s.any_has_args("zypper", &["install", "in"])
            && !s.any_has_args("zypper", &["clean", "cc"])
    }),
    ("DL3037", |_, s| {
        s.commands.iter().any(packages::zypper_unpinned)
    }),
    ("DL3038", |_, s| {
        s.commands.iter().any(|c| {
            c.names_have_args(
                &["dnf", "microdnf"],
                &["install", "groupinstall", "localinstall"],
            ) && !c.has_any_flag(&["y", "assumeyes"])
        })
    }),
    ("DL3040", |i, s| {
        !i.caches("/var/cache/libdnf5")
            && !i.caches(".cache/libdnf5")
            && ["dnf", "microdnf"].iter().any(|n| {
                s.any_has_args(n, &["install"])
                    && !s.any_has_args(n, &["clean", "all"])
                    && !s.any_has_args("rm", &["-rf", "/var/cache/libdnf5*"])
            })
    }),
    ("DL3046", |_, s| {
        s.commands.iter().any(|c| {
            c.name == "useradd"
                && !c.has_any_flag(&["l", "no-log-init"])
                && c.has_any_flag(&["u", "uid"])
                && c.flag_args("u").iter().any(|v| v.chars().count() > 5)
        })
    }),
    ("DL3047", |_, s| {
        s.commands.iter().any(|c| {
            c.name == "wget"
                && !c.has_any_flag(&[
                    "progress",
                    "q",
                    "quiet",
                    "o",
                    "output-file",
                    "a",
                    "append-output",
                    "no-verbose",
                ])
                && !c.has_arg("-nv")
        })
    }),
    ("DL3062", |_, s| packages::go_unpinned(s)),
    ("DL4005", |_, s| {
        s.commands
            .iter()
            .any(|c| c.name == "ln" && c.has_arg("/bin/sh"))
    }),
];

/// DL3014's "yes": `-y`, `--yes`, `--assume-yes`, `-qq`, or quiet twice.
fn apt_yes(c: &Command) -> bool {
    c.has_any_flag(&["y", "yes", "qq", "assume-yes"])
        || c.count_flag("q") == 2
        || c.count_flag("quiet") == 2
        || c.has_arg("-q=2")
}

/// A stage as DL3009 and DL3060 compare them: the FROM's image and alias.
#[derive(Clone, PartialEq, Eq, Default)]
struct BaseImage {
    image: String,
    alias: Option<String>,
    platform: Option<String>,
}

#[derive(Default)]
struct State {
    stage: BaseImage,
    /// Image names used by FROMs (DL3009, DL3060: a stage used as a base).
    from_images: HashSet<String>,
    /// (code, RUN line, its stage) of lists or caches left behind.
    leftovers: Vec<(&'static str, usize, BaseImage)>,
    /// ARG names, anywhere before (DL3033, DL3041).
    args: HashSet<String>,
    /// ENV names of the current stage, and of each stage by key.
    env: HashSet<String>,
    stage_env: HashMap<String, HashSet<String>>,
    stage_key: String,
    /// DL3042: stage key → `PIP_NO_CACHE_DIR` set.
    no_pip_cache: HashMap<String, bool>,
}

pub(super) fn check(ins: &[Ins], out: &mut Out) {
    let mut s = State {
        stage: BaseImage {
            image: "scratch".into(),
            ..Default::default()
        },
        ..Default::default()
    };
    for i in ins {
        match (i.i.keyword.as_str(), &i.i.args) {
            ("FROM", Args::From { image, .. }) => {
                let alias = &super::from_alias(i.i);
                s.stage_env
                    .insert(s.stage_key.clone(), std::mem::take(&mut s.env));
                let name = image.split([':', '@']).next().unwrap_or(image).to_string();
                s.from_images.insert(image.clone());
                s.env = s.stage_env.get(image).cloned().unwrap_or_default();
                let key = alias.clone().unwrap_or_else(|| name.clone());
                let inherited = s.no_pip_cache.get(&name).copied().unwrap_or(false);
                s.no_pip_cache.insert(key.clone(), inherited);
                s.stage_key = key;
                s.stage = BaseImage {
                    image: image.clone(),
                    alias: alias.clone(),
                    platform: i.i.flag("platform").map(str::to_string),
                };
            }
            ("ARG", Args::Arg(decls)) => {
                s.args.extend(decls.iter().map(|(k, _)| k.clone()));
                if decls.iter().any(|(k, _)| sensitive(k)) {
                    out.at("DL3064", i.line);
                }
            }
            ("ENV", Args::Pairs(pairs)) => {
                s.env.extend(pairs.iter().map(|(k, _)| k.clone()));
                if pairs.iter().any(|(k, _)| sensitive(k)) {
                    out.at("DL3064", i.line);
                }
                if pairs
                    .iter()
                    .any(|(k, v)| k == "PIP_NO_CACHE_DIR" && truthy(v))
                {
                    s.no_pip_cache.insert(s.stage_key.clone(), true);
                }
            }
            ("RUN", _) => {
                let Some(shell) = &i.shell else { continue };
                for (code, broken) in STATELESS {
                    if broken(i, shell) {
                        out.at(code, i.line);
                    }
                }
                let defined = |v: &str| s.args.contains(v) || s.env.contains(v);
                if packages::yum_unpinned(shell, &["yum"], &defined) {
                    out.at("DL3033", i.line);
                }
                if packages::yum_unpinned(shell, &["dnf", "microdnf"], &defined) {
                    out.at("DL3041", i.line);
                }
                if pip_cache_left(&s, i, shell) {
                    out.at("DL3042", i.line);
                }
                let lists_cached = i.caches("/var/lib/apt/lists")
                    || (i.caches("/var/lib/apt") && i.caches("/var/cache/apt"));
                let apt_lists = ["apt-get", "apt", "aptitude"]
                    .iter()
                    .any(|a| shell.any_has_args(a, &["update"]))
                    && !shell.any_has_args("rm", &["-rf", "/var/lib/apt/lists/*"])
                    && !lists_cached;
                if apt_lists {
                    s.leftovers.push(("DL3009", i.line, s.stage.clone()));
                }
                let yarn = shell.any_has_args("yarn", &["install"])
                    && !shell.any_has_args("yarn", &["cache", "clean"])
                    && !i.caches(".cache/yarn");
                if yarn {
                    s.leftovers.push(("DL3060", i.line, s.stage.clone()));
                }
            }
            _ => {}
        }
    }
    // Lists and caches left in a stage matter when the stage is the last
    // one, or is the base of another.
    for (code, line, stage) in &s.leftovers {
        let used = stage
            .alias
            .as_ref()
            .is_some_and(|a| s.from_images.contains(a));
        if *stage == s.stage || used {
            out.at(code, *line);
        }
    }
}

/// DL3042: a pip install that keeps its cache, unless the stage or the RUN
/// says `PIP_NO_CACHE_DIR` or a cache mount holds pip's cache.
fn pip_cache_left(s: &State, i: &Ins, shell: &ParsedShell) -> bool {
    if s.no_pip_cache.get(&s.stage_key).copied().unwrap_or(false) || i.caches(".cache/pip") {
        return false;
    }
    let inline = shell
        .original
        .match_indices("PIP_NO_CACHE_DIR=")
        .any(|(k, m)| {
            let rest = &shell.original[k + m.len()..];
            TRUTHY.iter().any(|t| rest.starts_with(t))
        });
    !inline
        && shell.commands.iter().any(|c| {
            packages::is_pip_install(c) && !c.has_arg("--no-cache-dir") && !packages::pip_wrapper(c)
        })
}

const TRUTHY: [&str; 10] = [
    "1", "true", "True", "TRUE", "on", "On", "ON", "yes", "Yes", "YES",
];

fn truthy(v: &str) -> bool {
    TRUTHY.contains(&v)
}

/// DL3064: names hadolint treats as secrets in ARG and ENV.
fn sensitive(name: &str) -> bool {
    const NAMES: &[&str] = &[
        "ACCESS_TOKEN",
        "APPLICATION_KEY",
        "APP_SECRET",
        "AUTH_TOKEN",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "BITTREX_API_KEY",
        "BITTREX_API_SECRET",
        "CF_PASSWORD",
        "CF_USERNAME",
        "CIRCLE_TOKEN",
        "CI_DEPLOY_PASSWORD",
        "CI_DEPLOY_USER",
        "DOCKERHUB_PASSWORD",
        "DOCKER_EMAIL",
        "DOCKER_PASSWORD",
        "DOCKER_USERNAME",
        "FACEBOOK_ACCESS_TOKEN",
        "FACEBOOK_APP_ID",
        "FACEBOOK_APP_SECRET",
        "FIREBASE_API_TOKEN",
        "FIREBASE_TOKEN",
        "FOSSA_API_KEY",
        "GH_ENTERPRISE_TOKEN",
        "GH_TOKEN",
        "GITHUB_ENTERPRISE_TOKEN",
        "GITHUB_TOKEN",
        "HEROKU_API_KEY",
        "HEROKU_API_USER",
        "NPM_AUTH_TOKEN",
        "NPM_TOKEN",
        "OKTA_AUTHN_GROUPID",
        "OKTA_CLIENT_ORGURL",
        "OKTA_CLIENT_TOKEN",
        "OKTA_OAUTH2_CLIENTID",
        "OKTA_OAUTH2_CLIENTSECRET",
        "OPENAI_API_KEY",
        "OS_PASSWORD",
        "OS_USERNAME",
        "POSTGRES_PASSWORD",
        "SLACK_TOKEN",
        "STRIPE_API_KEY",
        "STRIPE_DEVICE_NAME",
        "TRAVIS_OS_NAME",
        "TRAVIS_SECURE_ENV_VARS",
        "TRAVIS_SUDO",
        "VAULT_CLIENT_KEY",
        "VAULT_TOKEN",
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
