//! Capabilities: what a container started the way the image asks would be
//! allowed to do.
//!
//! Images following the Atomic/Project Atomic label convention carry the
//! command to run them in a `RUN` label (and an `INSTALL` one for host
//! setup), for example `podman run --privileged --net=host …`. The scanner
//! reads those commands the way a shell splits them and reports each
//! request beyond an unprivileged container: `--privileged`, every
//! `--cap-add`, host network, PID, IPC or UTS namespaces, and SELinux
//! labelling turned off; and an image whose final `USER` is root.

use slipway_core::scan::Finding;
use std::collections::BTreeMap;

/// The labels that hold a command line, as their origin is reported.
const COMMAND_LABELS: [&str; 4] = ["RUN", "INSTALL", "run", "install"];

/// Findings for an image with these labels and this `config.User`.
pub fn check(labels: &BTreeMap<String, String>, user: &str) -> Vec<Finding> {
    let mut out = Vec::new();
    for label in COMMAND_LABELS {
        let Some(command) = labels.get(label) else {
            continue;
        };
        let origin = format!("label {}", label.to_ascii_uppercase());
        for request in requests(command) {
            out.push(Finding::Capability {
                origin: origin.clone(),
                request,
            });
        }
    }
    if runs_as_root(user) {
        out.push(Finding::Capability {
            origin: "config User".into(),
            request: "user root".into(),
        });
    }
    out.sort();
    out.dedup();
    out
}

/// An empty user, `root` or uid 0 (with any group) is root.
pub fn runs_as_root(user: &str) -> bool {
    let who = user.split(':').next().unwrap_or("").trim();
    who.is_empty() || who == "root" || who.parse::<u64>() == Ok(0)
}

/// The privileged requests in one command line, normalised
/// (`--net host` → `--net=host`, `--cap-add sys_admin` →
/// `--cap-add=SYS_ADMIN`).
pub fn requests(command: &str) -> Vec<String> {
    let words = shell_words(command);
    let mut out = Vec::new();
    let mut i = 0;
    while i < words.len() {
        let word = words[i].as_str();
        // `--opt=value` or `--opt value`.
        let (opt, inline) = match word.split_once('=') {
            Some((o, v)) => (o, Some(v.to_string())),
            None => (word, None),
        };
        let value = |i: &mut usize| -> String {
            match &inline {
                Some(v) => v.clone(),
                None => {
                    *i += 1;
                    words.get(*i).cloned().unwrap_or_default()
                }
            }
        };
        match opt {
            "--privileged" if inline.as_deref().is_none_or(|v| v != "false") => {
                out.push("--privileged".to_string());
            }
            "--cap-add" => {
                for cap in value(&mut i).split(',').filter(|c| !c.is_empty()) {
                    let cap = cap.to_ascii_uppercase();
                    let cap = cap.strip_prefix("CAP_").unwrap_or(&cap);
                    out.push(format!("--cap-add={cap}"));
                }
            }
            "--net" | "--network" if value(&mut i) == "host" => {
                out.push("--net=host".to_string());
            }
            "--pid" | "--ipc" | "--uts" | "--userns" if value(&mut i) == "host" => {
                out.push(format!("{opt}=host"));
            }
            "--security-opt" => {
                let v = value(&mut i);
                if matches!(v.as_str(), "label=disable" | "label:disable") {
                    out.push("--security-opt label=disable".to_string());
                }
            }
            _ => {}
        }
        i += 1;
    }
    out
}

/// Split a command line as a POSIX shell would: whitespace separates,
/// single quotes keep everything, double quotes and backslashes escape.
fn shell_words(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                in_word = true;
                for c in chars.by_ref() {
                    if c == '\'' {
                        break;
                    }
                    cur.push(c);
                }
            }
            '"' => {
                in_word = true;
                while let Some(c) = chars.next() {
                    match c {
                        '"' => break,
                        '\\' => {
                            if let Some(n) = chars.next() {
                                cur.push(n);
                            }
                        }
                        c => cur.push(c),
                    }
                }
            }
            '\\' => {
                in_word = true;
                if let Some(n) = chars.next() {
                    cur.push(n);
                }
            }
            c if c.is_whitespace() => {
                if in_word {
                    out.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            c => {
                in_word = true;
                cur.push(c);
            }
        }
    }
    if in_word {
        out.push(cur);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_privileged_request_is_reported_once_normalised() {
        assert_eq!(
            requests(
                "podman run -d --privileged --cap-add sys_admin --cap-add=CAP_NET_RAW,mknod --net host --pid=host --ipc host -v /:/host:Z --security-opt label:disable IMAGE"
            ),
            [
                "--privileged",
                "--cap-add=SYS_ADMIN",
                "--cap-add=NET_RAW",
                "--cap-add=MKNOD",
                "--net=host",
                "--pid=host",
                "--ipc=host",
                "--security-opt label=disable",
            ]
        );
        assert!(
            requests(
                "docker run --privileged=false --net=bridge --security-opt 'label=type:x' IMAGE"
            )
            .is_empty()
        );
        assert_eq!(
            requests("podman run \"--network=host\" IMAGE echo --privileged"),
            ["--net=host", "--privileged"],
            "words are read wherever they are: conservative, like grepping the label"
        );
    }

    #[test]
    fn root_is_empty_root_or_zero() {
        for u in ["", "root", "0", "0:0", "root:wheel"] {
            assert!(runs_as_root(u), "{u}");
        }
        for u in ["1001", "app", "app:0"] {
            assert!(!runs_as_root(u), "{u}");
        }
        let labels = BTreeMap::from([(
            "INSTALL".to_string(),
            "podman run --rm --privileged -v /:/host IMAGE /install.sh".to_string(),
        )]);
        assert_eq!(
            check(&labels, "1001")
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>(),
            ["label INSTALL asks for --privileged"]
        );
    }
}
