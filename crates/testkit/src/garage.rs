//! A real single-node Garage (S3-compatible object store) for tests: started on loopback
//! ports in a temporary directory with a generated configuration, a laid-out node, one
//! bucket and one key allowed on it. Stop, kill and restart it for fault tests; set bucket
//! quotas; read the bucket's counters (objects, unfinished multipart uploads).
//!
//! The binary is built once per machine by `scripts/garage.sh build` into
//! `~/.cache/camera-system/garage-VERSION/` (or `$CAMERA_SYSTEM_CACHE`), or named by
//! `$GARAGE_BIN`. [`Garage::binary_or_skip`] fails in CI (`CI=true`) when it is absent
//! and skips with a message elsewhere.
//!
//! Every call is bounded in time; the node is killed and its directory removed on drop.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use serde_json::Value;
use tempfile::TempDir;

use crate::process::{ChildGuard, Signal, free_port, spawn_logged};

/// The Garage release `scripts/garage.sh` builds.
pub const GARAGE_VERSION: &str = "2.5.0";
/// The S3 region the node answers to (any name works for Garage; signatures carry it).
pub const REGION: &str = "garage";
/// The bucket every harness creates.
pub const BUCKET: &str = "offsite-test";

/// How long one CLI call or one start-up may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a stopped node gets to exit after SIGTERM before it is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(15);

/// A running (or stopped, for fault tests) single-node Garage with one bucket and key.
pub struct Garage {
    bin: PathBuf,
    // Dropped after `child` (fields drop in order): the node is gone before its files.
    child: Option<ChildGuard>,
    dir: TempDir,
    s3_port: u16,
    /// The bucket's name ([`BUCKET`]).
    pub bucket: String,
    /// An access key allowed to read, write and own the bucket.
    pub key_id: String,
    /// Its secret.
    pub secret: String,
}

impl std::fmt::Debug for Garage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The secret stays out of test output.
        f.debug_struct("Garage")
            .field("endpoint", &self.endpoint())
            .field("bucket", &self.bucket)
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

impl Garage {
    /// Where the binary is expected: `$GARAGE_BIN`, else the build cache.
    pub fn binary_path() -> PathBuf {
        if let Some(p) = std::env::var_os("GARAGE_BIN") {
            return PathBuf::from(p);
        }
        let cache = std::env::var_os("CAMERA_SYSTEM_CACHE")
            .map(PathBuf::from)
            .unwrap_or_else(|| {
                PathBuf::from(std::env::var_os("HOME").unwrap_or_default())
                    .join(".cache/camera-system")
            });
        cache.join(format!("garage-{GARAGE_VERSION}/bin/garage"))
    }

    /// The binary, if it is built. Absent: in CI a panic (the test command builds it
    /// first), elsewhere `None` after printing why the test is skipped.
    pub fn binary_or_skip() -> Option<PathBuf> {
        let bin = Self::binary_path();
        if bin.is_file() {
            return Some(bin);
        }
        let msg = format!(
            "Garage {GARAGE_VERSION} is not built at {} (run `scripts/garage.sh build`, \
             which scripts/test.sh does)",
            bin.display()
        );
        if std::env::var_os("CI").is_some_and(|v| v == "true") {
            panic!("{msg}");
        }
        eprintln!("SKIPPED: {msg}");
        None
    }

    /// Starts a node with a bucket and a key, or `None` when the test should skip (see
    /// [`Garage::binary_or_skip`]). Blocking: call it before the async part of a test or
    /// under `spawn_blocking`.
    pub fn start_or_skip() -> Option<Garage> {
        let bin = Self::binary_or_skip()?;
        Some(Self::start(bin).expect("starting Garage"))
    }

