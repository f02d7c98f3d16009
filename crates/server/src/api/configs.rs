//! The rebuild API: image configs, the graph, waves, and webhooks.
//!
//! Webhook deliveries (`POST /api/v1/webhooks/{config}/{provider}`) carry
//! no API token: the sender proves itself with the config's webhook secret
//! (an HMAC signature, or GitLab's token), checked before the body is read.

use super::table::{Access, Table};
use crate::Services;
use crate::caller::Caller;
use crate::error::ApiError;
use crate::steps::configs as rebuilds;
use crate::steps::projects::of_stored;
use axum::Extension;
use axum::Json;
use axum::body::Bytes;
use axum::extract::connect_info::ConnectInfo;
use axum::extract::rejection::QueryRejection;
use axum::extract::{OriginalUri, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use serde::Deserialize;
use slipway_core::access::Permission;
use slipway_core::api::access::AuditRecord;
use slipway_core::api::{
    ApplyRequest, ApplyResponse, ConfigEvent, ConfigStatus, GraphView, StartRequest,
    TriggerResponse, WebhookResponse,
};
use slipway_core::rebuild::Wave;
use slipway_core::rebuild::trigger::{self, Delivery, Provider, Trigger};
use std::net::SocketAddr;
use std::sync::Arc;

pub(super) fn routes(t: &mut Table) {
    use Access::Token;
    use slipway_core::access::Permission::{Build, Manage, Read};
    t.add(Token(Read), "/configs", &["GET"], get(list_configs));
    t.add(Token(Build), "/configs/apply", &["POST"], post(apply));
    t.add(Token(Read), "/configs/{name}", &["GET"], get(get_config));
    t.add(
        Token(Manage),
        "/configs/{name}",
        &["DELETE"],
        delete(delete_config),
    );
    t.add(
        Token(Build),
        "/configs/{name}/start",
        &["POST"],
        post(start),
    );
    t.add(Token(Read), "/graph", &["GET"], get(graph));
    t.add(Token(Read), "/waves", &["GET"], get(list_waves));
    t.add(Token(Read), "/waves/{id}", &["GET"], get(get_wave));
    // Authenticated by the config's webhook secret instead of a token.
    t.add(
        Access::Webhook,
        "/webhooks/{config}/{provider}",
        &["POST"],
        post(webhook),
    );
}

fn json_body<T: serde::de::DeserializeOwned>(body: &Bytes, what: &str) -> Result<T, ApiError> {
    if body.is_empty() {
        return serde_json::from_slice(b"{}")
            .map_err(|e| ApiError::invalid(format!("{what} needs a body: {e}")));
    }
    serde_json::from_slice(body).map_err(|e| ApiError::invalid(format!("bad {what}: {e}")))
}

async fn apply(
    State(s): State<Arc<Services>>,
    Extension(caller): Extension<Caller>,
    body: Bytes,
) -> Result<Json<ApplyResponse>, ApiError> {
    let req: ApplyRequest = json_body(&body, "apply request")?;
    Ok(Json(rebuilds::apply(&s, &caller, req).await?))
}

/// A config as the API shows it, with its newest build `last` and its
/// `events` newest events (none read when 0).
async fn status(
    s: &Services,
    stored: &slipway_store::StoredConfig,
    graph: &slipway_core::rebuild::ConfigGraph,
    last: Option<(slipway_core::BuildId, String)>,
    events: u32,
) -> Result<ConfigStatus, ApiError> {
    let name = &stored.config.name;
    let names = |v: &[usize]| v.iter().map(|&i| graph.name(i).to_string()).collect();
    let (parents, children) = match graph.index_of(name) {
        Some(i) => (names(graph.parents(i)), names(graph.children(i))),
        None => (Vec::new(), Vec::new()),
    };
    let events = if events == 0 {
        Vec::new()
    } else {
        s.store
            .config_events(name, events)
            .await?
            .into_iter()
            .map(|(at, message, build)| ConfigEvent { at, message, build })
            .collect()
    };
    Ok(ConfigStatus {
        config: stored.config.redacted(),
        parents,
        children,
        base_images: stored.base_images.clone(),
        last_build: last.as_ref().map(|l| l.0),
        last_phase: last.and_then(|l| l.1.parse().ok()),
        webhook_path: stored
            .config
            .triggers
            .webhook
            .as_ref()
            .map(|_| format!("/api/v1/webhooks/{name}/{{github|gitlab|gitea|generic}}")),
        poll_head: stored.poll_head.clone(),
        next_poll_at: stored.next_poll_at,
        next_schedule_at: stored.next_schedule_at,
        events,
    })
}

/// Refuse unless `caller` may do `what` to config `name` (404 when it
/// does not exist).
async fn require_config(
    s: &Services,
    caller: &Caller,
    name: &str,
    what: Permission,
) -> Result<(), ApiError> {
    match crate::steps::projects::of_config_named(s, name).await? {
        Some(project) => caller.require(&project, what),
        None => Err(ApiError::not_found(format!(
            "config {name} does not exist; `slipway configs` lists them"
        ))),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    limit: Option<u32>,
    /// The cursor: only configs whose name sorts after this one.
    after: Option<String>,
}

/// `GET /configs`: the configs the caller reads, by name, `limit` (default
/// 200, at most 1000) at a time; a `Link: <…?after=NAME>; rel="next"`
/// header points to the next page while there may be one.
async fn list_configs(
    State(s): State<Arc<Services>>,
    Extension(caller): Extension<Caller>,
    q: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(q) = q.map_err(super::bad_query)?;
    let limit = q.limit.unwrap_or(200).clamp(1, 1000) as usize;
    let (stored, graph) = rebuilds::current_graph(&s).await?;
    let projects = crate::steps::projects::names(&s).await?;
    let mut last = s.store.last_builds().await?;
    let mut out = Vec::with_capacity(limit.min(stored.len()));
    let mut more = false;
    for c in stored
        .iter()
        .filter(|c| q.after.as_ref().is_none_or(|a| c.config.name > *a))
    {
        if !caller.reads(&of_stored(&s, &c.config, &projects)) {
            continue;
        }
        if out.len() == limit {
            more = true;
            break;
        }
        let newest = last.remove(&c.config.name);
        out.push(status(&s, c, &graph, newest, 0).await?);
    }
    let next = out.last().map(|c| c.config.name.clone());
    let mut resp = Json(out).into_response();
    if more && let Some(name) = next {
        let link = format!(
            "</api/v1/configs?limit={limit}&after={}>; rel=\"next\"",
            slipway_core::scan::inventory::percent_encode(&name)
        );
        if let Ok(v) = link.parse() {
            resp.headers_mut().insert(axum::http::header::LINK, v);
        }
    }
    Ok(resp)
}

async fn get_config(
    State(s): State<Arc<Services>>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
) -> Result<Json<ConfigStatus>, ApiError> {
    require_config(&s, &caller, &name, Permission::Read).await?;
    let (stored, graph) = rebuilds::current_graph(&s).await?;
    let c = stored
        .iter()
        .find(|c| c.config.name == name)
        .ok_or_else(|| ApiError::not_found(format!("config {name} does not exist")))?;
    let last = s.store.last_build(&name).await?;
    Ok(Json(status(&s, c, &graph, last, 20).await?))
}

async fn delete_config(
    State(s): State<Arc<Services>>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    require_config(&s, &caller, &name, Permission::Manage).await?;
    let _one_at_a_time = s.apply_lock.lock().await;
    let _on_one_server = crate::controllers::leases::hold(
        &s,
        "apply",
        crate::steps::configs::APPLY_LEASE,
        crate::steps::configs::APPLY_LEASE,
    )
    .await
    .map_err(ApiError::conflict)?;
    let (_, graph) = rebuilds::current_graph(&s).await?;
    if let Some(i) = graph.index_of(&name)
        && !graph.children(i).is_empty()
    {
        let children: Vec<&str> = graph.children(i).iter().map(|&c| graph.name(c)).collect();
        return Err(ApiError::conflict(format!(
            "config {name} is the parent of {}; delete or change them first",
            children.join(", ")
        )));
    }
    if s.store.delete_config(&name).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found(format!("config {name} does not exist")))
    }
}

