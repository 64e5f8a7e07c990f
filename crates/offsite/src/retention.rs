//! The bucket's own retention, independent of the hub's disk: a pure plan from a
//! listing, the events, the policy and the time. Ages come from the keys (names are
//! start times), never from the store's modification times (a restored or re-copied
//! object is not younger footage).

use std::collections::HashMap;

use crate::config::BucketRetention;
use crate::layout::ObjectName;

/// One object as listed (see [`crate::Bucket::list`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    pub key: String,
    pub name: ObjectName,
    /// Stored size.
    pub size: u64,
    pub last_modified_ms: i64,
    pub e_tag: Option<String>,
}

/// An event's time span on a camera: segments that overlap it are event footage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventSpan {
    pub camera: String,
    pub start_ms: i64,
    pub end_ms: i64,
}

/// Keys to delete from `listing` so the bucket meets `policy` at `now_ms`. Segments
/// are dated by their start; a segment's end is taken as the next segment's start of
/// the same camera (or its start, for the last), enough to tell event overlap.
///
/// * Ordinary segments older than `max_age` go; event footage (segments overlapping
///   an event, events and thumbnails) stays until `event_max_age` (or `max_age`).
/// * Above `max_size`, the oldest ordinary segments go first, then the oldest event
///   footage. Day indexes are never deleted here (they are small and restore needs
///   them; a day index whose segments are all gone is dropped with the last one).
pub fn plan(
    listing: &[Listed],
    events: &[EventSpan],
    policy: &BucketRetention,
    now_ms: i64,
) -> Vec<String> {
    let ends = segment_ends(listing);
    let is_event = |l: &Listed| match &l.name {
        ObjectName::Event { .. } | ObjectName::Thumbnail { .. } => true,
        ObjectName::Segment {
            camera, start_ms, ..
        } => {
            let end = ends.get(&l.key).copied().unwrap_or(*start_ms);
            events
                .iter()
                .any(|e| &e.camera == camera && e.start_ms <= end && *start_ms <= e.end_ms)
        }
        ObjectName::DayIndex { .. } => false,
    };
    let mut doomed: Vec<&Listed> = Vec::new();
    let mut kept: Vec<(&Listed, bool)> = Vec::new();
    for l in listing {
        let Some(start) = l.name.start_ms() else {
            continue;
        };
        let event = is_event(l);
        let limit = if event {
            policy.event_max_age.or(policy.max_age)
        } else {
            policy.max_age
        };
        let too_old = limit.is_some_and(|a| {
            now_ms.saturating_sub(start) > i64::try_from(a.0.as_millis()).unwrap_or(i64::MAX)
        });
        if too_old {
            doomed.push(l);
        } else {
            kept.push((l, event));
        }
    }
    if let Some(max) = policy.max_size {
        let mut total: u64 = listing.iter().map(|l| l.size).sum::<u64>()
            - doomed.iter().map(|l| l.size).sum::<u64>();
        // Ordinary footage first, then event footage; oldest first within each.
        kept.sort_by_key(|(l, event)| (*event, l.name.start_ms(), l.key.clone()));
        for (l, _) in kept {
            if total <= max.0 {
                break;
            }
            total -= l.size;
            doomed.push(l);
        }
    }
    let mut keys: Vec<String> = doomed.into_iter().map(|l| l.key.clone()).collect();
    keys.sort();
    keys
}

/// Each segment's end as the next segment's start on the same camera.
fn segment_ends(listing: &[Listed]) -> HashMap<String, i64> {
    let mut by_camera: HashMap<&str, Vec<(i64, &str)>> = HashMap::new();
    for l in listing {
        if let ObjectName::Segment {
            camera, start_ms, ..
        } = &l.name
        {
            by_camera
                .entry(camera)
                .or_default()
                .push((*start_ms, &l.key));
        }
    }
    let mut ends = HashMap::new();
    for (_, mut segs) in by_camera {
        segs.sort();
        for w in segs.windows(2) {
            ends.insert(w[0].1.to_owned(), w[1].0 - 1);
        }
    }
    ends
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{ByteSize, Dur};
    use crate::layout::Layout;

    const DAY: i64 = 86_400_000;
    const T0: i64 = 1_800_000_000_000;

    fn seg(l: &Layout, cam: &str, start: i64, size: u64) -> Listed {
        let key = l
            .segment(cam, &store::segment_name(start).unwrap())
            .unwrap();
        Listed {
            name: l.parse(&key).unwrap(),
            key,
            size,
            last_modified_ms: T0,
            e_tag: None,
        }
    }

    fn event(l: &Layout, cam: &str, start: i64) -> Listed {
        let key = l.event(cam, start, "m1").unwrap();
        Listed {
            name: l.parse(&key).unwrap(),
            key,
            size: 100,
            last_modified_ms: T0,
            e_tag: None,
        }
    }

    #[test]
    fn age_keeps_event_footage_longer() {
        let l = Layout::new("h").unwrap();
        // One 1-hour segment a day for 40 days; an event on day 35's segment.
        let listing: Vec<Listed> = (0..40)
            .map(|d| seg(&l, "porch", T0 - d * DAY, 10))
            .chain([event(&l, "porch", T0 - 35 * DAY + 60_000)])
            .collect();
        let events = [EventSpan {
            camera: "porch".into(),
            start_ms: T0 - 35 * DAY + 60_000,
            end_ms: T0 - 35 * DAY + 90_000,
        }];
        let policy = BucketRetention {
            max_age: Some(Dur::from_secs(30 * 86400)),
            max_size: None,
            event_max_age: Some(Dur::from_secs(60 * 86400)),
        };
        let doomed = plan(&listing, &events, &policy, T0);
        // Days 31..=39 go, except day 35 (event footage); the event object stays.
        let expected: Vec<String> = (31..40)
            .filter(|d| *d != 35)
            .map(|d| seg(&l, "porch", T0 - d * DAY, 10).key)
            .collect();
        let mut expected = expected;
        expected.sort();
        assert_eq!(doomed, expected);
        // Without event_max_age, event footage ages like the rest.
        let policy = BucketRetention {
            event_max_age: None,
            ..policy
        };
        assert_eq!(plan(&listing, &events, &policy, T0).len(), 10);
    }

    #[test]
    fn size_removes_ordinary_footage_first() {
        let l = Layout::new("").unwrap();
        let listing: Vec<Listed> = (0..10)
            .map(|i| seg(&l, "cam", T0 + i * 60_000, 100))
            .collect();
        // Segment 0 (the oldest) is event footage.
        let events = [EventSpan {
            camera: "cam".into(),
            start_ms: T0 + 10,
            end_ms: T0 + 20,
        }];
        let policy = BucketRetention {
            max_age: None,
            max_size: Some(ByteSize(650)),
            event_max_age: None,
        };
        let doomed = plan(&listing, &events, &policy, T0 + DAY);
        let expected: Vec<String> = (1..5).map(|i| listing[i].key.clone()).collect();
        assert_eq!(doomed, expected);
        // Past all ordinary footage, event footage goes too.
        let policy = BucketRetention {
            max_size: Some(ByteSize(0)),
            ..policy
        };
        assert_eq!(plan(&listing, &events, &policy, T0 + DAY).len(), 10);
        // No limits: nothing goes.
        assert!(
            plan(
                &listing,
                &events,
                &BucketRetention::default(),
                T0 + 1000 * DAY
            )
            .is_empty()
        );
    }
}
