//! Running a build tool as a child process: its output goes line by line to a
//! [`LogSink`], a cancel kills its whole process group.

use std::collections::VecDeque;
use std::process::Stdio;
use std::sync::Mutex;
use std::time::Duration;
use tokio::io::AsyncRead;
use tokio::process::Command;
use tokio_util::sync::CancellationToken;

/// Where a child's output lines go.
pub trait LogSink: Send + Sync {
    fn line(&self, text: &str);
}

/// A sink that keeps the lines for the caller.
#[derive(Default)]
pub struct Collect {
    lines: Mutex<Vec<String>>,
}

impl Collect {
    pub fn text(&self) -> String {
        self.lines.lock().map(|l| l.join("\n")).unwrap_or_default()
    }
}

impl LogSink for Collect {
    fn line(&self, text: &str) {
        if let Ok(mut l) = self.lines.lock() {
            l.push(text.to_string());
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    #[error("cannot run {program}: {source}")]
    Spawn {
        program: String,
        source: std::io::Error,
    },
    #[error("cancelled")]
    Cancelled,
}

pub struct RunOutput {
    pub success: bool,
    pub code: Option<i32>,
    /// The last lines of stderr, for error messages.
    pub stderr_tail: Vec<String>,
}

impl RunOutput {
    /// The line that best says why the tool failed: its last `Error:` line
    /// (buildah, skopeo), else its last stderr line, else the exit status.
    pub fn error_line(&self) -> String {
        let pick = self
            .stderr_tail
            .iter()
            .rev()
            .find_map(|l| l.trim().strip_prefix("Error: ").map(str::to_string))
            .or_else(|| {
                self.stderr_tail
                    .iter()
                    .rev()
                    .find(|l| !l.trim().is_empty())
                    .cloned()
            });
        match (pick, self.code) {
            (Some(p), _) => p.trim().to_string(),
            (None, Some(c)) => format!("exited with status {c}"),
            (None, None) => "killed by a signal".to_string(),
        }
    }
}

const TAIL_LINES: usize = 40;
/// Time between SIGTERM and SIGKILL when cancelling.
const KILL_GRACE: Duration = Duration::from_secs(3);

/// Bytes of a child's output read ahead of its sink: the reader never
/// waits for the sink until this much is pending.
const READ_AHEAD_CHUNKS: usize = 1024;

/// Read `reader` to its end on a task of its own, as fast as it comes, and
/// hand its lines to `sink` here. buildah 1.28's chroot isolation drops
/// the end of a RUN step's output when the step exits while its relay is
/// blocked on a slow reader (seen: the last 7,000 of `seq 1 100000`'s
/// lines, cut mid-line), so the pipe is never left to fill while the sink
/// writes.
async fn pump(
    reader: impl AsyncRead + Unpin + Send + 'static,
    sink: &dyn LogSink,
    tail: Option<&Mutex<VecDeque<String>>>,
) {
    use tokio::io::AsyncReadExt;
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<u8>>(READ_AHEAD_CHUNKS);
    let reading = tokio::spawn(async move {
        let mut reader = reader;
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            match reader.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if tx.send(buf[..n].to_vec()).await.is_err() {
                        break;
                    }
                }
            }
        }
    });
    let emit = |raw: &[u8]| {
        let text = String::from_utf8_lossy(raw);
        // Progress output uses carriage returns; keep the last state of the line.
        let text = text.rsplit('\r').find(|s| !s.is_empty()).unwrap_or("");
        sink.line(text);
        if let Some(t) = tail
            && let Ok(mut t) = t.lock()
        {
            if t.len() == TAIL_LINES {
                t.pop_front();
            }
            t.push_back(text.to_string());
        }
    };
    let mut pending: Vec<u8> = Vec::new();
    while let Some(chunk) = rx.recv().await {
        pending.extend_from_slice(&chunk);
        let mut start = 0;
        while let Some(i) = pending[start..].iter().position(|b| *b == b'\n') {
            emit(&pending[start..start + i]);
            start += i + 1;
        }
        pending.drain(..start);
    }
    if !pending.is_empty() {
        emit(&pending);
    }
    let _ = reading.await;
}

fn kill_group(pgid: i32, signal: i32) {
    // SAFETY: kill(2) with a negative pid signals the process group we created
    // for this child; it has no memory-safety preconditions.
    unsafe {
        libc::kill(-pgid, signal);
    }
}

/// Run `program args…` to completion, streaming its output to `sink`. On
/// cancel, SIGTERM then SIGKILL go to the child's whole process group.
pub async fn run(
    program: &str,
    args: &[String],
    sink: &dyn LogSink,
    cancel: &CancellationToken,
) -> Result<RunOutput, ProcessError> {
    run_split(program, args, sink, sink, cancel).await
}

/// [`run`] with `env` added to the child's environment: how values that
/// must not appear on a command line (where `ps` shows them) reach it.
pub async fn run_env(
    program: &str,
    args: &[String],
    env: &[(String, String)],
    sink: &dyn LogSink,
    cancel: &CancellationToken,
) -> Result<RunOutput, ProcessError> {
    run_inner(program, args, env, sink, sink, cancel).await
}

