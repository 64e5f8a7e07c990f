//! The processes of a soak run: the RTSP camera stand-in, the hub and the agents, with
//! their configuration files and logs in the run's directory.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use testkit::process::{Signal, bin_path, signal_pid, workspace_root};

pub const USER: &str = "soak";
pub const PASSWORD: &str = "soak-viewer-password-1";
pub const RTSP_USER: &str = "tapo";
pub const RTSP_PASSWORD: &str = "soak-rtsp-pw";
pub const REOLINK_PASSWORD: &str = "soak-reolink-pw";
const PYTHON: &str = "/usr/bin/python3";

/// A child process whose stderr (and stdout unless piped) goes to `log`; SIGKILLed and
/// reaped when dropped.
pub struct Proc {
    pub name: String,
    pub log: PathBuf,
    child: Child,
    exited: Option<ExitStatus>,
}

impl Proc {
    pub fn spawn(cmd: &mut Command, name: &str, log: PathBuf) -> anyhow::Result<Proc> {
        let f = std::fs::File::create(&log).with_context(|| format!("{}", log.display()))?;
        cmd.stdin(Stdio::null()).stderr(f.try_clone()?);
        if cmd.get_program() != PYTHON {
            cmd.stdout(f);
        }
        let child = cmd.spawn().with_context(|| format!("spawning {name}"))?;
        Ok(Proc {
            name: name.to_owned(),
            log,
            child,
            exited: None,
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// `Some(status)` once the process has exited.
    pub fn exited(&mut self) -> Option<ExitStatus> {
        if self.exited.is_none() {
            self.exited = self.child.try_wait().ok().flatten();
        }
        self.exited
    }

    pub fn term(&self) {
        let _ = signal_pid(self.pid(), Signal::Term);
    }

    /// Waits up to `limit` for the exit; `None` if still running.
    pub async fn wait(&mut self, limit: Duration) -> Option<ExitStatus> {
        let end = Instant::now() + limit;
        while Instant::now() < end {
            if let Some(s) = self.exited() {
                return Some(s);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        None
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if self.exited().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn write_private(path: &Path, text: &str) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, text)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    Ok(())
}

/// `scripts/rtsp-test-server.py` on a free port: two H.264 mounts (`stream1` main,
/// `stream2` sub). Returns the process and its port.
pub fn start_rtsp_server(dir: &Path) -> anyhow::Result<(Proc, u16)> {
    let script = workspace_root().join("scripts/rtsp-test-server.py");
    let mut cmd = Command::new(PYTHON);
    cmd.arg(&script)
        .args(["--port", "0", "--auth", "digest"])
        .args(["--user", RTSP_USER, "--password", RTSP_PASSWORD])
        .args([
            "--width", "320", "--height", "180", "--fps", "10", "--gop", "10",
        ])
        .stdout(Stdio::piped());
    let mut p = Proc::spawn(&mut cmd, "rtsp-server", dir.join("rtsp-server.log"))?;
    let stdout = p.child.stdout.take().context("piped stdout")?;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut r = BufReader::new(stdout);
        let mut line = String::new();
        let _ = r.read_line(&mut line);
        let _ = tx.send(line);
        let mut sink = String::new();
        while r.read_line(&mut sink).is_ok_and(|n| n > 0) {
            sink.clear();
        }
    });
    let line = rx
        .recv_timeout(Duration::from_secs(30))
        .context("the RTSP test server did not say READY within 30 s (scripts/install-test-deps.sh installs GStreamer)")?;
    let port = line
        .trim()
        .strip_prefix("READY rtsp://127.0.0.1:")
        .and_then(|p| p.parse().ok())
        .with_context(|| format!("unexpected first line from the RTSP server: {line:?}"))?;
    Ok((p, port))
}

/// What the hub is configured with.
pub struct HubSetup {
    pub config: PathBuf,
    pub data_dir: PathBuf,
    pub port: u16,
    /// Tokens of agent cameras 1..=agents.
    pub tokens: Vec<String>,
    /// Names of every camera.
    pub agent_cameras: Vec<String>,
    pub video_cameras: Vec<String>,
}

pub struct Plan {
    pub agents: usize,
    pub hub_segment: Duration,
    pub hub_max_age: Duration,
    pub agent_segment: Duration,
    pub agent_max_age: Duration,
    /// Every `record_every`-th agent records and uploads.
    pub record_every: usize,
}

pub fn agent_name(i: usize) -> String {
    format!("agent-{i:02}")
}

pub fn write_hub(
    dir: &Path,
    plan: &Plan,
    rtsp_port: u16,
    reolink_port: u16,
) -> anyhow::Result<HubSetup> {
    let port = testkit::process::free_port();
    let data_dir = dir.join("hub-data");
    let rtsp_pw = dir.join("rtsp.password");
    write_private(&rtsp_pw, RTSP_PASSWORD)?;
    let reolink_pw = dir.join("reolink.password");
    write_private(&reolink_pw, REOLINK_PASSWORD)?;
    let mut text = format!(
        "listen = \"127.0.0.1:{port}\"\ndata_dir = {:?}\n\n[recordings]\nsegment_duration = \"{}s\"\nretention_interval = \"10s\"\n\n[retention]\nmax_age = \"{}s\"\n",
        data_dir.display().to_string(),
        plan.hub_segment.as_secs(),
        plan.hub_max_age.as_secs(),
    );
    let mut agent_cameras = Vec::new();
    for i in 1..=plan.agents {
        let name = agent_name(i);
        text += &format!("\n[[camera]]\nid = {i}\nname = \"{name}\"\nkind = \"agent\"\n");
        agent_cameras.push(name);
    }
    for (id, name, path) in [(101, "rtsp-main", "stream1"), (102, "rtsp-sub", "stream2")] {
        text += &format!(
            "\n[[camera]]\nid = {id}\nname = \"{name}\"\nkind = \"rtsp\"\nhost = \"127.0.0.1\"\nport = {rtsp_port}\nusername = \"{RTSP_USER}\"\npassword_file = {:?}\npath = \"{path}\"\nsnapshot_interval = \"1s\"\n",
            rtsp_pw.display().to_string()
        );
    }
    text += &format!(
        "\n[[camera]]\nid = 103\nname = \"reolink\"\nkind = \"reolink\"\ntransport = \"tcp\"\nhost = \"127.0.0.1\"\nport = {reolink_port}\nusername = \"admin\"\npassword_file = {:?}\nsnapshot_interval = \"1s\"\n",
        reolink_pw.display().to_string()
    );
    let config = dir.join("hub.toml");
    std::fs::write(&config, text)?;

    let mut add = hub_cmd(&config)
        .args(["user", "add", USER, "--password-stdin"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()?;
    writeln!(add.stdin.take().context("stdin")?, "{PASSWORD}")?;
    if !add.wait()?.success() {
        bail!("hub user add failed");
    }
    let mut tokens = Vec::new();
    for i in 1..=plan.agents {
        let out = hub_cmd(&config).args(["token", &i.to_string()]).output()?;
        if !out.status.success() {
            bail!("hub token {i}: {}", String::from_utf8_lossy(&out.stderr));
        }
        tokens.push(String::from_utf8(out.stdout)?.trim().to_owned());
    }
    Ok(HubSetup {
        config,
        data_dir,
        port,
        tokens,
        agent_cameras,
        video_cameras: vec!["rtsp-main".into(), "rtsp-sub".into(), "reolink".into()],
    })
}

pub fn hub_cmd(config: &Path) -> Command {
    let mut c = Command::new(bin_path("hub"));
    c.arg("--config")
        .arg(config)
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1");
    c
}

pub fn start_hub(dir: &Path, hub: &HubSetup) -> anyhow::Result<Proc> {
    let p = Proc::spawn(&mut hub_cmd(&hub.config), "hub", dir.join("hub.log"))?;
    testkit::process::wait_for_tcp(([127, 0, 0, 1], hub.port).into(), Duration::from_secs(30))
        .context("the hub did not listen within 30 s")?;
    Ok(p)
}

/// One agent: its process and, if it records, its recordings directory.
pub struct Agent {
    pub proc_: Proc,
    pub rec_dir: Option<PathBuf>,
}

pub fn start_agent(dir: &Path, plan: &Plan, hub: &HubSetup, i: usize) -> anyhow::Result<Agent> {
    let home = dir.join(agent_name(i));
    std::fs::create_dir_all(home.join("state"))?;
    let token_file = home.join("token");
    write_private(&token_file, &hub.tokens[i - 1])?;
    let records = i.is_multiple_of(plan.record_every);
    let rec_dir = home.join("rec");
    let mut text = format!(
        "hub_url = \"ws://127.0.0.1:{}/video-input-stream\"\ncamera_id = {i}\ntoken_file = {:?}\nstate_dir = {:?}\nstats_interval = \"60s\"\n\n[source]\nkind = \"testsrc\"\nwidth = 160\nheight = 120\nfps = 5\n",
        hub.port,
        token_file.display().to_string(),
        home.join("state").display().to_string(),
    );
    if records {
        text += &format!(
            "\n[record]\nenabled = true\ndir = {:?}\nsegment_duration = \"{}s\"\n\n[record.retention]\nmax_age = \"{}s\"\nmin_free = \"unlimited\"\n\n[upload]\nenabled = true\nbackoff_max = \"5s\"\n",
            rec_dir.display().to_string(),
            plan.agent_segment.as_secs(),
            plan.agent_max_age.as_secs(),
        );
    }
    let config = home.join("agent.toml");
    std::fs::write(&config, text)?;
    if records {
        let out = Command::new(bin_path("agent"))
            .arg("setup-recording")
            .arg("--config")
            .arg(&config)
            .output()?;
        if !out.status.success() {
            bail!(
                "agent setup-recording: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
    let mut cmd = Command::new(bin_path("agent"));
    cmd.arg("--config")
        .arg(&config)
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1");
    let proc_ = Proc::spawn(&mut cmd, &agent_name(i), home.join("agent.log"))?;
    Ok(Agent {
        proc_,
        rec_dir: records.then_some(rec_dir),
    })
}
