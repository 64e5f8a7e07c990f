//! A camera tool run as a child process (`rpicam-vid`, libcamera's `cam`): started in a
//! process group of its own without systemd's variables (they are the agent's), its stderr
//! kept as a short tail for the error message, and the whole group stopped with it (SIGTERM,
//! then SIGKILL after [`TERM_GRACE`]; SIGKILL when dropped, so a panic or an aborted task
//! leaves no camera process behind).

use std::collections::VecDeque;
use std::path::Path;
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, ChildStdout, Command};
use tokio::task::JoinHandle;
use tracing::{debug, warn};

/// How long a camera tool gets to exit after SIGTERM.
pub const TERM_GRACE: Duration = Duration::from_secs(2);
/// Lines of stderr kept for the error message.
const STDERR_TAIL: usize = 8;

/// A running camera tool.
pub(super) struct CameraTool {
    pub child: Child,
    stdout: Option<ChildStdout>,
    guard: GroupGuard,
    stderr: JoinHandle<VecDeque<String>>,
}

impl CameraTool {
    /// Starts `binary` with `args`: stdin closed, stdout piped for the caller, stderr read
    /// into a tail (and logged at debug level under `tool`).
    pub fn spawn(
        binary: &Path,
        args: &[String],
        tool: &'static str,
    ) -> std::io::Result<CameraTool> {
        let mut child = Command::new(binary)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .env_remove("NOTIFY_SOCKET")
            .env_remove("WATCHDOG_USEC")
            .env_remove("WATCHDOG_PID")
            .process_group(0)
            .kill_on_drop(true)
            .spawn()?;
        let guard = GroupGuard::new(&child);
        let stdout = child.stdout.take();
        let stderr = match child.stderr.take() {
            Some(stderr) => tokio::spawn(collect_stderr(stderr, tool)),
            None => tokio::spawn(async { VecDeque::new() }),
        };
        Ok(CameraTool {
            child,
            stdout,
            guard,
            stderr,
        })
    }

    /// Its standard output (once).
    pub fn take_stdout(&mut self) -> Option<ChildStdout> {
        self.stdout.take()
    }

    /// SIGTERM the group, wait up to [`TERM_GRACE`], then SIGKILL it; its stderr is given up.
    pub async fn terminate(&mut self) {
        self.guard.signal(rustix::process::Signal::TERM);
        if tokio::time::timeout(TERM_GRACE, self.child.wait())
            .await
            .is_err()
        {
            warn!("the camera process did not exit after SIGTERM; killing its process group");
        }
        self.guard.kill();
        let _ = self.child.wait().await;
        self.stderr.abort();
    }

    /// Waits for the tool to exit after it closed its output (stopping it if it lingers past
    /// [`TERM_GRACE`]), stops whatever it left behind in its group, and returns its exit
    /// status and the last lines of its stderr, joined with ` | `.
    pub async fn exited(mut self) -> (std::io::Result<ExitStatus>, String) {
        let status = match tokio::time::timeout(TERM_GRACE, self.child.wait()).await {
            Ok(Ok(status)) => Ok(status),
            _ => {
                self.terminate().await;
                self.child.wait().await
            }
        };
        self.guard.kill();
        let stderr = tokio::time::timeout(Duration::from_secs(1), &mut self.stderr)
            .await
            .ok()
            .and_then(|r| r.ok())
            .unwrap_or_default();
        (status, stderr.into_iter().collect::<Vec<_>>().join(" | "))
    }
}

async fn collect_stderr(
    stderr: tokio::process::ChildStderr,
    tool: &'static str,
) -> VecDeque<String> {
    let mut tail = VecDeque::with_capacity(STDERR_TAIL);
    let mut lines = BufReader::new(stderr).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        debug!(tool, "{line}");
        if tail.len() == STDERR_TAIL {
            tail.pop_front();
        }
        tail.push_back(line);
    }
    tail
}

/// Kills the child's process group: on request, and when dropped.
struct GroupGuard {
    pgid: Option<rustix::process::Pid>,
}

impl GroupGuard {
    fn new(child: &Child) -> GroupGuard {
        let pgid = child
            .id()
            .and_then(|id| i32::try_from(id).ok())
            .and_then(rustix::process::Pid::from_raw);
        GroupGuard { pgid }
    }

    fn signal(&self, sig: rustix::process::Signal) {
        if let Some(pgid) = self.pgid {
            // ESRCH (already gone) is fine.
            let _ = rustix::process::kill_process_group(pgid, sig);
        }
    }

    fn kill(&self) {
        self.signal(rustix::process::Signal::KILL);
    }
}

impl Drop for GroupGuard {
    fn drop(&mut self) {
        self.kill();
    }
}
