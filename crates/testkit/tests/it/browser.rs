//! The test kit against tiny in-test HTTP servers: the browser fills a form
//! and sees a page change; the MJPEG reader reads five parts with basic
//! auth and a cookie.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::thread;
use std::time::{Duration, Instant};

use testkit::mjpeg::MjpegStream;
use testkit::{Browser, png_diff};

const PAGE: &str = r#"<!doctype html>
<html><head><title>testkit page</title></head>
<body style="margin:0;font:40px sans-serif">
<div id="tick" style="height:200px">tick 0</div>
<form onsubmit="return false">
  <input id="name" value="old">
  <button id="go" type="button">Go</button>
</form>
<div id="out">waiting</div>
<script>
  let n = 0;
  setInterval(() => {
    n++;
    const t = document.getElementById('tick');
    t.textContent = 'tick ' + n;
    t.style.background = n % 2 ? '#c00' : '#00c';
  }, 200);
  document.getElementById('go').addEventListener('click', () => {
    document.getElementById('out').textContent = 'hello ' + document.getElementById('name').value;
  });
</script>
</body></html>"#;

/// Reads a request head (bounded in size and time); `None` on a bad client.
fn read_head(stream: &mut TcpStream) -> Option<String> {
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut buf).ok()?;
        if n == 0 || head.len() > 64 << 10 {
            return None;
        }
        head.extend_from_slice(&buf[..n]);
    }
    Some(String::from_utf8_lossy(&head).into_owned())
}

/// Serves each connection with `handle` on its own thread. The accept
/// thread lives as long as the test binary.
fn serve(handle: fn(TcpStream, String)) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            thread::spawn(move || {
                if let Some(head) = read_head(&mut stream) {
                    handle(stream, head);
                }
            });
        }
    });
    addr
}

fn page(mut stream: TcpStream, head: String) {
    let reply = if head.starts_with("GET / ") {
        format!(
            "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{PAGE}",
            PAGE.len()
        )
    } else {
        "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_owned()
    };
    let _ = stream.write_all(reply.as_bytes());
}

/// Live processes whose command line mentions `path`.
fn processes_mentioning(path: &std::path::Path) -> Vec<String> {
    let needle = path.to_string_lossy().into_owned();
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_str()
                .is_some_and(|n| n.parse::<u32>().is_ok())
        })
        .filter_map(|e| {
            let stat = std::fs::read_to_string(e.path().join("stat")).ok()?;
            let state = stat.rsplit_once(") ")?.1.chars().next()?;
            let cmd = std::fs::read(e.path().join("cmdline")).ok()?;
            let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
            (state != 'Z' && cmd.contains(&needle)).then_some(cmd)
        })
        .collect()
}

/// Waits up to 5 s for every process using `profile` to be gone.
fn assert_gone(profile: &std::path::Path) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let left = processes_mentioning(profile);
        if left.is_empty() {
            return;
        }
        assert!(Instant::now() < deadline, "still running: {left:#?}");
        thread::sleep(Duration::from_millis(50));
    }
}

fn skip_without_browser() -> bool {
    if let Some(reason) = Browser::available() {
        eprintln!("SKIPPED: {reason}");
        return true;
    }
    false
}

