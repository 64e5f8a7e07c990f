//! A video track's codec configuration: the MP4 sample entry (`avc1` or `hvc1` box) plus the
//! facts callers index and serve (RFC 6381 codec string, dimensions).
//!
//! Three ways in: from H.264 SPS/PPS (the agent's encoder), from an `avcC` record or a ready
//! sample entry box (the hub's RTSP path, e.g. retina's `mp4_sample_entry().build()`), and
//! from an H.265 `hvcC` record kept opaque (only its fixed header is read for the codec string).

use crate::Error;
use crate::bmff::{self, u16_at};
use crate::h264::{self, AvccInfo};

/// The largest sample entry box we accept (parameter sets are small; 64 KiB is generous).
pub const MAX_SAMPLE_ENTRY_LEN: usize = 64 << 10;

/// Bytes of a `VisualSampleEntry` before its child boxes (after the 8-byte box header).
const VISUAL_ENTRY_FIELDS_LEN: usize = 78;

/// The codec family of a track.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum VideoCodec {
    H264,
    H265,
    /// Some other sample entry, carried opaquely (its four-character code).
    Other([u8; 4]),
}

/// Everything the fMP4 writer needs to describe one video track.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrackConfig {
    codec: VideoCodec,
    codec_string: String,
    width: u16,
    height: u16,
    sample_entry: Vec<u8>,
}

impl TrackConfig {
    /// An H.264 track from one SPS and one PPS NAL unit (as the Annex B stream carries them).
    pub fn h264(sps: &[u8], pps: &[u8]) -> Result<TrackConfig, Error> {
        let record = h264::build_avcc(sps, pps)?;
        Self::from_avcc(&record)
    }

    /// An H.264 track from an `AVCDecoderConfigurationRecord` (`avcC` box body).
    pub fn from_avcc(record: &[u8]) -> Result<TrackConfig, Error> {
        let info: AvccInfo = h264::parse_avcc(record)?;
        let (width, height) = dims(info.sps_info.width, info.sps_info.height)?;
        let sample_entry = visual_sample_entry(b"avc1", width, height, b"avcC", record)?;
        Ok(TrackConfig {
            codec: VideoCodec::H264,
            codec_string: info.sps_info.codec_string(),
            width,
            height,
            sample_entry,
        })
    }

    /// An H.265 track from an `HEVCDecoderConfigurationRecord` (`hvcC` box body), which is
    /// copied into an `hvc1` sample entry unparsed except for its fixed header. The caller
    /// supplies the dimensions (from its SPS parser or the camera's SDP).
    pub fn h265(hvcc_record: &[u8], width: u16, height: u16) -> Result<TrackConfig, Error> {
        let codec_string = hevc_codec_string(b"hvc1", hvcc_record)?;
        let sample_entry = visual_sample_entry(b"hvc1", width, height, b"hvcC", hvcc_record)?;
        Ok(TrackConfig {
            codec: VideoCodec::H265,
            codec_string,
            width,
            height,
            sample_entry,
        })
    }

    /// A track from a complete visual sample entry box (`avc1`, `avc3`, `hvc1`, `hev1` or
    /// another kind, kept opaque), e.g. the one retina builds from the camera's SDP.
    pub fn from_sample_entry(entry: &[u8]) -> Result<TrackConfig, Error> {
        let bad = |why: &str| Error::InvalidConfig(format!("sample entry: {why}"));
        if entry.len() > MAX_SAMPLE_ENTRY_LEN {
            return Err(Error::TooLong {
                what: "sample entry",
                len: entry.len(),
                max: MAX_SAMPLE_ENTRY_LEN,
            });
        }
        let b = match bmff::read_box(entry) {
            bmff::Head::Box(b) if b.total_len == entry.len() => b,
            _ => return Err(bad("not exactly one complete box")),
        };
        let (codec, codec_string, width, height) = describe_visual_entry(b.kind, b.body)?;
        Ok(TrackConfig {
            codec,
            codec_string,
            width,
            height,
            sample_entry: entry.to_vec(),
        })
    }

    pub fn codec(&self) -> VideoCodec {
        self.codec
    }

    /// The RFC 6381 codec string, e.g. `avc1.42C01F` or `hvc1.1.6.L93.B0`.
    pub fn codec_string(&self) -> &str {
        &self.codec_string
    }

    /// `video/mp4; codecs="..."`, for MSE `addSourceBuffer` and `isTypeSupported`.
    pub fn mime_type(&self) -> String {
        format!("video/mp4; codecs=\"{}\"", self.codec_string)
    }

    pub fn width(&self) -> u16 {
        self.width
    }

    pub fn height(&self) -> u16 {
        self.height
    }