    /// Starts a node from `bin`: config, server, layout, bucket, key.
    pub fn start(bin: PathBuf) -> Result<Garage> {
        let dir = tempfile::Builder::new()
            .prefix("garage-test-")
            .tempdir()
            .context("creating Garage's directory")?;
        let (s3_port, rpc_port, admin_port) = (free_port(), free_port(), free_port());
        let mut secret = [0u8; 32];
        getrandom::fill(&mut secret).map_err(|e| anyhow!("getrandom: {e}"))?;
        let rpc_secret: String = secret.iter().map(|b| format!("{b:02x}")).collect();
        let root = dir.path();
        let config = format!(
            "metadata_dir = \"{meta}\"\n\
             data_dir = \"{data}\"\n\
             db_engine = \"sqlite\"\n\
             replication_factor = 1\n\
             rpc_bind_addr = \"127.0.0.1:{rpc_port}\"\n\
             rpc_public_addr = \"127.0.0.1:{rpc_port}\"\n\
             rpc_secret = \"{rpc_secret}\"\n\
             [s3_api]\n\
             s3_region = \"{REGION}\"\n\
             api_bind_addr = \"127.0.0.1:{s3_port}\"\n\
             root_domain = \".s3.garage.localhost\"\n\
             [admin]\n\
             api_bind_addr = \"127.0.0.1:{admin_port}\"\n",
            meta = root.join("meta").display(),
            data = root.join("data").display(),
        );
        let config_path = root.join("garage.toml");
        std::fs::write(&config_path, config).context("writing garage.toml")?;
        let mut g = Garage {
            bin,
            child: None,
            dir,
            s3_port,
            bucket: BUCKET.to_owned(),
            key_id: String::new(),
            secret: String::new(),
        };
        g.launch()?;
        let node = g.cli(&["node", "id", "-q"])?;
        let node_id = node
            .trim()
            .split('@')
            .next()
            .filter(|id| !id.is_empty())
            .ok_or_else(|| anyhow!("`garage node id` printed {node:?}"))?
            .to_owned();
        g.cli(&["layout", "assign", "-z", "dc1", "-c", "1G", &node_id])?;
        g.cli(&["layout", "apply", "--version", "1"])?;
        g.wait_healthy()?;
        g.cli(&["bucket", "create", BUCKET])?;
        let (id, secret) = g.create_key("offsite-test")?;
        g.cli(&[
            "bucket", "allow", "--read", "--write", "--owner", BUCKET, "--key", &id,
        ])?;
        g.key_id = id;
        g.secret = secret;
        Ok(g)
    }

