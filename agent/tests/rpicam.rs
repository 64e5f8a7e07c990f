//! The `rpicam` source against a stand-in `rpicam-vid` script that `cat`s JPEGs made with testpattern.

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
