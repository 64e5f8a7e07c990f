//! H.264 in software, shared by the agent and the hub: [`H264Encoder`] (openh264) turns raw
//! I420 pictures into access units (the agent's raw sources, the hub's demo camera), and
//! [`KeyFrameJpeg`] (openh264's decoder and a JPEG encoder) turns a key frame into a JPEG
//! (live view of a camera that only gives H.264: the agent's rpicam and V4L2 H.264
//! sources, the hub's RTSP and Reolink cameras). [`thumbnail`] fits a JPEG into a box
//! (camera_proxy's `?thumbnail` snapshots).
//!
//! Everything here blocks for milliseconds per picture: call it from a thread of its own
//! or the blocking pool, never on an async runtime.

pub mod thumbnail;

use media::h264::AccessUnit;
use media::{Frame, Time90k, TrackConfig};
use openh264::OpenH264API;
use openh264::decoder::{DecodedYUV, Decoder, DecoderConfig};
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
    #[error(transparent)]
    Media(#[from] media::Error),
}

/// The software encoder settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EncoderSettings {
    pub width: u32,
    pub height: u32,
    pub fps: u32,
    pub bitrate_bps: u32,
    /// Key frame interval in frames.
    pub gop: u32,
}

/// One encoded picture as the video pipeline takes it ([`H264Encoder::encode_frame`]).
#[derive(Debug)]
pub struct Encoded {
    /// Set when the parameters are new (the first key frame, or a change).
    pub new_track: Option<TrackConfig>,
    pub frame: Frame,
}

/// openh264, constant bitrate, a key frame every `gop` frames (and on request), SPS/PPS
/// with every key frame, never skipping a frame (every picture becomes exactly one coded
/// frame).
pub struct H264Encoder {
    enc: Encoder,
    settings: EncoderSettings,
    since_key: u32,
    force_key: bool,
    out: Vec<u8>,
    /// The track of the latest parameter sets, for [`encode_frame`](Self::encode_frame).
    track: Option<TrackConfig>,
}

impl std::fmt::Debug for H264Encoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("H264Encoder")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
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
            track: None,
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
        Ok(Some(AccessUnit::from_annexb(&self.out)))
    }

    /// Encode one I420 picture taken at `dts` as a [`Frame`] (AVCC), with the track when
    /// its parameters are new. `None` when there is nothing to decode yet (no picture, or
    /// no SPS/PPS seen so far).
    pub fn encode_frame(
        &mut self,
        i420: &[u8],
        dts: Time90k,
    ) -> Result<Option<Encoded>, CodecError> {
        let Some(au) = self.encode(i420)?.filter(AccessUnit::has_picture) else {
            return Ok(None);
        };
        let mut new_track = None;
        if let (Some(sps), Some(pps)) = (au.sps(), au.pps()) {
            let t = TrackConfig::h264(sps, pps)?;
            if self.track.as_ref() != Some(&t) {
                self.track = Some(t.clone());
                new_track = Some(t);
            }
        }
        if self.track.is_none() {
            return Ok(None);
        }
        let frame = Frame::from_access_unit(&au, dts)?;
        Ok(Some(Encoded { new_track, frame }))
    }
}

/// Live JPEGs from an H.264 stream by decoding key frames only: each IDR (with its SPS and
/// PPS) decodes on its own, so P frames are never decoded.
pub struct KeyFrameJpeg {
    dec: Decoder,
    quality: u8,
    rgb: Vec<u8>,
}

