//! The uplink against a tiny in-test hub: hello and stamped JPEGs arrive in order, close codes are handled, reconnects work and the queue stays bounded meanwhile.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use agent::config::{Config, Secret};
use agent::queue::FrameQueue;
use agent::source;
use agent::uplink::{self, UplinkSettings, UplinkStats};
use bytes::BytesMut;
use futures_util::{SinkExt, StreamExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_util::sync::CancellationToken;
use wire::{IngestDecoder, IngestEvent};

const TIMEOUT: Duration = Duration::from_secs(10);

/// One accepted ingest connection, decoded like the hub does.
struct Conn {
    ws: WebSocketStream<TcpStream>,
    dec: IngestDecoder,
    buf: BytesMut,
}

impl Conn {
    async fn accept(listener: &TcpListener) -> Conn {
        let (tcp, _) = tokio::time::timeout(TIMEOUT, listener.accept())
            .await
            .expect("agent connects")
            .unwrap();
        let ws = tokio_tungstenite::accept_async(tcp).await.unwrap();
        Conn {
            ws,
            dec: IngestDecoder::new(wire::DEFAULT_MAX_FRAME_LEN),
            buf: BytesMut::new(),
        }
    }

    /// The next ingest event; panics on anything but binary data.
    async fn event(&mut self) -> IngestEvent {
        loop {
            if let Some(ev) = self.dec.decode(&mut self.buf).unwrap() {
                return ev;
            }
            let msg = tokio::time::timeout(TIMEOUT, self.ws.next())
                .await
                .expect("data in time");
            match msg.expect("open").unwrap() {
                Message::Binary(b) => self.buf.extend_from_slice(&b),
                Message::Pong(_) => {}
                other => panic!("unexpected {other:?}"),
            }
        }
    }

    async fn hello(&mut self) -> (u32, String) {
        match self.event().await {
            IngestEvent::Hello { camera_id, token } => (camera_id, token),
            other => panic!("expected hello, got {other:?}"),
        }
    }

    /// The next frame's stamp.
    async fn stamp(&mut self) -> testpattern::Stamp {
        match self.event().await {
            IngestEvent::Frame(jpeg) => {
                let mut dec = zune_jpeg::JpegDecoder::new(std::io::Cursor::new(&jpeg[..]));
                let rgb = dec.decode().expect("a JPEG");
                let (w, h) = dec.dimensions().unwrap();
                testpattern::read_stamp(&rgb, w as u32, h as u32).expect("a readable stamp")
            }
            other => panic!("expected a frame, got {other:?}"),
        }
    }
}

fn now_millis() -> u64 {
    agent::source::wall_millis()
}

fn config(addr: std::net::SocketAddr, extra: &str) -> Config {
    Config::parse(&format!(
        r#"
        hub_url = "ws://{addr}/video-input-stream"
        camera_id = 42
        token = "tok-42"
        stats_interval = "1s"
        [source]
        kind = "testsrc"
        width = 320
        height = 240
        fps = 25
        jpeg_quality = 60
        [uplink]
        backoff_initial = "20ms"
        backoff_max = "200ms"
        connect_timeout = "5s"
        {extra}
        "#
    ))
    .unwrap()
}

#[tokio::test]
async fn hello_then_frames_with_increasing_stamps_then_close_1000() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let cfg = config(listener.local_addr().unwrap(), "");
    let cancel = CancellationToken::new();
    let agent = tokio::spawn(agent::cmds::run::run_with(cfg, cancel.clone()));

    let mut conn = Conn::accept(&listener).await;
    assert_eq!(conn.hello().await, (42, "tok-42".to_owned()));
    // Seed-style control messages and a ping are tolerated.
    let mut mv = 1i32.to_le_bytes().to_vec();
    mv.extend(0.5f32.to_le_bytes());
    mv.extend((-0.5f32).to_le_bytes());
    conn.ws.send(Message::Binary(mv.into())).await.unwrap();
    conn.ws
        .send(Message::Binary(2i32.to_le_bytes().to_vec().into()))
        .await
        .unwrap();
    conn.ws
        .send(Message::Text("hello agent".into()))
        .await
        .unwrap();
    conn.ws
        .send(Message::Ping(b"p".to_vec().into()))
        .await
        .unwrap();

    let mut last: Option<u32> = None;
    for _ in 0..10 {
        let s = conn.stamp().await;
        if let Some(prev) = last {
            assert!(s.frame > prev, "{} after {prev}", s.frame);
        }
        last = Some(s.frame);
        let age = s.unwrap_millis(now_millis()).abs_diff(now_millis());
        assert!(age < 5_000, "stamp is {age} ms away from now");
    }

    cancel.cancel();
    // The agent closes with 1000.
    let close = tokio::time::timeout(TIMEOUT, async {
        loop {
            match conn.ws.next().await {
                Some(Ok(Message::Close(f))) => return f,
                Some(Ok(_)) => continue,
                other => panic!("no close frame: {other:?}"),
            }
        }
    })
    .await
    .expect("close in time");
    assert_eq!(close.map(|f| f.code), Some(CloseCode::Normal));
    tokio::time::timeout(TIMEOUT, agent)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn reconnects_after_a_drop_and_the_queue_stays_bounded_meanwhile() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let cfg = config(listener.local_addr().unwrap(), "queue_frames = 3");
    let queue = Arc::new(FrameQueue::new(cfg.uplink.queue_frames));
    let stats = Arc::new(UplinkStats::default());
    let cancel = CancellationToken::new();
    let src = tokio::spawn(
        source::from_config(&cfg.source)
            .unwrap()
            .run(queue.clone(), cancel.clone()),
    );
    let up = tokio::spawn(uplink::run(
        UplinkSettings::from_config(&cfg, Secret::new("tok-42")),
        queue.clone(),
        stats.clone(),
        cancel.clone(),
    ));

    let mut first = Conn::accept(&listener).await;
    first.hello().await;
    let mut before = 0;
    for _ in 0..3 {
        before = first.stamp().await.frame;
    }
    // The hub vanishes: TCP closed without a close frame.
    drop(first);

    // While nobody accepts, capture goes on and the queue sheds frames.
    let dropped_at_start = queue.dropped();
    for _ in 0..20 {
        assert!(queue.len() <= 3, "queue holds {}", queue.len());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        queue.dropped() > dropped_at_start,
        "frames were dropped while down"
    );
    assert!(!stats.connected.load(Ordering::Relaxed));

    let mut second = Conn::accept(&listener).await;
    assert_eq!(second.hello().await, (42, "tok-42".to_owned()));
    let mut last = before;
    for _ in 0..5 {
        let f = second.stamp().await.frame;
        assert!(f > last, "{f} after {last}");
        last = f;
    }
    assert!(stats.connections.load(Ordering::Relaxed) >= 2);
    assert!(stats.frames_sent.load(Ordering::Relaxed) >= 8);

    cancel.cancel();
    tokio::time::timeout(TIMEOUT, up).await.unwrap().unwrap();
    tokio::time::timeout(TIMEOUT, src)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn a_policy_close_is_answered_and_retried_later() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let cfg = config(listener.local_addr().unwrap(), "");
    let queue = Arc::new(FrameQueue::new(4));
    let stats = Arc::new(UplinkStats::default());
    let cancel = CancellationToken::new();
    let up = tokio::spawn(uplink::run(
        UplinkSettings::from_config(&cfg, Secret::new("wrong")),
        queue.clone(),
        stats.clone(),
        cancel.clone(),
    ));

    let mut conn = Conn::accept(&listener).await;
    assert_eq!(conn.hello().await.1, "wrong");
    conn.ws
        .send(Message::Close(Some(CloseFrame {
            code: CloseCode::Policy,
            reason: "Invalid token".into(),
        })))
        .await
        .unwrap();
    // The agent answers the close handshake and ends the connection.
    let end = tokio::time::timeout(TIMEOUT, async {
        loop {
            match conn.ws.next().await {
                None | Some(Err(_)) => return,
                Some(Ok(_)) => continue,
            }
        }
    })
    .await;
    assert!(end.is_ok(), "the agent did not finish the close handshake");
    drop(conn);

    // It comes back after the (maximum) backoff.
    let mut again = Conn::accept(&listener).await;
    assert_eq!(again.hello().await.0, 42);
    assert_eq!(stats.connections.load(Ordering::Relaxed), 2);
    cancel.cancel();
    tokio::time::timeout(TIMEOUT, up).await.unwrap().unwrap();
}

