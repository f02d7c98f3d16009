//! Licences as packages declare them, made SPDX where they can be: Debian
//! `copyright` files (machine-readable DEP-5, and the common-licenses
//! references of the others), rpm `License` tags, Python
//! `License-Expression`, classifiers and `License`, npm `license`.
//!
//! The SPDX licence list and expression grammar are the `spdx` crate's
//! (the list cargo-deny checks crates against); the aliases package
//! ecosystems use instead of SPDX identifiers (Debian's `GPL-2+`,
//! `Expat`, `BSD-3-clause`; Python's trove classifiers) are mapped here.

/// Debian and other ecosystems' names for SPDX licences (lower case).
const ALIASES: &[(&str, &str)] = &[
    ("expat", "MIT"),
    ("mit/x11", "MIT"),
    ("x11", "X11"),
    ("bsd-2-clause", "BSD-2-Clause"),
    ("bsd-3-clause", "BSD-3-Clause"),
    ("bsd-4-clause", "BSD-4-Clause"),
    ("bsd", "BSD-3-Clause"),
    ("bsd-2", "BSD-2-Clause"),
    ("bsd-3", "BSD-3-Clause"),
    ("zlib", "Zlib"),
    ("isc", "ISC"),
    ("apache-2", "Apache-2.0"),
    ("apache-2.0", "Apache-2.0"),
    ("apache 2.0", "Apache-2.0"),
    ("apache license 2.0", "Apache-2.0"),
    ("mpl-1.1", "MPL-1.1"),
    ("mpl-2", "MPL-2.0"),
    ("mpl-2.0", "MPL-2.0"),
    ("psf-2", "PSF-2.0"),
    ("psf", "PSF-2.0"),
    ("python", "Python-2.0"),
    ("artistic", "Artistic-1.0-Perl"),
    ("artistic-2", "Artistic-2.0"),
    ("artistic-2.0", "Artistic-2.0"),
    ("cc0", "CC0-1.0"),
    ("cc0-1.0", "CC0-1.0"),
    ("unicode-dfs-2016", "Unicode-DFS-2016"),
    ("openssl", "OpenSSL"),
    ("curl", "curl"),
    ("sleepycat", "Sleepycat"),
    ("ftl", "FTL"),
    ("bsl-1.0", "BSL-1.0"),
    ("boost", "BSL-1.0"),
    ("wtfpl", "WTFPL"),
    ("unlicense", "Unlicense"),
    ("0bsd", "0BSD"),
];

/// GNU licences: Debian writes `GPL-2`, `LGPL-2.1+`; SPDX wants the
/// version with `.0` and `-only` or `-or-later`.
const GNU: &[&str] = &["gpl", "lgpl", "agpl", "gfdl"];

/// Licence exceptions by the name Debian gives them (`GPL-3+ with
/// autoconf exception`): the SPDX exception for GPL 2 and GPL 3.
const EXCEPTIONS: &[(&str, &str, &str)] = &[
    (
        "autoconf",
        "Autoconf-exception-2.0",
        "Autoconf-exception-3.0",
    ),
    ("bison", "Bison-exception-2.2", "Bison-exception-2.2"),
    ("texinfo", "Texinfo-exception", "Texinfo-exception"),
    (
        "classpath",
        "Classpath-exception-2.0",
        "Classpath-exception-2.0",
    ),
    (
        "gcc runtime library",
        "GCC-exception-2.0",
        "GCC-exception-3.1",
    ),
];

/// `GPL-3+ with autoconf exception` (Debian), or the deprecated SPDX
/// identifier `GPL-3.0-with-autoconf-exception+`, as an SPDX expression
/// (`GPL-3.0-or-later WITH Autoconf-exception-3.0`).
fn with_exception(lower: &str) -> Option<String> {
    let (licence, exception) = match lower.split_once(" with ") {
        Some((l, e)) => (
            l.trim().to_string(),
            e.trim().trim_end_matches(" exception"),
        ),
        None => {
            // GPL-3.0-with-autoconf-exception(+)
            let later = lower.ends_with('+');
            let t = lower.trim_end_matches('+');
            let (l, e) = t.split_once("-with-")?;
            let e = e.strip_suffix("-exception")?;
            (format!("{l}{}", if later { "+" } else { "" }), e)
        }
    };
    let id = spdx_id(&licence)?;
    let v3 = id.starts_with("GPL-3") || id.starts_with("LGPL-3");
    let (_, v2_name, v3_name) = EXCEPTIONS
        .iter()
        .find(|(n, _, _)| exception.eq_ignore_ascii_case(n))?;
    Some(format!("{id} WITH {}", if v3 { v3_name } else { v2_name }))
}

