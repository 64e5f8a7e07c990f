//! Footage read back from the off-site bucket, against a real Garage on loopback
//! (`testkit::garage`; skipped with a message where it is not built). The bucket is
//! filled by the hub's own replicator; once a segment's copy is `done`, its local file
//! is deleted the way local retention does it (the row stays, `local = 0`). Then: the list says where each segment is, the served file is the
//! original byte for byte (whole and by Range, plain and encrypted), ffprobe reads it,
//! Chromium plays it from the timeline, an export across local and off-site segments
//! is the same file as before, a stopped store is a 502 and one that never answers a
//! 504 after the read timeout; the start-up check keeps rows whose file vanished but
//! whose copy is done; `hub restore --from-offsite` on an empty data directory (segments
//! and events) and `hub check --offsite` (the real binary); and a second, read-only hub
//! on the same bucket lists and plays the first's footage, follows what is added and
//! deleted, and writes nothing.

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use serde_json::Value;
use testkit::{Browser, Garage, LaunchOptions};

use crate::common::{TestHub, browser_login, ffprobe_recording, write_secret};
use crate::recordings_support::{T0, segments, sha256_hex, upload, upload_two};

const CAMERA: &str = r#"
[[camera]]
id = 1
name = "porch"
kind = "agent"
"#;

const PREFIX: &str = "home/hub-1";
const WAIT: Duration = Duration::from_secs(30);

/// The `[offsite]` section for `g`; `extra` adds keys. The secret goes to
/// `{dir}/s3-secret` (written by [`prepare`]).
fn offsite_section(g: &Garage, extra: &str) -> String {
    format!(
        "[offsite]\nendpoint = \"{}\"\nregion = \"{}\"\nbucket = \"{}\"\naccess_key_id = \"{}\"\n\
         secret_access_key_file = \"{{dir}}/s3-secret\"\nprefix = \"{PREFIX}\"\n{extra}",
        g.endpoint(),
        testkit::garage::REGION,
        g.bucket,
        g.key_id
    )
}

/// Writes the secret (and, with `key`, the encryption key) where the section names them.
fn prepare(dir: &Path, g: &Garage, key: Option<&str>) {
    write_secret(&dir.join("s3-secret"), &g.secret);
    if let Some(k) = key {
        write_secret(&dir.join("offsite-key"), k);
    }
}

async fn start_hub(g: &Garage, extra: &str, key: Option<&str>) -> TestHub {
    let config = format!("{CAMERA}{}", offsite_section(g, extra));
    TestHub::start_prepared(&config, |d| prepare(d, g, key)).await
}

fn bucket(h: &TestHub) -> Arc<offsite::Bucket> {
    h.hub.offsite.clone().expect("[offsite] is configured")
}

/// Waits until the hub's own replicator has copied segment `public` (e.g.
/// `porch_2026-…mp4`) to the bucket, checks the object's SHA-256, deletes the local file
/// the way local retention does (the row stays, marked not local) and returns its key.
async fn move_offsite(h: &TestHub, public: &str) -> String {
    copy_offsite(h, public, true).await
}

/// [`move_offsite`]; with `mark` false the row still says the file is local (the file
/// then went missing behind the hub's back).
async fn copy_offsite(h: &TestHub, public: &str, mark: bool) -> String {
    let (camera, file) = hub::recordings::index::parse_public_name(public).unwrap();
    let (camera, file) = (camera.to_owned(), file.to_owned());
    let db = h.hub.recordings.db.clone();
    let (c2, f2) = (camera.clone(), file.clone());
    let seg = db
        .call(move |c| hub::recordings::index::get(c, &c2, &f2))
        .await
        .unwrap()
        .expect("indexed");
    let key = wait_replicated(h, public).await;
    let b = bucket(h);
    assert_eq!(b.head(&key).await.unwrap().sha256, Some(seg.sha256.clone()));
    let path = h.hub.recordings.dir(&camera).unwrap().path().join(&file);
    if mark {
        let how = db
            .call(move |c| hub::recordings::replication::delete_local(c, &camera, &file))
            .await
            .unwrap();
        assert_eq!(
            how,
            hub::recordings::replication::LocalDeletion::KeptInBucket
        );
    }
    std::fs::remove_file(&path).unwrap();
    key
}

