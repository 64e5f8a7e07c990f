//! Retention: the pure `plan` (age, size and free-space limits each on their own, the
//! current and partial segments spared, "no limit" deleting nothing, uploaded first), the
//! forecast, and `enforce`/`apply` on real files with a simulated clock and fake disk.

use std::time::Duration;

use crate::common::*;
use store::{
    Clock, Deletion, FakeFsStats, FsStats, Reason, RetentionPolicy, SegmentDir, SetUp, SimClock,
    StoreError, forecast, plan,
};

const T0: i64 = 1_795_246_310_000;
const MIN: i64 = 60_000;
const HOUR: i64 = 60 * MIN;

/// Ten one-minute segments of 1 MB starting at T0; `uploaded` picks which are uploaded.
fn ten(uploaded: impl Fn(usize) -> bool) -> Vec<store::SegmentInfo> {
    (0..10)
        .map(|i| info(T0 + i as i64 * MIN, MIN, 1_000_000, uploaded(i)))
        .collect()
}

/// Deletions as (index into `ten`, reason).
fn check(
    segments: &[store::SegmentInfo],
    policy: RetentionPolicy,
    now_ms: i64,
    free: u64,
    current: Option<usize>,
    expected: &[(usize, Reason)],
) {
    let current = current.map(|i| segments[i].name.clone());
    let got = plan(segments, &policy, now_ms, free, current.as_deref());
    let want: Vec<Deletion> = expected
        .iter()
        .map(|&(i, reason)| Deletion {
            name: segments[i].name.clone(),
            reason,
            size_bytes: segments[i].size_bytes,
        })
        .collect();
    assert_eq!(got, want, "{policy:?} now {now_ms} free {free}");
}

const FREE: u64 = 1 << 40;

#[test]
fn no_limit_deletes_nothing() {
    let segs = ten(|_| false);
    check(
        &segs,
        RetentionPolicy::UNLIMITED,
        T0 + 1000 * HOUR,
        0,
        None,
        &[],
    );
    // Zero limits (rejected by validate) are ignored by plan rather than deleting all.
    let zero = RetentionPolicy {
        max_age: Some(Duration::ZERO),
        max_bytes: Some(0),
        min_free_bytes: Some(0),
        prefer_uploaded: true,
    };
    check(&segs, zero, T0 + 1000 * HOUR, 0, None, &[]);
}

#[test]
fn age_limit() {
    let segs = ten(|i| i % 2 == 0);
    let policy = RetentionPolicy {
        max_age: Some(Duration::from_secs(3600)),
        ..RetentionPolicy::UNLIMITED
    };
    // Segment i ends at T0 + (i+1) min; at T0 + 1 h + 3.5 min the first three are over 1 h old.
    let now = T0 + HOUR + 3 * MIN + MIN / 2;
    let expect = [(0, Reason::Age), (1, Reason::Age), (2, Reason::Age)];
    check(&segs, policy, now, 0, None, &expect);
    // Uploaded or not, prefer_uploaded or not: age is age.
    let p = RetentionPolicy {
        prefer_uploaded: true,
        ..policy
    };
    check(&segs, p, now, 0, None, &expect);
    // Exactly max_age after the end: kept.
    check(&segs, policy, T0 + HOUR + MIN, 0, None, &[]);
    // All expired, but the current segment survives.
    check(
        &segs,
        policy,
        T0 + 100 * HOUR,
        FREE,
        Some(9),
        &(0..9).map(|i| (i, Reason::Age)).collect::<Vec<_>>(),
    );
}

#[test]
fn size_limit() {
    let segs = ten(|_| false);
    let policy = RetentionPolicy {
        max_bytes: Some(7_500_000),
        ..RetentionPolicy::UNLIMITED
    };
    // 10 MB down to 7 MB: the three oldest.
    let expect = [(0, Reason::Size), (1, Reason::Size), (2, Reason::Size)];
    check(&segs, policy, T0, 0, None, &expect);
    // The current segment is skipped, the next oldest goes instead.
    let expect = [(1, Reason::Size), (2, Reason::Size), (3, Reason::Size)];
    check(&segs, policy, T0, 0, Some(0), &expect);
    // Partial files count towards the limit but are never deleted.
    let mut with_partial = segs.clone();
    with_partial[0].partial = true;
    with_partial[0].duration_ms = None;
    check(&with_partial, policy, T0, 0, None, &expect);
    // Exactly at the limit: nothing.
    let at = RetentionPolicy {
        max_bytes: Some(10_000_000),
        ..policy
    };
    check(&segs, at, T0, 0, None, &[]);
}

