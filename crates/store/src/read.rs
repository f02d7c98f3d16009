//! The hot reads, done synchronously on connections of their own.
//!
//! sqlx runs each SQLite connection on a thread of its own and sends every
//! query and every row over channels: each query costs the calling task
//! several trips through the runtime's queue. Under load that is what makes
//! an API read slow next to `/healthz` (issue 16's load benchmark: 5× its
//! p99). The reads every client makes all the time — one build, the build
//! list, a token, a tag or manifest — instead run here, on a small pool of
//! read-only rusqlite connections to the same file, to completion, inside
//! the async call: an indexed lookup of a few rows takes tens of
//! microseconds, less than one trip through the queue. WAL mode lets them
//! read beside the writer; they see every committed write. Writes, and the
//! reads inside transactions, stay with sqlx.
//!
//! rusqlite 0.39 links the same libsqlite3-sys as sqlx 0.9, so there is one
//! SQLite in the build.

use crate::{Result, StoreError};
use rusqlite::{Connection, OpenFlags};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

/// Idle connections kept (more are opened under a burst and dropped after).
const KEEP: usize = 8;

pub(crate) struct ReadPool {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError::Read(e.to_string())
    }
}

impl ReadPool {
    pub(crate) fn new(path: &Path) -> ReadPool {
        ReadPool {
            path: path.to_path_buf(),
            idle: Mutex::new(Vec::new()),
        }
    }

    fn open(&self) -> Result<Connection> {
        let c = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_ONLY
                | OpenFlags::SQLITE_OPEN_NO_MUTEX
                | OpenFlags::SQLITE_OPEN_URI,
        )?;
        c.busy_timeout(Duration::from_secs(5))?;
        c.set_prepared_statement_cache_capacity(32);
        Ok(c)
    }

    /// Run `f` on an idle read connection (opened if none is idle).
    pub(crate) fn with<T>(&self, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        let conn = self.idle.lock().ok().and_then(|mut v| v.pop());
        let conn = match conn {
            Some(c) => c,
            None => self.open()?,
        };
        let out = f(&conn);
        // A connection is kept only when nothing went wrong with it.
        if out.is_ok()
            && conn.is_autocommit()
            && let Ok(mut v) = self.idle.lock()
            && v.len() < KEEP
        {
            v.push(conn);
        }
        out
    }
}
