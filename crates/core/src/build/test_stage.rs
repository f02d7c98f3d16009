//! The test stage (`test:` in `slipway.yaml`): what to run against the
//! built image, how, and what came of it.
//!
//! It runs after the image is pushed under its unique tag and scanned,
//! before any other tag moves: a failing test fails the build and leaves
//! only the unique tag.

use serde::{Deserialize, Serialize};

/// Where the test command runs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TestMode {
    /// Inside a container made from the built image, with the repository
    /// at [`TEST_DIR`] (read-only) and [`RESULTS_DIR`] for results; the
    /// isolation of `RUN` steps: no network unless the build has it.
    #[default]
    Container,
    /// On the host, in the repository, with `IMAGE` set to the image's
    /// pull spec (by digest) and `REGISTRY_AUTH_FILE` to pull it; in the
    /// prebuild sandbox, with network (it must reach the registry).
    Host,
}

impl TestMode {
    pub fn as_str(self) -> &'static str {
        match self {
            TestMode::Container => "container",
            TestMode::Host => "host",
        }
    }
}

/// `test:` — a command (run in a container), or the long form.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum TestSetting {
    Command(String),
    Full(TestStage),
}

/// The long form of `test:`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestStage {
    /// `sh -c` command, run in the repository's root directory.
    pub command: String,
    #[serde(default)]
    pub mode: TestMode,
}

impl TestSetting {
    pub fn stage(&self) -> TestStage {
        match self {
            TestSetting::Command(c) => TestStage {
                command: c.clone(),
                mode: TestMode::Container,
            },
            TestSetting::Full(s) => s.clone(),
        }
    }
}

/// Where the repository is inside the test container.
pub const TEST_DIR: &str = "/slipway/src";
/// Where a test writes results (`$TEST_RESULTS`); a JUnit XML file there
/// named [`JUNIT_FILE`] is kept with the build.
pub const RESULTS_DIR: &str = "/slipway/results";
pub const JUNIT_FILE: &str = "junit.xml";
/// The most of a JUnit file that is kept.
pub const MAX_JUNIT_BYTES: usize = 1024 * 1024;

/// What the test stage came to, kept with the build.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TestResult {
    pub mode: TestMode,
    pub command: String,
    pub passed: bool,
    /// The command's exit code; `None` when it did not run to an end.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    pub duration_ms: u64,
    /// Counts from the JUnit file, when the test wrote one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub junit: Option<JunitSummary>,
    /// Why it failed, in one line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

impl TestResult {
    /// One line for people.
    pub fn describe(&self) -> String {
        let mut out = format!(
            "test ({}): {} in {:.1} s",
            self.mode.as_str(),
            if self.passed { "passed" } else { "failed" },
            self.duration_ms as f64 / 1000.0
        );
        if let Some(c) = self.exit_code {
            out.push_str(&format!(", exit code {c}"));
        }
        if let Some(j) = &self.junit {
            out.push_str(&format!(
                ", JUnit: {} tests, {} failures, {} errors, {} skipped",
                j.tests, j.failures, j.errors, j.skipped
            ));
        }
        if let Some(m) = &self.message {
            out.push_str(&format!(" ({m})"));
        }
        out
    }
}

/// A JUnit XML report's totals.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct JunitSummary {
    pub tests: u64,
    pub failures: u64,
    pub errors: u64,
    pub skipped: u64,
}

/// The totals of a JUnit XML report: the `<testsuite>` elements' counts
/// added up (a `<testsuites>` root's own counts are not trusted: tools
/// disagree on them). `None` when it is not JUnit XML.
pub fn junit_summary(xml: &str) -> Option<JunitSummary> {
    use quick_xml::Reader;
    use quick_xml::events::Event;
    let mut reader = Reader::from_str(xml);
    let mut sum = JunitSummary::default();
    let mut suites = 0;
    loop {
        match reader.read_event() {
            Ok(Event::Start(e) | Event::Empty(e)) if e.local_name().as_ref() == "testsuite" => {
                suites += 1;
                for a in e.attributes().flatten() {
                    let Ok(n) = a.value.to_string().trim().parse::<u64>() else {
                        continue;
                    };
                    match a.key.as_ref() {
                        "tests" => sum.tests += n,
                        "failures" => sum.failures += n,
                        "errors" => sum.errors += n,
                        "skipped" | "disabled" => sum.skipped += n,
                        _ => {}
                    }
                }
            }
            Ok(Event::Eof) => break,
            Ok(_) => {}
            Err(_) => return None,
        }
    }
    (suites > 0).then_some(sum)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_short_and_long_forms() {
        let s: TestSetting = serde_saphyr::from_str("./t.sh").unwrap();
        assert_eq!(s.stage().mode, TestMode::Container);
        let s: TestSetting = serde_saphyr::from_str("{command: ./t.sh, mode: host}").unwrap();
        assert_eq!(
            s.stage(),
            TestStage {
                command: "./t.sh".into(),
                mode: TestMode::Host
            }
        );
        assert!(serde_saphyr::from_str::<TestSetting>("{command: x, mode: vm}").is_err());
    }

    #[test]
    fn junit_totals_add_up_suites() {
        let xml = r#"<?xml version="1.0"?>
<testsuites tests="99">
  <testsuite name="a" tests="3" failures="1" errors="0" skipped="1">
    <testcase name="x"/><testcase name="y"><failure message="no"/></testcase><testcase name="z"><skipped/></testcase>
  </testsuite>
  <testsuite name="b" tests="2" failures="0" errors="1"/>
</testsuites>"#;
        assert_eq!(
            junit_summary(xml),
            Some(JunitSummary {
                tests: 5,
                failures: 1,
                errors: 1,
                skipped: 1
            })
        );
        assert_eq!(junit_summary("not xml at all <"), None);
        assert_eq!(junit_summary("<html></html>"), None);
    }

    #[test]
    fn results_read_as_one_line() {
        let r = TestResult {
            mode: TestMode::Container,
            command: "./t.sh".into(),
            passed: false,
            exit_code: Some(3),
            duration_ms: 1500,
            junit: None,
            message: Some("the test failed".into()),
        };
        assert_eq!(
            r.describe(),
            "test (container): failed in 1.5 s, exit code 3 (the test failed)"
        );
    }
}
