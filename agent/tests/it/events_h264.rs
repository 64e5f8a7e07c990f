//! Motion on an H.264 source between key frames, through the real path: a stand-in
//! `rpicam-vid` writes, at 10 fps, a scripted scene (`testpattern::scene`) encoded with
//! openh264 at a 10 s GOP, as `rpicam-vid --codec h264 --inline` does while recording; the
//! in-process agent decodes every access unit for its detector and sends the events to the
//! `hub` binary. What happens in the scene happens between key frames, where the key-frame
//! live JPEGs see nothing. The stand-in logs the wall-clock time it wrote each frame, so
//! the event's start and end are checked against the moments the object entered and left.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;
use tokio_util::sync::CancellationToken;

use super::events::{RED, get, hub_setup, motion_events, red_pixels, stop_agent, wait_events};

const FPS: u32 = 10;
/// Key frames every 10 s.
const GOP: u32 = 100;
/// Detected start and end are within this of the script's (two analysed frames at 5 fps,
/// plus the pipeline's latency).
const TOLERANCE_MS: i64 = 500;

/// The scene's TOML: 640x480, sensor noise, `extra` (objects, lighting).
fn scene(seconds: f64, extra: &str) -> testpattern::scene::Scene {
    toml::from_str(&format!(
        "width = 640\nheight = 480\nfps = {FPS}\nduration_s = {seconds}\nseed = 11\nnoise = 2.0\n{extra}"
    ))
    .unwrap()
}

/// A red box crossing the picture from `enter_s` (its right edge at the left border) to
/// `leave_s` (its left edge at the right border).
fn crossing(enter_s: f64, leave_s: f64) -> String {
    format!(
        "[[object]]\ncolor = [{}, {}, {}]\nsize = [0.15, 0.35]\npath = [[{enter_s}, -0.075, 0.6], [{leave_s}, 1.075, 0.6]]\n",
        RED[0], RED[1], RED[2]
    )
}

