//! The `rpicam` source against a stand-in `rpicam-vid` script that `cat`s a real stream: JPEGs made
//! with testpattern, or H.264 Annex B made with the agent's openh264 encoder (as `--codec h264
//! --inline` writes it): splitting and parsing, restarts after the process exits, and stopping it.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use agent::config::Config;
use agent::queue::FrameQueue;
use agent::source;
use testpattern::{Pattern, Stamp, encode_jpeg, read_stamp};
use tokio_util::sync::CancellationToken;

/// Write `frames.mjpeg` (three stamped JPEGs with garbage around them) and
/// a stand-in `rpicam-vid` running `body` after recording its arguments
/// and pid.
fn stand_in(dir: &Path, body: &str) -> std::path::PathBuf {
    let pattern = Pattern::new(320, 240);
    let mut stream = b"startup noise\xff\xd8".to_vec();
    for frame in 0..3 {
        stream.extend(encode_jpeg(
            &pattern.render(Stamp {
                frame,
                millis: 1000 + u64::from(frame),
            }),
            60,
        ));
        stream.extend_from_slice(b"\x00garbage\xff");
    }
    std::fs::write(dir.join("frames.mjpeg"), stream).unwrap();
    let script = dir.join("rpicam-vid");
    let d = dir.display();
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\necho \"$@\" > {d}/args\necho $$ >> {d}/pids\necho 'stand-in rpicam-vid starting' >&2\n{body}\n"
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    script
}

fn config(binary: &Path) -> Config {
    Config::parse(&format!(
        r#"
        hub_url = "ws://127.0.0.1:1/video-input-stream"
        camera_id = 1
        token = "t"
        [source]
        kind = "rpicam"
        width = 320
        height = 240
        fps = 5
        jpeg_quality = 60
        [source.rpicam]
        binary = {:?}
        extra_args = ["--hflip"]
        max_frame_size = "1MiB"
        "#,
        binary.to_str().unwrap()
    ))
    .unwrap()
}

fn decode_stamp(jpeg: &[u8]) -> Option<Stamp> {
    let mut dec = zune_jpeg::JpegDecoder::new(std::io::Cursor::new(jpeg));
    let rgb = dec.decode().ok()?;
    let (w, h) = dec.dimensions()?;
    read_stamp(&rgb, w as u32, h as u32)
}

async fn collect(queue: &FrameQueue, n: usize, within: Duration) -> Vec<agent::queue::Frame> {
    let mut frames = Vec::new();
    tokio::time::timeout(within, async {
        while frames.len() < n {
            frames.push(queue.pop().await);
        }
    })
    .await
    .unwrap_or_else(|_| panic!("only {} of {n} frames arrived", frames.len()));
    frames
}

#[tokio::test]
async fn frames_are_split_and_the_process_restarted_when_it_exits() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display().to_string();
    let script = stand_in(dir.path(), &format!("cat {d}/frames.mjpeg\nexit 3"));
    let cfg = config(&script);
    let queue = Arc::new(FrameQueue::new(64));
    let cancel = CancellationToken::new();
    let src = source::from_config(&cfg.source).unwrap();
    assert_eq!(src.name(), "rpicam");
    let task = tokio::spawn(src.run(queue.clone(), cancel.clone()));

    // Two runs of the stand-in (the restart backoff starts at up to 1 s).
    let frames = collect(&queue, 6, Duration::from_secs(10)).await;
    let stamps: Vec<u32> = frames
        .iter()
        .map(|f| decode_stamp(&f.jpeg).expect("readable stamp").frame)
        .collect();
    assert_eq!(stamps, vec![0, 1, 2, 0, 1, 2]);
    let seqs: Vec<u64> = frames.iter().map(|f| f.seq).collect();
    assert_eq!(
        seqs,
        vec![0, 1, 2, 3, 4, 5],
        "seq continues across restarts"
    );
    for f in &frames {
        assert_eq!(&f.jpeg[..2], b"\xff\xd8");
        assert_eq!(&f.jpeg[f.jpeg.len() - 2..], b"\xff\xd9");
    }
    let args = std::fs::read_to_string(dir.path().join("args")).unwrap();
    assert_eq!(
        args.trim(),
        "-t 0 -n --codec mjpeg --width 320 --height 240 --framerate 5 -q 60 --flush --hflip -o -"
    );
    let starts = std::fs::read_to_string(dir.path().join("pids"))
        .unwrap()
        .lines()
        .count();
    assert!(starts >= 2, "restarted: {starts} starts");

    cancel.cancel();
    tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
}

