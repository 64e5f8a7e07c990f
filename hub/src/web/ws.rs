//! What the hub's websockets share (agent ingest, the seed viewer, live MSE video): the
//! upgrade, close codes (RFC 6455), how long a peer may take, the close message, the
//! `Origin` check every upgrade makes, and the gate on what a peer may make the hub hold.
//!
//! The upgrade is done here rather than by axum's extractor so that the socket can be
//! read through a [`Gated`] stream: it reads each frame header as it passes, before
//! tungstenite does. tungstenite (0.29) reserves the whole announced length of a frame
//! as soon as it has parsed the header (`FrameCodec::read_frame`), so a peer announcing
//! 8 MiB and sending one byte would hold 8 MiB of address space; and a message's frames
//! are gathered in memory until its last one. The gate refuses a header whose message
//! would pass the connection's current limit (1009, before tungstenite sees it), and
//! takes each data frame's announced length from the hub's memory budget
//! ([`super::limits::Budget`]) until the message's last frame has arrived (1013 when
//! the budget is spent). Until the handler has authenticated the peer the limit is
//! [`BEFORE_AUTH`]; then it is the route's own.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::extract::FromRequestParts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header, request::Parts};
use axum::response::{IntoResponse, Response};
use futures_util::{SinkExt, StreamExt};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::OwnedSemaphorePermit;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::frame::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};

pub use tokio_tungstenite::tungstenite::{Error, Message};

use super::limits::Budget;
use super::{AppState, origin_allowed};
use crate::app::Hub;

pub const NORMAL: u16 = 1000;
pub const GOING_AWAY: u16 = 1001;
pub const PROTOCOL_ERROR: u16 = 1002;
pub const INVALID_PAYLOAD: u16 = 1007;
pub const POLICY_VIOLATION: u16 = 1008;
pub const MESSAGE_TOO_BIG: u16 = 1009;
pub const INTERNAL_ERROR: u16 = 1011;
pub const TRY_AGAIN_LATER: u16 = 1013;

/// How long a websocket peer may stay silent before it is dropped.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a new websocket peer has, from the upgrade, to finish its hello. The
/// deadline is absolute: pings and partial messages do not extend it.
pub const HELLO_TIMEOUT: Duration = Duration::from_secs(10);
/// The largest message a peer may send before its handler has authenticated it.
pub const BEFORE_AUTH: usize = 64 * 1024;
/// Bytes tungstenite reads from the socket at a time (its default, 128 KiB, would be
/// allocated for every open websocket).
const READ_BUFFER: usize = 16 * 1024;

/// The refusal of an upgrade from another site (`Origin` not this hub's nor allowed).
pub fn foreign_origin(hub: &Hub, headers: &HeaderMap) -> Option<Response> {
    (!origin_allowed(hub, headers))
        .then(|| (StatusCode::FORBIDDEN, "websocket origin refused\n").into_response())
}

/// Sends a close message with `code` and `reason` (errors ignored: the peer may be gone).
pub async fn send_close(socket: &mut WebSocket, code: u16, reason: &str) {
    let _ = socket
        .send(Message::Close(Some(CloseFrame {
            code: code.into(),
            reason: reason.to_owned().into(),
        })))
        .await;
}

/// A websocket upgrade request (`GET` with `Upgrade: websocket`), checked.
pub struct WebSocketUpgrade {
    key: HeaderValue,
    on_upgrade: hyper::upgrade::OnUpgrade,
    budget: Budget,
}

impl std::fmt::Debug for WebSocketUpgrade {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebSocketUpgrade").finish_non_exhaustive()
    }
}

fn header_has(headers: &HeaderMap, name: header::HeaderName, token: &str) -> bool {
    headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case(token))
}