    /// The complete sample entry box that goes into `stsd`.
    pub fn sample_entry(&self) -> &[u8] {
        &self.sample_entry
    }

    /// An H.264 sample of this track (NAL units with the `avcC`'s length prefixes) in Annex
    /// B form, preceded by the track's SPS and PPS: what a decoder needs to decode a key
    /// frame on its own. An error for another codec or a sample that does not parse.
    pub fn h264_annexb(&self, sample: &[u8]) -> Result<Vec<u8>, Error> {
        let bad = |why: &str| Error::InvalidConfig(format!("sample entry: {why}"));
        let entry = match bmff::read_box(&self.sample_entry) {
            bmff::Head::Box(b) if matches!(&b.kind, b"avc1" | b"avc3") => b,
            _ => return Err(bad("not an H.264 sample entry")),
        };
        let boxes = entry
            .body
            .get(VISUAL_ENTRY_FIELDS_LEN..)
            .unwrap_or_default();
        let avcc = bmff::child(boxes, b"avcC").ok_or_else(|| bad("no avcC"))?;
        let info = h264::parse_avcc(avcc.body)?;
        let nals = h264::avcc_nal_units(sample, info.length_size)?;
        let mut out = Vec::with_capacity(sample.len() + 128);
        for nal in info
            .sps
            .iter()
            .chain(info.pps.iter())
            .map(Vec::as_slice)
            .chain(nals)
        {
            out.extend_from_slice(&[0, 0, 0, 1]);
            out.extend_from_slice(nal);
        }
        Ok(out)
    }
}

fn dims(width: u32, height: u32) -> Result<(u16, u16), Error> {
    match (u16::try_from(width), u16::try_from(height)) {
        (Ok(w), Ok(h)) if w > 0 && h > 0 => Ok((w, h)),
        _ => Err(Error::InvalidParameterSet(format!(
            "dimensions {width}x{height}"
        ))),
    }
}

/// Builds a `VisualSampleEntry` box of kind `kind` holding one configuration box.
fn visual_sample_entry(
    kind: &[u8; 4],
    width: u16,
    height: u16,
    config_kind: &[u8; 4],
    config: &[u8],
) -> Result<Vec<u8>, Error> {
    let total = 8 + VISUAL_ENTRY_FIELDS_LEN + 8 + config.len();
    if total > MAX_SAMPLE_ENTRY_LEN {
        return Err(Error::TooLong {
            what: "sample entry",
            len: total,
            max: MAX_SAMPLE_ENTRY_LEN,
        });
    }
    let mut out = Vec::with_capacity(total);
    out.extend_from_slice(&(total as u32).to_be_bytes());
    out.extend_from_slice(kind);
    let visual = mp4_atom::Visual {
        data_reference_index: 1,
        width,
        height,
        ..Default::default()
    };
    mp4_atom::Encode::encode(&visual, &mut out)?;
    debug_assert_eq!(out.len(), 8 + VISUAL_ENTRY_FIELDS_LEN);
    out.extend_from_slice(&((8 + config.len()) as u32).to_be_bytes());
    out.extend_from_slice(config_kind);
    out.extend_from_slice(config);
    Ok(out)
}

/// Reads kind, codec string and dimensions from a visual sample entry's body.
pub(crate) fn describe_visual_entry(
    kind: [u8; 4],
    body: &[u8],
) -> Result<(VideoCodec, String, u16, u16), Error> {
    let bad = |why: &str| Error::InvalidConfig(format!("sample entry: {why}"));
    let (Some(width), Some(height)) = (u16_at(body, 24), u16_at(body, 26)) else {
        return Err(bad("shorter than a visual sample entry"));
    };
    let boxes = body.get(VISUAL_ENTRY_FIELDS_LEN..).unwrap_or_default();
    match &kind {
        b"avc1" | b"avc3" => {
            let avcc = bmff::child(boxes, b"avcC").ok_or_else(|| bad("no avcC"))?;
            let info = h264::parse_avcc(avcc.body)?;
            let codec = info.sps_info.codec_string().replacen(
                "avc1",
                std::str::from_utf8(&kind).unwrap_or("avc1"),
                1,
            );
            Ok((VideoCodec::H264, codec, width, height))
        }
        b"hvc1" | b"hev1" => {
            let hvcc = bmff::child(boxes, b"hvcC").ok_or_else(|| bad("no hvcC"))?;
            let codec = hevc_codec_string(&kind, hvcc.body)?;
            Ok((VideoCodec::H265, codec, width, height))
        }
        _ => {
            let name = String::from_utf8_lossy(&kind).into_owned();
            Ok((VideoCodec::Other(kind), name, width, height))
        }
    }
}

