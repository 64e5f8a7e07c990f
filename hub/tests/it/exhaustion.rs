//! Thousands of idle, half-open (slowloris) and silent websocket connections
//! against a hub process: while they are held, a real client still logs in,
//! lists the cameras and gets a live MJPEG frame; after the timeouts the hub
//! has closed them (counted in `/proc/PID/fd`). A small cap shows that
//! connections past `max_connections` are closed at once.
//!
//! Then what a client may make the hub hold once its head is in: request bodies
//! that stall, trickle or announce more than their route takes; websocket
//! hellos padded with pings; frames announced before authentication; the shared
//! memory budget (503, close 1013); the per-address cap; and all of it at once
//! against a hub process (10,000 slow bodies from one address, 200 slow
//! websockets) while a viewer, an agent and a login from other addresses are
//! served and the hub's RSS is measured.

use std::time::{Duration, Instant};

use crate::common::{PASSWORD, TestHub, USER};
use futures_util::future::join_all;
use testkit::hub::HubSetup;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const IDLE: usize = 3000;
const SLOWLORIS: usize = 1000;
const SILENT_WS: usize = 200;
/// The hub's `header_timeout` in this test.
/// Long enough that all of them are open at once even on a loaded machine.
const HEADER_TIMEOUT: Duration = Duration::from_secs(30);

fn open_fds(pid: u32) -> usize {
    testkit::process::fd_count(pid).unwrap_or(0) as usize
}

/// Opens `n` connections, `batch` at a time, each prepared by `prep`.
async fn open_many<F, Fut>(addr: &str, n: usize, prep: F) -> Vec<TcpStream>
where
    F: Fn(TcpStream) -> Fut,
    Fut: std::future::Future<Output = Option<TcpStream>>,
{
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        let batch = (n - out.len()).min(200);
        let got = join_all((0..batch).map(|_| async {
            let s = tokio::time::timeout(Duration::from_secs(10), TcpStream::connect(addr))
                .await
                .ok()?
                .ok()?;
            prep(s).await
        }))
        .await;
        let before = out.len();
        out.extend(got.into_iter().flatten());
        assert!(out.len() > before, "no connection in a batch succeeded");
    }
    out
}

