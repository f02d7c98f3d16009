//! Notifications: an outbox in the store, filled when builds end and when
//! a config's image is rescanned, and emptied by one background loop that
//! sends mail (lettre, SMTP with STARTTLS or TLS and auth) and signed
//! webhooks (ureq), retrying failures with backoff.
//!
//! ```text
//! build ends (any path) ─► builds.notified_at IS NULL
//! loop (every second, or woken):
//!     unannounced builds ─► core::notify::build_message ─► one delivery per
//!         target of its config and its project that wants it (+ announced)
//!     due deliveries ─► send ─► delivered | retry at now + 2^n s | failed
//! ```
//!
//! Sending happens only in this loop, so a slow or down mail server or
//! receiver never holds a build, an API call or the scheduler.

use crate::Services;
use crate::config::{SmtpSettings, SmtpTls};
use crate::steps::notify::build_deliveries;
use jiff::Timestamp;
use lettre::message::header::ContentType;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use slipway_core::notify::{self, Delivery, Message};
use std::sync::Arc;
use std::time::Duration;

/// How long one attempt may take.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(15);

/// The outbox loop.
pub async fn run(services: Arc<Services>) {
    loop {
        if super::leases::leads(&services, "notifications", Duration::from_secs(60)).await {
            if let Err(e) = announce_builds(&services).await {
                tracing::error!("notifications: {e}");
            }
            if let Err(e) = send_due(&services).await {
                tracing::error!("notifications: {e}");
            }
        }
        let _ =
            tokio::time::timeout(Duration::from_secs(1), services.events.outbox.notified()).await;
    }
}

async fn announce_builds(services: &Services) -> Result<(), String> {
    for id in services
        .store
        .unannounced_builds(100)
        .await
        .map_err(|e| e.to_string())?
    {
        let Some(build) = services
            .store
            .get_build(id)
            .await
            .map_err(|e| e.to_string())?
        else {
            continue;
        };
        // Every build is announced once when it ends, whichever way it
        // ended: the metrics count it here too.
        services.metrics.build_ended(&build);
        let queued = build_deliveries(services, &build).await;
        services
            .store
            .queue_deliveries(Some(id), &queued)
            .await
            .map_err(|e| e.to_string())?;
        if !queued.is_empty() {
            tracing::info!("build {id}: {} notifications queued", queued.len());
        }
    }
    Ok(())
}

