//! DL3048–DL3058: label keys, and the label schema (`label-schema:` in
//! `.hadolint.yaml`) with its value types.

use super::Out;
use crate::lint::LintConfig;
use crate::lint::config::LabelType;

/// DL3049–DL3058 for one stage's labels.
pub(super) fn check_labels(
    out: &mut Out,
    config: &LintConfig,
    labels: &[(String, String, usize)],
    from: usize,
) {
    for key in config.label_schema.keys() {
        if !labels.iter().any(|(k, _, _)| k == key) {
            out.named("DL3049", from, key);
        }
    }
    for (k, v, ins) in labels {
        match config.label_schema.get(k) {
            None => {
                if config.strict_labels {
                    out.at("DL3050", *ins);
                }
            }
            Some(t) => {
                if v.is_empty() {
                    out.named("DL3051", *ins, k);
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
                    out.named(code, *ins, k);
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

/// hadolint 2.15.1's label keys: lower-case letters, digits, `.`, `_`, `/`
/// and `-`, starting with a letter and ending with a letter or digit, no
/// `..` or `--`, and not in a namespace Docker reserves.
pub(super) fn valid_label_key(k: &str) -> bool {
    let reserved = ["com.docker.", "io.docker.", "org.dockerproject."];
    let b = k.as_bytes();
    !reserved.iter().any(|r| k.starts_with(r))
        && b.first().is_some_and(u8::is_ascii_lowercase)
        && b.last()
            .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && !k.contains("..")
        && !k.contains("--")
        && b.iter().all(|c| {
            c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, b'.' | b'_' | b'/' | b'-')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values() {
        assert!(valid_label_key("org.opencontainers.image.title"));
        assert!(valid_label_key("build_date") && valid_label_key("com.example/team"));
        assert!(
            !valid_label_key("com.docker.x") && !valid_label_key("Bad") && !valid_label_key("a..b")
        );
        assert!(!valid_label_key("1abc") && !valid_label_key("abc-") && !valid_label_key("a--b"));
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
