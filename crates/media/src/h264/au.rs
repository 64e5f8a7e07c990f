//! Grouping H.264 NAL units into access units (one coded picture each), the unit an MP4
//! sample holds, and tracking the latest SPS/PPS on the way.

use bytes::Bytes;

use super::{NalType, is_first_slice_of_picture, push_length_prefixed};
use crate::Error;

/// The largest access unit the assembler builds (16 MiB).
pub const MAX_ACCESS_UNIT_LEN: usize = 16 << 20;
/// The most NAL units one access unit may have (slices, SEI, parameter sets...).
pub const MAX_NALS_PER_ACCESS_UNIT: usize = 1024;

/// One coded picture: its NAL units in stream order (without start codes).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AccessUnit {
    pub nals: Vec<Bytes>,
    /// Contains an IDR slice: decoding can start here.
    pub is_key: bool,
    /// Carried an SPS or PPS that differs from the one before it. The track's sample entry
    /// (and so the segment) must change before this access unit is recorded.
    pub params_changed: bool,
}

impl AccessUnit {
    /// One complete picture in Annex B form (an encoder's output for one frame, one V4L2
    /// buffer) as an access unit; a key frame if it holds an IDR slice.
    pub fn from_annexb(annexb: &[u8]) -> AccessUnit {
        let nals: Vec<Bytes> = super::nal_units(annexb)
            .map(Bytes::copy_from_slice)
            .collect();
        let is_key = nals
            .iter()
            .any(|n| NalType::of(n).is_some_and(NalType::is_idr));
        AccessUnit {
            nals,
            is_key,
            params_changed: false,
        }
    }

    /// The access unit in Annex B form (4-byte start codes), e.g. for a decoder.
    pub fn to_annexb(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.len_bytes() + 4 * self.nals.len());
        for nal in &self.nals {
            out.extend_from_slice(b"\x00\x00\x00\x01");
            out.extend_from_slice(nal);
        }
        out
    }

    /// Whether the access unit has at least one slice (an AU of only SEI/AUD is not a picture).
    pub fn has_picture(&self) -> bool {
        self.nals
            .iter()
            .any(|n| NalType::of(n).is_some_and(NalType::is_vcl))
    }

    /// The first SPS in this access unit (key frames usually carry one).
    pub fn sps(&self) -> Option<&Bytes> {
        self.nals
            .iter()
            .find(|n| NalType::of(n).is_some_and(NalType::is_sps))
    }

    /// The first PPS in this access unit.
    pub fn pps(&self) -> Option<&Bytes> {
        self.nals
            .iter()
            .find(|n| NalType::of(n).is_some_and(NalType::is_pps))
    }

    /// Total NAL unit bytes (without start codes or length prefixes).
    pub fn len_bytes(&self) -> usize {
        self.nals.iter().map(Bytes::len).sum()
    }

    /// The MP4 sample bytes: NAL units with 4-byte lengths, without AUD, SPS, PPS and filler
    /// data (which belong in the sample entry).
    pub fn to_avcc(&self) -> Result<Vec<u8>, Error> {
        let mut out = Vec::with_capacity(self.len_bytes() + 4 * self.nals.len());
        for nal in &self.nals {
            if NalType::of(nal).is_some_and(NalType::belongs_in_sample) {
                push_length_prefixed(&mut out, nal)?;
            }
        }
        Ok(out)
    }
}

/// Groups a stream of NAL units into [`AccessUnit`]s.
///
/// A new access unit begins (H.264 7.4.1.2.3) at an access unit delimiter, at an SEI, SPS or
/// PPS (or types 14–18) that follows a slice of the current one, or at a slice whose
/// `first_mb_in_slice` is 0 after a slice of the current one. Arbitrary slice order and
/// redundant pictures are not supported (no camera we know emits them).
#[derive(Debug, Default)]
pub struct AccessUnitAssembler {
    cur: AccessUnit,
    cur_len: usize,
    /// The current access unit already has a slice.
    cur_has_vcl: bool,
    /// The current access unit was cut short by a bound; drop its remaining NAL units.
    overflowed: bool,
    sps: Option<Bytes>,
    pps: Option<Bytes>,
}

