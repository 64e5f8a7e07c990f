//! Segments recorded before every file's media time started at 0 are rewritten to start at
//! 0: only the decode times change, the file stays whole at every step, a crash between the
//! steps is finished (or undone) by `recover_partials`, and a pass remembers how far it got.

use std::fs;
use std::time::{Duration, UNIX_EPOCH};

use media::Time90k;
use media::retime::tests_support::old_timing_file;
use store::{RETIME_EXT, RETIMED_EXT, RecoveryAction, RetimeScope, SegmentDir, SetUp};

const T0: i64 = 1_795_246_310_000;

fn first_dts(bytes: &[u8]) -> Option<Time90k> {
    media::recover(bytes).unwrap().first_dts
}

fn setup() -> (tempfile::TempDir, SegmentDir) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = SegmentDir::open(tmp.path().join("cam"), "cam", SetUp::CreateIfMissing).unwrap();
    (tmp, dir)
}

/// Writes `bytes` as finished segment `start_ms` with the store's mtime convention.
fn put(dir: &SegmentDir, start_ms: i64, bytes: &[u8], secs: u64) -> String {
    let name = store::segment_name(start_ms).unwrap();
    let path = dir.path().join(&name);
    fs::write(&path, bytes).unwrap();
    let end = UNIX_EPOCH + Duration::from_millis(start_ms as u64) + Duration::from_secs(secs);
    fs::File::options()
        .write(true)
        .open(&path)
        .unwrap()
        .set_modified(end)
        .unwrap();
    name
}

fn no_index(_: &store::PreparedRetime) -> Result<(), String> {
    Ok(())
}

