//! Off-site replication against a real Garage on loopback (`testkit::garage`): agents'
//! segments and events reach the bucket with their hashes, a day index once the day is
//! over; a stopped store grows the backlog and loses nothing; a hub killed with -9 mid
//! multipart upload finishes it once after restart; a full bucket and a refused key
//! become health events while recording goes on; encrypted objects hold no plaintext.
//! Skipped with a message where Garage is not built (a failure in CI).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use offsite::{Bucket, DayIndex, DirJournal, OffsiteConfig};
use serde_json::Value;
use sha2::{Digest, Sha256};
use testkit::Garage;
use testkit::h264::{self, Picture, Spec};

use crate::common::{TestHub, jpeg, write_secret};
use crate::recordings_support::{T0, put_segment, sha256_hex, upload_two};

const PREFIX: &str = "home/hub-1";
/// A 32-byte encryption key, hex.
const KEY_HEX: &str = "4242424242424242424242424242424242424242424242424242424242424242";

/// The `[offsite]` section for `g`, with the secret in `secret_file`.
fn offsite_toml(g: &Garage, secret_file: &Path, extra: &str) -> String {
    format!(
        "[offsite]\nendpoint = \"{}\"\nregion = \"{}\"\nbucket = \"{}\"\naccess_key_id = \"{}\"\n\
         secret_access_key_file = {:?}\nprefix = \"{PREFIX}\"\npart_size = \"5MiB\"\n{extra}",
        g.endpoint(),
        testkit::garage::REGION,
        g.bucket,
        g.key_id,
        secret_file.display().to_string(),
    )
}

const CAMERAS: &str = "[[camera]]\nid = 1\nname = \"porch\"\nkind = \"agent\"\n";

/// An in-process hub with camera `porch` copied to `g`, its secret `secret` (and the
/// encryption key when `encrypt`).
async fn start_hub(g: &Garage, secret: &str, encrypt: bool) -> TestHub {
    let extra = if encrypt {
        "encryption_key_file = \"{dir}/offsite.key\"\n"
    } else {
        ""
    };
    // `{dir}` is replaced by the hub's directory.
    let section = offsite_toml(g, Path::new("{dir}/offsite.secret"), extra);
    let secret = secret.to_owned();
    TestHub::start_prepared(&format!("{CAMERAS}{section}"), move |dir| {
        write_secret(&dir.join("offsite.secret"), &secret);
        write_secret(&dir.join("offsite.key"), KEY_HEX);
    })
    .await
}

/// A second view of the bucket for the test to read it.
fn reader(g: &Garage, encrypt: bool) -> (Bucket, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let cfg = OffsiteConfig::from_toml(
        offsite_toml(g, Path::new("unused"), "")
            .strip_prefix("[offsite]\n")
            .unwrap(),
    )
    .unwrap();
    let key = encrypt.then(|| offsite::crypto::Key::from_hex(KEY_HEX).unwrap());
    let b = Bucket::new(
        &cfg,
        offsite::config::Credentials {
            access_key_id: g.key_id.clone(),
            secret_access_key: g.secret.clone(),
        },
        key,
        Arc::new(DirJournal::open(&dir.path().join("journal")).unwrap()),
    )
    .unwrap();
    (b, dir)
}

async fn offsite_state(h: &TestHub) -> Value {
    h.get_json("/api/offsite").await
}