impl AccessUnitAssembler {
    pub fn new() -> Self {
        Self::default()
    }

    /// The latest SPS seen (header byte included).
    pub fn sps(&self) -> Option<&Bytes> {
        self.sps.as_ref()
    }

    /// The latest PPS seen.
    pub fn pps(&self) -> Option<&Bytes> {
        self.pps.as_ref()
    }

    /// Feeds one NAL unit; returns the previous access unit if this one starts a new one.
    /// Empty NAL units and those with the forbidden bit set are rejected; an access unit past
    /// [`MAX_ACCESS_UNIT_LEN`] or [`MAX_NALS_PER_ACCESS_UNIT`] is an error and is dropped.
    pub fn push(&mut self, nal: Bytes) -> Result<Option<AccessUnit>, Error> {
        let Some(t) = NalType::of(&nal) else {
            return Err(Error::InvalidBitstream("empty NAL unit".into()));
        };
        if nal[0] & 0x80 != 0 {
            return Err(Error::InvalidBitstream("forbidden_zero_bit set".into()));
        }
        let starts_new = self.cur_has_vcl
            && (t.starts_access_unit() || (t.is_vcl() && is_first_slice_of_picture(&nal)));
        let done = if starts_new { self.take() } else { None };

        if self.overflowed {
            self.cur_has_vcl |= t.is_vcl();
            return Ok(done);
        }
        if self.cur.nals.len() >= MAX_NALS_PER_ACCESS_UNIT
            || self.cur_len + nal.len() > MAX_ACCESS_UNIT_LEN
        {
            let len = self.cur_len + nal.len();
            self.overflowed = true;
            self.cur_has_vcl |= t.is_vcl();
            self.cur = AccessUnit::default();
            self.cur_len = 0;
            return Err(Error::TooLong {
                what: "access unit",
                len,
                max: MAX_ACCESS_UNIT_LEN,
            });
        }

        if t.is_sps() {
            if self.sps.as_ref().is_some_and(|s| *s != nal) {
                self.cur.params_changed = true;
            }
            self.sps = Some(nal.clone());
        } else if t.is_pps() {
            if self.pps.as_ref().is_some_and(|p| *p != nal) {
                self.cur.params_changed = true;
            }
            self.pps = Some(nal.clone());
        }
        if t.is_vcl() {
            self.cur_has_vcl = true;
            self.cur.is_key |= t.is_idr();
        }
        self.cur_len += nal.len();
        self.cur.nals.push(nal);
        Ok(done)
    }

    /// Ends the stream: returns the last access unit if it has a picture.
    pub fn finish(&mut self) -> Option<AccessUnit> {
        self.take()
    }

