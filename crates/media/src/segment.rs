//! Cutting a frame stream into self-contained fMP4 segment files (e.g. one per minute).
//!
//! Every file's media time starts at 0: a segment's samples are written with their decode
//! times minus the segment's first dts, so a player shows each file from 0 to its own
//! length however long the stream has been running. Where a file lies on the stream's
//! timeline ([`SegmentEvent::Start`]'s `start`) is for the caller to map to wall-clock time
//! (file name, index).
//!
//! [`Segmenter`] holds back one frame so that every sample's duration is the gap to the next
//! frame's dts; a segment ends just before the first key frame at which it has reached its
//! target length, and that key frame starts the next one. So no frame is dropped or repeated
//! at a boundary, and each segment's last sample ends exactly where the next segment starts.
//! Frames before the stream's first key frame cannot be decoded and are skipped (counted).

use bytes::Bytes;

use crate::Error;
use crate::codec::TrackConfig;
use crate::fmp4::{Fragment, FragmentPolicy, Fragmenter, MAX_FRAGMENT_BYTES, Sample, init_segment};
use crate::h264::AccessUnit;
use crate::time::{Duration90k, Time90k};

/// One coded frame as it comes from the encoder or camera.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    /// Length-prefixed (AVCC) NAL units, see [`crate::h264::AccessUnit::to_avcc`].
    pub data: Bytes,
    /// Decode time; must strictly increase.
    pub dts: Time90k,
    /// Presentation time (equal to `dts` without B-frames).
    pub pts: Time90k,
    pub is_key: bool,
}

impl Frame {
    /// A frame from an H.264 access unit (converted to AVCC, parameter sets dropped), with
    /// `pts == dts` (no B-frames, as from the Pi's encoders).
    pub fn from_access_unit(au: &AccessUnit, dts: Time90k) -> Result<Frame, Error> {
        Ok(Frame {
            data: au.to_avcc()?.into(),
            dts,
            pts: dts,
            is_key: au.is_key,
        })
    }
}

/// How the [`Segmenter`] cuts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SegmenterConfig {
    /// A segment ends at the first key frame at or after this length. Default 60 s.
    pub target_duration: Duration90k,
    /// Fragmenting inside a segment. Default: one fragment per GOP, at most 10 s.
    pub fragments: FragmentPolicy,
    /// Duration of the stream's last frame when it is also its first (otherwise the last
    /// frame repeats the previous frame's duration). Default 1/30 s.
    pub lone_frame_duration: Duration90k,
}

impl Default for SegmenterConfig {
    fn default() -> Self {
        SegmenterConfig {
            target_duration: Duration90k::from_secs(60),
            fragments: FragmentPolicy::default(),
            lone_frame_duration: Duration90k(3000),
        }
    }
}

/// What the caller should do with its files.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SegmentEvent {
    /// Open a new segment file and write `init` to it.
    Start {
        index: u64,
        /// The first frame's dts on the stream's timeline (the file's media time 0).
        start: Time90k,
        init: Vec<u8>,
    },
    /// Append `fragment.bytes` to the current segment file.
    Fragment(Fragment),
    /// The current segment file is complete (fsync it, rename it, index it).
    End(SegmentSummary),
}

/// Totals of one finished segment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SegmentSummary {
    /// 0 for the first segment of this segmenter.
    pub index: u64,
    /// dts of the first frame on the stream's timeline (in the file it is 0).
    pub start: Time90k,
    /// Sum of sample durations: the next segment (if any) starts at `start + duration`.
    pub duration: Duration90k,
    pub frames: u64,
    pub key_frames: u64,
    pub fragments: u32,
    /// File length: init segment plus fragments.
    pub file_bytes: u64,
    /// Sum of sample sizes.
    pub media_bytes: u64,
}

#[derive(Debug)]
struct Current {
    fragmenter: Fragmenter,
    summary: SegmentSummary,
}

/// Turns [`Frame`]s into [`SegmentEvent`]s. Pure: no files, no clock.
#[derive(Debug)]
pub struct Segmenter {
    cfg: SegmenterConfig,
    track: TrackConfig,
    /// A new configuration to switch to at the next key frame.
    next_track: Option<TrackConfig>,
    held: Option<Frame>,
    last_duration: Option<Duration90k>,
    cur: Option<Current>,
    next_index: u64,
    skipped: u64,
}