#[tokio::test]
async fn a_close_then_hang_up_while_frames_flow_still_reports_the_code() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let cfg = config(listener.local_addr().unwrap(), "");
    let queue = Arc::new(FrameQueue::new(4));
    let stats = Arc::new(UplinkStats::default());
    let cancel = CancellationToken::new();
    let src = tokio::spawn(
        source::from_config(&cfg.source)
            .unwrap()
            .run(queue.clone(), cancel.clone()),
    );
    let up = tokio::spawn(uplink::run(
        UplinkSettings::from_config(&cfg, Secret::new("wrong")),
        queue.clone(),
        stats.clone(),
        cancel.clone(),
    ));
    for _ in 0..3 {
        let mut conn = Conn::accept(&listener).await;
        conn.hello().await;
        conn.stamp().await;
        conn.ws
            .send(Message::Close(Some(CloseFrame {
                code: CloseCode::Policy,
                reason: "Invalid token".into(),
            })))
            .await
            .unwrap();
        drop(conn);
        let seen = tokio::time::timeout(TIMEOUT, async {
            while stats.last_close_code.load(Ordering::Relaxed) != 1008 {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await;
        assert!(seen.is_ok(), "close code not seen");
        stats.last_close_code.store(0, Ordering::Relaxed);
    }
    cancel.cancel();
    tokio::time::timeout(TIMEOUT, up).await.unwrap().unwrap();
    tokio::time::timeout(TIMEOUT, src)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
}

#[test]
fn close_reasons_are_reported_as_sent() {
    let closed = uplink::ClosedBy(Some(CloseFrame {
        code: CloseCode::Policy,
        reason: "Invalid token".into(),
    }));
    let err = uplink::UplinkError::Closed(closed).to_string();
    assert!(
        err.contains("1008") && err.contains("Invalid token") && err.contains("token"),
        "{err}"
    );
    assert_eq!(uplink::ClosedBy(None).to_string(), "no close code");
}
