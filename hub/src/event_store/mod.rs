//! The event store: every camera's events (motion, camera alarms, the hub's health
//! events) in SQLite, table `event` ([`rows`]), with a small JPEG thumbnail in the row
//! (so a thumbnail is written, backed up and deleted with its event, atomically).
//!
//! It is a consumer of the cameras' source events ([`spawn`], started by `server::run`):
//! a motion or alarm start opens an event, its end closes it; a camera going offline or
//! refusing the password opens a health event that its coming back online closes. Events
//! that arrive complete with a key of their source (an agent's motion events, which may be
//! sent twice after an outage) are stored once per key ([`EventStore::upsert`]). Every
//! stored change is announced on [`EventStore::subscribe`] (the pages' live push).
//!
//! Overflow policy of the announcements: a bounded `broadcast` of [`ANNOUNCE_CAPACITY`];
//! a listener that falls behind skips what it missed (the pages reload the list anyway).

pub mod rows;

use std::sync::Arc;

use events::{Event, What};
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::camera::{Camera, Registry, now_ms};
use crate::db::{Db, DbError};

/// Announcements held per listener before it lags.
pub const ANNOUNCE_CAPACITY: usize = 256;
/// The largest thumbnail stored (bigger ones are refused).
pub const MAX_THUMBNAIL_BYTES: usize = 64 * 1024;
/// A camera's picture larger than [`MAX_THUMBNAIL_BYTES`] is scaled to fit this box
/// (aspect kept) for an event's thumbnail, at [`THUMBNAIL_QUALITY`].
pub const THUMBNAIL_BOX: (u32, u32) = (640, 360);
pub const THUMBNAIL_QUALITY: u8 = 75;
/// Footage kept, played and exported before an event's start, and after its end.
pub const PRE_ROLL_MS: i64 = 5_000;
pub const POST_ROLL_MS: i64 = 5_000;
/// The most events one page of the API returns.
pub const MAX_PAGE: u32 = 1000;

/// What an event is about, as the pages group them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Motion,
    /// A camera's own classification (person, vehicle, ...).
    Alarm,
    /// The hub's health events: offline, refused password, recording gap, disk, backlog.
    Health,
}

impl Kind {
    pub const ALL: [Kind; 3] = [Kind::Motion, Kind::Alarm, Kind::Health];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Motion => "motion",
            Kind::Alarm => "alarm",
            Kind::Health => "health",
        }
    }

    pub fn parse(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// An event as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredEvent {
    pub id: i64,
    pub camera: String,
    pub kind: Kind,
    /// What was seen (`person`), or a health event's short code (`offline`).
    pub label: Option<String>,
    pub start_ms: i64,
    /// `None` while it goes on.
    pub end_ms: Option<i64>,
    /// 0..=1.
    pub score: Option<f64>,
    pub zone: Option<String>,
    /// A sentence for people (health events).
    pub message: Option<String>,
    pub has_thumbnail: bool,
}

/// An event to store.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    pub camera: String,
    pub kind: Kind,
    pub label: Option<String>,
    pub start_ms: i64,
    pub end_ms: Option<i64>,
    pub score: Option<f64>,
    pub zone: Option<String>,
    pub message: Option<String>,
    /// Who noticed: `camera`, `agent` or `hub`.
    pub origin: &'static str,
    /// The source's own id of the event: stored once per camera and key.
    pub key: Option<String>,
    /// A JPEG of at most [`MAX_THUMBNAIL_BYTES`].
    pub thumbnail: Option<Vec<u8>>,
}

impl NewEvent {
    /// A health event of `camera` noticed by the hub.
    pub fn health(camera: &str, code: &str, message: String, start_ms: i64) -> NewEvent {
        NewEvent {
            camera: camera.to_owned(),
            kind: Kind::Health,
            label: Some(code.to_owned()),
            start_ms,
            end_ms: None,
            score: None,
            zone: None,
            message: Some(message),
            origin: "hub",
            key: None,
            thumbnail: None,
        }
    }
}

/// Which events a listing wants.
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    pub camera: Option<String>,
    /// Events overlapping `[start_ms, end_ms)`.
    pub start_ms: i64,
    pub end_ms: i64,
    /// Empty: every kind.
    pub kinds: Vec<Kind>,
    /// 1..=[`MAX_PAGE`].
    pub limit: u32,
    /// Only events with an id below this one (the next page).
    pub before: Option<i64>,
    /// Only events in this named detection zone.
    pub zone: Option<String>,
}

