//! Child processes for integration tests: locate workspace binaries, run them
//! with their output captured in memory, signal them, and wait (always with a
//! deadline) for a log line or a listening HTTP port.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};

/// Bytes of log kept per child; older lines are dropped past this.
pub const MAX_LOG_BYTES: usize = 4 << 20;
/// A longer log line is cut to this many bytes.
pub const MAX_LOG_LINE_BYTES: usize = 64 << 10;
/// How long [`ChildGuard::wait_timeout`] gives a child after SIGTERM in tests
/// that do not say otherwise.
pub const DEFAULT_EXIT_TIMEOUT: Duration = Duration::from_secs(10);

/// The workspace root (the directory of the top-level `Cargo.toml`).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("crates/testkit has two ancestors")
        .to_path_buf()
}

/// The directory holding the binaries of the profile this test was built with
/// (`<target>/<profile>/`): test executables live in its `deps/`.
pub fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("std::env::current_exe");
    let dir = exe.parent().expect("an executable has a parent directory");
    if dir.file_name().is_some_and(|n| n == "deps") {
        dir.parent().unwrap_or(dir).to_path_buf()
    } else {
        dir.to_path_buf()
    }
}

/// The path of workspace binary `name`, built by `cargo build --bins` with the
/// same target directory and profile as the running test.
///
/// # Panics
/// If the binary is missing, with a message that says how to build it.
pub fn bin_path(name: &str) -> PathBuf {
    let path = profile_dir().join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    if !path.is_file() {
        panic!(
            "binary {name} not found at {}: run `cargo build --workspace --bins` first",
            path.display()
        );
    }
    path
}

/// A TCP port that was free on 127.0.0.1 a moment ago (bind to port 0, read
/// the port, close). Another process may take it before it is used; prefer
/// passing a bound listener where the code under test accepts one.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("binding 127.0.0.1:0")
        .port()
}

/// A signal that tests send to children.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Signal {
    Term,
    Int,
    Hup,
    Kill,
    Stop,
    Cont,
}

impl Signal {
    fn to_rustix(self) -> rustix::process::Signal {
        use rustix::process::Signal as S;
        match self {
            Signal::Term => S::TERM,
            Signal::Int => S::INT,
            Signal::Hup => S::HUP,
            Signal::Kill => S::KILL,
            Signal::Stop => S::STOP,
            Signal::Cont => S::CONT,
        }
    }
}

/// Sends `sig` to the child of `guard`.
pub fn signal(guard: &ChildGuard, sig: Signal) -> Result<()> {
    guard.signal(sig)
}

/// Sends `sig` to process `pid`.
pub fn signal_pid(pid: u32, sig: Signal) -> Result<()> {
    let pid = to_pid(pid)?;
    rustix::process::kill_process(pid, sig.to_rustix())
        .with_context(|| format!("kill({pid:?}, {sig:?})"))
}

fn to_pid(pid: u32) -> Result<rustix::process::Pid> {
    i32::try_from(pid)
        .ok()
        .and_then(rustix::process::Pid::from_raw)
        .ok_or_else(|| anyhow!("invalid pid {pid}"))
}

/// Captured output of a child: whole lines from stdout and stderr in arrival
/// order, at most [`MAX_LOG_BYTES`].
#[derive(Default)]
struct LogState {
    lines: VecDeque<String>,
    bytes: usize,
    dropped_lines: u64,
    /// Output pipes not yet at end of file.
    open_pipes: usize,
}

#[derive(Default)]
struct Log {
    state: Mutex<LogState>,
    changed: Condvar,
}

