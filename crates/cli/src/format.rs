//! Human-readable output.

use jiff::Timestamp;
use slipway_core::Build;
use slipway_core::api::{BuildSummary, ClusterStatus};
use std::fmt::Write;

fn age(then: Timestamp, now: Timestamp) -> String {
    let secs = now.as_second().saturating_sub(then.as_second()).max(0);
    match secs {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m", s / 60),
        s if s < 86400 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86400),
    }
}

/// `1m 05s`, `42s`, `2h 03m`.
fn duration(secs: i64) -> String {
    match secs.max(0) {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m {:02}s", s / 60, s % 60),
        s => format!("{}h {:02}m", s / 3600, (s % 3600) / 60),
    }
}

pub fn build_table(builds: &[BuildSummary], now: Timestamp) -> String {
    let mut out = String::new();
    if builds.is_empty() {
        out.push_str("no builds; start one with `slipway build SOURCE --tag HOST/NAME:TAG`\n");
        return out;
    }
    let _ = writeln!(
        out,
        "{:<6} {:<9} {:<16} {:<9} {:<9} {:<9} RESULT",
        "ID", "PHASE", "CONFIG", "TRIGGER", "CREATED", "DURATION"
    );
    for b in builds {
        let config = b.config.as_deref().unwrap_or("-");
        let took = match (b.started_at, b.finished_at) {
            (Some(s), Some(f)) => duration(f.as_second() - s.as_second()),
            (Some(s), None) => format!("{}…", duration(now.as_second() - s.as_second())),
            _ => "-".into(),
        };
        let _ = writeln!(
            out,
            "{:<6} {:<9} {:<16} {:<9} {:<9} {:<9} {}",
            b.id,
            b.phase.as_str(),
            config,
            b.trigger,
            format!("{} ago", age(b.created_at, now)),
            took,
            b.image
                .as_deref()
                .or(b.reason.as_deref())
                .unwrap_or(&b.output)
        );
    }
    out
}

