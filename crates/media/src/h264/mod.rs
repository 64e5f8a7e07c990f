//! H.264 helpers: NAL unit types, Annex B splitting ([`annexb`]), access unit assembly
//! ([`AccessUnitAssembler`]), SPS parsing (through h264-reader) and `avcC` records.

pub mod annexb;
mod au;

pub use annexb::{
    AnnexBSplitter, MAX_NAL_LEN, NalUnits, annexb_to_avcc, avcc_nal_units, nal_units,
    push_length_prefixed,
};
pub use au::{AccessUnit, AccessUnitAssembler, MAX_ACCESS_UNIT_LEN, MAX_NALS_PER_ACCESS_UNIT};

use h264_reader::nal::{Nal, RefNal};

use crate::Error;

/// An H.264 `nal_unit_type` (the low 5 bits of the NAL header byte).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct NalType(pub u8);

impl NalType {
    pub const NON_IDR_SLICE: NalType = NalType(1);
    pub const IDR_SLICE: NalType = NalType(5);
    pub const SEI: NalType = NalType(6);
    pub const SPS: NalType = NalType(7);
    pub const PPS: NalType = NalType(8);
    pub const AUD: NalType = NalType(9);
    pub const END_OF_SEQUENCE: NalType = NalType(10);
    pub const END_OF_STREAM: NalType = NalType(11);
    pub const FILLER: NalType = NalType(12);

    /// The type of a NAL unit (header byte first); `None` for an empty slice.
    pub fn of(nal: &[u8]) -> Option<NalType> {
        nal.first().map(|b| NalType(b & 0x1f))
    }

    /// A coded slice (types 1–5): part of the picture itself.
    pub fn is_vcl(self) -> bool {
        (1..=5).contains(&self.0)
    }

    pub fn is_idr(self) -> bool {
        self == Self::IDR_SLICE
    }

    pub fn is_sps(self) -> bool {
        self == Self::SPS
    }

    pub fn is_pps(self) -> bool {
        self == Self::PPS
    }

    pub fn is_aud(self) -> bool {
        self == Self::AUD
    }

    pub fn is_sei(self) -> bool {
        self == Self::SEI
    }

    /// Whether the NAL unit goes into an MP4 sample: not AUD, SPS, PPS or filler data
    /// (parameter sets live in the sample entry; AUD and filler carry nothing).
    pub fn belongs_in_sample(self) -> bool {
        !matches!(self.0, 7 | 8 | 9 | 12) && self.0 != 0
    }

    /// Types that, after a slice, begin a new access unit (H.264 7.4.1.2.3).
    fn starts_access_unit(self) -> bool {
        matches!(self.0, 6..=9 | 14..=18)
    }
}

/// What we need to know from a sequence parameter set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SpsInfo {
    /// Display width in pixels (after cropping).
    pub width: u32,
    /// Display height in pixels (after cropping).
    pub height: u32,
    pub profile_idc: u8,
    /// The constraint-flags byte ("profile compatibility" in `avcC`).
    pub constraint_flags: u8,
    pub level_idc: u8,
    /// `chroma_format_idc` (1 = 4:2:0).
    pub chroma_format_idc: u8,
    pub bit_depth_luma: u8,
    pub bit_depth_chroma: u8,
}

impl SpsInfo {
    /// The RFC 6381 codec string, e.g. `avc1.42C01F` (for MSE `isTypeSupported` and HLS).
    pub fn codec_string(&self) -> String {
        format!(
            "avc1.{:02X}{:02X}{:02X}",
            self.profile_idc, self.constraint_flags, self.level_idc
        )
    }
}

/// Parses an SPS NAL unit (header byte included, emulation prevention bytes intact).
pub fn parse_sps(sps: &[u8]) -> Result<SpsInfo, Error> {
    if NalType::of(sps) != Some(NalType::SPS) {
        return Err(Error::InvalidParameterSet("not an SPS NAL unit".into()));
    }
    let parsed =
        h264_reader::nal::sps::SeqParameterSet::from_bits(RefNal::new(sps, &[], true).rbsp_bits())
            .map_err(|e| Error::InvalidParameterSet(format!("SPS: {e:?}")))?;
    let (width, height) = parsed
        .pixel_dimensions()
        .map_err(|e| Error::InvalidParameterSet(format!("SPS dimensions: {e:?}")))?;
    Ok(SpsInfo {
        width,
        height,
        profile_idc: parsed.profile_idc.into(),
        constraint_flags: parsed.constraint_flags.into(),
        level_idc: parsed.level_idc,
        chroma_format_idc: u8::try_from(parsed.chroma_info.chroma_format.to_u32())
            .ok()
            .filter(|&c| c <= 3)
            .ok_or_else(|| Error::InvalidParameterSet("chroma_format_idc".into()))?,
        bit_depth_luma: parsed.chroma_info.bit_depth_luma_minus8.saturating_add(8),
        bit_depth_chroma: parsed.chroma_info.bit_depth_chroma_minus8.saturating_add(8),
    })
}