#[test]
fn a_pass_retimes_old_files_only_and_remembers_where_it_stopped() {
    let (_tmp, dir) = setup();
    // A run's first file (media time from 0) and its second (from 3 s), both old-style.
    let first = put(&dir, T0, &old_timing_file(0, 3), 3);
    let old = old_timing_file(3, 3);
    let second = put(&dir, T0 + 3000, &old, 3);
    dir.mark_uploaded(&second).unwrap();
    let listed_before = dir.segments().unwrap();

    assert_eq!(dir.media_time_checked_through().unwrap(), None);
    assert_eq!(
        dir.first_media_time(&second).unwrap(),
        Some(Time90k(3 * 90_000))
    );
    let pass = dir
        .retime_segments(RetimeScope::SincePreviousPass, &mut no_index)
        .unwrap();
    assert_eq!(pass.checked, 2);
    assert!(pass.failed.is_empty(), "{pass:?}");
    assert_eq!(pass.retimed.len(), 1);
    let r = &pass.retimed[0];
    assert_eq!(
        (r.name.as_str(), r.was_at, r.fragments, r.size_bytes),
        (second.as_str(), Time90k(3 * 90_000), 3, old.len() as u64)
    );

    let new = fs::read(dir.path().join(&second)).unwrap();
    assert_eq!(new.len(), old.len());
    assert_eq!(first_dts(&new), Some(Time90k::ZERO));
    let (a, b) = (media::recover(&old).unwrap(), media::recover(&new).unwrap());
    assert_eq!((a.samples, a.duration), (b.samples, b.duration));
    // Name, size, mtime (the duration in listings) and the uploaded mark are kept; no
    // temporary file is left.
    assert_eq!(dir.segments().unwrap(), listed_before);
    let left: Vec<String> = fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.contains(".retime"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
    assert_eq!(
        fs::read(dir.path().join(&first)).unwrap(),
        old_timing_file(0, 3),
        "a file already at 0 is not rewritten"
    );

    // The next start-up checks only what is newer; `All` checks everything again.
    assert_eq!(dir.media_time_checked_through().unwrap(), Some(T0 + 3001));
    let pass = dir
        .retime_segments(RetimeScope::SincePreviousPass, &mut no_index)
        .unwrap();
    assert_eq!((pass.checked, pass.retimed.len()), (0, 0));
    let third = put(&dir, T0 + 6000, &old_timing_file(6, 2), 2);
    let pass = dir
        .retime_segments(RetimeScope::SincePreviousPass, &mut no_index)
        .unwrap();
    assert_eq!(pass.checked, 1);
    assert_eq!(pass.retimed[0].name, third);
    let pass = dir
        .retime_segments(RetimeScope::All, &mut no_index)
        .unwrap();
    assert_eq!((pass.checked, pass.retimed.len()), (3, 0));
}

#[test]
fn a_crash_between_the_steps_is_finished_or_undone_at_recovery() {
    let (_tmp, dir) = setup();
    let old = old_timing_file(120, 2);
    let name = put(&dir, T0, &old, 2);

    // Crash after the copy was complete (`.retimed`), before it was put in place.
    let prepared = dir.prepare_retime(&name).unwrap().unwrap();
    let copy = prepared.path().to_owned();
    assert!(copy.to_str().unwrap().ends_with(RETIMED_EXT));
    assert_eq!(first_dts(&fs::read(&copy).unwrap()), Some(Time90k::ZERO));
    drop(prepared);
    assert_eq!(fs::read(dir.path().join(&name)).unwrap(), old, "untouched");
    let reports = dir.recover_partials().unwrap();
    assert_eq!(reports.len(), 1, "{reports:?}");
    assert_eq!(
        reports[0].action,
        RecoveryAction::Retimed { name: name.clone() }
    );
    assert!(!copy.exists());
    assert_eq!(
        first_dts(&fs::read(dir.path().join(&name)).unwrap()),
        Some(Time90k::ZERO)
    );

    // Crash while the copy was being written (`.retime`): it is deleted, the segment
    // stays as it was and the next pass retimes it.
    let name2 = put(&dir, T0 + 5000, &old, 2);
    let torn = dir.path().join(format!("{name2}{RETIME_EXT}"));
    fs::write(&torn, &old[..old.len() / 2]).unwrap();
    // And a complete copy whose segment was deleted meanwhile (retention): not revived.
    let gone = store::segment_name(T0 - 60_000).unwrap();
    let orphan = dir.path().join(format!("{gone}{RETIMED_EXT}"));
    fs::write(&orphan, &old).unwrap();
    let reports = dir.recover_partials().unwrap();
    assert_eq!(reports.len(), 2, "{reports:?}");
    assert!(
        reports
            .iter()
            .all(|r| r.action == RecoveryAction::RemovedStray)
    );
    assert!(!torn.exists() && !orphan.exists());
    assert!(!dir.path().join(&gone).exists());
    assert_eq!(fs::read(dir.path().join(&name2)).unwrap(), old);
    let pass = dir
        .retime_segments(RetimeScope::All, &mut no_index)
        .unwrap();
    assert_eq!(pass.retimed.len(), 1);
    assert_eq!(pass.retimed[0].name, name2);
}

#[test]
fn failures_leave_the_file_and_are_checked_again() {
    let (_tmp, dir) = setup();
    let old = old_timing_file(60, 2);
    let good = put(&dir, T0, &old, 2);
    // Not an MP4 at all, and one whose caller refuses the commit.
    let junk = put(&dir, T0 + 10_000, b"not an mp4 file at all", 2);
    let refused = put(&dir, T0 + 20_000, &old, 2);
    let mut hook = |p: &store::PreparedRetime| {
        if p.report().name == refused {
            Err("index busy".to_owned())
        } else {
            Ok(())
        }
    };
    let pass = dir
        .retime_segments(RetimeScope::SincePreviousPass, &mut hook)
        .unwrap();
    assert_eq!(pass.checked, 3);
    assert_eq!(pass.retimed.len(), 1);
    assert_eq!(pass.retimed[0].name, good);
    let failed: Vec<&str> = pass.failed.iter().map(|f| f.0.as_str()).collect();
    assert_eq!(failed, vec![junk.as_str(), refused.as_str()]);
    assert!(pass.failed[1].1.contains("index busy"), "{pass:?}");
    assert_eq!(fs::read(dir.path().join(&refused)).unwrap(), old);
    assert!(!dir.path().join(format!("{refused}{RETIMED_EXT}")).exists());
    // The next pass starts at the first failure.
    assert_eq!(dir.media_time_checked_through().unwrap(), Some(T0 + 10_000));
    let pass = dir
        .retime_segments(RetimeScope::SincePreviousPass, &mut no_index)
        .unwrap();
    assert_eq!(pass.checked, 2);
    assert_eq!(pass.retimed[0].name, refused);
    // A file with a torn tail is not rewritten.
    let mut torn = old.clone();
    torn.extend_from_slice(b"\0\0\0\x40moof");
    let t = put(&dir, T0 + 30_000, &torn, 2);
    assert!(matches!(
        dir.prepare_retime(&t),
        Err(store::StoreError::BadSegment(_))
    ));
    assert!(matches!(
        dir.first_media_time("../etc/passwd"),
        Err(store::StoreError::BadName(_))
    ));
}