impl Log {
    fn lock(&self) -> MutexGuard<'_, LogState> {
        // A reader thread cannot panic while holding the lock, but do not
        // turn one test failure into a cascade if it ever does.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn push(&self, line: String) {
        let mut st = self.lock();
        st.bytes += line.len();
        st.lines.push_back(line);
        while st.bytes > MAX_LOG_BYTES {
            let Some(old) = st.lines.pop_front() else {
                break;
            };
            st.bytes -= old.len();
            st.dropped_lines += 1;
        }
        drop(st);
        self.changed.notify_all();
    }

    fn close_pipe(&self) {
        self.lock().open_pipes -= 1;
        self.changed.notify_all();
    }

    fn text(&self) -> String {
        let st = self.lock();
        let mut out = String::with_capacity(st.bytes + st.lines.len() + 40);
        if st.dropped_lines > 0 {
            out.push_str(&format!("[{} earlier lines dropped]\n", st.dropped_lines));
        }
        for line in &st.lines {
            out.push_str(line);
            out.push('\n');
        }
        out
    }
}

fn read_lines(pipe: impl Read, log: Arc<Log>) {
    let mut reader = BufReader::new(pipe);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        match reader
            .by_ref()
            .take(MAX_LOG_LINE_BYTES as u64)
            .read_until(b'\n', &mut buf)
        {
            Ok(0) | Err(_) => break,
            Ok(_) => {
                while buf.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
                    buf.pop();
                }
                log.push(String::from_utf8_lossy(&buf).into_owned());
            }
        }
    }
    log.close_pipe();
}

/// Owns a child process: on drop it is sent SIGKILL (with its whole process
/// group when spawned by [`spawn_logged_group`]) and reaped, so no test leaves
/// a process behind. If the test is panicking, the captured log is written to
/// stderr first.
pub struct ChildGuard {
    name: String,
    child: Child,
    log: Arc<Log>,
    /// The child leads its own process group, killed as a whole on drop.
    own_group: bool,
    reaped: Option<ExitStatus>,
}

/// Spawns `cmd` with stdin from /dev/null and stdout and stderr captured into
/// the guard's in-memory log, in the test's process group.
pub fn spawn_logged(cmd: &mut Command, name: &str) -> Result<ChildGuard> {
    spawn(cmd, name, false)
}

/// Like [`spawn_logged`], but the child leads a new process group, and the
/// whole group is killed when the guard drops: for programs that start
/// helpers of their own (chromedriver starts chromium).
pub fn spawn_logged_group(cmd: &mut Command, name: &str) -> Result<ChildGuard> {
    spawn(cmd, name, true)
}

fn spawn(cmd: &mut Command, name: &str, own_group: bool) -> Result<ChildGuard> {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if own_group {
        cmd.process_group(0);
    }
    let mut child = cmd
        .spawn()
        .with_context(|| format!("spawning {name}: {cmd:?}"))?;
    let log = Arc::new(Log::default());
    let pipes: [Option<Box<dyn Read + Send>>; 2] = [
        child.stdout.take().map(|p| Box::new(p) as _),
        child.stderr.take().map(|p| Box::new(p) as _),
    ];
    log.lock().open_pipes = pipes.iter().flatten().count();
    for (pipe, stream) in pipes.into_iter().zip(["stdout", "stderr"]) {
        let Some(pipe) = pipe else { continue };
        let log = Arc::clone(&log);
        // Detached: a grandchild may hold the pipe open after the child dies,
        // and the thread ends by itself when the last writer goes.
        thread::Builder::new()
            .name(format!("{name}-{stream}"))
            .spawn(move || read_lines(pipe, log))
            .context("spawning a log reader thread")?;
    }
    Ok(ChildGuard {
        name: name.to_owned(),
        child,
        log,
        own_group,
        reaped: None,
    })
}

/// Waits until a line of `guard`'s log contains `needle` and returns that line.
/// Fails at `timeout`, or early when the child closes its output, with the log
/// in the error. Blocks the thread: from async code use
/// [`ChildGuard::wait_for_log_async`].
pub fn wait_for_log(guard: &ChildGuard, needle: &str, timeout: Duration) -> Result<String> {
    guard.wait_for_log(needle, timeout)
}

