//! Live fMP4 for Media Source Extensions, one fragment per frame so the
//! browser can show each frame as soon as it arrives (no transcoding).
//!
//! [`LiveMuxer`] is pure: feed events in, get messages out. It starts at a
//! key frame (the feed's current GOP first), and keeps the output timeline
//! continuous: whenever the input restarts (a source `Gap`, or a viewer that
//! lagged and skips to the next key frame) the new run is placed right after
//! the last frame sent, so the browser never sees time go back or a hole in
//! its buffer.

use bytes::Bytes;
use media::fmp4::{Sample, encode_fragment};
use media::{Duration90k, Frame, Time90k, TrackConfig, VideoEvent};

use crate::video::GopSnapshot;

/// Frame duration assumed before two frames were seen (15 fps).
const DEFAULT_FRAME_90K: i64 = 6000;
/// Longest believable gap between two frames of one run.
const MAX_FRAME_90K: i64 = 90_000;

/// One websocket message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Out {
    /// Text: the MIME type with codecs, for `addSourceBuffer`. Sent first,
    /// and again (with a new init segment) when the track changes.
    Mime(String),
    /// Binary: the init segment (`ftyp` + `moov`).
    Init(Bytes),
    /// Binary: one `moof` + `mdat` with one frame.
    Fragment(Bytes),
}

/// Per-viewer fMP4 state.
#[derive(Debug, Default)]
pub struct LiveMuxer {
    track: Option<TrackConfig>,
    sequence: u32,
    /// Input dts of the last frame taken (this run), to drop repeats.
    last_in: Option<Time90k>,
    /// Output dts of the last frame sent.
    last_out: Option<i64>,
    /// Output minus input dts for the current run; `None` = at a run start.
    offset: Option<i64>,
    frame_90k: i64,
    waiting_key: bool,
}

impl LiveMuxer {
    pub fn new() -> LiveMuxer {
        LiveMuxer {
            frame_90k: DEFAULT_FRAME_90K,
            waiting_key: true,
            ..LiveMuxer::default()
        }
    }

    /// True once a track is known (the MIME type has been produced).
    pub fn has_track(&self) -> bool {
        self.track.is_some()
    }

    /// The messages for a new viewer: MIME, init, and the current GOP.
    pub fn start(&mut self, snap: &GopSnapshot) -> Result<Vec<Out>, media::Error> {
        let mut out = Vec::new();
        if let Some(t) = &snap.track {
            self.set_track(t, &mut out)?;
            for (i, f) in snap.frames.iter().enumerate() {
                // Known exactly for all but the last frame of the snapshot.
                if let Some(next) = snap.frames.get(i + 1) {
                    let d = next.dts.0 - f.dts.0;
                    if d > 0 && d <= MAX_FRAME_90K {
                        self.frame_90k = d;
                    }
                }
                self.frame(f, &mut out)?;
            }
        }
        Ok(out)
    }

    /// The viewer missed events: resume at the next key frame.
    pub fn lagged(&mut self) {
        self.waiting_key = true;
        self.offset = None;
        self.last_in = None;
    }

    /// The messages for one event from the feed.
    pub fn push(&mut self, ev: &VideoEvent) -> Result<Vec<Out>, media::Error> {
        let mut out = Vec::new();
        match ev {
            VideoEvent::Track(t) => {
                if self.track.as_ref() != Some(t) {
                    self.set_track(t, &mut out)?;
                }
            }
            VideoEvent::Frame(f) => self.frame(f, &mut out)?,
            VideoEvent::Gap { .. } => self.lagged(),
        }
        Ok(out)
    }

    fn set_track(&mut self, t: &TrackConfig, out: &mut Vec<Out>) -> Result<(), media::Error> {
        out.push(Out::Mime(t.mime_type()));
        out.push(Out::Init(Bytes::from(media::init_segment(t)?)));
        self.track = Some(t.clone());
        // A new init segment: the browser resets its decoder, so start at a key frame.
        self.lagged();
        Ok(())
    }

