//! `/video-input-stream`: agents (and unmodified seed clients) push JPEG
//! frames. The hello is checked before any frame is looked at; a refused
//! connection is closed and nothing it sent is stored.

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use bytes::BytesMut;
use events::{Event, Origin, What};
use tracing::Instrument;
use wire::{IngestDecoder, IngestEvent};

use super::AppState;
use super::ws::{
    GOING_AWAY, HELLO_TIMEOUT, IDLE_TIMEOUT, Message, NORMAL, POLICY_VIOLATION, WebSocket,
    WebSocketUpgrade, foreign_origin, send_close,
};
use crate::camera::{Camera, now_ms};
use crate::counters::DropReason;

pub async fn upgrade(
    State(hub): State<AppState>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    if let Some(refused) = foreign_origin(&hub, &headers) {
        return refused;
    }
    let max = hub.cfg.max_frame_size.0 as usize;
    // Once the hello is accepted, one websocket message may carry a whole
    // length-prefixed frame (the seed client's framing) plus a little more.
    ws.on_upgrade(max + 64 * 1024, move |socket| run(hub, socket))
}

async fn close(mut socket: WebSocket, code: u16, reason: impl Into<String>) {
    send_close(&mut socket, code, &reason.into()).await;
    // Give the peer a moment to answer the close, then drop the connection
    // whatever it does; nothing more is read from it.
    let _ = tokio::time::timeout(std::time::Duration::from_secs(2), async {
        while let Some(Ok(m)) = socket.recv().await {
            if matches!(m, Message::Close(_)) {
                break;
            }
        }
    })
    .await;
}

enum Next {
    Data(bytes::Bytes),
    Closed,
    TimedOut,
    Shutdown,
}

/// The next binary message, by `deadline` (pings and text do not move it).
async fn next_data(hub: &AppState, socket: &mut WebSocket, deadline: tokio::time::Instant) -> Next {
    loop {
        let msg = tokio::select! {
            _ = hub.shutdown.cancelled() => return Next::Shutdown,
            r = tokio::time::timeout_at(deadline, socket.recv()) => r,
        };
        match msg {
            Err(_) => return Next::TimedOut,
            Ok(None) | Ok(Some(Err(_))) | Ok(Some(Ok(Message::Close(_)))) => return Next::Closed,
            Ok(Some(Ok(Message::Binary(b)))) => return Next::Data(b),
            // The protocol is binary; pings are answered by the library.
            Ok(Some(Ok(_))) => continue,
        }
    }
}

async fn run(hub: AppState, mut socket: WebSocket) {
    let mut dec = IngestDecoder::new(hub.cfg.max_frame_size.0 as u32);
    let mut buf = BytesMut::new();

    // 1. The hello: camera id and token, possibly over several messages, all by
    // one deadline.
    let hello_by = tokio::time::Instant::now() + HELLO_TIMEOUT;
    let (camera, token) = loop {
        match dec.decode(&mut buf) {
            Ok(Some(IngestEvent::Hello { camera_id, token })) => break (camera_id, token),
            Ok(Some(IngestEvent::Frame(_))) => unreachable!("frames only follow a hello"),
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(error = %e, "ingest hello refused");
                return close(socket, e.close_code(), e.to_string()).await;
            }
        }
        match next_data(&hub, &mut socket, hello_by).await {
            Next::Data(b) => buf.extend_from_slice(&b),
            Next::TimedOut => return close(socket, POLICY_VIOLATION, "No hello received").await,
            Next::Closed => return,
            Next::Shutdown => return close(socket, GOING_AWAY, "hub shutting down").await,
        }
    };

    let Some(cam) = hub.cameras.by_id(camera).cloned() else {
        tracing::warn!(camera, "ingest for unknown camera refused");
        return close(
            socket,
            POLICY_VIOLATION,
            format!("No camera with id {camera} exists"),
        )
        .await;
    };
    let Some(token_ok) = cam.agent_token_ok(&hub.secret, &token) else {
        tracing::warn!(
            camera,
            "ingest for a camera that is not fed by an agent refused"
        );
        return close(
            socket,
            POLICY_VIOLATION,
            format!("Camera {camera} does not accept pushed frames"),
        )
        .await;
    };
    if !token_ok {
        tracing::warn!(camera, name = %cam.name, "ingest with an invalid token refused");
        return close(socket, POLICY_VIOLATION, "Invalid token").await;
    }
    drop(token);
    socket.authenticated();

    let span = tracing::info_span!("ingest", camera, name = %cam.name);
    connected(hub, cam, socket, dec, buf).instrument(span).await;
}

