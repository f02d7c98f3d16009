//! hadolint's output formats: `tty`, `json` and `sarif` (2.1.0).

use super::{Finding, Severity};

/// `Dockerfile:3 DL3006 warning: Always tag the version of an image explicitly`
pub fn tty(file: &str, findings: &[Finding]) -> String {
    findings
        .iter()
        .map(|f| {
            format!(
                "{file}:{} {} {}: {}\n",
                f.line,
                f.code,
                f.level.as_str(),
                f.message
            )
        })
        .collect()
}

/// A JSON array of `{code, column, file, level, line, message}`.
pub fn json(results: &[(String, Vec<Finding>)]) -> serde_json::Value {
    serde_json::Value::Array(
        results
            .iter()
            .flat_map(|(file, findings)| {
                findings.iter().map(move |f| {
                    serde_json::json!({
                        "code": f.code,
                        "column": f.column,
                        "file": file,
                        "level": f.level.as_str(),
                        "line": f.line,
                        "message": f.message,
                    })
                })
            })
            .collect(),
    )
}

fn sarif_level(s: Severity) -> &'static str {
    match s {
        Severity::Error => "error",
        Severity::Warning => "warning",
        Severity::Info | Severity::Style | Severity::Ignore => "note",
    }
}

/// A SARIF 2.1.0 log with one run.
pub fn sarif(results: &[(String, Vec<Finding>)]) -> serde_json::Value {
    let items: Vec<serde_json::Value> = results
        .iter()
        .flat_map(|(file, findings)| {
            findings.iter().map(move |f| {
                serde_json::json!({
                    "ruleId": f.code,
                    "level": sarif_level(f.level),
                    "message": {"text": f.message},
                    "locations": [{
                        "physicalLocation": {
                            "artifactLocation": {"uri": file},
                            "region": {
                                "startLine": f.line,
                                "startColumn": f.column,
                                "endLine": f.line,
                                "endColumn": f.column,
                            }
                        }
                    }]
                })
            })
        })
        .collect();
    serde_json::json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "slipway-lint",
                "fullName": "Slipway Dockerfile linter (hadolint rules)",
                "informationUri": "https://github.com/hadolint/hadolint",
                "downloadUri": "https://github.com/hadolint/hadolint",
                "version": env!("CARGO_PKG_VERSION"),
            }},
            "results": items,
        }]
    })
}