async fn start(
    State(s): State<Arc<Services>>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    require_config(&s, &caller, &name, Permission::Build).await?;
    if let Some(project) = crate::steps::projects::of_config_named(&s, &name).await? {
        crate::steps::projects::check_build_rate(&s, &project).await?;
    }
    let req: StartRequest = json_body(&body, "start request")?;
    let (wave, noop) = rebuilds::trigger_noting(&s, &name, Trigger::Manual, req.force).await?;
    if noop {
        crate::steps::noop::settle(&s, wave, &name).await;
    }
    Ok((
        StatusCode::ACCEPTED,
        Json(TriggerResponse {
            config: name,
            wave,
            trigger: Trigger::Manual,
        }),
    )
        .into_response())
}

#[derive(Deserialize)]
struct GraphQuery {
    config: Option<String>,
}

/// Which configs the caller reads, by name.
pub(crate) async fn readable_configs(
    s: &Services,
    caller: &Caller,
) -> Result<std::collections::HashSet<String>, ApiError> {
    let projects = crate::steps::projects::names(s).await?;
    Ok(s.store
        .list_configs()
        .await?
        .iter()
        .filter(|c| caller.reads(&of_stored(s, &c.config, &projects)))
        .map(|c| c.config.name.clone())
        .collect())
}

