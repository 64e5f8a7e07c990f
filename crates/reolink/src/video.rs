//! BcMedia video frames → [`media::VideoEvent`]s, pure: the track from the first key frame's
//! parameter sets (H.264 SPS/PPS, or H.265 VPS/SPS/PPS as an `hvcC`), Annex B → length
//! prefixed samples, and the camera's free-running u32 microsecond clock → a monotonic
//! 90 kHz dts that survives wrap-around, jumps and reconnects.

use std::time::Duration;

use baichuan::media::{FrameKind, VideoCodec, VideoFrame};
use media::{Frame, Time90k, TrackConfig, VideoEvent};

use media::h265;

/// A timestamp step above this is a discontinuity (camera clock jump), not real time.
pub const MAX_FRAME_STEP_US: u32 = 5_000_000;
/// Step assumed for a discontinuity before any real step was seen (15 fps).
pub const DEFAULT_FRAME_STEP_US: u32 = 66_667;

/// Microseconds (u32, wrapping) → 90 kHz dts, strictly increasing over the whole source.
#[derive(Debug, Clone)]
pub struct DtsClock {
    last_us: Option<u32>,
    /// Microseconds since the start of the current run.
    run_us: u64,
    /// dts of the start of the current run.
    run_base: i64,
    last_dts: Option<i64>,
    step_us: u32,
    discontinuities: u64,
}

impl Default for DtsClock {
    fn default() -> Self {
        DtsClock {
            last_us: None,
            run_us: 0,
            run_base: 0,
            last_dts: None,
            step_us: DEFAULT_FRAME_STEP_US,
            discontinuities: 0,
        }
    }
}

impl DtsClock {
    /// The dts of a frame stamped `us`.
    pub fn dts(&mut self, us: u32) -> Time90k {
        if let Some(prev) = self.last_us {
            let step = us.wrapping_sub(prev); // wrap-around gives the right small step
            let step = if step > MAX_FRAME_STEP_US {
                self.discontinuities += 1;
                self.step_us
            } else {
                if step > 0 {
                    self.step_us = step;
                }
                step
            };
            self.run_us += u64::from(step);
        }
        self.last_us = Some(us);
        let mut dts = self.run_base + (self.run_us * 9 / 100) as i64;
        if let Some(last) = self.last_dts
            && dts <= last
        {
            dts = last + 1;
        }
        self.last_dts = Some(dts);
        Time90k(dts)
    }

    /// A new run (reconnect): the next frame continues `wall_gap` after the last one.
    pub fn restart(&mut self, wall_gap: Duration) {
        self.last_us = None;
        self.run_us = 0;
        let gap = media::Duration90k::from_std(wall_gap).0.max(1);
        self.run_base = self.last_dts.map_or(0, |d| d.saturating_add(gap));
    }

    /// Timestamp jumps seen (each treated as one nominal frame step).
    pub fn discontinuities(&self) -> u64 {
        self.discontinuities
    }
}

/// Why a frame was not turned into an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Skip {
    /// No key frame with parameter sets yet.
    WaitingForKeyFrame,
    /// The key frame's parameter sets did not make a track (logged once by the caller).
    BadParameters(String),
    /// The frame data did not convert.
    BadFrame(String),
}

/// The per-source converter. Call [`Converter::new_run`] on every reconnect.
#[derive(Debug, Default)]
pub struct Converter {
    track: Option<TrackConfig>,
    announced: bool,
    /// Data was lost mid-stream: skip until the next key frame.
    lost: bool,
    clock: DtsClock,
}

impl Converter {
    /// A converter for a fresh source.
    pub fn new() -> Self {
        Self::default()
    }

    /// A new connection: the track is announced again and the next frame must be a key frame.
    pub fn new_run(&mut self, wall_gap: Duration) {
        self.announced = false;
        self.track = None;
        self.clock.restart(wall_gap);
    }

    /// Media data was lost (the stream resynchronised past garbage): frames
    /// are skipped until the next key frame, so nothing refers to a lost picture.
    pub fn lost_data(&mut self) {
        self.lost = true;
    }

    /// The current track.
    pub fn track(&self) -> Option<&TrackConfig> {
        self.track.as_ref()
    }