async fn send_due(services: &Services) -> Result<(), String> {
    let due = services
        .store
        .due_deliveries(Timestamp::now(), 50)
        .await
        .map_err(|e| e.to_string())?;
    for d in due {
        let result = match tokio::time::timeout(ATTEMPT_TIMEOUT, send(services, &d)).await {
            Ok(r) => r,
            Err(_) => Err(format!("no answer within {}s", ATTEMPT_TIMEOUT.as_secs())),
        };
        let retry_at = match &result {
            Ok(()) => None,
            Err(_) => notify::retry_delay(d.attempts + 1).and_then(|delay| {
                Timestamp::now()
                    .checked_add(jiff::SignedDuration::try_from(delay).ok()?)
                    .ok()
            }),
        };
        services.metrics.delivery(
            if d.target.webhook.is_some() {
                "webhook"
            } else {
                "mail"
            },
            match (&result, retry_at) {
                (Ok(()), _) => "delivered",
                (Err(_), Some(_)) => "retry",
                (Err(_), None) => "failed",
            },
        );
        match &result {
            Ok(()) => tracing::info!("notification {} delivered ({})", d.id, describe(&d)),
            Err(e) => tracing::warn!(
                "notification {} ({}) attempt {} failed: {e}; {}",
                d.id,
                describe(&d),
                d.attempts + 1,
                match retry_at {
                    Some(t) => format!("next try at {t}"),
                    None => "given up".into(),
                }
            ),
        }
        services
            .store
            .record_attempt(
                d.id,
                result.as_ref().map(|_| ()).map_err(String::as_str),
                retry_at,
            )
            .await
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// Where a delivery goes, without secrets.
fn describe(d: &Delivery) -> String {
    match &d.target.webhook {
        Some(w) => format!("webhook {}", w.url),
        None => format!("email to {}", d.target.email.join(", ")),
    }
}

async fn send(services: &Services, d: &Delivery) -> Result<(), String> {
    match &d.target.webhook {
        Some(w) => {
            let (url, secret) = (w.url.clone(), w.secret.clone().unwrap_or_default());
            let (id, payload) = (d.id, d.message.payload.clone());
            tokio::task::spawn_blocking(move || post_webhook(&url, &secret, id, &payload))
                .await
                .map_err(|e| format!("the webhook task crashed: {e}"))?
        }
        None => {
            let smtp = services
                .notifier
                .smtp
                .as_ref()
                .ok_or("no smtp server is configured (set smtp: in the server config file)")?;
            send_mail(smtp, &d.target.email, &d.message).await
        }
    }
}

fn post_webhook(
    url: &str,
    secret: &str,
    id: i64,
    payload: &serde_json::Value,
) -> Result<(), String> {
    let body = serde_json::to_vec(payload).map_err(|e| e.to_string())?;
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(ATTEMPT_TIMEOUT))
        .http_status_as_error(false)
        .user_agent(concat!("slipway/", env!("CARGO_PKG_VERSION")))
        .build()
        .into();
    let event = payload["event"]
        .as_str()
        .unwrap_or("notification")
        .to_string();
    let response = agent
        .post(url)
        .header("Content-Type", "application/json")
        .header("X-Slipway-Event", &event)
        .header("X-Slipway-Delivery", &id.to_string())
        .header(
            "X-Slipway-Signature-256",
            &slipway_core::rebuild::trigger::sign(secret.as_bytes(), &body),
        )
        .send(&body[..])
        .map_err(|e| format!("POST {url}: {e}"))?;
    let status = response.status().as_u16();
    if (200..300).contains(&status) {
        Ok(())
    } else {
        Err(format!("POST {url}: the receiver answered {status}"))
    }
}

fn smtp_password(smtp: &SmtpSettings) -> Result<Option<String>, String> {
    if let Some(f) = &smtp.password_file {
        let text = std::fs::read_to_string(f)
            .map_err(|e| format!("cannot read smtp.password_file {}: {e}", f.display()))?;
        return Ok(Some(text.lines().next().unwrap_or("").to_string()));
    }
    if let Some(var) = &smtp.password_env {
        return std::env::var(var)
            .map(Some)
            .map_err(|_| format!("smtp.password_env: the environment variable {var} is not set"));
    }
    Ok(None)
}

async fn send_mail(smtp: &SmtpSettings, to: &[String], message: &Message) -> Result<(), String> {
    let mut mail = lettre::Message::builder()
        .from(
            smtp.from
                .parse()
                .map_err(|e| format!("smtp.from {:?}: {e}", smtp.from))?,
        )
        .subject(&message.subject)
        .header(ContentType::TEXT_PLAIN);
    for r in to {
        mail = mail.to(r.parse().map_err(|e| format!("recipient {r:?}: {e}"))?);
    }
    let mail = mail
        .body(message.text.clone())
        .map_err(|e| format!("cannot write the mail: {e}"))?;
    let tls_parameters = || -> Result<TlsParameters, String> {
        let mut b = TlsParameters::builder(smtp.host.clone());
        if let Some(ca) = &smtp.ca_file {
            let pem = std::fs::read(ca)
                .map_err(|e| format!("cannot read smtp.ca_file {}: {e}", ca.display()))?;
            b = b.add_root_certificate(
                Certificate::from_pem(&pem).map_err(|e| format!("smtp.ca_file: {e}"))?,
            );
        }
        b.build_rustls().map_err(|e| format!("smtp TLS: {e}"))
    };
    let (tls, default_port) = match smtp.tls {
        SmtpTls::Starttls => (Tls::Required(tls_parameters()?), 587),
        SmtpTls::Implicit => (Tls::Wrapper(tls_parameters()?), 465),
        SmtpTls::None => (Tls::None, 25),
    };
    let mut transport = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&smtp.host)
        .port(smtp.port.unwrap_or(default_port))
        .tls(tls)
        .timeout(Some(ATTEMPT_TIMEOUT));
    if let Some(user) = &smtp.username {
        transport = transport.credentials(Credentials::new(
            user.clone(),
            smtp_password(smtp)?.unwrap_or_default(),
        ));
    }
    transport
        .build()
        .send(mail)
        .await
        .map(|_| ())
        .map_err(|e| format!("smtp {}: {e}", smtp.host))
}
