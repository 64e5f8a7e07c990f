//! Events in the bucket: `events/CAMERA/TIME-ID.json` holds an [`EventRecord`] (the
//! event as the API shows it, with who noticed it), `events/CAMERA/TIME-ID.jpg` its
//! thumbnail ([`offsite::Layout::event`], [`offsite::Layout::thumbnail`]; `ID` is the
//! event's id on the hub that copied it). Replication writes them with
//! [`EventRecord::to_json`]; [`restore`] puts them back into the event table of a hub
//! rebuilding its index, or following the bucket read-only, each once (the object's
//! name is the event's source key), with `replication` rows `done` for both objects.

use std::collections::{HashMap, HashSet};

use bytes::Bytes;
use offsite::{Bucket, ObjectName};
use rusqlite::{Connection, params};
use serde::{Deserialize, Serialize};

use crate::db::{Db, DbError};
use crate::event_store::{Kind, MAX_THUMBNAIL_BYTES, NewEvent, StoredEvent, is_jpeg, rows};

/// Event objects larger than this are refused when read (one is a few hundred bytes).
pub const MAX_EVENT_BYTES: u64 = 64 * 1024;

/// One event as the bucket keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventRecord {
    /// Format version (1).
    pub version: u32,
    /// The event's id on the hub that copied it.
    pub id: i64,
    pub camera: String,
    /// `motion`, `alarm` or `health`.
    pub kind: String,
    pub label: Option<String>,
    pub start_ms: i64,
    pub end_ms: Option<i64>,
    pub score: Option<f64>,
    pub zone: Option<String>,
    pub message: Option<String>,
    /// `camera`, `agent` or `hub`.
    pub origin: String,
}

impl EventRecord {
    /// The record of a stored event noticed by `origin`.
    pub fn of(e: &StoredEvent, origin: &str) -> EventRecord {
        EventRecord {
            version: 1,
            id: e.id,
            camera: e.camera.clone(),
            kind: e.kind.as_str().to_owned(),
            label: e.label.clone(),
            start_ms: e.start_ms,
            end_ms: e.end_ms,
            score: e.score,
            zone: e.zone.clone(),
            message: e.message.clone(),
            origin: origin.to_owned(),
        }
    }

    pub fn to_json(&self) -> Bytes {
        Bytes::from(serde_json::to_vec(self).expect("an EventRecord serialises"))
    }

    /// Parses an event object; `Err` names what is wrong.
    pub fn parse(bytes: &[u8]) -> Result<EventRecord, String> {
        let r: EventRecord = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
        if r.version != 1 {
            return Err(format!("version {} is not supported", r.version));
        }
        if Kind::parse(&r.kind).is_none() {
            return Err(format!("unknown kind {:?}", r.kind));
        }
        if r.end_ms.is_some_and(|e| e < r.start_ms)
            || r.score.is_some_and(|s| !(0.0..=1.0).contains(&s))
        {
            return Err("end before start, or a score outside 0..1".into());
        }
        Ok(r)
    }

    fn into_new_event(self, source_key: String, thumbnail: Option<Vec<u8>>) -> NewEvent {
        NewEvent {
            camera: self.camera,
            kind: Kind::parse(&self.kind).unwrap_or(Kind::Motion),
            label: self.label,
            start_ms: self.start_ms,
            end_ms: self.end_ms,
            score: self.score,
            zone: self.zone,
            message: self.message,
            origin: match self.origin.as_str() {
                "camera" => "camera",
                "agent" => "agent",
                _ => "hub",
            },
            key: Some(source_key),
            thumbnail,
        }
    }
}

/// What [`restore`] did with the events.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct EventsRestored {
    /// Events added to the event table.
    pub added: usize,
    /// Event objects skipped (key, why).
    pub skipped: Vec<(String, String)>,
}

