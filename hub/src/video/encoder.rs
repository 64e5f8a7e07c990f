//! H.264 encoding of the demo pattern with openh264, so `hub demo` has real
//! video (MSE live view, HLS, recordings) without hardware. Blocking: call it
//! from a blocking thread, never on the async runtime.

use bytes::Bytes;
use media::h264::{AccessUnit, AccessUnitAssembler, AnnexBSplitter};
use media::{Frame, Time90k, TrackConfig};
use openh264::OpenH264API;
use openh264::encoder::{BitRate, Encoder, EncoderConfig, FrameRate, IntraFramePeriod};
use openh264::formats::YUVBuffer;

/// An encoder for one picture size.
pub struct H264Encoder {
    enc: Encoder,
    width: u32,
    height: u32,
    gop: u32,
    frames: u64,
    track: Option<TrackConfig>,
}

impl std::fmt::Debug for H264Encoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("H264Encoder")
            .field("width", &self.width)
            .field("height", &self.height)
            .finish_non_exhaustive()
    }
}

/// One encoded picture.
#[derive(Debug)]
pub struct Encoded {
    /// Set when the parameters are new (first key frame, or a change).
    pub new_track: Option<TrackConfig>,
    pub frame: Frame,
}

impl H264Encoder {
    /// `width` and `height` must be even; a key frame every `gop` frames.
    pub fn new(width: u32, height: u32, fps: u32, gop: u32) -> Result<H264Encoder, String> {
        if !width.is_multiple_of(2) || !height.is_multiple_of(2) {
            return Err(format!("{width}x{height}: H.264 needs even dimensions"));
        }
        let bps = (width * height * fps.max(1)) / 4; // ~0.25 bit per pixel per frame
        let config = EncoderConfig::new()
            .max_frame_rate(FrameRate::from_hz(fps.max(1) as f32))
            .bitrate(BitRate::from_bps(bps.clamp(100_000, 8_000_000)))
            .skip_frames(false)
            .intra_frame_period(IntraFramePeriod::from_num_frames(gop.max(1)));
        let enc = Encoder::with_api_config(OpenH264API::from_source(), config)
            .map_err(|e| format!("openh264 encoder: {e}"))?;
        Ok(H264Encoder {
            enc,
            width,
            height,
            gop: gop.max(1),
            frames: 0,
            track: None,
        })
    }

    /// Encode one I420 picture (`testpattern::Image::to_i420`) taken at `dts`.
    /// `Ok(None)` when the encoder produced nothing for it.
    pub fn encode_i420(&mut self, i420: Vec<u8>, dts: Time90k) -> Result<Option<Encoded>, String> {
        let yuv = YUVBuffer::from_vec(i420, self.width as usize, self.height as usize);
        if self.frames.is_multiple_of(u64::from(self.gop)) {
            self.enc.force_intra_frame();
        }
        self.frames += 1;
        let annexb = self
            .enc
            .encode(&yuv)
            .map_err(|e| format!("openh264 encode: {e}"))?
            .to_vec();
        let Some(au) = access_unit(&annexb)? else {
            return Ok(None);
        };
        let mut new_track = None;
        if let (Some(sps), Some(pps)) = (au.sps(), au.pps()) {
            let t = TrackConfig::h264(sps, pps).map_err(|e| e.to_string())?;
            if self.track.as_ref() != Some(&t) {
                self.track = Some(t.clone());
                new_track = Some(t);
            }
        }
        if self.track.is_none() {
            return Ok(None); // nothing decodable before the first key frame
        }
        let frame = Frame::from_access_unit(&au, dts).map_err(|e| e.to_string())?;
        Ok(Some(Encoded { new_track, frame }))
    }
}

/// The one access unit in an encoder's output for one picture.
fn access_unit(annexb: &[u8]) -> Result<Option<AccessUnit>, String> {
    if annexb.is_empty() {
        return Ok(None);
    }
    let mut split = AnnexBSplitter::new();
    let mut asm = AccessUnitAssembler::new();
    split.push(annexb);
    let mut nals: Vec<Bytes> = Vec::new();
    while let Some(nal) = split.pop().map_err(|e| e.to_string())? {
        nals.push(nal);
    }
    nals.extend(split.finish());
    let mut out = None;
    for nal in nals {
        if let Some(au) = asm.push(nal).map_err(|e| e.to_string())? {
            out = Some(au);
        }
    }
    if let Some(au) = asm.finish() {
        out = Some(au);
    }
    Ok(out.filter(AccessUnit::has_picture))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_the_pattern_with_key_frames_every_gop() {
        let p = testpattern::Pattern::new(160, 120);
        let mut enc = H264Encoder::new(160, 120, 10, 5).unwrap();
        let mut keys = 0;
        let mut tracks = 0;
        for i in 0..10u32 {
            let img = p.render(testpattern::Stamp {
                frame: i,
                millis: 0,
            });
            let e = enc
                .encode_i420(img.to_i420(), Time90k(i64::from(i) * 9000))
                .unwrap()
                .expect("a frame per picture");
            keys += usize::from(e.frame.is_key);
            tracks += usize::from(e.new_track.is_some());
        }
        assert_eq!(keys, 2);
        assert_eq!(tracks, 1);
    }
}