async fn graph(
    State(s): State<Arc<Services>>,
    Extension(caller): Extension<Caller>,
    q: Result<Query<GraphQuery>, QueryRejection>,
) -> Result<Json<GraphView>, ApiError> {
    let Query(q) = q.map_err(super::bad_query)?;
    let mut view = rebuilds::graph_view(&s, q.config.as_deref()).await?;
    // Only the configs (and parents) of the projects the caller reads.
    let readable = readable_configs(&s, &caller).await?;
    view.nodes.retain(|n| readable.contains(&n.name));
    for n in &mut view.nodes {
        n.parents.retain(|p| readable.contains(p));
    }
    Ok(Json(view))
}

/// A wave as the caller may see it: only the members it reads; `None`
/// when that is none of them.
fn visible(mut wave: Wave, readable: &std::collections::HashSet<String>) -> Option<Wave> {
    wave.members.retain(|m| readable.contains(&m.config));
    (!wave.members.is_empty()).then_some(wave)
}

#[derive(Deserialize)]
struct WavesQuery {
    limit: Option<u32>,
}

async fn list_waves(
    State(s): State<Arc<Services>>,
    Extension(caller): Extension<Caller>,
    q: Result<Query<WavesQuery>, QueryRejection>,
) -> Result<Json<Vec<Wave>>, ApiError> {
    let Query(q) = q.map_err(super::bad_query)?;
    let limit = q.limit.unwrap_or(20).clamp(1, 1000);
    Ok(Json(waves_for(&s, &caller, limit).await?))
}

/// The newest `limit` waves, each with the members the caller reads
/// (waves with none left out).
pub(crate) async fn waves_for(
    s: &Services,
    caller: &Caller,
    limit: u32,
) -> Result<Vec<Wave>, ApiError> {
    let waves = s.store.list_waves(limit).await?;
    if caller.binding().project.is_none() {
        return Ok(waves);
    }
    let readable = readable_configs(s, caller).await?;
    Ok(waves
        .into_iter()
        .filter_map(|w| visible(w, &readable))
        .collect())
}