/// Profiles whose `avcC` record carries the chroma format / bit depth extension.
fn avcc_has_ext(profile_idc: u8) -> bool {
    matches!(profile_idc, 100 | 110 | 122 | 144)
}

/// Builds an `AVCDecoderConfigurationRecord` (the body of an `avcC` box, without its 8-byte
/// box header) from one SPS and one PPS, with 4-byte NAL lengths.
pub fn build_avcc(sps: &[u8], pps: &[u8]) -> Result<Vec<u8>, Error> {
    let info = parse_sps(sps)?;
    if NalType::of(pps) != Some(NalType::PPS) {
        return Err(Error::InvalidParameterSet("not a PPS NAL unit".into()));
    }
    if sps.len() > u16::MAX as usize || pps.len() > u16::MAX as usize {
        return Err(Error::InvalidParameterSet(
            "parameter set over 64 KiB".into(),
        ));
    }
    let avcc = mp4_atom::Avcc {
        configuration_version: 1,
        avc_profile_indication: info.profile_idc,
        profile_compatibility: info.constraint_flags,
        avc_level_indication: info.level_idc,
        length_size: 4,
        sequence_parameter_sets: vec![sps.to_vec()],
        picture_parameter_sets: vec![pps.to_vec()],
        ext: avcc_has_ext(info.profile_idc).then(|| mp4_atom::AvccExt {
            chroma_format: info.chroma_format_idc,
            bit_depth_luma: info.bit_depth_luma,
            bit_depth_chroma: info.bit_depth_chroma,
            sequence_parameter_sets_ext: Vec::new(),
        }),
    };
    let mut boxed = Vec::new();
    mp4_atom::Encode::encode(&avcc, &mut boxed)?;
    Ok(boxed.split_off(8))
}

/// The contents of an `avcC` record, checked by h264-reader.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AvccInfo {
    /// Bytes per NAL length prefix in samples (1, 2 or 4).
    pub length_size: usize,
    pub sps: Vec<Vec<u8>>,
    pub pps: Vec<Vec<u8>>,
    /// The first SPS, parsed.
    pub sps_info: SpsInfo,
}

/// True if the SPS or PPS list of an `avcC` record holds a zero-length entry
/// (or is cut short, which `try_from` has already refused).
fn has_empty_parameter_set(record: &[u8]) -> bool {
    let mut pos = 6;
    let walk = |count: usize, pos: &mut usize| -> bool {
        for _ in 0..count {
            let (Some(&hi), Some(&lo)) = (record.get(*pos), record.get(*pos + 1)) else {
                return true;
            };
            let len = usize::from(u16::from_be_bytes([hi, lo]));
            if len == 0 {
                return true;
            }
            *pos += 2 + len;
        }
        false
    };
    let Some(&b) = record.get(5) else { return true };
    if walk(usize::from(b & 0x1f), &mut pos) {
        return true;
    }
    let Some(&num_pps) = record.get(pos) else {
        return true;
    };
    pos += 1;
    walk(usize::from(num_pps), &mut pos)
}

/// Parses an `AVCDecoderConfigurationRecord` (an `avcC` box body).
pub fn parse_avcc(record: &[u8]) -> Result<AvccInfo, Error> {
    use h264_reader::avcc::AvcDecoderConfigurationRecord;
    let rec = AvcDecoderConfigurationRecord::try_from(record)
        .map_err(|e| Error::InvalidConfig(format!("avcC: {e:?}")))?;
    // h264-reader's parameter set iterators index the first byte of each set
    // without a check; a zero-length set would panic there.
    if has_empty_parameter_set(record) {
        return Err(Error::InvalidConfig(
            "avcC with an empty parameter set".into(),
        ));
    }
    let mut sps = Vec::new();
    for s in rec.sequence_parameter_sets() {
        sps.push(
            s.map_err(|e| Error::InvalidConfig(format!("avcC SPS: {e:?}")))?
                .to_vec(),
        );
    }
    let mut pps = Vec::new();
    for p in rec.picture_parameter_sets() {
        pps.push(
            p.map_err(|e| Error::InvalidConfig(format!("avcC PPS: {e:?}")))?
                .to_vec(),
        );
    }
    // Checks that every SPS/PPS parses.
    rec.create_context()
        .map_err(|e| Error::InvalidConfig(format!("avcC parameter sets: {e:?}")))?;
    let first = sps
        .first()
        .ok_or_else(|| Error::InvalidConfig("avcC without SPS".into()))?;
    let sps_info = parse_sps(first)?;
    let length_size = usize::from(rec.length_size_minus_one()) + 1;
    if length_size == 3 {
        return Err(Error::InvalidConfig("avcC length size 3".into()));
    }
    Ok(AvccInfo {
        length_size,
        sps,
        pps,
        sps_info,
    })
}

/// Whether the first VCL NAL unit in `nal` starts a new picture: its slice header's
/// `first_mb_in_slice` (the first ue(v) after the header byte) is 0, i.e. the first bit is 1.
fn is_first_slice_of_picture(nal: &[u8]) -> bool {
    nal.get(1).is_some_and(|b| b & 0x80 != 0)
}

