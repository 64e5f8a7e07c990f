//! The hub binary as a separate process, set up the way an operator does it:
//! a config file, `hub user add`, `hub token`, then `hub --config FILE` until
//! it logs that it listens. Every test that runs the real hub binary (the
//! hub's own process tests, the agent's upload tests, the Pi and VM tests)
//! starts it here, so a change to the hub's command line is made in one place.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{Context, Result, bail};

use crate::process::{ChildGuard, bin_path, free_port, spawn_logged};

/// How long the hub may take from exec to "hub listening" on a loaded machine.
pub const START_TIMEOUT: Duration = Duration::from_secs(30);

/// A hub config file on a free loopback port, and the commands around it.
#[derive(Debug, Clone)]
pub struct HubSetup {
    pub config: PathBuf,
    pub port: u16,
}

impl HubSetup {
    /// Writes `dir/hub.toml`: `listen = "127.0.0.1:PORT"` on a free port, then
    /// `body` (the data directory, cameras, ...; the hub resolves a relative
    /// `data_dir` against the config file's directory, `dir`).
    pub fn new(dir: &Path, body: &str) -> Result<HubSetup> {
        let port = free_port();
        let config = dir.join("hub.toml");
        std::fs::write(&config, format!("listen = \"127.0.0.1:{port}\"\n{body}"))
            .with_context(|| format!("writing {}", config.display()))?;
        Ok(HubSetup { config, port })
    }

    /// `hub --config FILE` with `RUST_LOG=info` and no colours; add a
    /// subcommand and arguments, or spawn it as is.
    pub fn command(&self) -> Command {
        let mut c = Command::new(bin_path("hub"));
        c.arg("--config")
            .arg(&self.config)
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1");
        c
    }

    /// `hub user add USER --password-stdin`.
    pub fn add_user(&self, user: &str, password: &str) -> Result<()> {
        let mut add = self
            .command()
            .args(["user", "add", user, "--password-stdin"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .context("starting hub user add")?;
        writeln!(add.stdin.take().context("stdin")?, "{password}")?;
        let out = add.wait_with_output()?;
        if !out.status.success() {
            bail!("hub user add: {}", String::from_utf8_lossy(&out.stderr));
        }
        Ok(())
    }

    /// The token camera `id`'s agent presents (`hub token ID`).
    pub fn token(&self, id: u32) -> Result<String> {
        let out = self
            .command()
            .args(["token", &id.to_string()])
            .output()
            .context("running hub token")?;
        if !out.status.success() {
            bail!("hub token: {}", String::from_utf8_lossy(&out.stderr));
        }
        Ok(String::from_utf8(out.stdout)?.trim().to_owned())
    }

    /// Starts `cmd` (normally [`HubSetup::command`], with extra environment) and
    /// waits until the hub logs that it listens.
    pub fn spawn(&self, cmd: &mut Command) -> Result<ChildGuard> {
        let hub = spawn_logged(cmd, "hub")?;
        hub.wait_for_log("hub listening", START_TIMEOUT)?;
        Ok(hub)
    }

    /// [`HubSetup::spawn`] of [`HubSetup::command`].
    pub fn start(&self) -> Result<ChildGuard> {
        self.spawn(&mut self.command())
    }

    /// [`HubSetup::start`] for async tests (the wait does not block the runtime).
    pub async fn start_async(&self) -> Result<ChildGuard> {
        let hub = spawn_logged(&mut self.command(), "hub")?;
        hub.wait_for_log_async("hub listening", START_TIMEOUT)
            .await?;
        Ok(hub)
    }

    /// `http://127.0.0.1:PORT{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// The agents' websocket URL on loopback.
    pub fn ingest_url(&self) -> String {
        format!("ws://127.0.0.1:{}/video-input-stream", self.port)
    }
}

/// A started hub with agent cameras and one viewer account, as the Pi and VM
/// tests use it: the agents push to it, the test reads back through its APIs.
pub struct AgentHub {
    pub setup: HubSetup,
    pub guard: ChildGuard,
    /// The data directory (`DIR/hub-data`).
    pub data: PathBuf,
    pub user: String,
    pub password: String,
}

impl AgentHub {
    /// Configures (in `dir`) and starts a hub with one agent camera per
    /// `(id, name)`; a camera shows offline after `offline_after` (e.g. "30s").
    pub fn start(dir: &Path, cameras: &[(u32, &str)], offline_after: &str) -> Result<AgentHub> {
        let data = dir.join("hub-data");
        let mut body = format!(
            "data_dir = {:?}\noffline_after = {offline_after:?}\n",
            data.to_str().context("a UTF-8 path")?
        );
        for (id, name) in cameras {
            body += &format!("[[camera]]\nid = {id}\nname = {name:?}\nkind = \"agent\"\n");
        }
        let setup = HubSetup::new(dir, &body)?;
        let (user, password) = ("viewer".to_owned(), "viewer-test-password-1".to_owned());
        setup.add_user(&user, &password)?;
        let guard = setup.start()?;
        Ok(AgentHub {
            setup,
            guard,
            data,
            user,
            password,
        })
    }

    pub fn port(&self) -> u16 {
        self.setup.port
    }

    /// The token camera `id`'s agent presents.
    pub fn token(&self, id: u32) -> Result<String> {
        self.setup.token(id)
    }

    /// The agents' websocket URL as seen from `host` (`127.0.0.1` on this
    /// machine, `10.0.2.2` from a qemu guest on user-mode networking).
    pub fn ingest_url(&self, host: &str) -> String {
        format!("ws://{host}:{}/video-input-stream", self.setup.port)
    }

    /// GET `path` as the viewer; the body (an error status is an error).
    pub async fn get(&self, path: &str) -> Result<Vec<u8>> {
        let resp = crate::http_client()
            .get(self.setup.url(path))
            .basic_auth(&self.user, Some(&self.password))
            .send()
            .await?;
        let status = resp.status();
        let body = resp.bytes().await?.to_vec();
        if !status.is_success() {
            bail!("GET {path}: {status}: {}", String::from_utf8_lossy(&body));
        }
        Ok(body)
    }

    /// The `/api/cameras` entry of camera `name`.
    pub async fn camera(&self, name: &str) -> Result<serde_json::Value> {
        let v: serde_json::Value = serde_json::from_slice(&self.get("/api/cameras").await?)?;
        v["cameras"]
            .as_array()
            .and_then(|a| a.iter().find(|c| c["name"] == name).cloned())
            .with_context(|| format!("camera {name} not in {v}"))
    }

    /// Reads `n` frames of camera `name` from the MJPEG API, each within `per_frame`.
    pub async fn frames(
        &self,
        name: &str,
        n: usize,
        per_frame: Duration,
    ) -> Result<Vec<crate::mjpeg::Part>> {
        let request = crate::http_client()
            .get(self.setup.url(&format!("/api/v1/cameras/{name}/stream")))
            .basic_auth(&self.user, Some(&self.password));
        let mut stream = crate::mjpeg::MjpegStream::connect(request)
            .await?
            .with_part_timeout(per_frame);
        stream.take_parts(n).await
    }

    /// Finished recordings the hub holds for camera `name`, oldest first.
    pub fn recordings(&self, name: &str) -> Vec<PathBuf> {
        crate::mp4_files(&self.data.join("recordings").join(name))
    }
}