impl ChildGuard {
    /// Wraps an already spawned child (no log capture unless its pipes were
    /// handed over by [`spawn_logged`]).
    pub fn new(child: Child, name: &str) -> Self {
        ChildGuard {
            name: name.to_owned(),
            child,
            log: Arc::new(Log::default()),
            own_group: false,
            reaped: None,
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The child's output so far, one line per line.
    pub fn log(&self) -> String {
        self.log.text()
    }

    /// See [`wait_for_log`].
    pub fn wait_for_log(&self, needle: &str, timeout: Duration) -> Result<String> {
        let deadline = Instant::now() + timeout;
        let mut st = self.log.lock();
        loop {
            match find_line(&st, needle) {
                LogSearch::Found(line) => return Ok(line),
                LogSearch::Closed => {
                    drop(st);
                    return Err(self.log_error(needle, "it closed its output"));
                }
                LogSearch::NotYet => {}
            }
            let now = Instant::now();
            if now >= deadline {
                drop(st);
                return Err(self.log_error(needle, &format!("waited {timeout:?}")));
            }
            st = self
                .log
                .changed
                .wait_timeout(st, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    /// [`wait_for_log`] for async tests: polls without blocking the runtime.
    pub async fn wait_for_log_async(&self, needle: &str, timeout: Duration) -> Result<String> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let found = find_line(&self.log.lock(), needle);
            match found {
                LogSearch::Found(line) => return Ok(line),
                LogSearch::Closed => {
                    return Err(self.log_error(needle, "it closed its output"));
                }
                LogSearch::NotYet if tokio::time::Instant::now() >= deadline => {
                    return Err(self.log_error(needle, &format!("waited {timeout:?}")));
                }
                LogSearch::NotYet => tokio::time::sleep(Duration::from_millis(20)).await,
            }
        }
    }

    fn log_error(&self, needle: &str, what: &str) -> anyhow::Error {
        anyhow!(
            "{}: no line containing {needle:?} ({what}); log:\n{}",
            self.name,
            self.log()
        )
    }

    /// Sends `sig` to the child (not to its group).
    pub fn signal(&self, sig: Signal) -> Result<()> {
        if self.reaped.is_some() {
            bail!("{} has already exited", self.name);
        }
        signal_pid(self.pid(), sig).with_context(|| format!("signalling {}", self.name))
    }

    /// The exit status if the child has exited.
    pub fn try_wait(&mut self) -> Result<Option<ExitStatus>> {
        if self.reaped.is_none() {
            self.reaped = self.child.try_wait().context("try_wait")?;
        }
        Ok(self.reaped)
    }

    /// Waits for the child to exit, polling; fails at `timeout` (the child is
    /// left running, and killed on drop).
    pub fn wait_timeout(&mut self, timeout: Duration) -> Result<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.try_wait()? {
                return Ok(status);
            }
            if Instant::now() >= deadline {
                bail!(
                    "{} still running after {timeout:?}; log:\n{}",
                    self.name,
                    self.log()
                );
            }
            thread::sleep(Duration::from_millis(10));
        }
    }

    /// [`ChildGuard::wait_timeout`] for async tests.
    pub async fn wait_timeout_async(&mut self, timeout: Duration) -> Result<ExitStatus> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if let Some(status) = self.try_wait()? {
                return Ok(status);
            }
            if tokio::time::Instant::now() >= deadline {
                bail!(
                    "{} still running after {timeout:?}; log:\n{}",
                    self.name,
                    self.log()
                );
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// SIGKILLs the child (and its group if it leads one) and reaps it.
    pub fn kill(&mut self) -> Result<ExitStatus> {
        if let Some(status) = self.reaped {
            return Ok(status);
        }
        if self.own_group {
            kill_group(self.pid());
        }
        let _ = self.child.kill();
        let status = self.child.wait().context("waiting for a killed child")?;
        self.reaped = Some(status);
        Ok(status)
    }

    /// The wrapped child, e.g. to take a pipe that was not captured.
    pub fn child_mut(&mut self) -> &mut Child {
        &mut self.child
    }
}

enum LogSearch {
    Found(String),
    /// Not found, and the child has closed its output.
    Closed,
    NotYet,
}

fn find_line(st: &LogState, needle: &str) -> LogSearch {
    match st.lines.iter().find(|l| l.contains(needle)) {
        Some(line) => LogSearch::Found(line.clone()),
        None if st.open_pipes == 0 => LogSearch::Closed,
        None => LogSearch::NotYet,
    }
}

/// SIGKILLs process group `pgid`, ignoring errors (it may be gone).
fn kill_group(pgid: u32) {
    if let Ok(pid) = to_pid(pgid) {
        let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if thread::panicking() {
            let mut err = std::io::stderr().lock();
            let _ = writeln!(
                err,
                "----- log of {} (pid {}) -----\n{}----- end of {} log -----",
                self.name,
                self.pid(),
                self.log(),
                self.name
            );
        }
        if self.own_group {
            // The leader may be gone already while helpers it started live on.
            kill_group(self.pid());
        }
        let _ = self.kill();
    }
}

/// Runs `cmd` to completion with its output captured, killing it at
/// `timeout`; its exit status and its whole log (stdout and stderr).
pub fn run_bounded(
    cmd: &mut Command,
    name: &str,
    timeout: Duration,
) -> Result<(ExitStatus, String)> {
    let mut guard = spawn_logged(cmd, name)?;
    let status = guard.wait_timeout(timeout)?;
    // The log readers may still be draining the pipes: wait (briefly) until
    // both are closed, which is when a search for a line never written ends.
    let _ = guard.wait_for_log("\u{0}(end of output)", Duration::from_secs(5));
    Ok((status, guard.log()))
}

/// Whether `cmd` is on `PATH` (`command -v`).
pub fn have(cmd: &str) -> bool {
    Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {cmd} >/dev/null"))
        .status()
        .is_ok_and(|s| s.success())
}

/// Waits until `url` (`http://host:port/...`) answers with an HTTP status
/// line, and returns the status code. Fails at `timeout`. Blocks the thread:
/// from async code use [`wait_for_http`].
pub fn wait_for_http_blocking(url: &str, timeout: Duration) -> Result<u16> {
    let (addrs, host, path) = parse_http_url(url)?;
    let deadline = Instant::now() + timeout;
    let mut last_err = anyhow!("no attempt made");
    loop {
        for addr in &addrs {
            match probe_http(*addr, &host, &path, deadline) {
                Ok(status) => return Ok(status),
                Err(e) => last_err = e,
            }
        }
        if Instant::now() >= deadline {
            return Err(last_err.context(format!("{url} did not answer within {timeout:?}")));
        }
        thread::sleep(Duration::from_millis(25));
    }
}

/// Async [`wait_for_http_blocking`]: waits until `url` answers with an HTTP
/// status line and returns the status code (any status counts).
pub async fn wait_for_http(url: &str, timeout: Duration) -> Result<u16> {
    let url = url.to_owned();
    tokio::task::spawn_blocking(move || wait_for_http_blocking(&url, timeout))
        .await
        .context("wait_for_http task")?
}

/// Waits until a TCP connection to `addr` succeeds. Fails at `timeout`.
pub fn wait_for_tcp(addr: SocketAddr, timeout: Duration) -> Result<()> {
    let deadline = Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match TcpStream::connect_timeout(
            &addr,
            left.clamp(Duration::from_millis(1), Duration::from_secs(1)),
        ) {
            Ok(_) => return Ok(()),
            Err(e) if Instant::now() >= deadline => {
                return Err(
                    anyhow!(e).context(format!("{addr} refused connections for {timeout:?}"))
                );
            }
            Err(_) => thread::sleep(Duration::from_millis(25)),
        }
    }
}

fn parse_http_url(url: &str) -> Result<(Vec<SocketAddr>, String, String)> {
    let parsed = reqwest::Url::parse(url).with_context(|| format!("parsing {url}"))?;
    if parsed.scheme() != "http" {
        bail!("{url}: only http:// is supported");
    }
    let host = parsed
        .host_str()
        .ok_or_else(|| anyhow!("{url}: no host"))?
        .to_owned();
    let port = parsed.port_or_known_default().unwrap_or(80);
    let addrs: Vec<SocketAddr> = (host.trim_matches(['[', ']']), port)
        .to_socket_addrs()
        .with_context(|| format!("resolving {host}"))?
        .collect();
    let mut path = parsed.path().to_owned();
    if let Some(q) = parsed.query() {
        path.push('?');
        path.push_str(q);
    }
    Ok((addrs, host, path))
}

/// One attempt: connect, send a GET, read the status line.
fn probe_http(addr: SocketAddr, host: &str, path: &str, deadline: Instant) -> Result<u16> {
    let attempt = Duration::from_millis(500);
    let left = deadline
        .saturating_duration_since(Instant::now())
        .clamp(Duration::from_millis(1), attempt);
    let mut stream = TcpStream::connect_timeout(&addr, left)?;
    stream.set_read_timeout(Some(attempt))?;
    stream.set_write_timeout(Some(attempt))?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {host}:{}\r\nConnection: close\r\n\r\n",
        addr.port()
    )?;
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while head.len() < 64 && !head.ends_with(b"\r\n") {
        if stream.read(&mut byte)? == 0 {
            break;
        }
        head.push(byte[0]);
    }
    let _ = stream.shutdown(Shutdown::Both);
    let line = String::from_utf8_lossy(&head);
    let status = line
        .strip_prefix("HTTP/")
        .and_then(|rest| rest.split_whitespace().nth(1))
        .and_then(|code| code.parse::<u16>().ok())
        .ok_or_else(|| anyhow!("{addr}: not an HTTP status line: {line:?}"))?;
    Ok(status)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::ExitStatusExt;

