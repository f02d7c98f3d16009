//! The controllers: each a loop that owns its state, woken by the event bus
//! (`crate::events`) and by a timer, reading what to do from the store.
//! They never call each other.
//!
//! | controller      | wakes on                      | does                                   |
//! |-----------------|-------------------------------|----------------------------------------|
//! | `prepare`       | `prepare`, 5 s                | New builds → Pending (or Failed/Skipped) |
//! | `scheduler`     | `queue`, 2 s                  | places queued worker builds, launches them |
//! | `orchestrator`  | worker-ended events           | fails or publishes the build           |
//! | `waves`         | `waves`, 1 s                  | forms and advances rebuild waves       |
//! | `timers`        | 5 s                           | polls branches, fires cron schedules   |
//! | `rescans`       | 5 s                           | scheduled rescans of configs' images   |
//! | `tracking`      | 5 s                           | package repositories → triggers        |
//! | `notifications` | `outbox`, 1 s                 | announces ended builds, sends mail and webhooks |
//! | `clusters`      | SIGHUP                        | reloads the cluster file               |
//! | `koji`          | `koji`, 2 s                   | imports Complete builds into Koji      |
//! | `gc`            | `registry_gc_interval_hours`  | registry garbage collection, its report in the log |
//! | `leases`        | 5 s, 10 s                     | this server's own lease; recovers the builds of stopped servers |
//!
//! With several servers on one database (PostgreSQL), `waves`, `timers`,
//! `rescans`, `tracking`, `notifications`, `koji`, `gc` and the feed's
//! pruning run a tick only on the server holding their lease
//! (`leases::leads`); a build is prepared by the server that takes its
//! `prepare:<id>` lease; every server places (the store serialises
//! placement) and runs what it placed.

mod clusters;
mod gc;
mod koji;
pub(crate) mod leases;
mod notifications;
mod orchestrator;
mod prepare;
mod rescans;
mod scheduler;
mod timers;
mod tracking;
mod waves;

pub(crate) use prepare::CONCURRENT_PREPARATIONS;

use crate::Services;
use std::sync::Arc;

/// Start every controller.
pub fn spawn_all(services: &Arc<Services>) {
    tokio::spawn(prepare::run(services.clone()));
    tokio::spawn(scheduler::run(services.clone()));
    tokio::spawn(orchestrator::run(services.clone()));
    tokio::spawn(waves::run(services.clone()));
    tokio::spawn(timers::run(services.clone()));
    tokio::spawn(rescans::run(services.clone()));
    tokio::spawn(tracking::run(services.clone()));
    tokio::spawn(notifications::run(services.clone()));
    tokio::spawn(clusters::run(services.clone()));
    tokio::spawn(koji::run(services.clone()));
    tokio::spawn(gc::run(services.clone()));
    tokio::spawn(gc::prune_mirrors(services.clone()));
    tokio::spawn(gc::prune_feed(services.clone()));
    tokio::spawn(leases::heartbeat(services.clone()));
    tokio::spawn(leases::recovery(services.clone()));
}