/// [`run`] with stdout and stderr going to different sinks (for tools whose
/// stdout is data, like `skopeo inspect --raw`).
pub async fn run_split(
    program: &str,
    args: &[String],
    out_sink: &dyn LogSink,
    err_sink: &dyn LogSink,
    cancel: &CancellationToken,
) -> Result<RunOutput, ProcessError> {
    run_inner(program, args, &[], out_sink, err_sink, cancel).await
}

async fn run_inner(
    program: &str,
    args: &[String],
    env: &[(String, String)],
    out_sink: &dyn LogSink,
    err_sink: &dyn LogSink,
    cancel: &CancellationToken,
) -> Result<RunOutput, ProcessError> {
    let mut cmd = Command::new(program);
    cmd.args(args)
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .env("LC_ALL", "C")
        .process_group(0)
        .kill_on_drop(true);
    // SAFETY: prctl(PR_SET_PDEATHSIG) is async-signal-safe and touches no
    // memory; it makes the child die with the server instead of lingering.
    unsafe {
        cmd.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
    let mut child = cmd.spawn().map_err(|source| ProcessError::Spawn {
        program: program.to_string(),
        source,
    })?;
    let pgid = child.id().and_then(|p| i32::try_from(p).ok());
    let stdout = child.stdout.take();
    let stderr = child.stderr.take();
    let tail = Mutex::new(VecDeque::new());
    let output = async {
        let out = async {
            if let Some(s) = stdout {
                pump(s, out_sink, None).await;
            }
        };
        let err = async {
            if let Some(s) = stderr {
                pump(s, err_sink, Some(&tail)).await;
            }
        };
        tokio::join!(out, err);
    };
    let waited = async {
        let ((), status) = tokio::join!(output, child.wait());
        status
    };
    tokio::select! {
        status = waited => {
            let status = status.map_err(|source| ProcessError::Spawn { program: program.to_string(), source })?;
            let stderr_tail = tail.into_inner().map(Vec::from).unwrap_or_default();
            Ok(RunOutput { success: status.success(), code: status.code(), stderr_tail })
        }
        () = cancel.cancelled() => {
            if let Some(pg) = pgid {
                kill_group(pg, libc::SIGTERM);
                if tokio::time::timeout(KILL_GRACE, child.wait()).await.is_err() {
                    kill_group(pg, libc::SIGKILL);
                    let _ = child.wait().await;
                }
                // Children that ignored SIGTERM but whose leader exited.
                kill_group(pg, libc::SIGKILL);
            }
            Err(ProcessError::Cancelled)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[tokio::test]
    async fn streams_lines_and_reports_error_line() {
        let sink = Collect::default();
        let out = run(
            "sh",
            &args(&[
                "-c",
                "echo out1; echo 'Error: it broke' >&2; echo trailing >&2; exit 3",
            ]),
            &sink,
            &CancellationToken::new(),
        )
        .await
        .unwrap();
        assert!(!out.success);
        assert_eq!(out.code, Some(3));
        assert_eq!(out.error_line(), "it broke");
        let all = sink.text();
        assert!(all.contains("out1") && all.contains("trailing"), "{all}");
    }

    #[tokio::test]
    async fn cancel_kills_the_whole_group() {
        let dir = tempfile::tempdir().unwrap();
        let pidfile = dir.path().join("grandchild");
        let script = format!("sleep 300 & echo $! > {}; wait", pidfile.display());
        let cancel = CancellationToken::new();
        let c2 = cancel.clone();
        let pf = pidfile.clone();
        tokio::spawn(async move {
            while !pf.exists() {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            c2.cancel();
        });
        let r = run("sh", &args(&["-c", &script]), &Collect::default(), &cancel).await;
        assert!(matches!(r, Err(ProcessError::Cancelled)));
        let pid: i32 = std::fs::read_to_string(&pidfile)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        // The grandchild (the "RUN step") must be gone too.
        let mut alive = true;
        for _ in 0..50 {
            // SAFETY: signal 0 only checks for existence.
            alive = unsafe { libc::kill(pid, 0) } == 0
                && !std::fs::read_to_string(format!("/proc/{pid}/stat"))
                    .unwrap_or_default()
                    .contains(") Z ");
            if !alive {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(!alive, "grandchild {pid} survived the cancel");
    }

    #[tokio::test]
    async fn split_keeps_stdout_clean() {
        let out = Collect::default();
        let err = Collect::default();
        let r = run_split(
            "sh",
            &args(&["-c", "echo '{\"a\":1}'; echo 'warning: noise' >&2"]),
            &out,
            &err,
            &CancellationToken::new(),
        )
        .await
        .unwrap();
        assert!(r.success);
        assert_eq!(out.text(), "{\"a\":1}");
        assert_eq!(err.text(), "warning: noise");
    }

    #[tokio::test]
    async fn missing_program_is_a_spawn_error() {
        let r = run(
            "no-such-tool-xyz",
            &[],
            &Collect::default(),
            &CancellationToken::new(),
        )
        .await;
        assert!(matches!(r, Err(ProcessError::Spawn { .. })));
    }
}