/// Whether `bytes` look like a JPEG the pages can show: a baseline or progressive JPEG
/// whose header a decoder reads.
pub fn is_jpeg(bytes: &[u8]) -> bool {
    if bytes.len() < 4 || bytes[..2] != [0xFF, 0xD8] || bytes.len() > MAX_THUMBNAIL_BYTES {
        return false;
    }
    let mut d = zune_jpeg::JpegDecoder::new(std::io::Cursor::new(bytes));
    d.decode_headers().is_ok() && d.dimensions().is_some_and(|(w, h)| w > 0 && h > 0)
}

/// The event store; cheap to share (`Arc`).
#[derive(Debug)]
pub struct EventStore {
    db: Db,
    tx: broadcast::Sender<Arc<StoredEvent>>,
}

impl EventStore {
    pub fn new(db: Db) -> EventStore {
        EventStore {
            db,
            tx: broadcast::Sender::new(ANNOUNCE_CAPACITY),
        }
    }

    pub fn db(&self) -> &Db {
        &self.db
    }

    /// Stored changes from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<StoredEvent>> {
        self.tx.subscribe()
    }

    fn announce(&self, c: &rusqlite::Connection, id: i64) -> Result<(), DbError> {
        if let Some(e) = rows::get(c, id)? {
            let _ = self.tx.send(Arc::new(e));
        }
        Ok(())
    }

    /// Stores `event` (blocking). A thumbnail that is not a JPEG is left out. Its id,
    /// `None` when a keyed event was already stored exactly so.
    pub fn upsert(&self, mut event: NewEvent) -> Result<Option<i64>, DbError> {
        if event.thumbnail.as_deref().is_some_and(|t| !is_jpeg(t)) {
            tracing::warn!(camera = %event.camera, "event thumbnail is not a JPEG; left out");
            event.thumbnail = None;
        }
        let now = now_ms();
        self.db.call_blocking(|c| {
            let id = rows::upsert_keyed(c, &event, now)?;
            if let Some(id) = id {
                self.announce(c, id)?;
            }
            Ok(id)
        })
    }

    /// Opens an event unless one of the same camera, kind and label is open (blocking).
    pub fn open(&self, event: NewEvent) -> Result<Option<i64>, DbError> {
        let now = now_ms();
        self.db.call_blocking(|c| {
            if rows::find_open(c, &event.camera, event.kind, event.label.as_deref())?.is_some() {
                return Ok(None);
            }
            let id = rows::insert(c, &event, now)?;
            self.announce(c, id)?;
            Ok(Some(id))
        })
    }

    /// Ends the open event of `camera` of this kind and label, if there is one (blocking).
    pub fn close(
        &self,
        camera: &str,
        kind: Kind,
        label: Option<&str>,
        end_ms: i64,
    ) -> Result<Option<i64>, DbError> {
        self.close_in_zone(camera, kind, label, end_ms, None)
    }

    /// [`EventStore::close`], naming the event's detection zone when `zone` is given.
    pub fn close_in_zone(
        &self,
        camera: &str,
        kind: Kind,
        label: Option<&str>,
        end_ms: i64,
        zone: Option<&str>,
    ) -> Result<Option<i64>, DbError> {
        let now = now_ms();
        self.db.call_blocking(|c| {
            let Some(id) = rows::find_open(c, camera, kind, label)? else {
                return Ok(None);
            };
            rows::end(c, id, end_ms, zone, now)?;
            self.announce(c, id)?;
            Ok(Some(id))
        })
    }

    /// Stores what source event `e` of `cam` means (blocking): see the module's text.
    pub fn record(&self, cam: &Camera, e: &Event) -> Result<(), DbError> {
        let name = cam.name.as_str();
        let origin = match e.origin {
            events::Origin::Camera => "camera",
            events::Origin::Agent => "agent",
            events::Origin::Hub => "hub",
        };
        let seen = |kind: Kind, label: Option<String>| NewEvent {
            camera: name.to_owned(),
            kind,
            label,
            start_ms: e.at_ms,
            end_ms: None,
            score: None,
            zone: e.zone.clone(),
            message: None,
            origin,
            key: None,
            // The camera's picture of the moment, scaled down when it is too large to keep.
            thumbnail: cam.latest().and_then(|f| small_jpeg(&cam.name, &f.jpeg)),
        };
        match &e.what {
            What::Motion { active: true } => self.open(seen(Kind::Motion, None)).map(drop),
            What::Motion { active: false } => self
                .close_in_zone(name, Kind::Motion, None, e.at_ms, e.zone.as_deref())
                .map(drop),
            What::Alarm {
                label,
                active: true,
            } => self
                .open(seen(Kind::Alarm, Some(label.as_str().to_owned())))
                .map(drop),
            What::Alarm {
                label,
                active: false,
            } => self
                .close(name, Kind::Alarm, Some(label.as_str()), e.at_ms)
                .map(drop),
            What::Offline { reason } => {
                let message = if reason.is_empty() {
                    "Camera offline".to_owned()
                } else {
                    format!("Camera offline: {reason}")
                };
                self.open(NewEvent::health(name, "offline", message, e.at_ms))
                    .map(drop)
            }
            What::AuthFailed => self
                .open(NewEvent::health(
                    name,
                    "auth_failed",
                    "Camera refused the user name or password".to_owned(),
                    e.at_ms,
                ))
                .map(drop),
            What::Online => {
                self.close(name, Kind::Health, Some("offline"), e.at_ms)?;
                self.close(name, Kind::Health, Some("auth_failed"), e.at_ms)?;
                Ok(())
            }
            // Health checks of the monitor (`crate::health::monitor`). Offline is on the
            // timeline already, from the camera's own offline event.
            What::Health { code, .. } if code == "offline" => Ok(()),
            What::Health {
                code,
                active: true,
                message,
            } => self
                .open(NewEvent::health(name, code, message.clone(), e.at_ms))
                .map(drop),
            What::Health {
                code,
                active: false,
                ..
            } => self
                .close(name, Kind::Health, Some(code.as_str()), e.at_ms)
                .map(drop),
            What::Battery { percent, charging } => {
                if *percent <= LOW_BATTERY_PERCENT && !charging {
                    self.open(NewEvent::health(
                        name,
                        "battery_low",
                        format!("Battery low: {percent}%"),
                        e.at_ms,
                    ))
                    .map(drop)
                } else {
                    self.close(name, Kind::Health, Some("battery_low"), e.at_ms)
                        .map(drop)
                }
            }
        }
    }

    /// Ends the motion and alarm events a previous run left open (blocking).
    pub fn end_dangling(&self) -> Result<usize, DbError> {
        self.db.call_blocking(|c| Ok(rows::end_dangling(c)?.len()))
    }
}