    fn sh(script: &str) -> Command {
        let mut cmd = Command::new("/bin/sh");
        cmd.arg("-c").arg(script);
        cmd
    }

    #[test]
    fn log_is_captured_from_both_pipes() {
        let g = spawn_logged(
            &mut sh("echo one; echo two >&2; echo 'ready on 1234'; sleep 30"),
            "sh",
        )
        .unwrap();
        let line = g.wait_for_log("ready on", Duration::from_secs(5)).unwrap();
        assert_eq!(line, "ready on 1234");
        // stdout and stderr are read by separate threads: stderr's line may
        // land after stdout's.
        g.wait_for_log("two", Duration::from_secs(5)).unwrap();
        let log = g.log();
        assert!(log.contains("one\n") && log.contains("two\n"), "{log}");
    }

    #[test]
    fn wait_for_log_fails_early_when_the_child_exits() {
        let g = spawn_logged(&mut sh("echo bye"), "sh").unwrap();
        let start = Instant::now();
        let err = g
            .wait_for_log("never", Duration::from_secs(20))
            .unwrap_err();
        assert!(start.elapsed() < Duration::from_secs(5));
        assert!(format!("{err:#}").contains("bye"), "{err:#}");
    }

    #[test]
    fn wait_for_log_times_out() {
        let g = spawn_logged(&mut sh("sleep 30"), "sh").unwrap();
        let err = g
            .wait_for_log("never", Duration::from_millis(100))
            .unwrap_err();
        assert!(format!("{err}").contains("waited"), "{err}");
    }

