//! H.264 in software: [`H264Encoder`] (openh264) for raw sources, [`KeyFrameJpeg`] (openh264's
//! decoder + JPEG) for live frames from a camera that only gives H.264, and helpers that
//! turn an encoder's Annex B output into an [`AccessUnit`].

use bytes::Bytes;
use media::h264::{AccessUnit, NalType, nal_units};
use openh264::OpenH264API;
use openh264::decoder::{Decoder, DecoderConfig};
use openh264::encoder::{
    BitRate, Encoder, EncoderConfig, FrameRate, IntraFramePeriod, RateControlMode, SpsPpsStrategy,
    UsageType,
};
use openh264::formats::{YUVSlices, YUVSource};

/// Why encoding or decoding failed.
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    #[error("openh264: {0}")]
    OpenH264(#[from] openh264::Error),
    #[error("picture is {got} bytes; {width}x{height} I420 needs {want}")]
    BadLength {
        width: u32,
        height: u32,
        got: usize,
        want: usize,
    },
    #[error("H.264 needs even dimensions, not {0}x{1}")]
    OddSize(u32, u32),
}

/// One complete Annex B picture (e.g. an encoder's output for one frame, or
/// one V4L2 buffer) as an access unit.
pub fn access_unit_from_annexb(annexb: &[u8]) -> AccessUnit {
    let nals: Vec<Bytes> = nal_units(annexb).map(Bytes::copy_from_slice).collect();
    let is_key = nals
        .iter()
        .any(|n| NalType::of(n).is_some_and(NalType::is_idr));
    AccessUnit {
        nals,
        is_key,
        params_changed: false,
    }
}

/// The access unit in Annex B form (start codes), e.g. for a decoder.
pub fn access_unit_to_annexb(au: &AccessUnit) -> Vec<u8> {
    let mut out = Vec::with_capacity(au.len_bytes() + 4 * au.nals.len());
    for nal in &au.nals {
        out.extend_from_slice(b"\x00\x00\x00\x01");
        out.extend_from_slice(nal);
    }
    out
}

/// The software encoder settings.
#[derive(Debug, Clone, Copy)]
pub struct EncoderSettings {
    pub width: u32,
    pub height: u32,
    pub fps: u32,
    pub bitrate_bps: u32,
    /// Key frame interval in frames.
    pub gop: u32,
}

/// openh264, constant bitrate, a key frame every `gop` frames (and on
/// request), SPS/PPS with every key frame, never skipping a frame (every
/// captured picture becomes exactly one recorded frame).
pub struct H264Encoder {
    enc: Encoder,
    settings: EncoderSettings,
    since_key: u32,
    force_key: bool,
    out: Vec<u8>,
}

impl std::fmt::Debug for H264Encoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("H264Encoder")
            .field("settings", &self.settings)
            .finish()
    }
}

impl H264Encoder {
    pub fn new(settings: EncoderSettings) -> Result<H264Encoder, CodecError> {
        if !settings.width.is_multiple_of(2) || !settings.height.is_multiple_of(2) {
            return Err(CodecError::OddSize(settings.width, settings.height));
        }
        let config = EncoderConfig::new()
            .usage_type(UsageType::CameraVideoRealTime)
            .max_frame_rate(FrameRate::from_hz(settings.fps.max(1) as f32))
            .bitrate(BitRate::from_bps(settings.bitrate_bps))
            .rate_control_mode(RateControlMode::Bitrate)
            .skip_frames(false)
            .sps_pps_strategy(SpsPpsStrategy::ConstantId)
            .intra_frame_period(IntraFramePeriod::from_num_frames(settings.gop.max(1)));
        let enc = Encoder::with_api_config(OpenH264API::from_source(), config)?;
        Ok(H264Encoder {
            enc,
            settings,
            since_key: 0,
            force_key: true,
            out: Vec::new(),
        })
    }

    pub fn settings(&self) -> EncoderSettings {
        self.settings
    }

    /// The next picture becomes a key frame (e.g. after frames were lost).
    pub fn force_key_frame(&mut self) {
        self.force_key = true;
    }

