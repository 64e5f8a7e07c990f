//! Helpers shared by the Pi tests: bounded child processes, the cross build,
//! and an x86 hub on loopback with one agent camera and one viewer.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use testkit::process::{ChildGuard, bin_path, free_port, spawn_logged, wait_for_http_blocking};

/// A cold cross build of the agent takes 5 (aarch64) to 17 (ARMv6, with
/// build-std) minutes on 2 busy cores; an up-to-date one a few seconds.
pub const BUILD_TIMEOUT: Duration = Duration::from_secs(45 * 60);

pub fn root() -> PathBuf {
    testkit::process::workspace_root()
}

/// Runs `cmd` to completion with its output captured, failing after `timeout`
/// (the child is then killed by the guard).
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

/// True if `cmd` can be run (`cmd --version` or similar starts).
pub fn have(cmd: &str) -> bool {
    Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {cmd} >/dev/null"))
        .status()
        .is_ok_and(|s| s.success())
}

/// Builds the agent for `target` with scripts/build-pi.sh (installing the
/// toolchain if needed; a no-op when up to date) and returns the binary, or
/// `None` (after saying why) when the toolchain cannot be installed here.
pub fn build_pi(target: &str, bin: &str) -> Option<PathBuf> {
    let root = root();
    let started = std::time::Instant::now();
    let (status, log) = run_bounded(
        Command::new("bash")
            .arg(root.join("scripts/build-pi.sh"))
            .args([target, bin])
            .env("CARGO_TARGET_DIR", root.join("target-pi"))
            .current_dir(&root),
        &format!("build-pi {target}"),
        BUILD_TIMEOUT,
    )
    .expect("scripts/build-pi.sh runs");
    let summary: Vec<&str> = log.lines().filter(|l| l.starts_with("build-pi:")).collect();
    eprintln!("{}", summary.join("\n"));
    if status.code() == Some(3) {
        eprintln!(
            "SKIPPED: the cross toolchain for {target} cannot be installed on this machine \
             (scripts/build-pi.sh exit 3); see the lines above"
        );
        return None;
    }
    assert!(
        status.success(),
        "scripts/build-pi.sh {target} {bin} failed ({status}):\n{log}"
    );
    let path = root.join("target-pi").join(target).join("pi").join(bin);
    assert!(path.is_file(), "{} missing after the build", path.display());
    eprintln!(
        "build-pi {target} {bin}: {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Some(path)
}

/// `readelf -A` Tag_CPU_arch of an ARM binary (`v6`, `v7`), or the `readelf -h`
/// machine for others (`AArch64`, `Advanced Micro Devices X86-64`).
pub fn cpu_arch(bin: &Path) -> String {
    let out = Command::new("readelf")
        .arg("-A")
        .arg(bin)
        .output()
        .expect("readelf");
    let text = String::from_utf8_lossy(&out.stdout);
    if let Some(l) = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("Tag_CPU_arch:"))
    {
        return l.trim().to_owned();
    }
    let out = Command::new("readelf")
        .arg("-h")
        .arg(bin)
        .output()
        .expect("readelf");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| {
            l.trim()
                .strip_prefix("Machine:")
                .map(|m| m.trim().to_owned())
        })
        .unwrap_or_default()
}

/// The x86 hub from `cargo build`, serving one agent camera (`pi`, id 1) on
/// 127.0.0.1, with one viewer account.
pub struct Hub {
    pub guard: ChildGuard,
    pub port: u16,
    pub config: PathBuf,
    pub user: String,
    pub password: String,
}

impl Hub {
    pub fn start(dir: &Path) -> Result<Hub> {
        let hub = bin_path("hub");
        let port = free_port();
        let config = dir.join("hub.toml");
        std::fs::write(
            &config,
            format!(
                "listen = \"127.0.0.1:{port}\"\ndata_dir = {data:?}\noffline_after = \"30s\"\n\
                 [[camera]]\nid = 1\nname = \"pi\"\nkind = \"agent\"\n",
                data = dir.join("hub-data").to_str().context("utf-8 path")?,
            ),
        )?;
        let (user, password) = ("viewer".to_owned(), "pi-test-password-1".to_owned());
        let mut child = Command::new(&hub)
            .arg("--config")
            .arg(&config)
            .args(["user", "add", &user, "--password-stdin"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()?;
        {
            use std::io::Write;
            let mut stdin = child.stdin.take().context("stdin")?;
            writeln!(stdin, "{password}")?;
        }
        let out = child.wait_with_output()?;
        if !out.status.success() {
            bail!("hub user add: {}", String::from_utf8_lossy(&out.stderr));
        }
        let guard = spawn_logged(Command::new(&hub).arg("--config").arg(&config), "hub")?;
        wait_for_http_blocking(
            &format!("http://127.0.0.1:{port}/login"),
            Duration::from_secs(30),
        )?;
        Ok(Hub {
            guard,
            port,
            config,
            user,
            password,
        })
    }

    /// The token camera `id`'s agent presents (`hub --config F token ID`).
    pub fn token(&self, id: u32) -> Result<String> {
        let out = Command::new(bin_path("hub"))
            .arg("--config")
            .arg(&self.config)
            .args(["token", &id.to_string()])
            .output()?;
        if !out.status.success() {
            bail!("hub token: {}", String::from_utf8_lossy(&out.stderr));
        }
        Ok(String::from_utf8(out.stdout)?.trim().to_owned())
    }

    pub fn ingest_url(&self) -> String {
        format!("ws://127.0.0.1:{}/video-input-stream", self.port)
    }

    /// Reads `n` frames of camera `name` from the MJPEG API, each within `per_frame`.
    pub async fn frames(
        &self,
        name: &str,
        n: usize,
        per_frame: Duration,
    ) -> Result<Vec<testkit::mjpeg::Part>> {
        let url = format!(
            "http://127.0.0.1:{}/api/v1/cameras/{name}/stream",
            self.port
        );
        let request = testkit::http_client()
            .get(url)
            .basic_auth(&self.user, Some(&self.password));
        let mut stream = testkit::mjpeg::MjpegStream::connect(request)
            .await?
            .with_part_timeout(per_frame);
        stream.take_parts(n).await
    }
}

/// `ffprobe`'s codec and counted frames of the first video stream; any error
/// output is a failure.
pub fn ffprobe(path: &Path) -> Result<(String, u64)> {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-count_frames", "-select_streams", "v:0"])
        .args([
            "-show_entries",
            "stream=codec_name,nb_read_frames",
            "-of",
            "csv=p=0",
        ])
        .arg(path)
        .output()
        .context("running ffprobe")?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() || !stderr.trim().is_empty() {
        bail!("ffprobe {}: {stderr}", path.display());
    }
    let text = String::from_utf8(out.stdout)?;
    let (codec, frames) = text.trim().split_once(',').context("ffprobe output")?;
    Ok((codec.to_owned(), frames.trim().parse()?))
}

/// Finished segments (`*.mp4`) in `dir`, oldest first.
pub fn segments(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "mp4"))
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// Whether the agent in this tree records (its example config has `[record]`).
pub fn agent_records() -> bool {
    std::fs::read_to_string(root().join("agent/agent.example.toml"))
        .is_ok_and(|t| t.contains("\n[record]"))
}
