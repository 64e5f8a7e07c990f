//! Recordings over HTTP: Pi-Cam's pages and URLs, the JSON API, downloads with
//! Range, export of a time range as one MP4, authentication, and path traversal
//! attempts against every route that serves files or names one.

use std::time::Duration;

use crate::common::TestHub;
use crate::recordings_support::{T0, ffprobe, have_ffprobe, upload_two};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const CONFIG: &str = r#"
[[camera]]
id = 1
name = "porch"
kind = "agent"
"#;

/// A GET with the request target sent exactly as given (no client-side
/// normalisation), with Basic credentials. Returns (status, body).
async fn raw_get(h: &TestHub, target: &str) -> (u16, Vec<u8>) {
    use base64::Engine;
    let mut s = tokio::net::TcpStream::connect(h.addr).await.unwrap();
    let auth = base64::engine::general_purpose::STANDARD.encode(format!(
        "{}:{}",
        crate::common::USER,
        crate::common::PASSWORD
    ));
    let req = format!(
        "GET {target} HTTP/1.1\r\nHost: {}\r\nAuthorization: Basic {auth}\r\nConnection: close\r\n\r\n",
        h.addr
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut buf))
        .await
        .unwrap()
        .unwrap();
    let text = String::from_utf8_lossy(&buf);
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = match buf.windows(4).position(|w| w == b"\r\n\r\n") {
        Some(i) => buf[i + 4..].to_vec(),
        None => Vec::new(),
    };
    (status, body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_api_downloads_and_export() {
    let h = TestHub::start(CONFIG).await;
    let (names, files) = upload_two(&h).await;

    // Pi-Cam: the listing (newest first) links to playback pages.
    let r = h.get_auth("/recordings/index.html").send().await.unwrap();
    assert_eq!(r.status(), 200);
    let html = r.text().await.unwrap();
    let a = html
        .find(&format!("/playback.html?file={}", names[1]))
        .unwrap();
    let b = html
        .find(&format!("/playback.html?file={}", names[0]))
        .unwrap();
    assert!(a < b, "newest first");
    assert!(html.contains("2026-11-21"));
    let r = h.get_auth("/recordings").send().await.unwrap();
    assert_eq!(r.status(), 308);
    assert_eq!(r.headers()["location"], "/recordings/index.html");
    let r = h
        .get_auth(&format!("/playback.html?file={}", names[0]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let html = r.text().await.unwrap();
    assert!(html.contains(&format!(
        "<video id=\"player\" src=\"/recordings/{}\"",
        names[0]
    )));
    // Pi-Cam gives 200 for a missing file; we say 404.
    let missing = "porch_2030-01-01T00-00-00.000Z.mp4";
    let r = h
        .get_auth(&format!("/playback.html?file={missing}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);

    // The file, whole and in ranges.
    let r = h
        .get_auth(&format!("/recordings/{}", names[0]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "video/mp4");
    assert_eq!(r.headers()["accept-ranges"], "bytes");
    assert_eq!(r.bytes().await.unwrap(), files[0]);
    let r = h
        .get_auth(&format!("/recordings/{}", names[0]))
        .header("Range", "bytes=100-199")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 206);
    assert_eq!(
        r.headers()["content-range"],
        format!("bytes 100-199/{}", files[0].len()).as_str()
    );
    assert_eq!(r.bytes().await.unwrap(), files[0][100..200]);
    let r = h
        .get_auth(&format!("/recordings/{}", names[0]))
        .header("Range", "bytes=-10")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 206);
    assert_eq!(r.bytes().await.unwrap(), files[0][files[0].len() - 10..]);
    let r = h
        .get_auth(&format!("/recordings/{}", names[0]))
        .header("Range", format!("bytes={}-", files[0].len()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 416);

    // JSON API.
    let v: serde_json::Value = h
        .get_auth(&format!(
            "/api/recordings?camera=porch&start={}&end={}",
            T0 + 3500,
            T0 + 4000
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let segs = v["segments"].as_array().unwrap();
    assert_eq!(segs.len(), 1);
    assert_eq!(segs[0]["name"], names[1].as_str());
    assert_eq!(segs[0]["start_ms"], T0 + 3000);
    assert_eq!(segs[0]["url"], format!("/recordings/{}", names[1]).as_str());
    let v: serde_json::Value = h
        .get_auth("/api/recordings/days?camera=porch")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        v["days"],
        serde_json::json!([{"date": "2026-11-21", "segments": 2}])
    );
    let r = h
        .get_auth("/api/recordings?camera=nobody")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);

    // Export across both segments: one MP4 of 7 s.
    let r = h
        .get_auth(&format!(
            "/api/recordings/export?camera=porch&start={}&end={}",
            T0,
            T0 + 7000
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with("attachment")
    );
    let len: usize = r.headers()["content-length"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    let all = r.bytes().await.unwrap();
    assert_eq!(all.len(), len);
    let info = media::probe(&all).unwrap();
    assert!(info.is_complete());
    assert_eq!(info.recovery.duration.0, 7 * 90_000);
    assert_eq!(info.recovery.fragments, 7);
    // Fragment granularity: 2.5 s .. 4.5 s gives the fragments at 2-3, 3-4 and 4-5.
    let part = h
        .get_auth(&format!(
            "/api/recordings/export?camera=porch&start={}&end={}",
            T0 + 2500,
            T0 + 4500
        ))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(media::probe(&part).unwrap().recovery.duration.0, 3 * 90_000);
    if have_ffprobe() {
        let p = h.dir.path().join("export.mp4");
        std::fs::write(&p, &all).unwrap();
        let (dur, w, hh, n) = ffprobe(&p);
        assert_eq!((w, hh, n), (320, 240, 105));
        assert!((dur - 7.0).abs() < 0.1, "duration {dur}");
    }
    let r = h
        .get_auth(&format!(
            "/api/recordings/export?camera=porch&start={}&end={}",
            T0 - 10_000,
            T0 - 5000
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let r = h
        .get_auth("/api/recordings/export?camera=porch&start=5&end=1")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);

    // Timeline page.
    let r = h
        .get_auth("/timeline/porch?date=2026-11-21")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("data-camera=\"porch\""));
    // `/timeline` opens the first camera's.
    let r = h.get_auth("/timeline").send().await.unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/timeline/porch");

    // Every page is filled in completely, with the navigation bar marking
    // its section, and says this hub serves the events API and its live push.
    for (path, section) in [
        ("/live", "Live"),
        ("/live/porch", "Live"),
        ("/timeline/porch?date=2026-11-21", "Recordings"),
        ("/recordings/index.html", "Recordings"),
        (&*format!("/playback.html?file={}", names[0]), "Recordings"),
        ("/events", "Events"),
        ("/status", "Status"),
    ] {
        let r = h.get_auth(path).send().await.unwrap();
        assert_eq!(r.status(), 200, "{path}");
        assert_eq!(r.headers()["cache-control"], "no-store", "{path}");
        let html = r.text().await.unwrap();
        assert!(!html.contains("{{"), "{path} has an unfilled placeholder");
        let current = format!("aria-current=\"page\">{section}</a>");
        assert_eq!(html.matches("aria-current").count(), 1, "{path}");
        assert!(html.contains(&current), "{path}");
        assert!(
            html.contains("data-events=\"1\" data-event-stream=\"1\" data-pre-roll-ms=\"5000\""),
            "{path}"
        );
    }
    let login = h.client().get(h.url("/login")).send().await.unwrap();
    assert!(!login.text().await.unwrap().contains("{{"));

    // Without credentials: pages go to the login, APIs and files say 401.
    let c = h.client();
    for p in [
        "/recordings/index.html",
        "/timeline/porch",
        "/playback.html?file=x",
    ] {
        let r = c.get(h.url(p)).send().await.unwrap();
        assert_eq!(r.status(), 303, "{p}");
    }
    for p in [
        format!("/recordings/{}", names[0]),
        "/api/recordings?camera=porch".into(),
        "/api/recordings/days?camera=porch".into(),
        format!(
            "/api/recordings/export?camera=porch&start={T0}&end={}",
            T0 + 1000
        ),
    ] {
        let r = c.get(h.url(&p)).send().await.unwrap();
        assert_eq!(r.status(), 401, "{p}");
    }
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn path_traversal_reads_nothing_outside_the_store() {
    let h = TestHub::start(CONFIG).await;
    let (names, _) = upload_two(&h).await;
    // Files an attacker would like: the hub secret, its database, /etc/passwd.
    std::fs::write(h.dir.path().join("data/recordings/porch/evil.mp4"), b"EVIL").unwrap();
    let secret = crate::common::SECRET.as_bytes();
    let evil = [
        "..",
        ".",
        "../../../../../../etc/passwd",
        "..%2f..%2f..%2f..%2fetc%2fpasswd",
        "%2e%2e%2f%2e%2e%2f%2e%2e%2fsecret",
        "%252e%252e%252f%252e%252e%252fsecret",
        "..%5c..%5csecret",
        "%2fetc%2fpasswd",
        "/etc/passwd",
        "evil.mp4",
        "porch%2fevil.mp4",
        "porch_..%2f..%2fsecret",
        "porch_%2e%2e%2f%2e%2e%2fhub.db",
        "porch_2026-11-21T07-31-50.000Z.mp4%00",
        "porch_2026-11-21T07-31-50.000Z.mp4%00.txt",
        "%00",
        "porch_2026-11-21T07-31-50.000Z.mp4%2f..%2f..%2f..%2fsecret",
        "porch_2026-11-21T07-31-50.000Z.mp4%2F..",
        "..%2fporch_2026-11-21T07-31-50.000Z.mp4",
        "porch%2f..%2f..%2fsecret",
        "%c0%ae%c0%ae%2fsecret",
        "file:%2f%2f%2fetc%2fpasswd",
    ];
    // The real name works in each route (so the refusals below are the names).
    let ok = &names[0];
    for target in [
        format!("/recordings/{ok}"),
        format!("/playback.html?file={ok}"),
        format!(
            "/api/recordings/export?camera=porch&start={T0}&end={}",
            T0 + 1000
        ),
        "/timeline/porch?date=2026-11-21".to_owned(),
    ] {
        assert_eq!(raw_get(&h, &target).await.0, 200, "{target}");
    }
    let mut checked = 0;
    for e in evil {
        for target in [
            format!("/recordings/{e}"),
            format!("/recordings/porch/{e}"),
            format!("/playback.html?file={e}"),
            format!("/playback.html?file=recordings/{e}"),
            format!(
                "/api/recordings/export?camera={e}&start={T0}&end={}",
                T0 + 1000
            ),
            format!(
                "/api/recordings/export?camera=porch&start={e}&end={}",
                T0 + 1000
            ),
            format!("/api/recordings/export?camera=porch&start={T0}&end={e}"),
            format!("/api/recordings?camera={e}"),
            format!("/api/recordings/days?camera={e}"),
            format!("/timeline/{e}"),
            format!("/timeline/porch?date={e}"),
        ] {
            let (status, body) = raw_get(&h, &target).await;
            assert!(
                [400, 404].contains(&status),
                "{target}: {status} {}",
                String::from_utf8_lossy(&body)
            );
            assert!(!body.windows(secret.len()).any(|w| w == secret), "{target}");
            assert!(!body.windows(5).any(|w| w == b"root:"), "{target}");
            assert!(!body.windows(4).any(|w| w == b"EVIL"), "{target}");
            assert!(
                !body.windows(15).any(|w| w == b"SQLite format 3"),
                "{target}"
            );
            checked += 1;
        }
    }
    assert_eq!(checked, evil.len() * 11);
    h.stop().await;
}
