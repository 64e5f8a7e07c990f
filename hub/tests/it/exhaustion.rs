//! Thousands of idle, half-open (slowloris) and silent websocket connections
//! against a hub process: while they are held, a real client still logs in,
//! lists the cameras and gets a live MJPEG frame; after the timeouts the hub
//! has closed them (counted in `/proc/PID/fd`). A small cap shows that
//! connections past `max_connections` are closed at once.

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
            "data_dir = \"data\"\n\n[connections]\nmax_connections = 6000\nheader_timeout = \"{}s\"\n\n[[camera]]\nid = 1\nname = \"pattern\"\nkind = \"demo\"\nwidth = 160\nheight = 120\nfps = 5\n",
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
    let released = loop {
        let n = open_fds(hub.pid());
        if n <= baseline + 20 {
            break n;
        }
        assert!(
            opened_at.elapsed() < deadline,
            "the hub still holds {n} fds (baseline {baseline}) {:.0?} after the attack began",
            started.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
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
