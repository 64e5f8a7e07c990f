//! Helpers shared by the Pi tests: the cross build, the binaries' CPU, and an
//! x86 hub on loopback (`testkit::hub::AgentHub`) with one agent camera.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::Result;
use testkit::hub::AgentHub;

/// A cold cross build of the agent takes 5 (aarch64) to 17 (ARMv6, with
/// build-std) minutes on 2 busy cores; an up-to-date one a few seconds.
pub const BUILD_TIMEOUT: Duration = Duration::from_secs(45 * 60);

pub fn root() -> PathBuf {
    testkit::process::workspace_root()
}

pub use testkit::process::{have, run_bounded};

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
pub fn start_hub(dir: &Path) -> Result<AgentHub> {
    AgentHub::start(dir, &[(1, "pi")], "30s")
}

/// `ffprobe`'s codec and counted frames of the first video stream; any error
/// output is a failure.
pub fn ffprobe(path: &Path) -> Result<(String, u64)> {
    let p = testkit::ffprobe::probe(path)?;
    Ok((p.codec, p.frames))
}

pub use testkit::mp4_files as segments;

/// Whether the agent in this tree records (its example config has `[record]`).
pub fn agent_records() -> bool {
    std::fs::read_to_string(root().join("agent/agent.example.toml"))
        .is_ok_and(|t| t.contains("\n[record]"))
}