/// The SPDX identifier of one licence name, if it is or maps to one:
/// `GPL-2+` → `GPL-2.0-or-later`, `Expat` → `MIT`, `mit` → `MIT`; a
/// licence with an exception maps to an SPDX `WITH` expression.
pub fn spdx_id(name: &str) -> Option<String> {
    let t = name.trim().trim_end_matches(['.', ',', ';']).trim();
    let lower_all = t.to_ascii_lowercase();
    if lower_all.contains("with") && lower_all.contains("exception") {
        return with_exception(&lower_all);
    }
    if t.is_empty() || t.contains(char::is_whitespace) && t.len() > 40 {
        return None;
    }
    if let Some(id) = spdx::license_id(t)
        && !t.ends_with('+')
        && !id.is_gnu()
    {
        return Some(id.name.to_string());
    }
    let lower = t.to_ascii_lowercase();
    let (base, later) = match lower.strip_suffix('+') {
        Some(b) => (b.trim_end(), true),
        None => match lower.strip_suffix(" or later") {
            Some(b) => (b.trim_end(), true),
            None => (lower.as_str(), false),
        },
    };
    // GNU: GPL-2, GPL-2.0, GPLv2, GPL-2.0-only, LGPL-2.1-or-later, and
    // Debian's GFDL-NIV-1.3 (no invariant sections).
    let (base, niv) = match base.strip_prefix("gfdl-niv") {
        Some(rest) => (format!("gfdl{rest}"), true),
        None => (base.to_string(), false),
    };
    if let Some(family) = GNU.iter().find(|f| base.starts_with(**f)) {
        let rest = base[family.len()..].trim_start_matches(['-', 'v', ' ']);
        let (rest, later) = match rest.strip_suffix("-or-later") {
            Some(r) => (r, true),
            None => (rest.strip_suffix("-only").unwrap_or(rest), later),
        };
        let (version, later) = match rest {
            // No version: Debian's common-licenses `GPL`, `LGPL`, `GFDL`
            // (read as trivy reads them: that version or later).
            "" => (
                match *family {
                    "gfdl" => "1.3",
                    "agpl" => "3.0",
                    _ => "2.0",
                },
                true,
            ),
            "1" | "1.0" => ("1.0", later),
            "2" | "2.0" => ("2.0", later),
            "2.1" => ("2.1", later),
            "3" | "3.0" => ("3.0", later),
            "1.1" | "1.2" | "1.3" => (rest, later),
            _ => return None,
        };
        let upper = family.to_ascii_uppercase();
        let id = format!(
            "{upper}-{version}{}-{}",
            if niv { "-no-invariants" } else { "" },
            if later { "or-later" } else { "only" }
        );
        return spdx::license_id(&id).map(|l| l.name.to_string());
    }
    if let Some((_, id)) = ALIASES.iter().find(|(a, _)| *a == base) {
        return Some((*id).to_string());
    }
    // The list's own names, case aside.
    spdx::identifiers::LICENSES
        .iter()
        .find(|l| l.name.eq_ignore_ascii_case(t))
        .map(|l| l.name.to_string())
}

/// A declared licence made SPDX: an identifier or a valid expression
/// (`MIT`, `GPL-2+`, `MIT OR Apache-2.0`, `(MIT)`), else `None` for free
/// text (a sentence, a copyright line).
pub fn normalize(declared: &str) -> Option<String> {
    let t = declared.trim();
    if let Some(id) = spdx_id(t) {
        return Some(id);
    }
    // An expression: each licence term mapped, operators kept.
    let mut out = Vec::new();
    for token in t.replace('(', " ( ").replace(')', " ) ").split_whitespace() {
        match token.to_ascii_uppercase().as_str() {
            "AND" | "OR" | "WITH" | "(" | ")" => out.push(token.to_ascii_uppercase()),
            _ if out.last().is_some_and(|o| o == "WITH") => out.push(token.to_string()),
            _ => out.push(spdx_id(token)?),
        }
    }
    let expression = out.join(" ").replace("( ", "(").replace(" )", ")");
    spdx::Expression::parse(&expression)
        .is_ok()
        .then_some(expression)
}

/// Whether `text` is a valid SPDX expression as it stands.
pub fn is_expression(text: &str) -> bool {
    spdx::Expression::parse(text).is_ok()
}

/// Words that make a `License:` value licence *text* rather than a name
/// (trivy's list: such a line names no licence).
const TEXT_WORDS: [&str; 10] = [
    "http://",
    "https://",
    "as-is",
    ";",
    "hereby",
    "permission to use",
    "permission is",
    "use in source",
    "use, copy, modify",
    "using",
];

