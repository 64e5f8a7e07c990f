//! Segments recorded before every file's media time started at 0 (a run's later
//! files continued its running time: a 3 s file's seek bar ran from 3 s to 6 s) are
//! repaired: `hub check` rewrites them to start at 0, updates their index rows (the
//! hash of the stored bytes) and reports each; a repair cut short by a crash is
//! finished; the start-up check does the same for segments new since its previous
//! pass; and a segment an old agent uploads is stored playing from 0.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::recordings_support::{
    FPS, agent_token, encode, ffprobe_times, have_ffprobe, old_style_segment_files, put_segment,
    sha256_hex,
};
use hub::config::Config;
use hub::db::Db;
use hub::recordings::{Recordings, Source, check, index};

const T0: i64 = 1_795_000_000_000;

/// Three old-style 3 s files of one run at 15 fps (45 + 45 + 15 frames): media time
/// from 0, 3 and 6 s.
fn old_run() -> Vec<Vec<u8>> {
    let (track, frames) = encode(105, FPS as u32);
    let files = old_style_segment_files(&track, &frames, 3);
    assert_eq!(files.len(), 3);
    let starts: Vec<_> = files
        .iter()
        .map(|f| media::recover(f).unwrap().first_dts.unwrap().0)
        .collect();
    assert_eq!(starts, vec![0, 3 * 90_000, 6 * 90_000], "made the old way");
    files
}

fn hub_check(cfg: &Path) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_hub"))
        .arg("--config")
        .arg(cfg)
        .arg("check")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// Starts at 0 and lasts `secs` (by our scanner, and by ffprobe when installed).
fn assert_plays_from_0(path: &Path, secs: f64) {
    let bytes = std::fs::read(path).unwrap();
    let r = media::recover(&bytes).unwrap();
    assert_eq!(
        r.first_dts,
        Some(media::Time90k::ZERO),
        "{}",
        path.display()
    );
    assert_eq!(r.duration.as_secs_f64(), secs, "{}", path.display());
    if have_ffprobe() {
        let (start, duration) = ffprobe_times(path);
        assert_eq!((start, duration), (0.0, secs), "{}", path.display());
    }
}

