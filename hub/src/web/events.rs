//! Events on the web (ARCHITECTURE.md, "Events API"): the list (`GET /api/events`, paged
//! newest first), each event's thumbnail and clip (its footage with the pages' pre- and
//! post-roll, through the recordings export), and the live push of new and changed events
//! to open pages (`GET /api/events/stream`, server-sent events). Every route is Viewer.

use std::collections::HashMap;
use std::convert::Infallible;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use serde::Serialize;
use tokio_stream::wrappers::BroadcastStream;

use super::pages::{EVENT_POST_ROLL_MS, EVENT_PRE_ROLL_MS};
use super::{Access, AppState, Route, Viewer, message};
use crate::event_store::{Kind, MAX_PAGE, Query as EventQuery, StoredEvent, rows};

/// Events per page when the request does not say.
const DEFAULT_PAGE: u32 = 100;

pub fn routes() -> Vec<Route> {
    use Access::Viewer as V;
    vec![
        Route::new("/api/events", V).get(list).query(&["camera"]),
        Route::new("/api/events/stream", V).get(stream),
        Route::new("/api/events/{id}/thumbnail.jpg", V).get(thumbnail),
        Route::new("/api/events/{id}/clip.mp4", V).get(clip),
    ]
}

/// One event as the pages read it. Field order is the documented one.
#[derive(Debug, Serialize)]
pub struct EventJson {
    id: i64,
    camera: String,
    kind: &'static str,
    label: Option<String>,
    start_ms: i64,
    end_ms: Option<i64>,
    score: Option<f64>,
    zone: Option<String>,
    thumbnail: Option<String>,
    message: Option<String>,
}

impl From<&StoredEvent> for EventJson {
    fn from(e: &StoredEvent) -> EventJson {
        EventJson {
            id: e.id,
            camera: e.camera.clone(),
            kind: e.kind.as_str(),
            label: e.label.clone(),
            start_ms: e.start_ms,
            end_ms: e.end_ms,
            score: e.score,
            zone: e.zone.clone(),
            thumbnail: e
                .has_thumbnail
                .then(|| format!("/api/events/{}/thumbnail.jpg", e.id)),
            message: e.message.clone(),
        }
    }
}

/// `GET /api/events`.
#[derive(Debug, Serialize)]
struct EventPage {
    events: Vec<EventJson>,
    next_before: Option<i64>,
}

/// A listing query from the URL's parameters, or why it is malformed.
fn parse_query(q: &HashMap<String, String>) -> Result<EventQuery, String> {
    let int = |name: &str| -> Result<Option<i64>, String> {
        match q.get(name).map(|v| v.trim()) {
            None | Some("") => Ok(None),
            Some(v) => v
                .parse::<i64>()
                .map(Some)
                .map_err(|_| format!("{name} must be an integer")),
        }
    };
    let start_ms = int("start")?.unwrap_or(i64::MIN / 2);
    let end_ms = int("end")?.unwrap_or(i64::MAX / 2);
    if end_ms < start_ms {
        return Err("end must not be before start".into());
    }
    let limit = match int("limit")? {
        None => DEFAULT_PAGE,
        Some(n) if n >= 1 && n <= i64::from(MAX_PAGE) => n as u32,
        Some(_) => return Err(format!("limit must be 1 to {MAX_PAGE}")),
    };
    let before = int("before")?;
    let mut kinds = Vec::new();
    if let Some(list) = q.get("kind") {
        for k in list.split(',').map(str::trim).filter(|k| !k.is_empty()) {
            match Kind::parse(k) {
                Some(k) if !kinds.contains(&k) => kinds.push(k),
                Some(_) => {}
                None => return Err(format!("unknown kind {k:?} (motion, alarm, health)")),
            }
        }
    }
    let camera = q.get("camera").filter(|c| !c.is_empty()).cloned();
    let zone = q.get("zone").filter(|z| !z.is_empty()).cloned();
    if let Some(z) = &zone {
        motion::settings::check_zone_name(z).map_err(|why| format!("zone: {why}"))?;
    }
    Ok(EventQuery {
        camera,
        zone,
        start_ms,
        end_ms,
        kinds,
        limit,
        before,
    })
}

async fn list(
    State(hub): State<AppState>,
    _v: Viewer,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let query = match parse_query(&q) {
        Ok(q) => q,
        Err(why) => return message(StatusCode::BAD_REQUEST, why),
    };
    if let Some(c) = &query.camera
        && hub.cameras.by_name(c).is_none()
    {
        return message(StatusCode::NOT_FOUND, "no such camera");
    }
    match hub.events.db().call(move |c| rows::list(c, &query)).await {
        Ok((events, more)) => {
            let next_before = if more {
                events.last().map(|e| e.id)
            } else {
                None
            };
            axum::Json(EventPage {
                events: events.iter().map(EventJson::from).collect(),
                next_before,
            })
            .into_response()
        }
        Err(e) => internal(e),
    }
}

