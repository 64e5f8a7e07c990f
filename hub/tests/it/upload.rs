//! Agent segment uploads: resumable after a broken connection, idempotent,
//! integrity-checked, authenticated with the camera's agent token, bounded.

use std::time::Duration;

use crate::common::TestHub;
use crate::recordings_support::{agent_token, one_segment, sha256_hex};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const CONFIG: &str = r#"
[recordings]
max_segment_size = "1MiB"
[[camera]]
id = 1
name = "porch"
kind = "agent"
[[camera]]
id = 2
name = "garage"
kind = "agent"
"#;

const NAME: &str = "2026-11-21T07-31-50.123Z.mp4";

fn url(h: &TestHub, id: u32, name: &str) -> String {
    h.url(&format!("/api/v1/agents/{id}/segments/{name}"))
}

fn put(h: &TestHub, id: u32, name: &str, token: &str, sha: &str) -> reqwest::RequestBuilder {
    h.client()
        .put(url(h, id, name))
        .bearer_auth(token)
        .header("X-Content-SHA256", sha)
}

async fn offset(h: &TestHub, id: u32, name: &str) -> (u16, Option<u64>) {
    let r = h
        .client()
        .head(url(h, id, name))
        .bearer_auth(agent_token(id))
        .send()
        .await
        .unwrap();
    let off = r
        .headers()
        .get("upload-offset")
        .and_then(|v| v.to_str().ok())
        .and_then(|s| s.parse().ok());
    (r.status().as_u16(), off)
}

/// Files under DATA_DIR/recordings (recursively), markers excluded.
fn stored_files(h: &TestHub) -> Vec<String> {
    fn walk(p: &std::path::Path, out: &mut Vec<String>) {
        for e in std::fs::read_dir(p).unwrap().flatten() {
            let path = e.path();
            if path.is_dir() {
                walk(&path, out);
            } else if !e
                .file_name()
                .to_string_lossy()
                .starts_with(".camera-recordings")
            {
                out.push(path.display().to_string());
            }
        }
    }
    let mut out = Vec::new();
    walk(&h.dir.path().join("data/recordings"), &mut out);
    out.sort();
    out
}