/// Parameter sets shared by unit tests across modules.
#[cfg(test)]
pub(crate) mod tests_support {
    /// SPS and PPS from x264 (`ffmpeg -f lavfi -i testsrc=size=640x360 -c:v libx264
    /// -profile:v baseline -f h264`): Constrained Baseline, level 2.2.
    pub(crate) const SPS_640X360: &[u8] = &[
        0x67, 0x42, 0xc0, 0x16, 0xd9, 0x00, 0xa0, 0x2f, 0xf9, 0x70, 0x11, 0x00, 0x00, 0x03, 0x00,
        0x01, 0x00, 0x00, 0x03, 0x00, 0x1e, 0x0f, 0x16, 0x2e, 0x48,
    ];
    pub(crate) const PPS: &[u8] = &[0x68, 0xcb, 0x83, 0xcb, 0x20];
    /// The same for `-profile:v high` at 1920x1080 (level 4.0, cropped from 1088 lines).
    pub(crate) const SPS_HIGH_1080P: &[u8] = &[
        0x67, 0x64, 0x00, 0x28, 0xac, 0xd9, 0x40, 0x78, 0x02, 0x27, 0xe5, 0xc0, 0x44, 0x00, 0x00,
        0x03, 0x00, 0x04, 0x00, 0x00, 0x03, 0x00, 0x78, 0x3c, 0x60, 0xc6, 0x58,
    ];
    pub(crate) const PPS_HIGH: &[u8] = &[0x68, 0xeb, 0xe3, 0xcb, 0x22, 0xc0];
}

#[cfg(test)]
mod tests {
    use super::tests_support::*;
    use super::*;

    #[test]
    fn nal_types() {
        assert!(NalType::of(b"\x65\x88").unwrap().is_idr());
        assert!(NalType::of(b"\x67").unwrap().is_sps());
        assert!(NalType::of(b"\x68").unwrap().is_pps());
        assert!(NalType::of(b"\x09\xf0").unwrap().is_aud());
        assert!(NalType::of(b"\x06").unwrap().is_sei());
        assert!(NalType::of(b"\x41").unwrap().is_vcl());
        assert!(!NalType::of(b"\x41").unwrap().is_idr());
        assert_eq!(NalType::of(b""), None);
        assert!(NalType::SEI.belongs_in_sample());
        assert!(!NalType::AUD.belongs_in_sample());
    }

    #[test]
    fn sps_parse_and_codec_string() {
        let info = parse_sps(SPS_640X360).unwrap();
        assert_eq!((info.width, info.height), (640, 360));
        assert_eq!(info.codec_string(), "avc1.42C016");
        assert!(parse_sps(PPS).is_err());
        assert!(parse_sps(&SPS_640X360[..6]).is_err());
    }

    #[test]
    fn avcc_build_parse_round_trip() {
        let rec = build_avcc(SPS_640X360, PPS).unwrap();
        assert_eq!(rec.len(), 11 + SPS_640X360.len() + PPS.len());
        assert_eq!(&rec[..6], &[1, 0x42, 0xc0, 0x16, 0xff, 0xe1]);
        let info = parse_avcc(&rec).unwrap();
        assert_eq!(info.length_size, 4);
        assert_eq!(info.sps, vec![SPS_640X360.to_vec()]);
        assert_eq!(info.pps, vec![PPS.to_vec()]);
        assert_eq!((info.sps_info.width, info.sps_info.height), (640, 360));
        let high = build_avcc(SPS_HIGH_1080P, PPS_HIGH).unwrap();
        assert_eq!(high.len(), 11 + 4 + SPS_HIGH_1080P.len() + PPS_HIGH.len());
        let info = parse_avcc(&high).unwrap();
        assert_eq!((info.sps_info.width, info.sps_info.height), (1920, 1080));
        assert_eq!(info.sps_info.codec_string(), "avc1.640028");
        for cut in 0..rec.len() {
            assert!(parse_avcc(&rec[..cut]).is_err(), "cut {cut}");
        }
        // An empty SPS (h264-reader would panic on it) is an error.
        assert!(parse_avcc(&[1, 0x42, 0xc0, 0x16, 0xff, 0xe1, 0, 0, 1, 0, 1, 0x68]).is_err());
        // An empty PPS at the very end made h264-reader index an empty slice
        // (found by the media_codec fuzz target): no SPS, one zero-length PPS.
        assert!(parse_avcc(&[1, 44, 74, 27, 1, 0, 1, 0, 0]).is_err());
        assert!(crate::TrackConfig::from_avcc(&[1, 44, 74, 27, 1, 0, 1, 0, 0]).is_err());
        // And after a good SPS.
        let mut good = vec![1, 0x42, 0xc0, 0x16, 0xff, 0xe1];
        good.extend_from_slice(&(SPS_640X360.len() as u16).to_be_bytes());
        good.extend_from_slice(SPS_640X360);
        good.extend_from_slice(&[1, 0, 0]);
        assert!(parse_avcc(&good).is_err());
    }
}