#[test]
fn free_space_floor() {
    let segs = ten(|_| false);
    let policy = RetentionPolicy {
        min_free_bytes: Some(2_000_000),
        ..RetentionPolicy::UNLIMITED
    };
    check(&segs, policy, T0, 2_000_000, None, &[]);
    check(
        &segs,
        policy,
        T0,
        1_999_999,
        None,
        &[(0, Reason::FreeSpace)],
    );
    // From nothing free: two 1 MB segments reach the 2 MB floor.
    let expect = [(0, Reason::FreeSpace), (1, Reason::FreeSpace)];
    check(&segs, policy, T0, 0, None, &expect);
    // A floor no deletion can reach: everything but the current segment, no more.
    let huge = RetentionPolicy {
        min_free_bytes: Some(1 << 50),
        ..policy
    };
    let all_but_last: Vec<_> = (0..9).map(|i| (i, Reason::FreeSpace)).collect();
    check(&segs, huge, T0, 0, Some(9), &all_but_last);
    // Input order does not matter.
    let mut shuffled = segs.clone();
    shuffled.reverse();
    let got = plan(&shuffled, &policy, T0, 0, None);
    assert_eq!(
        got.iter().map(|d| d.name.clone()).collect::<Vec<_>>(),
        names(&segs[..2])
    );
}

#[test]
fn limits_combine_and_count_what_was_freed() {
    let segs = ten(|_| false);
    let policy = RetentionPolicy {
        max_age: Some(Duration::from_secs(3600)),
        max_bytes: Some(6_000_000),
        min_free_bytes: Some(1_500_000),
        prefer_uploaded: false,
    };
    // Age takes 0 and 1, size 2 and 3 (8 -> 6 MB), and the 4 MB they freed satisfy the
    // 1.5 MB floor: nothing goes for free space.
    let now = T0 + HOUR + 2 * MIN + 1;
    let expect = [
        (0, Reason::Age),
        (1, Reason::Age),
        (2, Reason::Size),
        (3, Reason::Size),
    ];
    check(&segs, policy, now, 0, None, &expect);
}

#[test]
fn uploaded_segments_go_first_under_pressure() {
    // Uploaded: 1, 4, 5, 8.
    let segs = ten(|i| [1, 4, 5, 8].contains(&i));
    let policy = RetentionPolicy {
        max_bytes: Some(7_000_000),
        prefer_uploaded: true,
        ..RetentionPolicy::UNLIMITED
    };
    let expect = [(1, Reason::Size), (4, Reason::Size), (5, Reason::Size)];
    check(&segs, policy, T0, 0, None, &expect);
    // Still over after every uploaded one: un-uploaded ones, oldest first.
    let tight = RetentionPolicy {
        max_bytes: Some(4_000_000),
        ..policy
    };
    let expect: Vec<_> = [1, 4, 5, 8, 0, 2]
        .into_iter()
        .map(|i| (i, Reason::Size))
        .collect();
    check(&segs, tight, T0, 0, None, &expect);
    // Same order for the free-space floor.
    let floor = RetentionPolicy {
        min_free_bytes: Some(5_000_000),
        prefer_uploaded: true,
        ..RetentionPolicy::UNLIMITED
    };
    let expect: Vec<_> = [1, 4, 5, 8, 0]
        .into_iter()
        .map(|i| (i, Reason::FreeSpace))
        .collect();
    check(&segs, floor, T0, 0, None, &expect);
    // Without prefer_uploaded: plain oldest first.
    let plain = RetentionPolicy {
        prefer_uploaded: false,
        ..policy
    };
    let expect = [(0, Reason::Size), (1, Reason::Size), (2, Reason::Size)];
    check(&segs, plain, T0, 0, None, &expect);
}

