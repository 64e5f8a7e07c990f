//! A real, small filesystem (a 2 MiB tmpfs; needs root, skipped otherwise): recording until
//! the disk is full gives `StoreError::NoSpace` with the file cut back, retention with a
//! free-space floor deletes the oldest segments, the same bytes then append fine, and a
//! recorder writing through a `SegmentSink` whose make-room callback applies that retention
//! keeps recording across several disks' worth of footage.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::common::*;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use store::{
    Clock, FsStats, Reason, RetentionPolicy, SegmentDir, SegmentSink, SegmentWriter, SetUp,
    SimClock, Statvfs, StoreError,
};

const T0: i64 = 1_795_246_310_000;
const TMPFS_BYTES: u64 = 2 << 20;

/// A mounted tmpfs, unmounted on drop (also when the test panics).
struct Mount {
    path: PathBuf,
}

impl Mount {
    fn tmpfs(path: &Path, size: &str) -> Option<Mount> {
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(path)
            .output();
        match out {
            Ok(o) if o.status.success() => Some(Mount {
                path: path.to_owned(),
            }),
            Ok(o) => {
                println!(
                    "SKIP: cannot mount a tmpfs (not root?): {}",
                    String::from_utf8_lossy(&o.stderr).trim()
                );
                None
            }
            Err(e) => {
                println!("SKIP: cannot run mount: {e}");
                None
            }
        }
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let ok = Command::new("umount")
            .arg(&self.path)
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            // Still busy (a panic left a file open): detach it lazily.
            let _ = Command::new("umount").arg("-l").arg(&self.path).status();
        }
    }
}

/// One step of writing `seg`: 0 = init segment, k = fragment k-1.
fn step(w: &mut SegmentWriter, seg: &Seg, k: usize) -> store::Result<()> {
    match k {
        0 => w.append(&seg.init),
        k => w.write_fragment(&seg.fragments[k - 1]),
    }
}

#[test]
fn full_disk_no_space_then_retention_then_retry() {
    // Two-second segments of two one-second fragments, noisy enough to be ~100 KB or more.
    let segs = make_segments(30, 15, 2, 600_000);
    assert_eq!(segs.len(), 1);
    let seg = &segs[0];
    assert_eq!(seg.fragments.len(), 2);
    let seg_bytes = seg.summary.file_bytes;
    assert!(
        seg_bytes > 40_000 && seg_bytes < TMPFS_BYTES / 4,
        "{seg_bytes}"
    );

    // Declaration order matters: drop the directory, then unmount, then remove the temp dir.
    let tmp = tempfile::tempdir().unwrap();
    let mnt = tmp.path().join("disk");
    fs::create_dir(&mnt).unwrap();
    let Some(_mount) = Mount::tmpfs(&mnt, "2m") else {
        return;
    };
    assert_eq!(Statvfs.total_bytes(&mnt).unwrap(), TMPFS_BYTES);
    let dir = SegmentDir::open(mnt.join("cam"), "cam", SetUp::CreateIfMissing).unwrap();
    let clock = Arc::new(SimClock::new(T0));

    // 1. Record with no retention until the disk is full.
    let mut finished = Vec::new();
    let (mut w, failed_step) = 'fill: loop {
        assert!(finished.len() < 100, "never ran out of space");
        let mut w = dir.begin(clock.now_ms()).unwrap();
        clock.advance(Duration::from_secs(2));
        for k in 0..=seg.fragments.len() {
            match step(&mut w, seg, k) {
                Ok(()) => {}
                Err(StoreError::NoSpace { op, .. }) => {
                    assert_eq!(op, "write");
                    break 'fill (w, k);
                }
                Err(e) => panic!("unexpected error: {e}"),
            }
        }
        finished.push(w.finish(&seg.summary).unwrap().name);
    };
    assert!(finished.len() >= 3, "{} segments fit", finished.len());
    // The failed write was cut back: the partial holds exactly the steps that succeeded.
    let partial_len = fs::metadata(dir.path().join(format!("{}.partial", w.name())))
        .unwrap()
        .len();
    assert_eq!(partial_len, w.len());
    assert_eq!(
        w.len() as usize,
        seg.boundaries()[..failed_step].last().copied().unwrap_or(0)
    );
    let free_when_full = Statvfs.free_bytes(dir.path()).unwrap();
    assert!(free_when_full < seg_bytes, "{free_when_full}");

    // 2. Retention with a free-space floor of two segments frees the oldest ones, never the
    // segment being written.
    let policy = RetentionPolicy {
        min_free_bytes: Some(2 * seg_bytes),
        ..RetentionPolicy::UNLIMITED
    };
    policy.validate().unwrap();
    let report = dir
        .enforce(&policy, clock.now_ms(), &Statvfs, Some(w.name()))
        .unwrap();
    assert!(!report.deleted.is_empty());
    assert!(report.deleted.iter().all(|d| d.reason == Reason::FreeSpace));
    let deleted: Vec<String> = report.deleted.iter().map(|d| d.name.clone()).collect();
    assert_eq!(deleted, finished[..deleted.len()], "oldest first");
    assert!(Statvfs.free_bytes(dir.path()).unwrap() >= 2 * seg_bytes);

    // 3. The same bytes again: now they fit, and the segment finishes as a valid file.
    for k in failed_step..=seg.fragments.len() {
        step(&mut w, seg, k).unwrap();
    }
    let done = w.finish(&seg.summary).unwrap();
    let file = dir.path().join(&done.name);
    let bytes = fs::read(&file).unwrap();
    assert_eq!(bytes, seg.bytes());
    let info = media::probe(&bytes).unwrap();
    assert!(info.is_complete());
    assert_eq!(info.recovery.samples, seg.summary.frames);
    if let Some(frames) = ffprobe_frames(&file) {
        assert_eq!(frames, seg.summary.frames);
    }
    let mut all = finished.clone();
    all.push(done.name);

    // 4. A recorder that only reacts to NoSpace (a sink whose make-room callback applies
    // the policy) records three disks' worth without an error, keeping the newest footage.
    let rounds = 3 * TMPFS_BYTES / seg_bytes;
    let room_calls = Arc::new(AtomicUsize::new(0));
    let (calls, room_clock) = (room_calls.clone(), clock.clone());
    let mut sink = SegmentSink::new(
        dir.clone(),
        move |dir: &SegmentDir, current: Option<&str>| {
            calls.fetch_add(1, Ordering::Relaxed);
            dir.enforce(&policy, room_clock.now_ms(), &Statvfs, current)
                .unwrap()
                .bytes_freed
        },
    );
    for _ in 0..rounds {
        sink.start(clock.now_ms(), &seg.init).unwrap();
        clock.advance(Duration::from_secs(2));
        for f in &seg.fragments {
            assert!(sink.write_fragment(f).unwrap());
        }
        all.push(sink.finish(&seg.summary).unwrap().unwrap().name);
    }
    let retries = room_calls.load(Ordering::Relaxed);
    println!(
        "segment {seg_bytes} B; {} fit before ENOSPC; {rounds} more written with {retries} \
         NoSpace retries",
        finished.len()
    );
    assert!(retries >= 2, "{retries} NoSpace retries");
    let left: Vec<String> = names(&dir.segments().unwrap());
    assert!(left.len() >= 3, "{left:?}");
    assert_eq!(left, all[all.len() - left.len()..], "the newest are kept");
    for name in &left {
        let info = media::probe(&fs::read(dir.path().join(name)).unwrap()).unwrap();
        assert!(info.is_complete() && info.recovery.samples == seg.summary.frames);
    }
}