    fn take(&mut self) -> Option<AccessUnit> {
        let au = std::mem::take(&mut self.cur);
        let had_vcl = std::mem::replace(&mut self.cur_has_vcl, false);
        let overflowed = std::mem::replace(&mut self.overflowed, false);
        self.cur_len = 0;
        (had_vcl && !overflowed).then_some(au)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds the NAL units, returns each access unit as (NAL types, is_key, params_changed).
    fn check(nals: &[&[u8]], expected: &[(&[u8], bool, bool)]) {
        let mut a = AccessUnitAssembler::new();
        let mut got = Vec::new();
        for nal in nals {
            got.extend(a.push(Bytes::copy_from_slice(nal)).unwrap());
        }
        got.extend(a.finish());
        let got: Vec<(Vec<u8>, bool, bool)> = got
            .iter()
            .map(|au| {
                let types = au.nals.iter().map(|n| n[0] & 0x1f).collect();
                (types, au.is_key, au.params_changed)
            })
            .collect();
        let expected: Vec<(Vec<u8>, bool, bool)> = expected
            .iter()
            .map(|(t, k, p)| (t.to_vec(), *k, *p))
            .collect();
        assert_eq!(got, expected);
    }

    const AUD: &[u8] = b"\x09\xf0";
    const SPS: &[u8] = b"\x67\x42\xc0\x16";
    const SPS2: &[u8] = b"\x67\x42\xc0\x1f";
    const PPS: &[u8] = b"\x68\xce";
    const SEI: &[u8] = b"\x06\x05";
    const IDR: &[u8] = b"\x65\x88\x84"; // first_mb_in_slice = 0
    const IDR_2ND_SLICE: &[u8] = b"\x65\x40\x84"; // first_mb_in_slice != 0
    const P: &[u8] = b"\x41\x9a\x00";
    const P_2ND_SLICE: &[u8] = b"\x41\x2a\x00";

    #[test]
    fn groups_with_aud() {
        check(
            &[AUD, SPS, PPS, SEI, IDR, AUD, P, AUD, P],
            &[
                (&[9, 7, 8, 6, 5], true, false),
                (&[9, 1], false, false),
                (&[9, 1], false, false),
            ],
        );
    }

    #[test]
    fn groups_without_aud_by_first_mb() {
        check(
            &[
                SPS,
                PPS,
                IDR,
                IDR_2ND_SLICE,
                P,
                P_2ND_SLICE,
                SEI,
                P,
                SPS,
                PPS,
                IDR,
            ],
            &[
                (&[7, 8, 5, 5], true, false),
                (&[1, 1], false, false),
                (&[6, 1], false, false),
                (&[7, 8, 5], true, false),
            ],
        );
    }

    #[test]
    fn parameter_change_flagged_and_latest_kept() {
        let mut a = AccessUnitAssembler::new();
        for nal in [SPS, PPS, IDR, SPS2, PPS, IDR, P] {
            let _ = a.push(Bytes::from_static(nal)).unwrap();
        }
        assert_eq!(a.sps().unwrap().as_ref(), SPS2);
        assert_eq!(a.pps().unwrap().as_ref(), PPS);
        check(
            &[SPS, PPS, IDR, SPS2, PPS, IDR],
            &[(&[7, 8, 5], true, false), (&[7, 8, 5], true, true)],
        );
    }

    #[test]
    fn leading_non_picture_units_dropped_and_bad_nals_rejected() {
        check(&[SEI, AUD], &[]);
        let mut a = AccessUnitAssembler::new();
        assert!(a.push(Bytes::new()).is_err());
        assert!(a.push(Bytes::from_static(b"\xe5")).is_err());
    }

    #[test]
    fn avcc_sample_drops_parameter_sets() {
        let au = AccessUnit {
            nals: [AUD, SPS, PPS, SEI, IDR].map(Bytes::from_static).to_vec(),
            is_key: true,
            params_changed: false,
        };
        assert!(au.has_picture());
        assert_eq!(au.sps().unwrap().as_ref(), SPS);
        assert_eq!(au.pps().unwrap().as_ref(), PPS);
        assert_eq!(
            au.to_avcc().unwrap(),
            b"\x00\x00\x00\x02\x06\x05\x00\x00\x00\x03\x65\x88\x84"
        );
    }

    #[test]
    fn oversized_access_unit_dropped() {
        let mut a = AccessUnitAssembler::new();
        let _ = a.push(Bytes::from_static(IDR)).unwrap();
        let mut errs = 0;
        for _ in 0..MAX_NALS_PER_ACCESS_UNIT + 5 {
            if a.push(Bytes::from_static(IDR_2ND_SLICE)).is_err() {
                errs += 1;
            }
        }
        assert_eq!(errs, 1);
        // The next picture comes through intact.
        assert_eq!(a.push(Bytes::from_static(P)).unwrap(), None);
        let au = a.finish().unwrap();
        assert_eq!(au.nals.len(), 1);
    }
}
