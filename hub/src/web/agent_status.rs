//! `POST /api/v1/agents/{camera_id}/status`: an agent's health report (`wire::health`),
//! with the camera's agent token as `Authorization: Bearer`. Kept on the camera for the
//! pages, `/metrics` and the health checks.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use wire::health::{AgentHealth, MAX_STATUS_LEN, STATUS_ROUTE};

use super::upload::authorize;
use super::{Access, AppState, Route, message};

pub fn routes() -> Vec<Route> {
    vec![Route::new(STATUS_ROUTE, Access::AgentToken).post(report)]
}

async fn report(
    State(hub): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let camera = match authorize(&hub, &id, &headers) {
        Ok(c) => c,
        Err(refused) => return refused.into_response(),
    };
    if body.len() > MAX_STATUS_LEN {
        return message(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("a report is at most {MAX_STATUS_LEN} bytes"),
        );
    }
    let health = match AgentHealth::parse(&body) {
        Ok(h) => h,
        Err(e) => return message(StatusCode::BAD_REQUEST, format!("not a health report: {e}")),
    };
    let Some(cam) = hub.cameras.by_name(&camera) else {
        return message(StatusCode::NOT_FOUND, "no such camera");
    };
    cam.agent_health.report(health, crate::camera::now_ms());
    StatusCode::NO_CONTENT.into_response()
}
