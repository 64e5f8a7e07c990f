//! Chromium plays our fMP4: progressive `<video src>` and Media Source Extensions, from a
//! tiny static HTTP server on 127.0.0.1, in headless Chromium driven over WebDriver
//! (`testkit::Browser`, real time: Chromium's virtual time does not wait for the media
//! pipeline). Each page plays from 0, then jumps near the end and plays out; the test
//! reads where the media starts, its duration and where playback ended. Skipped (with a message)
//! without Chromium.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::common::*;
use media::{Duration90k, SegmenterConfig};
use serde_json::Value;

/// How long a page may take to play its clip (about 2 s of playback) or fail.
const PAGE_TIMEOUT: Duration = Duration::from_secs(60);
/// The largest request head the test server reads.
const MAX_REQUEST_HEAD: usize = 16 << 10;

/// What each page records in `window.result`: where the media starts (the first buffered
/// range's start, once the first frame is there), `playedTo` once playback passed 1 s by
/// itself (it then jumps to half a second before the end), at `ended` the position, the
/// duration and the picture size, and `error`.
const RESULT_JS: &str = r#"
const v = document.getElementById('v');
const r = window.result = {};
v.addEventListener('loadeddata', () => { r.bufferedStart = v.buffered.length ? v.buffered.start(0) : null; });
v.addEventListener('timeupdate', () => {
  if (r.playedTo === undefined && v.currentTime > 1) {
    r.playedTo = v.currentTime;
    v.currentTime = v.duration - 0.5;
  }
});
v.addEventListener('ended', () => {
  r.duration = v.duration;
  r.width = v.videoWidth;
  r.height = v.videoHeight;
  r.ended = v.currentTime;
});
v.addEventListener('error', () => { r.error = v.error.message || ('code ' + v.error.code); });
"#;

/// `<video src>` playback.
const PAGE: &str = r#"<!doctype html><html><body>
<video id=v muted autoplay playsinline src="clip.mp4"></video>
<script>RESULT_JS</script></body></html>"#;

/// The same through MSE: the whole file appended to a SourceBuffer of type MIME.
const MSE_PAGE: &str = r#"<!doctype html><html><body>
<video id=v muted autoplay playsinline></video>
<script>RESULT_JS
const ms = new MediaSource();
v.src = URL.createObjectURL(ms);
ms.addEventListener('sourceopen', async () => {
  if (!MediaSource.isTypeSupported('MIME')) { r.error = 'unsupported MIME'; return; }
  const sb = ms.addSourceBuffer('MIME');
  const buf = await (await fetch('clip.mp4')).arrayBuffer();
  sb.addEventListener('updateend', () => { if (!sb.updating && ms.readyState === 'open') ms.endOfStream(); });
  sb.addEventListener('error', () => { r.error = 'sourcebuffer error'; });
  sb.appendBuffer(buf);
});
</script></body></html>"#;