/// Waits (up to `limit`) until `porch` has nothing waiting and `n` objects copied.
async fn wait_replicated(h: &TestHub, n: u64, limit: Duration) -> Value {
    let t = Instant::now();
    loop {
        let s = offsite_state(h).await;
        let c = &s["cameras"]["porch"];
        if c["backlog_objects"] == 0 && c["replicated_objects"] == n {
            return s;
        }
        assert!(
            t.elapsed() < limit,
            "not replicated within {limit:?}: {s:#}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

fn segment_file(h: &TestHub, name: &str) -> PathBuf {
    h.dir.path().join("data/recordings/porch").join(name)
}

fn sha(b: &[u8]) -> String {
    hex::encode(Sha256::digest(b))
}

/// Every key of `kind` in the bucket, checked unique.
async fn keys(b: &Bucket, kind: &str) -> Vec<String> {
    let keys: Vec<String> = b
        .list(kind, None)
        .await
        .unwrap()
        .objects
        .into_iter()
        .map(|l| l.key)
        .collect();
    let mut unique = keys.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), keys.len(), "duplicate keys: {keys:?}");
    keys
}

/// Checks that the bucket holds each local segment of `names` (store names) with its
/// hash, in metadata and in content.
async fn assert_in_bucket(h: &TestHub, b: &Bucket, names: &[String]) {
    for name in names {
        let local = std::fs::read(segment_file(h, name)).unwrap();
        let key = b.layout().segment("porch", name).unwrap();
        let head = b.head(&key).await.unwrap();
        assert_eq!(head.sha256.as_deref(), Some(sha(&local).as_str()), "{key}");
        assert_eq!(head.plain_len, local.len() as u64);
        let stored = b.read_all(&key).await.unwrap();
        assert_eq!(sha(&stored), sha(&local), "{key}: content");
    }
}

async fn post_event(h: &TestHub, id: &str, start_ms: i64, end_ms: i64) {
    let body = serde_json::json!({
        "id": id,
        "kind": "motion",
        "start_ms": start_ms,
        "end_ms": end_ms,
        "score": 0.5,
        "thumbnail_jpeg": base64::engine::general_purpose::STANDARD.encode(jpeg(3)),
    });
    let r = h
        .client()
        .post(h.url("/api/v1/agents/1/events"))
        .bearer_auth(crate::recordings_support::agent_token(1))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.text().await.unwrap());
}

/// One short real segment starting at `start_ms`, uploaded as porch's agent; its
/// store name.
async fn upload_at(h: &TestHub, start_ms: i64, file: &[u8]) -> String {
    let name = store::segment_name(start_ms).unwrap();
    let r = put_segment(h, 1, &name, file, &sha256_hex(file)).await;
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    name
}

fn short_segment(seed: usize) -> Vec<u8> {
    let (track, frames) = h264::encode(&Spec::new(30 + seed, 15));
    h264::segments_of(&track, &frames, 3600)[0].bytes()
}

fn local_flag(h: &TestHub, name: &str) -> Option<i64> {
    let n = name.to_owned();
    h.hub
        .recordings
        .db
        .call_blocking(|c| {
            Ok(c.query_row(
                "SELECT local FROM recording WHERE camera = 'porch' AND file_name = ?1",
                [&n],
                |r| r.get(0),
            )
            .ok())
        })
        .unwrap()
}

