//! The event bus: how a controller hears about another's work without
//! calling into it. Each event wakes one loop, which then reads from the
//! store what there is to do, so a wake-up that comes while the loop is
//! busy is never lost (a `Notify` keeps one) and a lost one only waits for
//! the loop's next tick. The one event that carries data is a worker
//! build's end: whether it was its build's last unfinished worker build is
//! decided inside the store's transaction and cannot be read back later.

use slipway_core::BuildId;
use std::sync::Mutex;
use tokio::sync::{Notify, mpsc};

/// A worker build ended; `last` when it left no sibling unfinished (so
/// this event's handler publishes the build).
#[derive(Debug, Clone, Copy)]
pub struct WorkerEnded {
    pub build: BuildId,
    pub last: bool,
}

pub struct Events {
    /// A build was created: the preparer looks for builds in New.
    pub prepare: Notify,
    /// Worker builds were queued, a slot freed or the clusters changed:
    /// the scheduler places again.
    pub queue: Notify,
    /// A trigger arrived or a build ended: the wave driver looks again.
    pub waves: Notify,
    /// Something was put in the outbox or a build ended: the
    /// notifications loop looks again.
    pub outbox: Notify,
    /// A Koji import was queued again by hand: the Koji loop looks.
    pub koji: Notify,
    ended_tx: mpsc::UnboundedSender<WorkerEnded>,
    ended_rx: Mutex<Option<mpsc::UnboundedReceiver<WorkerEnded>>>,
}

impl Events {
    pub fn new() -> Events {
        let (ended_tx, ended_rx) = mpsc::unbounded_channel();
        Events {
            prepare: Notify::new(),
            queue: Notify::new(),
            waves: Notify::new(),
            outbox: Notify::new(),
            koji: Notify::new(),
            ended_tx,
            ended_rx: Mutex::new(Some(ended_rx)),
        }
    }

    /// Tell the orchestrator that a worker build of `build` ended.
    pub fn worker_ended(&self, build: BuildId, last: bool) {
        // The receiver lives as long as the server; a send after it is
        // gone (shutdown) has nobody to tell.
        let _ = self.ended_tx.send(WorkerEnded { build, last });
    }

    /// The orchestrator's end of the worker-ended channel (once).
    pub fn take_worker_ended(&self) -> Option<mpsc::UnboundedReceiver<WorkerEnded>> {
        self.ended_rx.lock().ok()?.take()
    }
}
