//! What starts a build, and how webhook deliveries are checked and read.
//!
//! Every build records its [`Trigger`]. Webhooks come from GitHub
//! (`X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the body>`), Gitea
//! (`X-Gitea-Signature: <hex HMAC-SHA256>`), GitLab (`X-Gitlab-Token:
//! <secret>`) or any other sender using Slipway's generic form
//! (`X-Slipway-Signature-256: sha256=<hex HMAC-SHA256>` over a JSON body
//! `{"ref": "refs/heads/main", "commit": "<sha>", "delivery": "<unique
//! id>", "timestamp": <unix seconds>}`). A delivery is accepted only when
//! its signature verifies (compared in constant time); only push events to
//! the config's branch start a build, and the build checks out the pushed
//! commit.
//!
//! Replays: every provider names its deliveries (GitHub's
//! `X-GitHub-Delivery`, GitLab's `X-Gitlab-Event-UUID`, Gitea's
//! `X-Gitea-Delivery`, the generic body's signed `delivery`), and the
//! server remembers them; the generic body's signed `timestamp` must be
//! within [`MAX_DELIVERY_AGE_SECONDS`] of the server's clock, so an old
//! signed body cannot be sent again under a new id. (The other providers'
//! delivery headers are not signed; what stops an old delivery there is
//! the server's check that its commit is still the branch head.)

use crate::build::BuildId;
use crate::build::source::is_commit_id;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use std::fmt;

/// Why a build was started.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Trigger {
    /// `slipway start` or `slipway build`.
    Manual,
    /// A verified push event.
    Webhook {
        provider: Provider,
        commit: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        delivery: Option<String>,
    },
    /// Polling saw the branch head move.
    Poll { commit: String },
    /// A parent config's image got a new digest.
    Parent {
        config: String,
        build: BuildId,
        digest: String,
    },
    /// The config's cron schedule fired.
    Schedule { cron: String, timezone: String },
    /// An image the config builds on (by an environment's tag) was
    /// promoted: the config follows its parent's `stable`, not its
    /// candidate builds.
    Promoted {
        /// `registry/repository:tag` that moved.
        image: String,
        build: BuildId,
        environment: String,
        digest: String,
    },
    /// A tracked package repository got newer versions of packages the
    /// config's latest image has installed (`name installed -> available`).
    Packages {
        repository: String,
        updates: Vec<String>,
    },
}

impl Trigger {
    /// The commit the trigger asks for, if it names one.
    pub fn commit(&self) -> Option<&str> {
        match self {
            Trigger::Webhook { commit, .. } | Trigger::Poll { commit } => Some(commit),
            _ => None,
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Trigger::Manual => "manual",
            Trigger::Webhook { .. } => "webhook",
            Trigger::Poll { .. } => "poll",
            Trigger::Parent { .. } => "parent",
            Trigger::Schedule { .. } => "schedule",
            Trigger::Packages { .. } => "packages",
            Trigger::Promoted { .. } => "promoted",
        }
    }
}

impl fmt::Display for Trigger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let short = |c: &str| c.chars().take(12).collect::<String>();
        match self {
            Trigger::Manual => write!(f, "manual"),
            Trigger::Webhook {
                provider, commit, ..
            } => write!(
                f,
                "webhook ({}, commit {})",
                provider.as_str(),
                short(commit)
            ),
            Trigger::Poll { commit } => write!(f, "poll (commit {})", short(commit)),
            Trigger::Parent {
                config,
                build,
                digest,
            } => write!(
                f,
                "parent build {build} ({config}, {})",
                digest.chars().take(19).collect::<String>()
            ),
            Trigger::Schedule { cron, timezone } => write!(f, "schedule ({cron} {timezone})"),
            Trigger::Promoted {
                image,
                build,
                environment,
                ..
            } => write!(f, "promotion of build {build} to {environment} ({image})"),
            Trigger::Packages {
                repository,
                updates,
            } => {
                write!(f, "package updates in {repository} (")?;
                for (i, u) in updates.iter().take(3).enumerate() {
                    write!(f, "{}{u}", if i == 0 { "" } else { ", " })?;
                }
                if updates.len() > 3 {
                    write!(f, " and {} more", updates.len() - 3)?;
                }
                write!(f, ")")
            }
        }
    }
}

