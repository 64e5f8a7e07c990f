//! Chromium plays our fMP4: progressive `<video src>` and Media Source Extensions, from a
//! tiny static HTTP server on 127.0.0.1. Skipped (with a message) without /usr/bin/chromium.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::common::*;
use media::{Duration90k, SegmenterConfig};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMIUM_TIMEOUT: Duration = Duration::from_secs(60);
/// The largest request head the test server reads.
const MAX_REQUEST_HEAD: usize = 16 << 10;

/// `<video src>` playback; writes the result into #out once currentTime passes 1 s.
const PAGE: &str = r#"<!doctype html><html><body>
<video id=v muted autoplay playsinline src="clip.mp4"></video><pre id=out>pending</pre>
<script>
const v = document.getElementById('v'), out = document.getElementById('out');
let done = false;
const fin = (why) => { if (done) return; done = true;
  out.textContent = `result why=${why} currentTime=${v.currentTime} videoWidth=${v.videoWidth} error=${v.error ? v.error.message : ''}`; };
v.addEventListener('timeupdate', () => { if (v.currentTime > 1) fin('playing'); });
v.addEventListener('error', () => fin('error'));
setTimeout(() => fin('timeout'), 7000);
</script></body></html>"#;

/// The same through MSE: the whole file appended to a SourceBuffer of type MIME.
const MSE_PAGE: &str = r#"<!doctype html><html><body>
<video id=v muted autoplay playsinline></video><pre id=out>pending</pre>
<script>
const v = document.getElementById('v'), out = document.getElementById('out');
let done = false;
const fin = (why) => { if (done) return; done = true;
  out.textContent = `result why=${why} currentTime=${v.currentTime} videoWidth=${v.videoWidth} error=${v.error ? v.error.message : ''}`; };
v.addEventListener('timeupdate', () => { if (v.currentTime > 1) fin('playing'); });
v.addEventListener('error', () => fin('error'));
setTimeout(() => fin('timeout'), 7000);
const ms = new MediaSource();
v.src = URL.createObjectURL(ms);
ms.addEventListener('sourceopen', async () => {
  if (!MediaSource.isTypeSupported('MIME')) { fin('unsupported MIME'); return; }
  const sb = ms.addSourceBuffer('MIME');
  const buf = await (await fetch('clip.mp4')).arrayBuffer();
  sb.addEventListener('updateend', () => { if (!sb.updating && ms.readyState === 'open') ms.endOfStream(); });
  sb.addEventListener('error', () => fin('sourcebuffer error'));
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

/// Runs headless chromium on `url` with --dump-dom, killed after CHROMIUM_TIMEOUT.
fn dump_dom(url: &str) -> String {
    let profile = tempfile::tempdir().unwrap();
    let mut child = Command::new(CHROMIUM)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args([
            "--autoplay-policy=no-user-gesture-required",
            "--virtual-time-budget=8000",
            "--dump-dom",
            url,
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        // Its own process group, so a timeout kills the renderer and helpers too.
        .process_group(0)
        .spawn()
        .expect("spawn chromium");
    let mut stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stdout.read_to_string(&mut s);
        s
    });
    let deadline = Instant::now() + CHROMIUM_TIMEOUT;
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if Instant::now() > deadline {
            let _ = Command::new("kill")
                .args(["-KILL", "--", &format!("-{}", child.id())])
                .status();
            let _ = child.kill();
            let _ = child.wait();
            panic!("chromium still running after {CHROMIUM_TIMEOUT:?}; killed");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    reader.join().unwrap()
}

/// Pulls `key=value` out of the page's result line.
fn field<'a>(dom: &'a str, key: &str) -> Option<&'a str> {
    let line = dom.lines().find(|l| l.contains("result why="))?;
    let start = line.find(&format!("{key}="))? + key.len() + 1;
    line[start..].split([' ', '<']).next()
}

#[test]
fn chromium_plays_fmp4_progressive_and_mse() {
    // Real-time playback in Chromium: not beside the tests that load the machine.
    let _machine = testkit::exclusive();
    if !std::path::Path::new(CHROMIUM).exists() {
        println!("SKIP: {CHROMIUM} not installed");
        return;
    }
    let stream = encode_annexb(320, 240, 150, 15);
    let cfg = SegmenterConfig {
        target_duration: Duration90k::from_secs(3600),
        ..Default::default()
    };
    let (track, mut files) = segment_stream(&stream, cfg);
    let clip = files.pop().unwrap().bytes;
    let mse_page = MSE_PAGE.replace("MIME", &track.mime_type().replace('"', "\\\""));

    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let stop = Arc::new(AtomicBool::new(false));
    let server = {
        let stop = stop.clone();
        let files = vec![
            ("/page.html", "text/html", PAGE.as_bytes().to_vec()),
            ("/mse.html", "text/html", mse_page.into_bytes()),
            // Negative control: the same page on a missing file must not pass.
            (
                "/control.html",
                "text/html",
                PAGE.replace("clip.mp4", "missing.mp4").into_bytes(),
            ),
            ("/clip.mp4", "video/mp4", clip),
        ];
        std::thread::spawn(move || serve(listener, files, stop))
    };

    let mut results = Vec::new();
    for page in ["page.html", "mse.html", "control.html"] {
        let dom = dump_dom(&format!("http://127.0.0.1:{port}/{page}"));
        let line = dom
            .lines()
            .find(|l| l.contains("result why="))
            .unwrap_or("")
            .to_owned();
        println!("{page}: {}", line.trim());
        let t: f64 = field(&dom, "currentTime")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0);
        let w: u32 = field(&dom, "videoWidth")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        results.push((page, t, w, line));
    }
    stop.store(true, Ordering::Relaxed);
    server.join().unwrap();
    let (_, t, w, line) = results.pop().unwrap();
    assert!(
        t == 0.0 && w == 0 && line.contains("why=error"),
        "control: {line}"
    );
    for (page, t, w, line) in results {
        assert!(t > 1.0, "{page}: currentTime {t} ({line})");
        assert_eq!(w, 320, "{page}: videoWidth ({line})");
    }
}
