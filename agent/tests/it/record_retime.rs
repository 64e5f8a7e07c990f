//! The agent's start-up recovery repairs segments recorded before every file's media
//! time started at 0 (a run's second 3 s segment used to run from 3 s to 6 s): the
//! `agent` binary rewrites them to start at 0, keeps their names and upload marks,
//! finishes a repair a crash cut short, and says so in its log.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::common::{config_text, ffprobe, have_ffprobe};
use codec::{EncoderSettings, H264Encoder};
use media::fmp4::{FragmentPolicy, Fragmenter, Sample, init_segment};
use media::{Duration90k, Frame, Time90k, TrackConfig};
use testkit::process::{Signal, bin_path, spawn_logged};

const FPS: i64 = 10;

/// A 3 s segment of the test pattern (10 fps, a key frame a second) written the old
/// way: its decode times continue a run from `start_secs`.
fn old_style_segment(start_secs: i64) -> Vec<u8> {
    let mut enc = H264Encoder::new(EncoderSettings {
        width: 320,
        height: 240,
        fps: FPS as u32,
        bitrate_bps: 300_000,
        gop: FPS as u32,
    })
    .unwrap();
    let pattern = testpattern::Pattern::new(320, 240);
    let mut track: Option<TrackConfig> = None;
    let mut frag = Fragmenter::new(FragmentPolicy::default());
    let mut body = Vec::new();
    for i in 0..3 * FPS {
        let image = pattern.render(testpattern::Stamp {
            frame: i as u32,
            millis: i as u64 * 100,
        });
        let au = enc.encode(&image.to_i420()).unwrap().unwrap();
        if let (Some(sps), Some(pps)) = (au.sps(), au.pps()) {
            track.get_or_insert(TrackConfig::h264(sps, pps).unwrap());
        }
        let dts = Time90k((start_secs * FPS + i) * 9000);
        let f = Frame::from_access_unit(&au, dts).unwrap();
        let sample = Sample {
            data: f.data,
            dts,
            pts: dts,
            duration: Duration90k(9000),
            is_key: f.is_key,
        };
        if let Some(done) = frag.push(sample).unwrap() {
            done.append_to(&mut body);
        }
    }
    frag.flush().unwrap().unwrap().append_to(&mut body);
    let mut file = init_segment(&track.unwrap()).unwrap();
    file.extend(body);
    file
}

fn first_dts(path: &Path) -> Option<Time90k> {
    media::recover(&std::fs::read(path).unwrap())
        .unwrap()
        .first_dts
}

#[test]
fn start_up_recovery_moves_old_segments_to_start_at_0_and_logs_it() {
    let tmp = tempfile::tempdir().unwrap();
    let (state, rec) = (tmp.path().join("state"), tmp.path().join("rec"));
    std::fs::create_dir(&state).unwrap();
    let cfg = tmp.path().join("agent.toml");
    std::fs::write(
        &cfg,
        config_text(
            &state,
            &rec,
            "segment_duration = \"3s\"",
            "kind = \"testsrc\"\nwidth = 320\nheight = 240\nfps = 10",
        ),
    )
    .unwrap();
    let out = Command::new(bin_path("agent"))
        .args(["setup-recording", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");

    // What an older agent left: a run's second segment (from 4 s, uploaded already)
    // and third (from 7 s), and a repair of a fourth cut short by a crash (its
    // complete copy not yet in place).
    // An hour ago (within retention).
    let t0 = agent::source::wall_millis() as i64 - 3_600_000;
    let names: Vec<String> = (0..3)
        .map(|i| store::segment_name(t0 + i * 3000).unwrap())
        .collect();
    let old: Vec<Vec<u8>> = [4, 7, 10].into_iter().map(old_style_segment).collect();
    for (name, bytes) in names.iter().zip(&old) {
        std::fs::write(rec.join(name), bytes).unwrap();
    }
    std::fs::write(rec.join(format!("{}.uploaded", names[0])), b"").unwrap();
    let copy = rec.join(format!("{}{}", names[2], store::RETIMED_EXT));
    store::write_retimed_copy(&rec.join(&names[2]), &copy)
        .unwrap()
        .unwrap();
    assert_eq!(first_dts(&rec.join(&names[0])), Some(Time90k(4 * 90_000)));
    if have_ffprobe() {
        let p = ffprobe(&rec.join(&names[0])).unwrap();
        assert_eq!((p.start_time, p.duration), (4.0, 7.0), "made the old way");
    }

    let log = run_agent(&cfg);

    for (name, was) in [(&names[0], "4"), (&names[1], "7")] {
        let line = log
            .lines()
            .find(|l| {
                l.contains("moved a segment's media time to start at 0")
                    && l.contains(name.as_str())
            })
            .unwrap_or_else(|| panic!("no log line for {name}:\n{log}"));
        assert!(
            line.contains(&format!("started_at_seconds={was}")),
            "{line}"
        );
    }
    assert!(
        log.lines().any(
            |l| l.contains("finished moving a segment's media time to start at 0")
                && l.contains(names[2].as_str())
        ),
        "{log}"
    );
    for (name, bytes) in names.iter().zip(&old) {
        let path = rec.join(name);
        assert_eq!(first_dts(&path), Some(Time90k::ZERO), "{name}");
        assert_eq!(std::fs::metadata(&path).unwrap().len(), bytes.len() as u64);
        if have_ffprobe() {
            let p = ffprobe(&path).unwrap();
            assert_eq!(
                (p.start_time, p.duration, p.frames),
                (0.0, 3.0, 30),
                "{name}: {p:?}"
            );
        }
    }
    assert!(rec.join(format!("{}.uploaded", names[0])).exists());
    assert!(!copy.exists());

    // The next start has nothing to repair and says nothing about it.
    let log = run_agent(&cfg);
    assert!(!log.contains("media time"), "{log}");
}

/// Runs the agent until it starts recording, stops it (SIGTERM, exit 0); its log.
fn run_agent(cfg: &Path) -> String {
    let mut child = spawn_logged(
        Command::new(bin_path("agent")).arg("--config").arg(cfg),
        "agent",
    )
    .unwrap();
    child
        .wait_for_log("first segment started", Duration::from_secs(20))
        .unwrap();
    child.signal(Signal::Term).unwrap();
    assert!(
        child
            .wait_timeout(Duration::from_secs(15))
            .unwrap()
            .success(),
        "{}",
        child.log()
    );
    plain(&child.log())
}

/// `text` without terminal colour sequences (`ESC [ ... m`).
fn plain(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c == 'm' {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}
