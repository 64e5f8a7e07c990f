//! The scripted clips (`tests/clips.toml`): loading, running a detector over them per input kind, scoring events against the script.
//!
//! Shared by the tests and the `quality` example.

#![allow(dead_code)]

use motion::{Detector, Event, FrameRef, Millis, Phase, Picture, Settings, Update};
use serde::Deserialize;
use testpattern::scene::Scene;

/// The clip file, compiled in.
pub const CLIPS_TOML: &str = include_str!("../clips.toml");

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct ClipFile {
    clip: Vec<Clip>,
}

/// One scripted clip.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Clip {
    pub name: String,
    pub about: String,
    pub scene: Scene,
    #[serde(default)]
    pub settings: Settings,
    pub expect: Vec<Expected>,
}

/// An event the script implies, in scene seconds.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expected {
    pub start_s: f64,
    pub end_s: f64,
}

/// Every clip in the file.
pub fn clips() -> Vec<Clip> {
    let file: ClipFile = toml::from_str(CLIPS_TOML).expect("tests/clips.toml parses");
    file.clip
}

/// The clip called `name`.
pub fn clip(name: &str) -> Clip {
    clips()
        .into_iter()
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("no clip {name:?} in clips.toml"))
}

/// The picture formats a capture path hands the detector.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Packed RGB (the test pattern).
    Rgb,
    /// YUYV (a webcam).
    Yuyv,
    /// JPEG at quality 80 (an MJPEG webcam), decoded at reduced scale.
    Jpeg,
    /// The Y plane of I420 (a decoded H.264 sub-stream).
    Luma,
}

impl Kind {
    pub const ALL: [Kind; 4] = [Kind::Rgb, Kind::Yuyv, Kind::Jpeg, Kind::Luma];

    pub fn name(self) -> &'static str {
        match self {
            Kind::Rgb => "rgb",
            Kind::Yuyv => "yuyv",
            Kind::Jpeg => "jpeg",
            Kind::Luma => "luma",
        }
    }
}

/// What one detector did over a clip.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    pub events: Vec<Event>,
    /// `Started` updates seen (each must be followed by its `Ended`).
    pub started: usize,
    pub analysed: u64,
    pub watching: u64,
    pub global_changes: u64,
}

/// Run one detector per kind over `clip`, rendering each due frame once.
pub fn run(clip: &Clip, kinds: &[Kind]) -> Vec<Outcome> {
    let renderer = clip.scene.renderer();
    let mut detectors: Vec<Detector> = kinds
        .iter()
        .map(|_| Detector::new(clip.settings.clone()).expect("clip settings are valid"))
        .collect();
    let mut out = vec![Outcome::default(); kinds.len()];
    for index in 0..clip.scene.frame_count() {
        let time = Millis(clip.scene.frame_millis(index) as i64);
        if !detectors.iter().any(|d| d.due(time)) {
            continue;
        }
        let image = renderer.render(index, time.0 as u64);
        let (w, h) = (image.width, image.height);
        for ((kind, det), o) in kinds.iter().zip(&mut detectors).zip(&mut out) {
            if !det.due(time) {
                continue;
            }
            let frame = FrameRef { index, time };
            let analysis = match kind {
                Kind::Rgb => det.analyse(&Picture::rgb24(&image.rgb, w, h), frame),
                Kind::Yuyv => det.analyse(&Picture::yuyv(&image.to_yuyv(), w, h), frame),
                Kind::Jpeg => {
                    let jpeg = testpattern::encode_jpeg(&image, 80);
                    det.analyse(&Picture::Jpeg(&jpeg), frame)
                }
                Kind::Luma => {
                    let i420 = image.to_i420();
                    det.analyse(&Picture::luma(&i420[..(w * h) as usize], w, h), frame)
                }
            }
            .expect("rendered pictures are valid");
            o.analysed += 1;
            match analysis.phase {
                Phase::Watching => o.watching += 1,
                Phase::Settling {
                    global_change: true,
                } => o.global_changes += 1,
                _ => {}
            }
            match analysis.update {
                Some(Update::Started { .. }) => o.started += 1,
                Some(Update::Ended(e)) => o.events.push(e),
                None => {}
            }
        }
    }
    for (det, o) in detectors.iter_mut().zip(&mut out) {
        o.events.extend(det.finish());
    }
    out
}

