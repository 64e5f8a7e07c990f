//! Retention without cron, on the recorder thread: age, size and free-space limits with a
//! simulated clock and filesystem, and a really full disk (a 3 MiB tmpfs, as root) where
//! ENOSPC deletes the oldest segment and the recorder carries on.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use agent::record::recorder::{self, RecorderHandle, RecorderSettings};
use agent::record::{Pushed, RecordItem};
use codec::{EncoderSettings, H264Encoder};
use media::h264::AccessUnit;
use media::{Duration90k, SegmenterConfig};
use store::{FakeFsStats, RetentionPolicy, SegmentDir, SetUp, SimClock};

const T0: i64 = 1_795_000_000_000;
const FRAME: Duration = Duration::from_millis(100);

fn settings(dir: &Path, policy: RetentionPolicy) -> RecorderSettings {
    RecorderSettings {
        dir: dir.to_owned(),
        camera: "camera-9".into(),
        segmenter: SegmenterConfig {
            target_duration: Duration90k::from_millis(950),
            lone_frame_duration: Duration90k::from_millis(100),
            ..Default::default()
        },
        fps: 10,
        bitrate_bps: 500_000,
        gop: 5,
        policy,
        setup: SetUp::CreateIfMissing,
        retry_open: Duration::from_millis(200),
    }
}

/// `n` coded frames of the test pattern (or of noise: large frames), a key frame every 5.
fn encode(n: usize, noise: bool) -> Vec<AccessUnit> {
    let (w, h) = (320u32, 240u32);
    let mut enc = H264Encoder::new(EncoderSettings {
        width: w,
        height: h,
        fps: 10,
        bitrate_bps: if noise { 5_000_000 } else { 300_000 },
        gop: 5,
    })
    .unwrap();
    let pattern = testpattern::Pattern::new(w, h);
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    (0..n)
        .map(|i| {
            let i420 = if noise {
                // 4x4 blocks of random grey: hard to compress, easy to encode.
                let (wu, hu) = (w as usize, h as usize);
                let blocks: Vec<u8> = (0..(wu / 4) * (hu / 4))
                    .map(|_| {
                        x ^= x << 13;
                        x ^= x >> 7;
                        x ^= x << 17;
                        16 + (x >> 24) as u8 % 220
                    })
                    .collect();
                let mut p = vec![128u8; wu * hu * 3 / 2];
                for y in 0..hu {
                    for xx in 0..wu {
                        p[y * wu + xx] = blocks[(y / 4) * (wu / 4) + xx / 4];
                    }
                }
                p
            } else {
                pattern
                    .render(testpattern::Stamp {
                        frame: i as u32,
                        millis: i as u64 * 100,
                    })
                    .to_i420()
            };
            enc.encode(&i420).unwrap().unwrap()
        })
        .collect()
}