async fn listed(h: &TestHub, camera: &str) -> Vec<serde_json::Value> {
    let v: serde_json::Value = h
        .get_auth(&format!("/api/recordings?camera={camera}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    v["segments"].as_array().unwrap().clone()
}

/// Sends a PUT with `Content-Length: total` but only `send` bytes of body, then
/// closes the connection.
async fn interrupted_put(h: &TestHub, id: u32, name: &str, sha: &str, body: &[u8], send: usize) {
    let mut s = tokio::net::TcpStream::connect(h.addr).await.unwrap();
    let head = format!(
        "PUT /api/v1/agents/{id}/segments/{name} HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {}\r\nX-Content-SHA256: {sha}\r\nContent-Length: {}\r\n\r\n",
        h.addr,
        agent_token(id),
        body.len()
    );
    s.write_all(head.as_bytes()).await.unwrap();
    s.write_all(&body[..send]).await.unwrap();
    s.flush().await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    drop(s);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upload_resumes_after_a_broken_connection_and_is_idempotent() {
    let h = TestHub::start(CONFIG).await;
    let file = one_segment(3);
    let sha = sha256_hex(&file);
    let half = file.len() / 2;
    let tok = agent_token(1);

    // Nothing held yet.
    assert_eq!(offset(&h, 1, NAME).await, (200, Some(0)));

    // The connection breaks halfway through the body.
    interrupted_put(&h, 1, NAME, &sha, &file, half).await;
    let mut held = None;
    for _ in 0..100 {
        held = offset(&h, 1, NAME).await.1;
        if held == Some(half as u64) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(held, Some(half as u64), "HEAD shows the bytes received");
    let st: serde_json::Value = h
        .client()
        .get(url(&h, 1, NAME))
        .bearer_auth(&tok)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(st["state"], "partial");
    assert_eq!(st["received_bytes"], half as u64);
    assert!(listed(&h, "porch").await.is_empty(), "nothing indexed yet");

    // Resuming at the wrong offset is refused and says where to resume.
    let r = put(&h, 1, NAME, &tok, &sha)
        .header(
            "Content-Range",
            format!("bytes 0-{}/{}", file.len() - 1, file.len()),
        )
        .body(file.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 416);
    assert_eq!(r.headers()["upload-offset"], half.to_string().as_str());

    // Resume from the offset: stored, indexed, hash checked.
    let r = put(&h, 1, NAME, &tok, &sha)
        .header(
            "Content-Range",
            format!("bytes {half}-{}/{}", file.len() - 1, file.len()),
        )
        .body(file[half..].to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    let segs = listed(&h, "porch").await;
    assert_eq!(segs.len(), 1);
    assert_eq!(segs[0]["sha256"], sha.as_str());
    assert_eq!(segs[0]["source"], "upload");
    assert_eq!(segs[0]["size_bytes"], file.len() as u64);
    assert_eq!(segs[0]["codec"].as_str().unwrap().get(..5), Some("avc1."));
    assert_eq!(
        (segs[0]["width"].as_u64(), segs[0]["height"].as_u64()),
        (Some(320), Some(240))
    );
    let dur = segs[0]["duration_ms"].as_i64().unwrap();
    assert!((2900..=3100).contains(&dur), "duration {dur}");
    assert_eq!(offset(&h, 1, NAME).await, (200, Some(file.len() as u64)));

    // The stored file is byte for byte what was sent.
    let public = format!("porch_{NAME}");
    let got = h
        .get_auth(&format!("/recordings/{public}"))
        .send()
        .await
        .unwrap();
    assert_eq!(got.status(), 200);
    assert_eq!(got.bytes().await.unwrap(), file);

    // Sending it again is a no-op; another file under the same name is a conflict.
    let files_before = stored_files(&h);
    let r = put(&h, 1, NAME, &tok, &sha)
        .body(file.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["status"], "already have it");
    let other = one_segment(2);
    let r = put(&h, 1, NAME, &tok, &sha256_hex(&other))
        .body(other)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 409);
    assert_eq!(stored_files(&h), files_before);
    assert_eq!(listed(&h, "porch").await.len(), 1);

    // Uploading in explicit parts: 202 with the offset, then 201.
    let name2 = "2026-11-21T07-32-50.123Z.mp4";
    let cut = file.len() / 3;
    let r = put(&h, 1, name2, &tok, &sha)
        .header(
            "Content-Range",
            format!("bytes 0-{}/{}", cut - 1, file.len()),
        )
        .body(file[..cut].to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    assert_eq!(r.headers()["upload-offset"], cut.to_string().as_str());
    let r = put(&h, 1, name2, &tok, &sha)
        .header(
            "Content-Range",
            format!("bytes {cut}-{}/{}", file.len() - 1, file.len()),
        )
        .body(file[cut..].to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    assert_eq!(listed(&h, "porch").await.len(), 2);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_uploads_store_nothing() {
    let h = TestHub::start(CONFIG).await;
    let file = one_segment(2);
    let sha = sha256_hex(&file);
    let tok = agent_token(1);

    // Wrong hash: rejected on completion, staging deleted, nothing indexed.
    let wrong = sha256_hex(b"something else");
    let r = put(&h, 1, NAME, &tok, &wrong)
        .body(file.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    assert!(r.text().await.unwrap().contains("SHA-256 mismatch"));
    assert!(listed(&h, "porch").await.is_empty());
    assert!(stored_files(&h).is_empty(), "{:?}", stored_files(&h));

    // Not an MP4 (with its right hash): rejected, nothing kept.
    let junk = vec![7u8; 5000];
    let r = put(&h, 1, NAME, &tok, &sha256_hex(&junk))
        .body(junk)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    assert!(stored_files(&h).is_empty());

    // Tokens: missing, wrong, another camera's, a camera that does not exist,
    // in the URL instead of the header: 401 and nothing stored.
    for (id, auth) in [
        (1, None),
        (1, Some("not-a-token".to_owned())),
        (1, Some(agent_token(2))),
        (9, Some(agent_token(9))),
    ] {
        let mut req = h
            .client()
            .put(url(&h, id, NAME))
            .header("X-Content-SHA256", &sha)
            .body(file.clone());
        if let Some(t) = auth {
            req = req.bearer_auth(t);
        }
        assert_eq!(req.send().await.unwrap().status(), 401);
    }
    let r = h
        .client()
        .put(format!("{}?token={}", url(&h, 1, NAME), tok))
        .header("X-Content-SHA256", &sha)
        .body(file.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    // A viewer's Basic credentials are not an agent token.
    let r = h
        .client()
        .put(url(&h, 1, NAME))
        .basic_auth(crate::common::USER, Some(crate::common::PASSWORD))
        .header("X-Content-SHA256", &sha)
        .body(file.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = h.client().head(url(&h, 1, NAME)).send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert!(stored_files(&h).is_empty());

    // Over max_segment_size (1 MiB): refused before the body is read.
    let big = 2u64 << 20;
    let r = put(&h, 1, NAME, &tok, &sha)
        .header("Content-Range", format!("bytes 0-1023/{big}"))
        .body(vec![0u8; 1024])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    let r = put(&h, 1, NAME, &tok, &sha)
        .body(vec![0u8; big as usize])
        .send()
        .await;
    // The hub may answer 413 before reading the body, and close the connection.
    if let Ok(r) = r {
        assert_eq!(r.status(), 413);
    }
    // A body longer than it said.
    let mut s = tokio::net::TcpStream::connect(h.addr).await.unwrap();
    let head = format!(
        "PUT /api/v1/agents/1/segments/{NAME} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {tok}\r\nX-Content-SHA256: {sha}\r\nContent-Range: bytes 0-9/{}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n14\r\n01234567890123456789\r\n0\r\n\r\n",
        file.len()
    );
    s.write_all(head.as_bytes()).await.unwrap();
    let mut resp = String::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), s.read_to_string(&mut resp)).await;
    assert!(resp.starts_with("HTTP/1.1 400"), "{resp}");
    // Bad names and headers.
    for name in [
        "..",
        "x.mp4",
        "2026-11-21T07-31-50.123Z.h264",
        "%2e%2e%2fsecret",
    ] {
        let r = put(&h, 1, name, &tok, &sha)
            .body(file.clone())
            .send()
            .await
            .unwrap();
        assert!(
            [400, 404].contains(&r.status().as_u16()),
            "{name}: {}",
            r.status()
        );
    }
    let r = h
        .client()
        .put(url(&h, 1, NAME))
        .bearer_auth(&tok)
        .body(file.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400, "no X-Content-SHA256");
    assert!(listed(&h, "porch").await.is_empty());
    assert!(
        stored_files(&h).iter().all(|f| f.contains(".uploads")),
        "{:?}",
        stored_files(&h)
    );

    // And after all that, the real upload still works.
    let r = put(&h, 1, NAME, &tok, &sha)
        .body(file.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    assert_eq!(listed(&h, "porch").await.len(), 1);
    h.stop().await;
}

/// Segments may be far larger than a live frame: the request body limit of the
/// other routes (max_frame_size) does not apply to uploads.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_larger_than_the_frame_limit_reach_the_checks() {
    let h = TestHub::start(
        "max_frame_size = \"1MiB\"\n[[camera]]\nid = 1\nname = \"porch\"\nkind = \"agent\"\n",
    )
    .await;
    let junk = vec![0x5au8; 9 << 20];
    let r = put(&h, 1, NAME, &agent_token(1), &sha256_hex(&junk))
        .body(junk)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422, "{}", r.text().await.unwrap());
    h.stop().await;
}

/// The hub stopped after the last byte arrived but before it committed the
/// segment: the next PUT of the same file commits what is staged instead of
/// refusing every offset.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fully_staged_upload_is_committed_by_the_next_put() {
    let h = TestHub::start(CONFIG).await;
    let file = one_segment(2);
    let sha = sha256_hex(&file);
    // What a hub killed between receiving and committing leaves behind.
    let staging = h.dir.path().join("data/recordings/.uploads/porch");
    std::fs::create_dir_all(&staging).unwrap();
    std::fs::write(staging.join(format!("{NAME}.data")), &file).unwrap();
    std::fs::write(
        staging.join(format!("{NAME}.meta")),
        format!("{sha} {}\n", file.len()),
    )
    .unwrap();
    let st: serde_json::Value = h
        .client()
        .get(url(&h, 1, NAME))
        .bearer_auth(agent_token(1))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(st["state"], "partial");
    assert_eq!(st["received_bytes"], file.len() as u64);

    // The uploader resends from the hub's offset: an empty range at the end
    // is not expressible, so it sends the whole file again.
    let r = put(&h, 1, NAME, &agent_token(1), &sha)
        .body(file.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "{:?}", r.text().await);
    let rows = listed(&h, "porch").await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["sha256"], sha);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unfinished_uploads_are_capped_counted_and_listed() {
    let h = TestHub::start(&format!(
        "[recordings]\nmax_unfinished_uploads = 2\n{}",
        CONFIG.trim_start().trim_start_matches("[recordings]\n")
    ))
    .await;
    let file = one_segment(3);
    let sha = sha256_hex(&file);
    let names = [
        "2026-11-21T07-31-50.000Z.mp4",
        "2026-11-21T07-32-50.000Z.mp4",
        "2026-11-21T07-33-50.000Z.mp4",
    ];
    // Two unfinished uploads for the camera are held...
    for name in &names[..2] {
        interrupted_put(&h, 1, name, &sha, &file, 1000).await;
    }
    for _ in 0..100 {
        if offset(&h, 1, names[1]).await.1 == Some(1000) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // ...a third is refused before its body (507: try later), with the reason.
    let r = put(&h, 1, names[2], &agent_token(1), &sha)
        .body(file.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 507);
    let body = r.text().await.unwrap();
    assert!(body.contains("max_unfinished_uploads"), "{body}");
    // Another camera is not affected; resuming a held one is not a new one.
    let r = put(&h, 2, names[2], &agent_token(2), &sha)
        .body(file.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let r = put(&h, 1, names[0], &agent_token(1), &sha)
        .header(
            "Content-Range",
            format!("bytes 1000-{}/{}", file.len() - 1, file.len()),
        )
        .body(file[1000..].to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    // `hub check` lists what is left unfinished.
    let rec = h.hub.recordings.clone();
    let report = tokio::task::spawn_blocking(move || hub::recordings::check::run(&rec))
        .await
        .unwrap()
        .unwrap();
    let lines = report.lines();
    assert_eq!(
        lines,
        vec![format!(
            "unfinished upload porch/{}: 1000 of {} bytes staged, last written 0 min ago",
            names[1],
            file.len()
        )]
    );
    assert!(report.is_clean(), "listed, not repaired");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_must_fit_above_the_free_space_floor() {
    // A floor no disk here reaches: the bytes an upload announces do not fit.
    let h = TestHub::start(&format!("[retention]\nmin_free = \"1000TiB\"\n{CONFIG}")).await;
    let file = one_segment(3);
    let r = put(&h, 1, NAME, &agent_token(1), &sha256_hex(&file))
        .body(file)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 507);
    let body = r.text().await.unwrap();
    assert!(body.contains("free-space floor"), "{body}");
    assert!(stored_files(&h).is_empty());
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn segment_times_far_from_the_clock_are_refused() {
    let h = TestHub::start(CONFIG).await;
    let file = one_segment(3);
    let sha = sha256_hex(&file);
    for (name, key) in [
        ("9999-01-01T00-00-00.000Z.mp4", "max_clock_skew"),
        ("0000-01-01T00-00-00.000Z.mp4", "max_upload_age"),
        ("1970-01-01T00-00-00.000Z.mp4", "max_upload_age"),
    ] {
        let r = put(&h, 1, name, &agent_token(1), &sha)
            .body(file.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "{name}");
        let body = r.text().await.unwrap();
        assert!(body.contains(key), "{name}: {body}");
    }
    assert!(listed(&h, "porch").await.is_empty());
    assert!(stored_files(&h).is_empty());
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn codecs_the_pages_cannot_play_are_refused() {
    if !testkit::process::have("ffmpeg") {
        eprintln!("skipping: ffmpeg not installed");
        return;
    }
    let h = TestHub::start(CONFIG).await;
    let dir = tempfile::tempdir().unwrap();
    // MPEG-4 Part 2 (`mp4v`) and MJPEG in fragmented MP4: complete files the hub
    // could index, that no page could play.
    for codec in ["mpeg4", "mjpeg"] {
        let out = dir.path().join(format!("{codec}.mp4"));
        let st = std::process::Command::new("ffmpeg")
            .args(["-loglevel", "error", "-y", "-f", "lavfi", "-i"])
            .arg("testsrc=size=160x120:rate=5")
            .args(["-t", "2", "-c:v", codec, "-g", "5"])
            .args(["-movflags", "frag_keyframe+empty_moov+default_base_moof"])
            .arg(&out)
            .status()
            .unwrap();
        assert!(st.success());
        let file = std::fs::read(&out).unwrap();
        let r = put(&h, 1, NAME, &agent_token(1), &sha256_hex(&file))
            .body(file)
            .send()
            .await
            .unwrap();
        let status = r.status();
        let body = r.text().await.unwrap();
        assert_eq!(status, 422, "{codec}: {body}");
        assert!(body.contains("cannot be played"), "{codec}: {body}");
    }
    assert!(listed(&h, "porch").await.is_empty());
    assert!(stored_files(&h).is_empty());
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staged_bytes_count_against_retention() {
    let file = one_segment(3);
    // Room for one segment and a half: a stored one and most of another staged
    // are over it.
    let limit = file.len() * 3 / 2;
    let h = TestHub::start(&format!(
        "[[camera]]\nid = 1\nname = \"porch\"\nkind = \"agent\"\n[camera.retention]\nmax_size = \"{limit}B\"\n"
    ))
    .await;
    let r = put(&h, 1, NAME, &agent_token(1), &sha256_hex(&file))
        .body(file.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let rec = h.hub.recordings.clone();
    let report = tokio::task::spawn_blocking(move || rec.enforce_retention())
        .await
        .unwrap()
        .unwrap();
    assert!(report.deleted.is_empty(), "one segment fits");
    let later = "2026-11-21T07-40-00.000Z.mp4";
    interrupted_put(&h, 1, later, &sha256_hex(&file), &file, file.len() - 10).await;
    for _ in 0..100 {
        if offset(&h, 1, later).await.1 == Some(file.len() as u64 - 10) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let rec = h.hub.recordings.clone();
    let report = tokio::task::spawn_blocking(move || rec.enforce_retention())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        report
            .deleted
            .iter()
            .map(|(c, f, _)| format!("{c}/{f}"))
            .collect::<Vec<_>>(),
        vec![format!("porch/{NAME}")],
        "the staged upload's bytes count: the older segment goes"
    );
    h.stop().await;
}