/// Segments, an event with its thumbnail and the day index reach the bucket with their
/// hashes; the camera status, `/api/offsite` and `/metrics` say so; local retention then
/// deletes the replicated file first and keeps its row, marked not local.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn segments_events_and_day_index_reach_the_bucket_with_their_hashes() {
    let Some(g) = Garage::start_or_skip() else {
        return;
    };
    let h = start_hub(&g, &g.secret, false).await;
    let (names, _) = upload_two(&h).await;
    let names: Vec<String> = names
        .iter()
        .map(|n| n.strip_prefix("porch_").unwrap().to_owned())
        .collect();
    post_event(&h, "m1", T0 + 1000, T0 + 2500).await;
    // 2 segments, the event, its thumbnail, and the index of their (past) day.
    let s = wait_replicated(&h, 5, Duration::from_secs(60)).await;
    assert_eq!(s["paused"], Value::Null, "{s:#}");
    assert_eq!(s["replicated_objects"], 5, "{s:#}");
    let (b, _d) = reader(&g, false);
    assert_eq!(keys(&b, "rec").await.len(), 2);
    assert_in_bucket(&h, &b, &names).await;

    let ev = keys(&b, "events").await;
    assert_eq!(ev.len(), 2, "{ev:?}");
    let json_key = ev.iter().find(|k| k.ends_with(".json")).unwrap();
    let bytes = b.read_all(json_key).await.unwrap();
    // The format `hub restore` reads back.
    let parsed = hub::offsite::events::EventRecord::parse(&bytes).unwrap();
    assert_eq!(parsed.origin, "agent");
    let record: Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(
        (
            &record["camera"],
            &record["kind"],
            &record["start_ms"],
            &record["end_ms"]
        ),
        (
            &Value::from("porch"),
            &Value::from("motion"),
            &Value::from(T0 + 1000),
            &Value::from(T0 + 2500)
        )
    );
    let thumb_key = ev.iter().find(|k| k.ends_with(".jpg")).unwrap();
    assert_eq!(b.read_all(thumb_key).await.unwrap().to_vec(), jpeg(3));

    let idx = keys(&b, "index").await;
    assert_eq!(idx, vec![format!("{PREFIX}/index/porch/2026-11-21.json")]);
    let day = DayIndex::parse(&b.read_all(&idx[0]).await.unwrap()).unwrap();
    let listed: Vec<&str> = day.segments.iter().map(|s| s.file_name.as_str()).collect();
    assert_eq!(listed, names.iter().map(String::as_str).collect::<Vec<_>>());
    for (rec, name) in day.segments.iter().zip(&names) {
        let local = std::fs::read(segment_file(&h, name)).unwrap();
        assert_eq!(rec.sha256, sha(&local));
        assert_eq!(rec.size_bytes, local.len() as u64);
    }

    // The camera status counts as the replicator last did (within RESCAN).
    let t = Instant::now();
    loop {
        let status = h.get_json("/api/v1/cameras/porch/status").await;
        let o = &status["offsite"];
        if o["replicated_objects"] == 5 && o["backlog_objects"] == 0 {
            assert_eq!(o["lost_before_copy"], 0);
            assert_eq!(o["last_error"], Value::Null);
            break;
        }
        assert!(t.elapsed() < Duration::from_secs(10), "{status:#}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let metrics = h.text("/metrics").await;
    for line in [
        "camera_offsite_backlog_objects{camera=\"porch\"} 0",
        "camera_offsite_replicated_objects{camera=\"porch\"} 5",
        "camera_offsite_lag_seconds{camera=\"porch\"} 0.0",
        "offsite_replicated_objects_total 5",
        "camera_offsite_lost_total{camera=\"porch\"} 0",
    ] {
        assert!(
            metrics.lines().any(|l| l == line),
            "{line} not in\n{metrics}"
        );
    }
    let sent: u64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("offsite_replicated_bytes_total "))
        .unwrap()
        .parse()
        .unwrap();
    let expected: u64 = names
        .iter()
        .map(|n| std::fs::metadata(segment_file(&h, n)).unwrap().len())
        .sum::<u64>()
        + jpeg(3).len() as u64;
    assert!(
        sent > expected,
        "{sent} bytes sent for {expected} of segments and thumbnail"
    );

    // Disk pressure: the oldest replicated segment goes; its row stays, not local.
    let rec = h.hub.recordings.clone();
    let freed = tokio::task::spawn_blocking(move || rec.delete_oldest("porch"))
        .await
        .unwrap()
        .unwrap();
    assert!(freed > 0);
    assert!(!segment_file(&h, &names[0]).exists());
    assert_eq!(local_flag(&h, &names[0]), Some(0));
    assert_eq!(local_flag(&h, &names[1]), Some(1));
    assert_eq!(h.hub.recordings.lost_before_replication("porch"), 0);
    h.stop().await;
}

/// How long the store is stopped in the outage test.
const OUTAGE: Duration = Duration::from_secs(180);