/// Encodes `scene` (every frame) at the GOP, one file of Annex B per access unit, and a
/// stand-in `rpicam-vid` that writes them 0.1 s apart (the pause runs beside the writing,
/// so the rate stays near 10 fps on a busy machine), appending the wall-clock ms after
/// each to `times`, then waits to be stopped.
fn stand_in(dir: &Path, scene: &testpattern::scene::Scene) -> PathBuf {
    let frames = dir.join("frames");
    std::fs::create_dir_all(&frames).unwrap();
    let r = scene.renderer();
    let pictures = (0..scene.frame_count()).map(|i| r.render(i, scene.frame_millis(i)).to_i420());
    let size = (scene.width as usize, scene.height as usize);
    let units = testkit::h264::encode_pictures(pictures, size, FPS, GOP, 1_000_000);
    let mut keys = Vec::new();
    for (i, annexb) in units.iter().enumerate() {
        if media::h264::AccessUnit::from_annexb(annexb).is_key {
            keys.push(i as u64);
        }
        std::fs::write(frames.join(format!("{i:05}.h264")), annexb).unwrap();
    }
    let want: Vec<u64> = (0..scene.frame_count()).step_by(GOP as usize).collect();
    assert_eq!(keys, want, "key frames only at the GOP");
    let script = dir.join("rpicam-vid");
    let d = dir.display();
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\nfor f in {d}/frames/*.h264; do sleep 0.1 & cat \"$f\"; date +%s%3N >> {d}/times; wait; done\nexec sleep 600\n"
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    script
}

/// The wall-clock ms the stand-in wrote each frame.
fn write_times(dir: &Path) -> Vec<i64> {
    std::fs::read_to_string(dir.join("times"))
        .unwrap_or_default()
        .lines()
        .map(|l| l.trim().parse().unwrap())
        .collect()
}

/// Starts the hub and the agent (rpicam source through the stand-in, recording on, so
/// `rpicam-vid` is asked for H.264); runs until the stand-in has written every frame.
async fn run_scene(
    dir: &Path,
    scene: &testpattern::scene::Scene,
) -> (
    testkit::hub::HubSetup,
    testkit::process::ChildGuard,
    Vec<i64>,
) {
    let script = stand_in(dir, scene);
    let (setup, token) = hub_setup(dir);
    let hub = setup.start_async().await.unwrap();
    let cfg_path = dir.join("agent.toml");
    std::fs::write(
        &cfg_path,
        format!(
            "hub_url = \"{}\"\ncamera_id = 1\ntoken = \"{token}\"\nstate_dir = {:?}\n\
             [source]\nkind = \"rpicam\"\nwidth = 640\nheight = 480\nfps = {FPS}\n\
             [source.rpicam]\nbinary = {:?}\n\
             [record]\nenabled = true\ndir = {:?}\ngop = {GOP}\n\
             [upload]\nbackoff_max = \"2s\"\n\
             [motion]\nmin_duration = \"1s\"\ncooldown = \"3s\"\n",
            setup.ingest_url(),
            dir.join("state").display().to_string(),
            script.display().to_string(),
            dir.join("rec").display().to_string(),
        ),
    )
    .unwrap();
    agent::cmds::setup_recording::run(&cfg_path).unwrap();
    let cancel = CancellationToken::new();
    let run = tokio::spawn(agent::cmds::run::run_with(
        agent::config::Config::load(&cfg_path).unwrap(),
        cancel.clone(),
    ));
    let all = scene.frame_count() as usize;
    let deadline = std::time::Instant::now() + Duration::from_secs(all as u64 / 5 + 30);
    while write_times(dir).len() < all {
        assert!(
            std::time::Instant::now() < deadline,
            "the stand-in wrote {} of {all} frames",
            write_times(dir).len()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // The last frames reach the detector and a last event's end the hub.
    tokio::time::sleep(Duration::from_secs(3)).await;
    stop_agent(cancel, run).await;
    (setup, hub, write_times(dir))
}

/// The one event `events` holds starts when frame `enter` was written and ends when
/// frame `leave` was, each within [`TOLERANCE_MS`]; its thumbnail shows the object.
async fn check_one_event(
    setup: &testkit::hub::HubSetup,
    events: &[Value],
    times: &[i64],
    (enter, leave): (usize, usize),
) {
    assert_eq!(events.len(), 1, "{events:?}");
    let e = &events[0];
    let (start, end) = (
        e["start_ms"].as_i64().unwrap(),
        e["end_ms"].as_i64().expect("ended"),
    );
    let (want_start, want_end) = (times[enter], times[leave]);
    eprintln!(
        "event {start}..{end}; object in view {want_start}..{want_end}: start off by {} ms, end by {} ms",
        start - want_start,
        end - want_end
    );
    assert!(
        (start - want_start).abs() <= TOLERANCE_MS && (end - want_end).abs() <= TOLERANCE_MS,
        "the event is {start}..{end}, the object was in view {want_start}..{want_end} \
         (off by {} / {} ms): {e}",
        start - want_start,
        end - want_end
    );
    let (status, jpeg) = get(setup, e["thumbnail"].as_str().expect("a thumbnail")).await;
    assert_eq!(status, 200);
    let (red, dims) = red_pixels(&jpeg);
    assert_eq!(dims, (320, 240));
    assert!(
        red > 1000,
        "{red} red pixels: the thumbnail does not show the object"
    );
}

/// The frame index at scene second `s`.
fn frame_at(s: f64) -> usize {
    (s * f64::from(FPS)).round() as usize
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn motion_between_key_frames_of_an_h264_source_is_one_event_at_the_scripted_times() {
    let dir = tempfile::tempdir().unwrap();
    // Key frames at 0 and 10 s; the object is in view from 3 s to 7 s.
    let (enter, leave) = (3.0, 7.0);
    let scene = scene(16.0, &crossing(enter, leave));
    let (setup, _hub, times) = run_scene(dir.path(), &scene).await;
    let events = wait_events(&setup, 20, |e| {
        !e.is_empty() && e.iter().all(|e| e["end_ms"].is_i64())
    })
    .await;
    check_one_event(&setup, &events, &times, (frame_at(enter), frame_at(leave))).await;
    assert_eq!(motion_events(&setup).await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_brightness_step_in_an_h264_source_is_no_motion() {
    let dir = tempfile::tempdir().unwrap();
    // Lights on at 4 s (between the key frames at 0 and 10 s); then, to show the
    // detector was watching all along, a crossing from 12 s to 15 s (before the key frame
    // at 20 s): one event, the crossing.
    let (enter, leave) = (12.0, 15.0);
    let scene = scene(
        22.0,
        &format!(
            "{}[[lighting]]\nkind = \"step\"\nat_s = 4.0\ngain = 1.3\noffset = 12.0\n",
            crossing(enter, leave)
        ),
    );
    let (setup, _hub, times) = run_scene(dir.path(), &scene).await;
    let events = wait_events(&setup, 20, |e| {
        !e.is_empty() && e.iter().all(|e| e["end_ms"].is_i64())
    })
    .await;
    check_one_event(&setup, &events, &times, (frame_at(enter), frame_at(leave))).await;
}