    #[test]
    fn sigterm_ends_the_child() {
        let mut g = spawn_logged(&mut sh("sleep 30"), "sh").unwrap();
        signal(&g, Signal::Stop).unwrap();
        signal(&g, Signal::Cont).unwrap();
        assert!(g.try_wait().unwrap().is_none());
        signal(&g, Signal::Term).unwrap();
        let status = g.wait_timeout(Duration::from_secs(5)).unwrap();
        assert_eq!(status.signal(), Some(15));
    }

    #[test]
    fn drop_kills_the_whole_group() {
        let g = spawn_logged_group(&mut sh("sleep 30 & echo child $!; wait"), "sh").unwrap();
        let line = g.wait_for_log("child ", Duration::from_secs(5)).unwrap();
        let grandchild: i32 = line["child ".len()..].trim().parse().unwrap();
        drop(g);
        let deadline = Instant::now() + Duration::from_secs(5);
        // The grandchild is reparented; it is dead once it is gone or a zombie.
        loop {
            let stat =
                std::fs::read_to_string(format!("/proc/{grandchild}/stat")).unwrap_or_default();
            let state = stat.rsplit(") ").next().and_then(|s| s.chars().next());
            if matches!(state, None | Some('Z') | Some('X')) {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "grandchild {grandchild} still alive: {stat}"
            );
            thread::sleep(Duration::from_millis(20));
        }
    }