/// Garage stopped for three minutes while an agent uploads: the backlog and lag grow,
/// tries back off (a handful, not one a second), nothing is lost; after it returns every
/// segment is in the bucket exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_store_grows_the_backlog_and_everything_goes_once_after() {
    let Some(mut g) = Garage::start_or_skip() else {
        return;
    };
    let h = start_hub(&g, &g.secret, false).await;
    // Today's footage: no day index (the day is not over).
    let t0 = hub::camera::now_ms() - 600_000;
    let mut names = vec![upload_at(&h, t0, &short_segment(0)).await];
    wait_replicated(&h, 1, Duration::from_secs(60)).await;

    g.stop().unwrap();
    let outage = Instant::now();
    for i in 1..4 {
        names.push(upload_at(&h, t0 + i * 5_000, &short_segment(i as usize)).await);
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    let mut max_backlog = 0;
    while outage.elapsed() < OUTAGE {
        let s = offsite_state(&h).await;
        max_backlog = max_backlog.max(s["cameras"]["porch"]["backlog_objects"].as_u64().unwrap());
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let s = offsite_state(&h).await;
    let c = &s["cameras"]["porch"];
    assert_eq!(max_backlog, 3, "{s:#}");
    assert_eq!(c["backlog_objects"], 3, "{s:#}");
    assert_eq!(c["last_error"], "retry-later", "{s:#}");
    let lag = c["lag_seconds"].as_f64().unwrap();
    // The oldest waiting segment came in just after the stop.
    let o = OUTAGE.as_secs_f64();
    assert!((o - 15.0..o + 5.0).contains(&lag), "lag {lag}: {s:#}");
    let tries = s["errors"]["retry-later"].as_u64().unwrap();
    // Backoff 1, 2, 4, 8, 16, then every 30 s: about 10 tries in 180 s, not 180.
    assert!((6..=14).contains(&tries), "{tries} tries: {s:#}");
    let metrics = h.text("/metrics").await;
    assert!(
        metrics
            .lines()
            .any(|l| l == "camera_offsite_backlog_objects{camera=\"porch\"} 3"),
        "{metrics}"
    );
    for n in &names {
        assert!(
            segment_file(&h, n).exists(),
            "{n} deleted during the outage"
        );
    }

    g.restart().unwrap();
    wait_replicated(&h, 4, Duration::from_secs(90)).await;
    let (b, _d) = reader(&g, false);
    let rec = keys(&b, "rec").await;
    assert_eq!(rec.len(), 4, "{rec:?}");
    assert_in_bucket(&h, &b, &names).await;
    let s = offsite_state(&h).await;
    assert_eq!(s["replicated_objects"], 4, "each object stored once: {s:#}");
    assert_eq!(g.bucket_info().unwrap()["objects"], 4);
    h.stop().await;
}

/// A full bucket: a health event names the cause, recording (uploads) goes on, nothing
/// local is deleted; once there is room again the copies resume and the event ends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_bucket_is_a_health_event_and_recording_goes_on() {
    let Some(g) = Garage::start_or_skip() else {
        return;
    };
    g.set_quota(None, Some(1)).unwrap();
    let h = start_hub(&g, &g.secret, false).await;
    let t0 = hub::camera::now_ms() - 600_000;
    let first = upload_at(&h, t0, &short_segment(0)).await;
    wait_replicated(&h, 1, Duration::from_secs(60)).await;
    let second = upload_at(&h, t0 + 5_000, &short_segment(1)).await;
    let s = wait_for(&h, Duration::from_secs(30), |s| !s["paused"].is_null()).await;
    assert_eq!(s["paused"]["cause"], "quota-reached", "{s:#}");
    let ev = health_event(&h, "offsite_quota").await;
    assert!(ev["message"].as_str().unwrap().contains("quota"), "{ev:#}");
    assert_eq!(ev["end_ms"], Value::Null);
    // Recording goes on.
    let third = upload_at(&h, t0 + 10_000, &short_segment(2)).await;
    for n in [&first, &second, &third] {
        assert!(segment_file(&h, n).exists());
        assert_eq!(local_flag(&h, n), Some(1));
    }
    let metrics = h.text("/metrics").await;
    assert!(
        metrics
            .lines()
            .any(|l| l == "offsite_paused{cause=\"quota-reached\"} 1"),
        "{metrics}"
    );
    status_page_shows_the_pause(&h).await;
    // Room again: within the pause (60 s) and a bit, everything goes and the event ends.
    g.set_quota(None, None).unwrap();
    wait_replicated(&h, 3, Duration::from_secs(100)).await;
    let ev = health_event(&h, "offsite_quota").await;
    assert!(ev["end_ms"].is_i64(), "{ev:#}");
    assert_eq!(offsite_state(&h).await["paused"], Value::Null);
    h.stop().await;
}

