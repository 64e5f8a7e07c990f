//! Where things live in the bucket. Every key is under the hub's prefix:
//!
//! ```text
//! PREFIX/rec/CAMERA/2026-11-21T07-31-50.123Z.mp4        a segment (the store's file name)
//! PREFIX/events/CAMERA/2026-11-21T07-31-52.000Z-ID.json an event
//! PREFIX/events/CAMERA/2026-11-21T07-31-52.000Z-ID.jpg  its thumbnail
//! PREFIX/index/CAMERA/2026-11-21.json                   the day's segment records (restore)
//! ```
//!
//! Names are times (UTC, fixed width), so a listing sorts by time and retention reads
//! ages from keys without fetching anything. Parsing is strict: keys that are not ours
//! (another tool's, a half-written name) are reported as foreign, never guessed at.

/// What a key names.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ObjectName {
    Segment {
        camera: String,
        file_name: String,
        start_ms: i64,
    },
    Event {
        camera: String,
        stem: String,
        start_ms: i64,
    },
    Thumbnail {
        camera: String,
        stem: String,
        start_ms: i64,
    },
    DayIndex {
        camera: String,
        day: String,
    },
}

impl ObjectName {
    pub fn camera(&self) -> &str {
        match self {
            ObjectName::Segment { camera, .. }
            | ObjectName::Event { camera, .. }
            | ObjectName::Thumbnail { camera, .. }
            | ObjectName::DayIndex { camera, .. } => camera,
        }
    }

    /// Start time of a segment or event; `None` for an index.
    pub fn start_ms(&self) -> Option<i64> {
        match self {
            ObjectName::Segment { start_ms, .. }
            | ObjectName::Event { start_ms, .. }
            | ObjectName::Thumbnail { start_ms, .. } => Some(*start_ms),
            ObjectName::DayIndex { .. } => None,
        }
    }
}

/// Keys of one hub (one prefix) in the bucket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    prefix: String,
}

/// Camera names as the hub allows them: 1-64 of `[A-Za-z0-9_-]`.
pub fn valid_camera(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// A key prefix: empty, or segments of `[A-Za-z0-9_-]` joined by single `/`, at most
/// 128 bytes.
pub fn valid_prefix(prefix: &str) -> bool {
    prefix.is_empty()
        || (prefix.len() <= 128
            && prefix.split('/').all(|s| {
                !s.is_empty()
                    && s.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            }))
}

/// Event ids: 1-64 of `[A-Za-z0-9_-]`.
fn valid_event_id(id: &str) -> bool {
    valid_camera(id)
}

impl Layout {
    /// A layout under `prefix` (see [`valid_prefix`]; the config checks it).
    pub fn new(prefix: &str) -> Result<Layout, crate::Error> {
        if !valid_prefix(prefix) {
            return Err(crate::Error::invalid(format!("bad key prefix {prefix:?}")));
        }
        Ok(Layout {
            prefix: prefix.to_owned(),
        })
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    fn join(&self, rest: &str) -> String {
        if self.prefix.is_empty() {
            rest.to_owned()
        } else {
            format!("{}/{rest}", self.prefix)
        }
    }

    /// The key of segment `file_name` (a store segment name) of `camera`.
    pub fn segment(&self, camera: &str, file_name: &str) -> Result<String, crate::Error> {
        if !valid_camera(camera) || store::parse_segment_name(file_name).is_none() {
            return Err(crate::Error::invalid(format!(
                "not a camera and segment name: {camera:?} {file_name:?}"
            )));
        }
        Ok(self.join(&format!("rec/{camera}/{file_name}")))
    }

    fn event_stem(camera: &str, start_ms: i64, id: &str) -> Result<String, crate::Error> {
        let name = store::segment_name(start_ms);
        match name {
            Some(n) if valid_camera(camera) && valid_event_id(id) => {
                let time = n.trim_end_matches(store::SEGMENT_EXT);
                Ok(format!("{time}-{id}"))
            }
            _ => Err(crate::Error::invalid(format!(
                "not a camera, event time and id: {camera:?} {start_ms} {id:?}"
            ))),
        }
    }

    /// The key of event `id` of `camera` that started at `start_ms`.
    pub fn event(&self, camera: &str, start_ms: i64, id: &str) -> Result<String, crate::Error> {
        let stem = Self::event_stem(camera, start_ms, id)?;
        Ok(self.join(&format!("events/{camera}/{stem}.json")))
    }

    /// The key of that event's thumbnail.
    pub fn thumbnail(&self, camera: &str, start_ms: i64, id: &str) -> Result<String, crate::Error> {
        let stem = Self::event_stem(camera, start_ms, id)?;
        Ok(self.join(&format!("events/{camera}/{stem}.jpg")))
    }

    /// The key of `camera`'s index for UTC day `day` (`YYYY-MM-DD`).
    pub fn day_index(&self, camera: &str, day: &str) -> Result<String, crate::Error> {
        if !valid_camera(camera) || !valid_day(day) {
            return Err(crate::Error::invalid(format!(
                "not a camera and day: {camera:?} {day:?}"
            )));
        }
        Ok(self.join(&format!("index/{camera}/{day}.json")))
    }

    /// The listing prefix of one kind of object (`"rec"`, `"events"`, `"index"`),
    /// optionally of one camera.
    pub fn list_prefix(&self, kind: &str, camera: Option<&str>) -> String {
        match camera {
            Some(c) => self.join(&format!("{kind}/{c}")),
            None => self.join(kind),
        }
    }

    /// The key of an object relative to the prefix (what encryption binds chunks to,
    /// so a bucket moved to another prefix still decrypts).
    pub fn relative<'a>(&self, key: &'a str) -> Option<&'a str> {
        if self.prefix.is_empty() {
            Some(key)
        } else {
            key.strip_prefix(&self.prefix)?.strip_prefix('/')
        }
    }

    /// What `key` names, or `None` if it is not one of this layout's keys.
    pub fn parse(&self, key: &str) -> Option<ObjectName> {
        let rel = self.relative(key)?;
        let mut parts = rel.split('/');
        let (kind, camera, name) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() || !valid_camera(camera) {
            return None;
        }
        let camera = camera.to_owned();
        match kind {
            "rec" => {
                let start_ms = store::parse_segment_name(name)?;
                Some(ObjectName::Segment {
                    camera,
                    file_name: name.to_owned(),
                    start_ms,
                })
            }
            "events" => {
                let (stem, thumb) = if let Some(s) = name.strip_suffix(".json") {
                    (s, false)
                } else {
                    (name.strip_suffix(".jpg")?, true)
                };
                // `TIME-ID`: the time is fixed width (the segment name without `.mp4`).
                let time_len = 24;
                let (time, id) = (stem.get(..time_len)?, stem.get(time_len + 1..)?);
                if stem.as_bytes().get(time_len) != Some(&b'-') || !valid_event_id(id) {
                    return None;
                }
                let start_ms = store::parse_segment_name(&format!("{time}{}", store::SEGMENT_EXT))?;
                let stem = stem.to_owned();
                Some(if thumb {
                    ObjectName::Thumbnail {
                        camera,
                        stem,
                        start_ms,
                    }
                } else {
                    ObjectName::Event {
                        camera,
                        stem,
                        start_ms,
                    }
                })
            }
            "index" => {
                let day = name.strip_suffix(".json")?;
                valid_day(day).then(|| ObjectName::DayIndex {
                    camera,
                    day: day.to_owned(),
                })
            }
            _ => None,
        }
    }
}