/// True while `pid` runs (a zombie waiting to be reaped counts as gone).
fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => false,
        Ok(stat) => {
            let state = stat
                .rsplit(')')
                .next()
                .unwrap_or("")
                .split_whitespace()
                .next();
            state != Some("Z") && state != Some("X")
        }
    }
}

#[tokio::test]
async fn stopping_kills_the_whole_process_group() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display().to_string();
    // A grandchild that would outlive a plain kill of the script, and a
    // script that ignores SIGTERM, so the group SIGKILL is what ends it.
    let script = stand_in(
        dir.path(),
        &format!(
            "trap '' TERM\nsleep 1000 &\necho $! > {d}/grandchild\ncat {d}/frames.mjpeg\nwhile true; do sleep 1; done"
        ),
    );
    let cfg = config(&script);
    let queue = Arc::new(FrameQueue::new(64));
    let cancel = CancellationToken::new();
    let task = tokio::spawn(
        source::from_config(&cfg.source)
            .unwrap()
            .run(queue.clone(), cancel.clone()),
    );
    collect(&queue, 3, Duration::from_secs(10)).await;

    let script_pid: u32 = std::fs::read_to_string(dir.path().join("pids"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let grandchild: u32 = std::fs::read_to_string(dir.path().join("grandchild"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(alive(script_pid) && alive(grandchild));

    cancel.cancel();
    // SIGTERM is ignored, so this takes the 2 s grace period, then SIGKILL.
    tokio::time::timeout(Duration::from_secs(6), task)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    for _ in 0..50 {
        if !alive(script_pid) && !alive(grandchild) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(!alive(script_pid), "script {script_pid} still running");
    assert!(!alive(grandchild), "grandchild {grandchild} still running");
}

#[tokio::test]
async fn a_missing_binary_is_retried_not_fatal() {
    let cfg = config(Path::new("/nonexistent/rpicam-vid"));
    let queue = Arc::new(FrameQueue::new(4));
    let cancel = CancellationToken::new();
    let task = tokio::spawn(
        source::from_config(&cfg.source)
            .unwrap()
            .run(queue.clone(), cancel.clone()),
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!task.is_finished(), "the source keeps retrying");
    cancel.cancel();
    tokio::time::timeout(Duration::from_secs(2), task)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(queue.pushed(), 0);
}

/// A real H.264 Annex B stream of `frames` stamped test pictures (320x240,
/// a key frame with SPS/PPS every 5 frames), encoded with the agent's own
/// openh264 encoder, as `rpicam-vid --codec h264 --inline` writes it.
fn h264_stream(frames: u32) -> Vec<u8> {
    use codec::{EncoderSettings, H264Encoder};
    let mut enc = H264Encoder::new(EncoderSettings {
        width: 320,
        height: 240,
        fps: 10,
        bitrate_bps: 300_000,
        gop: 5,
    })
    .unwrap();
    let pattern = Pattern::new(320, 240);
    let mut stream = Vec::new();
    for frame in 0..frames {
        let picture = pattern.render(Stamp {
            frame,
            millis: u64::from(frame) * 100,
        });
        if let Some(au) = enc.encode(&picture.to_i420()).unwrap() {
            stream.extend(au.to_annexb());
        }
    }
    stream
}

fn record_config(binary: &Path) -> Config {
    let text = format!(
        "{}\n[record]\nenabled = true\ngop = 5\nbitrate = \"300kbps\"\n",
        config_text(binary)
    );
    Config::parse(&text).unwrap()
}

fn config_text(binary: &Path) -> String {
    format!(
        "hub_url = \"ws://127.0.0.1:1/video-input-stream\"\ncamera_id = 1\ntoken = \"t\"\n\
         [source]\nkind = \"rpicam\"\nwidth = 320\nheight = 240\nfps = 10\n\
         [source.rpicam]\nbinary = {:?}\n",
        binary.to_str().unwrap()
    )
}

/// Drains the record queue until `until` says stop or `within` passes.
fn drain(
    queue: &agent::record::RecordQueue,
    within: Duration,
    mut until: impl FnMut(&[agent::record::RecordItem]) -> bool,
) -> Vec<agent::record::RecordItem> {
    let end = std::time::Instant::now() + within;
    let mut items = Vec::new();
    while std::time::Instant::now() < end && !until(&items) {
        if let Some(Some(item)) = queue.pop_timeout(Duration::from_millis(100)) {
            items.push(item);
        }
    }
    items
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h264_is_parsed_into_pictures_and_the_stream_restarts_after_an_exit() {
    use agent::record::RecordItem;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display().to_string();
    std::fs::write(dir.path().join("stream.h264"), h264_stream(20)).unwrap();
    // Some bytes before the first start code, as a process may print.
    let script = stand_in(
        dir.path(),
        &format!("printf 'noise'\ncat {d}/stream.h264\nexit 3"),
    );
    let cfg = record_config(&script);
    let record = Arc::new(agent::record::RecordQueue::new(256, 64 << 20));
    let tap = source::RecordTap {
        queue: record.clone(),
        bitrate_bps: cfg.record.bitrate.0,
        gop: cfg.record.gop_frames(cfg.source.fps),
    };
    let live = Arc::new(FrameQueue::new(64));
    let cancel = CancellationToken::new();
    let task = tokio::spawn(
        source::from_config_with(&cfg.source, Some(tap))
            .unwrap()
            .run(live.clone(), cancel.clone()),
    );
    let q = record.clone();
    let items = tokio::task::spawn_blocking(move || {
        drain(&q, Duration::from_secs(15), |items| {
            items
                .iter()
                .filter(|i| matches!(i, RecordItem::SourceLost { .. }))
                .count()
                >= 2
        })
    })
    .await
    .unwrap();
    cancel.cancel();
    tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .unwrap()
        .unwrap()
        .unwrap();

    // Two runs of 20 pictures each, each run ended by a SourceLost marker
    // (the recorder closes its segment there), each starting at a key frame
    // that carries SPS and PPS.
    let runs: Vec<&[RecordItem]> = items
        .split(|i| matches!(i, RecordItem::SourceLost { .. }))
        .take(2)
        .collect();
    assert_eq!(runs.len(), 2, "{items:?}");
    for run in &runs {
        assert_eq!(run.len(), 20, "{run:?}");
        let keys: Vec<usize> = run
            .iter()
            .enumerate()
            .filter(|(_, i)| i.is_key())
            .map(|(n, _)| n)
            .collect();
        assert_eq!(keys, vec![0, 5, 10, 15], "{run:?}");
        let RecordItem::H264 { au, .. } = &run[0] else {
            panic!("{:?}", run[0])
        };
        assert!(au.sps().is_some() && au.pps().is_some());
    }
    let args = std::fs::read_to_string(dir.path().join("args")).unwrap();
    assert!(
        args.starts_with(
            "-t 0 -n --codec h264 --inline --profile baseline --intra 5 --bitrate 300000"
        ),
        "{args}"
    );
    // Live view: JPEGs decoded from the key frames.
    let jpegs = collect(&live, 2, Duration::from_secs(5)).await;
    let stamp = decode_stamp(&jpegs[0].jpeg).expect("a readable stamp in a live frame");
    assert_eq!(stamp.frame % 5, 0, "live frames come from key frames");
}

#[tokio::test]
async fn stopping_sends_sigterm_and_a_willing_child_exits_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display().to_string();
    std::fs::write(dir.path().join("stream.h264"), h264_stream(10)).unwrap();
    // Emits the stream, then waits; on SIGTERM it notes it and exits 0.
    let script = stand_in(
        dir.path(),
        &format!(
            "trap 'echo term > {d}/got-term; exit 0' TERM\ncat {d}/stream.h264\nwhile true; do sleep 0.1; done"
        ),
    );
    let cfg = record_config(&script);
    let record = Arc::new(agent::record::RecordQueue::new(256, 64 << 20));
    let tap = source::RecordTap {
        queue: record.clone(),
        bitrate_bps: 300_000,
        gop: 5,
    };
    let cancel = CancellationToken::new();
    let task = tokio::spawn(
        source::from_config_with(&cfg.source, Some(tap))
            .unwrap()
            .run(Arc::new(FrameQueue::new(8)), cancel.clone()),
    );
    let q = record.clone();
    let items = tokio::task::spawn_blocking(move || {
        let mut items = drain(&q, Duration::from_secs(10), |items| items.len() >= 8);
        // Nothing more comes while the stream stays open.
        items.extend(drain(&q, Duration::from_millis(500), |_| false));
        items
    })
    .await
    .unwrap();
    // While the stream is open the splitter holds the last NAL unit until a
    // start code follows it, and the assembler the last picture until the
    // next begins: 8 of the 10 pictures are out.
    assert_eq!(items.len(), 8, "{items:?}");
    assert!(items[0].is_key() && items[5].is_key(), "{items:?}");
    let pid: u32 = std::fs::read_to_string(dir.path().join("pids"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(alive(pid));
    cancel.cancel();
    tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(
        std::fs::read_to_string(dir.path().join("got-term"))
            .unwrap()
            .trim(),
        "term"
    );
    assert!(!alive(pid), "stand-in {pid} still running");
    assert_eq!(
        std::fs::read_to_string(dir.path().join("pids"))
            .unwrap()
            .lines()
            .count(),
        1
    );
}