#[test]
fn zero_limits_are_config_errors() {
    assert!(RetentionPolicy::UNLIMITED.validate().is_ok());
    for (policy, what) in [
        (
            RetentionPolicy {
                max_age: Some(Duration::ZERO),
                ..RetentionPolicy::UNLIMITED
            },
            "max_age is 0",
        ),
        (
            RetentionPolicy {
                max_bytes: Some(0),
                ..RetentionPolicy::UNLIMITED
            },
            "max_bytes is 0",
        ),
        (
            RetentionPolicy {
                min_free_bytes: Some(0),
                ..RetentionPolicy::UNLIMITED
            },
            "min_free_bytes is 0",
        ),
    ] {
        let err = policy.validate().unwrap_err();
        assert!(matches!(err, StoreError::Config(_)), "{err:?}");
        let msg = err.to_string();
        assert!(msg.contains(what) && msg.contains("leave it out"), "{msg}");
    }
}

#[test]
fn forecast_days_of_footage() {
    // 10 segments of 1 MB per minute: 16 666.7 B/s, 1.44 GB per day.
    let segs = ten(|_| false);
    let f = forecast(
        &segs,
        14_400_000_000 - 10_000_000,
        &RetentionPolicy::UNLIMITED,
    );
    assert_eq!(
        (f.bytes_used, f.segment_count, f.footage_ms),
        (10_000_000, 10, 10 * MIN)
    );
    let rate = f.bitrate_bytes_per_sec.unwrap();
    assert!((rate - 1_000_000.0 / 60.0).abs() < 1e-6, "{rate}");
    assert_eq!(f.capacity_bytes, 14_400_000_000);
    let days = f.days_of_footage_possible.unwrap();
    assert!((days - 10.0).abs() < 1e-9, "{days}");
    assert_eq!(f.limited_by, Reason::FreeSpace);
    assert!(f.warnings.is_empty(), "{:?}", f.warnings);

    let size = RetentionPolicy {
        max_bytes: Some(2_880_000_000),
        min_free_bytes: Some(1_000_000_000),
        ..RetentionPolicy::UNLIMITED
    };
    let f = forecast(&segs, 14_390_000_000, &size);
    assert!((f.days_of_footage_possible.unwrap() - 2.0).abs() < 1e-9);
    assert_eq!(f.limited_by, Reason::Size);

    let age = RetentionPolicy {
        max_age: Some(Duration::from_secs(3 * 86_400)),
        ..size
    };
    let f = forecast(&segs, 14_390_000_000, &age);
    assert!((f.days_of_footage_possible.unwrap() - 2.0).abs() < 1e-9);
    let age = RetentionPolicy {
        max_age: Some(Duration::from_secs(86_400)),
        ..size
    };
    let f = forecast(&segs, 14_390_000_000, &age);
    assert!((f.days_of_footage_possible.unwrap() - 1.0).abs() < 1e-9);
    assert_eq!(f.limited_by, Reason::Age);

    // A quota smaller than one segment, and no finished segment yet.
    let tiny = RetentionPolicy {
        max_bytes: Some(500_000),
        ..RetentionPolicy::UNLIMITED
    };
    let f = forecast(&segs, FREE, &tiny);
    assert!(
        f.warnings[0].contains("smaller than one segment"),
        "{:?}",
        f.warnings
    );
    let f = forecast(&[], FREE, &tiny);
    assert_eq!(f.bitrate_bytes_per_sec, None);
    assert_eq!(f.days_of_footage_possible, None);
}