/// Feeds `aus` as frames `first..` of a 10 fps capture starting at `base`,
/// never overflowing the queue, advancing `clock` with media time; waits
/// until the recorder has taken them all.
fn feed(
    h: &RecorderHandle,
    aus: &[AccessUnit],
    base: Instant,
    first: usize,
    clock: Option<&SimClock>,
) {
    for (k, au) in aus.iter().enumerate() {
        while h.queue.len() > 16 {
            std::thread::sleep(Duration::from_millis(1));
        }
        let pushed = h.queue.push(RecordItem::H264 {
            au: au.clone(),
            captured_at: base + FRAME * (first + k) as u32,
        });
        assert_eq!(pushed, Pushed::Queued);
        if let Some(c) = clock {
            c.advance(FRAME);
        }
    }
    let want = h.queue.pushed();
    let deadline = Instant::now() + Duration::from_secs(30);
    while h.status.snapshot().frames_in < want {
        assert!(Instant::now() < deadline, "recorder stuck");
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn listing(dir: &Path) -> Vec<store::SegmentInfo> {
    SegmentDir::open(dir, "camera-9", SetUp::MustExist)
        .unwrap()
        .segments()
        .unwrap()
}

#[test]
fn max_age_deletes_old_segments_on_the_simulated_clock() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("rec");
    let clock = Arc::new(SimClock::new(T0));
    let policy = RetentionPolicy {
        max_age: Some(Duration::from_secs(3600)),
        ..RetentionPolicy::UNLIMITED
    };
    let h = recorder::spawn(
        settings(&dir, policy),
        clock.clone(),
        Arc::new(FakeFsStats::new(100 << 30, 200 << 30)),
    )
    .unwrap();
    let aus = encode(80, false);
    let base = Instant::now();
    feed(&h, &aus[..40], base, 0, Some(&clock));
    let status = h.status.clone();
    assert_eq!(status.snapshot().deleted, 0);
    let old: Vec<String> = listing_while_running(&h, &dir);
    assert!(old.len() >= 3, "{old:?}");
    // Two hours later (the camera was off, say) recording goes on.
    clock.advance(Duration::from_secs(2 * 3600));
    feed(&h, &aus[40..], base, 40, Some(&clock));
    assert!(h.stop(Duration::from_secs(10)));
    let now = clock.now_ms_for_test();
    let left = listing(&dir);
    for s in &left {
        assert!(
            s.end_ms() >= now - 3600 * 1000,
            "{s:?} is older than max_age"
        );
    }
    assert!(status.snapshot().deleted >= 3, "{:?}", status.snapshot());
    assert!(left.len() >= 3, "the new segments stay: {left:?}");
}

/// Names of the finished segments while the recorder runs (read-only listing).
fn listing_while_running(_h: &RecorderHandle, dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".mp4"))
        .collect();
    v.sort();
    v
}

trait NowForTest {
    fn now_ms_for_test(&self) -> i64;
}

impl NowForTest for SimClock {
    fn now_ms_for_test(&self) -> i64 {
        store::Clock::now_ms(self)
    }
}

#[test]
fn max_size_keeps_the_newest_segments_under_the_limit() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("rec");
    let clock = Arc::new(SimClock::new(T0));
    let aus = encode(120, false);
    // About four segments' worth.
    let per_segment: usize = aus[..10].iter().map(|a| a.len_bytes()).sum::<usize>() + 1500;
    let max_bytes = (per_segment * 4) as u64;
    let policy = RetentionPolicy {
        max_bytes: Some(max_bytes),
        ..RetentionPolicy::UNLIMITED
    };
    let h = recorder::spawn(
        settings(&dir, policy),
        clock.clone(),
        Arc::new(FakeFsStats::new(100 << 30, 200 << 30)),
    )
    .unwrap();
    feed(&h, &aus, Instant::now(), 0, Some(&clock));
    let status = h.status.clone();
    assert!(h.stop(Duration::from_secs(10)));
    let left = listing(&dir);
    let used: u64 = left.iter().map(|s| s.size_bytes).sum();
    assert!(used <= max_bytes, "{used} > {max_bytes}: {left:?}");
    let s = status.snapshot();
    assert!(s.deleted >= 5, "{s:?}");
    // Oldest first: what is left is the end of the recording. 120 frames cut
    // at every second key frame are 12 segments of 10 frames; every one is
    // either kept or deleted, and the newest is kept.
    assert_eq!(s.segments_finished, 12, "{s:?}");
    assert_eq!(left.len() as u64 + s.deleted, 12, "{left:?} {s:?}");
    assert_eq!(left.last().map(|l| &l.name), s.last_segment.as_ref());
    for l in &left {
        let info = media::probe(&std::fs::read(dir.join(&l.name)).unwrap()).unwrap();
        assert_eq!(info.recovery.samples, 10, "{l:?}");
        assert_eq!(info.recovery.first_dts, Some(media::Time90k::ZERO));
    }
    assert!(left.len() >= 2);
}

