//! Notifications: who hears about a build or a scan, and what they are told.
//!
//! Targets are set per config (`notify:` in the image config) and per
//! project (the server config's `projects.<name>.notify`; a config's
//! project is its `project:` or else the first path component of its
//! output repository). Each target is an email list or a webhook, for
//! every event or for failures only. One [`Message`] is made per finished
//! build and per rescan or manual scan of a config's image; the server
//! queues one delivery per target and retries it, so a notification never
//! holds a build up.
//!
//! Webhooks receive [`Message::payload`] as JSON, signed like Slipway's
//! own incoming webhooks: `X-Slipway-Signature-256: sha256=<hex
//! HMAC-SHA256 of the body with the target's secret>`.

use crate::build::Build;
use crate::build::phase::BuildPhase;
use crate::scan::{ScanOutcome, StoredScan};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// Which events a target hears about.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NotifyOn {
    /// Every finished build and every scan (the default).
    #[default]
    All,
    /// Failed and errored builds; scans that failed their policy, found
    /// the image absent, or could not run.
    Failure,
}

/// One place notifications go.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotifyTarget {
    /// Mail recipients (the server config's `smtp` sends them).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub email: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook: Option<NotifyWebhook>,
    #[serde(default, skip_serializing_if = "is_all")]
    pub on: NotifyOn,
}

fn is_all(on: &NotifyOn) -> bool {
    *on == NotifyOn::All
}

/// A webhook receiver. `secret_env` names an environment variable that
/// `slipway apply` reads, as for incoming webhooks.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotifyWebhook {
    pub url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_env: Option<String>,
}

impl NotifyTarget {
    /// What is wrong with the target, if anything: exactly one of `email`
    /// and `webhook`, addresses that look like addresses, an http(s) URL
    /// and a resolved secret of at least 16 characters.
    pub fn check(&self) -> Result<(), String> {
        match (&self.email[..], &self.webhook) {
            ([], None) => Err("give `email` (a list of addresses) or `webhook`".into()),
            ([_, ..], Some(_)) => Err("give `email` or `webhook`, not both, per target".into()),
            (emails, None) => {
                for e in emails {
                    let ok = e
                        .split_once('@')
                        .is_some_and(|(l, d)| !l.is_empty() && d.contains('.') || d == "localhost")
                        && !e.chars().any(|c| c.is_whitespace() || c == ',');
                    if !ok {
                        return Err(format!("{e:?} is not an email address"));
                    }
                }
                Ok(())
            }
            ([], Some(w)) => {
                if !(w.url.starts_with("http://") || w.url.starts_with("https://")) {
                    return Err(format!(
                        "webhook url {:?} must be http:// or https://",
                        w.url
                    ));
                }
                crate::rebuild::image_config::check_secret(&w.secret, &w.secret_env)
            }
        }
    }

    pub fn wants(&self, message: &Message) -> bool {
        self.on == NotifyOn::All || message.failure
    }
}

/// What a notification says.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    /// One line: the mail subject.
    pub subject: String,
    /// The mail body: what happened, why, and where the log is.
    pub text: String,
    /// The webhook body.
    pub payload: Value,
    /// A failure (for targets with `on: failure`).
    pub failure: bool,
}

/// Where a queued notification stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryState {
    /// Not sent yet, or to be tried again at `next_attempt_at`.
    Pending,
    Delivered,
    /// Given up after the last attempt.
    Failed,
}

impl DeliveryState {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryState::Pending => "pending",
            DeliveryState::Delivered => "delivered",
            DeliveryState::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<DeliveryState> {
        match s {
            "pending" => Some(DeliveryState::Pending),
            "delivered" => Some(DeliveryState::Delivered),
            "failed" => Some(DeliveryState::Failed),
            _ => None,
        }
    }
}

/// One message to one target, as queued.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Delivery {
    pub id: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub build: Option<crate::BuildId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scan: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<String>,
    pub target: NotifyTarget,
    pub message: Message,
    pub state: DeliveryState,
    pub attempts: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    #[serde(with = "crate::api::time::seconds")]
    pub next_attempt_at: jiff::Timestamp,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "crate::api::time::seconds_opt"
    )]
    pub delivered_at: Option<jiff::Timestamp>,
    #[serde(with = "crate::api::time::seconds")]
    pub created_at: jiff::Timestamp,
}

impl Delivery {
    /// The delivery without its webhook secret, for display.
    pub fn redacted(&self) -> Delivery {
        let mut d = self.clone();
        if let Some(w) = &mut d.target.webhook
            && w.secret.is_some()
        {
            w.secret = Some("(hidden)".into());
        }
        d
    }
}

/// Attempts before a delivery is given up.
pub const MAX_ATTEMPTS: u32 = 10;

/// When to try again after `attempts` failed attempts: 2 s, 4 s, 8 s, …
/// doubling up to 10 minutes; `None` once [`MAX_ATTEMPTS`] are spent.
pub fn retry_delay(attempts: u32) -> Option<std::time::Duration> {
    if attempts >= MAX_ATTEMPTS {
        return None;
    }
    let secs = 2u64.saturating_pow(attempts.max(1)).min(600);
    Some(std::time::Duration::from_secs(secs))
}

