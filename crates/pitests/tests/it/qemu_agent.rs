//! The cross-built agents run on (emulated) ARM: each is built by
//! scripts/build-pi.sh, started under qemu-user with the test pattern, pushes
//! frames to the x86 hub on loopback (read back from the hub's MJPEG API) and
//! records H.264 segments that ffprobe accepts.
//!
//! - aarch64-unknown-linux-gnu under `qemu-aarch64` (Pi 3/4/5, Zero 2 W, 64-bit OS);
//! - arm-unknown-linux-musleabihf under `qemu-arm -cpu arm1176`: the Pi Zero W's
//!   CPU, so an ARMv7 instruction anywhere in the binary would be SIGILL.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::common::{
    agent_records, build_pi, cpu_arch, ffprobe, have, run_bounded, segments, start_hub,
};
use testkit::process::{Signal, spawn_logged};

#[test]
fn aarch64_agent_pushes_and_records_under_qemu() {
    push_and_record(
        "aarch64-unknown-linux-gnu",
        "AArch64",
        &["qemu-aarch64", "-L", "/usr/aarch64-linux-gnu"],
    );
}

#[test]
fn armv6_agent_pushes_and_records_on_arm1176() {
    push_and_record(
        "arm-unknown-linux-musleabihf",
        "v6",
        &["qemu-arm", "-cpu", "arm1176"],
    );
}

fn push_and_record(target: &str, want_arch: &str, qemu: &[&str]) {
    let Some(agent) = build_pi(target, "agent") else {
        return;
    };
    assert_eq!(cpu_arch(&agent), want_arch, "{}", agent.display());
    assert!(
        have(qemu[0]),
        "{} missing although build-pi.sh installs qemu-user",
        qemu[0]
    );
    let record = agent_records() && have("ffprobe");
    if !record {
        eprintln!(
            "NOTE: recording not tested (no [record] in agent/agent.example.toml, or no ffprobe)"
        );
    }

    // One emulated agent at a time (and not beside the systemd test).
    let _machine = testkit::exclusive();
    let tmp = tempfile::tempdir().unwrap();
    let hub = start_hub(tmp.path()).unwrap();
    let token = hub.token(1).unwrap();
    let (state, rec) = (tmp.path().join("state"), tmp.path().join("rec"));
    std::fs::create_dir(&state).unwrap();
    let mut cfg = format!(
        "hub_url = {url:?}\ncamera_id = 1\ntoken = {token:?}\nstats_interval = \"5s\"\nstate_dir = {state:?}\n\
         [source]\nkind = \"testsrc\"\nwidth = 320\nheight = 240\nfps = 5\n",
        url = hub.ingest_url("127.0.0.1"),
        state = state.to_str().unwrap(),
    );
    if record {
        cfg += &format!(
            "[record]\nenabled = true\ndir = {rec:?}\nsegment_duration = \"2s\"\ngop = 5\nbitrate = \"300kbps\"\n",
            rec = rec.to_str().unwrap()
        );
    }
    let cfg_path = tmp.path().join("agent.toml");
    std::fs::write(&cfg_path, cfg).unwrap();
    let under_qemu = |args: &[&str]| {
        let mut c = Command::new(qemu[0]);
        c.args(&qemu[1..])
            .arg(&agent)
            .args(args)
            .arg("--config")
            .arg(&cfg_path);
        c.env("RUST_LOG", "info");
        c
    };
    if record {
        let (status, log) = run_bounded(
            &mut under_qemu(&["setup-recording"]),
            "agent setup-recording",
            Duration::from_secs(60),
        )
        .unwrap();
        assert!(status.success(), "setup-recording: {log}");
    }

    let started = Instant::now();
    let mut agent_guard = spawn_logged(&mut under_qemu(&[]), &format!("agent ({target})")).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let frames = rt
        .block_on(hub.frames("pi", 5, Duration::from_secs(30)))
        .unwrap_or_else(|e| {
            panic!(
                "frames from the hub: {e:#}\nagent log:\n{}",
                agent_guard.log()
            )
        });
    eprintln!(
        "{target}: 5 frames through the hub after {:.1} s",
        started.elapsed().as_secs_f64()
    );
    for f in &frames {
        assert!(
            f.body.starts_with(&[0xFF, 0xD8]) && f.body.ends_with(&[0xFF, 0xD9]),
            "not a JPEG"
        );
    }
    agent_guard
        .wait_for_log("first frame captured", Duration::from_secs(5))
        .unwrap();

    if record {
        let deadline = Instant::now() + Duration::from_secs(90);
        while segments(&rec).len() < 2 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(250));
        }
        assert!(
            segments(&rec).len() >= 2,
            "no finished segment in 90 s: {:?}\n{}",
            segments(&rec),
            agent_guard.log()
        );
    }
    agent_guard.signal(Signal::Term).unwrap();
    let status = agent_guard.wait_timeout(Duration::from_secs(30)).unwrap();
    assert!(
        status.success(),
        "agent exit {status}: {}",
        agent_guard.log()
    );
    if record {
        check_segments(&rec);
    }
}

fn check_segments(rec: &Path) {
    let files = segments(rec);
    assert!(files.len() >= 2, "{files:?}");
    for f in &files {
        let (codec, frames) = ffprobe(f).unwrap();
        eprintln!("{}: {codec}, {frames} frames", f.display());
        assert_eq!(codec, "h264");
        assert!(frames > 0, "{}: no frames", f.display());
    }
}
