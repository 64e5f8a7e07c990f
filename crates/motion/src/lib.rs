//! Motion detection cheap enough for a Pi Zero W: pictures and their timestamps in, motion events out.
//!
//! No I/O, no runtime, no clock: time comes only from the frames'
//! timestamps, so the same frames give the same events, live or in a test.
//!
//! # Feeding it
//!
//! One [`Detector`] per camera, owned by whatever thread already has the
//! pictures:
//!
//! ```
//! use motion::{Detector, FrameRef, Millis, Picture, Settings, Update};
//! let mut detector = Detector::new(Settings::default()).unwrap();
//! let (w, h) = (640u32, 480u32);
//! let yuyv = vec![128u8; (w * h * 2) as usize];
//! for index in 0..50u64 {
//!     let time = Millis(index as i64 * 33); // the frame's capture time, ms
//!     if !detector.due(time) {
//!         continue; // not analysed: no decoding, no work
//!     }
//!     let frame = FrameRef { index, time };
//!     let analysis = detector.analyse(&Picture::yuyv(&yuyv, w, h), frame).unwrap();
//!     if analysis.thumbnail_candidate {
//!         // keep this frame's JPEG as the event's thumbnail so far
//!     }
//!     match analysis.update {
//!         Some(Update::Started { start, .. }) => { /* mark "motion" live */ }
//!         Some(Update::Ended(event)) => { /* store/send the event */ }
//!         None => {}
//!     }
//! }
//! ```
//!
//! - **Rate.** [`Detector::due`] says which frames to analyse:
//!   `analysis_fps` per second (default 5) whatever the capture rate. Five
//!   analysed frames a second place starts and ends to 0.2 s and follow a
//!   person walking; call `due` before decoding anything.
//! - **Agent.** From the capture thread, per frame: `due`, then `analyse`
//!   with the picture the source already has: `Picture::Rgb24` for the test
//!   pattern, `Picture::Yuyv` for a YUYV webcam, `Picture::Jpeg` for an
//!   MJPEG webcam or `rpicam-vid --codec mjpeg` (only its DC coefficients
//!   are read, never a full-size picture), `Picture::Luma` for a Y plane (each decoded
//!   frame of an H.264 source: rpicam while recording, V4L2 H.264). Frames must
//!   come in capture order; timestamps are the source's (wall-clock ms for
//!   the agent's live frames).
//! - **Hub.** On the decoded frames of a camera's low-resolution
//!   sub-stream (e.g. Tapo `stream2`): decode only the frames `due` asks
//!   for where the codec allows (otherwise every frame, analysing the due
//!   ones), pass the decoder's Y plane as `Picture::Luma`, time = the
//!   frame's media time converted to ms on the recording's clock.
//! - **Thumbnails.** The detector keeps no pictures.
//!   `Analysis::thumbnail_candidate` marks the frame that is now the best of
//!   the running event; keep that frame (a JPEG the caller already has)
//!   until the next candidate or the event's end. `Event::thumbnail` names
//!   it by index and time.
//! - **End of stream.** Call [`Detector::finish`] when the source stops so
//!   an open event ends at its last moving frame.
//!
//! # The algorithm
//!
//! 1. **Reduced-scale luma.** Every input becomes the same grid of block
//!    means (8x8 px at 640x480: 80x60 cells; see [`input`]). Averaging 32–64
//!    pixels divides sensor noise by 6–8 before anything else; for JPEG the
//!    block mean is the DC coefficient, read without decoding the rest
//!    (`jpeg_dc`). All later work is on ~5,000 cells, whatever the picture
//!    size.
//! 2. **Brightness normalisation.** Each frame is related to the
//!    background by a global affine map `cur ≈ a·bg + b`, fitted by least
//!    squares over the cells that were not moving and not clipped (twice,
//!    the second time without the cells beyond 3 robust deviations of the
//!    first fit); a ridge term pulls `a` to 1 on flat, textureless
//!    pictures. The whole background is then mapped into the frame's
//!    exposure, so an auto-exposure step, a light switched on, a cloud or
//!    a slow sunrise change `a` and `b`, not the residuals, and cells that
//!    update at different rates never disagree about the exposure.
//!    Clipping is handled as a bound: a background learned at the white
//!    (black) clip only says "at least (most) this", so a brighter
//!    (darker) value there later is no change (a window that a darker
//!    exposure reveals); a cell the map pushes past a clip level takes the
//!    current value.
//! 3. **Noise threshold.** Each cell keeps a running mean absolute residual
//!    (its own noise: a dark corner, a flickering screen, leaves). A cell
//!    changed if `|residual| > max(min_delta, k·noise)`; sensitivity 1..=100
//!    maps to `min_delta` 22.8..3 luma levels and `k` 6..3.
//! 4. **Global change and exposure steps.** If more than half the usable
//!    cells changed even after normalisation, the frame is a global change,
//!    not motion: the background is replaced by the current picture and
//!    the detector settles for 1 s before it reports motion again. At a
//!    smaller exposure step (the map's gain off 1 by 2 % or its offset by
//!    2 levels in one frame: a lamp, an IR switch to night mode), a cell
//!    that was quiet and now disagrees with the map is the map's failure
//!    (a saturating colour channel, a lamp's own pool of light, a gamma
//!    change), not motion, and takes the current value; cells that were
//!    moving keep their prediction, so an event runs on through the step.
//! 5. **Regions.** Isolated changed cells (fewer than 2 changed
//!    neighbours) are dropped; the rest, dilated by one cell, form
//!    8-connected regions. Regions with at least `min_area_percent` of the
//!    picture's cells count; cells in exclusion zones never change.
//! 6. **Background model.** A per-cell exponential average: time constant
//!    5 s for quiet cells, 30 s under motion (so a moving thing does not
//!    smear into the background and end its own event late, and a parked
//!    car becomes background in about a minute). Moving cells are left out
//!    of the fit and of the noise estimate. The first 1 s (and 1 s after a
//!    gap of 30 s or a new picture size) only learns.
//! 7. **Hysteresis.** Starting takes a region of `min_area_percent` for
//!    `min_duration` (gaps up to min(cool-down, 1 s) allowed); once an
//!    event is open, half that area keeps it going, and it ends after
//!    `cooldown` without motion. Its start is the first moving frame, its
//!    end the last; the thumbnail is the frame with the largest moving area.
//!
//! Cost per analysed frame at 640x480 and the detection quality on the
//! scripted scenes of `testpattern::scene` are in BENCHMARKS.md
//! (`cargo run --release -p motion --example cost` and `--example quality`).

