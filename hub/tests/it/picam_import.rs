//! Moving in from Pi-Cam: `hub import-picam DIR --camera NAME` (the real binary) indexes
//! a directory of Pi-Cam recordings, made here as Pi-Cam made them (raw H.264, then
//! `ffmpeg -i X.h264 -c:v copy -an X.mp4`), by the local time in their names; bad
//! names are reported and skipped; a second run changes nothing. The hub then lists
//! them (`/api/recordings`, the days, the Pi-Cam index) with the right times and
//! serves them for playback (ffprobe reads the served file). `/index.html` leads to
//! the live page, as Pi-Cam's did.

use std::path::Path;
use std::process::Command;

use crate::common::TestHub;

const CAMERA: &str = r#"
[[camera]]
id = 1
name = "old-pi"
kind = "agent"
"#;

/// 25 April 2024 13:05:00 in Berlin (summer time, UTC+2), in UTC ms.
const T1305_BERLIN: i64 = 1_714_043_100_000;

fn ffmpeg(args: &[&str]) {
    let out = Command::new(testkit::ffprobe::FFMPEG)
        .args(["-nostdin", "-hide_banner", "-loglevel", "error", "-y"])
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "ffmpeg {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A Pi-Cam recording: `seconds` of 320x240 H.264 at 30 fps as the Pi's encoder wrote
/// it (raw, one key frame a second, no B-frames), converted to MP4 as Pi-Cam did unless
/// `keep_raw` (a file Pi-Cam never converted).
fn picam_recording(dir: &Path, stem: &str, seconds: u32, keep_raw: bool) {
    let raw = dir.join(format!("{stem}.h264"));
    let src = format!("testsrc=size=320x240:rate=30:duration={seconds}");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        &src,
        "-c:v",
        "libx264",
        "-g",
        "30",
        "-bf",
        "0",
        "-pix_fmt",
        "yuv420p",
        "-f",
        "h264",
        raw.to_str().unwrap(),
    ]);
    if !keep_raw {
        let mp4 = dir.join(format!("{stem}.mp4"));
        ffmpeg(&[
            "-i",
            raw.to_str().unwrap(),
            "-c:v",
            "copy",
            "-an",
            mp4.to_str().unwrap(),
        ]);
        std::fs::remove_file(raw).unwrap();
    }
}

