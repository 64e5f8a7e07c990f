//! The recordings index: migrations from an empty database and from version 1
//! (users survive), and `hub check` repairing an orphan file, a missing file and
//! a torn `.partial` segment.

use std::path::Path;
use std::process::Command;

use crate::recordings_support::{encode, segment_files};
use hub::config::Config;
use hub::db::Db;
use hub::recordings::{Recordings, Segment, Source, check, index};
use store::{SegmentDir, SetUp};

/// Schema version 1 exactly as released (users and sessions).
const V1: &str = "CREATE TABLE user (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        password_phc TEXT NOT NULL,
        api_token_sha256 TEXT UNIQUE,
        created_ms INTEGER NOT NULL
    ) STRICT;
    CREATE TABLE session (
        id_sha256 TEXT PRIMARY KEY,
        user_id INTEGER NOT NULL REFERENCES user(id) ON DELETE CASCADE,
        created_ms INTEGER NOT NULL,
        expires_ms INTEGER NOT NULL
    ) STRICT;
    CREATE INDEX session_expiry ON session(expires_ms);
    PRAGMA user_version = 1;";

fn version(path: &Path) -> i64 {
    let c = rusqlite::Connection::open(path).unwrap();
    c.query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap()
}

fn segment(camera: &str, file: &str) -> Segment {
    Segment {
        camera: camera.into(),
        file_name: file.into(),
        start_ms: store::parse_segment_name(file).unwrap(),
        duration_ms: 1000,
        size_bytes: 10,
        sha256: "00".repeat(32),
        codec: "avc1.42C01E".into(),
        width: 320,
        height: 240,
        source: Source::Recorder,
    }
}

#[test]
fn migrations_from_empty_and_from_v1() {
    let dir = tempfile::tempdir().unwrap();
    // Empty.
    let p = dir.path().join("empty.db");
    let db = Db::open(&p).unwrap();
    let s = segment("porch", "2026-11-21T07-31-50.123Z.mp4");
    db.call_blocking(|c| {
        index::insert(c, &s, 1)?;
        assert_eq!(index::get(c, "porch", &s.file_name)?.unwrap(), s);
        assert_eq!(index::days(c, "porch")?, vec![("2026-11-21".to_owned(), 1)]);
        Ok(())
    })
    .unwrap();
    assert_eq!(version(&p), 7);

    // Version 1 with a user and a session: both survive, the index appears.
    let p = dir.path().join("v1.db");
    {
        let c = rusqlite::Connection::open(&p).unwrap();
        c.execute_batch(V1).unwrap();
        c.execute(
            "INSERT INTO user (name, password_phc, api_token_sha256, created_ms) VALUES ('ann', 'phc', 'tok', 5)",
            [],
        )
        .unwrap();
        c.execute(
            "INSERT INTO session (id_sha256, user_id, created_ms, expires_ms) VALUES ('s', 1, 5, 9999999999999)",
            [],
        )
        .unwrap();
    }
    assert_eq!(version(&p), 1);
    let db = Db::open(&p).unwrap();
    assert_eq!(version(&p), 7);
    db.call_blocking(|c| {
        assert_eq!(
            hub::db::user_by_name(c, "ann")?.unwrap().password_phc,
            "phc"
        );
        assert!(hub::db::session_user(c, "s", 10)?.is_some());
        // Sessions from before addresses were kept list with empty ones.
        let listed = hub::db::sessions_of(c, 1, 10)?;
        assert_eq!(
            (listed[0].address.as_str(), listed[0].user_agent.as_str()),
            ("", "")
        );
        assert!(index::all(c, None)?.is_empty());
        index::insert(c, &s, 1)
    })
    .unwrap();
    // Reopening a current database changes nothing.
    let db = Db::open(&p).unwrap();
    assert_eq!(db.call_blocking(|c| index::all(c, None)).unwrap().len(), 1);
}