/// The RFC 6381 / ISO 14496-15 Annex E codec string of an `hvcC` record, e.g.
/// `hvc1.1.6.L93.B0`, from its first 13 bytes.
pub fn hevc_codec_string(kind: &[u8; 4], record: &[u8]) -> Result<String, Error> {
    if record.len() < 23 || record[0] != 1 {
        return Err(Error::InvalidConfig(
            "hvcC: shorter than 23 bytes or version != 1".into(),
        ));
    }
    let space = ["", "A", "B", "C"][usize::from(record[1] >> 6)];
    let tier = if record[1] & 0x20 != 0 { 'H' } else { 'L' };
    let profile_idc = record[1] & 0x1f;
    let compat = u32::from_be_bytes([record[2], record[3], record[4], record[5]]).reverse_bits();
    let level = record[12];
    let mut s = format!(
        "{}.{space}{profile_idc}.{compat:X}.{tier}{level}",
        String::from_utf8_lossy(kind)
    );
    let constraints = &record[6..12];
    let used = constraints
        .iter()
        .rposition(|&b| b != 0)
        .map_or(0, |p| p + 1);
    for b in &constraints[..used] {
        s.push_str(&format!(".{b:X}"));
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::h264::tests_support::{PPS, SPS_640X360};

    #[test]
    fn a_key_frame_in_annex_b_carries_the_parameter_sets() {
        let track = TrackConfig::h264(SPS_640X360, PPS).unwrap();
        let idr = b"\x65\x88\x84\x21";
        let mut sample = (idr.len() as u32).to_be_bytes().to_vec();
        sample.extend_from_slice(idr);
        let annexb = track.h264_annexb(&sample).unwrap();
        let au = crate::h264::AccessUnit::from_annexb(&annexb);
        assert!(au.is_key);
        assert_eq!(
            au.nals.iter().map(|n| &n[..]).collect::<Vec<_>>(),
            vec![SPS_640X360, PPS, &idr[..]]
        );
        assert_eq!(au.to_annexb(), annexb);
        assert!(
            track.h264_annexb(&[0, 0, 0, 9, 1]).is_err(),
            "a NAL past the end"
        );
        let hevc = TrackConfig::h265(HVCC, 64, 48).unwrap();
        assert!(hevc.h264_annexb(&sample).is_err());
    }

    /// A Main-profile hvcC header (level 3.1, progressive source flag) with empty arrays.
    const HVCC: &[u8] = &[
        0x01, 0x01, 0x60, 0x00, 0x00, 0x00, 0xb0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x5d, 0xf0, 0x00,
        0xfc, 0xfd, 0xf8, 0xf8, 0x00, 0x00, 0x0f, 0x00,
    ];

    #[test]
    fn h264_from_parameter_sets() {
        let t = TrackConfig::h264(SPS_640X360, PPS).unwrap();
        assert_eq!(t.codec(), VideoCodec::H264);
        assert_eq!(t.codec_string(), "avc1.42C016");
        assert_eq!((t.width(), t.height()), (640, 360));
        assert_eq!(t.mime_type(), "video/mp4; codecs=\"avc1.42C016\"");
        // The entry decodes with mp4-atom and survives our own reader.
        let atom =
            <mp4_atom::Avc1 as mp4_atom::Decode>::decode(&mut &t.sample_entry()[..]).unwrap();
        assert_eq!((atom.visual.width, atom.visual.height), (640, 360));
        assert_eq!(
            atom.avcc.sequence_parameter_sets,
            vec![SPS_640X360.to_vec()]
        );
        assert_eq!(TrackConfig::from_sample_entry(t.sample_entry()).unwrap(), t);
    }

    #[test]
    fn h265_opaque() {
        let t = TrackConfig::h265(HVCC, 1920, 1080).unwrap();
        assert_eq!(t.codec(), VideoCodec::H265);
        assert_eq!(t.codec_string(), "hvc1.1.6.L93.B0");
        let entry = t.sample_entry();
        assert_eq!(&entry[4..8], b"hvc1");
        assert!(entry.ends_with(HVCC));
        assert_eq!(TrackConfig::from_sample_entry(entry).unwrap(), t);
        assert!(TrackConfig::h265(&HVCC[..10], 1, 1).is_err());
    }

    #[test]
    fn bad_sample_entries_rejected() {
        let t = TrackConfig::h264(SPS_640X360, PPS).unwrap();
        let entry = t.sample_entry();
        for cut in 0..entry.len() {
            assert!(TrackConfig::from_sample_entry(&entry[..cut]).is_err());
        }
        let mut other = entry.to_vec();
        other[4..8].copy_from_slice(b"mp4v");
        let o = TrackConfig::from_sample_entry(&other).unwrap();
        assert_eq!(o.codec(), VideoCodec::Other(*b"mp4v"));
    }
}
