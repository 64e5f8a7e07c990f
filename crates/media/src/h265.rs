//! Just enough H.265 to record it: NAL unit types, an SPS reader (profile/tier/level, chroma
//! format, cropped size, bit depths), an `hvcC` record builder from VPS/SPS/PPS and the track
//! made from them ([`track`]), and Annex B access units as MP4 samples. Pure; the input is
//! untrusted (a camera's bitstream): errors, never panics, nothing allocated from a field.

use bytes::Bytes;

use crate::{Error, TrackConfig};

/// NAL unit type of an H.265 NAL (6 bits after the forbidden bit).
pub fn nal_type(nal: &[u8]) -> Option<u8> {
    nal.first().map(|b| (b >> 1) & 0x3f)
}

/// Video parameter set.
pub const VPS: u8 = 32;
/// Sequence parameter set.
pub const SPS: u8 = 33;
/// Picture parameter set.
pub const PPS: u8 = 34;
/// Access unit delimiter.
pub const AUD: u8 = 35;
/// Filler data.
pub const FD: u8 = 38;

/// Whether the type is an IRAP picture (BLA/IDR/CRA), where decoding can start.
pub fn is_irap(t: u8) -> bool {
    (16..=23).contains(&t)
}

/// Why an SPS or hvcC could not be read or built.
fn bad(why: &str) -> Error {
    Error::InvalidParameterSet(format!("H.265: {why}"))
}

/// Facts from an H.265 SPS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpsInfo {
    /// The 12 bytes of general_profile_tier_level (space/tier/profile, 32 compatibility
    /// flags, 48 constraint bits, level), as they go into `hvcC`.
    pub general_ptl: [u8; 12],
    /// sps_max_sub_layers_minus1 + 1.
    pub max_sub_layers: u8,
    /// sps_temporal_id_nesting_flag.
    pub temporal_id_nesting: bool,
    /// chroma_format_idc.
    pub chroma_format_idc: u8,
    /// Display width after the conformance window.
    pub width: u32,
    /// Display height after the conformance window.
    pub height: u32,
    /// Luma bit depth.
    pub bit_depth_luma: u8,
    /// Chroma bit depth.
    pub bit_depth_chroma: u8,
}

/// Removes emulation prevention bytes (`00 00 03` → `00 00`).
fn unescape(nal: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(nal.len());
    let mut zeros = 0;
    for &b in nal {
        if zeros >= 2 && b == 3 {
            zeros = 0;
            continue;
        }
        zeros = if b == 0 { zeros + 1 } else { 0 };
        out.push(b);
    }
    out
}

struct Bits<'a> {
    data: &'a [u8],
    pos: usize,
}

impl Bits<'_> {
    fn bit(&mut self) -> Result<u32, Error> {
        let byte = self
            .data
            .get(self.pos / 8)
            .ok_or_else(|| bad("SPS truncated"))?;
        let b = (byte >> (7 - self.pos % 8)) & 1;
        self.pos += 1;
        Ok(u32::from(b))
    }

    fn bits(&mut self, n: u32) -> Result<u32, Error> {
        let mut v = 0;
        for _ in 0..n {
            v = (v << 1) | self.bit()?;
        }
        Ok(v)
    }

    fn skip(&mut self, n: usize) -> Result<(), Error> {
        self.pos += n;
        if self.pos > self.data.len() * 8 {
            return Err(bad("SPS truncated"));
        }
        Ok(())
    }

    fn ue(&mut self) -> Result<u32, Error> {
        let mut zeros = 0;
        while self.bit()? == 0 {
            zeros += 1;
            if zeros > 31 {
                return Err(bad("bad exp-Golomb code"));
            }
        }
        Ok(((1u64 << zeros) - 1 + u64::from(self.bits(zeros)?)) as u32)
    }
}

