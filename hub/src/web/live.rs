//! JSON API behind the live pages: cameras with their state, and who is
//! logged in.

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};

use super::status::CameraJson;
use super::{AppState, Viewer};

/// `GET /api/cameras`: every camera with its live state.
pub async fn cameras_json(State(hub): State<AppState>, _v: Viewer) -> Response {
    let offline_after = hub.cfg.offline_after.as_duration();
    let list: Vec<CameraJson> = hub
        .cameras
        .iter()
        .map(|c| CameraJson::of(&hub, c.status(offline_after)))
        .collect();
    // Through a `Value`, as this answer always was: each camera's keys in sorted order.
    Json(serde_json::json!({ "cameras": list })).into_response()
}

/// `GET /api/me`: the logged-in user (null when viewing anonymously).
pub async fn me_json(Viewer(user): Viewer) -> Response {
    #[derive(serde::Serialize)]
    struct Me {
        user: Option<String>,
    }
    Json(Me {
        user: user.map(|u| u.name),
    })
    .into_response()
}
