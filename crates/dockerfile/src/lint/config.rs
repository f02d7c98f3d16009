//! `.hadolint.yaml`: the keys hadolint reads, with its meanings.

use super::Severity;
use serde::Deserialize;
use std::collections::BTreeMap;

/// What a label must look like (`label-schema`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LabelType {
    Text,
    Url,
    Rfc3339,
    Spdx,
    Hash,
    Semver,
    Email,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Overrides {
    #[serde(default)]
    pub error: Vec<String>,
    #[serde(default)]
    pub warning: Vec<String>,
    #[serde(default)]
    pub info: Vec<String>,
    #[serde(default)]
    pub style: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct LintConfig {
    /// Rules never reported.
    #[serde(default)]
    pub ignored: Vec<String>,
    /// New severities for rules.
    #[serde(default)]
    pub r#override: Overrides,
    /// Findings at or above this level fail (`error`, `warning`, `info`,
    /// `style`, `ignore`/`none` to never fail).
    #[serde(default = "default_threshold", deserialize_with = "severity")]
    pub failure_threshold: Severity,
    /// Registries FROM may use (DL3026); globs with `*` allowed. Empty: any.
    #[serde(default, rename = "trustedRegistries")]
    pub trusted_registries: Vec<String>,
    /// Labels must be in `label-schema` (DL3050).
    #[serde(default)]
    pub strict_labels: bool,
    /// Required labels and their types (DL3049, DL3052–DL3058).
    #[serde(default)]
    pub label_schema: BTreeMap<String, LabelType>,
    /// Ignore `# hadolint ignore=` pragmas.
    #[serde(default)]
    pub disable_ignore_pragma: bool,
    /// Accepted and ignored (they concern hadolint's own CLI).
    #[serde(default)]
    pub no_fail: bool,
    #[serde(default)]
    pub no_color: bool,
    #[serde(default)]
    pub format: Option<String>,
}

fn default_threshold() -> Severity {
    Severity::Info
}

fn severity<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Severity, D::Error> {
    let s = String::deserialize(d)?;
    Severity::parse(&s).ok_or_else(|| {
        serde::de::Error::custom(format!(
            "failure-threshold {s:?} is not one of error, warning, info, style, ignore, none"
        ))
    })
}

impl Default for LintConfig {
    fn default() -> Self {
        LintConfig {
            ignored: Vec::new(),
            r#override: Overrides::default(),
            failure_threshold: default_threshold(),
            trusted_registries: Vec::new(),
            strict_labels: false,
            label_schema: BTreeMap::new(),
            disable_ignore_pragma: false,
            no_fail: false,
            no_color: false,
            format: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid lint config: {0}")]
pub struct LintConfigError(pub String);

impl LintConfig {
    /// Read `.hadolint.yaml` text; unknown keys are errors that name them.
    pub fn parse(text: &str) -> Result<LintConfig, LintConfigError> {
        if text.trim().is_empty() {
            return Ok(LintConfig::default());
        }
        serde_saphyr::from_str(text).map_err(|e| LintConfigError(e.to_string()))
    }

    /// The severity `override` sets for `code`, if any.
    pub fn severity_override(&self, code: &str) -> Option<Severity> {
        let o = &self.r#override;
        [
            (&o.error, Severity::Error),
            (&o.warning, Severity::Warning),
            (&o.info, Severity::Info),
            (&o.style, Severity::Style),
        ]
        .into_iter()
        .find(|(list, _)| list.iter().any(|c| c == code))
        .map(|(_, s)| s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_hadolints_keys() {
        let c = LintConfig::parse(
            "ignored: [DL3008]\noverride:\n  error: [DL3006]\n  style: [DL3059]\nfailure-threshold: warning\ntrustedRegistries: [docker.io, '*.gcr.io']\nstrict-labels: true\nlabel-schema:\n  maintainer: email\n  org.opencontainers.image.created: rfc3339\n",
        )
        .unwrap();
        assert_eq!(c.ignored, ["DL3008"]);
        assert_eq!(c.severity_override("DL3006"), Some(Severity::Error));
        assert_eq!(c.severity_override("DL3059"), Some(Severity::Style));
        assert_eq!(c.severity_override("DL3000"), None);
        assert_eq!(c.failure_threshold, Severity::Warning);
        assert_eq!(c.trusted_registries, ["docker.io", "*.gcr.io"]);
        assert!(c.strict_labels);
        assert_eq!(c.label_schema["maintainer"], LabelType::Email);
        assert_eq!(LintConfig::parse("").unwrap(), LintConfig::default());
    }

    #[test]
    fn unknown_keys_and_values_are_named() {
        let e = LintConfig::parse("ignore: [DL3008]\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("ignore"), "{e}");
        let e = LintConfig::parse("failure-threshold: fatal\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("fatal"), "{e}");
        let e = LintConfig::parse("label-schema:\n  a: colour\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("colour"), "{e}");
    }
}