/// Parses an SPS NAL unit (with its 2-byte header).
pub fn parse_sps(nal: &[u8]) -> Result<SpsInfo, Error> {
    if nal_type(nal) != Some(SPS) {
        return Err(bad("not an SPS"));
    }
    let rbsp = unescape(nal);
    let rbsp = rbsp.get(2..).ok_or_else(|| bad("SPS truncated"))?;
    let mut r = Bits { data: rbsp, pos: 0 };
    r.bits(4)?; // sps_video_parameter_set_id
    let max_sub_layers_minus1 = r.bits(3)? as usize;
    let temporal_id_nesting = r.bit()? == 1;
    let mut general_ptl = [0u8; 12];
    general_ptl.copy_from_slice(rbsp.get(1..13).ok_or_else(|| bad("SPS truncated"))?);
    r.skip(96)?;
    let mut flags = Vec::with_capacity(max_sub_layers_minus1);
    for _ in 0..max_sub_layers_minus1 {
        flags.push((r.bit()? == 1, r.bit()? == 1));
    }
    if max_sub_layers_minus1 > 0 {
        r.skip(2 * (8 - max_sub_layers_minus1))?;
    }
    for (profile, level) in flags {
        if profile {
            r.skip(88)?;
        }
        if level {
            r.skip(8)?;
        }
    }
    r.ue()?; // sps_seq_parameter_set_id
    let chroma_format_idc = r.ue()?;
    if chroma_format_idc > 3 {
        return Err(bad("chroma_format_idc"));
    }
    let separate_planes = chroma_format_idc == 3 && r.bit()? == 1;
    let pic_w = r.ue()?;
    let pic_h = r.ue()?;
    let (mut l, mut rt, mut t, mut b) = (0, 0, 0, 0);
    if r.bit()? == 1 {
        l = r.ue()?;
        rt = r.ue()?;
        t = r.ue()?;
        b = r.ue()?;
    }
    let bit_depth_luma = r.ue()?.saturating_add(8);
    let bit_depth_chroma = r.ue()?.saturating_add(8);
    let (sub_w, sub_h) = match (chroma_format_idc, separate_planes) {
        (1, false) => (2, 2),
        (2, false) => (2, 1),
        _ => (1, 1),
    };
    let cropped = |size: u32, sub: u32, a: u32, b: u32| {
        sub.checked_mul(a.saturating_add(b))
            .and_then(|crop| size.checked_sub(crop))
            .ok_or_else(|| bad("conformance window"))
    };
    let width = cropped(pic_w, sub_w, l, rt)?;
    let height = cropped(pic_h, sub_h, t, b)?;
    if width == 0 || height == 0 || bit_depth_luma > 16 || bit_depth_chroma > 16 {
        return Err(bad("implausible SPS"));
    }
    Ok(SpsInfo {
        general_ptl,
        max_sub_layers: max_sub_layers_minus1 as u8 + 1,
        temporal_id_nesting,
        chroma_format_idc: chroma_format_idc as u8,
        width,
        height,
        bit_depth_luma: bit_depth_luma as u8,
        bit_depth_chroma: bit_depth_chroma as u8,
    })
}

/// Builds an `HEVCDecoderConfigurationRecord` (hvcC body) with 4-byte NAL lengths and one
/// VPS, SPS and PPS array. Returns the record and the parsed SPS.
pub fn build_hvcc(vps: &[u8], sps: &[u8], pps: &[u8]) -> Result<(Vec<u8>, SpsInfo), Error> {
    let info = parse_sps(sps)?;
    let mut out = Vec::with_capacity(23 + 15 + vps.len() + sps.len() + pps.len());
    out.push(1);
    out.extend_from_slice(&info.general_ptl);
    out.extend_from_slice(&[0xf0, 0x00]); // reserved + min_spatial_segmentation_idc 0
    out.push(0xfc); // reserved + parallelismType 0 (unknown)
    out.push(0xfc | info.chroma_format_idc);
    out.push(0xf8 | (info.bit_depth_luma - 8));
    out.push(0xf8 | (info.bit_depth_chroma - 8));
    out.extend_from_slice(&[0, 0]); // avgFrameRate unknown
    out.push((info.max_sub_layers << 3) | (u8::from(info.temporal_id_nesting) << 2) | 3);
    out.push(3);
    for (t, nal) in [(VPS, vps), (SPS, sps), (PPS, pps)] {
        let len = u16::try_from(nal.len()).map_err(|_| bad("parameter set too long"))?;
        out.push(0x80 | t);
        out.extend_from_slice(&1u16.to_be_bytes());
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(nal);
    }
    Ok((out, info))
}

