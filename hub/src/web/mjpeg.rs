//! `multipart/x-mixed-replace` MJPEG responses, shared by the camera_proxy
//! and Pi-Cam endpoints. Each frame's part (header, JPEG, CRLF) is built
//! once per boundary by the first viewer that sends it and shared by every
//! other viewer through the camera's [`PartCache`] (a reference count), so
//! each viewer writes one body chunk per frame and nothing is copied or
//! formatted per viewer.

use std::convert::Infallible;
use std::sync::{Arc, OnceLock, RwLock};

use axum::body::Body;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures_util::StreamExt;
use tokio_stream::wrappers::WatchStream;

use crate::camera::Camera;
use crate::counters::ViewerKind;
use crate::web::WebState;

/// One lazily built `--boundary` part per boundary the MJPEG routes use.
type Parts = [OnceLock<Bytes>; 2];

/// The parts of one camera's latest frame: the first viewer of a new frame replaces them;
/// the others only read (a shared lock).
#[derive(Debug, Default)]
pub struct PartCache(RwLock<(u64, Arc<Parts>)>);

impl PartCache {
    /// The parts of frame `seq`; a fresh set for a newer frame, an uncached one for a frame
    /// older than the cached (a lagging viewer must not evict the others' parts).
    fn parts(&self, seq: u64) -> Arc<Parts> {
        {
            let cached = self.0.read().unwrap_or_else(|e| e.into_inner());
            if cached.0 == seq {
                return Arc::clone(&cached.1);
            }
        }
        let mut cached = self.0.write().unwrap_or_else(|e| e.into_inner());
        if cached.0 == seq {
            return Arc::clone(&cached.1);
        }
        let fresh = Arc::<Parts>::default();
        if seq > cached.0 {
            *cached = (seq, Arc::clone(&fresh));
        }
        fresh
    }
}

/// A live MJPEG stream of `cam` whose parts are separated by `boundary`.
/// The first part is the latest frame, sent at once (unless a bridged camera's decoder
/// is only starting for this viewer: then its first picture, one decode later); after
/// that each new frame, skipping any this client was too slow to take.
pub fn response(web: &WebState, cam: &Arc<Camera>, boundary: &'static str) -> Response {
    let slot = BOUNDARIES.iter().position(|b| *b == boundary);
    let cache = web.mjpeg.get(&cam.id).cloned();
    let viewer = cam.counters.viewer(ViewerKind::Mjpeg);
    let rx = cam.subscribe();
    let frames = if cam.picture_coming() {
        WatchStream::from_changes(rx)
    } else {
        WatchStream::new(rx)
    };
    let frames = frames
        .filter_map(std::future::ready)
        .map(move |f| {
            viewer.sent();
            let part = match (slot, &cache) {
                (Some(i), Some(cache)) => cache.parts(f.seq)[i]
                    .get_or_init(|| build_part(boundary, &f.jpeg))
                    .clone(),
                _ => build_part(boundary, &f.jpeg),
            };
            Ok::<Bytes, Infallible>(part)
        })
        .take_until(web.shutdown.clone().cancelled_owned());
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

/// The boundaries the routes use; each has a cached part per frame.
const BOUNDARIES: [&str; 2] = ["frame", "FRAME"];

/// `--boundary`, headers, the JPEG and a CRLF, in one buffer.
fn build_part(boundary: &str, jpeg: &[u8]) -> Bytes {
    let head = format!(
        "--{boundary}\r\nContent-Type: image/jpeg\r\nContent-Length: {}\r\n\r\n",
        jpeg.len()
    );
    let mut part = Vec::with_capacity(head.len() + jpeg.len() + 2);
    part.extend_from_slice(head.as_bytes());
    part.extend_from_slice(jpeg);
    part.extend_from_slice(b"\r\n");
    Bytes::from(part)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn part_is_header_jpeg_crlf() {
        let p = build_part("frame", b"\xff\xd8jpeg\xff\xd9");
        assert_eq!(
            &p[..],
            b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: 8\r\n\r\n\xff\xd8jpeg\xff\xd9\r\n"
        );
    }
}
