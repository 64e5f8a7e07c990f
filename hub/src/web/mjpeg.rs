//! `multipart/x-mixed-replace` MJPEG responses, shared by the camera_proxy
//! and Pi-Cam endpoints. Each frame's part (boundary, headers, JPEG, CRLF) is built
//! once, by the first viewer that sends it, and kept with the frame
//! ([`crate::camera::LiveFrame::part`]): every other viewer writes the same shared bytes,
//! so nothing is copied or formatted per viewer. The response body is a small
//! [`HttpBody`] of its own: one wake-up per new frame, the shutdown noticed through
//! [`StopSignal`] without a lock per poll.

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::body::Body;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use hyper::body::{Body as HttpBody, Frame};
use tokio::sync::watch;
use tokio_util::sync::ReusableBoxFuture;

use crate::camera::{Camera, LiveFrame};
use crate::counters::{ViewerGuard, ViewerKind};
use crate::stop::StopSignal;
use crate::web::WebState;

/// A live MJPEG stream of `cam` whose parts are separated by `boundary`.
/// The first part is the latest frame, sent at once (unless a bridged camera's decoder
/// is only starting for this viewer: then its first picture, one decode later); after
/// that each new frame, skipping any this client was too slow to take. Ends when the
/// hub shuts down (after the part being sent).
pub fn response(web: &WebState, cam: &Arc<Camera>, boundary: Boundary) -> Response {
    let kind = boundary as usize;
    let boundary = BOUNDARIES[kind];
    let viewer = cam.counters.viewer(ViewerKind::Mjpeg);
    let mut rx = cam.subscribe();
    if !cam.picture_coming() {
        // The current frame counts as new: it is sent first.
        rx.mark_changed();
    }
    let body = MjpegBody {
        next: ReusableBoxFuture::new(changed(rx)),
        stop: web.mjpeg_stop.signal(),
        kind,
        boundary,
        viewer,
    };
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
        Body::new(body),
    )
        .into_response()
}

type Frames = watch::Receiver<Option<LiveFrame>>;

/// Waits for the camera's next frame; hands the receiver back with the outcome.
async fn changed(mut rx: Frames) -> (Result<(), watch::error::RecvError>, Frames) {
    let r = rx.changed().await;
    (r, rx)
}

/// One viewer's stream of parts.
struct MjpegBody {
    /// The wait for the next frame (reuses its allocation from frame to frame).
    next: ReusableBoxFuture<'static, (Result<(), watch::error::RecvError>, Frames)>,
    stop: StopSignal,
    /// Which [`Boundary`] (and which of each frame's cached parts).
    kind: usize,
    boundary: &'static str,
    /// Counts this viewer in the metrics while the body lives.
    viewer: ViewerGuard,
}

impl HttpBody for MjpegBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let this = &mut *self;
        loop {
            if this.stop.poll_stopped(cx).is_ready() {
                return Poll::Ready(None);
            }
            let (r, mut rx) = std::task::ready!(this.next.poll(cx));
            if r.is_err() {
                // The camera is gone (the hub is stopping).
                return Poll::Ready(None);
            }
            let part = rx.borrow_and_update().as_ref().map(|f| {
                let boundary = this.boundary;
                f.part(this.kind, |jpeg| build_part(boundary, jpeg))
            });
            this.next.set(changed(rx));
            if let Some(part) = part {
                this.viewer.sent();
                return Poll::Ready(Some(Ok(Frame::data(part))));
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.stop.stopped()
    }
}

/// The part boundary of a stream: each has a cached part per frame.
#[derive(Debug, Clone, Copy)]
pub enum Boundary {
    /// `frame` (the camera_proxy API).
    Lower = 0,
    /// `FRAME` (the Pi-Cam API).
    Upper = 1,
}

/// The boundary strings, by [`Boundary`].
const BOUNDARIES: [&str; crate::camera::PART_KINDS] = ["frame", "FRAME"];

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
