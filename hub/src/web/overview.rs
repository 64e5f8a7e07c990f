//! `GET /api/status`: what the status page's table shows beside `/api/cameras`, per
//! camera: the newest segment, its agent's upload backlog, Pi temperature and disk, the
//! health problems active now and the disk forecast (`health::monitor::DiskForecast`, the
//! one the `disk_low` check decides on).

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use super::{Access, AppState, Route, Viewer};
use crate::health::monitor::{DiskForecast, hub_free_days};

pub fn routes() -> Vec<Route> {
    vec![Route::new("/api/status", Access::Viewer).get(status_json)]
}

#[derive(Debug, Serialize)]
struct StatusJson {
    cameras: Vec<RowJson>,
}

#[derive(Debug, Serialize)]
struct RowJson {
    name: String,
    /// The end of the newest stored segment (unix ms).
    last_segment_ms: Option<i64>,
    /// Segments and bytes stored on the hub.
    segments: u64,
    stored_bytes: u64,
    /// Agents: segments (and bytes) recorded on the Pi, not yet on the hub.
    #[serde(skip_serializing_if = "Option::is_none")]
    upload_backlog: Option<BacklogJson>,
    /// Agents: the Pi's SoC temperature, °C.
    #[serde(skip_serializing_if = "Option::is_none")]
    cpu_temp_c: Option<f64>,
    /// Agents: the Pi's recordings filesystem.
    #[serde(skip_serializing_if = "Option::is_none")]
    pi_disk: Option<PiDiskJson>,
    /// Health problem codes active now (`crate::health::monitor`).
    problems: Vec<&'static str>,
    forecast: DiskForecast,
}

#[derive(Debug, Serialize)]
struct BacklogJson {
    segments: u64,
    bytes: Option<u64>,
}

#[derive(Debug, Serialize)]
struct PiDiskJson {
    free_bytes: u64,
    total_bytes: Option<u64>,
}

async fn status_json(State(web): State<AppState>, _v: Viewer) -> Response {
    let hub = &web.hub;
    let stored = hub.recordings.stored_by_camera().await;
    let hub_days = hub_free_days(hub).await;
    let cameras = hub
        .cameras
        .iter()
        .map(|cam| {
            let s = stored.get(&cam.name).copied().unwrap_or_default();
            let report = cam.agent_health.latest().map(|r| r.health);
            let r = report.as_ref();
            RowJson {
                name: cam.name.clone(),
                last_segment_ms: s.newest_end_ms,
                segments: s.segments,
                stored_bytes: s.bytes,
                upload_backlog: r.and_then(|h| {
                    Some(BacklogJson {
                        segments: h.upload_backlog_segments?,
                        bytes: h.upload_backlog_bytes,
                    })
                }),
                cpu_temp_c: r.and_then(|h| h.cpu_temp_c),
                pi_disk: r.and_then(|h| {
                    Some(PiDiskJson {
                        free_bytes: h.disk_free_bytes?,
                        total_bytes: h.disk_total_bytes,
                    })
                }),
                problems: cam.agent_health.problems(),
                forecast: DiskForecast::of(cam, s.segments > 0, hub_days),
            }
        })
        .collect();
    Json(StatusJson { cameras }).into_response()
}