pub fn build_details(b: &Build) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "Build:       {}", b.id);
    let _ = writeln!(out, "Phase:       {}", b.phase);
    if let Some(r) = &b.reason {
        let _ = writeln!(out, "Reason:      {r}");
    }
    let _ = writeln!(out, "Trigger:     {}", b.spec.trigger);
    if let Some(c) = &b.spec.config {
        let wave = b
            .spec
            .wave
            .map(|w| format!(" (wave {w})"))
            .unwrap_or_default();
        let _ = writeln!(out, "Config:      {c}{wave}");
    }
    for (from, pinned) in &b.spec.parent_digests {
        let _ = writeln!(out, "Pinned:      {from} → {pinned}");
    }
    if let Some(k) = &b.spec.input_key {
        let _ = writeln!(out, "Input key:   {k}");
    }
    let s = &b.spec.source;
    let _ = writeln!(out, "Source:      {}", s.location.redacted());
    let _ = writeln!(
        out,
        "Ref:         {}",
        s.git_ref.as_deref().unwrap_or("(default branch)")
    );
    if let Some(c) = &b.commit {
        let _ = writeln!(out, "Commit:      {c}");
    }
    let _ = writeln!(out, "Context:     {}", s.context_dir);
    let _ = writeln!(out, "Dockerfile:  {}", s.dockerfile);
    for (k, v) in &b.spec.build_args {
        let _ = writeln!(out, "Build arg:   {k}={v}");
    }
    let _ = writeln!(
        out,
        "Network:     {}",
        if b.spec.network { "allowed" } else { "none" }
    );
    let _ = writeln!(out, "Output:      {}", b.spec.output);
    let _ = writeln!(out, "Kind:        {}", b.spec.kind.as_str());
    if let Some(r) = &b.spec.release {
        let _ = writeln!(out, "Release:     {r}");
    }
    if !b.spec.tags.is_empty() {
        let _ = writeln!(out, "Tags:        {}", b.spec.tags.join(", "));
    }
    for (k, v) in &b.spec.labels {
        let _ = writeln!(out, "Label:       {k}={v}");
    }
    if let Some(l) = &b.lint {
        let _ = writeln!(
            out,
            "Lint:        {} findings ({})",
            l.findings.len(),
            l.mode.as_str()
        );
        for f in &l.findings {
            let _ = writeln!(
                out,
                "  {}:{} {} {}: {}",
                l.dockerfile, f.line, f.code, f.level, f.message
            );
        }
    }
    if let Some(img) = &b.image {
        let _ = writeln!(out, "Image:       {}", img.reference);
        let _ = writeln!(out, "Size:        {} bytes", img.size);
        for l in &img.layers {
            let _ = writeln!(out, "Layer:       {l}");
        }
    }
    if !b.workers.is_empty() {
        let _ = writeln!(out, "Platforms:");
        for w in &b.workers {
            let result = match (&w.image, &w.reason) {
                (Some(img), _) => img.reference.clone(),
                (None, Some(r)) => r.clone(),
                (None, None) => String::new(),
            };
            let _ = writeln!(
                out,
                "  {:<8} {:<9} {:<20} {}",
                w.platform.as_str(),
                w.phase.as_str(),
                w.cluster.as_deref().unwrap_or("(queued)"),
                result
            );
        }
    }
    let _ = writeln!(out, "Attempts:    {}", b.attempts);
    let _ = writeln!(out, "Created:     {}", b.created_at);
    if let Some(t) = b.started_at {
        let _ = writeln!(out, "Started:     {t}");
    }
    if let Some(t) = b.finished_at {
        let _ = writeln!(out, "Finished:    {t}");
    }
    if !b.stages.is_empty() {
        let _ = writeln!(out, "Stages:");
        for st in &b.stages {
            let _ = writeln!(
                out,
                "  {:<8} {:.1}s",
                st.stage.as_str(),
                st.duration_ms as f64 / 1000.0
            );
        }
    }
    let _ = writeln!(out, "Events:");
    for e in &b.events {
        let _ = writeln!(out, "  {}  {}", e.at, e.message);
    }
    out
}

/// The registry GC report (the API's JSON).
pub fn gc_report(r: &serde_json::Value) -> String {
    let mut out = String::new();
    let dry = r["dry_run"].as_bool().unwrap_or(false);
    let blobs = r["deleted_blobs"].as_array().map(Vec::len).unwrap_or(0);
    let uploads = r["stale_uploads"].as_array().map(Vec::len).unwrap_or(0);
    let verb = if dry { "would remove" } else { "removed" };
    let _ = writeln!(
        out,
        "{verb} {blobs} blobs ({} bytes) and {uploads} stale uploads; kept {} blobs",
        r["freed_bytes"].as_u64().unwrap_or(0),
        r["kept_blobs"].as_u64().unwrap_or(0)
    );
    for d in r["deleted_blobs"].as_array().into_iter().flatten() {
        let _ = writeln!(out, "  {}", d.as_str().unwrap_or(""));
    }
    if dry && blobs + uploads > 0 {
        out.push_str("run again without --dry-run to remove them\n");
    }
    out
}

pub fn cluster_table(clusters: &[ClusterStatus]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<24} {:<9} {:<11} {:>10} {:>6} {:<9} REACHABLE",
        "NAME", "PLATFORM", "BACKEND", "ACTIVE/MAX", "LOAD", "ENABLED"
    );
    for c in clusters {
        let enabled = match (c.enabled, c.enabled_in_file) {
            (true, _) => "yes",
            (false, true) => "draining",
            (false, false) => "no",
        };
        let _ = writeln!(
            out,
            "{:<24} {:<9} {:<11} {:>10} {:>6.2} {:<9} {}",
            c.name,
            c.platform,
            c.backend,
            format!("{}/{}", c.active, c.max_concurrent_builds),
            c.load,
            enabled,
            if c.reachable { "yes" } else { "no" }
        );
    }
    out
}