impl FromRequestParts<AppState> for WebSocketUpgrade {
    type Rejection = Response;
    async fn from_request_parts(parts: &mut Parts, web: &AppState) -> Result<Self, Response> {
        let bad = |status: StatusCode, msg: &'static str| (status, msg).into_response();
        if parts.method != Method::GET {
            return Err(bad(
                StatusCode::METHOD_NOT_ALLOWED,
                "websocket upgrades use GET\n",
            ));
        }
        if !header_has(&parts.headers, header::CONNECTION, "upgrade")
            || !header_has(&parts.headers, header::UPGRADE, "websocket")
        {
            return Err(bad(
                StatusCode::BAD_REQUEST,
                "Connection: upgrade and Upgrade: websocket are required\n",
            ));
        }
        if parts
            .headers
            .get(header::SEC_WEBSOCKET_VERSION)
            .is_none_or(|v| v != "13")
        {
            return Err(bad(
                StatusCode::BAD_REQUEST,
                "Sec-WebSocket-Version must be 13\n",
            ));
        }
        let Some(key) = parts.headers.get(header::SEC_WEBSOCKET_KEY).cloned() else {
            return Err(bad(
                StatusCode::BAD_REQUEST,
                "Sec-WebSocket-Key is required\n",
            ));
        };
        let Some(on_upgrade) = parts.extensions.remove::<hyper::upgrade::OnUpgrade>() else {
            return Err(bad(
                StatusCode::UPGRADE_REQUIRED,
                "this connection cannot be upgraded\n",
            ));
        };
        Ok(WebSocketUpgrade {
            key,
            on_upgrade,
            budget: web.budget.clone(),
        })
    }
}

impl WebSocketUpgrade {
    /// Answers 101 and runs `callback` on the socket once the upgrade is done. The peer
    /// may send messages of [`BEFORE_AUTH`] bytes until the handler calls
    /// [`WebSocket::authenticated`]; then of `max_message` bytes.
    pub fn on_upgrade<F, Fut>(self, max_message: usize, callback: F) -> Response
    where
        F: FnOnce(WebSocket) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let WebSocketUpgrade {
            key,
            on_upgrade,
            budget,
        } = self;
        let accept = tokio_tungstenite::tungstenite::handshake::derive_accept_key(key.as_bytes());
        tokio::spawn(async move {
            let Ok(upgraded) = on_upgrade.await else {
                return;
            };
            let gate = Arc::new(GateState {
                limit: AtomicUsize::new(BEFORE_AUTH.min(max_message)),
                max_message,
                refused: OnceLock::new(),
            });
            let io = Gated::new(TokioIo::new(upgraded), Arc::clone(&gate), budget);
            let config = WebSocketConfig::default()
                .read_buffer_size(READ_BUFFER)
                .max_message_size(Some(max_message))
                .max_frame_size(Some(max_message));
            let inner = WebSocketStream::from_raw_socket(io, Role::Server, Some(config)).await;
            callback(WebSocket {
                inner,
                gate,
                max_message,
            })
            .await;
        });
        let mut r = StatusCode::SWITCHING_PROTOCOLS.into_response();
        let h = r.headers_mut();
        h.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
        h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        if let Ok(v) = HeaderValue::from_str(&accept) {
            h.insert(header::SEC_WEBSOCKET_ACCEPT, v);
        }
        r
    }
}

/// An upgraded websocket, read through its gate.
pub struct WebSocket {
    inner: WebSocketStream<Gated<TokioIo<hyper::upgrade::Upgraded>>>,
    gate: Arc<GateState>,
    max_message: usize,
}

impl WebSocket {
    /// The next message; `None` once the peer has closed. When the gate refuses what
    /// the peer sends, the peer is sent the close code that says why (1009, 1013) and
    /// this returns the error.
    pub async fn recv(&mut self) -> Option<Result<Message, Error>> {
        let r = self.inner.next().await;
        if matches!(r, Some(Err(_)))
            && let Some(&code) = self.gate.refused.get()
        {
            let reason = match code {
                TRY_AGAIN_LATER => "the hub is receiving too much at once".to_owned(),
                PROTOCOL_ERROR => "bad control frame".to_owned(),
                _ => format!(
                    "Websocket message over {} bytes",
                    self.gate.limit.load(Ordering::Relaxed)
                ),
            };
            tracing::debug!(code, reason, "websocket refused");
            let _ =
                tokio::time::timeout(Duration::from_secs(2), send_close(self, code, &reason)).await;
        }
        r
    }