/// The licences of a Debian `copyright` file, in order of appearance: the
/// `License:` names (all of a machine-readable DEP-5 file's; in an older
/// free-form file only the names that are SPDX licences, as a `License:`
/// line there is often prose), then the licences it points to in
/// `/usr/share/common-licenses`. A `License:` value is read as trivy reads
/// it: up to a `(`, without "The main library is licensed under " and a
/// trailing " license", split at `or`/`and` (also `_or_`, `_and_`), `|`
/// and commas; a value that reads as licence text names nothing.
pub fn debian_copyright(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut push = |name: &str| {
        let name = name.trim();
        if !name.is_empty() && !out.iter().any(|o| o == name) {
            out.push(name.to_string());
        }
    };
    let dep5 = text
        .lines()
        .next()
        .is_some_and(|l| l.to_ascii_lowercase().starts_with("format:"));
    for line in text.lines() {
        let Some(v) = line.strip_prefix("License:") else {
            continue;
        };
        let v = v.split('(').next().unwrap_or_default().trim();
        let v = v
            .strip_prefix("The main library is licensed under ")
            .unwrap_or(v);
        let v = v.strip_suffix(" license").unwrap_or(v).trim();
        let lower = v.to_ascii_lowercase();
        if v.is_empty() || TEXT_WORDS.iter().any(|w| lower.contains(w)) {
            continue;
        }
        // `GPL-2+ or Artistic`, `BSD-3-clause and MIT`, `LGPLv3+_or_GPLv2+`,
        // `GPL, version 2` (a comma before "version" or "later" is not a
        // list).
        let mut names: Vec<String> = Vec::new();
        for piece in v.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            // `A, and B`, `A, or B`: the comma and the word together.
            let piece = piece
                .strip_prefix("and ")
                .or_else(|| piece.strip_prefix("or "))
                .unwrap_or(piece);
            let first = piece.split_whitespace().next().unwrap_or_default();
            match names.last_mut() {
                Some(last) if matches!(first, "version" | "ver" | "later") => {
                    last.push_str(", ");
                    last.push_str(piece);
                }
                _ => names.push(piece.to_string()),
            }
        }
        for name in &names {
            let mut alts: Vec<String> = Vec::new();
            for alt in name
                .split(" or ")
                .flat_map(|x| x.split(" and "))
                .flat_map(|x| x.split(" | "))
                .flat_map(|x| x.split("_or_"))
                .flat_map(|x| x.split("_and_"))
            {
                let alt = alt.trim_end_matches(',').trim();
                match alts.last_mut() {
                    // `version 2 or later` is one licence.
                    Some(last) if alt == "later" => last.push_str(" or later"),
                    _ => alts.push(alt.to_string()),
                }
            }
            for alt in alts {
                if dep5 || spdx_id(&alt).is_some() {
                    push(&alt);
                }
            }
        }
    }
    for part in text.split("/usr/share/common-licenses/").skip(1) {
        let name: String = part
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '+'))
            .collect();
        let name = name.trim_end_matches('.');
        if !name.is_empty() {
            push(name);
        }
    }
    out
}