/// The UTC day (`YYYY-MM-DD`) a time falls on.
pub fn day_of(start_ms: i64) -> Option<String> {
    store::segment_name(start_ms).map(|n| n[..10].to_owned())
}

fn valid_day(day: &str) -> bool {
    day.len() == 10
        && store::parse_segment_name(&format!("{day}T00-00-00.000Z{}", store::SEGMENT_EXT))
            .is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip() {
        let start = store::parse_segment_name("2026-11-21T07-31-50.123Z.mp4").unwrap();
        for prefix in ["", "home", "home/hub-1"] {
            let l = Layout::new(prefix).unwrap();
            let k = l.segment("porch", "2026-11-21T07-31-50.123Z.mp4").unwrap();
            let expected = if prefix.is_empty() {
                String::new()
            } else {
                format!("{prefix}/")
            };
            assert_eq!(
                k,
                format!("{expected}rec/porch/2026-11-21T07-31-50.123Z.mp4")
            );
            assert_eq!(
                l.parse(&k),
                Some(ObjectName::Segment {
                    camera: "porch".into(),
                    file_name: "2026-11-21T07-31-50.123Z.mp4".into(),
                    start_ms: start
                })
            );
            let e = l.event("porch", start, "motion-17").unwrap();
            assert!(
                e.ends_with("events/porch/2026-11-21T07-31-50.123Z-motion-17.json"),
                "{e}"
            );
            assert!(
                matches!(l.parse(&e), Some(ObjectName::Event { start_ms, .. }) if start_ms == start)
            );
            let t = l.thumbnail("porch", start, "motion-17").unwrap();
            assert!(matches!(l.parse(&t), Some(ObjectName::Thumbnail { .. })));
            let d = l.day_index("porch", "2026-11-21").unwrap();
            assert_eq!(
                l.parse(&d),
                Some(ObjectName::DayIndex {
                    camera: "porch".into(),
                    day: "2026-11-21".into()
                })
            );
        }
    }

    #[test]
    fn foreign_and_hostile_names_are_refused() {
        let l = Layout::new("home").unwrap();
        for k in [
            "other/rec/porch/2026-11-21T07-31-50.123Z.mp4",
            "home/rec/porch/2026-11-21T07-31-50.123Z.mp4.partial",
            "home/rec/../2026-11-21T07-31-50.123Z.mp4",
            "home/rec/porch/sub/2026-11-21T07-31-50.123Z.mp4",
            "home/rec/porch/2026-02-30T07-31-50.123Z.mp4",
            "home/events/porch/2026-11-21T07-31-50.123Z.json",
            "home/events/porch/2026-11-21T07-31-50.123Z-a b.json",
            "home/index/porch/2026-13-01.json",
            "home/tmp/porch/x",
            "homerec/porch/2026-11-21T07-31-50.123Z.mp4",
        ] {
            assert_eq!(l.parse(k), None, "{k}");
        }
        assert!(l.segment("../etc", "2026-11-21T07-31-50.123Z.mp4").is_err());
        assert!(l.segment("porch", "passwd").is_err());
        assert!(l.event("porch", 0, "a/b").is_err());
        assert!(
            Layout::new("/abs").is_err()
                && Layout::new("a//b").is_err()
                && Layout::new("a/").is_err()
        );
        assert_eq!(day_of(0).as_deref(), Some("1970-01-01"));
    }
}
