//! The audit log: every mutating API request of a known token (anything
//! but GET and HEAD) is one append-only record — who, their project, what
//! (method and path; never a body or a query, which may hold secrets),
//! from where, when, and the answer's status, refused requests included.
//! `GET /audit` shows it: a global admin all of it, a project's admin the
//! records of its project's tokens.

use super::Caller;
use super::table::{Access, Table};
use crate::Services;
use crate::error::ApiError;
use axum::extract::connect_info::ConnectInfo;
use axum::extract::rejection::QueryRejection;
use axum::extract::{OriginalUri, Query, Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;
use axum::{Extension, Json};
use serde::Deserialize;
use slipway_core::access::Permission;
use slipway_core::api::access::AuditRecord;
use std::net::SocketAddr;
use std::sync::Arc;

pub(super) fn routes(t: &mut Table) {
    use axum::routing::get;
    t.add(
        Access::Token(Permission::Manage),
        "/audit",
        &["GET"],
        get(list),
    );
}

/// Middleware (inside the token check): record mutating requests.
pub async fn record(State(s): State<Arc<Services>>, req: Request, next: Next) -> Response {
    if matches!(*req.method(), Method::GET | Method::HEAD) {
        return next.run(req).await;
    }
    let Some(caller) = req.extensions().get::<Caller>().cloned() else {
        return next.run(req).await; // a worker build's own routes
    };
    let path = req
        .extensions()
        .get::<OriginalUri>()
        .map_or_else(|| req.uri().path().to_string(), |u| u.path().to_string());
    let action = format!("{} {path}", req.method());
    let source = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip().to_string());
    let resp = next.run(req).await;
    let record = AuditRecord {
        id: 0,
        at: String::new(),
        who: caller.subject(),
        project: caller.binding().project.clone(),
        action,
        source,
        status: resp.status().as_u16(),
    };
    write(&s, &record).await;
    resp
}

/// Append `record`; a record the store cannot take is logged as lost.
pub(super) async fn write(s: &Services, record: &AuditRecord) {
    if let Err(e) = s.store.record_audit(record).await {
        tracing::error!(
            "audit record lost ({} {} → {}): {e}",
            record.who,
            record.action,
            record.status
        );
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AuditQuery {
    project: Option<String>,
    /// RFC 3339.
    since: Option<String>,
    limit: Option<u32>,
}

/// `GET /audit?project=&since=&limit=`: newest first.
async fn list(
    State(s): State<Arc<Services>>,
    Extension(caller): Extension<Caller>,
    q: Result<Query<AuditQuery>, QueryRejection>,
) -> Result<Json<Vec<AuditRecord>>, ApiError> {
    let Query(q) = q.map_err(super::bad_query)?;
    let since = q
        .since
        .as_deref()
        .map(|t| {
            t.parse::<jiff::Timestamp>()
                .map_err(|e| ApiError::invalid(format!("since {t:?} is not an RFC 3339 time: {e}")))
        })
        .transpose()?;
    let limit = q.limit.unwrap_or(100).clamp(1, 10_000);
    // A project's admin sees its own project's records only.
    let project = match (&caller.binding().project, &q.project) {
        (Some(own), Some(asked)) if own != asked => {
            return Err(ApiError::forbidden(format!(
                "token {} ({}) may not read project {asked}'s audit records",
                caller.0.name,
                caller.binding().describe()
            )));
        }
        (Some(own), _) => Some(Some(own.as_str())),
        (None, Some(asked)) => Some(Some(asked.as_str())),
        (None, None) => None,
    };
    Ok(Json(s.store.audit(project, since, limit).await?))
}