#[test]
fn enforce_on_real_files_with_sim_clock_and_fake_disk() {
    let segs = make_segments(15, 15, 60, 200_000);
    let seg = &segs[0];
    let size = seg.summary.file_bytes;
    let tmp = tempfile::tempdir().unwrap();
    let dir = SegmentDir::open(tmp.path().join("cam"), "cam", SetUp::CreateIfMissing).unwrap();
    let clock = SimClock::new(T0);
    // Six one-second segments, one a minute; the 2nd and 4th uploaded.
    let mut written = Vec::new();
    for _ in 0..6 {
        written.push(write_segment(&dir, clock.now_ms(), seg).name);
        clock.advance(Duration::from_secs(60));
    }
    dir.mark_uploaded(&written[1]).unwrap();
    dir.mark_uploaded(&written[3]).unwrap();
    let listed = dir.segments().unwrap();
    assert_eq!(names(&listed), written);
    assert!(
        listed
            .iter()
            .all(|s| s.duration_ms == Some(1000) && s.size_bytes == size)
    );

    let fs = FakeFsStats::new(FREE, FREE);
    // No limit: nothing happens.
    let r = dir
        .enforce(&RetentionPolicy::UNLIMITED, clock.now_ms(), &fs, None)
        .unwrap();
    assert!(r.deleted.is_empty());

    // Age: at T0 + 6 min, a 4-minute limit removes segments 0 and 1 (ended > 4 min ago).
    let age = RetentionPolicy {
        max_age: Some(Duration::from_secs(4 * 60)),
        ..RetentionPolicy::UNLIMITED
    };
    let r = dir.enforce(&age, clock.now_ms(), &fs, None).unwrap();
    assert_eq!(r.bytes_freed, 2 * size);
    assert_eq!(names(&dir.segments().unwrap()), written[2..]);
    assert!(!dir.path().join(format!("{}.uploaded", written[1])).exists());

    // Free space: the fake disk is short by 1.5 segments; uploaded segment 3 goes first,
    // then the oldest un-uploaded one (2), sparing the current segment.
    fs.set_free_bytes(0);
    let floor = RetentionPolicy {
        min_free_bytes: Some(size + size / 2),
        prefer_uploaded: true,
        ..RetentionPolicy::UNLIMITED
    };
    let current = dir.begin(clock.now_ms()).unwrap();
    let r = dir
        .enforce(&floor, clock.now_ms(), &fs, Some(current.name()))
        .unwrap();
    let deleted: Vec<_> = r
        .deleted
        .iter()
        .map(|d| (d.name.clone(), d.reason))
        .collect();
    assert_eq!(
        deleted,
        vec![
            (written[3].clone(), Reason::FreeSpace),
            (written[2].clone(), Reason::FreeSpace)
        ]
    );
    let left = dir.segments().unwrap();
    assert_eq!(
        names(&left),
        vec![
            written[4].clone(),
            written[5].clone(),
            current.name().to_owned()
        ]
    );
    // Size: the partial counts; nothing is left that may go but 4 and 5.
    let size_policy = RetentionPolicy {
        max_bytes: Some(1),
        ..RetentionPolicy::UNLIMITED
    };
    let r = dir
        .enforce(&size_policy, clock.now_ms(), &fs, Some(current.name()))
        .unwrap();
    assert_eq!(r.deleted.len(), 2);
    assert_eq!(dir.segments().unwrap().len(), 1);
    assert!(dir.segments().unwrap()[0].partial);
    // apply refuses to delete the segment being written, even if asked directly.
    let err = dir
        .apply(&[Deletion {
            name: current.name().to_owned(),
            reason: Reason::Size,
            size_bytes: 0,
        }])
        .unwrap_err();
    assert!(matches!(err, StoreError::Config(_)), "{err:?}");
    assert!(fs.total_bytes(dir.path()).unwrap() == FREE);
}

