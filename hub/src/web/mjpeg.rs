//! `multipart/x-mixed-replace` MJPEG responses, shared by the camera_proxy
//! and Pi-Cam endpoints. The JPEG bytes are never copied: each part is a
//! small header, the frame's `Bytes` (a reference count), and a CRLF.

use std::convert::Infallible;
use std::sync::Arc;

use axum::body::Body;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures_util::StreamExt;
use tokio_stream::wrappers::WatchStream;

use crate::camera::Camera;
use crate::web::Hub;

/// A live MJPEG stream of `cam` whose parts are separated by `boundary`.
/// The first part is the latest frame, sent at once; after that each new
/// frame, skipping any this client was too slow to take.
pub fn response(hub: &Hub, cam: &Arc<Camera>, boundary: &'static str) -> Response {
    let frames = WatchStream::new(cam.subscribe())
        .filter_map(std::future::ready)
        .flat_map(move |f| {
            let head = format!(
                "--{boundary}\r\nContent-Type: image/jpeg\r\nContent-Length: {}\r\n\r\n",
                f.jpeg.len()
            );
            futures_util::stream::iter([
                Ok::<Bytes, Infallible>(Bytes::from(head)),
                Ok(f.jpeg),
                Ok(Bytes::from_static(b"\r\n")),
            ])
        })
        .take_until(hub.shutdown.clone().cancelled_owned());
    (
        [
            (
                header::CONTENT_TYPE,
                format!("multipart/x-mixed-replace; boundary={boundary}"),
            ),
            (header::CACHE_CONTROL, "no-cache, private".to_owned()),
            (header::PRAGMA, "no-cache".to_owned()),
            (header::AGE, "0".to_owned()),
        ],
        Body::from_stream(frames),
    )
        .into_response()
}
