//! Encoded live video over HTTP: the MSE websocket (fMP4, one fragment per
//! frame, muxed per viewer by [`mse`]), HLS from memory (`/{camera}/stream.m3u8`,
//! the seed HLS server's URL; the sliding window is [`hls`]), and one camera's
//! status as JSON (source state, battery).
//!
//! Routes (all behind [`Viewer`]):
//! - `GET /api/v1/cameras/{name}/live.mp4.ws`: websocket; a text message with
//!   the MIME type, then binary: the init segment, then fragments from a key
//!   frame on. A viewer that falls behind skips to the next key frame.
//! - `GET /api/v1/cameras/{name}/status`: the camera's status JSON.
//! - `GET /{camera}/stream.m3u8`, `GET /{camera}/hls/{file}`: HLS. Each request counts
//!   its client (address, user agent, user) as an HLS viewer for
//!   `crate::counters::HLS_VIEWER_WINDOW` (10 s), and a segment's frames as sent. The
//!   camera is packaged only while such requests come (a first playlist request waits
//!   for a few segments, at most `HLS_FIRST_SEGMENT_WAIT`).

pub mod hls;
pub mod mse;

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tokio::sync::broadcast::error::RecvError;

use super::status::CameraJson;
use super::ws::{
    GOING_AWAY, INTERNAL_ERROR, Message, WebSocket, WebSocketUpgrade, foreign_origin, send_close,
};
use super::{Access, AppState, Route, Viewer, message};
use crate::camera::Camera;
use crate::counters::{DropReason, ViewerGuard, ViewerKind};
use crate::video::VideoFeed;
use mse::{LiveMuxer, Out};

/// A viewer that cannot take a message for this long is dropped.
const SEND_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a first playlist request waits for three target durations of video
/// (a GOP of up to 5 s); it then serves what there is, if anything.
const HLS_FIRST_SEGMENT_WAIT: Duration = Duration::from_secs(15);

/// The routes of this module, merged into the route table.
pub fn routes() -> Vec<Route> {
    vec![
        Route::new("/api/v1/cameras/{name}/live.mp4.ws", Access::Viewer).websocket(live_ws),
        Route::new("/api/v1/cameras/{name}/status", Access::Viewer).get(status),
        Route::new("/{camera}/stream.m3u8", Access::Viewer).get(hls_playlist),
        Route::new("/{camera}/hls/{file}", Access::Viewer).get(hls_file),
    ]
}

fn camera(hub: &AppState, name: &str) -> Result<Arc<Camera>, Box<Response>> {
    hub.cameras.by_name(name).cloned().ok_or_else(|| {
        Box::new(message(
            StatusCode::NOT_FOUND,
            format!("No camera named {name}"),
        ))
    })
}

fn feed(hub: &AppState, name: &str) -> Result<Arc<VideoFeed>, Box<Response>> {
    camera(hub, name)?.video.clone().ok_or_else(|| {
        Box::new(message(
            StatusCode::NOT_FOUND,
            format!("Camera {name} sends JPEG pictures, not video"),
        ))
    })
}

/// A video camera's HLS window (the same refusals as [`feed`]). Each HLS request is a
/// viewer's: it wakes an on-demand camera and keeps it awake for its idle timeout, and
/// keeps the camera's HLS packager running (see [`hls`]).
fn hls_store(hub: &AppState, name: &str) -> Result<Arc<hls::HlsStore>, Box<Response>> {
    feed(hub, name)?;
    if let Ok(cam) = camera(hub, name) {
        cam.demand.wake(crate::demand::WakeReason::Viewer);
    }
    let store = hub.hls.get(name).cloned().ok_or_else(|| {
        Box::new(message(
            StatusCode::NOT_FOUND,
            format!("Camera {name} sends JPEG pictures, not video"),
        ))
    })?;
    store.asked();
    Ok(store)
}

/// `GET /api/v1/cameras/{name}/status`.
async fn status(State(hub): State<AppState>, _v: Viewer, Path(name): Path<String>) -> Response {
    match camera(&hub, &name) {
        Ok(cam) => axum::Json(CameraJson::of(
            &hub,
            cam.status(hub.cfg.offline_after.as_duration()),
        ))
        .into_response(),
        Err(r) => *r,
    }
}

/// `GET /api/v1/cameras/{name}/live.mp4.ws`.
async fn live_ws(
    State(hub): State<AppState>,
    headers: HeaderMap,
    _v: Viewer,
    Path(name): Path<String>,
    ws: WebSocketUpgrade,
) -> Response {
    if let Some(refused) = foreign_origin(&hub, &headers) {
        return refused;
    }
    let cam = match feed(&hub, &name).and_then(|_| camera(&hub, &name)) {
        Ok(c) => c,
        Err(r) => return *r,
    };
    let counters = Arc::clone(&cam.counters);
    ws.on_upgrade(64 * 1024, move |socket| {
        run_live(hub, cam, name, counters.viewer(ViewerKind::Mse), socket)
    })
}

async fn send(socket: &mut WebSocket, out: Out) -> bool {
    let msg = match out {
        Out::Mime(m) => Message::Text(m.into()),
        Out::Init(b) | Out::Fragment(b) => Message::Binary(b),
    };
    matches!(
        tokio::time::timeout(SEND_TIMEOUT, socket.send(msg)).await,
        Ok(Ok(()))
    )
}

