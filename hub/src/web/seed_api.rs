//! The seed camera server's HTTP API under `/camera/`, kept compatible so
//! its frontend and scripts keep working: hello, list (with base64
//! previews), the latest image, the SSE image stream, and multipart upload.
//! Query parameter names match case-insensitively, as ASP.NET's did.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::{Multipart, Query, State};
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use futures_util::StreamExt;
use serde::Serialize;

use super::{AppState, Viewer, message, proxy_api::jpeg_response};
use crate::camera::{Camera, unix_ms};
use crate::counters::ViewerKind;

fn param<'a>(q: &'a HashMap<String, String>, name: &str) -> Option<&'a str> {
    q.iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// Resolve `cameraId` to a camera, with the seed's error messages.
#[allow(clippy::result_large_err)] // the error is the finished response
fn camera_param(
    hub: &AppState,
    q: &HashMap<String, String>,
) -> Result<std::sync::Arc<Camera>, Response> {
    let raw = param(q, "cameraId").unwrap_or("");
    let id: i64 = raw
        .trim()
        .parse()
        .map_err(|_| message(StatusCode::BAD_REQUEST, "Invalid id"))?;
    if id < 1 || id > i64::from(u32::MAX) {
        return Err(message(StatusCode::BAD_REQUEST, "Invalid id"));
    }
    hub.cameras
        .by_id(id as u32)
        .cloned()
        .ok_or_else(|| message(StatusCode::NOT_FOUND, format!("No camera with id {id}")))
}

/// `GET /camera/hello`
pub async fn hello(_v: Viewer) -> Response {
    message(StatusCode::OK, "Hello World!")
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ListEntry {
    id: u32,
    name: String,
    description: String,
    /// ISO 8601 UTC time of the last frame (the Unix epoch if none yet).
    last_active: String,
    /// Base64 of the latest JPEG, or "" if none.
    preview: String,
}

fn iso8601(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms)
        .map(|t| t.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
        .unwrap_or_else(|_| "1970-01-01T00:00:00.000Z".to_owned())
}

/// How long `/camera/list` waits for the previews of bridged cameras nobody looks at.
const LIST_PICTURE_WAIT: Duration = Duration::from_secs(2);

/// `GET /camera/list`
pub async fn list(State(hub): State<AppState>, _v: Viewer) -> Response {
    // Every preview is a one-shot picture: the bridged cameras that stream and that
    // nobody looks at decode their current key frame for it, all at once, bounded (a
    // sleeping on-demand camera is not woken for a list).
    let pictures = futures_util::future::join_all(hub.cameras.iter().map(|c| async move {
        c.current_picture(LIST_PICTURE_WAIT)
            .await
            .or_else(|| c.latest())
    }))
    .await;
    let entries: Vec<ListEntry> = hub
        .cameras
        .iter()
        .zip(pictures)
        .map(|(c, latest)| ListEntry {
            id: c.id,
            name: c.name.clone(),
            description: c.description.clone(),
            last_active: iso8601(latest.as_ref().map(|f| unix_ms(f.received_at)).unwrap_or(0)),
            preview: latest
                .map(|f| base64::engine::general_purpose::STANDARD.encode(&f.jpeg))
                .unwrap_or_default(),
        })
        .collect();
    Json(entries).into_response()
}

/// `GET /camera/get-image?cameraId=N`: the latest JPEG.
pub async fn get_image(
    State(hub): State<AppState>,
    _v: Viewer,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let cam = match camera_param(&hub, &q) {
        Ok(c) => c,
        Err(r) => return r,
    };
    // An on-demand camera asleep: wake it and serve a picture taken after the wake.
    if let crate::camera::WokenPicture::Fresh(f) =
        cam.picture_after_wake(super::proxy_api::WAKE_WAIT).await
    {
        return jpeg_response(f.jpeg);
    }
    let current = cam.current_picture(super::proxy_api::SNAPSHOT_WAIT).await;
    match current.or_else(|| cam.latest()) {
        Some(f) => jpeg_response(f.jpeg),
        None => {
            let mut r = message(StatusCode::SERVICE_UNAVAILABLE, "No image yet");
            r.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from_static("1"),
            );
            r
        }
    }
}

/// Shortest gap between two SSE events of one client.
const MIN_SSE_DELAY: Duration = Duration::from_millis(10);

