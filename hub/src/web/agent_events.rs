//! Agents' events (`wire::events`): `POST /api/v1/agents/{camera_id}/events` with the
//! camera's agent token and one event as JSON, stored once per camera and event id
//! (an agent sends an event when it starts, again when it ends, and again after an
//! outage; the repeats change nothing).

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use wire::events::{AgentEvent, EVENTS_ROUTE, MAX_BODY, Stored};

use super::upload::authorize;
use super::{Access, AppState, Route, message};
use crate::event_store::{Kind, NewEvent, is_jpeg, rows};

pub fn routes() -> Vec<Route> {
    vec![Route::new(EVENTS_ROUTE, Access::AgentToken).post(post_event)]
}

async fn post_event(
    State(hub): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let camera = match authorize(&hub, &id, &headers) {
        Ok(c) => c,
        Err(e) => return e.into_response(),
    };
    let bytes = match axum::body::to_bytes(body, MAX_BODY).await {
        Ok(b) => b,
        Err(_) => {
            return message(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("an event is at most {MAX_BODY} bytes"),
            );
        }
    };
    let event: AgentEvent = match serde_json::from_slice(&bytes) {
        Ok(e) => e,
        Err(e) => return message(StatusCode::BAD_REQUEST, format!("not an event: {e}")),
    };
    if let Err(why) = event.check() {
        return message(StatusCode::BAD_REQUEST, why);
    }
    if let Some(Err(why)) = event.zone.as_deref().map(motion::settings::check_zone_name) {
        return message(StatusCode::BAD_REQUEST, format!("zone: {why}"));
    }
    let thumbnail = match &event.thumbnail_jpeg {
        None => None,
        Some(b64) => match base64::engine::general_purpose::STANDARD.decode(b64) {
            Ok(jpeg) if is_jpeg(&jpeg) => Some(jpeg),
            _ => {
                return message(
                    StatusCode::BAD_REQUEST,
                    "thumbnail_jpeg is not a base64 JPEG",
                );
            }
        },
    };
    let new = NewEvent {
        camera,
        kind: Kind::Motion,
        label: None,
        start_ms: event.start_ms,
        end_ms: event.end_ms,
        score: event.score.map(f64::from),
        zone: event.zone.clone(),
        message: None,
        origin: "agent",
        key: Some(event.id.clone()),
        thumbnail,
    };
    let store = hub.events.clone();
    let key = event.id.clone();
    let cam = new.camera.clone();
    let stored = tokio::task::spawn_blocking(move || {
        let changed = store.upsert(new)?;
        let id = store
            .db()
            .call_blocking(|c| rows::id_of_key(c, &cam, &key))?
            .unwrap_or_default();
        Ok::<_, crate::db::DbError>(Stored {
            event: id,
            changed: changed.is_some(),
        })
    })
    .await;
    match stored {
        Ok(Ok(s)) => axum::Json(s).into_response(),
        Ok(Err(e)) => {
            tracing::error!(error = %e, "agent event not stored");
            message(StatusCode::INTERNAL_SERVER_ERROR, "internal error")
        }
        Err(e) => {
            tracing::error!(error = %e, "agent event task failed");
            message(StatusCode::INTERNAL_SERVER_ERROR, "internal error")
        }
    }
}
