//! Build logs: one append-only file per build in `<data-dir>/logs/` (or,
//! when servers share a PostgreSQL database, chunks in it, so any server
//! reads and follows any build's log), plus a watch channel per build
//! written here so local followers wake when lines arrive; followers on
//! other servers look again every quarter second.
//!
//! A follower reads the file from its offset to the end, then waits for more
//! until the build is final; late followers therefore get everything from the
//! start, and logs survive restarts because the file is the log.

use bytes::Bytes;
use slipway_builder::LogSink;
use slipway_core::BuildId;
use slipway_store::{LogStore, Store};
use std::collections::HashMap;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;

pub struct LogHub {
    dir: PathBuf,
    /// Where logs are kept when servers share the database; `None`: files.
    db: Option<Arc<dyn LogStore>>,
    /// The writers of builds whose log is open; all worker builds of a
    /// build share one.
    live: Mutex<HashMap<BuildId, Arc<BuildLog>>>,
}

/// The writer of one build's log.
pub struct BuildLog {
    sink: Sink,
    /// Bytes written (to the file, or flushed to the database).
    written: watch::Sender<u64>,
}

enum Sink {
    File(Mutex<std::fs::File>),
    /// Lines wait here for the flusher (`flush_loop`), which appends
    /// them to the database a few times a second.
    Db {
        pending: Mutex<Vec<u8>>,
        wake: tokio::sync::Notify,
    },
}

/// How often buffered lines reach the database (and other servers'
/// followers), and how much makes a flush at once.
const FLUSH_EVERY: Duration = Duration::from_millis(200);
const FLUSH_BYTES: usize = 64 * 1024;
/// Lines held while the database cannot take them, before they are
/// dropped (with a note in the log).
const PENDING_MAX: usize = 64 * 1024 * 1024;

impl LogSink for BuildLog {
    fn line(&self, text: &str) {
        let mut buf = Vec::with_capacity(text.len() + 1);
        buf.extend_from_slice(text.as_bytes());
        buf.push(b'\n');
        match &self.sink {
            Sink::File(file) => {
                let Ok(mut f) = file.lock() else { return };
                if let Err(e) = f.write_all(&buf) {
                    tracing::warn!("cannot write build log: {e}");
                    return;
                }
                self.written.send_modify(|n| *n += buf.len() as u64);
            }
            Sink::Db { pending, wake } => {
                let Ok(mut p) = pending.lock() else { return };
                if p.len() + buf.len() > PENDING_MAX {
                    return;
                }
                p.extend_from_slice(&buf);
                if p.len() >= FLUSH_BYTES {
                    wake.notify_one();
                }
            }
        }
    }
}

impl LogHub {
    /// Logs as files in `dir`, or in the database `db` (servers sharing it).
    pub fn new(dir: PathBuf, db: Option<Arc<dyn LogStore>>) -> std::io::Result<Self> {
        std::fs::create_dir_all(&dir)?;
        Ok(LogHub {
            dir,
            db,
            live: Mutex::new(HashMap::new()),
        })
    }

    fn path(&self, id: BuildId) -> PathBuf {
        self.dir.join(format!("{id}.log"))
    }

    /// The log of a build to add lines to after its build (a promotion, a
    /// rescan); when it cannot be opened the lines are dropped, with a
    /// warning, rather than failing that work.
    pub fn open_or_discard(&self, id: BuildId) -> Arc<dyn LogSink> {
        match self.open(id) {
            Ok(log) => log,
            Err(e) => {
                tracing::warn!("build {id}: cannot open its log, lines dropped: {e}");
                Arc::new(crate::steps::metadata::Discard)
            }
        }
    }

