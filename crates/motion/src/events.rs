//! From per-frame motion to events: minimum duration, cool-down, thumbnail choice.
//!
//! States: idle → pending (motion seen, not yet `min_duration` long) →
//! active (an event: [`Update::Started`] was sent) → idle again after
//! `cooldown` without motion ([`Update::Ended`]). A pending run that
//! stops for longer than its gap tolerance is dropped without a trace.

use std::time::Duration;

use serde::Serialize;

use crate::model::Found;
use crate::{FrameRef, Millis, Rect};

/// One motion event.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Event {
    /// Time of the first analysed frame with motion.
    pub start: Millis,
    /// Time of the last analysed frame with motion (the cool-down after it
    /// is not part of the event).
    pub end: Millis,
    /// Peak share of the picture in motion in any one frame, 0..=1.
    pub score: f32,
    /// Everything that moved during the event, as one bounding box
    /// (normalized 0..1).
    pub region: Rect,
    /// Analysed frames that had motion.
    pub moving_frames: u32,
    /// The frame with the most motion: the one to show.
    pub thumbnail: Thumbnail,
    /// The detection zone where most of the motion was (moving cells
    /// summed over the event's analysed frames); `None` when the camera
    /// has no zones.
    pub zone: Option<String>,
}

/// The frame an event is best shown by.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Thumbnail {
    pub frame: FrameRef,
    /// Share of the picture in motion in that frame.
    pub score: f32,
    /// What moved in that frame (normalized).
    pub region: Rect,
}

/// A change of event state.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum Update {
    /// Motion lasted `min_duration`: an event is open since `start` (the
    /// first moving frame); `frame` is the frame that confirmed it; `zone`
    /// the detection zone where most of its motion was so far.
    Started {
        start: Millis,
        frame: FrameRef,
        zone: Option<String>,
    },
    /// The event is over (`cooldown` passed without motion, or the stream
    /// ended).
    Ended(Event),
}

#[derive(Debug, Clone)]
struct Open {
    start: Millis,
    last_motion: Millis,
    moving_frames: u32,
    score: f32,
    region: Rect,
    thumbnail: Thumbnail,
    /// Moving cells per detection zone, summed over the frames.
    by_zone: Vec<u64>,
}

impl Open {
    fn new(frame: FrameRef, found: &Found) -> Open {
        let thumbnail = Thumbnail {
            frame,
            score: found.fraction,
            region: found.region,
        };
        Open {
            start: frame.time,
            last_motion: frame.time,
            moving_frames: 1,
            score: found.fraction,
            region: found.region,
            thumbnail,
            by_zone: found.by_zone.iter().map(|&n| u64::from(n)).collect(),
        }
    }

    /// Add a moving frame; true if it is the new best thumbnail.
    fn add(&mut self, frame: FrameRef, found: &Found) -> bool {
        self.last_motion = frame.time;
        self.moving_frames += 1;
        self.score = self.score.max(found.fraction);
        self.region = self.region.union(&found.region);
        for (sum, &n) in self.by_zone.iter_mut().zip(&found.by_zone) {
            *sum += u64::from(n);
        }
        if found.fraction > self.thumbnail.score {
            self.thumbnail = Thumbnail {
                frame,
                score: found.fraction,
                region: found.region,
            };
            true
        } else {
            false
        }
    }

    /// The zone with the most moving cells so far (the first listed of equals).
    fn zone(&self, names: &[String]) -> Option<String> {
        let (mut best, mut most) = (None, 0);
        for (i, &n) in self.by_zone.iter().enumerate() {
            if n > most {
                (best, most) = (Some(i), n);
            }
        }
        best.and_then(|i| names.get(i)).cloned()
    }

    fn event(&self, names: &[String]) -> Event {
        Event {
            start: self.start,
            end: self.last_motion,
            score: self.score,
            region: self.region,
            moving_frames: self.moving_frames,
            thumbnail: self.thumbnail,
            zone: self.zone(names),
        }
    }
}

#[derive(Debug, Clone, Default)]
enum State {
    #[default]
    Idle,
    Pending(Open),
    Active(Open),
}

/// The event state machine of one camera.
#[derive(Debug, Clone, Default)]
pub struct Tracker {
    state: State,
    /// The detection zones' names, in the order of the model's zone numbers.
    zones: Vec<String>,
}

/// What one frame did to the events.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Step {
    pub update: Option<Update>,
    /// This frame is now the best thumbnail of the pending or open event:
    /// a caller that wants thumbnails keeps it (and may drop the previous
    /// candidate).
    pub thumbnail_candidate: bool,
}

/// Timing the tracker needs from the settings.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    pub min_duration: Duration,
    pub cooldown: Duration,
    /// Longest gap a pending run survives.
    pub pending_gap: Duration,
}

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

impl Tracker {
    /// A tracker naming events by `zones` (the detection zones, in order).
    pub fn new(zones: Vec<String>) -> Tracker {
        Tracker {
            state: State::Idle,
            zones,
        }
    }

    /// True while an event is open (the model uses the lower, continuing
    /// area threshold then).
    pub fn is_open(&self) -> bool {
        matches!(self.state, State::Active(_))
    }

    /// Feed one analysed frame: `found` is its motion, `None` for none or
    /// unknown (learning, settling).
    pub fn step(&mut self, frame: FrameRef, found: Option<&Found>, t: &Timing) -> Step {
        let now = frame.time;
        let mut out = Step::default();
        self.state = match std::mem::take(&mut self.state) {
            State::Idle => match found {
                Some(f) => {
                    out.thumbnail_candidate = true;
                    let open = Open::new(frame, f);
                    self.confirm(open, frame, t, &mut out)
                }
                None => State::Idle,
            },
            State::Pending(mut open) => match found {
                Some(f) => {
                    out.thumbnail_candidate = open.add(frame, f);
                    self.confirm(open, frame, t, &mut out)
                }
                None if now.0 - open.last_motion.0 > ms(t.pending_gap) => State::Idle,
                None => State::Pending(open),
            },
            State::Active(mut open) => match found {
                Some(f) => {
                    out.thumbnail_candidate = open.add(frame, f);
                    State::Active(open)
                }
                None if now.0 - open.last_motion.0 >= ms(t.cooldown) => {
                    out.update = Some(Update::Ended(open.event(&self.zones)));
                    State::Idle
                }
                None => State::Active(open),
            },
        };
        out
    }

    fn confirm(&self, open: Open, frame: FrameRef, t: &Timing, out: &mut Step) -> State {
        if open.last_motion.0 - open.start.0 >= ms(t.min_duration) {
            out.update = Some(Update::Started {
                start: open.start,
                frame,
                zone: open.zone(&self.zones),
            });
            State::Active(open)
        } else {
            State::Pending(open)
        }
    }

    /// The stream ended (or jumped back in time): close an open event at
    /// its last moving frame; forget a pending run.
    pub fn finish(&mut self) -> Option<Event> {
        match std::mem::take(&mut self.state) {
            State::Active(open) => Some(open.event(&self.zones)),
            _ => None,
        }
    }
}