/// A wrong secret: a clear error in `/api/offsite`, a health event, the row stays
/// pending and nothing local is deleted; a segment deleted locally (disk pressure)
/// before it was copied is counted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_key_is_a_clear_error_and_deletes_nothing() {
    let Some(g) = Garage::start_or_skip() else {
        return;
    };
    let h = start_hub(&g, "not-the-secret-0123456789abcdef", false).await;
    let t0 = hub::camera::now_ms() - 600_000;
    let a = upload_at(&h, t0, &short_segment(0)).await;
    let b = upload_at(&h, t0 + 5_000, &short_segment(1)).await;
    let s = wait_for(&h, Duration::from_secs(30), |s| !s["paused"].is_null()).await;
    assert_eq!(s["paused"]["cause"], "auth-refused", "{s:#}");
    let err = s["last_error"].as_str().unwrap();
    assert!(!err.contains("not-the-secret"), "the secret leaked: {err}");
    assert!(!err.is_empty());
    let ev = health_event(&h, "offsite_refused").await;
    assert!(
        ev["message"].as_str().unwrap().contains("access key"),
        "{ev:#}"
    );
    assert_eq!(s["cameras"]["porch"]["backlog_objects"], 2, "{s:#}");
    for n in [&a, &b] {
        assert!(segment_file(&h, n).exists());
        assert_eq!(local_flag(&h, n), Some(1));
    }
    assert_eq!(g.bucket_info().unwrap()["objects"], 0);
    // Disk pressure now: the oldest goes although it is not in the bucket; counted.
    let rec = h.hub.recordings.clone();
    tokio::task::spawn_blocking(move || rec.delete_oldest("porch"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(h.hub.recordings.lost_before_replication("porch"), 1);
    assert_eq!(local_flag(&h, &a), None);
    let metrics = h.text("/metrics").await;
    assert!(
        metrics
            .lines()
            .any(|l| l == "camera_offsite_lost_total{camera=\"porch\"} 1"),
        "{metrics}"
    );
    h.stop().await;
}

/// With an encryption key, no object holds a run of the plaintext, and the bucket's
/// copy decrypts to the local file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn encrypted_objects_hold_no_plaintext() {
    let Some(g) = Garage::start_or_skip() else {
        return;
    };
    let h = start_hub(&g, &g.secret, true).await;
    let t0 = hub::camera::now_ms() - 600_000;
    let name = upload_at(&h, t0, &short_segment(0)).await;
    wait_replicated(&h, 1, Duration::from_secs(60)).await;
    let local = std::fs::read(segment_file(&h, &name)).unwrap();
    let (b, _d) = reader(&g, true);
    let key = b.layout().segment("porch", &name).unwrap();
    let stored = b.read_stored(&key).await.unwrap();
    assert!(stored.len() > local.len());
    // Any 32-byte run of the file (the ftyp box, a slice of the picture data).
    for at in (0..local.len() - 32)
        .step_by(997)
        .chain([0, local.len() / 2])
    {
        let needle = &local[at..at + 32];
        assert!(
            !stored.windows(32).any(|w| w == needle),
            "plaintext at {at} found in the object"
        );
    }
    assert_eq!(b.read_all(&key).await.unwrap().to_vec(), local);
    // Without the key the object does not open.
    let (keyless, _d2) = reader(&g, false);
    assert!(keyless.read_all(&key).await.is_err());
    h.stop().await;
}

