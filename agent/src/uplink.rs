//! The uplink: one websocket to the hub's `/video-input-stream`, the hello, then one binary message per frame.
//!
//! States: connecting → streaming → (hub closed | failed) → backoff →
//! connecting. Backoff is exponential with full jitter up to
//! `backoff_max`; a refusal by policy (close code 1008, e.g. "Invalid
//! token") jumps straight to the maximum. Failures are logged once per change
//! of state; a close frame's code and reason are logged as the hub sent
//! them. Incoming messages are read all the time so pings are answered and
//! close frames seen; the seed's move/update control messages are logged at
//! debug and otherwise ignored. The token is sent in the hello and never
//! logged.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info};

use crate::backoff::{Backoff, Problem, sleep_or_cancel};
use crate::config::{Config, Secret};
use crate::queue::FrameQueue;

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// A connection that streamed this long resets the backoff.
const STABLE_AFTER: Duration = Duration::from_secs(10);
/// Bound on the closing handshake at shutdown.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(2);

/// What the uplink needs to know.
#[derive(Debug, Clone)]
pub struct UplinkSettings {
    pub url: String,
    pub camera_id: u32,
    pub token: Secret,
    pub backoff_initial: Duration,
    pub backoff_max: Duration,
    pub connect_timeout: Duration,
    pub send_timeout: Duration,
}

impl UplinkSettings {
    pub fn from_config(config: &Config, token: Secret) -> UplinkSettings {
        UplinkSettings {
            url: config.hub_url.clone(),
            camera_id: config.camera_id,
            token,
            backoff_initial: config.uplink.backoff_initial.0,
            backoff_max: config.uplink.backoff_max.0,
            connect_timeout: config.uplink.connect_timeout.0,
            send_timeout: config.uplink.send_timeout.0,
        }
    }
}

/// Counters the uplink keeps, for the periodic stats line and tests.
#[derive(Debug, Default)]
pub struct UplinkStats {
    pub connected: AtomicBool,
    pub connections: AtomicU64,
    pub frames_sent: AtomicU64,
    pub bytes_sent: AtomicU64,
    /// The code of the last close frame the hub sent (0: none yet).
    pub last_close_code: AtomicU32,
}

/// Why a connection ended.
#[derive(Debug, thiserror::Error)]
pub enum UplinkError {
    #[error("connecting to the hub timed out")]
    ConnectTimeout,
    #[error("cannot connect to the hub: {0}")]
    Connect(tokio_tungstenite::tungstenite::Error),
    #[error("sending to the hub timed out (hub not reading?)")]
    SendTimeout,
    #[error("sending to the hub failed: {0}")]
    Send(tokio_tungstenite::tungstenite::Error),
    #[error("reading from the hub failed: {0}")]
    Receive(tokio_tungstenite::tungstenite::Error),
    #[error("the hub dropped the connection without a close frame")]
    Dropped,
    #[error("the hub closed the connection: {0}")]
    Closed(ClosedBy),
}

/// A close frame from the hub, as sent.
#[derive(Debug)]
pub struct ClosedBy(pub Option<CloseFrame>);

impl std::fmt::Display for ClosedBy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0 {
            None => f.write_str("no close code"),
            Some(cf) => {
                let code = u16::from(cf.code);
                write!(f, "code {code}")?;
                if !cf.reason.is_empty() {
                    write!(f, " {:?}", cf.reason.as_str())?;
                }
                if cf.code == CloseCode::Policy {
                    f.write_str(" (refused: check camera_id and the token)")?;
                }
                Ok(())
            }
        }
    }
}

/// Run the uplink until `cancel` fires.
pub async fn run(
    settings: UplinkSettings,
    queue: Arc<FrameQueue>,
    stats: Arc<UplinkStats>,
    cancel: CancellationToken,
) {
    let mut backoff = Backoff::new(settings.backoff_initial, settings.backoff_max);
    let mut problem = Problem::new("hub uplink");
    info!(url = %settings.url, camera_id = settings.camera_id, "uplink started");
    loop {
        let started = Instant::now();
        let err = match session(&settings, &queue, &stats, &cancel, &mut problem).await {
            Ok(()) => break,
            Err(e) => e,
        };
        stats.connected.store(false, Ordering::Relaxed);
        if let UplinkError::Closed(ClosedBy(Some(cf))) = &err {
            stats
                .last_close_code
                .store(u32::from(u16::from(cf.code)), Ordering::Relaxed);
        }
        if started.elapsed() >= STABLE_AFTER {
            backoff.reset();
        }
        let refused =
            matches!(&err, UplinkError::Closed(ClosedBy(Some(cf))) if cf.code == CloseCode::Policy);
        if refused {
            backoff.escalate();
        }
        let delay = backoff.next_delay();
        problem.report(&err, delay);
        if sleep_or_cancel(delay, &cancel).await {
            break;
        }
    }
    info!(
        frames_sent = stats.frames_sent.load(Ordering::Relaxed),
        "uplink stopped"
    );
}

