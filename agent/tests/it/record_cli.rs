//! The binary with recording on: `setup-recording`, `status`, and the refusal to record into
//! a directory that is not this camera's (while live capture goes on).

use std::process::Command;
use std::time::{Duration, Instant};

use crate::common::config_text;
use agent::record::status::{AgentStatus, read_status};
use testkit::process::{Signal, bin_path, signal, spawn_logged};

fn agent(args: &[&str], cfg: &std::path::Path) -> std::process::Output {
    Command::new(bin_path("agent"))
        .args(args)
        .arg("--config")
        .arg(cfg)
        .output()
        .unwrap()
}

fn wait_status(
    state: &std::path::Path,
    what: &str,
    ok: impl Fn(&AgentStatus) -> bool,
) -> AgentStatus {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if let Ok(s) = read_status(state)
            && ok(&s)
        {
            return s;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: {:?}",
            read_status(state)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn setup_record_and_status_report_segments_and_forecast() {
    let tmp = tempfile::tempdir().unwrap();
    let (state, rec) = (tmp.path().join("state"), tmp.path().join("rec"));
    std::fs::create_dir(&state).unwrap();
    let cfg = tmp.path().join("agent.toml");
    std::fs::write(
        &cfg,
        config_text(
            &state,
            &rec,
            "segment_duration = \"1s\"\ngop = 5\n[record.retention]\nmax_size = \"50MiB\"\nmin_free = \"unlimited\"",
            "kind = \"testsrc\"\nwidth = 320\nheight = 240\nfps = 10",
        ),
    )
    .unwrap();
    let out = agent(&["check-config"], &cfg);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && text.contains("record") && text.contains("max_size 52428800 bytes"),
        "{text}"
    );
    let out = agent(&["setup-recording"], &cfg);
    assert!(out.status.success(), "{out:?}");
    assert!(rec.join(".camera-recordings").is_file());

    let mut child = spawn_logged(
        Command::new(bin_path("agent")).arg("--config").arg(&cfg),
        "agent",
    )
    .unwrap();
    let s = wait_status(&state, "two segments finished", |s| {
        s.record.state == "recording" && s.record.segments_finished >= 2
    });
    assert!(s.record.forecast_days.is_some(), "{s:?}");
    let out = agent(&["status"], &cfg);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{out:?}");
    assert!(text.contains("recording: recording"), "{text}");
    assert!(text.contains("segments: "), "{text}");
    assert!(text.contains("days of footage"), "{text}");
    assert!(
        text.contains("limited by size"),
        "50 MiB is the binding limit: {text}"
    );
    signal(&child, Signal::Term).unwrap();
    assert!(
        child
            .wait_timeout(Duration::from_secs(15))
            .unwrap()
            .success(),
        "{}",
        child.log()
    );
    let out = agent(&["status", "--json"], &cfg);
    let s: AgentStatus = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(s.record.state, "stopped");
    assert!(s.record.segments >= 2);
    assert_eq!(s.record.frames_written, s.record.frames_offered);
}

#[test]
fn an_unmarked_or_missing_directory_is_refused_and_live_capture_goes_on() {
    for case in ["unmarked", "missing"] {
        let tmp = tempfile::tempdir().unwrap();
        let (state, rec) = (tmp.path().join("state"), tmp.path().join("mnt").join("rec"));
        std::fs::create_dir(&state).unwrap();
        std::fs::create_dir(tmp.path().join("mnt")).unwrap();
        if case == "unmarked" {
            // E.g. a USB disk's mount point with the disk missing, or someone
            // else's directory.
            std::fs::create_dir(&rec).unwrap();
            std::fs::write(rec.join("notes.txt"), "not recordings").unwrap();
        }
        let cfg = tmp.path().join("agent.toml");
        std::fs::write(
            &cfg,
            config_text(
                &state,
                &rec,
                "segment_duration = \"1s\"",
                "kind = \"testsrc\"\nwidth = 320\nheight = 240\nfps = 10",
            ),
        )
        .unwrap();
        let mut child = spawn_logged(
            Command::new(bin_path("agent")).arg("--config").arg(&cfg),
            "agent",
        )
        .unwrap();
        let s = wait_status(&state, "live capture running", |s| s.frames_captured >= 20);
        assert_eq!(s.record.state, "waiting", "{case}: {s:?}");
        let err = s.record.error.clone().unwrap_or_default();
        let expected = if case == "unmarked" {
            "not a recordings directory"
        } else {
            "missing"
        };
        assert!(err.contains(expected), "{case}: {err}");
        assert!(child.log().contains(expected), "{case}: logged");
        signal(&child, Signal::Term).unwrap();
        assert!(
            child
                .wait_timeout(Duration::from_secs(15))
                .unwrap()
                .success()
        );
        // Nothing was written there (and nothing created).
        match case {
            "unmarked" => {
                let names: Vec<_> = std::fs::read_dir(&rec)
                    .unwrap()
                    .map(|e| e.unwrap().file_name())
                    .collect();
                assert_eq!(names, vec![std::ffi::OsString::from("notes.txt")]);
            }
            _ => assert!(!rec.exists()),
        }
    }
}

/// SIGTERM a few seconds into a 60 s segment: the agent exits 0, the segment is closed
/// (no `.partial`) and plays to its end: ffprobe decodes as many frames as were captured.
#[test]
fn sigterm_in_the_middle_of_a_segment_closes_it_playable() {
    let tmp = tempfile::tempdir().unwrap();
    let (state, rec) = (tmp.path().join("state"), tmp.path().join("rec"));
    std::fs::create_dir(&state).unwrap();
    let cfg = tmp.path().join("agent.toml");
    std::fs::write(
        &cfg,
        config_text(
            &state,
            &rec,
            "segment_duration = \"60s\"",
            "kind = \"testsrc\"\nwidth = 320\nheight = 240\nfps = 10",
        ),
    )
    .unwrap();
    assert!(agent(&["setup-recording"], &cfg).status.success());
    let mut child = spawn_logged(
        Command::new(bin_path("agent")).arg("--config").arg(&cfg),
        "agent",
    )
    .unwrap();
    child
        .wait_for_log("first segment started", Duration::from_secs(15))
        .unwrap();
    let started = Instant::now();
    std::thread::sleep(Duration::from_secs(4));
    signal(&child, Signal::Term).unwrap();
    let status = child.wait_timeout(Duration::from_secs(15)).unwrap();
    let ran = started.elapsed().as_secs_f64();
    assert!(status.success(), "{status}: {}", child.log());
    let partial: Vec<_> = std::fs::read_dir(&rec)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".partial"))
        .collect();
    assert!(partial.is_empty(), "left open: {partial:?}");
    let segs = crate::common::segments(&rec);
    assert_eq!(segs.len(), 1, "{segs:?}");
    let info = media::probe(&std::fs::read(&segs[0]).unwrap()).unwrap();
    assert!(info.is_complete(), "torn tail");
    if crate::common::have_ffprobe() {
        let p = crate::common::ffprobe(&segs[0]).unwrap();
        // 10 fps from the segment's first frame to the signal (at most one GOP of 1 s
        // may be cut when the encoder's last fragment is not flushed).
        assert!(
            p.frames as f64 >= (ran - 1.5) * 10.0 && p.frames as f64 <= (ran + 1.0) * 10.0,
            "{} frames in {:.2} s after {ran:.2} s of capture",
            p.frames,
            p.seconds
        );
        eprintln!(
            "SIGTERM {ran:.2} s into a segment: closed, {} frames, {:.2} s",
            p.frames, p.seconds
        );
    } else {
        assert!(std::env::var_os("CI").is_none(), "CI must have ffprobe");
    }
}