#[test]
fn marked_footage_keeps_its_own_age_and_goes_last_under_pressure() {
    let segs = ten(|_| false);
    // Segments 2, 3 and 7 have events in them.
    let names: Vec<String> = [2usize, 3, 7]
        .iter()
        .map(|&i| segs[i].name.clone())
        .collect();
    let marked = |s: &store::SegmentInfo| names.contains(&s.name);
    let keep = store::Keep {
        marked: &marked,
        max_age: Some(Duration::from_secs(3 * 3600)),
    };
    let by_name = |d: &[Deletion]| -> Vec<(usize, Reason)> {
        d.iter()
            .map(|d| {
                (
                    segs.iter().position(|s| s.name == d.name).unwrap(),
                    d.reason,
                )
            })
            .collect()
    };
    // Age: one hour for the rest, three hours for marked footage; two hours later the
    // unmarked segments go, the marked stay.
    let policy = RetentionPolicy {
        max_age: Some(Duration::from_secs(3600)),
        ..RetentionPolicy::UNLIMITED
    };
    let got = store::plan_keeping(&segs, &policy, T0 + 2 * HOUR, u64::MAX, None, &keep);
    let want: Vec<(usize, Reason)> = [0, 1, 4, 5, 6, 8, 9]
        .iter()
        .map(|&i| (i, Reason::Age))
        .collect();
    assert_eq!(by_name(&got), want);
    let got = store::plan_keeping(&segs, &policy, T0 + 4 * HOUR, u64::MAX, None, &keep);
    assert_eq!(got.len(), 10, "past its own limit, marked footage goes too");
    // Size: 10 MB held, a 4 MB quota: six segments go, every unmarked one before any
    // marked, oldest first; the current one (9) is spared.
    let policy = RetentionPolicy {
        max_bytes: Some(4_000_000),
        ..RetentionPolicy::UNLIMITED
    };
    let got = store::plan_keeping(
        &segs,
        &policy,
        T0 + HOUR,
        u64::MAX,
        Some(&segs[9].name),
        &keep,
    );
    assert_eq!(
        by_name(&got),
        [0, 1, 4, 5, 6, 8]
            .iter()
            .map(|&i| (i, Reason::Size))
            .collect::<Vec<_>>()
    );
    let policy = RetentionPolicy {
        max_bytes: Some(2_000_000),
        ..RetentionPolicy::UNLIMITED
    };
    let got = store::plan_keeping(
        &segs,
        &policy,
        T0 + HOUR,
        u64::MAX,
        Some(&segs[9].name),
        &keep,
    );
    assert_eq!(
        by_name(&got),
        [0, 1, 4, 5, 6, 8, 2, 3]
            .iter()
            .map(|&i| (i, Reason::Size))
            .collect::<Vec<_>>(),
        "then the oldest marked"
    );
    // Plain `plan` is `plan_keeping` with nothing marked.
    assert_eq!(
        plan(&segs, &policy, T0 + HOUR, u64::MAX, None),
        store::plan_keeping(
            &segs,
            &policy,
            T0 + HOUR,
            u64::MAX,
            None,
            &store::Keep::NOTHING
        )
    );
}

/// `plan_oldest` over the oldest k segments (at least every one the age limit takes),
/// when it says it decided, plans exactly what `plan_keeping` plans over all of them
/// (and over all of them, the same whatever it says). Every prefix, for limits of each kind,
/// with marked and uploaded footage mixed in.
#[test]
fn planning_over_the_oldest_part_matches_planning_over_all() {
    let segs: Vec<store::SegmentInfo> = (0..12)
        .map(|i| info(T0 + i as i64 * MIN, MIN, 1_000_000, i % 3 != 1))
        .collect();
    let marked_names: Vec<String> = [2, 3, 7].iter().map(|&i| segs[i].name.clone()).collect();
    let marked = |s: &store::SegmentInfo| marked_names.contains(&s.name);
    let keep = store::Keep {
        marked: &marked,
        max_age: Some(Duration::from_secs(20 * 60)),
    };
    let now = T0 + 15 * MIN;
    let mut decided_early = 0;
    for prefer_uploaded in [false, true] {
        for max_age in [None, Some(Duration::from_secs(10 * 60))] {
            for max_bytes in [None, Some(11_000_000), Some(8_000_000), Some(2_000_000)] {
                for free in [FREE, 500_000] {
                    let policy = RetentionPolicy {
                        max_age,
                        max_bytes,
                        min_free_bytes: Some(1_000_000),
                        prefer_uploaded,
                    };
                    let all = store::plan_keeping(&segs, &policy, now, free, None, &keep);
                    // The age limit takes segments that ended before now - 10 min: the
                    // first four; a part must hold them.
                    for k in 4..=segs.len() {
                        let rest: u64 = segs[k..].iter().map(|s| s.size_bytes).sum();
                        let part =
                            store::plan_oldest(&segs[..k], rest, &policy, now, free, None, &keep);
                        if part.decided || k == segs.len() {
                            assert_eq!(part.deletions, all, "{policy:?} free {free} k {k}");
                            if k < segs.len() {
                                decided_early += 1;
                            }
                        }
                    }
                }
            }
        }
    }
    assert!(decided_early > 100, "{decided_early}");
}