/// The track of a VPS, SPS and PPS: an `hvc1` sample entry with their `hvcC` record and the
/// SPS's cropped size.
pub fn track(vps: &[u8], sps: &[u8], pps: &[u8]) -> Result<TrackConfig, Error> {
    let (record, info) = build_hvcc(vps, sps, pps)?;
    match (u16::try_from(info.width), u16::try_from(info.height)) {
        (Ok(w), Ok(h)) => TrackConfig::h265(&record, w, h),
        _ => Err(bad(&format!("size {}x{}", info.width, info.height))),
    }
}

/// One H.265 access unit in Annex B form as an MP4 sample (4-byte lengths), without parameter
/// sets, delimiters and filler; plus whether it is an IRAP picture.
pub fn annexb_to_sample(annexb: &[u8]) -> Result<(Vec<u8>, bool), Error> {
    let mut out = Vec::with_capacity(annexb.len() + 16);
    let mut key = false;
    for nal in crate::h264::nal_units(annexb) {
        let Some(t) = nal_type(nal) else { continue };
        if matches!(t, VPS | SPS | PPS | AUD | FD) {
            continue;
        }
        key |= is_irap(t);
        crate::h264::push_length_prefixed(&mut out, nal)?;
    }
    Ok((out, key))
}

/// The first VPS, SPS and PPS of an Annex B access unit.
pub fn parameter_sets(annexb: &[u8]) -> Option<(Bytes, Bytes, Bytes)> {
    let (mut v, mut s, mut p) = (None, None, None);
    for nal in crate::h264::nal_units(annexb) {
        match nal_type(nal) {
            Some(VPS) if v.is_none() => v = Some(Bytes::copy_from_slice(nal)),
            Some(SPS) if s.is_none() => s = Some(Bytes::copy_from_slice(nal)),
            Some(PPS) if p.is_none() => p = Some(Bytes::copy_from_slice(nal)),
            _ => {}
        }
    }
    Some((v?, s?, p?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unescape_removes_epb() {
        assert_eq!(unescape(&[0, 0, 3, 1, 0, 0, 3, 0]), vec![0, 0, 1, 0, 0, 0]);
    }

    /// Found by the fuzzer: exp-Golomb values near `u32::MAX` for the bit depths and the
    /// conformance window overflowed.
    #[test]
    fn huge_fields_are_refused_not_overflowed() {
        let mut sps = vec![0x42, 0x01, 0x01];
        sps.extend_from_slice(&[0x01, 0x60, 0, 0, 0, 0xb0, 0, 0, 0, 0, 0, 0x5d]);
        // seq id 0, chroma 1, width 8, height 8 ("1", "010", "0001001" x2), a window of
        // left = 2^31 - 1 (31 zeros, a one, 31 ones), then bit depths of 2^31 - 1 too.
        let mut bits = String::from("1010000100100010011");
        let huge = format!("{}1{}", "0".repeat(31), "1".repeat(31));
        bits.push_str(&huge);
        bits.push_str(&huge);
        bits.push_str("11");
        bits.push_str(&huge);
        bits.push_str(&huge);
        while bits.len() % 8 != 0 {
            bits.push('1');
        }
        for chunk in bits.as_bytes().chunks(8) {
            sps.push(u8::from_str_radix(std::str::from_utf8(chunk).unwrap(), 2).unwrap());
        }
        assert!(parse_sps(&sps).is_err());
    }

    #[test]
    fn rejects_garbage() {
        assert!(parse_sps(&[0x42, 0x01]).is_err());
        assert!(parse_sps(&[0x40, 0x01, 0xff]).is_err());
        for n in 0..40 {
            let junk: Vec<u8> = (0..n).map(|i| (i * 37 + 0x42) as u8).collect();
            let _ = parse_sps(&junk);
        }
    }
}