#[test]
fn the_recordings_table_rebuild_keeps_every_row() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("v4.db");
    Db::migrate_file_to(&p, 4).unwrap();
    assert_eq!(version(&p), 4);
    let segs: Vec<Segment> = [
        "2026-11-21T07-31-50.123Z.mp4",
        "2026-11-21T07-32-50.123Z.mp4",
    ]
    .iter()
    .map(|f| segment("porch", f))
    .collect();
    {
        let c = rusqlite::Connection::open(&p).unwrap();
        // The version-4 table, as an older hub wrote it (no `local` column yet).
        for s in &segs {
            c.execute(
                "INSERT INTO recording (camera, file_name, start_ms, duration_ms, size_bytes,
                     sha256, codec, width, height, source, indexed_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, 1)",
                rusqlite::params![
                    s.camera,
                    s.file_name,
                    s.start_ms,
                    s.duration_ms,
                    s.size_bytes as i64,
                    s.sha256,
                    s.codec,
                    s.width,
                    s.height,
                    s.source.as_str()
                ],
            )
            .unwrap();
        }
    }
    let db = Db::open(&p).unwrap();
    assert_eq!(version(&p), 7);
    let (all, local) = db
        .call_blocking(|c| {
            let local: i64 =
                c.query_row("SELECT count(*) FROM recording WHERE local = 1", [], |r| {
                    r.get(0)
                })?;
            Ok((index::all(c, None)?, local))
        })
        .unwrap();
    // Listed newest first.
    assert_eq!(all, segs.iter().rev().cloned().collect::<Vec<_>>());
    assert_eq!(local, 2, "rows from before the rebuild are local files");
}

#[test]
fn check_fixes_orphans_missing_files_and_partials() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    let cfg_path = dir.path().join("hub.toml");
    std::fs::write(
        &cfg_path,
        format!(
            "data_dir = {:?}\n[[camera]]\nid = 1\nname = \"porch\"\nkind = \"agent\"\n",
            data.display().to_string()
        ),
    )
    .unwrap();
    let cfg = Config::load(&cfg_path).unwrap();

    // First start: sets up the directories and an empty index.
    {
        let db = Db::open(&data.join("hub.db")).unwrap();
        let rec = Recordings::open(&cfg, db).unwrap();
        assert!(check::run(&rec).unwrap().is_clean());
    }

    let (track, frames) = encode(60, 15);
    let files = segment_files(&track, &frames, 2); // two 2 s segments
    assert_eq!(files.len(), 2);
    let t0 = 1_795_000_000_000;
    let orphan = store::segment_name(t0).unwrap();
    let torn = store::segment_name(t0 + 2000).unwrap();
    let missing = store::segment_name(t0 + 4000).unwrap();
    {
        // An orphan (renamed into place, crash before the index insert) and a
        // torn partial (crash mid-segment: half a fragment at the end).
        let d = SegmentDir::open(data.join("recordings/porch"), "porch", SetUp::MustExist).unwrap();
        std::fs::write(d.path().join(&orphan), &files[0]).unwrap();
        let cut = files[1].len() - 100;
        std::fs::write(d.path().join(format!("{torn}.partial")), &files[1][..cut]).unwrap();
        // A row whose file is gone (deleted by hand, or a crash mid-retention).
        let db = Db::open(&data.join("hub.db")).unwrap();
        db.call_blocking(|c| index::insert(c, &segment("porch", &missing), 1))
            .unwrap();
    }

    // `hub check` reports and fixes all three.
    let out = Command::new(env!("CARGO_BIN_EXE_hub"))
        .arg("--config")
        .arg(&cfg_path)
        .arg("check")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains(&format!("recovered partial segment porch/{torn}")),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("indexed file without an index row porch/{orphan}")),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!(
            "removed index row of missing file porch/{missing}"
        )),
        "{stdout}"
    );
    assert!(
        stdout.contains("check: 3 repairs, 0 problems left"),
        "{stdout}"
    );

    let db = Db::open(&data.join("hub.db")).unwrap();
    let rows = db.call_blocking(|c| index::all(c, Some("porch"))).unwrap();
    let names: Vec<&str> = rows.iter().map(|r| r.file_name.as_str()).collect();
    assert_eq!(names, vec![torn.as_str(), orphan.as_str()], "newest first");
    let o = &rows[1];
    assert_eq!(o.source, Source::Found);
    assert_eq!(o.sha256, crate::recordings_support::sha256_hex(&files[0]));
    assert_eq!(o.duration_ms, 2000);
    assert_eq!((o.width, o.height), (320, 240));
    let t = &rows[0];
    assert!(
        t.duration_ms > 0 && t.duration_ms < 2000,
        "cut to whole fragments: {}",
        t.duration_ms
    );

    // A second check finds nothing to do.
    let rec = Recordings::open(&cfg, db).unwrap();
    let report = check::run(&rec).unwrap();
    assert!(report.is_clean(), "{:?}", report.lines());
    // While the directories are open (the hub is running), `hub check` refuses.
    let out = Command::new(env!("CARGO_BIN_EXE_hub"))
        .arg("--config")
        .arg(&cfg_path)
        .arg("check")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("in use"));
}