    fn frame(&mut self, f: &Frame, out: &mut Vec<Out>) -> Result<(), media::Error> {
        if self.track.is_none() {
            return Ok(());
        }
        if self.waiting_key && !f.is_key {
            return Ok(());
        }
        if let Some(prev) = self.last_in {
            if f.dts <= prev {
                return Ok(()); // already sent (the snapshot overlaps the live events)
            }
            let d = f.dts.0 - prev.0;
            if d <= MAX_FRAME_90K {
                self.frame_90k = d;
            }
        }
        self.waiting_key = false;
        let offset = *self.offset.get_or_insert_with(|| {
            let next_out = self.last_out.map_or(0, |o| o + self.frame_90k);
            next_out - f.dts.0
        });
        let dts = f.dts.0 + offset;
        if self.last_out.is_some_and(|o| dts <= o) {
            // A timestamp jump inside a run: start a new run here.
            self.offset = None;
            self.last_in = None;
            return self.frame(f, out);
        }
        let pts = f.pts.0 + offset;
        self.sequence = self.sequence.wrapping_add(1);
        let sample = Sample {
            data: f.data.clone(),
            dts: Time90k(dts),
            pts: Time90k(pts.max(dts)),
            duration: Duration90k(self.frame_90k),
            is_key: f.is_key,
        };
        out.push(Out::Fragment(Bytes::from(encode_fragment(
            self.sequence,
            &[sample],
        )?)));
        self.last_in = Some(f.dts);
        self.last_out = Some(dts);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn track() -> TrackConfig {
        // 640x360 baseline SPS/PPS.
        let sps = b"\x67\x42\xc0\x1e\xd9\x00\xa0\x2f\xf9\x70\x11\x00\x00\x03\x00\x01\x00\x00\x03\x00\x1e\x0f\x16\x2e\x48";
        TrackConfig::h264(sps, b"\x68\xcb\x83\xcb\x20").unwrap()
    }

    fn frame(i: i64, key: bool) -> Frame {
        Frame {
            data: Bytes::from_static(b"\x00\x00\x00\x02\x65\x88"),
            dts: Time90k(1_000_000 + i * 6000),
            pts: Time90k(1_000_000 + i * 6000),
            is_key: key,
        }
    }

    fn tfdt(frag: &Out) -> i64 {
        let Out::Fragment(b) = frag else {
            panic!("not a fragment: {frag:?}")
        };
        let at = b.windows(4).position(|w| w == b"tfdt").unwrap();
        let version = b[at + 4];
        if version == 1 {
            i64::from_be_bytes(b[at + 8..at + 16].try_into().unwrap())
        } else {
            i64::from(u32::from_be_bytes(b[at + 8..at + 12].try_into().unwrap()))
        }
    }

    #[test]
    fn starts_with_mime_init_and_the_gop_then_dedupes() {
        let mut m = LiveMuxer::new();
        let snap = GopSnapshot {
            track: Some(track()),
            frames: vec![frame(0, true), frame(1, false)],
        };
        let out = m.start(&snap).unwrap();
        assert!(matches!(&out[0], Out::Mime(s) if s.starts_with("video/mp4; codecs=\"avc1.")));
        assert!(matches!(&out[1], Out::Init(_)));
        assert_eq!(out.len(), 4);
        assert_eq!(tfdt(&out[2]), 0);
        assert_eq!(tfdt(&out[3]), 6000);
        // The live events repeat frame 1, then go on.
        assert!(
            m.push(&VideoEvent::Frame(frame(1, false)))
                .unwrap()
                .is_empty()
        );
        let o = m.push(&VideoEvent::Frame(frame(2, false))).unwrap();
        assert_eq!(tfdt(&o[0]), 12000);
    }

    #[test]
    fn lag_and_gaps_resume_at_a_key_frame_with_continuous_time() {
        let mut m = LiveMuxer::new();
        let snap = GopSnapshot {
            track: Some(track()),
            frames: vec![],
        };
        assert_eq!(m.start(&snap).unwrap().len(), 2);
        // No key frame yet: nothing.
        assert!(
            m.push(&VideoEvent::Frame(frame(0, false)))
                .unwrap()
                .is_empty()
        );
        let o = m.push(&VideoEvent::Frame(frame(1, true))).unwrap();
        assert_eq!(tfdt(&o[0]), 0);
        m.lagged();
        assert!(
            m.push(&VideoEvent::Frame(frame(50, false)))
                .unwrap()
                .is_empty()
        );
        let o = m.push(&VideoEvent::Frame(frame(60, true))).unwrap();
        assert_eq!(tfdt(&o[0]), 6000);
        // A source gap whose new run starts at a lower dts.
        m.push(&VideoEvent::Gap { reason: "x".into() }).unwrap();
        let o = m.push(&VideoEvent::Frame(frame(-100, true))).unwrap();
        assert_eq!(tfdt(&o[0]), 12000);
        // The same track again sends nothing; a new one sends MIME + init.
        assert!(m.push(&VideoEvent::Track(track())).unwrap().is_empty());
    }
}