    pub async fn send(&mut self, msg: Message) -> Result<(), Error> {
        self.inner.send(msg).await
    }

    /// The peer is authenticated: it may now send messages up to the route's limit.
    pub fn authenticated(&self) {
        self.gate.limit.store(self.max_message, Ordering::Relaxed);
    }
}

/// What the handler and the gate share.
struct GateState {
    /// The largest message the peer may send now.
    limit: AtomicUsize,
    /// The largest once the peer has authenticated (the route's own).
    max_message: usize,
    /// The close code, once the gate has refused the peer.
    refused: OnceLock<u16>,
}

/// The upgraded socket, read frame header by frame header (see the module
/// documentation). The bytes pass unchanged; only their headers are looked at.
struct Gated<S> {
    io: S,
    gate: Arc<GateState>,
    budget: Budget,
    /// The frame header being read, and how much of it has arrived.
    head: [u8; 14],
    head_len: usize,
    /// Payload bytes of the current frame still to come.
    payload_left: u64,
    /// The current frame is a data frame (text, binary, continuation), and its
    /// message's last.
    data: bool,
    fin: bool,
    /// Bytes announced so far by the current message's frames.
    message: u64,
    /// The budget the current message holds.
    held: Option<OwnedSemaphorePermit>,
    /// Bytes read off the socket but not yet handed on: before authentication, reads
    /// stop at the end of each message, so that the handler sees (and can accept) the
    /// hello before the gate judges the next message's header by the lower limit. At
    /// most one read's worth.
    stash: Vec<u8>,
}

/// The length of a frame header that starts with `h`, once its first two bytes are known.
fn header_len(h: &[u8]) -> Option<usize> {
    let b = *h.get(1)?;
    let mask = if b & 0x80 != 0 { 4 } else { 0 };
    Some(
        2 + mask
            + match b & 0x7f {
                126 => 2,
                127 => 8,
                _ => 0,
            },
    )
}

impl<S> Gated<S> {
    fn new(io: S, gate: Arc<GateState>, budget: Budget) -> Gated<S> {
        Gated {
            io,
            gate,
            budget,
            head: [0; 14],
            head_len: 0,
            payload_left: 0,
            data: false,
            fin: false,
            message: 0,
            held: None,
            stash: Vec::new(),
        }
    }

    /// Looks at `bytes`, the next bytes off the socket; `Err` is the close code.
    #[cfg(test)]
    fn scan(&mut self, bytes: &[u8]) -> Result<(), u16> {
        self.scan_to(bytes, false)
            .map(drop)
            .map_err(|(code, _)| code)
    }

