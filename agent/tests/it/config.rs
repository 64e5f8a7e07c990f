//! The example configuration parses, defaults apply, and every bad value is reported with its key.

use std::time::Duration;

use agent::config::{Config, ConfigError, SourceKind, V4l2Format};

const MINIMAL: &str = r#"
hub_url = "ws://127.0.0.1:8080/video-input-stream"
camera_id = 3
token = "abc"
[source]
kind = "testsrc"
"#;

#[test]
fn the_example_parses_with_the_documented_values() {
    let text = include_str!("../../agent.example.toml");
    let c = Config::parse(text).expect("agent.example.toml is valid");
    assert_eq!(c.hub_url, "ws://hub.local:8080/video-input-stream");
    assert_eq!(c.camera_id, 1);
    assert!(c.token.is_none());
    assert_eq!(
        c.token_file.as_deref(),
        Some(std::path::Path::new("/etc/camera-agent/token"))
    );
    assert_eq!(c.source.kind, SourceKind::Testsrc);
    assert_eq!(
        (c.source.width, c.source.height, c.source.fps),
        (1280, 720, 10)
    );
    assert_eq!(c.source.v4l2.format, V4l2Format::Auto);
    assert_eq!(c.source.rpicam.max_frame_size.0, 4 << 20);
    assert_eq!(c.uplink.queue_frames, 4);
    assert_eq!(c.uplink.backoff_initial.0, Duration::from_millis(500));
    assert_eq!(c.uplink.backoff_max.0, Duration::from_secs(30));
}

#[test]
fn the_example_documents_every_key_it_sets() {
    // Each `key = value` line, or block of them, has a comment above it.
    let text = include_str!("../../agent.example.toml");
    let lines: Vec<&str> = text.lines().map(str::trim).collect();
    let is_key = |l: &str| !l.is_empty() && !l.starts_with('#') && !l.starts_with('[');
    let mut keys = 0;
    for (i, l) in lines.iter().enumerate() {
        if !is_key(l) {
            continue;
        }
        keys += 1;
        let above = lines[..i].iter().rev().find(|l| !is_key(l));
        assert!(
            above.is_some_and(|a| a.starts_with('#')),
            "line {} ({l}) has no comment above it",
            i + 1
        );
    }
    assert!(keys >= 19, "{keys} keys");
}

#[test]
fn defaults_match_the_example() {
    let minimal = Config::parse(MINIMAL).unwrap();
    let example = Config::parse(include_str!("../../agent.example.toml")).unwrap();
    assert_eq!(minimal.source.width, example.source.width);
    assert_eq!(minimal.source.height, example.source.height);
    assert_eq!(minimal.source.fps, example.source.fps);
    assert_eq!(minimal.source.jpeg_quality, example.source.jpeg_quality);
    assert_eq!(minimal.source.v4l2.device, example.source.v4l2.device);
    assert_eq!(minimal.source.v4l2.buffers, example.source.v4l2.buffers);
    assert_eq!(minimal.source.rpicam.binary, example.source.rpicam.binary);
    assert_eq!(
        minimal.source.rpicam.max_frame_size,
        example.source.rpicam.max_frame_size
    );
    assert_eq!(minimal.uplink.queue_frames, example.uplink.queue_frames);
    assert_eq!(
        minimal.uplink.backoff_initial,
        example.uplink.backoff_initial
    );
    assert_eq!(minimal.uplink.backoff_max, example.uplink.backoff_max);
    assert_eq!(
        minimal.uplink.connect_timeout,
        example.uplink.connect_timeout
    );
    assert_eq!(minimal.uplink.send_timeout, example.uplink.send_timeout);
    assert_eq!(minimal.stats_interval, example.stats_interval);
    assert_eq!(minimal.state_dir, example.state_dir);
    let (m, e) = (&minimal.record, &example.record);
    assert_eq!(m.enabled, e.enabled);
    assert_eq!(m.dir, e.dir);
    assert_eq!(m.segment_duration, e.segment_duration);
    assert_eq!(m.fragment, e.fragment);
    assert_eq!(m.bitrate, e.bitrate);
    assert_eq!(m.gop, e.gop);
    assert_eq!(m.retention.max_age, e.retention.max_age);
    assert_eq!(m.retention.max_size, e.retention.max_size);
    assert_eq!(m.retention.min_free, e.retention.min_free);
}

#[test]
fn record_section_values() {
    let c = Config::parse(&format!(
        "{MINIMAL}[record]\nenabled = true\ndir = \"/mnt/usb/cam3\"\nsegment_duration = \"2m\"\nfragment = \"1s\"\nbitrate = \"2Mbps\"\ngop = 20\n[record.retention]\nmax_age = \"unlimited\"\nmax_size = \"unlimited\"\nmin_free = \"512MiB\"\n"
    ))
    .unwrap();
    let r = &c.record;
    assert!(r.enabled);
    assert_eq!(r.segment_duration.0, Duration::from_secs(120));
    assert_eq!(r.fragment, agent::config::FragmentMode::OneSecond);
    assert_eq!(r.bitrate.0, 2_000_000);
    assert_eq!(r.gop_frames(c.source.fps), 20);
    assert_eq!(r.retention.max_age.0, None);
    assert_eq!(r.retention.max_size.0, None);
    assert_eq!(r.retention.min_free.0.map(|b| b.0), Some(512 << 20));
    let default = Config::parse(MINIMAL).unwrap();
    assert!(!default.record.enabled);
    assert_eq!(
        default.record.gop_frames(10),
        10,
        "one key frame per second"
    );
    assert_eq!(
        default.record.retention.max_age.0.map(|d| d.0),
        Some(Duration::from_secs(14 * 86_400))
    );
}