async fn get_wave(
    State(s): State<Arc<Services>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Json<Wave>, ApiError> {
    let id = super::parse_positive(&id, "wave id")?;
    Ok(Json(wave_for(&s, &caller, id).await?))
}

/// Wave `id` with the members the caller reads.
pub(crate) async fn wave_for(s: &Services, caller: &Caller, id: i64) -> Result<Wave, ApiError> {
    let gone = || ApiError::not_found(format!("wave {id} does not exist"));
    let wave = s.store.get_wave(id).await?.ok_or_else(gone)?;
    if caller.binding().project.is_none() {
        return Ok(wave);
    }
    let readable = readable_configs(s, caller).await?;
    visible(wave, &readable).ok_or_else(gone)
}

async fn webhook(
    State(s): State<Arc<Services>>,
    Path((config, provider)): Path<(String, String)>,
    OriginalUri(uri): OriginalUri,
    from: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let provider = Provider::parse(&provider).ok_or_else(|| {
        ApiError::not_found(format!(
            "no webhook provider {provider:?}; use github, gitlab, gitea or generic"
        ))
    })?;
    // The same answer whether the config is missing or has no webhook, so
    // the endpoint does not reveal which configs exist.
    let no_hook = || ApiError::not_found(format!("config {config} has no webhook trigger"));
    let stored = s.store.get_config(&config).await?.ok_or_else(no_hook)?;
    let secret = stored
        .config
        .triggers
        .webhook
        .as_ref()
        .and_then(|w| w.secret.clone())
        .ok_or_else(no_hook)?;
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    if let Err(e) = trigger::verify(provider, &header, &body, secret.as_bytes()) {
        tracing::warn!(
            "config {config}: refused a {} webhook: {e}",
            provider.as_str()
        );
        return Err(ApiError::unauthorized(e.to_string()));
    }
    // A delivery that proved itself acts for the config's project: its
    // outcome is audited like a token's request (unproven ones are only
    // logged, so that anyone cannot fill the audit log).
    let outcome = delivered(&s, &config, &stored.config, provider, &header, &body).await;
    let projects = crate::steps::projects::names(&s).await?;
    let record = AuditRecord {
        id: 0,
        at: String::new(),
        who: format!("webhook {} of config {config}", provider.as_str()),
        project: Some(of_stored(&s, &stored.config, &projects)),
        action: format!("POST {}", uri.path()),
        source: from.map(|Extension(ConnectInfo(a))| a.ip().to_string()),
        status: match &outcome {
            Ok(r) => r.status().as_u16(),
            Err(e) => e.status.as_u16(),
        },
    };
    super::audit::write(&s, &record).await;
    outcome
}

/// What a verified delivery does: builds nothing (ignored, stale, a
/// replay) or starts a wave.
async fn delivered(
    s: &Arc<Services>,
    config: &str,
    stored: &slipway_core::rebuild::image_config::ImageConfig,
    provider: Provider,
    header: &(dyn Fn(&str) -> Option<String> + Sync),
    body: &[u8],
) -> Result<Response, ApiError> {
    let delivery = trigger::read_delivery(provider, &header, body)
        .map_err(|e| ApiError::invalid(e.to_string()))?;
    let ignored = |message: String| {
        (
            StatusCode::OK,
            Json(WebhookResponse {
                outcome: "ignored".into(),
                message,
                wave: None,
            }),
        )
            .into_response()
    };
    let push = match delivery {
        Delivery::Ignored(why) => return Ok(ignored(why)),
        Delivery::Push(p) => p,
    };
    if push.branch != stored.source.branch {
        return Ok(ignored(format!(
            "push to {} ignored: config {config} builds {}",
            push.branch, stored.source.branch
        )));
    }
    if let Err(e) = push.check_fresh(jiff::Timestamp::now().as_second()) {
        tracing::warn!(
            "config {config}: refused a {} webhook: {e}",
            provider.as_str()
        );
        return Err(ApiError::invalid(e.to_string()));
    }
    if let Some(id) = &push.delivery
        && let Some(at) = s
            .store
            .remember_delivery(config, provider.as_str(), id)
            .await?
    {
        tracing::warn!(
            "config {config}: {} delivery {id} received again",
            provider.as_str()
        );
        return Ok(ignored(format!(
            "delivery {id} was already received at {at}; a re-sent delivery builds nothing"
        )));
    }
    if let Some(why) = rebuilds::stale_push(s, stored, &push.commit).await? {
        tracing::warn!(
            "config {config}: {} delivery ignored: {why}",
            provider.as_str()
        );
        return Ok(ignored(why));
    }
    let t = Trigger::Webhook {
        provider,
        commit: push.commit.clone(),
        delivery: push.delivery,
    };
    let (wave, noop) = rebuilds::trigger_noting(s, config, t, false).await?;
    if noop {
        crate::steps::noop::settle(s, wave, config).await;
    }
    Ok((
        StatusCode::ACCEPTED,
        Json(WebhookResponse {
            outcome: "triggered".into(),
            message: format!(
                "commit {} of {} joins wave {wave}",
                push.commit, push.branch
            ),
            wave: Some(wave),
        }),
    )
        .into_response())
}