    /// Encode one I420 picture; `None` if the encoder produced nothing.
    pub fn encode(&mut self, i420: &[u8]) -> Result<Option<AccessUnit>, CodecError> {
        let (w, h) = (self.settings.width as usize, self.settings.height as usize);
        let want = w * h * 3 / 2;
        if i420.len() != want {
            return Err(CodecError::BadLength {
                width: self.settings.width,
                height: self.settings.height,
                got: i420.len(),
                want,
            });
        }
        let (y, rest) = i420.split_at(w * h);
        let (u, v) = rest.split_at(w * h / 4);
        let src = YUVSlices::new((y, u, v), (w, h), (w, w / 2, w / 2));
        // Our own key frame cadence, so it restarts after a forced one.
        if self.force_key || self.since_key >= self.settings.gop.max(1) {
            self.enc.force_intra_frame();
            self.force_key = false;
            self.since_key = 0;
        }
        self.since_key += 1;
        let bs = self.enc.encode(&src)?;
        self.out.clear();
        bs.write_vec(&mut self.out);
        if self.out.is_empty() {
            return Ok(None);
        }
        Ok(Some(access_unit_from_annexb(&self.out)))
    }
}

/// Live JPEGs from an H.264 stream by decoding key frames only: each IDR
/// (with its SPS/PPS) decodes on its own, so P frames are never decoded.
pub struct KeyFrameJpeg {
    dec: Decoder,
    quality: u8,
    rgb: Vec<u8>,
}

impl std::fmt::Debug for KeyFrameJpeg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyFrameJpeg")
            .field("quality", &self.quality)
            .finish()
    }
}

impl KeyFrameJpeg {
    pub fn new(quality: u8) -> Result<KeyFrameJpeg, CodecError> {
        let dec = Decoder::with_api_config(OpenH264API::from_source(), DecoderConfig::new())?;
        Ok(KeyFrameJpeg {
            dec,
            quality,
            rgb: Vec::new(),
        })
    }

    /// Decode one key frame (Annex B, SPS/PPS included or sent before) to a
    /// JPEG. `None` if the decoder returned no picture.
    pub fn jpeg(&mut self, annexb: &[u8]) -> Result<Option<Vec<u8>>, CodecError> {
        let Some(yuv) = self.dec.decode(annexb)? else {
            return Ok(None);
        };
        let (w, h) = yuv.dimensions();
        self.rgb.resize(w * h * 3, 0);
        yuv.write_rgb8(&mut self.rgb);
        let image = testpattern::Image {
            width: w as u32,
            height: h as u32,
            rgb: std::mem::take(&mut self.rgb),
        };
        let jpeg = testpattern::encode_jpeg(&image, self.quality);
        self.rgb = image.rgb;
        Ok(Some(jpeg))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encode_then_decode_a_key_frame_keeps_the_stamp() {
        let (w, h) = (320u32, 240u32);
        let pattern = testpattern::Pattern::new(w, h);
        let mut enc = H264Encoder::new(EncoderSettings {
            width: w,
            height: h,
            fps: 10,
            bitrate_bps: 500_000,
            gop: 5,
        })
        .unwrap();
        let mut keys = Vec::new();
        for i in 0..12u32 {
            let img = pattern.render(testpattern::Stamp {
                frame: i,
                millis: 5000 + u64::from(i),
            });
            let au = enc
                .encode(&img.to_i420())
                .unwrap()
                .expect("a frame per picture");
            assert_eq!(au.is_key, i % 5 == 0, "frame {i}");
            if au.is_key {
                assert!(au.sps().is_some() && au.pps().is_some());
                keys.push((i, access_unit_to_annexb(&au)));
            }
        }
        enc.force_key_frame();
        let img = pattern.render(testpattern::Stamp {
            frame: 12,
            millis: 1,
        });
        assert!(enc.encode(&img.to_i420()).unwrap().unwrap().is_key);
        let mut live = KeyFrameJpeg::new(80).unwrap();
        for (i, annexb) in keys {
            let jpeg = live
                .jpeg(&annexb)
                .unwrap()
                .expect("a picture per key frame");
            let mut dec = zune_jpeg::JpegDecoder::new(std::io::Cursor::new(&jpeg));
            let rgb = dec.decode().unwrap();
            let stamp = testpattern::read_stamp(&rgb, w, h).expect("stamp readable");
            assert_eq!(stamp.frame, i);
        }
        assert!(matches!(
            enc.encode(&[0u8; 10]),
            Err(CodecError::BadLength { .. })
        ));
    }
}