/// `MINIMAL` with `edit` applied must fail, naming `key` (and `reason`).
fn check(edit: impl Fn(&str) -> String, key: &str, reason: &str) {
    let text = edit(MINIMAL);
    let err = Config::parse(&text).expect_err(&text);
    let msg = err.to_string();
    assert!(msg.contains(key), "error for {key} does not name it: {msg}");
    assert!(
        msg.contains(reason),
        "error for {key} lacks {reason:?}: {msg}"
    );
}

fn append(extra: &'static str) -> impl Fn(&str) -> String {
    move |s| format!("{s}{extra}\n")
}

fn replace(from: &'static str, to: &'static str) -> impl Fn(&str) -> String {
    move |s| {
        assert!(s.contains(from));
        s.replace(from, to)
    }
}

#[test]
fn bad_configs_name_the_key() {
    check(append("fpss = 3"), "fpss", "unknown field");
    check(append("fps = \"fast\""), "fps", "invalid type");
    check(append("fps = 0"), "source.fps", "1..=120");
    check(append("width = 4"), "source.width", "must be in");
    check(
        append("jpeg_quality = 101"),
        "source.jpeg_quality",
        "1..=100",
    );
    check(append("kind2 = 1"), "kind2", "unknown field");
    check(
        replace("kind = \"testsrc\"", "kind = \"webcam\""),
        "webcam",
        "unknown variant",
    );
    check(replace("kind = \"testsrc\"", ""), "kind", "missing field");
    check(
        append("[source.v4l2]\nformat = \"h265\""),
        "h265",
        "unknown variant",
    );
    check(
        append("[record]\nsegment_duration = \"500ms\""),
        "record.segment_duration",
        "at least 1s",
    );
    check(
        append("[record]\nfragment = \"2s\""),
        "2s",
        "unknown variant",
    );
    check(
        append("[record]\nbitrate = \"fast\""),
        "bitrate",
        "invalid bitrate",
    );
    check(
        append("[record]\nbitrate = 1000"),
        "record.bitrate",
        "50kbps",
    );
    check(append("[record]\ngop = 0"), "record.gop", "1..=600");
    check(append("[record]\nenable = true"), "enable", "unknown field");
    check(
        append("[record.retention]\nmax_age = \"0s\""),
        "record.retention.max_age",
        "unlimited",
    );
    // An old file's zero floor is refused with the form to write instead.
    check(
        append("[record.retention]\nmin_free = \"0B\""),
        "record.retention.min_free",
        "\"unlimited\"",
    );
    check(
        append("[record.retention]\nmax_size = \"lots\""),
        "max_size",
        "unlimited",
    );
    check(
        append("[source.rpicam]\nmax_frame_size = \"4 parsecs\""),
        "max_frame_size",
        "invalid size",
    );
    check(
        append("[source.rpicam]\nmax_frame_size = \"64MiB\""),
        "source.rpicam.max_frame_size",
        "must not exceed",
    );
    check(
        append("[uplink]\nbackoff_max = \"30 fortnights\""),
        "backoff_max",
        "invalid duration",
    );
    check(
        append("[uplink]\nbackoff_initial = \"10s\"\nbackoff_max = \"1s\""),
        "uplink.backoff_max",
        "at least",
    );
    check(
        append("[uplink]\nqueue_frames = 0"),
        "uplink.queue_frames",
        "1..=1024",
    );
    check(
        append("[uplink]\nsend_timeout = \"0s\""),
        "uplink.send_timeout",
        "more than 0s",
    );
    check(
        replace("camera_id = 3", "camera_id = 0"),
        "camera_id",
        "1 or more",
    );
    check(
        replace("camera_id = 3", "camera_id = -1"),
        "camera_id",
        "invalid value",
    );
    check(replace("ws://", "http://"), "hub_url", "ws://");
    check(replace("ws://", "wss://"), "hub_url", "not supported");
    check(
        replace("ws://127.0.0.1", "ws://u:p@127.0.0.1"),
        "hub_url",
        "credentials",
    );
    check(replace("token = \"abc\"", ""), "token_file", "missing");
    check(|s| format!("token_file = \"/x\"\n{s}"), "token", "not both");
    check(replace("token = \"abc\"", "token = \"\""), "token", "empty");
}

#[test]
fn token_file_is_read_and_trimmed_and_never_in_debug() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("token");
    std::fs::write(&path, "  s3cr3t-token\n").unwrap();
    let text = MINIMAL.replace(
        "token = \"abc\"",
        &format!("token_file = {:?}", path.to_str().unwrap()),
    );
    let c = Config::parse(&text).unwrap();
    let token = c.load_token().unwrap();
    assert_eq!(token.expose(), "s3cr3t-token");
    assert!(!format!("{token:?}{c:?}").contains("s3cr3t"));
    let inline = Config::parse(MINIMAL).unwrap();
    assert!(!format!("{inline:?}").contains("\"abc\""));

    std::fs::write(&path, "\n").unwrap();
    let err = c.load_token().unwrap_err();
    assert!(
        matches!(
            err,
            ConfigError::Invalid {
                key: "token_file",
                ..
            }
        ),
        "{err}"
    );
    std::fs::remove_file(&path).unwrap();
    let err = c.load_token().unwrap_err().to_string();
    assert!(
        err.contains("token_file") && err.contains("cannot read"),
        "{err}"
    );
}

#[test]
fn a_missing_file_is_reported_with_its_path() {
    let err = Config::load(std::path::Path::new("/nonexistent/agent.toml")).unwrap_err();
    assert!(err.to_string().contains("/nonexistent/agent.toml"), "{err}");
}