impl Segmenter {
    pub fn new(track: TrackConfig, cfg: SegmenterConfig) -> Segmenter {
        Segmenter {
            cfg,
            track,
            next_track: None,
            held: None,
            last_duration: None,
            cur: None,
            next_index: 0,
            skipped: 0,
        }
    }

    /// Changes the codec configuration (new SPS/PPS, resolution): the next key frame ends the
    /// current segment regardless of its length and starts one with `track`.
    pub fn set_track(&mut self, track: TrackConfig) {
        if track != self.track {
            self.next_track = Some(track);
        } else {
            self.next_track = None;
        }
    }

    /// The configuration new segments start with.
    pub fn track(&self) -> &TrackConfig {
        self.next_track.as_ref().unwrap_or(&self.track)
    }

    /// Frames dropped because no key frame had been seen yet.
    pub fn skipped_frames(&self) -> u64 {
        self.skipped
    }

    /// Feeds one frame, appending resulting events to `out`.
    ///
    /// A frame the file cannot hold is rejected and nothing changes: a dts that does not
    /// increase ([`Error::NonMonotonicDts`]; call [`finish`](Self::finish) and start over if
    /// the source restarted its clock), a negative dts, a gap or composition offset beyond
    /// 32 bits ([`Error::InvalidTiming`]), or data over the fragment size limit
    /// ([`Error::TooLong`]).
    pub fn push(&mut self, frame: Frame, out: &mut Vec<SegmentEvent>) -> Result<(), Error> {
        self.check(&frame)?;
        if let Some(prev) = self.held.take() {
            let duration = frame.dts - prev.dts;
            self.held = Some(frame);
            self.release(prev, duration, out)?;
            self.last_duration = Some(duration);
        } else {
            self.held = Some(frame);
        }
        Ok(())
    }

    /// Ends the stream: the held frame gets the previous frame's duration, the current
    /// segment is closed. The segmenter can be reused afterwards (indexes keep counting).
    pub fn finish(&mut self, out: &mut Vec<SegmentEvent>) -> Result<(), Error> {
        if let Some(last) = self.held.take() {
            let d = self.last_duration.unwrap_or(self.cfg.lone_frame_duration);
            self.release(last, d, out)?;
        }
        self.last_duration = None;
        self.end_segment(out)
    }

    fn check(&self, frame: &Frame) -> Result<(), Error> {
        let max = self.cfg.fragments.max_bytes.clamp(1, MAX_FRAGMENT_BYTES);
        if frame.data.len() > max {
            return Err(Error::TooLong {
                what: "frame",
                len: frame.data.len(),
                max,
            });
        }
        if frame.dts.0 < 0 {
            return Err(Error::InvalidTiming(format!("negative dts {}", frame.dts)));
        }
        if i32::try_from(frame.pts.0.saturating_sub(frame.dts.0)).is_err() {
            return Err(Error::InvalidTiming(
                "composition offset over 2^31 ticks".into(),
            ));
        }
        if let Some(prev) = &self.held {
            if frame.dts <= prev.dts {
                return Err(Error::NonMonotonicDts {
                    prev: prev.dts,
                    next: frame.dts,
                });
            }
            let gap = frame.dts - prev.dts;
            if gap.0 > i64::from(u32::MAX) {
                return Err(Error::InvalidTiming(format!("gap of {gap}")));
            }
        }
        Ok(())
    }