    /// Looks at `bytes`, the next bytes off the socket, and returns how many of them
    /// may be handed on now: all, or with `stop_after_message` those up to the end of
    /// the first message that ends in them. `Err` is the close code and how many of
    /// `all` came before the refused frame's header (they may still be handed on).
    fn scan_to(&mut self, all: &[u8], stop_after_message: bool) -> Result<usize, (u16, usize)> {
        let mut bytes = all;
        // Where the header being read began in `all` (0 if it began in an earlier read).
        let mut head_start = 0;
        while !bytes.is_empty() {
            if self.payload_left > 0 {
                let n = usize::try_from(self.payload_left)
                    .unwrap_or(usize::MAX)
                    .min(bytes.len());
                bytes = &bytes[n..];
                self.payload_left -= n as u64;
                if self.payload_left == 0 && self.frame_done() && stop_after_message {
                    return Ok(all.len() - bytes.len());
                }
                continue;
            }
            if self.head_len == 0 {
                head_start = all.len() - bytes.len();
            }
            self.head[self.head_len] = bytes[0];
            self.head_len += 1;
            bytes = &bytes[1..];
            if header_len(&self.head[..self.head_len]) == Some(self.head_len) {
                let h = &self.head[..self.head_len];
                let len = match h[1] & 0x7f {
                    126 => u64::from(u16::from_be_bytes([h[2], h[3]])),
                    127 => u64::from_be_bytes(h[2..10].try_into().unwrap_or_default()),
                    n => u64::from(n),
                };
                let (fin, opcode) = (h[0] & 0x80 != 0, h[0] & 0x0f);
                self.head_len = 0;
                self.frame_start(fin, opcode, len)
                    .map_err(|code| (code, head_start))?;
                if len == 0 && self.frame_done() && stop_after_message {
                    return Ok(all.len() - bytes.len());
                }
            }
        }
        Ok(all.len())
    }

    fn frame_start(&mut self, fin: bool, opcode: u8, len: u64) -> Result<(), u16> {
        self.payload_left = len;
        if opcode & 0x08 != 0 {
            // A control frame (close, ping, pong): at most 125 bytes, between a
            // message's frames.
            self.data = false;
            return if len > 125 {
                Err(PROTOCOL_ERROR)
            } else {
                Ok(())
            };
        }
        self.data = true;
        self.fin = fin;
        self.message = self.message.saturating_add(len);
        let limit = self.gate.limit.load(Ordering::Relaxed) as u64;
        if self.message > limit {
            return Err(MESSAGE_TOO_BIG);
        }
        let permit = self.budget.take(len).ok_or(TRY_AGAIN_LATER)?;
        match &mut self.held {
            Some(h) => h.merge(permit),
            None => self.held = Some(permit),
        }
        Ok(())
    }