/// Adds the events the bucket holds (of `camera`, or all) for cameras in `cameras`,
/// skipping objects the index already records as copied.
pub async fn restore(
    bucket: &Bucket,
    db: &Db,
    cameras: &HashSet<String>,
    camera: Option<&str>,
    now_ms: i64,
) -> anyhow::Result<EventsRestored> {
    let listing = bucket
        .list("events", camera)
        .await
        .map_err(|e| anyhow::anyhow!("listing the bucket's events: {e}"))?;
    let known: HashSet<String> = db.call(done_event_keys).await?;
    let mut thumbs: HashMap<(String, String), (String, u64)> = HashMap::new();
    for l in &listing.objects {
        if let ObjectName::Thumbnail { camera, stem, .. } = &l.name {
            thumbs.insert((camera.clone(), stem.clone()), (l.key.clone(), l.size));
        }
    }
    let mut out = EventsRestored::default();
    for l in &listing.objects {
        let ObjectName::Event { camera, stem, .. } = &l.name else {
            continue;
        };
        if known.contains(&l.key) || !cameras.contains(camera) {
            continue;
        }
        if l.size > MAX_EVENT_BYTES {
            out.skipped.push((
                l.key.clone(),
                format!("{} bytes is too large for an event", l.size),
            ));
            continue;
        }
        let record = match bucket.read_all(&l.key).await {
            Ok(b) => match EventRecord::parse(&b) {
                Ok(r) if &r.camera == camera => r,
                Ok(r) => {
                    out.skipped
                        .push((l.key.clone(), format!("it names camera {:?}", r.camera)));
                    continue;
                }
                Err(why) => {
                    out.skipped.push((l.key.clone(), why));
                    continue;
                }
            },
            Err(e) if e.kind() == offsite::ErrorKind::NotFound => continue,
            Err(e) => anyhow::bail!("reading {}: {e}", l.key),
        };
        let mut thumbnail = None;
        let mut thumb_key = None;
        if let Some((k, size)) = thumbs.get(&(camera.clone(), stem.clone()))
            && *size <= MAX_THUMBNAIL_BYTES as u64
        {
            match bucket.read_all(k).await {
                Ok(b) if is_jpeg(&b) => {
                    thumbnail = Some(b.to_vec());
                    thumb_key = Some(k.clone());
                }
                Ok(_) => out
                    .skipped
                    .push((k.clone(), "the thumbnail is not a JPEG".into())),
                Err(e) if e.kind() == offsite::ErrorKind::NotFound => {}
                Err(e) => anyhow::bail!("reading {k}: {e}"),
            }
        }
        let event = record.into_new_event(format!("offsite-{stem}"), thumbnail);
        let key = l.key.clone();
        let added = db
            .call(move |c| insert(c, &event, &key, thumb_key.as_deref(), now_ms))
            .await?;
        if added {
            out.added += 1;
        }
    }
    Ok(out)
}

/// Keys of the event objects the index records as copied.
fn done_event_keys(c: &mut Connection) -> Result<HashSet<String>, DbError> {
    let mut st =
        c.prepare("SELECT key FROM replication WHERE kind = 'event' AND state = 'done'")?;
    let keys = st.query_map([], |r| r.get(0))?.collect::<Result<_, _>>()?;
    Ok(keys)
}

/// Adds the event (once per source key) and its `replication` rows; whether it was new.
fn insert(
    c: &mut Connection,
    e: &NewEvent,
    key: &str,
    thumb_key: Option<&str>,
    now_ms: i64,
) -> Result<bool, DbError> {
    let source_key = e.key.clone().unwrap_or_default();
    let changed = rows::upsert_keyed(c, e, now_ms)?;
    let Some(id) = rows::id_of_key(c, &e.camera, &source_key)? else {
        return Ok(false);
    };
    for (kind, k) in [("event", Some(key)), ("thumbnail", thumb_key)] {
        let Some(k) = k else { continue };
        c.execute(
            "INSERT INTO replication (kind, camera, event_id, key, state, attempts, next_try_ms,
                 queued_ms, done_ms)
             VALUES (?1, ?2, ?3, ?4, 'done', 0, ?5, ?5, ?5)
             ON CONFLICT (key) DO UPDATE SET state = 'done', event_id = ?3,
                 done_ms = coalesce(done_ms, ?5)",
            params![kind, e.camera, id, k, now_ms],
        )?;
    }
    Ok(changed.is_some())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_bad_ones_are_refused() {
        let r = EventRecord {
            version: 1,
            id: 7,
            camera: "porch".into(),
            kind: "alarm".into(),
            label: Some("person".into()),
            start_ms: 10,
            end_ms: Some(20),
            score: Some(0.5),
            zone: None,
            message: None,
            origin: "camera".into(),
        };
        assert_eq!(EventRecord::parse(&r.to_json()).unwrap(), r);
        for bad in [
            r#"{"version":2}"#.to_owned(),
            String::from_utf8(r.to_json().to_vec())
                .unwrap()
                .replace("alarm", "ufo"),
            String::from_utf8(r.to_json().to_vec())
                .unwrap()
                .replace("\"end_ms\":20", "\"end_ms\":5"),
            String::from_utf8(r.to_json().to_vec())
                .unwrap()
                .replace("\"id\":7", "\"id\":7,\"extra\":1"),
        ] {
            assert!(EventRecord::parse(bad.as_bytes()).is_err(), "{bad}");
        }
    }
}