    fn release(
        &mut self,
        f: Frame,
        duration: Duration90k,
        out: &mut Vec<SegmentEvent>,
    ) -> Result<(), Error> {
        let cut = match &self.cur {
            None => true,
            Some(c) => {
                f.is_key
                    && (self.next_track.is_some()
                        || f.dts - c.summary.start >= self.cfg.target_duration)
            }
        };
        if cut {
            if !f.is_key {
                self.skipped += 1;
                return Ok(());
            }
            self.end_segment(out)?;
            if let Some(t) = self.next_track.take() {
                self.track = t;
            }
            let init = init_segment(&self.track)?;
            let index = self.next_index;
            self.next_index += 1;
            self.cur = Some(Current {
                fragmenter: Fragmenter::new(self.cfg.fragments),
                summary: SegmentSummary {
                    index,
                    start: f.dts,
                    duration: Duration90k::ZERO,
                    frames: 0,
                    key_frames: 0,
                    fragments: 0,
                    file_bytes: init.len() as u64,
                    media_bytes: 0,
                },
            });
            out.push(SegmentEvent::Start {
                index,
                start: f.dts,
                init,
            });
        }
        let Some(cur) = self.cur.as_mut() else {
            return Ok(());
        };
        let is_key = f.is_key;
        // Rebased to the segment's first frame: the file's media time starts at 0.
        let origin = cur.summary.start;
        let sample = Sample {
            data: f.data,
            dts: Time90k(f.dts.0 - origin.0),
            pts: Time90k(f.pts.0 - origin.0),
            duration,
            is_key,
        };
        let done = cur.fragmenter.push(sample)?;
        let s = &mut cur.summary;
        s.frames += 1;
        s.key_frames += u64::from(is_key);
        s.duration += duration;
        if let Some(frag) = done {
            emit(s, frag, out);
        }
        Ok(())
    }

    fn end_segment(&mut self, out: &mut Vec<SegmentEvent>) -> Result<(), Error> {
        if let Some(mut cur) = self.cur.take() {
            if let Some(frag) = cur.fragmenter.flush()? {
                emit(&mut cur.summary, frag, out);
            }
            out.push(SegmentEvent::End(cur.summary));
        }
        Ok(())
    }
}