/// The message for a finished build. `base_url` is how users reach the
/// server (`http://host:port`); `scan` the build's scan, when it has one.
pub fn build_message(build: &Build, base_url: &str, scan: Option<&StoredScan>) -> Message {
    let name = build
        .spec
        .config
        .clone()
        .unwrap_or_else(|| build.spec.output.to_string());
    let failure = matches!(build.phase, BuildPhase::Failed | BuildPhase::Error);
    let what = match build.phase {
        BuildPhase::Complete => "complete",
        BuildPhase::Failed => "failed",
        BuildPhase::Error => "errored",
        BuildPhase::Cancelled => "cancelled",
        BuildPhase::Skipped => "skipped (inputs unchanged)",
        _ => "ended",
    };
    let log = format!(
        "{}/api/v1/builds/{}/log",
        base_url.trim_end_matches('/'),
        build.id
    );
    let mut subject = format!("[slipway] build {} of {name} {what}", build.id);
    if let Some(r) = &build.reason {
        subject.push_str(": ");
        subject.push_str(&r.chars().take(120).collect::<String>());
    }
    let mut text = format!(
        "Build {} of {name} {what}.\n\nTrigger: {}\n",
        build.id, build.spec.trigger
    );
    if let Some(r) = &build.reason {
        text.push_str(&format!("Why: {r}\n"));
    }
    if let Some(img) = &build.image {
        text.push_str(&format!("Image: {}\n", img.reference));
    }
    if let Some(s) = scan {
        text.push_str(&format!(
            "Scan {}: {} ({} findings)\n",
            s.id,
            s.report.outcome,
            s.report.findings.len()
        ));
    }
    text.push_str(&format!(
        "Log: {log}\n\n`slipway show {0}` and `slipway logs {0}` say more.\n",
        build.id
    ));
    Message {
        subject,
        text,
        payload: json!({
            "event": "build",
            "build": build.id,
            "config": build.spec.config,
            "phase": build.phase.as_str(),
            "reason": build.reason,
            "trigger": build.spec.trigger,
            "image": build.image.as_ref().map(|i| &i.reference),
            "scan": scan.map(|s| json!({"id": s.id, "outcome": s.report.outcome, "findings": s.report.findings.len()})),
            "log": log,
        }),
        failure,
    }
}

/// The message for a rescan or manual scan of a config's image.
pub fn scan_message(scan: &StoredScan, base_url: &str) -> Message {
    let r = &scan.report;
    let failure = matches!(
        r.outcome,
        ScanOutcome::Failed | ScanOutcome::Absent | ScanOutcome::Error
    );
    let link = format!(
        "{}/api/v1/scans/{}",
        base_url.trim_end_matches('/'),
        scan.id
    );
    let of = scan.config.as_deref().unwrap_or(&r.reference);
    let subject = format!(
        "[slipway] {} scan {} of {of}: {} ({} findings)",
        scan.reason.as_str(),
        scan.id,
        r.outcome,
        r.findings.len()
    );
    let mut text = format!(
        "The {} scan {} of {} is {}.\n\n",
        scan.reason.as_str(),
        scan.id,
        r.reference,
        r.outcome
    );
    for f in r.findings.iter().take(20) {
        text.push_str(&format!("- [{}] {f}\n", f.scanner()));
    }
    if r.findings.len() > 20 {
        text.push_str(&format!("- and {} more\n", r.findings.len() - 20));
    }
    for p in &r.problems {
        text.push_str(&format!("Note: {p}\n"));
    }
    text.push_str(&format!(
        "\nReport: {link}\n`slipway scans` lists scans; `slipway show BUILD --scan` shows a build's.\n"
    ));
    Message {
        subject,
        text,
        payload: json!({
            "event": "scan",
            "scan": scan.id,
            "reason": scan.reason.as_str(),
            "config": scan.config,
            "build": scan.build,
            "reference": r.reference,
            "outcome": r.outcome,
            "findings": r.findings,
            "problems": r.problems,
            "report": link,
        }),
        failure,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(yaml: &str) -> NotifyTarget {
        serde_saphyr::from_str(yaml).unwrap()
    }

    #[test]
    fn targets_are_checked() {
        assert!(
            target("email: [ops@example.com]\non: failure")
                .check()
                .is_ok()
        );
        assert!(target("email: [ops@localhost]").check().is_ok());
        assert!(
            target("email: [not-an-address]")
                .check()
                .unwrap_err()
                .contains("not an email address")
        );
        assert!(
            target("webhook: { url: ftp://x, secret: 0123456789abcdef }")
                .check()
                .unwrap_err()
                .contains("http")
        );
        assert!(
            target("webhook: { url: http://x, secret: short }")
                .check()
                .unwrap_err()
                .contains("16 characters")
        );
        assert!(target("{}").check().unwrap_err().contains("give `email`"));
        assert!(
            target("email: [a@b.c]\nwebhook: { url: http://x, secret: 0123456789abcdef }")
                .check()
                .unwrap_err()
                .contains("not both")
        );
        assert!(serde_saphyr::from_str::<NotifyTarget>("email: [a@b.c]\non: sometimes").is_err());
    }

    #[test]
    fn retries_back_off_and_stop() {
        let delays: Vec<u64> = (1..=MAX_ATTEMPTS)
            .map(|a| retry_delay(a).map_or(0, |d| d.as_secs()))
            .collect();
        assert_eq!(delays, [2, 4, 8, 16, 32, 64, 128, 256, 512, 0]);
    }

    #[test]
    fn failure_only_targets_hear_failures_only() {
        let failing = Message {
            subject: String::new(),
            text: String::new(),
            payload: Value::Null,
            failure: true,
        };
        let fine = Message {
            failure: false,
            ..failing.clone()
        };
        let t = target("email: [a@b.c]\non: failure");
        assert!(t.wants(&failing) && !t.wants(&fine));
        let t = target("email: [a@b.c]");
        assert!(t.wants(&failing) && t.wants(&fine));
    }
}
