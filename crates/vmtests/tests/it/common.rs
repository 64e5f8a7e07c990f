//! Shared by the VM tests: preparing and booting the guest through
//! scripts/vm-capture.sh, a hub on the host with agent cameras, ffprobe.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use testkit::hub::AgentHub;
use testkit::process::have;

/// Cold: the kernel (~70 MB), linux-source (~139 MB, for vimc) and two
/// module builds; warm: a second.
pub const PREPARE_TIMEOUT: Duration = Duration::from_secs(600);
/// One guest run, boot to power-off (TCG on a busy machine).
pub const GUEST_TIMEOUT: Duration = Duration::from_secs(300);

pub fn root() -> PathBuf {
    testkit::process::workspace_root()
}

/// Whether the VM can run here. In CI a missing tool is a failure; outside
/// CI the test is skipped with a message.
pub fn vm_available(extra: &[&str]) -> bool {
    let needed = [
        "qemu-system-x86_64",
        "busybox",
        "v4l2-ctl",
        "depmod",
        "cpio",
        "gcc",
        "ffprobe",
    ];
    let missing: Vec<&str> = needed
        .iter()
        .chain(extra)
        .copied()
        .filter(|c| !have(c))
        .collect();
    if missing.is_empty() {
        return true;
    }
    let msg = format!(
        "VM test prerequisites missing: {} (scripts/install-test-deps.sh installs them)",
        missing.join(" ")
    );
    if std::env::var_os("CI").is_some_and(|v| v == "true") {
        panic!("{msg}");
    }
    eprintln!("SKIPPED: {msg}");
    false
}

/// Runs `cmd` to completion with a deadline; its output, or an error with it.
fn run_bounded(cmd: &mut Command, name: &str, timeout: Duration) -> Result<String> {
    let (status, log) = testkit::process::run_bounded(cmd, name, timeout)?;
    if !status.success() {
        bail!("{name} failed ({status}):\n{log}");
    }
    Ok(log)
}

/// `scripts/vm-capture.sh prepare` (cached in ~/.cache/camera-system/vm, one at a time).
pub fn prepare(vimc: bool) {
    let started = Instant::now();
    let mut cmd = Command::new("bash");
    cmd.arg(root().join("scripts/vm-capture.sh")).arg("prepare");
    if vimc {
        cmd.arg("--vimc");
    }
    let log = run_bounded(&mut cmd, "vm-capture prepare", PREPARE_TIMEOUT)
        .unwrap_or_else(|e| panic!("preparing the VM kernel and modules failed: {e:#}"));
    eprintln!(
        "vm prepare: {:.1} s\n{}",
        started.elapsed().as_secs_f64(),
        log.trim()
    );
}

/// Boots the guest with `share` (holding `guest.sh`) and waits for it to
/// power off. Returns the guest's log; panics (with the console) if the
/// guest did not finish. One guest at a time: a TCG guest takes both cores,
/// and the guests' frame-rate checks assume it has them.
pub fn boot(share: &Path, modules: &str, bins: &[String], libcamera: bool) -> String {
    let _machine = testkit::exclusive();
    let started = Instant::now();
    let mut cmd = Command::new("bash");
    cmd.arg(root().join("scripts/vm-capture.sh"))
        .arg("run")
        .arg("--share")
        .arg(share)
        .args(["--modules", modules])
        .args(["--timeout", &GUEST_TIMEOUT.as_secs().to_string()]);
    for b in bins {
        cmd.args(["--bin", b]);
    }
    if libcamera {
        cmd.arg("--libcamera");
    }
    let result = run_bounded(
        &mut cmd,
        "vm-capture run",
        GUEST_TIMEOUT + Duration::from_secs(60),
    );
    let console = std::fs::read_to_string(share.join("console.log")).unwrap_or_default();
    let guest = std::fs::read_to_string(share.join("guest.log")).unwrap_or_default();
    match result {
        Ok(log) => eprintln!(
            "vm run: {:.1} s\n{}",
            started.elapsed().as_secs_f64(),
            log.trim()
        ),
        Err(e) => panic!("{e:#}\n--- console ---\n{console}\n--- guest.log ---\n{guest}"),
    }
    let rc = std::fs::read_to_string(share.join("guest.rc")).unwrap_or_default();
    assert_eq!(
        rc.trim(),
        "0",
        "guest.sh failed\n--- guest.log ---\n{guest}\n--- console ---\n{console}"
    );
    guest
}

/// A hub on the host's 127.0.0.1 with one agent camera per `(id, name)`
/// and one viewer account. The guest reaches it at 10.0.2.2:port.
pub fn start_hub(dir: &Path, cameras: &[(u32, &str)]) -> Result<AgentHub> {
    AgentHub::start(dir, cameras, "60s")
}

/// The ingest URL as the guest sees it.
pub fn guest_ingest_url(hub: &AgentHub) -> String {
    hub.ingest_url("10.0.2.2")
}

/// What ffprobe says about the first video stream; any error output fails.
#[derive(Debug, Clone, PartialEq)]
pub struct Probe {
    pub codec: String,
    pub width: u32,
    pub height: u32,
    pub frames: u64,
}

pub fn ffprobe(path: &Path) -> Result<Probe> {
    let p = testkit::ffprobe::probe(path)?;
    Ok(Probe {
        codec: p.codec,
        width: p.width as u32,
        height: p.height as u32,
        frames: p.frames,
    })
}

pub use testkit::mp4_files as segments;

/// Every segment in `dir` plays (ffprobe, H.264, `size`); their frames.
pub fn check_segments(dir: &Path, size: (u32, u32)) -> Vec<Probe> {
    let files = segments(dir);
    files
        .iter()
        .map(|f| {
            let p = ffprobe(f).unwrap_or_else(|e| panic!("{e:#}"));
            eprintln!("{}: {p:?}", f.display());
            assert_eq!(p.codec, "h264", "{}", f.display());
            assert_eq!((p.width, p.height), size, "{}", f.display());
            assert!(p.frames > 0, "{}", f.display());
            p
        })
        .collect()
}

/// The agent's config for a V4L2 device, recording 2 s segments into
/// `/tmp/rec-NAME` in the guest and uploading them to the hub.
pub fn agent_v4l2_config(
    hub: &AgentHub,
    id: u32,
    name: &str,
    device: &str,
    format: &str,
    (width, height, fps): (u32, u32, u32),
) -> String {
    format!(
        "hub_url = {url:?}\ncamera_id = {id}\ntoken = {token:?}\nstats_interval = \"5s\"\n\
         state_dir = \"/tmp/state-{name}\"\n\
         [source]\nkind = \"v4l2\"\nwidth = {width}\nheight = {height}\nfps = {fps}\njpeg_quality = 70\n\
         [source.v4l2]\ndevice = {device:?}\nformat = {format:?}\n\
         [record]\nenabled = true\ndir = \"/tmp/rec-{name}\"\nsegment_duration = \"2s\"\n\
         bitrate = \"400kbps\"\n[record.retention]\nmin_free = \"unlimited\"\n\
         [upload]\nenabled = true\nbackoff_initial = \"1s\"\nbackoff_max = \"2s\"\n",
        url = guest_ingest_url(hub),
        token = hub.token(id).expect("hub token"),
    )
}

/// Lines of `log` containing `needle`.
pub fn lines_with<'a>(log: &'a str, needle: &str) -> Vec<&'a str> {
    log.lines().filter(|l| l.contains(needle)).collect()
}

/// `text` without ANSI colour sequences (`ESC [ ... m`).
pub fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' && chars.peek() == Some(&'[') {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}