/// `GET /camera/stream-image?cameraId=N&updateDelay=MS`: server-sent events
/// `image-update` whose data is a `data:image/jpg;base64,...` URL. Unlike
/// the seed, a frame is sent only when it is new, and at most once per
/// `updateDelay`; a delay of 0 means "every new frame".
pub async fn stream_image(
    State(hub): State<AppState>,
    _v: Viewer,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let cam = match camera_param(&hub, &q) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let delay = param(&q, "updateDelay")
        .and_then(|v| v.trim().parse::<i64>().ok())
        .filter(|v| *v > 0)
        .map(|v| Duration::from_millis(v.min(3_600_000) as u64))
        .unwrap_or(Duration::ZERO)
        .max(MIN_SSE_DELAY);
    let rx = cam.subscribe();
    let viewer = Arc::new(cam.counters.viewer(ViewerKind::Sse));
    let events = futures_util::stream::unfold((rx, true), move |(mut rx, first)| {
        let viewer = Arc::clone(&viewer);
        async move {
            if !first {
                tokio::time::sleep(delay).await;
            }
            // The first event is the current frame; for a camera without one yet it is
            // the empty data URL the seed sent (`data:image/jpg;base64,`), which its
            // frontend shows as "Camera is offline".
            let jpeg = if first {
                rx.borrow_and_update()
                    .as_ref()
                    .map(|f| f.jpeg.clone())
                    .unwrap_or_default()
            } else {
                loop {
                    rx.changed().await.ok()?;
                    if let Some(f) = rx.borrow_and_update().clone() {
                        break f.jpeg;
                    }
                }
            };
            let data = format!(
                "data:image/jpg;base64,{}",
                base64::engine::general_purpose::STANDARD.encode(&jpeg)
            );
            let ev = Event::default().event("image-update").data(data);
            viewer.sent();
            Some((Ok::<Event, Infallible>(ev), (rx, false)))
        }
    })
    .take_until(hub.shutdown.clone().cancelled_owned());
    Sse::new(events)
        .keep_alive(KeepAlive::default())
        .into_response()
}

/// `POST /camera/update-image`: multipart `image`, `cameraId`, `token`.
pub async fn update_image(State(hub): State<AppState>, mut form: Multipart) -> Response {
    let mut image = None;
    let mut camera_id = None;
    let mut token = None;
    loop {
        let field = match form.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(e) => return message(StatusCode::BAD_REQUEST, format!("Bad form data: {e}")),
        };
        let name = field.name().unwrap_or("").to_ascii_lowercase();
        let bytes = match field.bytes().await {
            Ok(b) => b,
            Err(e) => return message(StatusCode::BAD_REQUEST, format!("Bad form data: {e}")),
        };
        match name.as_str() {
            "image" => image = Some(bytes),
            "cameraid" => camera_id = Some(String::from_utf8_lossy(&bytes).trim().to_owned()),
            "token" => token = Some(String::from_utf8_lossy(&bytes).trim().to_owned()),
            _ => {}
        }
    }
    let id = match camera_id.as_deref().and_then(|s| s.parse::<i64>().ok()) {
        Some(id) if id >= 1 && id <= i64::from(u32::MAX) => id as u32,
        _ => return message(StatusCode::BAD_REQUEST, "Invalid id in FormData"),
    };
    let Some(cam) = hub.cameras.by_id(id).cloned() else {
        return message(StatusCode::BAD_REQUEST, format!("No camera with id {id}"));
    };
    let Some(token_ok) = cam.agent_token_ok(&hub.secret, token.as_deref().unwrap_or("")) else {
        return message(
            StatusCode::BAD_REQUEST,
            format!("Camera {id} does not accept pushed frames"),
        );
    };
    if !token_ok {
        tracing::warn!(camera = id, "image upload with an invalid token refused");
        return message(StatusCode::UNAUTHORIZED, "Invalid token");
    }
    match image {
        Some(img) if img.len() >= 2 && img[0] == 0xFF && img[1] == 0xD8 => {
            cam.publish(img);
            StatusCode::NO_CONTENT.into_response()
        }
        Some(_) => message(StatusCode::BAD_REQUEST, "image is not a JPEG"),
        None => message(StatusCode::BAD_REQUEST, "No image in FormData"),
    }
}