/// One connection: connect, hello, stream until it ends. `Ok` only when
/// cancelled.
async fn session(
    settings: &UplinkSettings,
    queue: &FrameQueue,
    stats: &UplinkStats,
    cancel: &CancellationToken,
    problem: &mut Problem,
) -> Result<(), UplinkError> {
    let connect = tokio_tungstenite::connect_async(settings.url.as_str());
    let mut ws = tokio::select! {
        _ = cancel.cancelled() => return Ok(()),
        r = tokio::time::timeout(settings.connect_timeout, connect) => {
            r.map_err(|_| UplinkError::ConnectTimeout)?.map_err(UplinkError::Connect)?.0
        }
    };
    let mut hello = BytesMut::new();
    wire::encode_hello(settings.camera_id, settings.token.expose(), &mut hello);
    send(
        &mut ws,
        Message::Binary(hello.freeze()),
        settings.send_timeout,
        cancel,
    )
    .await?;
    stats.connected.store(true, Ordering::Relaxed);
    stats.connections.fetch_add(1, Ordering::Relaxed);
    info!(url = %settings.url, "connected to the hub");
    let mut sent_one = false;
    loop {
        tokio::select! {
            biased;
            _ = cancel.cancelled() => {
                close(&mut ws).await;
                return Ok(());
            }
            msg = ws.next() => match msg {
                None => return Err(UplinkError::Dropped),
                Some(Err(e)) => return Err(UplinkError::Receive(e)),
                Some(Ok(Message::Close(frame))) => {
                    // Let tungstenite send the reply close; bounded.
                    let _ = tokio::time::timeout(CLOSE_TIMEOUT, async {
                        while let Some(Ok(_)) = ws.next().await {}
                    }).await;
                    return Err(UplinkError::Closed(ClosedBy(frame)));
                }
                Some(Ok(Message::Binary(b))) => {
                    let kind = b.get(..4).map(|k| i32::from_le_bytes([k[0], k[1], k[2], k[3]]));
                    debug!(len = b.len(), ?kind, "ignoring a control message from the hub (1 = move, 2 = update)");
                }
                Some(Ok(Message::Text(t))) => debug!(len = t.len(), "ignoring a text message from the hub"),
                Some(Ok(_)) => {} // ping/pong: tungstenite answers pings itself
            },
            frame = queue.pop() => {
                let len = frame.jpeg.len();
                let mut buf = BytesMut::with_capacity(4 + len);
                wire::encode_frame(&frame.jpeg, &mut buf);
                if let Err(e) = send(&mut ws, Message::Binary(buf.freeze()), settings.send_timeout, cancel).await {
                    // A hub that refuses us may close and hang up while we
                    // send: prefer its stated reason to the write error.
                    return Err(pending_close(&mut ws).await.unwrap_or(e));
                }
                stats.frames_sent.fetch_add(1, Ordering::Relaxed);
                stats.bytes_sent.fetch_add(4 + len as u64, Ordering::Relaxed);
                if !sent_one {
                    sent_one = true;
                    problem.clear();
                    debug!(seq = frame.seq, "first frame sent on this connection");
                }
            }
        }
    }
}

/// Send one message with a timeout; cancellation aborts the send.
async fn send(
    ws: &mut Ws,
    msg: Message,
    timeout: Duration,
    cancel: &CancellationToken,
) -> Result<(), UplinkError> {
    tokio::select! {
        _ = cancel.cancelled() => Ok(()),
        r = tokio::time::timeout(timeout, ws.send(msg)) => {
            r.map_err(|_| UplinkError::SendTimeout)?.map_err(UplinkError::Send)
        }
    }
}

/// A close frame already on its way in, if any (briefly waited for).
async fn pending_close(ws: &mut Ws) -> Option<UplinkError> {
    tokio::time::timeout(Duration::from_millis(200), async {
        while let Some(Ok(msg)) = ws.next().await {
            if let Message::Close(frame) = msg {
                return Some(UplinkError::Closed(ClosedBy(frame)));
            }
        }
        None
    })
    .await
    .ok()
    .flatten()
}

/// Close with 1000 and wait (bounded) for the hub's reply.
async fn close(ws: &mut Ws) {
    let frame = CloseFrame {
        code: CloseCode::Normal,
        reason: "agent stopping".into(),
    };
    let _ = tokio::time::timeout(CLOSE_TIMEOUT, async {
        if ws.close(Some(frame)).await.is_ok() {
            while let Some(Ok(_)) = ws.next().await {}
        }
    })
    .await;
    info!("closed the hub connection");
}