async fn wait_for(h: &TestHub, limit: Duration, ok: impl Fn(&Value) -> bool) -> Value {
    let t = Instant::now();
    loop {
        let s = offsite_state(h).await;
        if ok(&s) {
            return s;
        }
        assert!(t.elapsed() < limit, "not within {limit:?}: {s:#}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// The newest health event `code` of porch.
async fn health_event(h: &TestHub, code: &str) -> Value {
    let now = hub::camera::now_ms();
    let v = h
        .get_json(&format!(
            "/api/events?camera=porch&kind=health&start={}&end={}",
            now - 3_600_000,
            now + 60_000
        ))
        .await;
    v["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["label"] == code)
        .cloned()
        .unwrap_or_else(|| panic!("no {code} event in {v:#}"))
}

/// A segment bigger than three parts of 5 MiB (noise at a high bitrate).
fn large_segment() -> Vec<u8> {
    let spec = Spec {
        width: 640,
        height: 480,
        frames: 150,
        gop: 15,
        bitrate_bps: 12_000_000,
        picture: Picture::Noise,
    };
    let (track, frames) = h264::encode(&spec);
    h264::segments_of(&track, &frames, 3600)[0].bytes()
}

/// The hub as a process, killed with -9 while it sends the parts of a large segment
/// (5 MiB parts at 16 Mbit/s): the upload is not marked done; after the restart it
/// resumes (or restarts) and ends as one object with the file's hash, no multipart
/// upload left open on the store.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hub_killed_mid_multipart_upload_finishes_it_once_after_restart() {
    let Some(g) = Garage::start_or_skip() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    write_secret(&dir.path().join("offsite.secret"), &g.secret);
    let data = dir.path().join("hub-data");
    let body = format!(
        "data_dir = {:?}\n[recordings]\nmax_segment_size = \"64MiB\"\n{CAMERAS}{}",
        data.display().to_string(),
        offsite_toml(
            &g,
            &dir.path().join("offsite.secret"),
            "max_upload_rate = \"16Mbit/s\"\n"
        )
    );
    let setup = testkit::hub::HubSetup::new(dir.path(), &body).unwrap();
    let token = setup.token(1).unwrap();
    let mut hub = setup.start_async().await.unwrap();

    let file = large_segment();
    assert!(file.len() > 10 << 20, "{} bytes", file.len());
    let name = store::segment_name(hub::camera::now_ms() - 600_000).unwrap();
    let r = reqwest::Client::builder()
        .no_proxy()
        .build()
        .unwrap()
        .put(setup.url(&format!("/api/v1/agents/1/segments/{name}")))
        .bearer_auth(&token)
        .header("X-Content-SHA256", sha256_hex(&file))
        .body(file.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);

    // Kill it once at least one part is journaled.
    let db_path = data.join("hub.db");
    let journaled_parts = || -> usize {
        let Ok(c) = rusqlite::Connection::open(&db_path) else {
            return 0;
        };
        c.query_row("SELECT state FROM multipart_upload", [], |r| {
            r.get::<_, String>(0)
        })
        .ok()
        .and_then(|s| serde_json::from_str::<Value>(&s).ok())
        .and_then(|v| v["parts"].as_array().map(Vec::len))
        .unwrap_or(0)
    };
    let t = Instant::now();
    while journaled_parts() == 0 {
        assert!(
            t.elapsed() < Duration::from_secs(60),
            "no part sent: {}",
            hub.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    hub.signal(testkit::process::Signal::Kill).unwrap();
    hub.wait_timeout_async(Duration::from_secs(10))
        .await
        .unwrap();
    let state = |db: &Path| -> String {
        let c = rusqlite::Connection::open(db).unwrap();
        c.query_row(
            "SELECT state FROM replication WHERE kind = 'segment'",
            [],
            |r| r.get(0),
        )
        .unwrap()
    };
    assert_eq!(
        state(&db_path),
        "pending",
        "marked done before it completed"
    );
    assert_eq!(g.bucket_info().unwrap()["objects"], 0);
    assert_eq!(g.bucket_info().unwrap()["unfinishedMultipartUploads"], 1);

    let hub2 = setup.start_async().await.unwrap();
    let t = Instant::now();
    while state(&db_path) != "done" {
        assert!(
            t.elapsed() < Duration::from_secs(90),
            "not done: {}",
            hub2.log()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(
        hub2.log().contains("resuming an off-site upload"),
        "{}",
        hub2.log()
    );
    let info = g.bucket_info().unwrap();
    assert_eq!(info["objects"], 1, "{info:#}");
    assert_eq!(info["unfinishedMultipartUploads"], 0, "{info:#}");
    let (b, _d) = reader(&g, false);
    let key = b.layout().segment("porch", &name).unwrap();
    assert_eq!(keys(&b, "rec").await, vec![key.clone()]);
    let head = b.head(&key).await.unwrap();
    assert_eq!(head.sha256.as_deref(), Some(sha(&file).as_str()));
    assert_eq!(sha(&b.read_all(&key).await.unwrap()), sha(&file));
    let journal_left: i64 = rusqlite::Connection::open(&db_path)
        .unwrap()
        .query_row("SELECT count(*) FROM multipart_upload", [], |r| r.get(0))
        .unwrap();
    assert_eq!(journal_left, 0);
    drop(hub2);
}

/// `/status` in Chromium, as the owner sees it: the off-site table with porch's waiting
/// segments, and the pause with its cause. Skipped with a message without Chromium.
async fn status_page_shows_the_pause(h: &TestHub) {
    if let Some(reason) = testkit::Browser::available() {
        eprintln!("skipping the status page: {reason}");
        return;
    }
    let b = testkit::Browser::launch().await.unwrap();
    crate::common::browser_login(&b, h, "/status").await;
    b.wait_until(
        "const r = document.querySelector('#offsite tr[data-camera=\"porch\"] .waiting'); \
         return !document.getElementById('offsite').hidden && r && r.textContent.startsWith('2 ')",
        Duration::from_secs(20),
    )
    .await
    .unwrap();
    let summary = b.text("#offsite-summary").await.unwrap();
    assert!(summary.starts_with("Paused: quota-reached"), "{summary}");
    assert_eq!(
        b.text("#offsite tr[data-camera=\"porch\"] .replicated")
            .await
            .unwrap(),
        "1"
    );
    assert_eq!(
        b.text("#offsite tr[data-camera=\"porch\"] .error")
            .await
            .unwrap(),
        "quota-reached"
    );
    let outages = b.text("#health-events").await.unwrap();
    assert!(outages.contains("quota"), "{outages}");
}
