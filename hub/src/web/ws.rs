//! What the hub's websockets share (agent ingest, the seed viewer, live MSE video): close
//! codes (RFC 6455), how long a peer may take, the close message, and the `Origin` check
//! every upgrade makes.

use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, WebSocket};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

use super::origin_allowed;
use crate::app::Hub;

pub const NORMAL: u16 = 1000;
pub const GOING_AWAY: u16 = 1001;
pub const INVALID_PAYLOAD: u16 = 1007;
pub const POLICY_VIOLATION: u16 = 1008;
pub const MESSAGE_TOO_BIG: u16 = 1009;
pub const INTERNAL_ERROR: u16 = 1011;

/// How long a websocket peer may stay silent before it is dropped.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a new websocket peer has to send its hello.
pub const HELLO_TIMEOUT: Duration = Duration::from_secs(10);

/// The refusal of an upgrade from another site (`Origin` not this hub's nor allowed).
pub fn foreign_origin(hub: &Hub, headers: &HeaderMap) -> Option<Response> {
    (!origin_allowed(hub, headers))
        .then(|| (StatusCode::FORBIDDEN, "websocket origin refused\n").into_response())
}

/// Sends a close message with `code` and `reason` (errors ignored: the peer may be gone).
pub async fn send_close(socket: &mut WebSocket, code: u16, reason: &str) {
    let _ = socket
        .send(Message::Close(Some(CloseFrame {
            code,
            reason: reason.into(),
        })))
        .await;
}

/// Whether a receive error is a message (or frame) over the upgrade's size limit, which
/// the library refuses from its header before reading the body: the peer gets
/// [`MESSAGE_TOO_BIG`] rather than a dropped connection.
pub fn too_big(e: &axum::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = source {
        if let Some(tungstenite::Error::Capacity(_)) = err.downcast_ref::<tungstenite::Error>() {
            return true;
        }
        source = err.source();
    }
    false
}
