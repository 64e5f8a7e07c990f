//! The hub's first consumer of source events: one log line per event of every camera
//! (`camera event`, with the event as JSON). The event store (`crate::event_store`) is
//! another; MQTT and webhooks would subscribe the same way (`event_feed::consume`).

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::camera::Registry;
use crate::event_feed::consume;

/// Logs every camera's events until `stop`.
pub fn spawn(cameras: &Registry, tracker: &TaskTracker, stop: &CancellationToken) {
    for cam in cameras.iter() {
        let name = cam.name.clone();
        tracker.spawn(consume(
            cam.events.subscribe(),
            cam.name.clone(),
            "event log",
            stop.clone(),
            move |e| {
                tracing::info!(
                    camera = %name,
                    kind = e.what.key(),
                    event = %serde_json::to_string(&*e).unwrap_or_default(),
                    "camera event"
                );
                std::future::ready(())
            },
        ));
    }
}
