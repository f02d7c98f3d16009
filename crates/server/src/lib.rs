//! The Slipway server: the HTTP API, the controllers that move builds
//! along, the backends that run worker builds, and the steps they share.
//!
//! ```text
//! api/          HTTP handlers only: check input, read or write the store,
//!               wake a controller through the event bus
//! controllers/  one loop each (prepare, scheduler, orchestrator, waves,
//!               timers, rescans, tracking, notifications, clusters); a
//!               loop owns its state and hears from the others only
//!               through the store and the event bus (`events`)
//! backends/     where a placed worker build runs (local task, child
//!               process, Kubernetes Job); its end goes back on the bus
//! steps/        units of work the API and the controllers both run
//!               (apply configs, publish, scan, SBOMs, metadata, inputs,
//!               notification targets); a step never calls a controller
//! ```
//!
//! `startup` wires it together; `services` is what they all share.

mod api;
mod backends;
mod caller;
mod cleanup;
mod clusters;
pub mod config;
mod console;
mod controllers;
mod disk;
mod error;
mod events;
mod listener;
mod logs;
mod memory;
mod metrics;
pub mod migrate;
mod services;
mod startup;
mod steps;
mod tokens;

pub use api::{Access, RouteInfo};
pub use config::{ConfigFile, DatabaseSettings, ServerConfig};

/// Every HTTP route of the API, with who may call it: the table the
/// router is built from (the auth-matrix test walks it).
pub fn route_table() -> Vec<RouteInfo> {
    let mut routes = api::table().routes;
    for (method, path) in api::PUBLIC {
        routes.push(RouteInfo {
            method,
            path: path.to_string(),
            access: Access::Public,
        });
    }
    routes.push(RouteInfo {
        method: api::METRICS.0,
        path: api::METRICS.1.to_string(),
        access: Access::Token(slipway_core::access::Permission::Read),
    });
    routes
}
pub use startup::{ServerError, serve};

pub(crate) use services::Services;
