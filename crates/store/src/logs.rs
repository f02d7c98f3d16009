//! Build logs kept in the database, for servers that share one
//! (PostgreSQL): any of them reads and follows a build's log, whichever
//! ran it. A log is a sequence of chunks of whole lines, each at its byte
//! offset; an all-in-one server keeps its logs as files instead (the
//! server's `logs` module), so SQLite has no implementation.

use crate::Result;
use async_trait::async_trait;
use slipway_core::BuildId;

#[async_trait]
pub trait LogStore: Send + Sync + 'static {
    /// Add `data` (whole lines) to the end of the build's log; returns the
    /// log's length after it. Writers of one build on several servers take
    /// turns, so chunks never overlap.
    async fn append_log(&self, build: BuildId, data: &[u8]) -> Result<u64>;
    /// Up to about `max` bytes of the log from byte `offset` (whole chunks,
    /// cut at `offset`; at least one chunk when there is one).
    async fn read_log(&self, build: BuildId, offset: u64, max: usize) -> Result<Vec<u8>>;
    /// The log's length in bytes.
    async fn log_len(&self, build: BuildId) -> Result<u64>;
    /// Delete a pruned build's log.
    async fn remove_log(&self, build: BuildId) -> Result<()>;
}