    /// Converts one frame; `out` receives a `Track` (first key frame or a change) and the
    /// `Frame`.
    pub fn push(&mut self, v: &VideoFrame, out: &mut Vec<VideoEvent>) -> Result<(), Skip> {
        if v.kind == FrameKind::I {
            match track_of(v) {
                Ok(Some(t)) => {
                    if self.track.as_ref() != Some(&t) || !self.announced {
                        out.push(VideoEvent::Track(t.clone()));
                        self.track = Some(t);
                        self.announced = true;
                    }
                }
                Ok(None) => {}
                Err(e) => return Err(Skip::BadParameters(e)),
            }
        }
        if !self.announced {
            return Err(Skip::WaitingForKeyFrame);
        }
        if self.lost {
            if v.kind != FrameKind::I {
                return Err(Skip::WaitingForKeyFrame);
            }
            self.lost = false;
        }
        let (data, is_key) = match v.codec {
            VideoCodec::H264 => {
                let data = media::h264::annexb_to_avcc(&v.data)
                    .map_err(|e| Skip::BadFrame(e.to_string()))?;
                let key = v.kind == FrameKind::I
                    || media::h264::nal_units(&v.data)
                        .any(|n| n.first().is_some_and(|b| b & 0x1f == 5));
                (data, key)
            }
            VideoCodec::H265 => {
                let (data, irap) =
                    h265::annexb_to_sample(&v.data).map_err(|e| Skip::BadFrame(e.to_string()))?;
                (data, irap || v.kind == FrameKind::I)
            }
        };
        if data.is_empty() {
            return Err(Skip::BadFrame("no picture NAL units".into()));
        }
        let dts = self.clock.dts(v.microseconds);
        out.push(VideoEvent::Frame(Frame {
            data: data.into(),
            dts,
            pts: dts,
            is_key,
        }));
        Ok(())
    }
}

/// The track of a key frame; `Ok(None)` if it carries no (complete) parameter sets.
fn track_of(v: &VideoFrame) -> Result<Option<TrackConfig>, String> {
    match v.codec {
        VideoCodec::H264 => {
            let mut sps = None;
            let mut pps = None;
            for nal in media::h264::nal_units(&v.data) {
                match nal.first().map(|b| b & 0x1f) {
                    Some(7) if sps.is_none() => sps = Some(nal),
                    Some(8) if pps.is_none() => pps = Some(nal),
                    _ => {}
                }
            }
            match (sps, pps) {
                (Some(s), Some(p)) => TrackConfig::h264(s, p).map(Some).map_err(|e| e.to_string()),
                _ => Ok(None),
            }
        }
        VideoCodec::H265 => {
            let Some((vps, sps, pps)) = h265::parameter_sets(&v.data) else {
                return Ok(None);
            };
            h265::track(&vps, &sps, &pps)
                .map(Some)
                .map_err(|e| e.to_string())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clock_wraps_and_stays_monotonic() {
        let mut c = DtsClock::default();
        let start = u32::MAX - 100_000;
        let mut last = None;
        let mut us = start;
        for _ in 0..10 {
            let d = c.dts(us);
            if let Some(l) = last {
                assert_eq!(d.0 - l, 6000, "66.666 ms steps → 6000 ticks (±1)");
            }
            last = Some(d.0);
            us = us.wrapping_add(66_667);
        }
        assert_eq!(c.discontinuities(), 0);
        // A jump back in time: one nominal step, never backwards.
        let d = c.dts(us.wrapping_sub(10_000_000));
        assert!(d.0 > last.unwrap());
        assert_eq!(c.discontinuities(), 1);
        // Same timestamp twice: still strictly increasing.
        let a = c.dts(5);
        let b = c.dts(5);
        assert!(b > a);
    }

    #[test]
    fn clock_restart_continues_after_gap() {
        let mut c = DtsClock::default();
        c.dts(1000);
        let d1 = c.dts(101_000);
        c.restart(Duration::from_secs(2));
        let d2 = c.dts(7); // a rebooted camera's clock starts anywhere
        assert_eq!(d2.0 - d1.0, 180_000);
        let d3 = c.dts(100_007);
        assert_eq!(d3.0 - d2.0, 9000);
    }
}
