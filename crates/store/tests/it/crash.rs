//! Crash safety: a real fMP4 segment is written through the store and "crashes" at random
//! byte offsets (the writer dropped, the `.partial` cut); `recover_partials` keeps every
//! complete fragment and the result plays (media::probe, and ffprobe when installed).

use std::collections::BTreeMap;
use std::fs::{self, OpenOptions};

use crate::common::*;
use media::Duration90k;
use store::{
    PARTIAL_EXT, RecoveryAction, SegmentDir, SetUp, SyncPolicy, parse_segment_name, segment_name,
};

const START_MS: i64 = 1_795_246_310_123;

#[test]
fn recovery_keeps_every_complete_fragment_at_random_crash_points() {
    // 120 frames, a key frame every 15: one segment of 8 one-second fragments.
    let segs = make_segments(120, 15, 3600, 300_000);
    assert_eq!(segs.len(), 1);
    let seg = &segs[0];
    let data = seg.bytes();
    let bounds = seg.boundaries();
    assert_eq!(bounds.len(), 9);

    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("cam");
    drop(SegmentDir::open(&path, "cam", SetUp::CreateIfMissing).unwrap());

    let mut rng = 0x853c_49e6_748f_ea9bu64;
    let mut cuts: Vec<usize> = (0..40)
        .map(|_| {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            (rng % (data.len() as u64 + 1)) as usize
        })
        .collect();
    // Exactly at boundaries, one byte either side, and the edges.
    for &b in &bounds {
        cuts.extend([b - 1, b, b + 1]);
    }
    cuts.extend([0, 1, data.len()]);
    cuts.retain(|&c| c <= data.len());

    // One file per distinct surviving prefix goes to ffprobe (it is slow).
    let mut probed: BTreeMap<usize, ()> = BTreeMap::new();
    for (round, &cut) in cuts.iter().enumerate() {
        let start_ms = START_MS + round as i64 * 60_000;
        let name = segment_name(start_ms).unwrap();
        {
            let dir = SegmentDir::open(&path, "cam", SetUp::MustExist).unwrap();
            let mut w = dir.begin(start_ms).unwrap();
            assert_eq!(w.name(), name);
            w.append(&seg.init).unwrap();
            for f in &seg.fragments {
                if w.len() as usize >= cut {
                    break;
                }
                w.write_fragment(f).unwrap();
            }
            // Crash: the writer and directory go away without finish.
        }
        let partial = path.join(format!("{name}{PARTIAL_EXT}"));
        OpenOptions::new()
            .write(true)
            .open(&partial)
            .unwrap()
            .set_len(cut as u64)
            .unwrap();

        let dir = SegmentDir::open(&path, "cam", SetUp::MustExist).unwrap();
        let reports = dir.recover_partials().unwrap();
        assert_eq!(reports.len(), 1, "cut {cut}: {reports:?}");
        let r = &reports[0];
        assert_eq!(r.file, format!("{name}{PARTIAL_EXT}"));
        assert!(!partial.exists(), "cut {cut}: partial left behind");
        let complete = bounds[1..].iter().filter(|&&b| b <= cut).count();
        if complete == 0 {
            assert!(
                matches!(r.action, RecoveryAction::Deleted { .. }),
                "cut {cut}: {r:?}"
            );
            assert_eq!((r.bytes_kept, r.bytes_dropped), (0, cut as u64));
            assert!(!path.join(&name).exists());
            continue;
        }
        assert_eq!(
            r.action,
            RecoveryAction::Finished { name: name.clone() },
            "cut {cut}"
        );
        let kept = bounds[complete];
        assert_eq!(r.fragments as usize, complete, "cut {cut}");
        assert_eq!(r.bytes_kept as usize, kept, "cut {cut}");
        assert_eq!(r.bytes_dropped as usize, cut - kept, "cut {cut}");
        assert_eq!(r.samples, 15 * complete as u64);
        assert_eq!(r.duration, Duration90k(15 * FRAME_90K * complete as i64));

        let file = path.join(&name);
        let bytes = fs::read(&file).unwrap();
        assert_eq!(bytes, data[..kept], "cut {cut}: kept prefix differs");
        let info = media::probe(&bytes).unwrap();
        assert!(info.is_complete());
        assert_eq!(info.recovery.samples, 15 * complete as u64);

        // The listing sees it with its recovered duration.
        let listed = dir.segments().unwrap();
        let s = listed.iter().find(|s| s.name == name).unwrap();
        assert!(!s.partial);
        assert_eq!(s.start_ms, parse_segment_name(&name).unwrap());
        assert_eq!(s.duration_ms, Some(1000 * complete as i64), "cut {cut}");
        assert_eq!(s.size_bytes as usize, kept);

        if probed.insert(kept, ()).is_none()
            && let Some(frames) = ffprobe_frames(&file)
        {
            assert_eq!(
                frames,
                15 * complete as u64,
                "cut {cut}: ffprobe frame count"
            );
        }
    }
    assert!(probed.len() >= 8, "every prefix length seen: {probed:?}");
}

