//! Export of recorded segments as one MP4, without touching a file: the caller scans each
//! segment with a [`Scanner`](crate::recover::Scanner) that keeps its fragments, adds it to
//! an [`ExportBuilder`] with the wall-clock time of its start, and then writes the
//! [`Export`]: its init segment, then for each [`Piece`] the rewritten `moof` followed by
//! the `mdat` bytes read from the piece's source file.
//!
//! The init segment is the first segment's sample entry with the total duration in `mehd`;
//! every fragment whose time overlaps the range is renumbered (`mfhd`) and re-timed
//! (`tfdt`) so the fragments play back to back from 0, and its data offsets are rewritten to
//! point at the same bytes of the `mdat` that follows it. Trimming is at fragment
//! granularity (a fragment is one GOP): the export starts at the key frame at or before
//! the range's start and ends with the fragment holding its end. Gaps between segments
//! are closed up. A segment with another sample entry or timescale ends the export there
//! (one MP4 has one sample description).

use crate::recover::ScannedFile;
use crate::time::TIMESCALE;
use crate::{Duration90k, Error, Time90k, TrackConfig};

/// One fragment of the export: its rewritten `moof`, then bytes of its source.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Piece {
    /// Which added segment the `mdat` is read from (the `source` given to
    /// [`ExportBuilder::add`]).
    pub source: usize,
    pub moof: Vec<u8>,
    /// The `mdat` box, header included, in the source file.
    pub mdat_offset: u64,
    pub mdat_len: u64,
}

/// A planned export ([`ExportBuilder::finish`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Export {
    /// `ftyp` + `moov`, with the total duration.
    pub init: Vec<u8>,
    pub pieces: Vec<Piece>,
    /// Total media duration.
    pub duration: Duration90k,
    /// Wall-clock start of the first exported fragment (unix ms).
    pub first_ms: i64,
    /// Segments that gave at least one fragment.
    pub segments: usize,
}

impl Export {
    /// Exact size of the file: the init segment, every `moof` and every `mdat`.
    pub fn len(&self) -> u64 {
        self.init.len() as u64
            + self
                .pieces
                .iter()
                .map(|p| p.moof.len() as u64 + p.mdat_len)
                .sum::<u64>()
    }

    pub fn is_empty(&self) -> bool {
        self.pieces.is_empty()
    }
}

/// Collects the fragments of `[start_ms, end_ms)` from segments added in time order.
#[derive(Debug)]
pub struct ExportBuilder {
    start_ms: i64,
    end_ms: i64,
    /// The first segment's sample entry: every later one must be the same.
    entry: Option<Vec<u8>>,
    pieces: Vec<Piece>,
    /// Output media time of the next fragment.
    cursor: Duration90k,
    first_ms: i64,
    segments: usize,
}

impl ExportBuilder {
    pub fn new(start_ms: i64, end_ms: i64) -> ExportBuilder {
        ExportBuilder {
            start_ms,
            end_ms,
            entry: None,
            pieces: Vec::new(),
            cursor: Duration90k::ZERO,
            first_ms: 0,
            segments: 0,
        }
    }