async fn connected(
    hub: AppState,
    cam: std::sync::Arc<Camera>,
    mut socket: WebSocket,
    mut dec: IngestDecoder,
    mut buf: BytesMut,
) {
    tracing::info!("agent connected");
    let guard = cam.attach();
    cam.events
        .publish(Event::new(now_ms(), Origin::Hub, What::Online));
    let reason = stream_frames(&hub, &cam, &mut socket, &mut dec, &mut buf, &guard).await;
    drop(guard);
    let offline = match &reason {
        End::PeerClosed => Some("the agent disconnected".to_owned()),
        End::Idle => Some("the agent was silent for too long".to_owned()),
        End::Protocol(e) => Some(format!("the agent's stream was refused: {e}")),
        End::Shutdown => Some("the hub shut down".to_owned()),
        // The newer connection has the camera: it is still online.
        End::Superseded => None,
    };
    if let Some(why) = offline {
        cam.events
            .publish(Event::new(now_ms(), Origin::Hub, What::offline(&why)));
    }
    match reason {
        End::PeerClosed => tracing::info!("agent disconnected"),
        End::Idle => {
            tracing::warn!("agent silent for too long; closing");
            close(socket, POLICY_VIOLATION, "Idle timeout").await;
        }
        End::Protocol(e) => {
            tracing::warn!(error = %e, "agent stream refused");
            close(socket, e.close_code(), e.to_string()).await;
        }
        End::Superseded => {
            tracing::info!("a newer connection took this camera over");
            close(socket, NORMAL, "Superseded by a newer connection").await;
        }
        End::Shutdown => close(socket, GOING_AWAY, "hub shutting down").await,
    }
}

enum End {
    PeerClosed,
    Idle,
    Protocol(wire::IngestError),
    Superseded,
    Shutdown,
}

async fn stream_frames(
    hub: &AppState,
    cam: &Camera,
    socket: &mut WebSocket,
    dec: &mut IngestDecoder,
    buf: &mut BytesMut,
    guard: &crate::camera::ConnectionGuard<'_>,
) -> End {
    let logged_not_jpeg = &mut false;
    loop {
        loop {
            match dec.decode(buf) {
                Ok(Some(IngestEvent::Frame(jpeg))) => {
                    if !guard.owns_camera() {
                        return End::Superseded;
                    }
                    if jpeg.starts_with(&[0xFF, 0xD8, 0xFF]) {
                        cam.publish(jpeg);
                    } else {
                        let why = not_jpeg_reason(&jpeg);
                        // Once per connection in the log; every one is counted and the
                        // latest reason shown in the camera's status.
                        if !*logged_not_jpeg {
                            *logged_not_jpeg = true;
                            tracing::warn!(
                                "{why}; skipped (further ones on this connection are only counted)"
                            );
                        }
                        cam.reject_frame(why);
                        cam.counters.drop_frames(DropReason::Rejected, 1);
                    }
                }
                Ok(Some(IngestEvent::Hello { .. })) => unreachable!("one hello per stream"),
                Ok(None) => break,
                Err(e) => return End::Protocol(e),
            }
        }
        match next_data(hub, socket, tokio::time::Instant::now() + IDLE_TIMEOUT).await {
            Next::Data(b) => buf.extend_from_slice(&b),
            Next::Closed => return End::PeerClosed,
            Next::TimedOut => return End::Idle,
            Next::Shutdown => return End::Shutdown,
        }
    }
}

/// Why a pushed frame is not taken as a JPEG: its size and first bytes (never more, so
/// nothing of a mistaken payload ends up in the log).
fn not_jpeg_reason(frame: &[u8]) -> String {
    let head: Vec<String> = frame.iter().take(4).map(|b| format!("{b:02x}")).collect();
    format!(
        "a {}-byte frame is not a JPEG (starts {})",
        frame.len(),
        if head.is_empty() {
            "empty".to_owned()
        } else {
            head.join(" ")
        }
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn not_jpeg_reason_names_size_and_first_bytes() {
        assert_eq!(
            super::not_jpeg_reason(b"\x89PNG\r\n"),
            "a 6-byte frame is not a JPEG (starts 89 50 4e 47)"
        );
        assert_eq!(
            super::not_jpeg_reason(b""),
            "a 0-byte frame is not a JPEG (starts empty)"
        );
    }
}