/// `jpeg` as an event's thumbnail: itself when it is at most [`MAX_THUMBNAIL_BYTES`],
/// else scaled into [`THUMBNAIL_BOX`] (blocking, milliseconds); `None` (logged) when it
/// cannot be decoded or is still too large.
pub fn small_jpeg(camera: &str, jpeg: &[u8]) -> Option<Vec<u8>> {
    if jpeg.len() <= MAX_THUMBNAIL_BYTES {
        return Some(jpeg.to_vec());
    }
    let (w, h) = THUMBNAIL_BOX;
    match codec::thumbnail::thumbnail(jpeg, w, h, THUMBNAIL_QUALITY) {
        Ok(Some(small)) if small.len() <= MAX_THUMBNAIL_BYTES => Some(small),
        Ok(_) => {
            tracing::warn!(
                camera,
                bytes = jpeg.len(),
                "picture too large for a thumbnail"
            );
            None
        }
        Err(e) => {
            tracing::warn!(camera, error = %e, "no thumbnail of the camera's picture");
            None
        }
    }
}

/// A battery camera's charge at or below which (not charging) a health event opens.
pub const LOW_BATTERY_PERCENT: u8 = 15;

/// How long an opening event waits for a bridged camera's current picture.
const EVENT_PICTURE_WAIT: std::time::Duration = std::time::Duration::from_secs(3);

