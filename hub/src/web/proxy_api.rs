//! The camera_proxy API (`/api/v1/cameras/{name}` snapshot and `/stream`
//! MJPEG) and Pi-Cam's `/stream.mjpg`, for every camera whatever feeds it.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, RawQuery, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::{AppState, Viewer, message, mjpeg};
use crate::camera::{Camera, WokenPicture};

/// How long a snapshot request waits for a camera's first frame.
pub const SNAPSHOT_WAIT: Duration = Duration::from_secs(5);
/// How long a snapshot of a sleeping on-demand camera waits for it to wake and send a
/// picture (a battery camera wakes in a second or two; see BENCHMARKS.md).
pub const WAKE_WAIT: Duration = Duration::from_secs(10);

#[allow(clippy::result_large_err)] // the error is the finished response
fn camera(hub: &AppState, name: &str) -> Result<Arc<Camera>, Response> {
    hub.cameras
        .by_name(name)
        .cloned()
        .ok_or_else(|| message(StatusCode::NOT_FOUND, format!("No camera named {name}")))
}

pub fn jpeg_response(jpeg: bytes::Bytes) -> Response {
    (
        [
            (header::CONTENT_TYPE, "image/jpeg"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        jpeg,
    )
        .into_response()
}

/// The box camera_proxy fitted `?thumbnail` snapshots into, and its JPEG quality
/// (Pillow's default).
const THUMBNAIL_BOX: (u32, u32) = (800, 474);
const THUMBNAIL_QUALITY: u8 = 75;

/// `GET /api/v1/cameras/{name}`: the latest JPEG; waits briefly for a first
/// frame, then serves the configured fallback image, else 404. With a
/// `thumbnail` parameter (any value, as camera_proxy read it) the picture is
/// fitted into 800x474, its aspect ratio kept, never enlarged.
pub async fn snapshot(
    State(hub): State<AppState>,
    _v: Viewer,
    Path(name): Path<String>,
    RawQuery(query): RawQuery,
) -> Response {
    let thumb = query.is_some_and(|q| {
        q.split('&')
            .any(|p| p.split('=').next() == Some("thumbnail"))
    });
    let cam = match camera(&hub, &name) {
        Ok(c) => c,
        Err(r) => return r,
    };
    // An on-demand camera asleep: wake it and serve a picture taken after the wake.
    let latest = match cam.picture_after_wake(WAKE_WAIT).await {
        WokenPicture::Fresh(f) => return jpeg_response(f.jpeg),
        WokenPicture::None => cam.latest().map(|f| f.jpeg),
        // A bridged camera decodes pictures only while someone looks: this request waits
        // for the current key frame's (one decode); failing that, for any picture.
        WokenPicture::WasAwake => match cam.current_picture(SNAPSHOT_WAIT).await {
            Some(f) => Some(f.jpeg),
            None => {
                let mut rx = cam.subscribe();
                match tokio::time::timeout(SNAPSHOT_WAIT, rx.wait_for(|f| f.is_some())).await {
                    Ok(Ok(frame)) => frame.as_ref().map(|f| f.jpeg.clone()),
                    _ => None,
                }
            }
        },
    };
    if let Some(jpeg) = latest {
        if !thumb {
            return jpeg_response(jpeg);
        }
        let (w, h) = THUMBNAIL_BOX;
        let input = jpeg.clone();
        let made = tokio::task::spawn_blocking(move || {
            codec::thumbnail::thumbnail(&input, w, h, THUMBNAIL_QUALITY)
        })
        .await;
        return match made {
            Ok(Ok(Some(small))) => jpeg_response(small.into()),
            Ok(Ok(None)) => jpeg_response(jpeg),
            Ok(Err(e)) => {
                tracing::warn!(camera = %cam.name, error = %e, "no thumbnail of the latest frame");
                message(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    format!("No thumbnail: {e}"),
                )
            }
            Err(e) => message(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("No thumbnail: {e}"),
            ),
        };
    }
    if let Some(path) = &cam.fallback_image {
        match tokio::fs::read(path).await {
            Ok(bytes) => {
                let mime = match path.extension().and_then(|e| e.to_str()) {
                    Some("png") => "image/png",
                    Some("gif") => "image/gif",
                    _ => "image/jpeg",
                };
                return (
                    [
                        (header::CONTENT_TYPE, mime),
                        (header::CACHE_CONTROL, "no-store"),
                    ],
                    bytes,
                )
                    .into_response();
            }
            Err(e) => {
                tracing::warn!(camera = %cam.name, path = %path.display(), error = %e, "fallback image unreadable");
            }
        }
    }
    message(
        StatusCode::NOT_FOUND,
        format!("No image from camera {name} yet"),
    )
}

/// `GET /api/v1/cameras/{name}/stream`: MJPEG, boundary `frame`.
pub async fn stream(State(hub): State<AppState>, _v: Viewer, Path(name): Path<String>) -> Response {
    match camera(&hub, &name) {
        Ok(cam) => mjpeg::response(&hub, &cam, mjpeg::Boundary::Lower),
        Err(r) => r,
    }
}

/// `GET /stream.mjpg` (Pi-Cam): MJPEG of the first camera, boundary `FRAME`.
pub async fn picam_stream(State(hub): State<AppState>, _v: Viewer) -> Response {
    match hub.cameras.iter().next().cloned() {
        Some(cam) => mjpeg::response(&hub, &cam, mjpeg::Boundary::Upper),
        None => message(StatusCode::NOT_FOUND, "No cameras configured"),
    }
}