    /// `http://127.0.0.1:PORT`, the S3 endpoint (path-style addressing).
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.s3_port)
    }

    /// The S3 API's port.
    pub fn s3_port(&self) -> u16 {
        self.s3_port
    }

    /// The node's directory (config, metadata, data).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Whether the server process is running.
    pub fn is_running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| c.try_wait().is_ok_and(|s| s.is_none()))
    }

    /// The server's process id while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(ChildGuard::pid)
    }

    /// The server's log so far (empty when stopped and restarted: each run has its own).
    pub fn log(&self) -> String {
        self.child.as_ref().map(ChildGuard::log).unwrap_or_default()
    }

    /// Stops the server (SIGTERM, then SIGKILL after a bound). Its data stays.
    pub fn stop(&mut self) -> Result<()> {
        if let Some(mut child) = self.child.take() {
            child.signal(Signal::Term).ok();
            if child.wait_timeout(STOP_TIMEOUT).is_err() {
                child.kill()?;
            }
        }
        Ok(())
    }

    /// Kills the server with SIGKILL. Its data stays.
    pub fn kill(&mut self) -> Result<()> {
        if let Some(mut child) = self.child.take() {
            child.kill()?;
        }
        Ok(())
    }

    /// Starts the server again on the same ports and data, and waits until it serves.
    pub fn restart(&mut self) -> Result<()> {
        self.stop()?;
        self.launch()?;
        self.wait_healthy()
    }

    /// `garage bucket set-quotas`: `max_size` like `"1MiB"` or `None` for no limit.
    pub fn set_quota(&self, max_size: Option<&str>, max_objects: Option<u64>) -> Result<()> {
        let objects = max_objects.map_or("none".to_owned(), |n| n.to_string());
        self.cli(&[
            "bucket",
            "set-quotas",
            "--max-size",
            max_size.unwrap_or("none"),
            "--max-objects",
            &objects,
            &self.bucket,
        ])?;
        Ok(())
    }

    /// Creates another access key (allowed on nothing until [`Garage::allow`]):
    /// `(key id, secret)`.
    pub fn create_key(&self, name: &str) -> Result<(String, String)> {
        let key = self.json_api("CreateKey", &serde_json::json!({ "name": name }))?;
        let field = |f: &str| {
            key[f]
                .as_str()
                .map(str::to_owned)
                .ok_or_else(|| anyhow!("CreateKey answered without {f}"))
        };
        Ok((field("accessKeyId")?, field("secretAccessKey")?))
    }

    /// `garage bucket allow` with the given permissions (`"--read"`, `"--write"`, `"--owner"`).
    pub fn allow(&self, key_id: &str, permissions: &[&str]) -> Result<()> {
        let mut args = vec!["bucket", "allow"];
        args.extend_from_slice(permissions);
        args.extend_from_slice(&[&self.bucket, "--key", key_id]);
        self.cli(&args)?;
        Ok(())
    }

    /// The bucket's counters from the admin API (`objects`, `bytes`,
    /// `unfinishedMultipartUploads`, `unfinishedUploads`, `quotas`, …).
    pub fn bucket_info(&self) -> Result<Value> {
        self.json_api(
            "GetBucketInfo",
            &serde_json::json!({ "globalAlias": self.bucket }),
        )
    }

    /// One admin API call through `garage json-api`.
    pub fn json_api(&self, call: &str, body: &Value) -> Result<Value> {
        let out = self.cli(&["json-api", call, &body.to_string()])?;
        serde_json::from_str(&out).with_context(|| format!("{call} answered {out:?}"))
    }

    /// Runs `garage -c CONFIG ARGS…` to completion (bounded) and returns its stdout.
    pub fn cli(&self, args: &[&str]) -> Result<String> {
        let mut cmd = Command::new(&self.bin);
        cmd.arg("-c").arg(self.config_path()).args(args);
        cmd.env_remove("GARAGE_RPC_HOST");
        let name = format!("garage {}", args.first().copied().unwrap_or(""));
        let out = run_bounded(&mut cmd, CALL_TIMEOUT)
            .with_context(|| format!("{name} {}", args[1..].join(" ")))?;
        Ok(out)
    }

    fn config_path(&self) -> PathBuf {
        self.dir.path().join("garage.toml")
    }

    fn launch(&mut self) -> Result<()> {
        let mut cmd = Command::new(&self.bin);
        cmd.arg("-c").arg(self.config_path()).arg("server");
        cmd.env("RUST_LOG", "garage=info");
        let child = spawn_logged(&mut cmd, "garage server")?;
        self.child = Some(child);
        let deadline = Instant::now() + CALL_TIMEOUT;
        while std::net::TcpStream::connect(("127.0.0.1", self.s3_port)).is_err() {
            if !self.is_running() {
                bail!("garage server exited at start-up; log:\n{}", self.log());
            }
            if Instant::now() >= deadline {
                bail!(
                    "garage server not listening after {CALL_TIMEOUT:?}; log:\n{}",
                    self.log()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(())
    }

    /// Waits until the cluster reports itself healthy (every partition has its node).
    fn wait_healthy(&self) -> Result<()> {
        let deadline = Instant::now() + CALL_TIMEOUT;
        loop {
            let health = self.json_api("GetClusterHealth", &Value::Null);
            if let Ok(h) = &health
                && h["status"] == "healthy"
            {
                return Ok(());
            }
            if Instant::now() >= deadline {
                bail!("Garage not healthy after {CALL_TIMEOUT:?}: {health:?}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Garage {
    fn drop(&mut self) {
        let _ = self.kill();
    }
}

/// Runs `cmd` to completion within `timeout`: its stdout, or an error with its output.
fn run_bounded(cmd: &mut Command, timeout: Duration) -> Result<String> {
    let out = cmd
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .context("spawning garage")?;
    let pid = out.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(out.wait_with_output());
    });
    match rx.recv_timeout(timeout) {
        Ok(Ok(o)) if o.status.success() => Ok(String::from_utf8_lossy(&o.stdout).into_owned()),
        Ok(Ok(o)) => bail!(
            "exited with {}: {}{}",
            o.status,
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        ),
        Ok(Err(e)) => Err(e).context("waiting for garage"),
        Err(_) => {
            let _ = crate::process::signal_pid(pid, Signal::Kill);
            bail!("still running after {timeout:?}: killed")
        }
    }
}
