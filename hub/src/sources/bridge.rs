//! What the bridged cameras (RTSP, Reolink) share: [`forward`] hands a source crate's
//! events to the camera's video feed and its status to the feed's status; [`refuse`] says
//! once why a camera cannot start.

use std::sync::Arc;

use media::VideoEvent;
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

use crate::camera::Camera;
use crate::video::{SourceState, SourceStatus, VideoFeed};

/// A camera whose configuration cannot be used: say why, once.
pub fn refuse(cam: &Camera, feed: &VideoFeed, why: String) {
    tracing::error!(camera = %cam.name, error = %why, "camera not started");
    feed.set_source_status(SourceStatus {
        state: SourceState::Error,
        message: Some(why.clone()),
        last_error: Some(why),
        ..SourceStatus::default()
    });
}

/// Forward a source's events into the feed and its status into the feed's
/// status, until the source ends or `stop`.
pub async fn forward<S: Send + Sync + 'static>(
    feed: Arc<VideoFeed>,
    mut events: mpsc::Receiver<VideoEvent>,
    mut status: watch::Receiver<S>,
    map: fn(&S) -> SourceStatus,
    stop: CancellationToken,
) {
    feed.set_source_status(map(&status.borrow_and_update()));
    let mut status_open = true;
    loop {
        tokio::select! {
            _ = stop.cancelled() => break,
            ev = events.recv() => match ev {
                Some(ev) => feed.publish(ev),
                None => break,
            },
            changed = status.changed(), if status_open => {
                if changed.is_err() {
                    status_open = false;
                } else {
                    feed.set_source_status(map(&status.borrow_and_update()));
                }
            }
        }
    }
    feed.set_source_status(map(&status.borrow()));
}
