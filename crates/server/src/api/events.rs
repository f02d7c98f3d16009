//! `GET /api/v1/events`: the change feed (the store's `feed` table, which
//! triggers fill with every build, config, wave, cluster, tag and scan
//! change) as Server-Sent Events. Each event's `id` is its feed id, so a
//! client that reconnects with `Last-Event-ID` misses nothing still kept
//! (a week); without one the stream starts now (`?after=0`: from the
//! oldest kept). Filters: `types=build,scan`, `build=ID`, `config=NAME`.
//! A token bound to a project sees only that project's changes; at most
//! [`MAX_STREAMS`] streams are open at once.

use crate::Services;
use crate::api::{Caller, bad_query};
use crate::error::ApiError;
use axum::Extension;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use futures::Stream;
use serde::Deserialize;
use slipway_store::FeedRow;
use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

/// Streams open at once (each reads the feed twice a second).
pub(crate) const MAX_STREAMS: usize = 256;
/// The kinds of change in the feed.
pub const KINDS: [&str; 6] = ["build", "config", "wave", "cluster", "tag", "scan"];
/// Between reads of the feed when nothing new came.
const POLL: Duration = Duration::from_millis(250);
/// Rows read at once.
const BATCH: u32 = 500;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct EventsQuery {
    after: Option<i64>,
    types: Option<String>,
    build: Option<i64>,
    config: Option<String>,
}

/// What a stream lets through.
#[derive(Debug, Clone, Default)]
struct Filter {
    kinds: Option<Vec<String>>,
    build: Option<i64>,
    config: Option<String>,
    /// The caller's project, for a token bound to one.
    project: Option<String>,
}

impl Filter {
    fn wants(&self, row: &FeedRow, project: Option<&str>) -> bool {
        if self.kinds.as_ref().is_some_and(|k| !k.contains(&row.kind)) {
            return false;
        }
        if let Some(b) = self.build
            && row.data["build"].as_i64() != Some(b)
        {
            return false;
        }
        if let Some(c) = &self.config
            && row.data["config"].as_str() != Some(c.as_str())
        {
            return false;
        }
        match (&self.project, project) {
            (None, _) => true,
            (Some(mine), Some(theirs)) => mine == theirs,
            // Not a project's: whole-service changes (a wave's state, a
            // cluster switched), seen by every reader.
            (Some(_), None) => row.kind == "wave" || row.kind == "cluster",
        }
    }
}

/// The project a feed row belongs to: the store's, else the one of the
/// repository or config it names (`None`: the whole service's). What was
/// looked up is kept in `known` (by `repository:NAME` or `config:NAME`)
/// for the stream's later rows.
async fn project_of(
    s: &Services,
    row: &FeedRow,
    known: &mut HashMap<String, Option<String>>,
) -> Option<String> {
    if let Some(p) = &row.project {
        return Some(p.clone());
    }
    let (key, repository) = match (row.data["repository"].as_str(), row.data["config"].as_str()) {
        (Some(r), _) => (format!("repository:{r}"), true),
        (None, Some(c)) => (format!("config:{c}"), false),
        (None, None) => return None,
    };
    if let Some(p) = known.get(&key) {
        return p.clone();
    }
    let name = key.split_once(':').map_or("", |(_, n)| n);
    let p = if repository {
        crate::steps::projects::of_repository(s, name).await.ok()
    } else {
        crate::steps::projects::of_config_named(s, name)
            .await
            .ok()
            .flatten()
    };
    known.insert(key, p.clone());
    p
}

/// The SSE event of a feed row: `event: KIND`, `id: ID`, and the row as
/// JSON (`id`, `type`, `at`, `project` and what changed).
fn event_of(row: &FeedRow, project: Option<&str>) -> Event {
    let mut data = serde_json::json!({
        "id": row.id,
        "type": row.kind,
        "at": row.at.to_string(),
        "project": project,
    });
    if let (Some(out), Some(fields)) = (data.as_object_mut(), row.data.as_object()) {
        for (k, v) in fields {
            out.entry(k.clone()).or_insert_with(|| v.clone());
        }
    }
    Event::default()
        .id(row.id.to_string())
        .event(row.kind.as_str())
        .data(data.to_string())
}

struct Cursor {
    services: Arc<Services>,
    after: i64,
    filter: Filter,
    ready: VecDeque<Event>,
    known: HashMap<String, Option<String>>,
    _permit: tokio::sync::OwnedSemaphorePermit,
}

pub(super) async fn stream(
    State(s): State<Arc<Services>>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    q: Result<Query<EventsQuery>, QueryRejection>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let Query(q) = q.map_err(bad_query)?;
    let kinds = match &q.types {
        None => None,
        Some(list) => {
            let kinds: Vec<String> = list
                .split(',')
                .map(str::trim)
                .filter(|k| !k.is_empty())
                .map(str::to_string)
                .collect();
            if let Some(bad) = kinds.iter().find(|k| !KINDS.contains(&k.as_str())) {
                return Err(ApiError::invalid(format!(
                    "types: {bad:?} is not a kind of change; use {}",
                    KINDS.join(", ")
                )));
            }
            Some(kinds)
        }
    };
    // A reconnect resumes after the last event it saw.
    let resume = match headers.get("last-event-id") {
        None => None,
        Some(v) => Some(
            v.to_str()
                .ok()
                .and_then(|t| t.trim().parse::<i64>().ok())
                .filter(|n| *n >= 0)
                .ok_or_else(|| {
                    ApiError::invalid("Last-Event-ID must be the id of an event this stream sent")
                })?,
        ),
    };
    let after = match resume.or(q.after) {
        Some(a) => a,
        None => s.store.feed_head().await?,
    };
    let permit = s.event_streams.clone().try_acquire_owned().map_err(|_| {
        ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            slipway_core::api::codes::TOO_MANY_REQUESTS,
            format!("{MAX_STREAMS} event streams are open already; close one, or try again later"),
        )
    })?;
    let cursor = Cursor {
        services: s,
        after,
        filter: Filter {
            kinds,
            build: q.build,
            config: q.config,
            project: caller.binding().project.clone(),
        },
        ready: VecDeque::new(),
        known: HashMap::new(),
        _permit: permit,
    };
    let events = futures::stream::unfold(cursor, |mut c| async move {
        loop {
            if let Some(e) = c.ready.pop_front() {
                return Some((Ok(e), c));
            }
            match c.services.store.feed_after(c.after, BATCH).await {
                Ok(rows) if !rows.is_empty() => {
                    for row in rows {
                        c.after = row.id;
                        let project = project_of(&c.services, &row, &mut c.known).await;
                        if c.filter.wants(&row, project.as_deref()) {
                            c.ready.push_back(event_of(&row, project.as_deref()));
                        }
                    }
                }
                Ok(_) => tokio::time::sleep(POLL).await,
                Err(e) => {
                    tracing::warn!("event stream: cannot read the feed: {e}");
                    tokio::time::sleep(POLL * 4).await;
                }
            }
        }
    });
    Ok(Sse::new(events).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}