impl std::fmt::Debug for KeyFrameJpeg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyFrameJpeg")
            .field("quality", &self.quality)
            .finish_non_exhaustive()
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

    /// Decode one key frame (Annex B, SPS/PPS included or sent before) to a picture.
    /// `None` if the decoder returned none.
    pub fn decode(&mut self, annexb: &[u8]) -> Result<Option<testpattern::Image>, CodecError> {
        let mut rgb = std::mem::take(&mut self.rgb);
        let mut to_rgb = |yuv: &DecodedYUV<'_>| {
            let (w, h) = yuv.dimensions();
            rgb.resize(w * h * 3, 0);
            yuv.write_rgb8(&mut rgb);
            (w as u32, h as u32)
        };
        let size = match self.dec.decode(annexb)? {
            Some(yuv) => Some(to_rgb(&yuv)),
            // A decoder holding the picture back gives it up when flushed.
            None => self.dec.flush_remaining()?.last().map(&mut to_rgb),
        };
        Ok(size.map(|(width, height)| testpattern::Image { width, height, rgb }))
    }

    /// Bytes of the picture buffer kept between key frames (the RGB picture).
    pub fn held_bytes(&self) -> usize {
        self.rgb.capacity()
    }

    /// Decode one key frame (as [`decode`](Self::decode)) and encode it as a JPEG.
    pub fn jpeg(&mut self, annexb: &[u8]) -> Result<Option<Vec<u8>>, CodecError> {
        let Some(image) = self.decode(annexb)? else {
            return Ok(None);
        };
        let jpeg = testpattern::encode_jpeg(&image, self.quality);
        self.rgb = image.rgb;
        Ok(Some(jpeg))
    }
}

/// Decodes an H.264 stream frame after frame (P frames too, in order) and hands out a
/// picture's luma plane only when asked: what motion detection on a camera's sub-stream
/// needs, with no colour conversion of the frames it skips.
pub struct LumaDecoder {
    dec: Decoder,
}

impl std::fmt::Debug for LumaDecoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LumaDecoder").finish_non_exhaustive()
    }
}

/// A decoded picture's luma plane: `stride` bytes per row, `width` of them used; with its
/// chroma planes for the rare caller that wants colour (a thumbnail).
#[derive(Debug)]
pub struct Luma<'a> {
    pub data: &'a [u8],
    pub width: u32,
    pub height: u32,
    pub stride: usize,
    /// The 4:2:0 chroma planes.
    pub chroma: Chroma<'a>,
}

/// A decoded picture's U and V planes (half the width and height), `stride` bytes per row.
#[derive(Debug)]
pub struct Chroma<'a> {
    pub u: &'a [u8],
    pub v: &'a [u8],
    pub stride: usize,
}

impl Luma<'_> {
    /// The picture in RGB, halved until at most `max_width` wide, each output pixel the
    /// colour of the top-left pixel of its block (BT.601, studio range, as the decoder's
    /// own RGB conversion): a thumbnail without converting the full-size picture.
    pub fn small_rgb(&self, max_width: u32) -> testpattern::Image {
        let mut step = 1usize;
        while self.width as usize / step > max_width.max(1) as usize
            && self.height as usize / step >= 2
        {
            step *= 2;
        }
        let (w, h) = (self.width as usize / step, self.height as usize / step);
        let mut rgb = Vec::with_capacity(w * h * 3);
        for y in 0..h {
            let (py, cy) = (y * step, y * step / 2);
            for x in 0..w {
                let (px, cx) = (x * step, x * step / 2);
                let luma = f32::from(self.data[py * self.stride + px]) - 16.0;
                let u = f32::from(self.chroma.u[cy * self.chroma.stride + cx]) - 128.0;
                let v = f32::from(self.chroma.v[cy * self.chroma.stride + cx]) - 128.0;
                let c = 1.164 * luma;
                let to8 = |f: f32| f.round().clamp(0.0, 255.0) as u8;
                rgb.extend([
                    to8(c + 1.596 * v),
                    to8(c - 0.392 * u - 0.813 * v),
                    to8(c + 2.017 * u),
                ]);
            }
        }
        testpattern::Image {
            width: w as u32,
            height: h as u32,
            rgb,
        }
    }
}

impl LumaDecoder {
    pub fn new() -> Result<LumaDecoder, CodecError> {
        let dec = Decoder::with_api_config(OpenH264API::from_source(), DecoderConfig::new())?;
        Ok(LumaDecoder { dec })
    }