    /// The current frame is complete; true when it ended a data message.
    fn frame_done(&mut self) -> bool {
        if self.data && self.fin {
            self.held = None;
            self.message = 0;
            return true;
        }
        false
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Gated<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if this.gate.refused.get().is_some() {
            return Poll::Ready(Err(io::Error::other("websocket refused")));
        }
        let before_auth = this.gate.limit.load(Ordering::Relaxed) < this.gate.max_message;
        // Refused: what came before the refused frame is still handed on (a frame
        // that arrived in the same read is not lost); the next read fails.
        let refuse = |this: &mut Self, code: u16, handed: usize| {
            let _ = this.gate.refused.set(code);
            this.held = None;
            this.stash = Vec::new();
            if handed > 0 {
                Poll::Ready(Ok(()))
            } else {
                Poll::Ready(Err(io::Error::other("websocket refused")))
            }
        };
        if !this.stash.is_empty() {
            let stash = std::mem::take(&mut this.stash);
            let n = stash.len().min(buf.remaining());
            match this.scan_to(&stash[..n], before_auth) {
                Ok(used) => {
                    buf.put_slice(&stash[..used]);
                    this.stash = stash[used..].to_vec();
                    return Poll::Ready(Ok(()));
                }
                Err((code, ok)) => {
                    buf.put_slice(&stash[..ok]);
                    return refuse(this, code, ok);
                }
            }
        }
        let before = buf.filled().len();
        std::task::ready!(Pin::new(&mut this.io).poll_read(cx, buf))?;
        let got = buf.filled().len() - before;
        match this.scan_to(&buf.filled()[before..], before_auth) {
            Ok(used) if used < got => {
                this.stash = buf.filled()[before + used..].to_vec();
                buf.set_filled(before + used);
            }
            Ok(_) => {}
            Err((code, ok)) => {
                buf.set_filled(before + ok);
                return refuse(this, code, ok);
            }
        }
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Gated<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gate(limit: usize, budget: u64) -> Gated<()> {
        let state = GateState {
            limit: AtomicUsize::new(limit),
            max_message: limit,
            refused: OnceLock::new(),
        };
        Gated::new((), Arc::new(state), Budget::new(budget))
    }

    /// A masked client frame header announcing `len` bytes.
    fn head(fin: bool, opcode: u8, len: u64) -> Vec<u8> {
        let mut h = vec![if fin { 0x80 } else { 0 } | opcode];
        match len {
            0..=125 => h.push(0x80 | len as u8),
            126..=0xffff => {
                h.push(0x80 | 126);
                h.extend_from_slice(&(len as u16).to_be_bytes());
            }
            _ => {
                h.push(0x80 | 127);
                h.extend_from_slice(&len.to_be_bytes());
            }
        }
        h.extend_from_slice(&[1, 2, 3, 4]);
        h
    }

    #[test]
    fn a_header_past_the_limit_is_refused_before_its_payload() {
        let mut g = gate(1000, 1 << 20);
        assert_eq!(g.scan(&head(true, 2, 8 << 20)[..]), Err(MESSAGE_TOO_BIG));
        assert_eq!(g.budget.available(), 1 << 20, "nothing taken");
    }

    #[test]
    fn a_header_split_byte_by_byte_is_read_and_the_budget_comes_back() {
        let mut g = gate(1 << 20, 1 << 20);
        let mut bytes = head(true, 2, 70_000);
        bytes.extend(std::iter::repeat_n(7u8, 70_000));
        for b in &bytes[..20] {
            g.scan(std::slice::from_ref(b)).unwrap();
        }
        assert_eq!(
            g.budget.available(),
            (1 << 20) - 70_000,
            "held while arriving"
        );
        g.scan(&bytes[20..]).unwrap();
        assert_eq!(
            g.budget.available(),
            1 << 20,
            "given back with the last byte"
        );
    }

    #[test]
    fn fragments_count_towards_one_message_and_pings_between_them_do_not() {
        let mut g = gate(100, 1 << 20);
        let mut bytes = head(false, 2, 60);
        bytes.extend([0u8; 60]);
        bytes.extend(head(true, 9, 4));
        bytes.extend([0u8; 4]);
        g.scan(&bytes).unwrap();
        assert_eq!(g.budget.available(), (1 << 20) - 60);
        assert_eq!(g.scan(&head(true, 0, 41)), Err(MESSAGE_TOO_BIG));
    }

    #[test]
    fn before_authentication_reads_stop_after_each_message() {
        // The hello (a 20-byte message) and, in the same read, the header of a first
        // frame larger than the limit before authentication.
        let mut g = gate(1000, 1 << 20);
        let mut bytes = head(true, 2, 20);
        bytes.extend([0u8; 20]);
        let hello = bytes.len();
        bytes.extend(head(true, 2, 5000));
        assert_eq!(g.scan_to(&bytes, true), Ok(hello));
        // Authenticated: the rest is judged by the route's limit.
        g.gate.limit.store(10_000, Ordering::Relaxed);
        assert_eq!(g.scan_to(&bytes[hello..], false), Ok(bytes.len() - hello));
    }

    #[test]
    fn a_message_before_a_refused_header_in_the_same_read_is_handed_on() {
        let mut g = gate(1000, 1 << 20);
        let mut bytes = head(true, 2, 20);
        bytes.extend([0u8; 20]);
        let ok = bytes.len();
        bytes.extend(head(true, 2, 5000));
        assert_eq!(g.scan_to(&bytes, false), Err((MESSAGE_TOO_BIG, ok)));
    }

    #[test]
    fn a_spent_budget_refuses_with_try_again_later() {
        let mut g = gate(1 << 20, 1000);
        assert_eq!(g.scan(&head(true, 2, 1001)), Err(TRY_AGAIN_LATER));
        let mut g = gate(1 << 20, 1000);
        assert_eq!(g.scan(&head(true, 9, 126)), Err(PROTOCOL_ERROR));
    }
}
