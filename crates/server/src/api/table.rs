//! The route table: every API route is added here with who may call it,
//! and the router is built from it, so the list the auth-matrix test walks
//! ([`crate::route_table`]) is the router itself, and a route cannot be
//! added without saying who may reach it.

use crate::Services;
use axum::Router;
use axum::routing::MethodRouter;
use serde::Serialize;
use slipway_core::access::Permission;
use std::sync::Arc;

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Access {
    /// Anyone (`/healthz`, `/readyz`).
    Public,
    /// An API token whose binding allows this somewhere (the handler
    /// checks the project of what it touches).
    Token(Permission),
    /// An API token, or the token of the worker build the path names.
    Worker,
    /// Anyone; the handler checks the config's webhook secret.
    Webhook,
}

/// One route: its method, its full path (`/api/v1/builds/{id}`) and who
/// may call it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RouteInfo {
    pub method: &'static str,
    pub path: String,
    pub access: Access,
}

/// Routes under `/api/v1`, by who may call them.
#[derive(Default)]
pub(crate) struct Table {
    pub(crate) routes: Vec<RouteInfo>,
    pub(crate) authenticated: Router<Arc<Services>>,
    pub(crate) open: Router<Arc<Services>>,
}

impl Table {
    /// Add `path` (under `/api/v1`) answering `methods` with `handler`.
    pub(crate) fn add(
        &mut self,
        access: Access,
        path: &'static str,
        methods: &[&'static str],
        handler: MethodRouter<Arc<Services>>,
    ) {
        for m in methods {
            self.routes.push(RouteInfo {
                method: m,
                path: format!("/api/v1{path}"),
                access,
            });
        }
        match access {
            Access::Token(what) => {
                let gated = handler.route_layer(axum::middleware::from_fn_with_state(
                    what,
                    super::auth::gate,
                ));
                self.authenticated = std::mem::take(&mut self.authenticated).route(path, gated);
            }
            Access::Worker => {
                self.authenticated = std::mem::take(&mut self.authenticated).route(path, handler);
            }
            Access::Webhook | Access::Public => {
                self.open = std::mem::take(&mut self.open).route(path, handler);
            }
        }
    }
}