/// Stores every camera's source events until `stop`, in order per camera.
pub fn spawn(
    store: &Arc<EventStore>,
    cameras: &Registry,
    tracker: &TaskTracker,
    stop: &CancellationToken,
) {
    match store.end_dangling() {
        Ok(0) => {}
        Ok(n) => tracing::info!(events = n, "ended events a previous run left open"),
        Err(e) => tracing::warn!(error = %e, "could not end open events"),
    }
    for cam in cameras.iter() {
        let (store, cam) = (Arc::clone(store), Arc::clone(cam));
        tracker.spawn(crate::event_feed::consume(
            cam.events.subscribe(),
            cam.name.clone(),
            "event store",
            stop.clone(),
            move |e| {
                let (store, cam) = (Arc::clone(&store), Arc::clone(&cam));
                async move {
                    let name = cam.name.clone();
                    // An event that opens keeps the camera's picture of the moment: a
                    // bridged camera nobody looks at decodes its current key frame first.
                    if matches!(
                        e.what,
                        What::Motion { active: true } | What::Alarm { active: true, .. }
                    ) {
                        cam.current_picture(EVENT_PICTURE_WAIT).await;
                    }
                    match tokio::task::spawn_blocking(move || store.record(&cam, &e)).await {
                        Ok(Ok(())) => {}
                        Ok(Err(e)) => {
                            tracing::warn!(camera = %name, error = %e, "event not stored")
                        }
                        Err(e) => tracing::warn!(camera = %name, error = %e, "event task failed"),
                    }
                }
            },
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn motion(camera: &str, key: &str, end: Option<i64>) -> NewEvent {
        NewEvent {
            camera: camera.into(),
            kind: Kind::Motion,
            label: None,
            start_ms: 1000,
            end_ms: end,
            score: Some(0.25),
            zone: None,
            message: None,
            origin: "agent",
            key: Some(key.into()),
            thumbnail: None,
        }
    }

    #[test]
    fn keyed_events_are_stored_once_and_updated() {
        let store = EventStore::new(Db::open_in_memory().unwrap());
        let mut rx = store.subscribe();
        let id = store.upsert(motion("porch", "a", None)).unwrap().unwrap();
        assert_eq!(rx.try_recv().unwrap().end_ms, None);
        assert_eq!(store.upsert(motion("porch", "a", None)).unwrap(), None);
        assert!(rx.try_recv().is_err(), "a repeat is not announced");
        assert_eq!(
            store.upsert(motion("porch", "a", Some(6000))).unwrap(),
            Some(id)
        );
        assert_eq!(rx.try_recv().unwrap().end_ms, Some(6000));
        let other = store.upsert(motion("yard", "a", None)).unwrap().unwrap();
        assert_ne!(other, id, "keys are per camera");
    }

    #[test]
    fn listing_pages_and_filters() {
        let store = EventStore::new(Db::open_in_memory().unwrap());
        for i in 0..5 {
            let mut e = motion("porch", &format!("k{i}"), Some(1000 * i + 500));
            e.start_ms = 1000 * i;
            store.upsert(e).unwrap();
        }
        store
            .open(NewEvent::health("porch", "offline", "x".into(), 2500))
            .unwrap();
        let q = Query {
            camera: Some("porch".into()),
            start_ms: 1200,
            end_ms: 3100,
            kinds: vec![],
            limit: 2,
            before: None,
            zone: None,
        };
        let (page, more) = store.db.call_blocking(|c| rows::list(c, &q)).unwrap();
        let starts: Vec<i64> = page.iter().map(|e| e.start_ms).collect();
        assert_eq!((starts, more), (vec![2500, 3000], true));
        let q2 = Query {
            before: Some(page[1].id),
            ..q.clone()
        };
        let (page, more) = store.db.call_blocking(|c| rows::list(c, &q2)).unwrap();
        let starts: Vec<i64> = page.iter().map(|e| e.start_ms).collect();
        assert_eq!((starts, more), (vec![2000, 1000], false));
        let q3 = Query {
            kinds: vec![Kind::Health],
            ..q
        };
        let (page, _) = store.db.call_blocking(|c| rows::list(c, &q3)).unwrap();
        assert_eq!(page.len(), 1);
        assert_eq!(page[0].label.as_deref(), Some("offline"));
        assert_eq!(page[0].end_ms, None);
    }

    #[test]
    fn open_and_close_pair_up() {
        let store = EventStore::new(Db::open_in_memory().unwrap());
        let a = store
            .open(NewEvent::health("porch", "offline", "x".into(), 10))
            .unwrap();
        assert!(a.is_some());
        let b = store
            .open(NewEvent::health("porch", "offline", "x".into(), 20))
            .unwrap();
        assert_eq!(b, None, "one open outage at a time");
        assert_eq!(
            store
                .close("porch", Kind::Health, Some("offline"), 30)
                .unwrap(),
            a
        );
        let e = store
            .db
            .call_blocking(|c| rows::get(c, a.unwrap()))
            .unwrap()
            .unwrap();
        assert_eq!((e.start_ms, e.end_ms), (10, Some(30)));
        assert_eq!(
            store
                .close("porch", Kind::Health, Some("offline"), 40)
                .unwrap(),
            None
        );
    }
}
