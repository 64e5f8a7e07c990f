//! The ownership marker: a marked directory records; an unmarked one (an empty mount point
//! whose disk is missing) and a missing one under `MustExist` are refused.

use std::fs;

use store::{MARKER, SegmentDir, SetUp, StoreError};

#[test]
fn set_up_then_reopen_and_record() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("front");
    let dir = SegmentDir::open(&path, "front", SetUp::CreateIfMissing).unwrap();
    let id = dir.id().to_owned();
    assert_eq!(id.len(), 32);
    let marker = fs::read_to_string(path.join(MARKER)).unwrap();
    assert!(marker.contains("camera front\n"), "{marker}");
    assert!(marker.contains(&id));
    drop(dir);

    // Every later run: MustExist finds the marker, keeps the id, and records.
    let dir = SegmentDir::open(&path, "front", SetUp::MustExist).unwrap();
    assert_eq!(dir.id(), id);
    let mut w = dir.begin(1_795_246_310_123).unwrap();
    w.append(b"not checked here").unwrap();
    w.abort().unwrap();
    assert!(dir.segments().unwrap().is_empty());
    // CreateIfMissing on a marked directory is a plain open.
    drop(dir);
    let dir = SegmentDir::open(&path, "front", SetUp::CreateIfMissing).unwrap();
    assert_eq!(dir.id(), id);
}

#[test]
fn unmarked_non_empty_directory_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    fs::write(tmp.path().join("holiday.jpg"), b"someone else's file").unwrap();
    for setup in [SetUp::CreateIfMissing, SetUp::MustExist] {
        let err = SegmentDir::open(tmp.path(), "front", setup).unwrap_err();
        assert!(
            matches!(err, StoreError::NotRecordingsDir { .. }),
            "{err:?}"
        );
        let msg = err.to_string();
        assert!(
            msg.contains("is not a recordings directory (no marker"),
            "{msg}"
        );
        assert!(msg.contains("refusing so an unmounted disk does not fill the SD card"));
    }
    assert!(!tmp.path().join(MARKER).exists(), "nothing written");
}

#[test]
fn empty_unmarked_directory_is_adopted_only_at_set_up() {
    let tmp = tempfile::tempdir().unwrap();
    // An empty mount point: MustExist refuses it.
    let err = SegmentDir::open(tmp.path(), "front", SetUp::MustExist).unwrap_err();
    assert!(
        matches!(err, StoreError::NotRecordingsDir { .. }),
        "{err:?}"
    );
    // At set-up an empty directory (or a fresh filesystem with lost+found) is adopted.
    fs::create_dir(tmp.path().join("lost+found")).unwrap();
    SegmentDir::open(tmp.path(), "front", SetUp::CreateIfMissing).unwrap();
    assert!(tmp.path().join(MARKER).exists());
}

#[test]
fn missing_directory_with_must_exist_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("disk-not-mounted");
    let err = SegmentDir::open(&path, "front", SetUp::MustExist).unwrap_err();
    assert!(matches!(err, StoreError::Missing { .. }), "{err:?}");
    assert!(err.to_string().contains("is its disk mounted?"), "{err}");
    assert!(!path.exists(), "not created");
    // CreateIfMissing creates the last component only, never its parents.
    let deep = tmp.path().join("not-mounted/cams/front");
    let err = SegmentDir::open(&deep, "front", SetUp::CreateIfMissing).unwrap_err();
    assert!(matches!(err, StoreError::Io { .. }), "{err:?}");
    assert!(!tmp.path().join("not-mounted").exists());
}

#[test]
fn other_camera_lock_bad_names_and_bad_marker() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("cam");
    let dir = SegmentDir::open(&path, "front", SetUp::CreateIfMissing).unwrap();
    // Locked while open (also against a second open in the same process).
    let err = SegmentDir::open(&path, "front", SetUp::MustExist).unwrap_err();
    assert!(matches!(err, StoreError::Locked { .. }), "{err:?}");
    // A lock released a moment later (as when a spawned child held a copy of the
    // descriptor until its exec) is waited for.
    let release = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(200));
        drop(dir);
    });
    let dir = SegmentDir::open(&path, "front", SetUp::MustExist).unwrap();
    release.join().unwrap();
    drop(dir);
    let err = SegmentDir::open(&path, "back", SetUp::MustExist).unwrap_err();
    assert!(
        matches!(&err, StoreError::WrongCamera { found, .. } if found == "front"),
        "{err:?}"
    );
    for bad in ["", "  ", "a\nb", &"x".repeat(200)] {
        let err = SegmentDir::open(&path, bad, SetUp::MustExist).unwrap_err();
        assert!(matches!(err, StoreError::Config(_)), "{err:?}");
    }
    fs::write(path.join(MARKER), "something else\n").unwrap();
    let err = SegmentDir::open(&path, "front", SetUp::MustExist).unwrap_err();
    assert!(matches!(err, StoreError::BadMarker { .. }), "{err:?}");
    // A file where the directory should be.
    let file = tmp.path().join("file");
    fs::write(&file, b"x").unwrap();
    let err = SegmentDir::open(&file, "front", SetUp::CreateIfMissing).unwrap_err();
    assert!(matches!(err, StoreError::NotADirectory { .. }), "{err:?}");
}