/// Who sent a webhook.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Provider {
    Github,
    Gitlab,
    Gitea,
    Generic,
}

impl Provider {
    pub fn parse(s: &str) -> Option<Provider> {
        match s {
            "github" => Some(Provider::Github),
            "gitlab" => Some(Provider::Gitlab),
            "gitea" => Some(Provider::Gitea),
            "generic" => Some(Provider::Generic),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Provider::Github => "github",
            Provider::Gitlab => "gitlab",
            Provider::Gitea => "gitea",
            Provider::Generic => "generic",
        }
    }

    /// The header carrying the signature or token.
    pub fn signature_header(self) -> &'static str {
        match self {
            Provider::Github => "X-Hub-Signature-256",
            Provider::Gitlab => "X-Gitlab-Token",
            Provider::Gitea => "X-Gitea-Signature",
            Provider::Generic => "X-Slipway-Signature-256",
        }
    }

    fn event_header(self) -> Option<&'static str> {
        match self {
            Provider::Github => Some("X-GitHub-Event"),
            Provider::Gitlab => Some("X-Gitlab-Event"),
            Provider::Gitea => Some("X-Gitea-Event"),
            Provider::Generic => None,
        }
    }

    fn delivery_header(self) -> Option<&'static str> {
        match self {
            Provider::Github => Some("X-GitHub-Delivery"),
            Provider::Gitea => Some("X-Gitea-Delivery"),
            Provider::Gitlab => Some("X-Gitlab-Event-UUID"),
            Provider::Generic => None,
        }
    }
}

/// How far a generic delivery's `timestamp` may be from the server's clock.
pub const MAX_DELIVERY_AGE_SECONDS: i64 = 300;

/// Why a delivery was refused; each maps to a 4xx answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookError {
    #[error("the {0} header is missing; configure the webhook's secret at the sender")]
    MissingSignature(&'static str),
    #[error("the signature in {0} does not match the body and the config's secret")]
    BadSignature(&'static str),
    #[error("the payload is not a valid {provider} push event: {message}")]
    BadPayload {
        provider: &'static str,
        message: String,
    },
    #[error(
        "the delivery's timestamp is {age} s from the server's clock (at most {MAX_DELIVERY_AGE_SECONDS} s allowed): a stale or replayed delivery, or a clock that is wrong"
    )]
    Stale { age: i64 },
}

/// A push event read from a verified delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushEvent {
    /// The branch pushed to (`main`, from `refs/heads/main`).
    pub branch: String,
    /// The commit the branch points to after the push.
    pub commit: String,
    pub delivery: Option<String>,
    /// When the sender made it (generic provider: the signed `timestamp`),
    /// in seconds since the epoch.
    pub timestamp: Option<i64>,
}

impl PushEvent {
    /// Refuse a delivery whose signed timestamp is too far from `now`
    /// (seconds since the epoch).
    pub fn check_fresh(&self, now: i64) -> Result<(), WebhookError> {
        match self.timestamp {
            Some(t) if (now - t).abs() > MAX_DELIVERY_AGE_SECONDS => {
                Err(WebhookError::Stale { age: now - t })
            }
            _ => Ok(()),
        }
    }
}

/// What a verified delivery asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    Push(PushEvent),
    /// Not a push (a ping, an issue event) or a branch deletion: answered
    /// 2xx, triggers nothing. The string says why.
    Ignored(String),
}

fn hmac_sha256(secret: &[u8], body: &[u8]) -> Hmac<Sha256> {
    // HMAC accepts keys of any length, so this never fails.
    let mut m = <Hmac<Sha256> as Mac>::new_from_slice(secret)
        .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
    m.update(body);
    m
}

/// The `sha256=<hex>` signature of `body` (what senders put in
/// `X-Hub-Signature-256`); for tests and for Slipway's own notifications.
pub fn sign(secret: &[u8], body: &[u8]) -> String {
    format!(
        "sha256={}",
        hex::encode(hmac_sha256(secret, body).finalize().into_bytes())
    )
}