pub mod events;
pub mod input;
mod jpeg_dc;
mod model;
pub mod settings;

use serde::{Deserialize, Serialize};

pub use events::{Event, Thumbnail, Update};
pub use input::{Grid, Picture};
pub use settings::{Settings, SettingsError, Zone};

use events::{Timing, Tracker};
use model::{Model, Params, Seen};

/// A frame's time in milliseconds on the caller's clock (the agent: Unix
/// epoch ms of capture; the hub: the stream's media time in ms).
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Millis(pub i64);

/// Which frame: the caller's index (sequence number) and time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct FrameRef {
    pub index: u64,
    pub time: Millis,
}

/// A box in normalized coordinates (0..=1, `x` right, `y` down); `x1`/`y1`
/// exclusive.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Rect {
    pub x0: f32,
    pub y0: f32,
    pub x1: f32,
    pub y1: f32,
}

impl Rect {
    /// The smallest box holding both.
    pub fn union(&self, o: &Rect) -> Rect {
        Rect {
            x0: self.x0.min(o.x0),
            y0: self.y0.min(o.y0),
            x1: self.x1.max(o.x1),
            y1: self.y1.max(o.y1),
        }
    }
}

/// Why a picture could not be analysed. The detector's state is unchanged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error("bad picture: {0}")]
    BadPicture(String),
    #[error("JPEG: {0}")]
    Jpeg(String),
}

/// What the detector was doing with a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Phase {
    /// Learning the background: no motion is reported.
    Learning,
    /// Relearning after a change of the whole picture (`global_change`:
    /// this frame was that change).
    Settling { global_change: bool },
    /// Watching for motion.
    Watching,
}

