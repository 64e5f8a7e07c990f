//! Every recorded file plays from 0 with its own length, whichever source made it:
//! the hub's demo camera, an RTSP camera (the GStreamer test server), a Reolink
//! camera (the simulator), the agent's test pattern (the `agent` binary: its own
//! files and the copies it uploads) and a segment an agent from before files started
//! at 0 uploads. Checked on a segment that is not the first of its run (the first
//! always started at 0): ffprobe's `start_time` is under 0.1 s and its duration is
//! the segment length within one GOP; Chromium's `<video>` on
//! `/playback.html?file=` starts at `currentTime` 0 with that duration, and plays
//! from there. RTSP is skipped (with a message) without GStreamer, everything with
//! a browser or ffprobe check without those.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::common::{TestHub, browser_login};
use crate::recordings_support::{
    FPS, agent_token, encode, ffprobe_longest_gop, ffprobe_times, have_ffprobe,
    old_style_segment_files, put_segment, segments, sha256_hex,
};
use crate::rtsp_support::{
    RTSP_PASSWORD, RTSP_USER, RtspServer, password_file, rtsp_server_available,
};
use reolink::sim::{SimCamera, SimConfig, SimEncryption, SimTransport};
use testkit::Browser;
use testkit::process::{bin_path, spawn_logged};

/// `segment_duration` of every camera and of the agent.
const SEGMENT: f64 = 3.0;
/// Every source here has a key frame every second (on a loaded machine the demo and
/// the agent may skip frames, which stretches a GOP in time: the bound is then the
/// file's own longest GOP, as ffprobe reads it).
const GOP: f64 = 1.0;
const WAIT: Duration = Duration::from_secs(90);

/// One recorded file to check: the camera, and the segment as `/api/recordings` lists it.
struct Recorded {
    source: &'static str,
    segment: serde_json::Value,
    path: PathBuf,
}