#[test]
fn free_space_floor_deletes_the_oldest_until_met() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("rec");
    let clock = Arc::new(SimClock::new(T0));
    let fs = Arc::new(FakeFsStats::new(50 << 20, 100 << 20));
    let policy = RetentionPolicy {
        min_free_bytes: Some(10 << 20),
        ..RetentionPolicy::UNLIMITED
    };
    let h = recorder::spawn(settings(&dir, policy), clock.clone(), fs.clone()).unwrap();
    let aus = encode(100, false);
    let base = Instant::now();
    feed(&h, &aus[..50], base, 0, Some(&clock));
    let before = listing_while_running(&h, &dir);
    assert!(
        before.len() >= 4 && h.status.snapshot().deleted == 0,
        "{before:?}"
    );
    // The disk fills up (other files): 1 byte under the floor. The next
    // segment end (frame 51 releases key frame 50, which cuts) deletes just
    // the oldest segment.
    fs.set_free_bytes((10 << 20) - 1);
    feed(&h, &aus[50..56], base, 50, Some(&clock));
    let status = h.status.clone();
    let after = listing_while_running(&h, &dir);
    assert!(!after.contains(&before[0]), "the oldest went: {after:?}");
    assert!(
        after.contains(&before[1]),
        "only as much as needed: {before:?} -> {after:?}"
    );
    assert_eq!(status.snapshot().deleted, 1);
    fs.set_free_bytes(50 << 20);
    feed(&h, &aus[56..], base, 56, Some(&clock));
    assert!(h.stop(Duration::from_secs(10)));
    assert_eq!(status.snapshot().deleted, 1);
}

/// Unmounts the tmpfs when dropped.
struct Mount(PathBuf);

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.0)
            .status();
    }
}

#[test]
fn enospc_on_a_full_tmpfs_deletes_the_oldest_and_recording_goes_on() {
    let tmp = tempfile::tempdir().unwrap();
    let mnt = tmp.path().join("mnt");
    std::fs::create_dir(&mnt).unwrap();
    let ok = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=3m", "tmpfs"])
        .arg(&mnt)
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI runs as root and must be able to mount a tmpfs"
        );
        eprintln!("skipping: cannot mount a tmpfs here (needs root / CAP_SYS_ADMIN)");
        return;
    }
    let _guard = Mount(mnt.clone());
    let dir = mnt.join("rec");
    // No limit at all: only ENOSPC makes room.
    let h = recorder::spawn(
        settings(&dir, RetentionPolicy::UNLIMITED),
        Arc::new(store::SystemClock),
        Arc::new(store::Statvfs),
    )
    .unwrap();
    let aus = encode(400, true);
    let bytes: usize = aus.iter().map(|a| a.len_bytes()).sum();
    assert!(
        bytes > 3 * (3 << 20) / 2,
        "noise frames are big: {bytes} bytes"
    );
    let base = Instant::now();
    let mut slowest = Duration::ZERO;
    for (k, au) in aus.iter().enumerate() {
        while h.queue.len() > 16 {
            std::thread::sleep(Duration::from_millis(1));
        }
        let t = Instant::now();
        h.queue.push(RecordItem::H264 {
            au: au.clone(),
            captured_at: base + FRAME * k as u32,
        });
        slowest = slowest.max(t.elapsed());
    }
    let status = h.status.clone();
    assert!(h.stop(Duration::from_secs(20)), "the recorder finishes");
    let s = status.snapshot();
    eprintln!("{s:?}");
    assert!(
        slowest < Duration::from_millis(50),
        "pushing never waits for the disk: {slowest:?}"
    );
    assert!(s.deleted >= 3, "ENOSPC deleted segments: {s:?}");
    assert_eq!(s.state, "stopped");
    // What is on the disk is valid and is the newest footage.
    let left = listing(&dir);
    assert!(!left.is_empty());
    let mut frames = 0;
    for seg in &left {
        assert!(!seg.partial);
        let info = media::probe(&std::fs::read(dir.join(&seg.name)).unwrap()).unwrap();
        assert!(info.is_complete());
        frames += info.recovery.samples;
        assert_eq!(info.recovery.first_dts, Some(media::Time90k::ZERO));
    }
    assert!(frames > 0);
    assert!(
        s.frames_written >= 300,
        "most frames were written at some point: {s:?}"
    );
    assert_eq!(
        left.last().map(|l| &l.name),
        s.last_segment.as_ref(),
        "the newest segment survived"
    );
}