/// Waits until the hub's replicator has copied segment `public`; returns its key.
async fn wait_replicated(h: &TestHub, public: &str) -> String {
    let (camera, file) = hub::recordings::index::parse_public_name(public).unwrap();
    let key = bucket(h).layout().segment(camera, file).unwrap();
    let db = h.hub.recordings.db.clone();
    let deadline = Instant::now() + WAIT;
    loop {
        let k = key.clone();
        let state: Option<String> = db
            .call(move |c| {
                use rusqlite::OptionalExtension;
                Ok(
                    c.query_row("SELECT state FROM replication WHERE key = ?1", [&k], |r| {
                        r.get(0)
                    })
                    .optional()?,
                )
            })
            .await
            .unwrap();
        if state.as_deref() == Some("done") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{key} not replicated within {WAIT:?} (state {state:?})"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    key
}

async fn get(
    h: &TestHub,
    path: &str,
    range: Option<&str>,
) -> (u16, reqwest::header::HeaderMap, Bytes) {
    let mut r = h.get_auth(path);
    if let Some(range) = range {
        r = r.header("Range", range);
    }
    let r = tokio::time::timeout(WAIT, r.send())
        .await
        .expect("answered in time")
        .unwrap();
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    (status, headers, r.bytes().await.unwrap())
}

fn stored_of(list: &[Value]) -> Vec<(String, String)> {
    list.iter()
        .map(|s| {
            (
                s["name"].as_str().unwrap().to_owned(),
                s["stored"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offsite_segments_are_listed_served_by_range_exported_and_played() {
    let Some(mut g) = Garage::start_or_skip() else {
        return;
    };
    let h = start_hub(&g, "", None).await;
    let (names, files) = upload_two(&h).await;
    let export_url = format!(
        "/api/recordings/export?camera=porch&start={}&end={}",
        T0 + 1000,
        T0 + 5000
    );
    let (status, _, export_before) = get(&h, &export_url, None).await;
    assert_eq!(status, 200);

    let key = move_offsite(&h, &names[0]).await;
    assert_eq!(
        key,
        format!(
            "{PREFIX}/rec/porch/{}",
            names[0].trim_start_matches("porch_")
        )
    );

    // The list: both segments, as before, saying where each is (the second is copied
    // too, and still on the disk).
    wait_replicated(&h, &names[1]).await;
    let list = segments(&h, "porch").await;
    assert_eq!(
        stored_of(&list),
        vec![
            (names[0].clone(), "offsite".to_owned()),
            (names[1].clone(), "both".to_owned())
        ]
    );
    assert_eq!(list[0]["size_bytes"], files[0].len() as u64);
    assert_eq!(list[0]["sha256"], sha256_hex(&files[0]).as_str());

    // The whole file, and byte ranges, exactly the original's bytes.
    let url = format!("/recordings/{}", names[0]);
    let (status, headers, body) = get(&h, &url, None).await;
    assert_eq!(status, 200);
    assert_eq!(headers["content-type"], "video/mp4");
    assert_eq!(body.as_ref(), files[0].as_slice());
    let len = files[0].len();
    for (range, from, to) in [
        ("bytes=100-5000".to_owned(), 100, 5000),
        (format!("bytes={}-", len - 777), len - 777, len - 1),
        ("bytes=-1000".to_owned(), len - 1000, len - 1),
        ("bytes=0-0".to_owned(), 0, 0),
    ] {
        let (status, headers, body) = get(&h, &url, Some(&range)).await;
        assert_eq!(status, 206, "{range}");
        assert_eq!(
            headers["content-range"],
            format!("bytes {from}-{to}/{len}").as_str(),
            "{range}"
        );
        assert_eq!(body.as_ref(), &files[0][from..=to], "{range}");
    }
    let (status, _, _) = get(&h, &url, Some(&format!("bytes={len}-"))).await;
    assert_eq!(status, 416);
    if let Some((codec, frames)) = ffprobe_recording(&h, &url).await {
        assert_eq!((codec.as_str(), frames), ("h264", 45));
    }
    // The playback page opens it too.
    let (status, _, _) = get(&h, &format!("/playback.html?file={}", names[0]), None).await;
    assert_eq!(status, 200);

    // An export across the off-site and the local segment: the same file as before.
    let (status, _, export_after) = get(&h, &export_url, None).await;
    assert_eq!(status, 200);
    assert_eq!(export_after.len(), export_before.len());
    assert!(export_after == export_before, "the export differs");

    // Chromium plays it from the timeline, from 0, for its whole duration.
    if let Some(why) = Browser::available() {
        eprintln!("skipping the browser part: {why}");
    } else {
        let b = Browser::launch_with(LaunchOptions::default())
            .await
            .expect("chromium starts");
        browser_login(&b, &h, "/timeline/porch?date=2026-11-21").await;
        b.wait_until("return window.timeline && window.timeline.ready", WAIT)
            .await
            .unwrap();
        b.eval(&format!("window.timeline.playAt({T0}); return true"))
            .await
            .unwrap();
        let got = b
            .wait_until(
                &format!(
                    "const v = document.getElementById('player');
                     return v.dataset.name === '{}' && !v.paused && v.currentTime > 0.5
                         ? [v.duration, v.played.length, v.played.start(0), v.error === null] : null",
                    names[0]
                ),
                WAIT,
            )
            .await
            .unwrap();
        let duration = list[0]["duration_ms"].as_f64().unwrap() / 1000.0;
        assert_eq!(duration, 3.0);
        assert!(
            (got[0].as_f64().unwrap() - duration).abs() < 1.0 / 15.0,
            "the player's duration {got}"
        );
        assert_eq!(got[1], 1, "{got}");
        assert_eq!(got[2].as_f64().unwrap(), 0.0, "played from 0: {got}");
        assert_eq!(got[3], true, "{got}");
        // It plays through to its end (the timeline then goes on to the local one).
        b.wait_until(
            &format!(
                "const v = document.getElementById('player');
                 return v.dataset.name === '{}' || v.ended",
                names[1]
            ),
            WAIT,
        )
        .await
        .unwrap();
        assert_eq!(b.console_errors().await.unwrap(), Vec::<String>::new());
        b.close().await.unwrap();
    }

    // The store stopped: a clear 502 in bounded time, nothing lost; back, it plays.
    g.stop().unwrap();
    let started = Instant::now();
    let (status, _, body) = get(&h, &url, Some("bytes=0-99")).await;
    assert_eq!(status, 502, "{}", String::from_utf8_lossy(&body));
    let text = String::from_utf8_lossy(&body);
    assert!(
        text.contains("off-site copy") && text.contains(&key),
        "{text}"
    );
    assert!(!text.contains(&g.secret));
    eprintln!("a stopped store answered in {:?}", started.elapsed());
    let (status, _, body) = get(&h, &format!("/recordings/{}", names[1]), None).await;
    assert_eq!((status, body.as_ref()), (200, files[1].as_slice()));
    g.restart().unwrap();
    let (status, _, body) = get(&h, &url, None).await;
    assert_eq!((status, body.as_ref()), (200, files[0].as_slice()));
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn encrypted_offsite_ranges_decrypt_to_the_local_bytes() {
    let Some(g) = Garage::start_or_skip() else {
        return;
    };
    let key_hex = "5e".repeat(32);
    let h = start_hub(
        &g,
        "encryption_key_file = \"{dir}/offsite-key\"\n",
        Some(&key_hex),
    )
    .await;
    assert!(bucket(&h).is_encrypting());
    // Larger than one block the reader fetches (1 MiB), so ranges cross blocks and
    // encryption chunks.
    let spec = testkit::h264::Spec {
        bitrate_bps: 4_000_000,
        picture: testkit::h264::Picture::Noise,
        ..testkit::h264::Spec::new(10 * 15, 15)
    };
    let (track, frames) = testkit::h264::encode(&spec);
    let file = crate::recordings_support::segment_files(&track, &frames, 3600).remove(0);
    let block = hub::offsite::read::BLOCK as usize;
    assert!(file.len() > block + 100_000, "{} bytes", file.len());
    let name = upload(&h, T0, &file).await;
    let key = move_offsite(&h, &name).await;
    // The bucket holds ciphertext, not the file.
    let stored = bucket(&h).read_stored(&key).await.unwrap();
    assert_ne!(stored.len(), file.len());
    assert!(!stored.windows(64).any(|w| w == &file[1000..1064]));

    let url = format!("/recordings/{name}");
    let len = file.len();
    for (from, to) in [
        (0, len - 1),
        (7, 70_000),
        (block - 10, block + 10),
        (block - 1, block),
        (block, len - 1),
        (len - 3, len - 1),
    ] {
        let (status, _, body) = get(&h, &url, Some(&format!("bytes={from}-{to}"))).await;
        assert_eq!(status, 206);
        assert_eq!(body.as_ref(), &file[from..=to], "{from}-{to}");
    }
    h.stop().await;
}

/// Runs the hub binary; (success, stdout, stderr).
fn hub_cmd(config: &Path, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_hub"))
        .arg("--config")
        .arg(config)
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restore_on_an_empty_data_dir_lists_every_segment_and_check_finds_damage() {
    let Some(g) = Garage::start_or_skip() else {
        return;
    };
    let a = start_hub(&g, "", None).await;
    let (mut names, mut files) = upload_two(&a).await;
    let third = crate::recordings_support::one_segment(2);
    names.push(upload(&a, T0 + 60_000, &third).await);
    files.push(third);
    let mut keys = Vec::new();
    for n in &names[..2] {
        keys.push(move_offsite(&a, n).await);
    }
    // The third one's file vanishes while its row still says local: the check keeps the
    // row (the bucket has it) and marks it off-site instead of dropping it.
    keys.push(copy_offsite(&a, &names[2], false).await);
    let rec = a.hub.recordings.clone();
    let report = tokio::task::spawn_blocking(move || hub::recordings::check::run(&rec))
        .await
        .unwrap()
        .unwrap();
    let third_file = names[2].trim_start_matches("porch_").to_owned();
    assert_eq!(
        report.now_bucket_only,
        vec![("porch".to_owned(), third_file)]
    );
    assert!(report.removed_rows.is_empty(), "{:?}", report.removed_rows);
    let listed_a = segments(&a, "porch").await;
    assert!(
        listed_a.iter().all(|s| s["stored"] == "offsite"),
        "{listed_a:?}"
    );
    // An event with its thumbnail, as replication copies them.
    let event = hub::offsite::events::EventRecord {
        version: 1,
        id: 12,
        camera: "porch".into(),
        kind: "alarm".into(),
        label: Some("person".into()),
        start_ms: T0 + 1000,
        end_ms: Some(T0 + 2500),
        score: Some(0.75),
        zone: Some("drive".into()),
        message: None,
        origin: "camera".into(),
    };
    let thumb = crate::common::jpeg(3);
    let layout = bucket(&a).layout().clone();
    bucket(&a)
        .replicate_bytes(
            &layout.event("porch", T0 + 1000, "12").unwrap(),
            event.to_json(),
            None,
        )
        .await
        .unwrap();
    bucket(&a)
        .replicate_bytes(
            &layout.thumbnail("porch", T0 + 1000, "12").unwrap(),
            Bytes::from(thumb.clone()),
            None,
        )
        .await
        .unwrap();
    a.stop().await;

    // A new hub: an empty data directory, the same [offsite].
    let dir = tempfile::tempdir().unwrap();
    prepare(dir.path(), &g, None);
    let d = dir.path().display().to_string();
    let config = dir.path().join("hub.toml");
    std::fs::write(
        &config,
        format!(
            "data_dir = \"{d}/data\"\nsecret_file = \"{d}/secret\"\n{CAMERA}{}",
            offsite_section(&g, "").replace("{dir}", &d)
        ),
    )
    .unwrap();
    write_secret(&dir.path().join("secret"), crate::common::SECRET);
    let (ok, out, err) = hub_cmd(&config, &["restore", "--from-offsite"]);
    assert!(ok, "{out}{err}");
    assert!(
        out.contains(
            "restore: 3 segments indexed, 0 already indexed, 0 left as they are, 0 skipped, 0 dropped; 1 events added"
        ),
        "{out}"
    );
    // Again: nothing new.
    let (ok, out, err) = hub_cmd(&config, &["restore", "--from-offsite", "--camera", "porch"]);
    assert!(ok, "{out}{err}");
    assert!(
        out.contains("restore: 0 segments indexed, 3 already indexed, 0 left as they are, 0 skipped, 0 dropped; 0 events added"),
        "{out}"
    );
    let (ok, out, _) = hub_cmd(&config, &["restore", "--from-offsite", "--camera", "attic"]);
    assert!(!ok, "{out}");
    let (ok, out, err) = hub_cmd(&config, &["check", "--offsite", "--deep"]);
    assert!(ok, "{out}{err}");
    assert!(
        out.contains("3 objects as the index says, 0 missing, 0 corrupt, 0 unexpected"),
        "{out}"
    );

    // The new hub on that directory lists them all (same names, sizes, hashes) and
    // plays them from the bucket.
    let b = TestHub::start_prepared(&format!("{CAMERA}{}", offsite_section(&g, "")), |target| {
        prepare(target, &g, None);
        copy_dir(&dir.path().join("data"), &target.join("data"));
    })
    .await;
    let listed_b = segments(&b, "porch").await;
    let facts = |l: &[Value]| -> Vec<(Value, Value, Value, Value, Value)> {
        l.iter()
            .map(|s| {
                (
                    s["name"].clone(),
                    s["size_bytes"].clone(),
                    s["sha256"].clone(),
                    s["start_ms"].clone(),
                    s["duration_ms"].clone(),
                )
            })
            .collect()
    };
    assert_eq!(facts(&listed_b), facts(&listed_a));
    assert!(
        listed_b
            .iter()
            .all(|s| s["stored"] == "offsite" && s["source"] == "offsite")
    );
    for (n, f) in names.iter().zip(&files) {
        let (status, _, body) = get(&b, &format!("/recordings/{n}"), None).await;
        assert_eq!((status, body.as_ref()), (200, f.as_slice()), "{n}");
    }
    // The event, with its thumbnail.
    let events = b.get_json("/api/events?camera=porch").await;
    let e = &events["events"][0];
    assert_eq!(events["events"].as_array().unwrap().len(), 1, "{events}");
    assert_eq!(
        (
            &e["kind"],
            &e["label"],
            &e["start_ms"],
            &e["end_ms"],
            &e["score"],
            &e["zone"]
        ),
        (
            &Value::from("alarm"),
            &Value::from("person"),
            &Value::from(T0 + 1000),
            &Value::from(T0 + 2500),
            &Value::from(0.75),
            &Value::from("drive")
        )
    );
    let (status, _, body) = get(&b, e["thumbnail"].as_str().unwrap(), None).await;
    assert_eq!((status, body.as_ref()), (200, thumb.as_slice()));
    let bkt = bucket(&b);
    b.stop().await;
    // A restarted hub keeps them (its start-up check knows they are off site).
    let b2 = TestHub::start_prepared(&format!("{CAMERA}{}", offsite_section(&g, "")), |target| {
        prepare(target, &g, None);
        copy_dir(&dir.path().join("data"), &target.join("data"));
    })
    .await;
    assert_eq!(facts(&segments(&b2, "porch").await), facts(&listed_a));
    b2.stop().await;

    // Damage: one object deleted, one replaced by other bytes.
    bkt.delete(&[keys[0].clone()]).await.unwrap();
    bkt.replicate_bytes(&keys[1], Bytes::from_static(b"not the segment"), None)
        .await
        .unwrap();
    let (ok, out, err) = hub_cmd(&config, &["check", "--offsite"]);
    assert!(!ok, "{out}");
    assert!(out.contains(&format!("missing: {}", keys[0])), "{out}");
    assert!(
        out.contains(&format!("corrupt: {}: 15 bytes instead of", keys[1])),
        "{out}"
    );
    assert!(
        out.contains("1 objects as the index says, 1 missing, 1 corrupt"),
        "{out}"
    );
    assert!(err.contains("1 objects missing and 1 corrupt"), "{err}");
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), &target).unwrap();
        }
    }
}

/// Waits until `h` lists exactly `want` (names) for porch.
async fn wait_listed(h: &TestHub, want: &[String]) -> Vec<Value> {
    let deadline = Instant::now() + WAIT;
    loop {
        let list = segments(h, "porch").await;
        let got: Vec<String> = list
            .iter()
            .map(|s| s["name"].as_str().unwrap().to_owned())
            .collect();
        if got == want {
            return list;
        }
        assert!(Instant::now() < deadline, "listed {got:?}, want {want:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_only_hub_lists_and_plays_the_first_hubs_footage_and_writes_nothing() {
    let Some(g) = Garage::start_or_skip() else {
        return;
    };
    let a = start_hub(&g, "", None).await;
    let (names, files) = upload_two(&a).await;
    for n in &names {
        move_offsite(&a, n).await;
    }
    let r = start_hub(&g, "read_only = true\nrefresh_interval = \"1s\"\n", None).await;
    let list = wait_listed(&r, &names).await;
    assert!(list.iter().all(|s| s["stored"] == "offsite"));
    for (n, f) in names.iter().zip(&files) {
        let (status, _, body) = get(&r, &format!("/recordings/{n}"), Some("bytes=10-")).await;
        assert_eq!((status, body.as_ref()), (206, &f[10..]), "{n}");
    }

    // New footage in the bucket appears; deleted footage disappears.
    let third = crate::recordings_support::one_segment(2);
    let n3 = upload(&a, T0 + 60_000, &third).await;
    move_offsite(&a, &n3).await;
    let all = vec![names[0].clone(), names[1].clone(), n3.clone()];
    wait_listed(&r, &all).await;
    let (status, _, body) = get(&r, &format!("/recordings/{n3}"), None).await;
    assert_eq!((status, body.as_ref()), (200, third.as_slice()));
    let first_key = bucket(&a)
        .layout()
        .segment("porch", names[0].trim_start_matches("porch_"))
        .unwrap();
    bucket(&a).delete(&[first_key]).await.unwrap();
    // The periodic passes ask only for keys after the newest known (the full listing is
    // hourly by default): the deleted segment stays listed until a full pass drops it.
    tokio::time::sleep(Duration::from_secs(3)).await;
    wait_listed(&r, &all).await;
    let cameras = std::collections::HashSet::from(["porch".to_owned()]);
    let db = r.hub.recordings.db.clone();
    let quick = hub::offsite::restore::refresh(&bucket(&r), &db, &cameras, false, 0)
        .await
        .unwrap();
    assert_eq!((quick.added.len(), quick.removed.len()), (0, 0));
    let full = hub::offsite::restore::refresh(&bucket(&r), &db, &cameras, true, 0)
        .await
        .unwrap();
    assert_eq!(
        full.removed,
        vec![(
            "porch".to_owned(),
            names[0].trim_start_matches("porch_").to_owned()
        )]
    );
    wait_listed(&r, &all[1..]).await;

    // It writes nothing: every writing call refuses, and the bucket holds only what the
    // first hub put there.
    let before = bucket(&a).list("rec", None).await.unwrap().objects;
    let ro = bucket(&r);
    let e = ro
        .replicate_bytes(
            &format!("{PREFIX}/rec/porch/2026-11-21T07-40-00.000Z.mp4"),
            Bytes::from_static(b"x"),
            None,
        )
        .await
        .unwrap_err();
    assert_eq!(e.kind(), offsite::ErrorKind::Invalid);
    assert!(e.message().contains("read_only"), "{e}");
    let e = ro.delete(&[before[0].key.clone()]).await.unwrap_err();
    assert_eq!(e.kind(), offsite::ErrorKind::Invalid);
    assert_eq!(
        ro.abort_abandoned(i64::MAX).await.unwrap_err().kind(),
        offsite::ErrorKind::Invalid
    );
    assert_eq!(bucket(&a).list("rec", None).await.unwrap().objects, before);
    r.stop().await;
    a.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_that_never_answers_gets_a_504_in_bounded_time() {
    // An "S3 endpoint" that accepts connections and never answers.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let silent = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = listener.accept().await {
            held.push(s);
        }
    });
    let config = format!(
        "{CAMERA}[offsite]\nendpoint = \"http://127.0.0.1:{port}\"\nregion = \"garage\"\n\
         bucket = \"silent\"\naccess_key_id = \"GK0123\"\n\
         secret_access_key_file = \"{{dir}}/s3-secret\"\nprefix = \"{PREFIX}\"\n"
    );
    let h = TestHub::start_prepared(&config, |d| {
        write_secret(&d.join("s3-secret"), "s3cr3t-s3cr3t")
    })
    .await;
    let file = crate::recordings_support::one_segment(2);
    let name = upload(&h, T0, &file).await;
    let file_name = name.trim_start_matches("porch_").to_owned();
    let key = bucket(&h).layout().segment("porch", &file_name).unwrap();
    let f = file_name.clone();
    h.hub
        .recordings
        .db
        .call(move |c| {
            c.execute(
                "INSERT INTO replication (kind, camera, recording_id, key, state, next_try_ms,
                     queued_ms, done_ms)
                 SELECT 'segment', camera, id, ?2, 'done', 0, 0, 0 FROM recording
                 WHERE camera = 'porch' AND file_name = ?1
                 ON CONFLICT (key) DO UPDATE SET state = 'done', done_ms = 0",
                [&f, &key],
            )?;
            c.execute("UPDATE recording SET local = 0 WHERE file_name = ?1", [&f])?;
            Ok(())
        })
        .await
        .unwrap();
    std::fs::remove_file(
        h.hub
            .recordings
            .dir("porch")
            .unwrap()
            .path()
            .join(&file_name),
    )
    .unwrap();
    let started = Instant::now();
    let (status, _, body) = get(&h, &format!("/recordings/{name}"), None).await;
    let took = started.elapsed();
    assert_eq!(status, 504, "{}", String::from_utf8_lossy(&body));
    assert!(
        String::from_utf8_lossy(&body).contains("no answer from the store within 20 s"),
        "{}",
        String::from_utf8_lossy(&body)
    );
    assert!(took >= hub::offsite::read::REQUEST_TIMEOUT, "{took:?}");
    eprintln!("a silent store answered 504 after {took:?}");
    // Local footage still plays meanwhile.
    let other = crate::recordings_support::one_segment(2);
    let n2 = upload(&h, T0 + 60_000, &other).await;
    let (status, _, body) = get(&h, &format!("/recordings/{n2}"), None).await;
    assert_eq!((status, body.as_ref()), (200, other.as_slice()));
    h.stop().await;
    silent.abort();
}