#[test]
fn retention_by_age_size_and_free_space_removes_rows_and_files() {
    use std::sync::Arc;
    use store::{FakeFsStats, Reason, SimClock};

    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    let (track, frames) = encode(15, 15);
    let file = segment_files(&track, &frames, 60).remove(0);
    let size = file.len() as u64;
    let text = format!(
        "data_dir = {:?}\n[retention]\nmax_size = {}\nmin_free = \"1GiB\"\n\
         [[camera]]\nid = 1\nname = \"a\"\nkind = \"agent\"\n[camera.retention]\nmax_age = \"1h\"\n\
         [[camera]]\nid = 2\nname = \"b\"\nkind = \"agent\"\n",
        data.display().to_string(),
        size * 7 / 2
    );
    let cfg = Config::parse(&text, Path::new("test.toml")).unwrap();
    let db = Db::open(&data.join("hub.db")).unwrap();
    drop(Recordings::open(&cfg, db.clone()).unwrap()); // set up the directories

    let (t0, h) = (1_795_000_000_000i64, 3_600_000i64);
    let put = |camera: &str, start: i64| {
        let d = SegmentDir::open(
            data.join("recordings").join(camera),
            camera,
            SetUp::MustExist,
        )
        .unwrap();
        let name = store::segment_name(start).unwrap();
        std::fs::write(d.path().join(&name), &file).unwrap();
        name
    };
    let a_old = put("a", t0);
    let a_new = put("a", t0 + 2 * h);
    let b1 = put("b", t0 + h);
    let b2 = put("b", t0 + 5 * h / 2);
    let b3 = put("b", t0 + 3 * h - 5000);
    let clock = Arc::new(SimClock::new(t0 + 3 * h));
    let fs = Arc::new(FakeFsStats::new(1 << 40, 1 << 41));
    let rec = Recordings::open_with(&cfg, db.clone(), clock, fs.clone()).unwrap();
    assert_eq!(check::run(&rec).unwrap().indexed_orphans.len(), 5);

    let rows = |camera: &str| -> Vec<String> {
        let mut v: Vec<String> = db
            .call_blocking(|c| index::all(c, Some(camera)))
            .unwrap()
            .into_iter()
            .map(|s| s.file_name)
            .collect();
        v.sort();
        v
    };
    let on_disk =
        |camera: &str, name: &str| data.join("recordings").join(camera).join(name).exists();

    // Camera a's age limit takes its old segment; the global size limit then
    // takes the oldest of what is left over all cameras (b's first).
    let r = rec.enforce_retention().unwrap();
    assert_eq!(
        r.deleted,
        vec![
            ("a".to_owned(), a_old.clone(), Reason::Age),
            ("b".to_owned(), b1.clone(), Reason::Size)
        ]
    );
    assert_eq!(r.bytes_freed, 2 * size);
    assert_eq!(rows("a"), vec![a_new.clone()]);
    assert_eq!(rows("b"), vec![b2.clone(), b3.clone()]);
    assert!(!on_disk("a", &a_old) && !on_disk("b", &b1));
    assert!(
        rec.enforce_retention().unwrap().deleted.is_empty(),
        "stable"
    );

    // Under the free-space floor, oldest first until it is met.
    fs.set_free_bytes((1 << 30) - size - size / 2);
    let r = rec.enforce_retention().unwrap();
    let gone: Vec<&str> = r.deleted.iter().map(|d| d.1.as_str()).collect();
    assert_eq!(gone, vec![a_new.as_str(), b2.as_str()]);
    assert!(r.deleted.iter().all(|d| d.2 == Reason::FreeSpace));
    assert_eq!(rows("a"), Vec::<String>::new());
    assert_eq!(rows("b"), vec![b3.clone()]);

    // A full disk with nothing the limits would free: the camera's oldest goes.
    fs.set_free_bytes(1 << 40);
    assert_eq!(rec.make_room("b").unwrap(), size);
    assert!(rows("b").is_empty() && !on_disk("b", &b3));
}