    /// Open the log of a build for appending (a re-queued build continues its log).
    pub fn open(&self, id: BuildId) -> std::io::Result<Arc<BuildLog>> {
        let mut live = self.live.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(log) = live.get(&id) {
            return Ok(log.clone());
        }
        let log = match &self.db {
            None => {
                let file = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(self.path(id))?;
                let len = file.metadata()?.len();
                Arc::new(BuildLog {
                    sink: Sink::File(Mutex::new(file)),
                    written: watch::channel(len).0,
                })
            }
            Some(db) => {
                let log = Arc::new(BuildLog {
                    sink: Sink::Db {
                        pending: Mutex::new(Vec::new()),
                        wake: tokio::sync::Notify::new(),
                    },
                    written: watch::channel(0).0,
                });
                tokio::spawn(flush_loop(log.clone(), db.clone(), id));
                log
            }
        };
        live.insert(id, log.clone());
        Ok(log)
    }

    /// Delete the log of a pruned build.
    pub async fn remove(&self, id: BuildId) {
        if let Some(db) = &self.db {
            if let Err(e) = db.remove_log(id).await {
                tracing::warn!("cannot delete the log of pruned build {id}: {e}");
            }
            return;
        }
        match std::fs::remove_file(self.path(id)) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => tracing::warn!("cannot delete the log of pruned build {id}: {e}"),
        }
    }

    /// The build ended: wake its followers for the last time (and, in the
    /// database, write what is buffered now).
    pub fn close(&self, id: BuildId) {
        if let Ok(mut live) = self.live.lock()
            && let Some(log) = live.remove(&id)
        {
            if let Sink::Db { wake, .. } = &log.sink {
                wake.notify_one();
            }
            log.written.send_modify(|_| {});
        }
    }

    fn subscribe(&self, id: BuildId) -> Option<watch::Receiver<u64>> {
        self.live
            .lock()
            .ok()?
            .get(&id)
            .map(|log| log.written.subscribe())
    }

    /// Read what is in the log from `offset`, at most about `max` bytes.
    async fn read_from(&self, id: BuildId, offset: u64, max: usize) -> std::io::Result<Vec<u8>> {
        if let Some(db) = &self.db {
            return db
                .read_log(id, offset, max)
                .await
                .map_err(std::io::Error::other);
        }
        let mut f = match std::fs::File::open(self.path(id)) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        // Past the end (a follower that is ahead, or a silly offset): nothing.
        if offset >= f.metadata()?.len() {
            return Ok(Vec::new());
        }
        f.seek(SeekFrom::Start(offset))?;
        let mut buf = Vec::new();
        f.take(max as u64).read_to_end(&mut buf)?;
        Ok(buf)
    }

    /// The log's length in bytes.
    async fn len(&self, id: BuildId) -> std::io::Result<u64> {
        if let Some(db) = &self.db {
            return db.log_len(id).await.map_err(std::io::Error::other);
        }
        match std::fs::metadata(self.path(id)) {
            Ok(m) => Ok(m.len()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(0),
            Err(e) => Err(e),
        }
    }

    /// Everything in the log from `offset` now (no following).
    pub async fn snapshot(&self, id: BuildId, offset: u64) -> std::io::Result<Vec<u8>> {
        let mut out = Vec::new();
        loop {
            let at = offset + out.len() as u64;
            let data = self.read_from(id, at, 1 << 20).await?;
            if data.is_empty() {
                return Ok(out);
            }
            out.extend_from_slice(&data);
        }
    }

    /// The lines of the log that end by byte `end` (default: its end), at
    /// most `max` bytes of them, from the first whole line: (text, where
    /// it starts, where it ends).
    pub async fn window(&self, id: BuildId, end: Option<u64>, max: u64) -> (String, u64, u64) {
        let len = self.len(id).await.unwrap_or(0);
        let end = end.map_or(len, |e| e.min(len));
        let start = end.saturating_sub(max);
        let mut bytes = Vec::new();
        while (bytes.len() as u64) < end - start {
            let at = start + bytes.len() as u64;
            match self.read_from(id, at, 1 << 20).await {
                Ok(d) if !d.is_empty() => bytes.extend_from_slice(&d),
                _ => break,
            }
        }
        bytes.truncate(usize::try_from(end - start).unwrap_or(usize::MAX));
        let end = start + bytes.len() as u64;
        // From the first whole line (the log's start is one).
        let skip = match (start > 0, bytes.iter().position(|b| *b == b'\n')) {
            (true, Some(i)) => i + 1,
            (true, None) => bytes.len(),
            (false, _) => 0,
        };
        let text = String::from_utf8_lossy(&bytes[skip..]).into_owned();
        (text, start + skip as u64, end)
    }

    /// A stream of the log from `offset` that ends when the build is final and
    /// everything has been sent.
    pub fn follow(
        self: Arc<Self>,
        store: Arc<dyn Store>,
        id: BuildId,
        offset: u64,
    ) -> impl futures::Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static {
        const CHUNK: usize = 64 * 1024;
        struct St {
            hub: Arc<LogHub>,
            store: Arc<dyn Store>,
            pos: u64,
            done: bool,
        }
        let st = St {
            hub: self,
            store,
            pos: offset,
            done: false,
        };
        futures::stream::unfold(st, move |mut st| async move {
            if st.done {
                return None;
            }
            loop {
                // Subscribe before reading so no write between the read and the wait is missed.
                let mut rx = st.hub.subscribe(id);
                if let Some(rx) = rx.as_mut() {
                    rx.borrow_and_update();
                }
                let data = match st.hub.read_from(id, st.pos, CHUNK).await {
                    Ok(d) => d,
                    Err(e) => {
                        st.done = true;
                        return Some((Err(e), st));
                    }
                };
                if !data.is_empty() {
                    st.pos += data.len() as u64;
                    return Some((Ok(Bytes::from(data)), st));
                }
                let is_final = match st.store.get_build(id).await {
                    Ok(Some(b)) => b.phase.is_final(),
                    Ok(None) => true,
                    Err(e) => {
                        tracing::warn!("log follow of build {id}: {e}");
                        false
                    }
                };
                if is_final {
                    // One last read: the final lines may have landed after ours.
                    match st.hub.snapshot(id, st.pos).await {
                        Ok(d) if !d.is_empty() => {
                            st.pos += d.len() as u64;
                            st.done = true;
                            return Some((Ok(Bytes::from(d)), st));
                        }
                        _ => return None,
                    }
                }
                match rx {
                    Some(mut rx) => {
                        let _ = tokio::time::timeout(Duration::from_secs(1), rx.changed()).await;
                    }
                    None => tokio::time::sleep(Duration::from_millis(250)).await,
                }
            }
        })
    }
}

