//! Build logs: one append-only file per build in `<data-dir>/logs/`, plus a
//! watch channel per running build so followers wake when lines arrive.
//!
//! A follower reads the file from its offset to the end, then waits for more
//! until the build is final; late followers therefore get everything from the
//! start, and logs survive restarts because the file is the log.

use bytes::Bytes;
use slipway_builder::LogSink;
use slipway_core::BuildId;
use slipway_store::Store;
use std::collections::HashMap;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;

pub struct LogHub {
    dir: PathBuf,
    /// The writers of builds whose log is open; all worker builds of a
    /// build share one.
    live: Mutex<HashMap<BuildId, Arc<BuildLog>>>,
}

/// The writer of one build's log.
pub struct BuildLog {
    file: Mutex<std::fs::File>,
    written: watch::Sender<u64>,
}

impl LogSink for BuildLog {
    fn line(&self, text: &str) {
        let Ok(mut f) = self.file.lock() else { return };
        let mut buf = Vec::with_capacity(text.len() + 1);
        buf.extend_from_slice(text.as_bytes());
        buf.push(b'\n');
        if let Err(e) = f.write_all(&buf) {
            tracing::warn!("cannot write build log: {e}");
            return;
        }
        self.written.send_modify(|n| *n += buf.len() as u64);
    }
}

impl LogHub {
    pub fn new(dir: PathBuf) -> std::io::Result<Self> {
        std::fs::create_dir_all(&dir)?;
        Ok(LogHub {
            dir,
            live: Mutex::new(HashMap::new()),
        })
    }

    pub fn path(&self, id: BuildId) -> PathBuf {
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
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.path(id))?;
        let len = file.metadata()?.len();
        let (tx, _) = watch::channel(len);
        let log = Arc::new(BuildLog {
            file: Mutex::new(file),
            written: tx,
        });
        live.insert(id, log.clone());
        Ok(log)
    }

    /// Delete the log of a pruned build.
    pub fn remove(&self, id: BuildId) {
        match std::fs::remove_file(self.path(id)) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => tracing::warn!("cannot delete the log of pruned build {id}: {e}"),
        }
    }

    /// The build ended: wake its followers for the last time.
    pub fn close(&self, id: BuildId) {
        if let Ok(mut live) = self.live.lock()
            && let Some(log) = live.remove(&id)
        {
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

    /// Read what is in the log from `offset`, at most `max` bytes.
    fn read_from(&self, id: BuildId, offset: u64, max: usize) -> std::io::Result<Vec<u8>> {
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

    /// Everything in the log from `offset` now (no following).
    pub fn snapshot(&self, id: BuildId, offset: u64) -> std::io::Result<Vec<u8>> {
        self.read_from(id, offset, usize::MAX)
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
                let data = match st.hub.read_from(id, st.pos, CHUNK) {
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
                    match st.hub.read_from(id, st.pos, usize::MAX) {
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