    #[test]
    fn long_logs_are_capped() {
        let log = Log::default();
        let line = "x".repeat(1000);
        for _ in 0..(MAX_LOG_BYTES / 1000 + 100) {
            log.push(line.clone());
        }
        let st = log.lock();
        assert!(st.bytes <= MAX_LOG_BYTES);
        assert!(st.dropped_lines >= 100);
    }

    #[test]
    fn free_port_and_wait_for_http() {
        let port = free_port();
        assert_ne!(port, 0);
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            let mut buf = [0u8; 1024];
            let _ = s.read(&mut buf);
            s.write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
                .unwrap();
        });
        let status =
            wait_for_http_blocking(&format!("http://{addr}/x?y=1"), Duration::from_secs(5))
                .unwrap();
        assert_eq!(status, 404);
        server.join().unwrap();
        wait_for_tcp(addr, Duration::from_millis(10)).unwrap_err();
        let err = wait_for_http_blocking(
            &format!("http://127.0.0.1:{}/", free_port()),
            Duration::from_millis(200),
        );
        assert!(err.is_err());
    }

    #[test]
    fn profile_dir_is_above_deps() {
        let dir = profile_dir();
        assert_ne!(dir.file_name().unwrap(), "deps");
        assert!(workspace_root().join("Cargo.toml").is_file());
        let missing = std::panic::catch_unwind(|| bin_path("no-such-binary")).unwrap_err();
        let msg = missing.downcast_ref::<String>().unwrap();
        assert!(msg.contains("cargo build --workspace --bins"), "{msg}");
    }
}

/// Resident set size of `pid` in KiB (`VmRSS` in `/proc/PID/status`).
pub fn rss_kib(pid: u32) -> anyhow::Result<u64> {
    use anyhow::Context as _;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    parse_vmrss(&status).context("no VmRSS line in /proc/PID/status")
}

fn parse_vmrss(status: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
}

/// Open file descriptors of `pid` (entries of `/proc/PID/fd`).
pub fn fd_count(pid: u32) -> anyhow::Result<u64> {
    Ok(std::fs::read_dir(format!("/proc/{pid}/fd"))?.count() as u64)
}

#[cfg(test)]
mod proc_tests {
    use super::*;

    #[test]
    fn reads_this_process() {
        assert_eq!(parse_vmrss("Name:\tx\nVmRSS:\t  1234 kB\n"), Some(1234));
        assert_eq!(parse_vmrss("Name:\tx\n"), None);
        let me = std::process::id();
        assert!(rss_kib(me).unwrap() > 0);
        assert!(fd_count(me).unwrap() >= 3);
    }
}