    /// Adds the fragments of one scanned segment whose first fragment starts at wall-clock
    /// `start_ms`; its pieces name it `source`. Returns false, adding nothing, when its
    /// sample entry or timescale differs from the first segment's: the export ends there.
    pub fn add(&mut self, source: usize, start_ms: i64, file: &ScannedFile) -> Result<bool, Error> {
        if file.timescale != TIMESCALE {
            return Ok(false);
        }
        match &self.entry {
            Some(e) if *e != file.sample_entry => return Ok(false),
            Some(_) => {}
            None => self.entry = Some(file.sample_entry.clone()),
        }
        let first_dts = file
            .fragments
            .first()
            .and_then(|f| f.base_dts)
            .unwrap_or(Time90k::ZERO);
        let mut used = false;
        for frag in &file.fragments {
            let dts = frag
                .base_dts
                .ok_or_else(|| Error::InvalidFile("a fragment without tfdt".into()))?;
            // Decode times and durations come from the file: combined with checks.
            let since_first = dts
                .0
                .checked_sub(first_dts.0)
                .ok_or_else(|| Error::InvalidFile("decode times out of range".into()))?;
            let f_start = start_ms.saturating_add(since_first / 90);
            let f_end = f_start.saturating_add(frag.duration.0 / 90);
            if f_end <= self.start_ms || f_start >= self.end_ms {
                continue;
            }
            if self.pieces.is_empty() {
                self.first_ms = f_start;
            }
            let sequence = u32::try_from(self.pieces.len() + 1)
                .map_err(|_| Error::InvalidFile("too many fragments".into()))?;
            let moof = rewrite_moof(
                &frag.moof,
                frag.moof_offset,
                file,
                sequence,
                Time90k(self.cursor.0),
            )?;
            // The rebuilt moof must say what the scanner verified in the original (a box
            // the scanner stops at, such as one of size 0, another decoder may read on).
            let body_start = moof.len() as u64 + frag.mdat_header_len;
            let said = crate::recover::verify_moof(
                &moof,
                (body_start, moof.len() as u64 + frag.mdat_len),
                crate::fmp4::TRACK_ID,
                file.trex_defaults,
            );
            if said != Some((frag.samples, frag.key_frames, frag.duration.0 as u64)) {
                return Err(Error::InvalidFile(format!(
                    "fragment {} cannot be re-timed as it was verified",
                    frag.moof_offset
                )));
            }
            self.cursor = Duration90k(
                self.cursor
                    .0
                    .checked_add(frag.duration.0)
                    .ok_or_else(|| Error::InvalidFile("export duration out of range".into()))?,
            );
            self.pieces.push(Piece {
                source,
                moof,
                mdat_offset: frag.mdat_offset,
                mdat_len: frag.mdat_len,
            });
            used = true;
        }
        self.segments += usize::from(used);
        Ok(true)
    }

    /// The export; `None` when no fragment overlaps the range.
    pub fn finish(self) -> Result<Option<Export>, Error> {
        let Some(entry) = self.entry.filter(|_| !self.pieces.is_empty()) else {
            return Ok(None);
        };
        let track = TrackConfig::from_sample_entry(&entry)?;
        let init = crate::fmp4::init_segment_with_duration(&track, self.cursor)?;
        Ok(Some(Export {
            init,
            pieces: self.pieces,
            duration: self.cursor,
            first_ms: self.first_ms,
            segments: self.segments,
        }))
    }
}