/// Motion in one frame.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Motion {
    /// Share of the picture in regions that count, 0..=1.
    pub fraction: f32,
    /// Their bounding box.
    pub region: Rect,
}

/// The result of analysing one frame.
#[derive(Debug, Clone, PartialEq)]
pub struct Analysis {
    pub frame: FrameRef,
    pub phase: Phase,
    pub motion: Option<Motion>,
    /// Keep this frame: it is now the best picture of the running (pending
    /// or open) event.
    pub thumbnail_candidate: bool,
    pub update: Option<Update>,
}

/// A gap between analysed frames longer than this makes the background
/// stale: the model learns again.
const MAX_GAP_MS: i64 = 30_000;

/// The motion detector of one camera.
#[derive(Debug)]
pub struct Detector {
    settings: Settings,
    model: Option<Model>,
    tracker: Tracker,
    last_time: Option<Millis>,
    next_due: Option<Millis>,
}

impl Detector {
    /// A detector with validated `settings`.
    pub fn new(settings: Settings) -> Result<Detector, SettingsError> {
        settings.validate()?;
        let zones = settings.zones.iter().map(|z| z.name.clone()).collect();
        Ok(Detector {
            settings,
            model: None,
            tracker: Tracker::new(zones),
            last_time: None,
            next_due: None,
        })
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Analysis period in ms.
    fn period_ms(&self) -> i64 {
        1000 / i64::from(self.settings.analysis_fps.0)
    }

    /// Should the frame captured at `time` be analysed? Keeps to
    /// `analysis_fps` on average (a tenth of a period early counts as on
    /// time, so a 10 fps camera analysed at 5 fps uses every second frame).
    pub fn due(&self, time: Millis) -> bool {
        match (self.next_due, self.last_time) {
            (Some(next), Some(last)) => time < last || time.0 >= next.0 - self.period_ms() / 10,
            _ => true,
        }
    }

    /// Analyse one picture. An undecodable or inconsistent picture is an
    /// error and changes nothing.
    pub fn analyse(&mut self, picture: &Picture<'_>, frame: FrameRef) -> Result<Analysis, Error> {
        let grid = input::reduce(picture)?;
        Ok(self.analyse_grid(&grid, frame))
    }

    /// Analyse a grid made by [`input::reduce`] (for callers that reduce
    /// elsewhere, and for measuring the two halves apart).
    pub fn analyse_grid(&mut self, grid: &Grid, frame: FrameRef) -> Analysis {
        let now = frame.time;
        let mut early_end = None;
        if self.last_time.is_some_and(|last| now < last) {
            // Time went backwards: a new stream. Close what was open.
            early_end = self.tracker.finish();
            self.model = None;
        }
        self.mark_due(now);
        self.last_time = Some(now);

        let fits = self
            .model
            .as_ref()
            .is_some_and(|m| m.dims() == (grid.cols, grid.rows));
        if !fits {
            let (excluded, zone_of) = self.layout(grid.cols, grid.rows);
            self.model = Some(Model::new(grid.cols, grid.rows, excluded, zone_of, now));
        }
        let params = self.params(grid.cols * grid.rows);
        let continuing = self.tracker.is_open();
        let model = self.model.as_mut().expect("model was just made");
        if now.0 - model.last().0 > MAX_GAP_MS {
            model.relearn(now);
        }
        let seen = model.step(&grid.cells, now, &params, continuing);
        let (phase, found) = match seen {
            Seen::Learning => (Phase::Learning, None),
            Seen::Settling { global_change } => (Phase::Settling { global_change }, None),
            Seen::Watching(found) => (Phase::Watching, found),
        };
        let step = self.tracker.step(frame, found.as_ref(), &self.timing());
        Analysis {
            frame,
            phase,
            motion: found.map(|f| Motion {
                fraction: f.fraction,
                region: f.region,
            }),
            thumbnail_candidate: step.thumbnail_candidate,
            update: early_end.map(Update::Ended).or(step.update),
        }
    }

    /// The stream stopped: the open event, if any, ended at its last moving
    /// frame. The next frame starts learning afresh.
    pub fn finish(&mut self) -> Option<Event> {
        self.model = None;
        self.last_time = None;
        self.next_due = None;
        self.tracker.finish()
    }

    fn mark_due(&mut self, now: Millis) {
        let period = self.period_ms();
        self.next_due = Some(match self.next_due {
            Some(next) if now.0 >= next.0 - period / 10 && now.0 - next.0 < period => {
                Millis(next.0 + period)
            }
            _ => Millis(now.0 + period),
        });
    }

    fn params(&self, cells: usize) -> Params {
        let s = f32::from(self.settings.sensitivity.0);
        let start = (self.settings.min_area_fraction() * cells as f32).ceil() as usize;
        Params {
            min_delta: 3.0 + (100.0 - s) * 0.2,
            noise_factor: 3.0 + (100.0 - s) * 0.03,
            min_cells_start: start.max(1),
            min_cells_continue: start.div_ceil(2).max(1),
        }
    }

    fn timing(&self) -> Timing {
        let period = std::time::Duration::from_millis(self.period_ms() as u64);
        Timing {
            min_duration: self.settings.min_duration,
            cooldown: self.settings.cooldown,
            pending_gap: self
                .settings
                .cooldown
                .min(std::time::Duration::from_secs(1).max(period * 3 / 2)),
        }
    }

    /// Which cells never count (centre in an exclusion zone, or, when there
    /// are detection zones, in none of them), and each cell's detection
    /// zone, 1-based (0: none; empty without zones).
    fn layout(&self, cols: usize, rows: usize) -> (Vec<bool>, Vec<u8>) {
        let (exclude, zones) = (&self.settings.exclude, &self.settings.zones);
        let mut excluded = vec![false; cols * rows];
        let mut zone_of = vec![0u8; if zones.is_empty() { 0 } else { cols * rows }];
        if exclude.is_empty() && zones.is_empty() {
            return (excluded, zone_of);
        }
        for y in 0..rows {
            for x in 0..cols {
                let (cx, cy) = (
                    (x as f32 + 0.5) / cols as f32,
                    (y as f32 + 0.5) / rows as f32,
                );
                let i = y * cols + x;
                excluded[i] = exclude.iter().any(|z| z.contains(cx, cy));
                if !zones.is_empty() {
                    // MAX_ZONES (32) numbers fit a byte.
                    let zone = zones.iter().position(|z| z.contains(cx, cy));
                    zone_of[i] = zone.map_or(0, |z| z as u8 + 1);
                    excluded[i] |= zone.is_none();
                }
            }
        }
        (excluded, zone_of)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(index: u64, ms: i64) -> FrameRef {
        FrameRef {
            index,
            time: Millis(ms),
        }
    }

    /// A 160x120 luma picture: a textured background, with a bright
    /// square at `x` when given.
    fn picture(square_x: Option<usize>) -> Vec<u8> {
        let (w, h) = (160, 120);
        let mut p: Vec<u8> = (0..w * h)
            .map(|i| (60 + (i * 7 + i / w * 13) % 90) as u8)
            .collect();
        if let Some(x0) = square_x {
            for y in 40..80 {
                for x in x0..(x0 + 30).min(w) {
                    p[y * w + x] = 250;
                }
            }
        }
        p
    }

    /// `due` keeps to `analysis_fps` whatever the capture rate.
    #[test]
    fn due_keeps_the_analysis_rate() {
        let mut d = Detector::new(Settings::default()).unwrap();
        let still = picture(None);
        let mut analysed = 0;
        // 30 fps for 10 s.
        for i in 0..300u64 {
            let t = (i as f64 * 1000.0 / 30.0) as i64;
            if d.due(Millis(t)) {
                d.analyse(&Picture::luma(&still, 160, 120), frame(i, t))
                    .unwrap();
                analysed += 1;
            }
        }
        assert_eq!(analysed, 50);
    }

    /// An open event is closed when time goes backwards (a new stream) and
    /// by `finish`; a bad picture is an error that changes nothing.
    #[test]
    fn event_closed_by_time_going_back_and_by_finish() {
        let still = picture(None);
        let run = |d: &mut Detector, from: i64| -> Vec<Update> {
            let mut updates = Vec::new();
            for i in 0..40i64 {
                let t = from + i * 200;
                // The square moves from 3 s to 6 s.
                let pic = if (3_000..6_000).contains(&(i * 200)) {
                    picture(Some(((i * 200 - 3_000) / 40) as usize))
                } else {
                    still.clone()
                };
                if let Some(u) = d
                    .analyse(&Picture::luma(&pic, 160, 120), frame(i as u64, t))
                    .unwrap()
                    .update
                {
                    updates.push(u);
                }
                if i * 200 == 5_000 {
                    break;
                }
            }
            updates
        };
        let mut d = Detector::new(Settings::default()).unwrap();
        let ups = run(&mut d, 100_000);
        assert!(
            matches!(
                ups[..],
                [Update::Started {
                    start: Millis(103_000),
                    ..
                }]
            ),
            "{ups:?}"
        );
        assert!(
            d.analyse(&Picture::luma(&still[..10], 160, 120), frame(99, 105_100))
                .is_err()
        );
        // Time jumps back: the open event ends at its last moving frame.
        let a = d
            .analyse(&Picture::luma(&still, 160, 120), frame(0, 50_000))
            .unwrap();
        let Some(Update::Ended(e)) = a.update else {
            panic!("{a:?}");
        };
        assert_eq!((e.start, e.end), (Millis(103_000), Millis(105_000)));
        assert_eq!(a.phase, Phase::Learning);
        // And finish() ends one too.
        let mut d = Detector::new(Settings::default()).unwrap();
        run(&mut d, 0);
        let e = d.finish().expect("open event");
        assert_eq!((e.start, e.end), (Millis(3_000), Millis(5_000)));
        assert_eq!(d.finish(), None);
    }

    fn zone(name: &str, x0: f32, x1: f32) -> Zone {
        Zone {
            name: name.into(),
            points: vec![[x0, 0.0], [x1, 0.0], [x1, 1.0], [x0, 1.0]],
        }
    }

    /// The square moving in the right half for 3 s: the events of a detector
    /// with these zones.
    fn events_with_zones(zones: Vec<Zone>) -> Vec<Update> {
        let settings = Settings {
            zones,
            ..Settings::default()
        };
        let mut d = Detector::new(settings).unwrap();
        let mut updates = Vec::new();
        for i in 0..60i64 {
            let t = i * 200;
            let pic = if (3_000..6_000).contains(&t) {
                picture(Some(85 + ((t - 3_000) / 200) as usize * 3))
            } else {
                picture(None)
            };
            let a = d
                .analyse(&Picture::luma(&pic, 160, 120), frame(i as u64, t))
                .unwrap();
            updates.extend(a.update);
        }
        updates.extend(d.finish().map(Update::Ended));
        updates
    }

    /// An event is named by the detection zone its motion was in; motion
    /// outside every zone is no event. The square is white (at the clip
    /// level), so the event's end also shows that it left no ghost behind.
    #[test]
    fn events_carry_their_detection_zone() {
        let ups = events_with_zones(vec![zone("left", 0.0, 0.5), zone("right", 0.5, 1.0)]);
        let [Update::Started { zone: started, .. }, Update::Ended(e)] = &ups[..] else {
            panic!("{ups:?}");
        };
        assert_eq!(started.as_deref(), Some("right"));
        assert_eq!(e.zone.as_deref(), Some("right"));
        assert_eq!((e.start, e.end), (Millis(3_000), Millis(5_800)));
        // A zone on the left only: the motion on the right does not count.
        assert_eq!(events_with_zones(vec![zone("left", 0.0, 0.5)]), vec![]);
        // No zones: the event is unnamed.
        let ups = events_with_zones(vec![]);
        let [Update::Started { zone: None, .. }, Update::Ended(e)] = &ups[..] else {
            panic!("{ups:?}");
        };
        assert_eq!(e.zone, None);
    }
}