/// Seconds of a detector time (clips start at 0 ms).
pub fn secs(t: Millis) -> f64 {
    t.0 as f64 / 1000.0
}

/// Start and end hits of detected events against the script, one to one,
/// within `tol_s`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Tally {
    pub expected: usize,
    pub detected: usize,
    pub start_hits: usize,
    pub end_hits: usize,
}

impl Tally {
    pub fn add(&mut self, o: &Tally) {
        self.expected += o.expected;
        self.detected += o.detected;
        self.start_hits += o.start_hits;
        self.end_hits += o.end_hits;
    }
}

pub fn tally(expected: &[Expected], got: &[Event], tol_s: f64) -> Tally {
    let hits = |exp: &dyn Fn(&Expected) -> f64, det: &dyn Fn(&Event) -> f64| {
        let mut used = vec![false; got.len()];
        let mut n = 0;
        for e in expected {
            if let Some(j) =
                (0..got.len()).find(|&j| !used[j] && (det(&got[j]) - exp(e)).abs() <= tol_s)
            {
                used[j] = true;
                n += 1;
            }
        }
        n
    };
    Tally {
        expected: expected.len(),
        detected: got.len(),
        start_hits: hits(&|e| e.start_s, &|g| secs(g.start)),
        end_hits: hits(&|e| e.end_s, &|g| secs(g.end)),
    }
}

/// The events the objects' paths imply: frames where the objects' visible
/// area outside the exclusion zones reaches the minimum area, merged over
/// gaps shorter than the cool-down, runs shorter than the minimum duration
/// dropped.
pub fn implied_by_paths(clip: &Clip) -> Vec<Expected> {
    let s = &clip.scene;
    let min_area = f64::from(clip.settings.min_area_fraction());
    let dt = 1.0 / f64::from(s.fps);
    let mut runs: Vec<(f64, f64)> = Vec::new();
    let n = (s.duration_s / dt) as usize;
    for i in 0..=n {
        let t = i as f64 * dt;
        let mut area = 0.0;
        for obj in &s.objects {
            let Some((cx, cy)) = obj.centre_at(t) else {
                continue;
            };
            const STEPS: usize = 40;
            let (w, h) = (f64::from(obj.size[0]), f64::from(obj.size[1]));
            let mut inside = 0;
            for a in 0..STEPS {
                for b in 0..STEPS {
                    let x = cx - w / 2.0 + (a as f64 + 0.5) * w / STEPS as f64;
                    let y = cy - h / 2.0 + (b as f64 + 0.5) * h / STEPS as f64;
                    let visible = (0.0..1.0).contains(&x)
                        && (0.0..1.0).contains(&y)
                        && obj.covers(cx, cy, x, y)
                        && !clip
                            .settings
                            .exclude
                            .iter()
                            .any(|z| z.contains(x as f32, y as f32));
                    inside += usize::from(visible);
                }
            }
            area += inside as f64 / (STEPS * STEPS) as f64 * w * h;
        }
        if area >= min_area {
            match runs.last_mut() {
                Some(r) if t - r.1 < clip.settings.cooldown.as_secs_f64() => r.1 = t,
                _ => runs.push((t, t)),
            }
        }
    }
    runs.into_iter()
        .filter(|r| r.1 - r.0 >= clip.settings.min_duration.as_secs_f64() - 1e-9)
        .map(|(start_s, end_s)| Expected { start_s, end_s })
        .collect()
}