fn internal(e: impl std::fmt::Display) -> Response {
    tracing::error!(error = %e, "events request failed");
    message(StatusCode::INTERNAL_SERVER_ERROR, "internal error")
}

/// An event id from the path.
fn event_id(id: &str) -> Option<i64> {
    id.parse::<i64>().ok().filter(|id| *id > 0)
}

fn bad_id() -> Response {
    message(StatusCode::BAD_REQUEST, "an event id is a positive integer")
}

/// `GET /api/events/{id}/thumbnail.jpg`.
async fn thumbnail(State(hub): State<AppState>, _v: Viewer, Path(id): Path<String>) -> Response {
    let Some(id) = event_id(&id) else {
        return bad_id();
    };
    match hub.events.db().call(move |c| rows::thumbnail(c, id)).await {
        Ok(Some(jpeg)) => {
            let mut r = Response::new(axum::body::Body::from(jpeg));
            let h = r.headers_mut();
            h.insert(header::CONTENT_TYPE, HeaderValue::from_static("image/jpeg"));
            h.insert(
                header::CACHE_CONTROL,
                HeaderValue::from_static("private, max-age=3600"),
            );
            r
        }
        Ok(None) => message(StatusCode::NOT_FOUND, "no such thumbnail"),
        Err(e) => internal(e),
    }
}

/// `GET /api/events/{id}/clip.mp4`: the event's footage from its start minus the pre-roll
/// to its end (now, while it goes on) plus the post-roll.
async fn clip(State(hub): State<AppState>, _v: Viewer, Path(id): Path<String>) -> Response {
    let Some(id) = event_id(&id) else {
        return bad_id();
    };
    let event = match hub.events.db().call(move |c| rows::get(c, id)).await {
        Ok(Some(e)) => e,
        Ok(None) => return message(StatusCode::NOT_FOUND, "no such event"),
        Err(e) => return internal(e),
    };
    if hub.recordings.dir(&event.camera).is_none() {
        return message(StatusCode::NOT_FOUND, "no such camera");
    }
    let start = event.start_ms - EVENT_PRE_ROLL_MS;
    let end = event.end_ms.unwrap_or_else(crate::camera::now_ms) + EVENT_POST_ROLL_MS;
    super::recordings::export_response(&hub, &event.camera, start, end).await
}

/// `GET /api/events/stream`: `event: event` with one event as JSON, for every stored new
/// or changed event, until the client leaves or the hub shuts down.
async fn stream(State(hub): State<AppState>, _v: Viewer) -> Response {
    let rx = BroadcastStream::new(hub.events.subscribe());
    let events = rx
        .filter_map(|item| async move {
            // A lagging page skips what it missed.
            let e = item.ok()?;
            let json = serde_json::to_string(&EventJson::from(&*e)).ok()?;
            Some(Ok::<SseEvent, Infallible>(
                SseEvent::default().event("event").data(json),
            ))
        })
        .take_until(hub.shutdown.clone().cancelled_owned());
    Sse::new(events)
        .keep_alive(KeepAlive::default())
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_json_bytes() {
        let e = StoredEvent {
            id: 7,
            camera: "porch".into(),
            kind: Kind::Motion,
            label: None,
            start_ms: 1000,
            end_ms: Some(6000),
            score: Some(0.5),
            zone: None,
            message: None,
            has_thumbnail: true,
        };
        assert_eq!(
            serde_json::to_string(&EventJson::from(&e)).unwrap(),
            r#"{"id":7,"camera":"porch","kind":"motion","label":null,"start_ms":1000,"end_ms":6000,"score":0.5,"zone":null,"thumbnail":"/api/events/7/thumbnail.jpg","message":null}"#
        );
    }

    #[test]
    fn queries_parse_strictly() {
        let q = |pairs: &[(&str, &str)]| {
            parse_query(
                &pairs
                    .iter()
                    .map(|(a, b)| (a.to_string(), b.to_string()))
                    .collect(),
            )
        };
        let ok = q(&[("kind", "motion,health"), ("limit", "500"), ("before", "9")]).unwrap();
        assert_eq!(ok.kinds, vec![Kind::Motion, Kind::Health]);
        assert_eq!((ok.limit, ok.before, ok.zone), (500, Some(9), None));
        let zoned = q(&[("zone", "front door")]).unwrap();
        assert_eq!(zoned.zone.as_deref(), Some("front door"));
        assert_eq!(q(&[]).unwrap().limit, DEFAULT_PAGE);
        for bad in [
            ("start", "yesterday"),
            ("limit", "0"),
            ("limit", "1001"),
            ("kind", "motion,<b>"),
            ("before", "1.5"),
            ("zone", "a\u{0}b"),
        ] {
            assert!(q(&[bad]).is_err(), "{bad:?}");
        }
        assert!(q(&[("start", "10"), ("end", "5")]).is_err());
    }
}