    /// Decodes one access unit (Annex B). When it gives a picture and `use_luma` is given,
    /// calls it with the luma plane. Whether a picture came out.
    pub fn decode(
        &mut self,
        annexb: &[u8],
        use_luma: Option<&mut dyn FnMut(Luma<'_>)>,
    ) -> Result<bool, CodecError> {
        let Some(yuv) = self.dec.decode(annexb)? else {
            return Ok(false);
        };
        if let Some(f) = use_luma {
            let (w, h) = yuv.dimensions();
            let strides = yuv.strides();
            f(Luma {
                data: yuv.y(),
                width: w as u32,
                height: h as u32,
                stride: strides.0,
                chroma: Chroma {
                    u: yuv.u(),
                    v: yuv.v(),
                    stride: strides.1,
                },
            });
        }
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(width: u32, height: u32, gop: u32) -> EncoderSettings {
        EncoderSettings {
            width,
            height,
            fps: 10,
            bitrate_bps: 500_000,
            gop,
        }
    }

    #[test]
    fn encode_then_decode_a_key_frame_keeps_the_stamp() {
        let (w, h) = (320u32, 240u32);
        let pattern = testpattern::Pattern::new(w, h);
        let mut enc = H264Encoder::new(settings(w, h, 5)).unwrap();
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
                keys.push((i, au.to_annexb()));
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
        assert!(matches!(
            H264Encoder::new(settings(161, 120, 5)),
            Err(CodecError::OddSize(161, 120))
        ));
    }

    /// A decoded frame's thumbnail: halved to fit, in the picture's colours.
    #[test]
    fn a_decoded_frame_makes_a_small_rgb_picture_in_its_colours() {
        let (w, h) = (640u32, 480u32);
        // Left half red, right half blue.
        let mut rgb = Vec::with_capacity((w * h * 3) as usize);
        for _ in 0..h {
            for x in 0..w {
                rgb.extend(if x < w / 2 {
                    [200, 40, 40]
                } else {
                    [40, 40, 200]
                });
            }
        }
        let image = testpattern::Image {
            width: w,
            height: h,
            rgb,
        };
        let mut enc = H264Encoder::new(settings(w, h, 5)).unwrap();
        let au = enc.encode(&image.to_i420()).unwrap().unwrap();
        let mut dec = LumaDecoder::new().unwrap();
        let mut small = None;
        let mut keep = |y: Luma<'_>| small = Some(y.small_rgb(320));
        assert!(dec.decode(&au.to_annexb(), Some(&mut keep)).unwrap());
        let small = small.expect("a picture");
        assert_eq!((small.width, small.height), (320, 240));
        let px = |x: usize, y: usize| &small.rgb[(y * 320 + x) * 3..][..3];
        for (p, want) in [(px(80, 120), [200, 40, 40]), (px(240, 120), [40, 40, 200])] {
            for c in 0..3 {
                assert!(
                    (i32::from(p[c]) - want[c]).abs() <= 12,
                    "{p:?} is not {want:?}"
                );
            }
        }
    }

    /// The video pipeline's view: a track with the first key frame, a frame per picture,
    /// and a key frame that decodes alone from the track's parameter sets.
    #[test]
    fn frames_for_the_pipeline_decode_from_the_track() {
        let p = testpattern::Pattern::new(320, 240);
        let mut enc = H264Encoder::new(settings(320, 240, 5)).unwrap();
        let mut keys = 0;
        let mut tracks = Vec::new();
        let mut first_key = None;
        for i in 0..10u32 {
            let stamp = testpattern::Stamp {
                frame: i,
                millis: 123_456,
            };
            let e = enc
                .encode_frame(&p.render(stamp).to_i420(), Time90k(i64::from(i) * 9000))
                .unwrap()
                .expect("a frame per picture");
            assert_eq!(e.frame.dts, Time90k(i64::from(i) * 9000));
            keys += usize::from(e.frame.is_key);
            tracks.extend(e.new_track);
            if e.frame.is_key && first_key.is_none() {
                first_key = Some((stamp, e.frame.data.clone()));
            }
        }
        assert_eq!((keys, tracks.len()), (2, 1));
        let (stamp, data) = first_key.unwrap();
        let annexb = tracks[0].h264_annexb(&data).unwrap();
        let img = KeyFrameJpeg::new(80)
            .unwrap()
            .decode(&annexb)
            .unwrap()
            .unwrap();
        assert_eq!((img.width, img.height), (320, 240));
        assert_eq!(testpattern::read_stamp(&img.rgb, 320, 240), Some(stamp));
    }
}