#[test]
fn hub_check_repairs_old_files_updates_the_index_and_reports_each() {
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
    let cam = data.join("recordings/porch");
    let path = |name: &str| -> PathBuf { cam.join(name) };

    let old = old_run();
    let names: Vec<String> = (0..4)
        .map(|i| store::segment_name(T0 + i * 3000).unwrap())
        .collect();
    {
        // An old hub's index: the first three files with rows holding their hashes.
        let db = Db::open(&data.join("hub.db")).unwrap();
        let rec = Recordings::open(&cfg, db).unwrap();
        for (name, file) in names.iter().zip(&old[..3]) {
            std::fs::write(path(name), file).unwrap();
            let seg = rec.index_file("porch", name, Source::Upload).unwrap();
            assert_eq!(seg.sha256, sha256_hex(file));
        }
    }
    // A repair of names[1] cut short by a crash: its complete retimed copy is there,
    // not yet in place (and its row has the old hash).
    let copy = cam.join(format!("{}{}", names[1], store::RETIMED_EXT));
    let made = store::write_retimed_copy(&path(&names[1]), &copy).unwrap();
    assert_eq!(made.unwrap().was_at, media::Time90k(3 * 90_000));
    // And a file without a row (an old hub stopped between its rename and its insert).
    std::fs::write(path(&names[3]), &old[2]).unwrap();

    let stdout = hub_check(&cfg_path);
    println!("{stdout}");
    let expected = [
        format!(
            "finished moving the media time of porch/{} to start at 0 and re-indexed it",
            names[1]
        ),
        format!(
            "moved the media time of porch/{} to start at 0 (it started at 6.000s)",
            names[2]
        ),
        format!(
            "moved the media time of porch/{} to start at 0 (it started at 6.000s)",
            names[3]
        ),
        format!("indexed file without an index row porch/{}", names[3]),
    ];
    for line in &expected {
        assert!(stdout.contains(line.as_str()), "{line:?} in\n{stdout}");
    }
    assert!(
        stdout.contains("check: 4 repairs, 0 problems left"),
        "{stdout}"
    );
    assert!(
        !stdout.contains(&names[0]),
        "the first file was fine: {stdout}"
    );

    // Every file now plays from 0 with its own length; rows hold the stored bytes' hash.
    let db = Db::open(&data.join("hub.db")).unwrap();
    let rows = db.call_blocking(|c| index::all(c, Some("porch"))).unwrap();
    assert_eq!(rows.len(), 4);
    for row in &rows {
        let bytes = std::fs::read(path(&row.file_name)).unwrap();
        assert_eq!(row.sha256, sha256_hex(&bytes), "{}", row.file_name);
        assert_eq!(row.size_bytes, bytes.len() as u64);
        let secs = if row.file_name == names[0] || row.file_name == names[1] {
            3.0
        } else {
            1.0
        };
        assert_eq!(row.duration_ms as f64, secs * 1000.0);
        assert_plays_from_0(&path(&row.file_name), secs);
    }
    let sources: Vec<Source> = rows.iter().map(|r| r.source).collect();
    assert_eq!(
        sources,
        vec![
            Source::Found,
            Source::Upload,
            Source::Upload,
            Source::Upload
        ],
        "re-indexing keeps where a segment came from (newest first)"
    );
    assert_eq!(
        std::fs::read(path(&names[0])).unwrap(),
        old[0],
        "a file that already started at 0 is not rewritten"
    );
    let left: Vec<String> = std::fs::read_dir(&cam)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.contains(".retime"))
        .collect();
    assert!(left.is_empty(), "{left:?}");

    // Nothing left to do.
    let stdout = hub_check(&cfg_path);
    assert!(stdout.contains("check: 0 repairs"), "{stdout}");

    // The start-up check looks at segments new since its previous pass: one written
    // by an old hub after that (run after a downgrade) is repaired; an old one
    // copied back with its row in place is left to `hub check`.
    let newer = store::segment_name(T0 + 60_000).unwrap();
    let older = store::segment_name(T0 - 60_000).unwrap();
    let rec = Recordings::open(&cfg, db).unwrap();
    for name in [&newer, &older] {
        std::fs::write(path(name), &old[1]).unwrap();
        rec.index_file("porch", name, Source::Recorder).unwrap();
    }
    let report = check::run_at_start(&rec).unwrap();
    let retimed: Vec<&str> = report.retimed.iter().map(|r| r.1.as_str()).collect();
    assert_eq!(retimed, vec![newer.as_str()], "{:?}", report.lines());
    assert_plays_from_0(&path(&newer), 3.0);
    let report = check::run(&rec).unwrap();
    let retimed: Vec<&str> = report.retimed.iter().map(|r| r.1.as_str()).collect();
    assert_eq!(retimed, vec![older.as_str()], "{:?}", report.lines());
    let row = rec
        .db
        .call_blocking(|c| index::get(c, "porch", &older))
        .unwrap()
        .unwrap();
    assert_eq!(row.source, Source::Recorder);
    assert_eq!(
        row.sha256,
        sha256_hex(&std::fs::read(path(&older)).unwrap())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_old_agents_upload_is_stored_playing_from_0_with_the_stored_bytes_hash() {
    let h =
        crate::common::TestHub::start("[[camera]]\nid = 1\nname = \"porch\"\nkind = \"agent\"\n")
            .await;
    let old = old_run();
    let name = store::segment_name(T0 + 3000).unwrap();
    let sent = &old[1];
    let r = put_segment(&h, 1, &name, sent, &sha256_hex(sent)).await;
    assert_eq!(r.status(), 201);
    let body: serde_json::Value = r.json().await.unwrap();
    let stored_path = h.dir.path().join("data/recordings/porch").join(&name);
    let stored = std::fs::read(&stored_path).unwrap();
    assert_eq!(stored.len(), sent.len(), "only decode times changed");
    assert_ne!(&stored, sent);
    assert_eq!(body["segment"]["sha256"], sha256_hex(&stored));
    assert_eq!(body["segment"]["duration_ms"], 3000);
    assert_plays_from_0(&stored_path, 3.0);
    // The index and the upload status agree with the bytes stored.
    let st: serde_json::Value = h
        .client()
        .get(h.url(&format!("/api/v1/agents/1/segments/{name}")))
        .bearer_auth(agent_token(1))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(st["state"], "complete");
    assert_eq!(st["sha256"], sha256_hex(&stored));
    // No staging file is left behind.
    let staging = h.dir.path().join("data/recordings/.uploads/porch");
    let left: Vec<_> = std::fs::read_dir(&staging)
        .map(|d| d.map(|e| e.unwrap().file_name()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "{left:?}");
    // A current agent retimes its own copy the same way: its upload of those bytes is
    // the one already stored.
    let r = put_segment(&h, 1, &name, &stored, &sha256_hex(&stored)).await;
    assert_eq!(r.status(), 200);
    h.stop().await;
}