/// Waits until `pid` holds at most `at_most` fds; its count then. Fails once `since`
/// is `within` old.
async fn wait_for_fds(pid: u32, at_most: usize, since: Instant, within: Duration) -> usize {
    loop {
        let n = open_fds(pid);
        if n <= at_most {
            return n;
        }
        assert!(
            since.elapsed() < within,
            "the hub still holds {n} fds (at most {at_most} expected) {:.0?} later",
            since.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

fn enough_fds(needed: u64) -> bool {
    hub::server::raise_fd_limit();
    let have = hub::server::fd_limit().unwrap_or(u64::MAX);
    if have >= needed {
        return true;
    }
    let msg = format!("open-files limit {have} is below the {needed} this test needs");
    assert!(std::env::var_os("CI").is_none(), "{msg}");
    eprintln!("skipping: {msg} (raise it with `ulimit -n`)");
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_and_half_open_connections_do_not_stop_service() {
    // Loads the machine for a while: not beside the tests that check real-time playback.
    let _machine = testkit::exclusive();
    let total = IDLE + SLOWLORIS + SILENT_WS;
    if !enough_fds(total as u64 + 512) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let setup = HubSetup::new(
        dir.path(),
        &format!(
            "data_dir = \"data\"\n\n[connections]\nmax_connections = 6000\nmax_per_address = 6000\nheader_timeout = \"{}s\"\n\n[[camera]]\nid = 1\nname = \"pattern\"\nkind = \"demo\"\nwidth = 160\nheight = 120\nfps = 5\n",
            HEADER_TIMEOUT.as_secs()
        ),
    )
    .unwrap();
    let port = setup.port;
    setup.add_user(USER, PASSWORD).unwrap();
    let hub = setup.start_async().await.unwrap();
    let addr = format!("127.0.0.1:{port}");
    let base = format!("http://{addr}");
    // A first request, so the baseline includes what serving one request opens.
    let client = testkit::http_client();
    assert_eq!(
        client
            .get(format!("{base}/login"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    drop(client);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let baseline = open_fds(hub.pid());

    let started = Instant::now();
    let idle = open_many(&addr, IDLE, |s| async { Some(s) }).await;
    let slow = open_many(&addr, SLOWLORIS, |mut s| async move {
        s.write_all(b"GET /api/cameras HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
            .await
            .ok()?;
        Some(s)
    })
    .await;
    let ws = open_many(&addr, SILENT_WS, |mut s| async move {
        s.write_all(
            b"GET /video-input-stream HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade\r\n\
              Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n\
              Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
        )
        .await
        .ok()?;
        let mut head = Vec::new();
        let mut b = [0u8; 512];
        while !head.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = s.read(&mut b).await.ok()?;
            if n == 0 {
                return None;
            }
            head.extend_from_slice(&b[..n]);
        }
        head.starts_with(b"HTTP/1.1 101").then_some(s)
    })
    .await;
    let opened = started.elapsed();
    let opened_at = Instant::now();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let held = open_fds(hub.pid());
    eprintln!(
        "opened {} idle, {} half-open, {} silent websockets in {opened:.1?}; hub fds {baseline} -> {held}",
        idle.len(),
        slow.len(),
        ws.len()
    );
    assert!(
        held >= baseline + total * 9 / 10,
        "the hub holds the connections: {baseline} -> {held}"
    );

    // A real client, meanwhile.
    let t = Instant::now();
    let client = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let served = tokio::time::timeout(Duration::from_secs(30), async {
        let r = client
            .post(format!("{base}/login"))
            .form(&[("username", USER), ("password", PASSWORD)])
            .send()
            .await
            .unwrap();
        let cookie = r.headers()["set-cookie"].to_str().unwrap().to_owned();
        let session = cookie.split(';').next().unwrap().to_owned();
        let login = t.elapsed();
        let list: serde_json::Value = client
            .get(format!("{base}/api/cameras"))
            .header("cookie", &session)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert!(list.to_string().contains("pattern"), "{list}");
        let listed = t.elapsed();
        let req = client
            .get(format!("{base}/api/v1/cameras/pattern/stream"))
            .header("cookie", &session);
        let mut stream = testkit::mjpeg::MjpegStream::connect(req).await.unwrap();
        let part = stream.next_part().await.unwrap().expect("a frame");
        assert!(part.body.starts_with(&[0xff, 0xd8]), "a JPEG");
        (login, listed, t.elapsed())
    })
    .await
    .expect("the hub served a real client within 30 s");
    eprintln!(
        "while held: login {:.0?}, camera list {:.0?}, first MJPEG frame {:.0?}",
        served.0, served.1, served.2
    );
    drop(client);

    // After the timeouts the hub has let go of all of them.
    let deadline = HEADER_TIMEOUT + Duration::from_secs(15);
    let now = open_fds(hub.pid());
    let released = wait_for_fds(hub.pid(), baseline + 20, opened_at, deadline).await;
    eprintln!(
        "hub fds {now} -> {released} within {:.1?} of the first connection",
        started.elapsed()
    );
    // And the peers see their sockets closed.
    for mut s in idle.into_iter().take(20).chain(slow.into_iter().take(20)) {
        let mut b = [0u8; 256];
        let r = tokio::time::timeout(Duration::from_secs(5), s.read(&mut b))
            .await
            .expect("closed, not hanging");
        assert!(
            matches!(r, Ok(0) | Err(_)) || String::from_utf8_lossy(&b).starts_with("HTTP/1.1 408"),
            "{r:?}"
        );
    }
    drop(ws);
    assert!(
        hub.log().contains("hub listening"),
        "the hub kept running: {}",
        hub.log()
    );
}

#[tokio::test]
async fn connections_past_the_cap_are_closed_and_idle_ones_time_out() {
    let h = TestHub::start(
        "[connections]\nmax_connections = 16\nheader_timeout = \"2s\"\n\n[[camera]]\nid = 1\nname = \"pattern\"\nkind = \"demo\"\nwidth = 160\nheight = 120\nfps = 5\n",
    )
    .await;
    let addr = h.addr.to_string();
    let held = open_many(&addr, 16, |s| async { Some(s) }).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    // The 17th is accepted and closed at once.
    let mut extra = TcpStream::connect(&addr).await.unwrap();
    let _ = extra
        .write_all(b"GET /login HTTP/1.1\r\nHost: x\r\n\r\n")
        .await;
    let mut b = [0u8; 64];
    let r = tokio::time::timeout(Duration::from_secs(1), extra.read(&mut b))
        .await
        .expect("closed at once, not queued");
    assert!(matches!(r, Ok(0) | Err(_)), "past the cap: {r:?}");
    // The held ones are closed by the header timeout; then service resumes.
    let t = Instant::now();
    for mut s in held {
        // EOF, a reset, or hyper's 408 before the close.
        let _ = tokio::time::timeout(Duration::from_secs(10), s.read(&mut b))
            .await
            .expect("idle connection closed by the hub");
    }
    let waited = t.elapsed();
    assert!(waited >= Duration::from_millis(1500), "{waited:?}");
    let r = h.client().get(h.url("/login")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    h.stop().await;
}

/// A TCP connection to `addr` from the loopback address `from` (127.0.0.0/8 is all ours).
async fn connect_from(from: [u8; 4], addr: std::net::SocketAddr) -> std::io::Result<TcpStream> {
    let s = tokio::net::TcpSocket::new_v4()?;
    s.bind(std::net::SocketAddr::from((from, 0)))?;
    s.connect(addr).await
}

/// Reads until the peer closes or `within` passes; what arrived.
async fn read_all(s: &mut TcpStream, within: Duration) -> Vec<u8> {
    let mut out = Vec::new();
    let mut b = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match tokio::time::timeout_at(deadline, s.read(&mut b)).await {
            Ok(Ok(n)) if n > 0 => out.extend_from_slice(&b[..n]),
            Ok(_) => return out,
            Err(_) => return out,
        }
    }
}

/// The status code of the response that starts `bytes`.
fn status_of(bytes: &[u8]) -> Option<u16> {
    let text = String::from_utf8_lossy(bytes);
    text.strip_prefix("HTTP/1.1 ")?.get(..3)?.parse().ok()
}

/// Sends a websocket upgrade for `path`; the socket once the hub has answered 101.
async fn upgrade(mut s: TcpStream, path: &str) -> Option<TcpStream> {
    s.write_all(
        format!(
            "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade\r\n\
             Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
        )
        .as_bytes(),
    )
    .await
    .ok()?;
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    // Byte by byte, so no websocket bytes after the head are taken with it.
    while !head.ends_with(b"\r\n\r\n") {
        if s.read(&mut b).await.ok()? == 0 {
            return None;
        }
        head.push(b[0]);
    }
    head.starts_with(b"HTTP/1.1 101").then_some(s)
}

/// A client frame header (masked with a zero key, so the payload goes as is).
fn ws_head(fin: bool, opcode: u8, len: u64) -> Vec<u8> {
    let mut h = vec![if fin { 0x80 } else { 0 } | opcode];
    if len < 126 {
        h.push(0x80 | len as u8);
    } else if len <= 0xffff {
        h.push(0x80 | 126);
        h.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        h.push(0x80 | 127);
        h.extend_from_slice(&len.to_be_bytes());
    }
    h.extend_from_slice(&[0, 0, 0, 0]);
    h
}

/// A whole binary message in one frame.
fn ws_binary(payload: &[u8]) -> Vec<u8> {
    let mut m = ws_head(true, 2, payload.len() as u64);
    m.extend_from_slice(payload);
    m
}

/// The close code in the first close frame of `bytes` (server frames are not masked).
fn parse_close(bytes: &[u8]) -> Option<u16> {
    let mut rest = bytes;
    while rest.len() >= 2 {
        let (opcode, short) = (rest[0] & 0x0f, usize::from(rest[1] & 0x7f));
        let (len, at) = match short {
            126 => (
                usize::from(u16::from_be_bytes([*rest.get(2)?, *rest.get(3)?])),
                4,
            ),
            127 => (
                u64::from_be_bytes(rest.get(2..10)?.try_into().ok()?) as usize,
                10,
            ),
            n => (n, 2),
        };
        if opcode == 8 && len >= 2 {
            return Some(u16::from_be_bytes([*rest.get(at)?, *rest.get(at + 1)?]));
        }
        rest = rest.get(at + len..)?;
    }
    None
}

/// The close code the hub sends within `within`; `None` if the socket ends without
/// one or stays open.
async fn close_code(s: &mut TcpStream, within: Duration) -> Option<u16> {
    let mut out = Vec::new();
    let mut b = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match tokio::time::timeout_at(deadline, s.read(&mut b)).await {
            Ok(Ok(n)) if n > 0 => {
                out.extend_from_slice(&b[..n]);
                if let Some(code) = parse_close(&out) {
                    return Some(code);
                }
            }
            _ => return None,
        }
    }
}

/// Agents' frames of at most 64 KiB in these tests (a top-level key: before any table).
const FRAME_SIZE: &str = "max_frame_size = \"64KiB\"\n";
const AGENT_CAMERAS: &str = "[[camera]]\nid = 1\nname = \"one\"\nkind = \"agent\"\n\n[[camera]]\nid = 2\nname = \"two\"\nkind = \"agent\"\n";

fn agent_token(id: u32) -> String {
    wire::make_token(
        wire::TokenScheme::default(),
        crate::common::SECRET.as_bytes(),
        id,
    )
}

/// The hello of an agent for camera `id`, as one message.
fn hello(id: u32) -> Vec<u8> {
    let mut b = bytes::BytesMut::new();
    wire::encode_hello(id, &agent_token(id), &mut b);
    ws_binary(&b)
}

#[tokio::test]
async fn stalled_trickling_and_oversized_bodies_are_cut_off() {
    let h = TestHub::start(
        "[connections]\nbody_timeout = \"2s\"\nmin_body_rate = \"1KiB\"\n\n[[camera]]\nid = 1\nname = \"pattern\"\nkind = \"demo\"\nwidth = 160\nheight = 120\nfps = 5\n",
    )
    .await;
    let login_head = |len: usize| {
        format!(
            "POST /login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {len}\r\n\r\n"
        )
    };
    // One byte of a 100-byte body, then nothing: 408 after the 2 s pause, and closed.
    let mut s = TcpStream::connect(h.addr).await.unwrap();
    let t = Instant::now();
    s.write_all(format!("{}u", login_head(100)).as_bytes())
        .await
        .unwrap();
    let got = read_all(&mut s, Duration::from_secs(8)).await;
    let stalled = t.elapsed();
    assert_eq!(
        status_of(&got),
        Some(408),
        "{}",
        String::from_utf8_lossy(&got)
    );
    assert!(
        stalled >= Duration::from_millis(1900) && stalled < Duration::from_secs(6),
        "{stalled:?}"
    );

    // A byte every 400 ms never pauses 2 s, but is far below 1 KiB/s: cut off once
    // the 2 s grace is over.
    let mut s = TcpStream::connect(h.addr).await.unwrap();
    s.write_all(login_head(5000).as_bytes()).await.unwrap();
    let t = Instant::now();
    let mut got = Vec::new();
    let mut b = [0u8; 1024];
    while t.elapsed() < Duration::from_secs(8) {
        let _ = s.write_all(b"u").await;
        match tokio::time::timeout(Duration::from_millis(400), s.read(&mut b)).await {
            Ok(Ok(n)) if n > 0 => got.extend_from_slice(&b[..n]),
            Ok(_) => break,
            Err(_) => {}
        }
    }
    let trickled = t.elapsed();
    assert_eq!(
        status_of(&got),
        Some(408),
        "{}",
        String::from_utf8_lossy(&got)
    );
    assert!(trickled < Duration::from_secs(6), "{trickled:?}");

    // An unauthenticated body larger than the route takes: 413 before any of it is sent.
    let mut s = TcpStream::connect(h.addr).await.unwrap();
    let t = Instant::now();
    s.write_all(login_head(8 << 20).as_bytes()).await.unwrap();
    let got = read_all(&mut s, Duration::from_secs(5)).await;
    assert_eq!(
        status_of(&got),
        Some(413),
        "{}",
        String::from_utf8_lossy(&got)
    );
    assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());

    // Meanwhile a real login is served as before.
    let r = h
        .client()
        .post(h.url("/login"))
        .form(&[("username", USER), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    h.stop().await;
}

/// A multipart head of `/camera/update-image` whose image field is `len` bytes.
fn update_image_head(len: usize) -> (String, Vec<u8>) {
    let part = b"--XyZ\r\nContent-Disposition: form-data; name=\"image\"; filename=\"f.jpg\"\r\nContent-Type: image/jpeg\r\n\r\n".to_vec();
    let total = part.len() + len + "\r\n--XyZ--\r\n".len();
    (
        format!(
            "POST /camera/update-image HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: multipart/form-data; boundary=XyZ\r\nContent-Length: {total}\r\n\r\n"
        ),
        part,
    )
}

#[tokio::test]
async fn bodies_past_the_memory_budget_get_503() {
    // The smallest budget allowed: one frame and its 64 KiB margin (128 KiB).
    let h = TestHub::start(&format!(
        "{FRAME_SIZE}[connections]\nmemory_budget = \"128KiB\"\nbody_timeout = \"20s\"\n{AGENT_CAMERAS}"
    ))
    .await;
    // A first client sends 100 KiB of a 120 KiB image and waits: the hub holds it.
    let (head, part) = update_image_head(120 << 10);
    let mut a = TcpStream::connect(h.addr).await.unwrap();
    a.write_all(head.as_bytes()).await.unwrap();
    a.write_all(&part).await.unwrap();
    a.write_all(&vec![0xAB; 100 << 10]).await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    // A second one cannot get the memory for its body: 503 at once, connection closed.
    let mut b = TcpStream::connect(h.addr).await.unwrap();
    b.write_all(head.as_bytes()).await.unwrap();
    b.write_all(&part).await.unwrap();
    let _ = b.write_all(&vec![0xCD; 100 << 10]).await;
    let got = read_all(&mut b, Duration::from_secs(5)).await;
    assert_eq!(
        status_of(&got),
        Some(503),
        "{}",
        String::from_utf8_lossy(&got)
    );
    // Once the first gives up, the memory is back: a whole frame goes through.
    drop(a);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let form = reqwest::multipart::Form::new()
        .part(
            "image",
            reqwest::multipart::Part::bytes(crate::common::jpeg(1)).file_name("f.jpg"),
        )
        .text("cameraId", "1")
        .text("token", agent_token(1));
    let r = h
        .client()
        .post(h.url("/camera/update-image"))
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    h.stop().await;
}

#[tokio::test]
async fn websocket_hellos_have_an_absolute_deadline() {
    let h = TestHub::start(&format!("{FRAME_SIZE}{AGENT_CAMERAS}")).await;
    for path in ["/video-input-stream", "/video-output-stream"] {
        let s = TcpStream::connect(h.addr).await.unwrap();
        let mut s = upgrade(s, path).await.expect("upgraded");
        let t = Instant::now();
        // A first byte of the agent's hello, then a ping (and, to an agent, a text
        // message, which its protocol ignores) every second: none of it moves the
        // deadline.
        let ingest = path == "/video-input-stream";
        if ingest {
            s.write_all(&ws_binary(&[1])).await.unwrap();
        }
        let mut code = None;
        while t.elapsed() < Duration::from_secs(15) {
            let mut keep = ws_head(true, 9, 1);
            keep.push(b'p');
            if ingest {
                keep.extend(ws_head(true, 1, 1));
                keep.push(b'x');
            }
            if s.write_all(&keep).await.is_err() {
                break;
            }
            if let Some(c) = close_code(&mut s, Duration::from_secs(1)).await {
                code = Some(c);
                break;
            }
        }
        let took = t.elapsed();
        assert!(code.is_some(), "{path}: closed with a code after {took:?}");
        assert!(
            took >= Duration::from_secs(9) && took < Duration::from_secs(13),
            "{path}: closed {took:?} after the upgrade (hello deadline 10 s)"
        );
    }
    h.stop().await;
}

#[tokio::test]
async fn frames_wait_for_authentication_and_the_memory_budget() {
    let h = TestHub::start(&format!(
        "{FRAME_SIZE}[connections]\nmemory_budget = \"128KiB\"\n{AGENT_CAMERAS}"
    ))
    .await;
    // Before its hello a peer may not announce a frame past 64 KiB, though agents
    // may send 128 KiB: closed with 1009 on the header alone.
    let s = TcpStream::connect(h.addr).await.unwrap();
    let mut s = upgrade(s, "/video-input-stream").await.unwrap();
    s.write_all(&ws_head(false, 2, 100 << 10)).await.unwrap();
    s.write_all(b"first bytes").await.unwrap();
    assert_eq!(
        close_code(&mut s, Duration::from_secs(3)).await,
        Some(1009),
        "refused on the header"
    );

    // After its hello, an agent's 100 KiB frame is taken, and held from the budget
    // while it arrives.
    let s = TcpStream::connect(h.addr).await.unwrap();
    let mut a = upgrade(s, "/video-input-stream").await.unwrap();
    a.write_all(&hello(1)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    a.write_all(&ws_head(true, 2, 100 << 10)).await.unwrap();
    a.write_all(&[0u8; 1000]).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    // A second agent cannot get the memory for its own: 1013, try again later.
    let s = TcpStream::connect(h.addr).await.unwrap();
    let mut b = upgrade(s, "/video-input-stream").await.unwrap();
    b.write_all(&hello(2)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    b.write_all(&ws_head(true, 2, 100 << 10)).await.unwrap();
    assert_eq!(close_code(&mut b, Duration::from_secs(3)).await, Some(1013));
    // The first finishes its frame (a length-prefixed JPEG): it is published.
    let jpeg = crate::common::jpeg(7);
    let mut payload = (jpeg.len() as u32).to_le_bytes().to_vec();
    payload.extend_from_slice(&jpeg);
    payload.resize((100 << 10) - 1000, 0);
    // Trailing zeros after the JPEG make a frame length of 0 (skipped) at most.
    a.write_all(&payload).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let r = h
            .get_auth("/camera/get-image?cameraId=1")
            .send()
            .await
            .unwrap();
        let body = r.bytes().await.unwrap();
        if body.starts_with(&[0xff, 0xd8]) {
            break;
        }
        assert!(Instant::now() < deadline, "the frame was not published");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    h.stop().await;
}

#[tokio::test]
async fn one_address_cannot_take_every_connection() {
    let h = TestHub::start(
        "[connections]\nmax_per_address = 4\n\n[[camera]]\nid = 1\nname = \"pattern\"\nkind = \"demo\"\nwidth = 160\nheight = 120\nfps = 5\n",
    )
    .await;
    let mut held = Vec::new();
    for _ in 0..4 {
        held.push(connect_from([127, 0, 0, 1], h.addr).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    // The fifth from the same address is closed at once.
    let mut extra = connect_from([127, 0, 0, 1], h.addr).await.unwrap();
    let _ = extra
        .write_all(b"GET /login HTTP/1.1\r\nHost: x\r\n\r\n")
        .await;
    let got = read_all(&mut extra, Duration::from_secs(2)).await;
    assert!(got.is_empty(), "{}", String::from_utf8_lossy(&got));
    // Another address is served.
    let mut other = connect_from([127, 0, 0, 2], h.addr).await.unwrap();
    other
        .write_all(b"GET /login HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let got = read_all(&mut other, Duration::from_secs(5)).await;
    assert_eq!(status_of(&got), Some(200));
    // A closed connection gives its place back.
    drop(held.pop());
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut again = connect_from([127, 0, 0, 1], h.addr).await.unwrap();
    again
        .write_all(b"GET /login HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let got = read_all(&mut again, Duration::from_secs(5)).await;
    assert_eq!(status_of(&got), Some(200));
    h.stop().await;
}

/// Slow bodies the flood holds open from one address.
const FLOOD: usize = 10_000;
/// Websockets that try to hold memory or time before their hello.
const SLOW_WS: usize = 200;
/// The defaults the flood runs against (`[connections]`), as documented.
const BODY_TIMEOUT: Duration = Duration::from_secs(10);
const HELLO_TIMEOUT: Duration = Duration::from_secs(10);
const MAX_PER_ADDRESS: usize = 512;
/// What the hub's RSS may grow by under the flood: SECURITY.md states it.
const RSS_BOUND_MIB: u64 = 64;

/// Opens `n` connections from `from`, `batch` at a time, each prepared by `prep`
/// (which gets its index); keeps the ones `prep` returns.
async fn open_from<F, Fut>(
    from: [u8; 4],
    addr: std::net::SocketAddr,
    n: usize,
    prep: F,
) -> Vec<TcpStream>
where
    F: Fn(usize, TcpStream) -> Fut,
    Fut: std::future::Future<Output = Option<TcpStream>>,
{
    let mut out = Vec::with_capacity(n);
    let mut i = 0;
    while i < n {
        let batch = (n - i).min(200);
        let got = join_all((i..i + batch).map(|k| {
            let prep = &prep;
            async move {
                let s = tokio::time::timeout(Duration::from_secs(10), connect_from(from, addr))
                    .await
                    .ok()?
                    .ok()?;
                prep(k, s).await
            }
        }))
        .await;
        out.extend(got.into_iter().flatten());
        i += batch;
    }
    out
}

/// The most of `pid`'s RSS seen until `stop`, sampled every 100 ms.
fn sample_rss(pid: u32, stop: tokio_util::sync::CancellationToken) -> tokio::task::JoinHandle<u64> {
    tokio::spawn(async move {
        let mut max = 0;
        while !stop.is_cancelled() {
            max = max.max(testkit::process::rss_kib(pid).unwrap_or(0));
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        max
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_from_one_address_and_slow_websockets_do_not_stop_service() {
    // Loads the machine for a while: not beside the tests that check real-time playback.
    let _machine = testkit::exclusive();
    if !enough_fds((FLOOD + SLOW_WS + 512) as u64) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // Default `[connections]`: the flood meets what a new user runs.
    let setup = HubSetup::new(
        dir.path(),
        "data_dir = \"data\"\n\n[[camera]]\nid = 1\nname = \"pattern\"\nkind = \"demo\"\nwidth = 160\nheight = 120\nfps = 5\n\n[[camera]]\nid = 2\nname = \"yard\"\nkind = \"agent\"\n",
    )
    .unwrap();
    setup.add_user(USER, PASSWORD).unwrap();
    let token = setup.token(2).unwrap();
    let hub = setup.start_async().await.unwrap();
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], setup.port));
    let base = format!("http://{addr}");
    let client = |from: [u8; 4]| {
        reqwest::Client::builder()
            .no_proxy()
            .local_address(std::net::IpAddr::from(from))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap()
    };
    // A first request, so the baseline includes what serving one request opens.
    let r = client([127, 0, 0, 2])
        .get(format!("{base}/login"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let baseline_fds = open_fds(hub.pid());
    let baseline_rss = testkit::process::rss_kib(hub.pid()).unwrap();
    let stop_sampling = tokio_util::sync::CancellationToken::new();
    let sampler = sample_rss(hub.pid(), stop_sampling.clone());

    // 1. From 127.0.0.1: 10,000 `POST /login` that announce 100 bytes and send one.
    let started = Instant::now();
    let flood = open_from([127, 0, 0, 1], addr, FLOOD, |_, mut s| async move {
        s.write_all(
            b"POST /login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\nu",
        )
        .await
        .ok()?;
        Some(s)
    })
    .await;
    let flood_opened = started.elapsed();
    // 2. From 127.0.0.3: 200 websockets. A third announce an 8 MiB frame before their
    // hello and send some of it; a third send one byte of a hello; the rest are seed
    // viewers that never send theirs. All send a ping every few seconds.
    let ws_started = Instant::now();
    let ws = open_from([127, 0, 0, 3], addr, SLOW_WS, |k, s| async move {
        let path = if k % 3 == 2 {
            "/video-output-stream"
        } else {
            "/video-input-stream"
        };
        let mut s = upgrade(s, path).await?;
        match k % 3 {
            0 => {
                s.write_all(&ws_head(false, 2, 8 << 20)).await.ok()?;
                s.write_all(&[0u8; 16 << 10]).await.ok()?;
            }
            1 => s.write_all(&ws_binary(&[2])).await.ok()?,
            _ => {}
        }
        Some(s)
    })
    .await;
    // 3. From 127.0.0.4: 30 logins announcing 8 MiB bodies.
    let big = open_from([127, 0, 0, 4], addr, 30, |_, mut s| async move {
        s.write_all(
            b"POST /login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 8388608\r\n\r\nusername=",
        )
        .await
        .ok()?;
        Some(s)
    })
    .await;
    let opened_at = Instant::now();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let held = open_fds(hub.pid());
    eprintln!(
        "opened {} slow bodies in {flood_opened:.1?}, {} websockets, {} 8 MiB logins; hub fds {baseline_fds} -> {held}",
        flood.len(),
        ws.len(),
        big.len()
    );
    assert_eq!(ws.len(), SLOW_WS, "every websocket was upgraded");
    // One address holds at most its share; the rest were closed at once.
    assert!(
        held <= baseline_fds + MAX_PER_ADDRESS + SLOW_WS + 30 + 20,
        "the hub holds {held} fds (baseline {baseline_fds})"
    );

    // Meanwhile, from 127.0.0.2: a login, a viewer and an agent.
    let t = Instant::now();
    let served = tokio::time::timeout(Duration::from_secs(30), async {
        let viewer = client([127, 0, 0, 2]);
        let r = viewer
            .post(format!("{base}/login"))
            .form(&[("username", USER), ("password", PASSWORD)])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 303);
        let cookie = r.headers()["set-cookie"].to_str().unwrap().to_owned();
        let session = cookie.split(';').next().unwrap().to_owned();
        let login = t.elapsed();
        let me = viewer
            .get(format!("{base}/api/me"))
            .header("cookie", &session)
            .send()
            .await
            .unwrap();
        assert_eq!(me.status(), 200);
        let req = viewer
            .get(format!("{base}/api/v1/cameras/pattern/stream"))
            .header("cookie", &session);
        let mut stream = testkit::mjpeg::MjpegStream::connect(req).await.unwrap();
        let part = stream.next_part().await.unwrap().expect("a frame");
        assert!(part.body.starts_with(&[0xff, 0xd8]), "a JPEG");
        let viewed = t.elapsed();

        // The agent: its hello, then frames, which the viewer then sees.
        let tcp = connect_from([127, 0, 0, 2], addr).await.unwrap();
        let (mut agent, _) =
            tokio_tungstenite::client_async(format!("ws://{addr}/video-input-stream"), tcp)
                .await
                .unwrap();
        use futures_util::SinkExt;
        let mut hello = bytes::BytesMut::new();
        wire::encode_hello(2, &token, &mut hello);
        agent
            .send(tokio_tungstenite::tungstenite::Message::binary(
                hello.to_vec(),
            ))
            .await
            .unwrap();
        let jpeg = crate::common::jpeg(42);
        let mut frame = bytes::BytesMut::new();
        wire::encode_frame(&jpeg, &mut frame);
        loop {
            agent
                .send(tokio_tungstenite::tungstenite::Message::binary(
                    frame.to_vec(),
                ))
                .await
                .unwrap();
            let got = viewer
                .get(format!("{base}/camera/get-image?cameraId=2"))
                .header("cookie", &session)
                .send()
                .await
                .unwrap()
                .bytes()
                .await
                .unwrap();
            if got[..] == jpeg[..] {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        (login, viewed, t.elapsed())
    })
    .await
    .expect("a login, a viewer and an agent were served within 30 s");
    eprintln!(
        "while held: login {:.0?}, viewer's first MJPEG frame {:.0?}, agent's frame seen {:.0?}",
        served.0, served.1, served.2
    );

    // The 8 MiB logins got 413 at once; the frames announced before a hello 1009.
    for mut s in big {
        let got = read_all(&mut s, Duration::from_secs(5)).await;
        assert_eq!(
            status_of(&got),
            Some(413),
            "{}",
            String::from_utf8_lossy(&got)
        );
    }
    let mut ws = ws;
    for s in ws.iter_mut().step_by(3) {
        assert_eq!(close_code(s, Duration::from_secs(5)).await, Some(1009));
    }
    // The others are closed by their deadlines, pings or not.
    let pinger = {
        let mut rest: Vec<TcpStream> = ws
            .into_iter()
            .enumerate()
            .filter(|(k, _)| k % 3 != 0)
            .map(|(_, s)| s)
            .collect();
        tokio::spawn(async move {
            let mut ping = ws_head(true, 9, 1);
            ping.push(b'p');
            let mut codes: Vec<Option<u16>> = vec![None; rest.len()];
            let t = Instant::now();
            while codes.iter().any(Option::is_none) && t.elapsed() < HELLO_TIMEOUT * 2 {
                for (s, code) in rest.iter_mut().zip(codes.iter_mut()) {
                    if code.is_some() {
                        continue;
                    }
                    *code = close_code(s, Duration::from_millis(5)).await;
                    if code.is_none() {
                        let _ = s.write_all(&ping).await;
                    }
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            let closed = codes.iter().filter(|c| c.is_some()).count();
            (closed, rest.len(), codes)
        })
    };

    // After the timeouts the hub has let go of all of them.
    let deadline = BODY_TIMEOUT.max(HELLO_TIMEOUT) + Duration::from_secs(10);
    let released = wait_for_fds(hub.pid(), baseline_fds + 20, opened_at, deadline).await;
    eprintln!(
        "hub fds back to {released} {:.1?} after the last connection opened ({:.1?} after the websockets began)",
        opened_at.elapsed(),
        ws_started.elapsed()
    );
    let (closed, pinged, codes) = pinger.await.unwrap();
    assert_eq!(
        closed, pinged,
        "every pinging websocket got a close: {codes:?}"
    );
    // The held bodies got 408 (those past the per-address cap were closed at once).
    let mut timed_out = 0;
    for mut s in flood.into_iter().take(MAX_PER_ADDRESS) {
        let got = read_all(&mut s, Duration::from_millis(200)).await;
        if status_of(&got) == Some(408) {
            timed_out += 1;
        }
    }
    stop_sampling.cancel();
    let peak_rss = sampler.await.unwrap();
    let after_rss = testkit::process::rss_kib(hub.pid()).unwrap();
    eprintln!(
        "{timed_out} slow bodies answered 408; hub RSS {} MiB before, {} MiB at most, {} MiB after",
        baseline_rss / 1024,
        peak_rss / 1024,
        after_rss / 1024
    );
    assert!(timed_out > 0, "held slow bodies are answered 408");
    assert!(
        peak_rss.saturating_sub(baseline_rss) < RSS_BOUND_MIB * 1024,
        "RSS grew from {baseline_rss} KiB to {peak_rss} KiB"
    );
    assert!(hub.log().contains("connection limit per address reached"));
}