#[test]
fn finished_segment_plays_and_partials_of_open_writers_are_left_alone() {
    let segs = make_segments(90, 15, 2, 300_000);
    assert_eq!(segs.len(), 3);
    let tmp = tempfile::tempdir().unwrap();
    let dir = SegmentDir::open(tmp.path().join("cam"), "cam", SetUp::CreateIfMissing)
        .unwrap()
        .with_sync_policy(SyncPolicy::EveryMedia(Duration90k::from_secs(2)));

    let done = write_segment(&dir, START_MS, &segs[0]);
    assert_eq!(done.name, segment_name(START_MS).unwrap());
    assert_eq!(done.size_bytes, segs[0].summary.file_bytes);
    assert_eq!(done.duration, segs[0].summary.duration);
    let file = dir.path().join(&done.name);
    assert_eq!(fs::read(&file).unwrap(), segs[0].bytes());
    if let Some(frames) = ffprobe_frames(&file) {
        assert_eq!(frames, segs[0].summary.frames);
    }

    // A writer in progress: recovery (e.g. run by a check command) must not touch it.
    let mut w = dir.begin(START_MS + 2000).unwrap();
    w.append(&segs[1].init).unwrap();
    let mut synced = Vec::new();
    for f in &segs[1].fragments {
        w.write_fragment(f).unwrap();
        synced.push(w.syncs());
    }
    // One-second fragments, a sync every 2 s of media.
    assert_eq!(synced, vec![0, 1]);
    assert!(dir.recover_partials().unwrap().is_empty());
    let listed = dir.segments().unwrap();
    assert_eq!(listed.len(), 2);
    assert!(listed[1].partial && listed[1].name == w.name());
    assert_eq!(listed[1].duration_ms, None);

    // Same start time again (clock stepped back): the next free millisecond is used.
    let w2 = dir.begin(START_MS + 2000).unwrap();
    assert_eq!(w2.start_ms(), START_MS + 2001);
    w2.abort().unwrap();

    let done = w.finish(&segs[1].summary).unwrap();
    assert_eq!(done.duration, Duration90k::from_secs(2));
    let listed = dir.segments().unwrap();
    assert_eq!(listed.len(), 2);
    assert!(
        listed
            .iter()
            .all(|s| !s.partial && s.duration_ms == Some(2000))
    );
}

#[test]
fn stray_files_and_orphan_sidecars_are_removed() {
    let segs = make_segments(30, 15, 60, 200_000);
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("cam");
    let dir = SegmentDir::open(&path, "cam", SetUp::CreateIfMissing).unwrap();
    let done = write_segment(&dir, START_MS, &segs[0]);
    dir.mark_uploaded(&done.name).unwrap();
    dir.mark_uploaded(&done.name).unwrap(); // idempotent
    assert!(dir.segments().unwrap()[0].uploaded);
    assert!(
        dir.mark_uploaded(&segment_name(START_MS + 1).unwrap())
            .is_err()
    );
    assert!(dir.mark_uploaded("../escape.mp4").is_err());

    let orphan = format!("{}.uploaded", segment_name(START_MS - 60_000).unwrap());
    fs::write(path.join(&orphan), b"").unwrap();
    fs::write(path.join(".camera-recordings.tmp"), b"half a marker").unwrap();
    fs::write(path.join("notes.txt"), b"left alone").unwrap();
    // A partial holding only part of an init segment: deleted.
    let torn = format!("{}{PARTIAL_EXT}", segment_name(START_MS + 60_000).unwrap());
    fs::write(path.join(&torn), &segs[0].init[..10]).unwrap();

    // Something unreadable under a partial's name (here a directory): reported, left alone,
    // and the other files are still dealt with.
    let odd = format!("{}{PARTIAL_EXT}", segment_name(START_MS + 120_000).unwrap());
    fs::create_dir(path.join(&odd)).unwrap();
    // A stale sidecar for a name about to be reused does not make the new segment uploaded.
    let reused = START_MS + 180_000;
    fs::write(
        path.join(format!("{}.uploaded", segment_name(reused).unwrap())),
        b"",
    )
    .unwrap();
    let w = dir.begin(reused).unwrap();
    assert_eq!(w.start_ms(), reused);
    assert!(!path.join(format!("{}.uploaded", w.name())).exists());
    w.abort().unwrap();

    let mut reports = dir.recover_partials().unwrap();
    reports.sort_by(|a, b| a.file.cmp(&b.file));
    let failed = reports.pop().unwrap();
    assert_eq!(failed.file, odd);
    assert!(
        matches!(&failed.action, RecoveryAction::Failed { error } if error.contains("directory")),
        "{failed:?}"
    );
    let got: Vec<(&str, bool)> = reports
        .iter()
        .map(|r| {
            (
                r.file.as_str(),
                matches!(r.action, RecoveryAction::RemovedStray),
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            (".camera-recordings.tmp", true),
            (orphan.as_str(), true),
            (torn.as_str(), false),
        ]
    );
    assert!(path.join("notes.txt").exists());
    let listed = dir.segments().unwrap();
    assert_eq!(names(&listed), vec![done.name.clone()]);
    assert!(listed[0].uploaded, "the real sidecar stays");
}