/// The SPDX identifier a Python trove classifier names
/// (`License :: OSI Approved :: MIT License` → `MIT`).
pub fn python_classifier(classifier: &str) -> Option<&'static str> {
    let name = classifier.rsplit("::").next()?.trim();
    Some(match name {
        "MIT License" => "MIT",
        "MIT No Attribution License (MIT-0)" => "MIT-0",
        "BSD License" => "BSD-3-Clause",
        "Apache Software License" => "Apache-2.0",
        "ISC License (ISCL)" => "ISC",
        "Mozilla Public License 2.0 (MPL 2.0)" => "MPL-2.0",
        "Python Software Foundation License" => "PSF-2.0",
        "GNU General Public License v2 (GPLv2)" => "GPL-2.0-only",
        "GNU General Public License v2 or later (GPLv2+)" => "GPL-2.0-or-later",
        "GNU General Public License v3 (GPLv3)" => "GPL-3.0-only",
        "GNU General Public License v3 or later (GPLv3+)" => "GPL-3.0-or-later",
        "GNU Lesser General Public License v2 (LGPLv2)" => "LGPL-2.0-only",
        "GNU Lesser General Public License v2 or later (LGPLv2+)" => "LGPL-2.0-or-later",
        "GNU Lesser General Public License v3 (LGPLv3)" => "LGPL-3.0-only",
        "GNU Lesser General Public License v3 or later (LGPLv3+)" => "LGPL-3.0-or-later",
        "GNU Affero General Public License v3" => "AGPL-3.0-only",
        "The Unlicense (Unlicense)" => "Unlicense",
        "zlib/libpng License" => "Zlib",
        "Academic Free License (AFL)" => "AFL-3.0",
        "Boost Software License 1.0 (BSL-1.0)" => "BSL-1.0",
        "Eclipse Public License 2.0 (EPL-2.0)" => "EPL-2.0",
        "Historical Permission Notice and Disclaimer (HPND)" => "HPND",
        "Universal Permissive License (UPL)" => "UPL-1.0",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_become_spdx_identifiers() {
        for (name, id) in [
            ("MIT", "MIT"),
            ("mit", "MIT"),
            ("Expat", "MIT"),
            ("GPL-2", "GPL-2.0-only"),
            ("GPL-2+", "GPL-2.0-or-later"),
            ("GPL-3.0+", "GPL-3.0-or-later"),
            ("LGPL-2.1+", "LGPL-2.1-or-later"),
            ("GPLv2", "GPL-2.0-only"),
            ("GPL-2.0-or-later", "GPL-2.0-or-later"),
            ("BSD-3-clause", "BSD-3-Clause"),
            ("GPL", "GPL-2.0-or-later"),
            ("LGPL", "LGPL-2.0-or-later"),
            ("GFDL-NIV-1.3+", "GFDL-1.3-no-invariants-or-later"),
            ("GFDL-NIV-1.3", "GFDL-1.3-no-invariants-only"),
            (
                "GPL-3+ with autoconf exception",
                "GPL-3.0-or-later WITH Autoconf-exception-3.0",
            ),
            (
                "GPL-3.0-with-autoconf-exception+",
                "GPL-3.0-or-later WITH Autoconf-exception-3.0",
            ),
            (
                "GPL-3+ with Bison exception",
                "GPL-3.0-or-later WITH Bison-exception-2.2",
            ),
            (
                "GPL-2+ with Texinfo exception",
                "GPL-2.0-or-later WITH Texinfo-exception",
            ),
            ("Apache-2.0", "Apache-2.0"),
            ("public-domain", ""),
            ("Copyright (c) 2005-2023, NumPy Developers.", ""),
        ] {
            assert_eq!(spdx_id(name).unwrap_or_default(), id, "{name}");
        }
        assert_eq!(
            normalize("MIT OR Apache-2.0").as_deref(),
            Some("MIT OR Apache-2.0")
        );
        assert_eq!(
            normalize("(GPL-2+ and BSD-3-clause)").as_deref(),
            Some("(GPL-2.0-or-later AND BSD-3-Clause)")
        );
        assert_eq!(normalize("a license of our own"), None);
        for e in [
            "GPL-3.0-or-later WITH Autoconf-exception-3.0",
            "GPL-3.0-or-later WITH Bison-exception-2.2",
            "GPL-2.0-or-later WITH Texinfo-exception",
        ] {
            assert!(is_expression(e), "{e}");
        }
    }

    #[test]
    fn debian_copyright_files_name_their_licences() {
        let dep5 = "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\nUpstream-Name: x\n\nFiles: *\nCopyright: 1999 Someone\nLicense: GPL-2+\n This program is free software\n\nFiles: lib/*\nLicense: BSD-3-clause or Expat\n\nLicense: GPL-2+\n On Debian systems, see /usr/share/common-licenses/GPL-2.\n";
        assert_eq!(
            debian_copyright(dep5),
            ["GPL-2+", "BSD-3-clause", "Expat", "GPL-2"]
        );
        let old = "This is zlib.\n\nOn Debian systems the full text of the GNU General Public\nLicense can be found in `/usr/share/common-licenses/GPL-2'.\nSee also /usr/share/common-licenses/LGPL-2.1.\n";
        assert_eq!(debian_copyright(old), ["GPL-2", "LGPL-2.1"]);
        // A free-form file's License: lines: only the names that are
        // licences; prose and licence text name nothing.
        assert_eq!(
            debian_copyright(
                "Format: x\n\nLicense: GPL-1+ or Artistic, and Expat,\nLicense: GPL, version 2 or later\n"
            ),
            ["GPL-1+", "Artistic", "Expat", "GPL, version 2 or later"]
        );
        let free = "This package was debianized by someone.\n\nLicense: The main library is licensed under GNU Lesser\nLicense: CC0 license\nLicense: Expat\nLicense: LGPLv3+_or_GPLv2+\nLicense: BSD-3-clause (see below)\nLicense: Redistribution and use in source and binary forms\nLicense: see the file README\n";
        let names: Vec<Option<String>> =
            debian_copyright(free).iter().map(|n| spdx_id(n)).collect();
        assert_eq!(
            names,
            [
                "CC0-1.0",
                "MIT",
                "LGPL-3.0-or-later",
                "GPL-2.0-or-later",
                "BSD-3-Clause"
            ]
            .map(|n| Some(n.to_string()))
        );
        assert_eq!(
            python_classifier("License :: OSI Approved :: BSD License"),
            Some("BSD-3-Clause")
        );
    }
}