/// The second segment of `camera` (oldest first), once it is finished and indexed.
async fn second_segment(h: &TestHub, camera: &str, source: &'static str) -> Recorded {
    let deadline = Instant::now() + WAIT;
    loop {
        let s = segments(h, camera).await;
        if let Some(seg) = s.get(1) {
            let path = h
                .dir
                .path()
                .join("data/recordings")
                .join(camera)
                .join(seg["file"].as_str().unwrap());
            return Recorded {
                source,
                segment: seg.clone(),
                path,
            };
        }
        assert!(
            Instant::now() < deadline,
            "{source}: fewer than 2 segments after {WAIT:?}: {s:?}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// One GOP of the file at `path`: [`GOP`], or longer if the file's is.
fn gop_of(path: &Path) -> f64 {
    if have_ffprobe() {
        ffprobe_longest_gop(path).max(GOP)
    } else {
        GOP
    }
}

/// ffprobe: the file's media time starts under 0.1 s and lasts the segment length
/// within one GOP.
fn assert_ffprobe_from_0(what: &str, path: &Path) {
    let (start, duration) = ffprobe_times(path);
    let gop = gop_of(path);
    println!("{what}: ffprobe start_time {start} s, duration {duration} s (GOP {gop} s)");
    assert!(
        start.abs() < 0.1,
        "{what}: start_time {start} s ({})",
        path.display()
    );
    assert!(
        (duration - SEGMENT).abs() <= gop,
        "{what}: duration {duration} s is not {SEGMENT} s within one GOP ({gop} s)"
    );
}

/// Chromium on the playback page: `currentTime` 0 once the metadata is in, the
/// duration of the segment, and playback that starts at 0 and moves on.
async fn assert_chromium_plays_from_0(b: &Browser, h: &TestHub, r: &Recorded) {
    let name = r.segment["name"].as_str().unwrap();
    b.goto(&h.url(&format!("/playback.html?file={name}")))
        .await
        .unwrap();
    let meta = b
        .wait_until(
            "const v = document.getElementById('player');
             return v && v.readyState >= 1 && [v.currentTime, v.duration]",
            Duration::from_secs(20),
        )
        .await
        .unwrap_or_else(|e| panic!("{}: no metadata: {e}", r.source));
    let (t, d) = (meta[0].as_f64().unwrap(), meta[1].as_f64().unwrap());
    println!("{}: Chromium currentTime {t} s, duration {d} s", r.source);
    assert_eq!(t, 0.0, "{}: the player starts at 0", r.source);
    let gop = gop_of(&r.path);
    assert!(
        (d - SEGMENT).abs() <= gop,
        "{}: Chromium's duration {d} s is not {SEGMENT} s within one GOP ({gop} s)",
        r.source
    );
    // Played: the first position it shows is the start, then time moves on.
    b.eval(
        "const v = document.getElementById('player');
         window.firstTime = undefined;
         v.addEventListener('timeupdate', () => { if (window.firstTime === undefined) window.firstTime = v.currentTime; });
         v.muted = true; v.play(); return true",
    )
    .await
    .unwrap();
    let played = b
        .wait_until(
            "const v = document.getElementById('player');
             return window.firstTime !== undefined && v.currentTime > 0.5 && v.videoWidth > 0 && [window.firstTime, v.currentTime]",
            Duration::from_secs(20),
        )
        .await
        .unwrap_or_else(|e| panic!("{}: does not play: {e}", r.source));
    let first = played[0].as_f64().unwrap();
    assert!(
        first < 0.5,
        "{}: playback started at {first} s, not at 0",
        r.source
    );
    assert!(played[1].as_f64().unwrap() <= d, "{}", r.source);
}

fn write_private(path: &Path, text: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_source_records_files_that_play_from_0_with_their_own_length() {
    let dir = tempfile::tempdir().unwrap();
    let rtsp = if rtsp_server_available() {
        Some(RtspServer::start().await)
    } else {
        None
    };
    let mut sim = SimConfig::new(SimTransport::Tcp);
    sim.encryption = SimEncryption::Aes;
    let reolink = SimCamera::start(sim).await.expect("simulator starts");
    let pw = password_file(dir.path(), "rtsp.password", RTSP_PASSWORD);
    let reolink_pw = password_file(dir.path(), "reolink.password", "password");
    let mut config = format!(
        "[recordings]\nsegment_duration = \"{SEGMENT}s\"\n\
         [[camera]]\nid = 1\nname = \"pattern\"\nkind = \"demo\"\nwidth = 320\nheight = 240\nfps = 10\n\
         [[camera]]\nid = 3\nname = \"reolink\"\nkind = \"reolink\"\ntransport = \"tcp\"\nhost = \"127.0.0.1\"\nport = {}\nusername = \"admin\"\npassword_file = {:?}\n\
         [[camera]]\nid = 4\nname = \"porch\"\nkind = \"agent\"\n\
         [[camera]]\nid = 5\nname = \"shed\"\nkind = \"agent\"\n",
        reolink.port(),
        reolink_pw.display().to_string()
    );
    if let Some(s) = &rtsp {
        config.push_str(&format!(
            "[[camera]]\nid = 2\nname = \"tapo\"\nkind = \"rtsp\"\nhost = \"127.0.0.1\"\nport = {}\nusername = \"{RTSP_USER}\"\npassword_file = {:?}\npath = \"stream1\"\n",
            s.port,
            pw.display().to_string()
        ));
    }
    let h = TestHub::start(&config).await;

    // The agent binary: test pattern at 10 fps (a key frame a second), 3 s
    // segments, uploaded to the hub as camera 4.
    let (state, rec) = (dir.path().join("agent-state"), dir.path().join("agent-rec"));
    std::fs::create_dir(&state).unwrap();
    let agent_cfg = dir.path().join("agent.toml");
    write_private(
        &agent_cfg,
        &format!(
            "hub_url = \"ws://{}/video-input-stream\"\ncamera_id = 4\ntoken = \"{}\"\nstate_dir = {:?}\n\
             [source]\nkind = \"testsrc\"\nwidth = 320\nheight = 240\nfps = 10\n\
             [record]\nenabled = true\ndir = {:?}\nsegment_duration = \"{SEGMENT}s\"\n\
             [upload]\nenabled = true\n",
            h.addr,
            agent_token(4),
            state.display().to_string(),
            rec.display().to_string()
        ),
    );
    let out = Command::new(bin_path("agent"))
        .args(["setup-recording", "--config"])
        .arg(&agent_cfg)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let mut agent = spawn_logged(
        Command::new(bin_path("agent"))
            .arg("--config")
            .arg(&agent_cfg)
            .env("RUST_LOG", "info"),
        "agent",
    )
    .unwrap();

    // An agent from before files started at 0 uploads the second 3 s segment of a
    // run (15 fps, a key frame a second): its media time runs from 3 s to 6 s.
    let (track, frames) = encode(105, FPS as u32);
    let old = old_style_segment_files(&track, &frames, 3).remove(1);
    assert_eq!(
        media::recover(&old).unwrap().first_dts,
        Some(media::Time90k(3 * 90_000)),
        "made the old way"
    );
    if have_ffprobe() {
        let p = dir.path().join("old.mp4");
        std::fs::write(&p, &old).unwrap();
        let (start, duration) = ffprobe_times(&p);
        assert_eq!(
            (start, duration),
            (3.0, 6.0),
            "the old way, as ffprobe sees it"
        );
    }
    let old_name = store::segment_name(crate::recordings_support::T0).unwrap();
    let r = put_segment(&h, 5, &old_name, &old, &sha256_hex(&old)).await;
    assert_eq!(r.status(), 201);
    let shed = segments(&h, "shed").await;
    let old_upload = Recorded {
        source: "old agent's upload",
        path: h
            .dir
            .path()
            .join("data/recordings/shed")
            .join(shed[0]["file"].as_str().unwrap()),
        segment: shed[0].clone(),
    };

    let mut recorded = vec![
        second_segment(&h, "pattern", "hub demo").await,
        second_segment(&h, "reolink", "Reolink simulator").await,
    ];
    if rtsp.is_some() {
        recorded.push(second_segment(&h, "tapo", "RTSP").await);
    }
    let uploaded = second_segment(&h, "porch", "agent upload").await;
    // The agent's own file of that segment: the same bytes it uploaded.
    let agent_file = rec.join(uploaded.segment["file"].as_str().unwrap());
    assert_eq!(
        sha256_hex(&std::fs::read(&agent_file).unwrap()),
        uploaded.segment["sha256"].as_str().unwrap(),
        "the hub stores what the agent recorded"
    );
    recorded.push(uploaded);
    recorded.push(old_upload);
    agent.signal(testkit::process::Signal::Term).unwrap();
    assert!(
        agent
            .wait_timeout(Duration::from_secs(15))
            .unwrap()
            .success(),
        "{}",
        agent.log()
    );

    for r in &recorded {
        // The index says the same (wall-clock time stays there and in the name).
        let ms = r.segment["duration_ms"].as_i64().unwrap() as f64 / 1000.0;
        assert!(
            (ms - SEGMENT).abs() <= gop_of(&r.path),
            "{}: {}",
            r.source,
            r.segment
        );
        assert_eq!(
            media::recover(&std::fs::read(&r.path).unwrap())
                .unwrap()
                .first_dts,
            Some(media::Time90k::ZERO),
            "{}",
            r.source
        );
    }
    if have_ffprobe() {
        assert_ffprobe_from_0("agent testsrc (the agent's own file)", &agent_file);
        for r in &recorded {
            assert_ffprobe_from_0(r.source, &r.path);
        }
    }
    if let Some(why) = Browser::available() {
        eprintln!("skipping the browser checks: {why}");
    } else {
        let b = Browser::launch().await.expect("chromium starts");
        browser_login(&b, &h, "/recordings/index.html").await;
        b.wait_for("main", Duration::from_secs(20)).await.unwrap();
        for r in &recorded {
            assert_chromium_plays_from_0(&b, &h, r).await;
        }
        b.close().await.unwrap();
    }
    h.stop().await;
    reolink.stop().await;
    drop(rtsp);
}