async fn close(mut socket: WebSocket, code: u16, reason: &str) {
    send_close(&mut socket, code, reason).await;
}

async fn run_live(
    hub: AppState,
    cam: Arc<Camera>,
    name: String,
    viewer: ViewerGuard,
    mut socket: WebSocket,
) {
    // The lease keeps an on-demand camera awake while this viewer watches.
    let Some((snap, mut rx, _lease)) = cam.watch_video() else {
        return close(socket, INTERNAL_ERROR, "this camera has no video").await;
    };
    let mut mux = LiveMuxer::new();
    let first = match mux.start(&snap) {
        Ok(o) => o,
        Err(e) => {
            tracing::warn!(camera = %name, error = %e, "live video: cannot start");
            return close(socket, INTERNAL_ERROR, "cannot package this video").await;
        }
    };
    for out in first {
        if !send(&mut socket, out).await {
            return;
        }
    }
    loop {
        tokio::select! {
            _ = hub.shutdown.cancelled() => return close(socket, GOING_AWAY, "hub shutting down").await,
            ev = rx.recv() => {
                let outs = match ev {
                    Ok(ev) => match mux.push(&ev) {
                        Ok(o) => o,
                        Err(e) => {
                            tracing::debug!(camera = %name, error = %e, "live video: frame skipped");
                            mux.lagged();
                            continue;
                        }
                    },
                    Err(RecvError::Lagged(n)) => {
                        tracing::debug!(camera = %name, missed = n, "live viewer lagged; skipping to the next key frame");
                        viewer.dropped(DropReason::ViewerLag, n);
                        mux.lagged();
                        continue;
                    }
                    Err(RecvError::Closed) => return close(socket, GOING_AWAY, "camera gone").await,
                };
                for out in outs {
                    if !send(&mut socket, out).await {
                        return;
                    }
                }
                viewer.sent();
            }
            msg = socket.recv() => match msg {
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                Some(Ok(_)) => {}
            },
        }
    }
}

/// The HLS client making a request: its address, user agent and user, hashed.
fn hls_client(peer: std::net::SocketAddr, headers: &HeaderMap, viewer: &Viewer) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    peer.ip().hash(&mut h);
    headers
        .get(header::USER_AGENT)
        .map(|v| v.as_bytes())
        .hash(&mut h);
    viewer.0.as_ref().map(|u| u.id).hash(&mut h);
    h.finish()
}

/// Counts an HLS request of camera `name` (a viewer, and `frames` sent).
fn count_hls(hub: &AppState, name: &str, client: u64, frames: u32) {
    if let Ok(cam) = camera(hub, name) {
        cam.counters
            .hls_request(client, frames, std::time::Instant::now());
    }
}

/// `GET /{camera}/stream.m3u8`: the sliding playlist.
async fn hls_playlist(
    State(hub): State<AppState>,
    ConnectInfo(peer): ConnectInfo<std::net::SocketAddr>,
    headers: HeaderMap,
    v: Viewer,
    Path(name): Path<String>,
) -> Response {
    let store = match hls_store(&hub, &name) {
        Ok(s) => s,
        Err(r) => return *r,
    };
    let client = hls_client(peer, &headers, &v);
    count_hls(&hub, &name, client, 0);
    // A camera just woken: its window holds only what it sent before it slept.
    let resting = camera(&hub, &name).is_ok_and(|c| c.resting());
    let deadline = tokio::time::Instant::now() + HLS_FIRST_SEGMENT_WAIT;
    let ready = (!resting || store.wait_new(HLS_FIRST_SEGMENT_WAIT).await)
        && store
            .wait_ready(deadline.saturating_duration_since(tokio::time::Instant::now()))
            .await;
    if !ready {
        return message(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("No video from camera {name} yet"),
        );
    }
    // Counted again when answered: the wait may outlast the viewer window.
    count_hls(&hub, &name, client, 0);
    match store.playlist() {
        Some(p) => (
            [
                (header::CONTENT_TYPE, "application/vnd.apple.mpegurl"),
                (header::CACHE_CONTROL, "no-cache"),
            ],
            p,
        )
            .into_response(),
        None => message(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("No video from camera {name} yet"),
        ),
    }
}

/// `GET /{camera}/hls/{file}`: an init segment or a media segment.
async fn hls_file(
    State(hub): State<AppState>,
    ConnectInfo(peer): ConnectInfo<std::net::SocketAddr>,
    headers: HeaderMap,
    v: Viewer,
    Path((name, file)): Path<(String, String)>,
) -> Response {
    let store = match hls_store(&hub, &name) {
        Ok(s) => s,
        Err(r) => return *r,
    };
    let client = hls_client(peer, &headers, &v);
    match store.file_with_frames(&file) {
        Some((bytes, frames)) => {
            count_hls(&hub, &name, client, frames);
            (
                [
                    (header::CONTENT_TYPE, "video/mp4"),
                    (header::CACHE_CONTROL, "private, max-age=60"),
                ],
                bytes,
            )
                .into_response()
        }
        None => message(
            StatusCode::NOT_FOUND,
            format!("No segment {file} (segments expire after about 12 s)"),
        ),
    }
}
