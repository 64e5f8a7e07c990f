//! Agent events, agent to hub: the one definition of the route, the JSON body and its
//! bounds, used by the agent's event sender and the hub's handler.
//!
//! - `POST` [`events_path`] with `Authorization: Bearer TOKEN` (the camera's agent token)
//!   and one [`AgentEvent`] as JSON (at most [`MAX_BODY`] bytes). The agent sends an event
//!   when it starts and again when it ends (with its score and thumbnail); the hub keeps
//!   one event per camera and [`AgentEvent::id`], so a repeat after an outage changes
//!   nothing.
//! - Answers: `200` with [`Stored`] (stored or already held), `400` a malformed event
//!   (not sent again), `401` a bad token, `413` too large, `5xx` try again later.
//!
//! Pure: strings and numbers, no I/O.

use serde::{Deserialize, Serialize};

/// The route, as the hub's router writes it.
pub const EVENTS_ROUTE: &str = "/api/v1/agents/{camera_id}/events";

/// The path events of camera `camera_id` are posted to.
pub fn events_path(camera_id: u32) -> String {
    format!("/api/v1/agents/{camera_id}/events")
}

/// The largest request body: a thumbnail of at most [`MAX_THUMBNAIL`] bytes in base64,
/// and the rest.
pub const MAX_BODY: usize = 96 * 1024;
/// The largest thumbnail (JPEG bytes before base64).
pub const MAX_THUMBNAIL: usize = 64 * 1024;
/// The longest event id.
pub const MAX_ID_LEN: usize = 64;
/// The longest zone name.
pub const MAX_ZONE_LEN: usize = 64;

/// One event the agent noticed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentEvent {
    /// The agent's own id of the event, stable across repeats: 1..=64 of
    /// `[A-Za-z0-9_-]`.
    pub id: String,
    /// `motion`.
    pub kind: String,
    /// Unix ms of its first moving frame.
    pub start_ms: i64,
    /// Unix ms of its last moving frame; `None` while it goes on.
    pub end_ms: Option<i64>,
    /// Peak share of the picture in motion, 0..=1.
    pub score: Option<f32>,
    /// A small JPEG of the moment with the most motion, base64 (standard alphabet).
    pub thumbnail_jpeg: Option<String>,
    /// The named detection zone where most of the motion was (at most
    /// [`MAX_ZONE_LEN`] bytes), when the agent's detector has zones. Left out of the
    /// JSON when there is none, so an agent without zones speaks as before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zone: Option<String>,
}

/// The hub's answer to a stored event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stored {
    /// The hub's id of the event (as in its events API).
    pub event: i64,
    /// False when the hub already held exactly this.
    pub changed: bool,
}

/// Whether `id` is an event id this protocol allows.
pub fn valid_id(id: &str) -> bool {
    (1..=MAX_ID_LEN).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

impl AgentEvent {
    /// What is wrong with the event, if anything (the thumbnail's bytes are the hub's
    /// to check).
    pub fn check(&self) -> Result<(), String> {
        if !valid_id(&self.id) {
            return Err("id must be 1 to 64 of A-Z a-z 0-9 - _".into());
        }
        if self.kind != "motion" {
            return Err(format!("unknown kind {:?} (motion)", self.kind));
        }
        if self.start_ms <= 0 {
            return Err("start_ms must be a unix time in ms".into());
        }
        if self.end_ms.is_some_and(|e| e < self.start_ms) {
            return Err("end_ms must not be before start_ms".into());
        }
        if self
            .zone
            .as_ref()
            .is_some_and(|z| z.is_empty() || z.len() > MAX_ZONE_LEN)
        {
            return Err(format!("zone must be 1 to {MAX_ZONE_LEN} bytes"));
        }
        if self.score.is_some_and(|s| !(0.0..=1.0).contains(&s)) {
            return Err("score must be 0..=1".into());
        }
        if self
            .thumbnail_jpeg
            .as_ref()
            .is_some_and(|t| t.len() > MAX_THUMBNAIL.div_ceil(3) * 4)
        {
            return Err(format!(
                "thumbnail_jpeg must be at most {MAX_THUMBNAIL} bytes"
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_check() {
        let ok = AgentEvent {
            id: "m-1795246310000".into(),
            kind: "motion".into(),
            start_ms: 1_795_246_310_000,
            end_ms: None,
            score: None,
            thumbnail_jpeg: None,
            zone: None,
        };
        assert_eq!(ok.check(), Ok(()));
        let json = serde_json::to_string(&ok).unwrap();
        assert_eq!(
            json,
            r#"{"id":"m-1795246310000","kind":"motion","start_ms":1795246310000,"end_ms":null,"score":null,"thumbnail_jpeg":null}"#
        );
        assert!(serde_json::from_str::<AgentEvent>(r#"{"id":"a","kind":"motion","start_ms":1,"end_ms":null,"score":null,"thumbnail_jpeg":null,"x":1}"#).is_err());
        for bad in [
            AgentEvent {
                id: "../x".into(),
                ..ok.clone()
            },
            AgentEvent {
                id: "x".repeat(65),
                ..ok.clone()
            },
            AgentEvent {
                kind: "alarm".into(),
                ..ok.clone()
            },
            AgentEvent {
                end_ms: Some(1),
                ..ok.clone()
            },
            AgentEvent {
                zone: Some(String::new()),
                ..ok.clone()
            },
            AgentEvent {
                zone: Some("z".repeat(65)),
                ..ok.clone()
            },
            AgentEvent {
                score: Some(1.5),
                ..ok.clone()
            },
            AgentEvent {
                thumbnail_jpeg: Some("A".repeat(MAX_BODY)),
                ..ok.clone()
            },
        ] {
            assert!(bad.check().is_err(), "{bad:?}");
        }
    }
}