fn emit(s: &mut SegmentSummary, frag: Fragment, out: &mut Vec<SegmentEvent>) {
    s.fragments += 1;
    s.file_bytes += frag.len() as u64;
    s.media_bytes += frag.media_bytes as u64;
    out.push(SegmentEvent::Fragment(frag));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::h264::tests_support::{PPS, PPS_HIGH, SPS_640X360, SPS_HIGH_1080P};

    fn frame(i: i64, key_every: i64) -> Frame {
        Frame {
            data: Bytes::from(vec![0, 0, 0, 2, 0x41, i as u8]),
            dts: Time90k(i * 6000),
            pts: Time90k(i * 6000),
            is_key: i % key_every == 0,
        }
    }

    /// Runs frames `first..n` through a segmenter with a 1 s target; returns the summaries.
    fn run(first: i64, n: i64, key_every: i64) -> (Vec<SegmentSummary>, Vec<SegmentEvent>) {
        let track = TrackConfig::h264(SPS_640X360, PPS).unwrap();
        let mut s = Segmenter::new(
            track,
            SegmenterConfig {
                target_duration: Duration90k::from_secs(1),
                ..Default::default()
            },
        );
        let mut events = Vec::new();
        for i in first..n {
            s.push(frame(i, key_every), &mut events).unwrap();
        }
        s.finish(&mut events).unwrap();
        let sums = events
            .iter()
            .filter_map(|e| match e {
                SegmentEvent::End(s) => Some(s.clone()),
                _ => None,
            })
            .collect();
        (sums, events)
    }

    #[test]
    fn cuts_at_first_key_frame_after_target() {
        // 15 fps, key frame every 6 frames (0.4 s), target 1 s: cuts at frames 18, 36.
        let (sums, _) = run(0, 40, 6);
        let frames: Vec<u64> = sums.iter().map(|s| s.frames).collect();
        assert_eq!(frames, vec![18, 18, 4]);
        assert_eq!(sums[1].start, Time90k(18 * 6000));
        assert_eq!(sums[0].start + sums[0].duration, sums[1].start);
        // The last frame repeats the previous duration.
        assert_eq!(sums[2].duration, Duration90k(4 * 6000));
        assert_eq!(sums.iter().map(|s| s.key_frames).sum::<u64>(), 7);
        assert_eq!(sums[0].fragments, 3);
    }

    #[test]
    fn every_file_starts_at_media_time_zero() {
        // Frames from t=100 s on (a stream that has been running): three segments, each a
        // file whose media time runs from 0 to its own length.
        let (sums, events) = run(1000, 1040, 6);
        assert_eq!(sums.len(), 3);
        assert_eq!(sums[1].start, Time90k(1020 * 6000), "stream time kept");
        let mut files: Vec<Vec<u8>> = Vec::new();
        let mut frag_starts: Vec<Vec<Time90k>> = Vec::new();
        for e in &events {
            match e {
                SegmentEvent::Start { init, .. } => {
                    files.push(init.clone());
                    frag_starts.push(Vec::new());
                }
                SegmentEvent::Fragment(f) => {
                    f.append_to(files.last_mut().unwrap());
                    frag_starts.last_mut().unwrap().push(f.start);
                }
                SegmentEvent::End(_) => {}
            }
        }
        // 1002 is the first key frame (every 6th): segments of 18, 18 and 2 frames.
        assert_eq!(
            frag_starts,
            vec![
                vec![Time90k(0), Time90k(36_000), Time90k(72_000)],
                vec![Time90k(0), Time90k(36_000), Time90k(72_000)],
                vec![Time90k(0)],
            ]
        );
        for (file, sum) in files.iter().zip(&sums) {
            let r = crate::recover(file).unwrap();
            assert_eq!(r.first_dts, Some(Time90k::ZERO));
            assert_eq!(r.duration, sum.duration);
        }
    }

    #[test]
    fn leading_non_key_frames_skipped_and_lone_frame() {
        let (sums, events) = run(3, 10, 6);
        assert_eq!(sums.len(), 1);
        assert_eq!(sums[0].frames, 4);
        assert!(
            matches!(&events[0], SegmentEvent::Start { start, .. } if *start == Time90k(6 * 6000))
        );
        let (sums, _) = run(0, 1, 6);
        assert_eq!(sums[0].duration, Duration90k(3000));
    }

    #[test]
    fn file_bytes_add_up_and_dts_checked() {
        let (sums, events) = run(0, 40, 6);
        let total: usize = events
            .iter()
            .map(|e| match e {
                SegmentEvent::Start { init, .. } => init.len(),
                SegmentEvent::Fragment(f) => f.len(),
                SegmentEvent::End(_) => 0,
            })
            .sum();
        assert_eq!(sums.iter().map(|s| s.file_bytes).sum::<u64>(), total as u64);
        let track = TrackConfig::h264(SPS_640X360, PPS).unwrap();
        let mut s = Segmenter::new(track, SegmenterConfig::default());
        let mut ev = Vec::new();
        s.push(frame(1, 1), &mut ev).unwrap();
        assert!(s.push(frame(1, 1), &mut ev).is_err());
        assert!(s.push(frame(0, 1), &mut ev).is_err());
        s.push(frame(2, 1), &mut ev).unwrap();
        let mut f = frame(3, 1);
        f.pts = Time90k(f.dts.0 + (1 << 31));
        assert!(matches!(s.push(f, &mut ev), Err(Error::InvalidTiming(_))));
        let mut f = frame(3, 1);
        f.data = Bytes::from(vec![0; MAX_FRAGMENT_BYTES + 1]);
        assert!(matches!(s.push(f, &mut ev), Err(Error::TooLong { .. })));
        let f = frame(4 + (1 << 20), 1);
        assert!(matches!(s.push(f, &mut ev), Err(Error::InvalidTiming(_))));
        s.push(frame(3, 1), &mut ev).unwrap();
    }

    #[test]
    fn track_change_cuts_at_next_key_frame() {
        let track = TrackConfig::h264(SPS_640X360, PPS).unwrap();
        let mut s = Segmenter::new(track, SegmenterConfig::default());
        let mut ev = Vec::new();
        for i in 0..5 {
            s.push(frame(i, 3), &mut ev).unwrap();
        }
        s.set_track(TrackConfig::h264(SPS_HIGH_1080P, PPS_HIGH).unwrap());
        for i in 5..8 {
            s.push(frame(i, 3), &mut ev).unwrap();
        }
        s.finish(&mut ev).unwrap();
        let ends: Vec<u64> = ev
            .iter()
            .filter_map(|e| match e {
                SegmentEvent::End(s) => Some(s.frames),
                _ => None,
            })
            .collect();
        assert_eq!(ends, vec![6, 2]);
    }
}
