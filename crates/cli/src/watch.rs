//! `slipway watch`: the server's changes as they happen (`GET
//! /api/v1/events`, Server-Sent Events): one line each, or one JSON
//! object per line with `-o json`. A cut stream is resumed from the last
//! event seen (`Last-Event-ID`), so nothing is missed across a reconnect.

use crate::client::{Client, ClientError};
use crate::{CliError, Output};
use clap::Args;
use futures::StreamExt;
use std::io::Write;
use std::time::Duration;

#[derive(Debug, Clone, Args)]
pub struct WatchArgs {
    /// Only changes of this config (its builds, waves and scans)
    #[arg(long)]
    pub config: Option<String>,
    /// Only changes of this build
    #[arg(long)]
    pub build: Option<i64>,
    /// Only these kinds: build, config, wave, cluster, tag, scan (repeatable)
    #[arg(long = "type", value_name = "KIND")]
    pub types: Vec<String>,
    /// Start from the oldest change the server keeps (a week) instead of now
    #[arg(long)]
    pub from_start: bool,
    /// Stop after this many changes (default: until interrupted)
    #[arg(long)]
    pub count: Option<u64>,
    #[arg(short, long, value_enum, default_value_t)]
    pub output: Output,
}

/// `s` for a query string.
fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// One change as a line: `12:03:04 build 7 Running: started`.
fn line(v: &serde_json::Value) -> String {
    let at = v["at"].as_str().unwrap_or("");
    let time = at.get(11..19).unwrap_or(at);
    let s = |k: &str| v[k].as_str().unwrap_or("").to_string();
    let detail = match v["type"].as_str().unwrap_or("") {
        "build" => format!(
            "build {}{}{}: {}",
            v["build"],
            v["config"]
                .as_str()
                .map(|c| format!(" ({c})"))
                .unwrap_or_default(),
            v["phase"]
                .as_str()
                .map(|p| format!(" {p}"))
                .unwrap_or_default(),
            s("message")
        ),
        "config" => match v["change"].as_str() {
            Some(change) => format!("config {} {change}", s("config")),
            None => format!("config {}: {}", s("config"), s("message")),
        },
        "wave" => match v["config"].as_str() {
            Some(config) => format!(
                "wave {}: {config} {}{}",
                v["wave"],
                v["member"].as_str().unwrap_or(&v["member"].to_string()),
                v["build"]
                    .as_i64()
                    .map(|b| format!(" (build {b})"))
                    .unwrap_or_default()
            ),
            None => format!("wave {} {}", v["wave"], s("state")),
        },
        "cluster" => format!(
            "cluster {} {}",
            s("cluster"),
            if v["enabled"] == true {
                "enabled"
            } else {
                "disabled"
            }
        ),
        "tag" => format!(
            "tag {}:{} → {} ({}, {})",
            s("repository"),
            s("tag"),
            v["new_digest"].as_str().unwrap_or("(removed)"),
            s("why"),
            s("who")
        ),
        "scan" => format!("scan {} of {}: {}", v["scan"], s("reference"), s("outcome")),
        other => format!("{other}: {v}"),
    };
    format!("{time} {detail}")
}

pub(crate) async fn watch(client: &Client, a: WatchArgs) -> Result<(), CliError> {
    let mut query = Vec::new();
    if !a.types.is_empty() {
        query.push(format!("types={}", a.types.join(",")));
    }
    if let Some(b) = a.build {
        query.push(format!("build={b}"));
    }
    if let Some(c) = &a.config {
        query.push(format!("config={}", encode(c)));
    }
    if a.from_start {
        query.push("after=0".into());
    }
    let path = if query.is_empty() {
        "/events".to_string()
    } else {
        format!("/events?{}", query.join("&"))
    };
    let mut last: Option<String> = None;
    let mut seen = 0u64;
    let mut failures = 0u32;
    loop {
        let resp = match client.get_events(&path, last.as_deref()).await {
            Ok(r) => r,
            // The server went away: try again a few times, then say so.
            Err(e @ ClientError::Unreachable { .. }) if failures < 10 && last.is_some() => {
                failures += 1;
                eprintln!("watch: {e}; trying again ({failures}/10)");
                tokio::time::sleep(Duration::from_secs(u64::from(failures.min(5)))).await;
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        failures = 0;
        let mut body = resp.bytes_stream();
        let mut pending: Vec<u8> = Vec::new();
        let (mut id, mut data) = (None::<String>, String::new());
        while let Some(chunk) = body.next().await {
            let Ok(chunk) = chunk else {
                break; // cut: resume from `last`
            };
            pending.extend_from_slice(&chunk);
            while let Some(pos) = pending.iter().position(|b| *b == b'\n') {
                let raw: Vec<u8> = pending.drain(..=pos).collect();
                let text = String::from_utf8_lossy(&raw);
                let text = text.trim_end_matches(['\n', '\r']);
                if text.is_empty() {
                    // The end of one event.
                    if !data.is_empty() {
                        let v: serde_json::Value = serde_json::from_str(&data).map_err(|e| {
                            ClientError::Protocol(format!(
                                "the server sent an event that is not JSON: {e}"
                            ))
                        })?;
                        let mut out = std::io::stdout();
                        let _ = match a.output {
                            Output::Json => writeln!(out, "{v}"),
                            Output::Table => writeln!(out, "{}", line(&v)),
                        };
                        let _ = out.flush();
                        seen += 1;
                        if a.count.is_some_and(|n| seen >= n) {
                            return Ok(());
                        }
                    }
                    if id.is_some() {
                        last = id.take();
                    }
                    data.clear();
                } else if let Some(v) = text.strip_prefix("data:") {
                    if !data.is_empty() {
                        data.push('\n');
                    }
                    data.push_str(v.strip_prefix(' ').unwrap_or(v));
                } else if let Some(v) = text.strip_prefix("id:") {
                    id = Some(v.trim().to_string());
                }
                // `event:` repeats the JSON's type; `:` lines keep the
                // connection alive.
            }
        }
        eprintln!("watch: the stream was cut; resuming");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_read_as_one_line_each() {
        let v = serde_json::json!({
            "type": "build", "at": "2026-11-30T12:03:04.5Z", "build": 7,
            "config": "app", "phase": "Running", "message": "started"
        });
        assert_eq!(line(&v), "12:03:04 build 7 (app) Running: started");
        let v = serde_json::json!({
            "type": "wave", "at": "2026-11-30T12:03:04Z", "wave": 3,
            "config": "b", "member": "skipped", "build": 9
        });
        assert_eq!(line(&v), "12:03:04 wave 3: b skipped (build 9)");
        let v = serde_json::json!({
            "type": "cluster", "at": "2026-11-30T12:03:04Z", "cluster": "arm", "enabled": false
        });
        assert_eq!(line(&v), "12:03:04 cluster arm disabled");
    }
}