/// Runs `hub --config CONFIG import-picam DIR --camera old-pi --time-zone Europe/Berlin`.
fn import(config: &Path, dir: &Path) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_hub"))
        .arg("--config")
        .arg(config)
        .arg("import-picam")
        .arg(dir)
        .args(["--camera", "old-pi", "--time-zone", "Europe/Berlin"])
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[tokio::test]
async fn picam_recordings_are_imported_listed_and_played() {
    if !testkit::ffprobe::available() {
        return;
    }
    let mut first = String::new();
    let mut second = String::new();
    let h = TestHub::start_prepared(CAMERA, |dir| {
        let picam = dir.join("picam-recordings");
        std::fs::create_dir(&picam).unwrap();
        picam_recording(&picam, "25-04-2024_13h05m00s", 4, false);
        picam_recording(&picam, "25-04-2024_13h20m05s", 4, false);
        // The last file of a run that was stopped: never converted.
        picam_recording(&picam, "25-04-2024_13h35m10s", 4, true);
        std::fs::write(picam.join("notes.txt"), "not a video").unwrap();
        std::fs::write(picam.join("31-02-2024_10h00m00s.mp4"), "no such day").unwrap();
        std::fs::create_dir(picam.join("old")).unwrap();
        let config = dir.join("hub.toml");
        std::fs::write(
            &config,
            format!("data_dir = \"data\"\nsecret_file = \"secret\"\n{CAMERA}"),
        )
        .unwrap();
        let (ok, out) = import(&config, &picam);
        assert!(ok, "{out}");
        first = out;
        // Again, with a broken recording added: only that one is looked at, and fails.
        std::fs::write(picam.join("25-04-2024_14h00m00s.mp4"), "garbage").unwrap();
        let (ok, out) = import(&config, &picam);
        assert!(!ok, "a file that cannot be imported fails the run: {out}");
        second = out;
        // The store's own check finds nothing to repair in what was imported.
        let out = Command::new(env!("CARGO_BIN_EXE_hub"))
            .arg("--config")
            .arg(&config)
            .arg("check")
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{text}");
        assert!(text.contains("check: 0 repairs, 0 problems left"), "{text}");
    })
    .await;

    let name = |offset_ms: i64| {
        let start = T1305_BERLIN + offset_ms;
        format!("old-pi_{}", store::segment_name(start).unwrap())
    };
    let names = [
        name(0),
        name(15 * 60_000 + 5_000),
        name(30 * 60_000 + 10_000),
    ];
    for n in &names {
        assert!(first.contains(&format!("as {n} (")), "{n} in:\n{first}");
    }
    assert!(
        first.contains("skipped notes.txt: not a Pi-Cam recording name"),
        "{first}"
    );
    assert!(
        first.contains("skipped 31-02-2024_10h00m00s.mp4: not a Pi-Cam recording name"),
        "{first}"
    );
    assert!(first.contains("skipped old: not a file"), "{first}");
    assert!(
        first.contains("import-picam: 3 imported, 0 already there, 3 skipped, 0 failed"),
        "{first}"
    );
    assert!(
        second.contains("import-picam: 0 imported, 3 already there, 3 skipped, 1 failed"),
        "{second}"
    );
    assert!(
        second.contains("could not import 25-04-2024_14h00m00s.mp4: ffmpeg could not read it"),
        "{second}"
    );

    // Listed, with the times of their names and their own lengths (4 s: 120 frames at
    // 30 fps, the unconverted one read at the camera's 30 fps too; the frame times come
    // from Pi-Cam's file, rounded on its own clock, so a millisecond may be missing).
    let list = h.get_json("/api/recordings?camera=old-pi").await;
    let segs = list["segments"].as_array().unwrap();
    assert_eq!(segs.len(), 3, "{list}");
    for (s, (n, offset)) in
        segs.iter().zip(
            names
                .iter()
                .zip([0, 15 * 60_000 + 5_000, 30 * 60_000 + 10_000]),
        )
    {
        assert_eq!(s["name"], n.as_str(), "{s}");
        assert_eq!(s["start_ms"], T1305_BERLIN + offset, "{s}");
        let duration = s["duration_ms"].as_i64().unwrap();
        assert!((3999..=4000).contains(&duration), "{s}");
        assert_eq!(s["source"], "imported", "{s}");
        assert_eq!(
            (s["width"].as_u64(), s["height"].as_u64()),
            (Some(320), Some(240)),
            "{s}"
        );
    }
    let days = h.get_json("/api/recordings/days?camera=old-pi").await;
    assert_eq!(
        days["days"],
        serde_json::json!([{"date": "2024-04-25", "segments": 3}])
    );
    let index = h
        .get_auth("/recordings/index.html")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(index.contains(&names[0]), "{index}");

    // Played back: the served file is the whole recording, from 0.
    for (i, frames, seconds) in [(0, 120, 4.0), (2, 120, 4.0)] {
        let url = segs[i]["url"].as_str().unwrap();
        let bytes = h.get_auth(url).send().await.unwrap().bytes().await.unwrap();
        let p = testkit::ffprobe::probe_bytes(&bytes).unwrap();
        assert_eq!(p.codec, "h264");
        assert_eq!(p.frames, frames, "{url}");
        assert!(
            p.start_time.abs() < 0.1,
            "{url}: starts at {}",
            p.start_time
        );
        assert!(
            (p.duration - seconds).abs() < 0.05,
            "{url}: lasts {}",
            p.duration
        );
    }
    // Exported like any footage: the first two recordings back to back (8 s).
    let r = h
        .get_auth(&format!(
            "/api/recordings/export?camera=old-pi&start={}&end={}",
            T1305_BERLIN,
            T1305_BERLIN + 16 * 60_000
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let p = testkit::ffprobe::probe_bytes(&r.bytes().await.unwrap()).unwrap();
    assert_eq!(p.frames, 240);
    assert!(
        (p.duration - 8.0).abs() < 0.05,
        "export lasts {}",
        p.duration
    );
    h.stop().await;
}

#[tokio::test]
async fn index_html_leads_to_the_live_page() {
    let h = TestHub::start(CAMERA).await;
    let r = h.client().get(h.url("/index.html")).send().await.unwrap();
    assert!(r.status().is_redirection(), "{}", r.status());
    assert_eq!(r.headers()["location"], "/live");
    h.stop().await;
}
