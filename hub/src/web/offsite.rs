//! The off-site replicator's state as JSON: per camera in the camera status
//! (`offsite`), and over the whole hub at `GET /api/offsite` (what the status page shows).

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use axum::http::StatusCode;

use super::{AppState, Viewer, message};
use crate::app::Hub;
use crate::offsite::stats::Paused;
use crate::recordings::replication::{self as queue, Backlog};

/// One camera's off-site copies.
#[derive(Debug, Serialize, PartialEq)]
pub struct OffsiteJson {
    /// Objects waiting to be copied (segments, events, thumbnails, day indexes).
    pub backlog_objects: u64,
    /// Bytes of the segments waiting.
    pub backlog_bytes: u64,
    /// Seconds since the oldest waiting object was queued (0: none waits).
    pub lag_seconds: f64,
    /// Objects the bucket holds.
    pub replicated_objects: u64,
    /// Segments deleted locally before they were copied, since start.
    pub lost_before_copy: u64,
    /// The last error kind of a waiting object (`retry-later`, `quota-reached`, ...).
    pub last_error: Option<String>,
}

/// `camera`'s off-site state (its queue as the replicator last counted it: after the
/// objects it sent in the last second, and every [`crate::offsite::replicate::RESCAN`]);
/// `None` when its footage is not copied.
pub fn camera_json(hub: &Hub, camera: &str) -> Option<OffsiteJson> {
    camera_json_of(hub, camera, hub.replication.camera(camera))
}

fn camera_json_of(hub: &Hub, camera: &str, b: Backlog) -> Option<OffsiteJson> {
    let q = hub.recordings.offsite.as_ref()?;
    if hub.offsite.is_none() || !q.includes(camera) {
        return None;
    }
    let now = crate::camera::now_ms();
    Some(OffsiteJson {
        backlog_objects: b.pending,
        backlog_bytes: b.pending_bytes,
        lag_seconds: b
            .oldest_queued_ms
            .map_or(0.0, |t| (now - t).max(0) as f64 / 1000.0),
        replicated_objects: b.done,
        lost_before_copy: hub.recordings.lost_before_replication(camera),
        last_error: b.last_error,
    })
}

/// The answer of `GET /api/offsite`.
#[derive(Debug, Serialize)]
struct HubOffsiteJson {
    /// False without a writable `[offsite]`.
    enabled: bool,
    /// Why copies are paused (the store refuses the key, the bucket is full), if they are.
    paused: Option<Paused>,
    /// The last error, for people.
    last_error: Option<String>,
    /// Failed tries since start, by kind.
    errors: BTreeMap<&'static str, u64>,
    /// Bytes and objects stored since start.
    replicated_bytes: u64,
    replicated_objects: u64,
    /// Request body bytes sent to the store, retries included.
    sent_bytes: u64,
    cameras: BTreeMap<String, OffsiteJson>,
}

/// `GET /api/offsite`: the queue counted now.
pub async fn offsite_json(State(hub): State<AppState>, _v: Viewer) -> Response {
    let st = &hub.replication;
    let backlog = match hub.recordings.db.call(|c| queue::backlog(c)).await {
        Ok(b) => b,
        Err(e) => return message(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    };
    let mut cameras = BTreeMap::new();
    for name in hub.recordings.camera_names() {
        let b = backlog.get(name).cloned().unwrap_or_default();
        if let Some(j) = camera_json_of(&hub, name, b) {
            cameras.insert(name.to_owned(), j);
        }
    }
    Json(HubOffsiteJson {
        enabled: hub.offsite.is_some() && hub.recordings.offsite.is_some(),
        paused: st.paused(),
        last_error: st.last_error(),
        errors: st.errors(),
        replicated_bytes: st.bytes_replicated.load(Ordering::Relaxed),
        replicated_objects: st.objects_replicated.load(Ordering::Relaxed),
        sent_bytes: hub
            .offsite
            .as_ref()
            .map_or(0, |b| b.traffic().body_bytes_sent.load(Ordering::Relaxed)),
        cameras,
    })
    .into_response()
}