/// Append a database-kept log's buffered lines every [`FLUSH_EVERY`] (or
/// sooner when much is waiting), until nobody else holds the log and
/// nothing is left. A failed append keeps the lines for the next try.
async fn flush_loop(log: Arc<BuildLog>, db: Arc<dyn LogStore>, id: BuildId) {
    let Sink::Db { pending, wake } = &log.sink else {
        return;
    };
    let mut failing = false;
    loop {
        let _ = tokio::time::timeout(FLUSH_EVERY, wake.notified()).await;
        let chunk = match pending.lock() {
            Ok(mut p) => std::mem::take(&mut *p),
            Err(_) => return,
        };
        if !chunk.is_empty() {
            match db.append_log(id, &chunk).await {
                Ok(len) => {
                    failing = false;
                    log.written.send_replace(len);
                }
                Err(e) => {
                    if !failing {
                        tracing::warn!(
                            "build {id}: cannot write its log to the database (retrying): {e}"
                        );
                    }
                    failing = true;
                    if let Ok(mut p) = pending.lock() {
                        let later = std::mem::replace(&mut *p, chunk);
                        p.extend_from_slice(&later);
                    }
                    continue;
                }
            }
        }
        let idle = pending.lock().map(|p| p.is_empty()).unwrap_or(true);
        if idle && Arc::strong_count(&log) == 1 {
            return;
        }
    }
}