/// Serves `files` (path -> (content type, body)) until `stop` is set.
fn serve(
    listener: TcpListener,
    files: Vec<(&'static str, &'static str, Vec<u8>)>,
    stop: Arc<AtomicBool>,
) {
    listener.set_nonblocking(true).unwrap();
    let files = Arc::new(files);
    while !stop.load(Ordering::Relaxed) {
        match listener.accept() {
            Ok((conn, _)) => {
                let files = files.clone();
                std::thread::spawn(move || handle(conn, &files));
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(e) => panic!("accept: {e}"),
        }
    }
}

fn handle(mut conn: TcpStream, files: &[(&str, &str, Vec<u8>)]) {
    conn.set_nonblocking(false).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < MAX_REQUEST_HEAD {
        match conn.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    let line = String::from_utf8_lossy(&head);
    let path = line.split_whitespace().nth(1).unwrap_or("/");
    let path = path.split('?').next().unwrap_or(path);
    let (status, ctype, body): (&str, &str, &[u8]) = match files.iter().find(|(p, _, _)| *p == path)
    {
        Some((_, ctype, body)) => ("200 OK", ctype, body),
        None => ("404 Not Found", "text/plain", b"not found"),
    };
    let header = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let _ = conn.write_all(header.as_bytes());
    let _ = conn.write_all(body);
}

/// Opens `url` and waits until its video ended or failed; `window.result`.
async fn play(b: &testkit::Browser, url: &str) -> Value {
    b.goto(url).await.unwrap();
    match b
        .wait_until(
            "const r = window.result; return r && (r.ended !== undefined || r.error !== undefined) && r",
            PAGE_TIMEOUT,
        )
        .await
    {
        Ok(r) => r,
        Err(e) => panic!("{url}: {e}"),
    }
}

#[test]
fn chromium_plays_fmp4_progressive_and_mse() {
    // Real-time playback in Chromium: not beside the tests that load the machine.
    let _machine = testkit::exclusive();
    if let Some(why) = testkit::Browser::available() {
        println!("SKIP: {why}");
        return;
    }
    // 150 frames at 15 fps: 10 s.
    let stream = encode_annexb(320, 240, 150, 15);
    let cfg = SegmenterConfig {
        target_duration: Duration90k::from_secs(3600),
        ..Default::default()
    };
    let (track, mut files) = segment_stream(&stream, cfg);
    let clip = files.pop().unwrap();
    assert_eq!(clip.duration, Duration90k::from_secs(10));
    let mse_page = MSE_PAGE
        .replace("RESULT_JS", RESULT_JS)
        .replace("MIME", &track.mime_type().replace('"', "\\\""));

    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let stop = Arc::new(AtomicBool::new(false));
    let server = {
        let stop = stop.clone();
        let page = PAGE.replace("RESULT_JS", RESULT_JS);
        let files = vec![
            ("/mse.html", "text/html", mse_page.into_bytes()),
            // Negative control: the same page on a missing file must not pass.
            (
                "/control.html",
                "text/html",
                page.replace("clip.mp4", "missing.mp4").into_bytes(),
            ),
            ("/page.html", "text/html", page.into_bytes()),
            ("/clip.mp4", "video/mp4", clip.bytes),
        ];
        std::thread::spawn(move || serve(listener, files, stop))
    };

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let results = rt.block_on(async {
        let b = testkit::Browser::launch().await.expect("chromium starts");
        let mut results = Vec::new();
        for page in ["page.html", "mse.html", "control.html"] {
            let r = play(&b, &format!("http://127.0.0.1:{port}/{page}")).await;
            println!("{page}: {r}");
            results.push((page, r));
        }
        b.close().await.unwrap();
        results
    });
    stop.store(true, Ordering::Relaxed);
    server.join().unwrap();

    for (page, r) in results {
        if page == "control.html" {
            assert!(r["error"].is_string(), "control: {r}");
            assert!(
                r["playedTo"].is_null() && r["ended"].is_null(),
                "control: {r}"
            );
            continue;
        }
        assert!(r["error"].is_null(), "{page}: {r}");
        // Starts at 0, has the clip's picture and its 10 s, and plays to its end. The file
        // declares no duration in its `moov` (it is written as it is recorded), so each
        // player works it out from the samples: MSE from the buffered range (10 s, to a
        // microsecond), the progressive player from the last frame's start (9.933 s, one
        // frame short).
        assert_eq!(r["bufferedStart"], 0, "{page}: {r}");
        assert_eq!(
            (&r["width"], &r["height"]),
            (&320.into(), &240.into()),
            "{page}: {r}"
        );
        let duration = r["duration"].as_f64().unwrap();
        let expected = if page == "mse.html" {
            10.0
        } else {
            149.0 / 15.0
        };
        assert!(
            (duration - expected).abs() < 1e-5,
            "{page}: duration {duration} ({r})"
        );
        assert_eq!(r["ended"].as_f64(), Some(duration), "{page}: {r}");
    }
}