/// Check a delivery's signature. `header` looks a header up by name (case
/// insensitive).
pub fn verify(
    provider: Provider,
    header: &dyn Fn(&str) -> Option<String>,
    body: &[u8],
    secret: &[u8],
) -> Result<(), WebhookError> {
    let name = provider.signature_header();
    let value = header(name).ok_or(WebhookError::MissingSignature(name))?;
    let value = value.trim();
    match provider {
        Provider::Gitlab => {
            // A shared token, not a signature: compare MACs of both so the
            // comparison takes the same time wherever they differ.
            let expected = hmac_sha256(b"slipway-gitlab-token", secret).finalize();
            let got = hmac_sha256(b"slipway-gitlab-token", value.as_bytes()).finalize();
            if expected == got {
                Ok(())
            } else {
                Err(WebhookError::BadSignature(name))
            }
        }
        Provider::Github | Provider::Gitea | Provider::Generic => {
            let hex_sig = match provider {
                Provider::Gitea => value.strip_prefix("sha256=").unwrap_or(value),
                _ => value
                    .strip_prefix("sha256=")
                    .ok_or(WebhookError::BadSignature(name))?,
            };
            let sig = hex::decode(hex_sig).map_err(|_| WebhookError::BadSignature(name))?;
            hmac_sha256(secret, body)
                .verify_slice(&sig)
                .map_err(|_| WebhookError::BadSignature(name))
        }
    }
}