#[tokio::test]
async fn browser_fills_a_form_and_sees_the_page_change() {
    if skip_without_browser() {
        return;
    }
    let addr = serve(page);
    let url = format!("http://{addr}/");
    let browser = Browser::launch().await.unwrap();
    let profile: PathBuf = browser.profile_dir().to_owned();
    assert!(
        !processes_mentioning(&profile).is_empty(),
        "chromium is running"
    );

    browser.goto(&url).await.unwrap();
    assert_eq!(browser.current_url().await.unwrap(), url);
    assert_eq!(
        browser.eval("return document.title").await.unwrap(),
        "testkit page"
    );
    assert_eq!(
        browser
            .eval_async("arguments[arguments.length - 1](6 * 7)")
            .await
            .unwrap(),
        42
    );

    browser.fill("#name", "camera").await.unwrap();
    browser.click("#go").await.unwrap();
    let text = browser
        .wait_for_text("#out", "hello camera", Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(text, "hello camera");
    browser
        .wait_for("#tick", Duration::from_secs(5))
        .await
        .unwrap();
    let err = browser
        .wait_for("#nothing", Duration::from_millis(300))
        .await
        .unwrap_err();
    assert!(format!("{err:#}").contains("#nothing"), "{err:#}");
    browser
        .wait_until(
            "return document.getElementById('tick').textContent !== 'tick 0'",
            Duration::from_secs(5),
        )
        .await
        .unwrap();

    let first = browser.screenshot_png().await.unwrap();
    tokio::time::sleep(Duration::from_millis(600)).await;
    let second = browser.screenshot_png().await.unwrap();
    assert!(first.starts_with(b"\x89PNG\r\n\x1a\n"));
    let diff = png_diff(&first, &second);
    assert!(diff > 0.0, "screenshots 600 ms apart are identical");
    assert!(diff < 0.5, "only the ticking line changes, got {diff}");
    assert_eq!(png_diff(&first, &first), 0.0);

    drop(browser);
    assert_gone(&profile);
    assert!(!profile.exists(), "profile directory removed");
}

#[tokio::test]
async fn browser_close_ends_every_process() {
    if skip_without_browser() {
        return;
    }
    let browser = Browser::launch().await.unwrap();
    let profile = browser.profile_dir().to_owned();
    browser.goto("about:blank").await.unwrap();
    browser.close().await.unwrap();
    assert_gone(&profile);
}

const PARTS: usize = 5;

fn jpeg(i: usize) -> Vec<u8> {
    let mut v = vec![0xFF, 0xD8, 0xFF, 0xE0];
    v.extend(std::iter::repeat_n(i as u8, 100 * (i + 1)));
    v.extend_from_slice(&[0xFF, 0xD9]);
    v
}

/// Streams PARTS parts with boundary FRAME to a client that sends basic auth
/// `user:pass` and cookie `sid=abc`; 401 otherwise.
fn mjpeg(mut stream: TcpStream, head: String) {
    let lower = head.to_ascii_lowercase();
    // base64("user:pass") = dXNlcjpwYXNz
    if !lower.contains("\r\nauthorization: basic dxnlcjpwyxnz\r\n")
        || !lower.contains("\r\ncookie: sid=abc\r\n")
    {
        let _ = stream.write_all(
            b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        );
        return;
    }
    let mut body = Vec::new();
    for i in 0..PARTS {
        let jpeg = jpeg(i);
        body.extend_from_slice(
            format!(
                "\r\n--FRAME\r\nContent-Type: image/jpeg\r\nContent-Length: {}\r\n\r\n",
                jpeg.len()
            )
            .as_bytes(),
        );
        body.extend_from_slice(&jpeg);
    }
    body.extend_from_slice(b"\r\n--FRAME--\r\n");
    let head = "HTTP/1.1 200 OK\r\nContent-Type: multipart/x-mixed-replace; boundary=FRAME\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n";
    let _ = stream.write_all(head.as_bytes());
    // Odd-sized writes with pauses, so parts straddle reads.
    for chunk in body.chunks(97) {
        if stream.write_all(chunk).is_err() {
            return;
        }
        thread::sleep(Duration::from_millis(2));
    }
}

#[tokio::test]
async fn mjpeg_reader_reads_five_parts_with_auth_and_cookie() {
    let addr = serve(mjpeg);
    let url = format!("http://{addr}/mjpeg");
    let client = testkit::http_client();

    let request = client
        .get(&url)
        .basic_auth("user", Some("pass"))
        .header(testkit::reqwest::header::COOKIE, "sid=abc");
    let mut stream = MjpegStream::connect(request).await.unwrap();
    assert_eq!(
        stream.content_type(),
        "multipart/x-mixed-replace; boundary=FRAME"
    );
    let parts = stream.take_parts(PARTS).await.unwrap();
    for (i, part) in parts.iter().enumerate() {
        assert_eq!(part.body, jpeg(i), "part {i}");
        assert_eq!(
            part.header("content-length"),
            Some(jpeg(i).len().to_string().as_str())
        );
    }
    assert!(
        stream.next_part().await.unwrap().is_none(),
        "close delimiter ends the stream"
    );

    let err = MjpegStream::connect(client.get(&url).basic_auth("user", Some("wrong")))
        .await
        .err()
        .expect("wrong password is refused");
    assert!(format!("{err:#}").contains("401"), "{err:#}");
}

const INPUT_PAGE: &str = r#"<!doctype html>
<html><head><meta name="viewport" content="width=device-width, initial-scale=1"><link rel="icon" href="data:,"><title>input</title></head>
<body style="margin:0">
<div id="pad" style="width:300px;height:200px;background:#ccc;touch-action:none"></div>
<script>
  window.seen = [];
  const pad = document.getElementById('pad');
  for (const t of ['pointerdown', 'pointerup']) {
    pad.addEventListener(t, (e) => seen.push([t, e.pointerType, e.clientX, e.clientY]));
  }
  document.addEventListener('keydown', (e) => seen.push(['keydown', e.key, e.shiftKey]));
  console.error('logged on purpose');
</script>
</body></html>"#;

fn input_page(mut stream: TcpStream, head: String) {
    let reply = if head.starts_with("GET / ") {
        format!(
            "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{INPUT_PAGE}",
            INPUT_PAGE.len()
        )
    } else {
        "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_owned()
    };
    let _ = stream.write_all(reply.as_bytes());
}

/// A phone in another time zone: the page sees the zone, the screen, touch
/// and key input where it was sent, and what it logged as errors.
#[tokio::test]
async fn phone_in_a_time_zone_with_touch_keys_and_console() {
    if skip_without_browser() {
        return;
    }
    let addr = serve(input_page);
    let browser = Browser::launch_with(testkit::LaunchOptions {
        time_zone: Some("America/New_York".into()),
        phone: Some((390, 844)),
    })
    .await
    .unwrap();
    browser.goto(&format!("http://{addr}/")).await.unwrap();
    let env = browser
        .eval(
            "return [Intl.DateTimeFormat().resolvedOptions().timeZone, new Date(Date.UTC(2026, 10, 21, 7, 31, 50)).getHours(),
                     innerWidth, innerHeight, matchMedia('(pointer: coarse)').matches, navigator.language]",
        )
        .await
        .unwrap();
    assert_eq!(
        env,
        serde_json::json!(["America/New_York", 2, 390, 844, true, "en-US"])
    );
    browser.tap((10.4, 20.6)).await.unwrap();
    browser.drag((30.0, 40.0), (130.0, 40.0), 4).await.unwrap();
    browser
        .press(&[testkit::Key::Shift.into(), testkit::Key::Right.into()])
        .await
        .unwrap();
    let seen = browser.eval("return window.seen").await.unwrap();
    assert_eq!(
        seen,
        serde_json::json!([
            ["pointerdown", "touch", 10, 21],
            ["pointerup", "touch", 10, 21],
            // Phone emulation turns the mouse into a finger too.
            ["pointerdown", "touch", 30, 40],
            ["pointerup", "touch", 130, 40],
            ["keydown", "Shift", true],
            ["keydown", "ArrowRight", true]
        ])
    );
    let errors = browser.console_errors().await.unwrap();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(errors[0].contains("logged on purpose"), "{errors:?}");
    // Read once: the log starts empty again.
    assert!(browser.console_errors().await.unwrap().is_empty());
    browser.close().await.unwrap();
}
