//! `/video-output-stream`: the seed viewer websocket. The client sends a
//! length-prefixed JSON `{cameraId, token}`; then it receives one binary
//! message of raw JPEG per new frame (latest wins: a slow viewer skips
//! frames). The token is a user's API token; a logged-in browser may send
//! any token, its session cookie authenticates it.

use axum::extract::{FromRequestParts, State};
use axum::http::{HeaderMap, request::Parts};
use axum::response::Response;
use bytes::BytesMut;

use super::ws::{
    GOING_AWAY, HELLO_TIMEOUT, INVALID_PAYLOAD, Message, POLICY_VIOLATION, WebSocket,
    WebSocketUpgrade, foreign_origin, send_close,
};
use super::{AppState, Viewer};
use crate::counters::ViewerKind;
use crate::db::User;

/// The viewer's session, if its cookie (or Basic header) is valid.
pub struct MaybeViewer(Option<User>);

impl FromRequestParts<AppState> for MaybeViewer {
    type Rejection = std::convert::Infallible;
    async fn from_request_parts(
        parts: &mut Parts,
        hub: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Ok(MaybeViewer(
            Viewer::from_request_parts(parts, hub)
                .await
                .ok()
                .and_then(|v| v.0),
        ))
    }
}

pub async fn upgrade(
    State(hub): State<AppState>,
    headers: HeaderMap,
    MaybeViewer(user): MaybeViewer,
    ws: WebSocketUpgrade,
) -> Response {
    if let Some(refused) = foreign_origin(&hub, &headers) {
        return refused;
    }
    ws.on_upgrade(64 * 1024, move |socket| run(hub, socket, user))
}

async fn close(mut socket: WebSocket, code: u16, reason: impl Into<String>) {
    send_close(&mut socket, code, &reason.into()).await;
}

async fn run(hub: AppState, mut socket: WebSocket, user: Option<User>) {
    let mut buf = BytesMut::new();
    // One deadline for the whole hello, however it is split or padded with pings.
    let hello_by = tokio::time::Instant::now() + HELLO_TIMEOUT;
    let hello = loop {
        match wire::decode_viewer_hello(&mut buf) {
            Ok(Some(h)) => break h,
            Ok(None) => {}
            Err(e) => {
                tracing::debug!(error = %e, "viewer handshake refused");
                return close(socket, INVALID_PAYLOAD, "Invalid client info").await;
            }
        }
        match tokio::time::timeout_at(hello_by, socket.recv()).await {
            Ok(Some(Ok(Message::Binary(b)))) => buf.extend_from_slice(&b),
            Ok(Some(Ok(Message::Text(t)))) => buf.extend_from_slice(t.as_bytes()),
            Ok(Some(Ok(_))) => {}
            Err(_) => return close(socket, INVALID_PAYLOAD, "Invalid client info").await,
            Ok(_) => return,
        }
    };
    let id = hello.camera_id;
    let Some(cam) = u32::try_from(id)
        .ok()
        .and_then(|id| hub.cameras.by_id(id))
        .cloned()
    else {
        return close(
            socket,
            POLICY_VIOLATION,
            format!("No camera with id {id} exists"),
        )
        .await;
    };
    let allowed = user.is_some()
        || hub.cfg.allow_anonymous_viewing
        || hub.auth.api_token_user(&hello.token).await.is_some();
    if !allowed {
        tracing::warn!(camera = id, "viewer with an invalid token refused");
        return close(socket, POLICY_VIOLATION, "Invalid token").await;
    }
    let mut rx = cam.subscribe();
    let viewer = cam.counters.viewer(ViewerKind::Websocket);
    if !cam.picture_coming() {
        rx.mark_changed(); // send the current frame first
    }
    loop {
        tokio::select! {
            _ = hub.shutdown.cancelled() => return close(socket, GOING_AWAY, "hub shutting down").await,
            changed = rx.changed() => {
                if changed.is_err() { return; }
                let frame = rx.borrow_and_update().clone();
                if let Some(f) = frame {
                    if socket.send(Message::Binary(f.jpeg)).await.is_err() {
                        return;
                    }
                    viewer.sent();
                }
            }
            msg = socket.recv() => match msg {
                // Pan/tilt messages of the seed frontend are accepted and
                // ignored: no camera here has a motor.
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                Some(Ok(_)) => {}
            },
        }
    }
}