/// Read a (verified) delivery: a push to a branch, or something ignored.
pub fn read_delivery(
    provider: Provider,
    header: &dyn Fn(&str) -> Option<String>,
    body: &[u8],
) -> Result<Delivery, WebhookError> {
    let bad = |message: String| WebhookError::BadPayload {
        provider: provider.as_str(),
        message,
    };
    if let Some(h) = provider.event_header() {
        let event = header(h).unwrap_or_default();
        let is_push = match provider {
            Provider::Gitlab => event == "Push Hook",
            _ => event == "push",
        };
        if !is_push {
            return Ok(Delivery::Ignored(format!(
                "{} event {event:?} is not a push",
                provider.as_str()
            )));
        }
    }
    let json: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| bad(format!("the body is not JSON: {e}")))?;
    let field = |k: &str| json.get(k).and_then(|v| v.as_str());
    let git_ref = match provider {
        Provider::Generic => field("ref")
            .map(str::to_string)
            .or_else(|| field("branch").map(|b| format!("refs/heads/{b}"))),
        _ => field("ref").map(str::to_string),
    }
    .ok_or_else(|| bad("it has no \"ref\"".into()))?;
    let Some(branch) = git_ref.strip_prefix("refs/heads/") else {
        return Ok(Delivery::Ignored(format!("{git_ref} is not a branch")));
    };
    let commit = match provider {
        Provider::Generic => field("commit").or_else(|| field("after")),
        Provider::Gitlab => field("checkout_sha").or_else(|| field("after")),
        _ => field("after"),
    }
    .ok_or_else(|| bad("it names no commit (\"after\")".into()))?;
    if commit.chars().all(|c| c == '0') {
        return Ok(Delivery::Ignored(format!("branch {branch} was deleted")));
    }
    if !is_commit_id(commit) {
        return Err(bad(format!("{commit:?} is not a commit id")));
    }
    let (delivery, timestamp) = match provider {
        Provider::Generic => {
            let id = field("delivery")
                .filter(|d| !d.trim().is_empty() && d.len() <= 128)
                .ok_or_else(|| {
                    bad("it has no \"delivery\" (a unique id of up to 128 characters, signed with the body, so a re-sent delivery is recognised)".into())
                })?;
            let at = json
                .get("timestamp")
                .and_then(|t| {
                    t.as_i64().or_else(|| {
                        t.as_str()?
                            .parse::<jiff::Timestamp>()
                            .ok()
                            .map(|ts| ts.as_second())
                    })
                })
                .ok_or_else(|| {
                    bad("it has no \"timestamp\" (seconds since the epoch, or RFC 3339), signed with the body, so an old delivery cannot be sent again".into())
                })?;
            (Some(id.to_string()), Some(at))
        }
        _ => (provider.delivery_header().and_then(header), None),
    };
    Ok(Delivery::Push(PushEvent {
        branch: branch.to_string(),
        commit: commit.to_ascii_lowercase(),
        delivery,
        timestamp,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    const SECRET: &[u8] = b"It's a Secret to Everybody";
    const COMMIT: &str = "0123456789abcdef0123456789abcdef01234567";

    fn headers(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_ascii_lowercase(), v.to_string()))
            .collect();
        move |k: &str| map.get(&k.to_ascii_lowercase()).cloned()
    }

    #[test]
    fn github_documented_example_verifies() {
        // The example from GitHub's "Validating webhook deliveries" page.
        let h = headers(&[(
            "X-Hub-Signature-256",
            "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
        )]);
        assert_eq!(
            verify(Provider::Github, &h, b"Hello, World!", SECRET),
            Ok(())
        );
        assert_eq!(
            verify(Provider::Github, &h, b"Hello, World?", SECRET),
            Err(WebhookError::BadSignature("X-Hub-Signature-256"))
        );
        assert_eq!(
            verify(Provider::Github, &headers(&[]), b"Hello, World!", SECRET),
            Err(WebhookError::MissingSignature("X-Hub-Signature-256"))
        );
        let garbage = headers(&[("X-Hub-Signature-256", "sha256=zz")]);
        assert!(verify(Provider::Github, &garbage, b"x", SECRET).is_err());
    }

    #[test]
    fn gitea_gitlab_and_generic_verify() {
        let body = br#"{"ref":"refs/heads/main"}"#;
        let sig = sign(SECRET, body);
        let gitea = headers(&[("X-Gitea-Signature", sig.trim_start_matches("sha256="))]);
        assert_eq!(verify(Provider::Gitea, &gitea, body, SECRET), Ok(()));
        let generic = headers(&[("X-Slipway-Signature-256", &sig)]);
        assert_eq!(verify(Provider::Generic, &generic, body, SECRET), Ok(()));
        assert!(verify(Provider::Generic, &generic, body, b"another secret").is_err());
        let gitlab = headers(&[("X-Gitlab-Token", "It's a Secret to Everybody")]);
        assert_eq!(verify(Provider::Gitlab, &gitlab, body, SECRET), Ok(()));
        let wrong = headers(&[("X-Gitlab-Token", "guess")]);
        assert!(verify(Provider::Gitlab, &wrong, body, SECRET).is_err());
    }

    #[test]
    fn push_events_are_read_per_provider() {
        let gh = format!(r#"{{"ref":"refs/heads/main","after":"{COMMIT}","repository":{{}}}}"#);
        let h = headers(&[("X-GitHub-Event", "push"), ("X-GitHub-Delivery", "d-1")]);
        assert_eq!(
            read_delivery(Provider::Github, &h, gh.as_bytes()).unwrap(),
            Delivery::Push(PushEvent {
                branch: "main".into(),
                commit: COMMIT.into(),
                delivery: Some("d-1".into()),
                timestamp: None,
            })
        );
        let gl = format!(
            r#"{{"object_kind":"push","ref":"refs/heads/dev","checkout_sha":"{COMMIT}","after":"{COMMIT}"}}"#
        );
        let h = headers(&[("X-Gitlab-Event", "Push Hook")]);
        let Delivery::Push(p) = read_delivery(Provider::Gitlab, &h, gl.as_bytes()).unwrap() else {
            panic!("not a push")
        };
        assert_eq!(p.branch, "dev");
        let generic = format!(
            r#"{{"branch":"main","commit":"{COMMIT}","delivery":"g-1","timestamp":1700000000}}"#
        );
        let Delivery::Push(p) =
            read_delivery(Provider::Generic, &headers(&[]), generic.as_bytes()).unwrap()
        else {
            panic!("not a push")
        };
        assert_eq!(p.commit, COMMIT);
        assert_eq!(p.delivery.as_deref(), Some("g-1"));
        assert_eq!(p.timestamp, Some(1_700_000_000));
        // Fresh within five minutes either way, stale beyond.
        assert!(p.check_fresh(1_700_000_000 + 299).is_ok());
        assert!(p.check_fresh(1_700_000_000 - 299).is_ok());
        assert!(matches!(
            p.check_fresh(1_700_000_000 + 301),
            Err(WebhookError::Stale { age: 301 })
        ));
        // RFC 3339 timestamps are read too.
        let rfc = format!(
            r#"{{"ref":"refs/heads/main","commit":"{COMMIT}","delivery":"g-2","timestamp":"2023-11-14T22:13:20Z"}}"#
        );
        let Delivery::Push(p) =
            read_delivery(Provider::Generic, &headers(&[]), rfc.as_bytes()).unwrap()
        else {
            panic!("not a push")
        };
        assert_eq!(p.timestamp, Some(1_700_000_000));
        // Without a delivery id or a timestamp, a generic delivery is refused.
        for body in [
            format!(r#"{{"ref":"refs/heads/main","commit":"{COMMIT}","timestamp":1}}"#),
            format!(r#"{{"ref":"refs/heads/main","commit":"{COMMIT}","delivery":"x"}}"#),
        ] {
            let e = read_delivery(Provider::Generic, &headers(&[]), body.as_bytes()).unwrap_err();
            assert!(matches!(e, WebhookError::BadPayload { .. }), "{e}");
        }
    }

    #[test]
    fn non_pushes_and_deletions_are_ignored_and_garbage_refused() {
        let h = headers(&[("X-GitHub-Event", "ping")]);
        assert!(matches!(
            read_delivery(Provider::Github, &h, b"{}").unwrap(),
            Delivery::Ignored(_)
        ));
        let h = headers(&[("X-GitHub-Event", "push")]);
        let deleted = format!(
            r#"{{"ref":"refs/heads/main","after":"{}"}}"#,
            "0".repeat(40)
        );
        assert!(matches!(
            read_delivery(Provider::Github, &h, deleted.as_bytes()).unwrap(),
            Delivery::Ignored(_)
        ));
        let tag = format!(r#"{{"ref":"refs/tags/v1","after":"{COMMIT}"}}"#);
        assert!(matches!(
            read_delivery(Provider::Github, &h, tag.as_bytes()).unwrap(),
            Delivery::Ignored(_)
        ));
        for body in [
            "not json".to_string(),
            r#"{"after":"x"}"#.to_string(),
            r#"{"ref":"refs/heads/main","after":"not-a-commit"}"#.to_string(),
        ] {
            let e = read_delivery(Provider::Github, &h, body.as_bytes()).unwrap_err();
            assert!(matches!(e, WebhookError::BadPayload { .. }), "{e}");
        }
    }

    #[test]
    fn triggers_describe_themselves() {
        let t = Trigger::Parent {
            config: "base".into(),
            build: 12,
            digest: format!("sha256:{}", "a".repeat(64)),
        };
        assert_eq!(t.to_string(), "parent build 12 (base, sha256:aaaaaaaaaaaa)");
        let json = serde_json::to_value(&t).unwrap();
        assert_eq!(json["kind"], "parent");
        assert_eq!(serde_json::from_value::<Trigger>(json).unwrap(), t);
    }

    #[test]
    fn package_triggers_name_the_first_updates() {
        let t = Trigger::Packages {
            repository: "file:///srv/debian".into(),
            updates: (1..=5).map(|i| format!("p{i} 1 -> 2")).collect(),
        };
        assert_eq!(
            t.to_string(),
            "package updates in file:///srv/debian (p1 1 -> 2, p2 1 -> 2, p3 1 -> 2 and 2 more)"
        );
        assert_eq!(t.kind(), "packages");
        let json = serde_json::to_value(&t).unwrap();
        assert_eq!(json["kind"], "packages");
        assert_eq!(serde_json::from_value::<Trigger>(json).unwrap(), t);
    }
}
