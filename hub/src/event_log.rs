//! The hub's first consumer of source events: one log line per event of every camera
//! (`camera event`, with the event as JSON). An event store, the timeline, MQTT and
//! webhooks subscribe to the cameras' event feeds the same way.

use tokio::sync::broadcast::error::RecvError;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::camera::Registry;

/// Logs every camera's events until `stop`.
pub fn spawn(cameras: &Registry, tracker: &TaskTracker, stop: &CancellationToken) {
    for cam in cameras.iter() {
        let (mut rx, stop, name) = (cam.events.subscribe(), stop.clone(), cam.name.clone());
        tracker.spawn(async move {
            loop {
                let event = tokio::select! {
                    _ = stop.cancelled() => return,
                    e = rx.recv() => e,
                };
                match event {
                    Ok(e) => tracing::info!(
                        camera = %name,
                        kind = e.what.key(),
                        event = %serde_json::to_string(&*e).unwrap_or_default(),
                        "camera event"
                    ),
                    Err(RecvError::Lagged(missed)) => {
                        tracing::warn!(camera = %name, missed, "event log fell behind");
                    }
                    Err(RecvError::Closed) => return,
                }
            }
        });
    }
}