/// Renumbers and re-times a `moof` (at `moof_offset` in `file`), keeping its samples' data
/// pointing at the same bytes of the `mdat` that follows it: only the video track's `traf`
/// stays, under the export's track id, with the `trex` defaults it relied on written into
/// its `tfhd` (the export's `moov` has its own); data offsets become relative to the `moof`
/// (an explicit base offset is folded in) and grow with the box.
fn rewrite_moof(
    moof: &[u8],
    moof_offset: u64,
    file: &ScannedFile,
    sequence: u32,
    base_dts: Time90k,
) -> Result<Vec<u8>, Error> {
    use mp4_atom::{Decode, Encode};
    let bad = |why: String| Error::InvalidFile(format!("moof: {why}"));
    let mut m = mp4_atom::Moof::decode(&mut &moof[..]).map_err(|e| bad(e.to_string()))?;
    m.mfhd.sequence_number = sequence;
    m.traf.retain(|t| t.tfhd.track_id == file.track_id);
    let base = u64::try_from(base_dts.0).map_err(|_| bad("negative time".into()))?;
    let (duration, size, flags) = file.trex_defaults;
    for traf in &mut m.traf {
        traf.tfdt = Some(mp4_atom::Tfdt {
            base_media_decode_time: base,
        });
        let tfhd = &mut traf.tfhd;
        tfhd.track_id = crate::fmp4::TRACK_ID;
        tfhd.sample_description_index = None;
        tfhd.default_sample_duration.get_or_insert(duration);
        tfhd.default_sample_size.get_or_insert(size);
        tfhd.default_sample_flags.get_or_insert(flags);
        if let Some(abs) = tfhd.base_data_offset.take() {
            // Offsets from the file's start become offsets from the moof's.
            let shift = i64::try_from(i128::from(abs) - i128::from(moof_offset))
                .map_err(|_| bad("base data offset out of range".into()))?;
            for trun in &mut traf.trun {
                let off = trun.data_offset.unwrap_or(0);
                trun.data_offset = Some(
                    i32::try_from(i64::from(off) + shift)
                        .map_err(|_| bad("data offset out of range".into()))?,
                );
            }
        }
        tfhd.default_base_is_moof = true;
    }
    let encode = |m: &mp4_atom::Moof| -> Result<Vec<u8>, Error> {
        let mut out = Vec::with_capacity(moof.len() + 32);
        m.encode(&mut out)?;
        Ok(out)
    };
    let first = encode(&m)?;
    let delta = first.len() as i64 - moof.len() as i64;
    if delta == 0 {
        return Ok(first);
    }
    for trun in m.traf.iter_mut().flat_map(|t| t.trun.iter_mut()) {
        if let Some(off) = trun.data_offset.as_mut() {
            *off = i32::try_from(i64::from(*off) + delta)
                .map_err(|_| bad("data offset out of range".into()))?;
        }
    }
    let second = encode(&m)?;
    if second.len() != first.len() {
        return Err(bad("its size changed twice".into()));
    }
    Ok(second)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fmp4::{FragmentPolicy, Fragmenter, Sample, init_segment};
    use crate::h264::tests_support::{PPS, SPS_640X360};
    use crate::recover::Scanner;
    use bytes::Bytes;

    /// A segment file of `fragments` one-second fragments (15 samples each, the first a key
    /// frame), media time starting at `t0`.
    fn segment(fragments: i64, t0: i64, sps: &[u8]) -> Vec<u8> {
        let pps = if sps == SPS_640X360 {
            PPS
        } else {
            crate::h264::tests_support::PPS_HIGH
        };
        let track = TrackConfig::h264(sps, pps).unwrap();
        let mut out = init_segment(&track).unwrap();
        let mut f = Fragmenter::new(FragmentPolicy::default());
        let mut frags = Vec::new();
        for i in 0..fragments * 15 {
            frags.extend(
                f.push(Sample {
                    data: Bytes::from(vec![0, 0, 0, 3, 0x41, i as u8, 0x80]),
                    dts: Time90k(t0 + i * 6000),
                    pts: Time90k(t0 + i * 6000),
                    duration: Duration90k(6000),
                    is_key: i % 15 == 0,
                })
                .unwrap(),
            );
        }
        frags.extend(f.flush().unwrap());
        for fr in frags {
            fr.append_to(&mut out);
        }
        out
    }

    fn scan(file: &[u8]) -> ScannedFile {
        let read = |off: u64, buf: &mut [u8]| -> Result<usize, ()> {
            let start = (off as usize).min(file.len());
            let n = buf.len().min(file.len() - start);
            buf[..n].copy_from_slice(&file[start..start + n]);
            Ok(n)
        };
        Scanner::new(file.len() as u64)
            .keep_fragments()
            .drive(read)
            .unwrap()
            .into_fragments()
            .unwrap()
    }

    /// The bytes of an export, as a writer sends them.
    fn write(export: &Export, sources: &[&[u8]]) -> Vec<u8> {
        let mut out = export.init.clone();
        for p in &export.pieces {
            out.extend_from_slice(&p.moof);
            let src = sources[p.source];
            out.extend_from_slice(
                &src[p.mdat_offset as usize..(p.mdat_offset + p.mdat_len) as usize],
            );
        }
        out
    }

    #[test]
    fn two_segments_trimmed_to_fragments_play_back_to_back() {
        // Segment a: 4 s from 10:00:00; segment b: 3 s from 10:00:10 (a gap of 6 s).
        let (a, b) = (
            segment(4, 1000, SPS_640X360),
            segment(3, 500_000, SPS_640X360),
        );
        let t = 1_800_000_000_000i64;
        // From 1.5 s into a to 1 s into b: a's fragments 1..=3, b's fragment 0.
        let mut builder = ExportBuilder::new(t + 1500, t + 11_000);
        assert!(builder.add(0, t, &scan(&a)).unwrap());
        assert!(builder.add(1, t + 10_000, &scan(&b)).unwrap());
        let export = builder.finish().unwrap().unwrap();
        assert_eq!((export.pieces.len(), export.segments), (4, 2));
        assert_eq!(export.first_ms, t + 1000);
        assert_eq!(export.duration, Duration90k(4 * 90_000));
        let file = write(&export, &[&a, &b]);
        assert_eq!(file.len() as u64, export.len());
        let probe = crate::probe(&file).unwrap();
        assert!(probe.is_complete());
        let r = probe.recovery;
        assert_eq!((r.fragments, r.samples, r.key_frames), (4, 60, 4));
        assert_eq!(
            (r.first_dts, r.duration),
            (Some(Time90k::ZERO), Duration90k(360_000))
        );
        // The samples are the same bytes, in order: b's first fragment follows a's last.
        let again = scan(&file);
        for (i, f) in again.fragments.iter().enumerate() {
            assert_eq!(f.base_dts, Some(Time90k(i as i64 * 90_000)));
        }
        let mdat = |file: &[u8], f: &crate::recover::FragmentInfo| {
            file[f.mdat_offset as usize..(f.mdat_offset + f.mdat_len) as usize].to_vec()
        };
        let sa = scan(&a);
        assert_eq!(mdat(&file, &again.fragments[0]), mdat(&a, &sa.fragments[1]));
        assert_eq!(
            mdat(&file, &again.fragments[3]),
            mdat(&b, &scan(&b).fragments[0])
        );
    }

    /// Found by the fuzzer: a `trun` of size 0 ("to the end"), which the scanner stops at
    /// (no samples) and mp4-atom reads on; the rebuilt moof would say otherwise, so the
    /// segment is refused rather than exported wrong.
    #[test]
    fn a_moof_the_scanner_reads_otherwise_is_refused() {
        let mut a = segment(1, 0, SPS_640X360);
        let at = a.windows(4).position(|w| w == b"trun").unwrap() - 4;
        a[at..at + 4].copy_from_slice(&[0, 0, 0, 0]);
        let scanned = scan(&a);
        assert_eq!(scanned.fragments[0].samples, 0);
        // A fragment without samples lasts 0 ms: a range from before it takes it.
        let mut builder = ExportBuilder::new(-1000, 60_000);
        let e = builder.add(0, 0, &scanned).unwrap_err();
        assert!(e.to_string().contains("cannot be re-timed"), "{e}");
    }

    /// Sets the `tfdt` of fragment `n` of `file` to `t` (a version 1 box: 64 bits).
    fn set_tfdt(file: &mut [u8], n: usize, t: u64) {
        let at = file
            .windows(4)
            .enumerate()
            .filter(|(_, w)| *w == b"tfdt")
            .nth(n)
            .unwrap()
            .0;
        assert_eq!(file[at + 4], 1, "a 64-bit tfdt");
        file[at + 8..at + 16].copy_from_slice(&t.to_be_bytes());
    }

    /// Times from a file are untrusted: the largest ones and those far apart are refused
    /// (or saturate), never overflow.
    #[test]
    fn extreme_decode_times_are_refused_not_overflowed() {
        for (n, t) in [
            (1, 1u64 << 63),
            (0, 1u64 << 63),
            (1, u64::MAX),
            (0, u64::MAX),
            (2, 0),
        ] {
            let mut a = segment(3, 0, SPS_640X360);
            set_tfdt(&mut a, n, t);
            let scanned = scan(&a);
            for (start, end) in [(i64::MIN, i64::MAX), (0, 60_000), (i64::MAX - 1, i64::MAX)] {
                let mut builder = ExportBuilder::new(start, end);
                let _ = builder.add(0, 0, &scanned);
                let _ = builder.add(1, i64::MAX - 10, &scanned);
                let _ = builder.add(2, i64::MIN, &scanned);
                let _ = builder.finish();
            }
        }
    }

    #[test]
    fn another_codec_ends_the_export_and_an_empty_range_gives_none() {
        let a = segment(2, 0, SPS_640X360);
        let other = segment(2, 0, crate::h264::tests_support::SPS_HIGH_1080P);
        let t = 0;
        let mut builder = ExportBuilder::new(t, t + 60_000);
        assert!(builder.add(0, t, &scan(&a)).unwrap());
        assert!(!builder.add(1, t + 2000, &scan(&other)).unwrap());
        assert_eq!(builder.finish().unwrap().unwrap().pieces.len(), 2);
        let mut builder = ExportBuilder::new(t + 10_000, t + 20_000);
        assert!(builder.add(0, t, &scan(&a)).unwrap());
        assert_eq!(builder.finish().unwrap(), None);
    }
}
