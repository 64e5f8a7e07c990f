//! The simulator's media: a real capture replayed in a loop (timestamps rewritten to a
//! continuous, wrapping microsecond clock) or generated H.264, one video frame (plus the
//! audio that followed it in the capture) per step.

use std::path::PathBuf;
use std::sync::Arc;

use baichuan::media::{
    FrameKind, MediaDecoder, MediaError, MediaInfo, MediaPacket, VideoCodec, VideoFrame,
};
use bytes::{Bytes, BytesMut};

use super::h264gen::H264Gen;

/// Where the simulated camera's video comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SimMedia {
    /// Replay the concatenation of these BcMedia capture files (e.g. the fixture group
    /// `neolink/bcmedia/video_stream_swan_00..09.raw`) in a loop, paced in real time.
    Replay(Vec<PathBuf>),
    /// Generated H.264 (128×96, I_PCM key frames), `fps` frames per second, a key frame
    /// every `gop` frames.
    Generated {
        /// Frames per second.
        fps: u32,
        /// Frames per group of pictures.
        gop: u32,
    },
}

impl SimMedia {
    /// Generated media at 15 fps with a key frame every second.
    pub const GENERATED: SimMedia = SimMedia::Generated { fps: 15, gop: 15 };
}

/// The wrapping clock starts 3 s before the u32 wrap, so every run crosses it early.
pub const CLOCK_START_US: u32 = u32::MAX - 3_000_000;
/// Step used when a capture's own step is implausible.
const FALLBACK_STEP_US: u32 = 66_667;

/// A video frame with the packets that followed it, and the time to the next group.
#[derive(Debug, Clone)]
struct Group {
    packets: Vec<MediaPacket>,
    step_us: u32,
}

#[derive(Debug, Clone)]
enum Source {
    Replay {
        groups: Arc<Vec<Group>>,
        idx: usize,
    },
    Generated {
        generator: Box<H264Gen>,
        step_us: u32,
    },
}

/// The media of one simulated stream.
#[derive(Debug, Clone)]
pub(crate) struct MediaCursor {
    source: Source,
    info: MediaInfo,
    clock_us: u32,
    posix: u32,
}

/// A loaded replay: groups + info, shared by all connections.
#[derive(Debug, Clone)]
pub(crate) struct Prepared {
    groups: Option<Arc<Vec<Group>>>,
    info: MediaInfo,
    generator: Option<(u32, u32)>,
}

fn info(width: u32, height: u32, fps: u8) -> MediaInfo {
    MediaInfo {
        width,
        height,
        unknown: 1,
        fps,
        start: [126, 1, 1, 0, 0, 0],
        end: [126, 1, 1, 0, 0, 0],
        reserved: 0,
    }
}

/// Loads and groups a replay (or describes the generator).
pub(crate) fn prepare(m: &SimMedia) -> std::io::Result<Prepared> {
    match m {
        SimMedia::Generated { fps, gop } => {
            let g = H264Gen::new(128, 96, *gop);
            Ok(Prepared {
                groups: None,
                info: info(g.width(), g.height(), (*fps).min(255) as u8),
                generator: Some(((*fps).max(1), *gop)),
            })
        }
        SimMedia::Replay(files) => {
            let mut buf = BytesMut::new();
            for f in files {
                buf.extend_from_slice(&std::fs::read(f)?);
            }
            let mut dec = MediaDecoder::new();
            let mut packets = Vec::new();
            loop {
                match dec.decode(&mut buf) {
                    Ok(Some(p)) => packets.push(p),
                    Ok(None) => break,
                    Err(MediaError::Resync { .. }) => {}
                }
            }
            let mut groups: Vec<Group> = Vec::new();
            let mut stamps: Vec<u32> = Vec::new();
            let mut info_pkt = None;
            for p in packets {
                match p {
                    MediaPacket::InfoV1(i) | MediaPacket::InfoV2(i) => info_pkt = Some(i),
                    MediaPacket::Video(v) => {
                        stamps.push(v.microseconds);
                        groups.push(Group {
                            packets: vec![MediaPacket::Video(v)],
                            step_us: FALLBACK_STEP_US,
                        });
                    }
                    audio => {
                        if let Some(g) = groups.last_mut() {
                            g.packets.push(audio);
                        }
                    }
                }
            }
            if groups.is_empty() {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    "replay: no video frames in the capture",
                ));
            }
            let mut steps = Vec::new();
            for i in 0..groups.len() {
                let s = stamps
                    .get(i + 1)
                    .map(|n| n.wrapping_sub(stamps[i]))
                    .filter(|s| (1..=1_000_000).contains(s));
                if let Some(s) = s {
                    steps.push(s);
                }
                groups[i].step_us = s.unwrap_or(0);
            }
            let typical = if steps.is_empty() {
                FALLBACK_STEP_US
            } else {
                steps.iter().map(|&s| u64::from(s)).sum::<u64>() as u32 / steps.len() as u32
            };
            for g in &mut groups {
                if g.step_us == 0 {
                    g.step_us = typical;
                }
            }
            let info = info_pkt.unwrap_or_else(|| {
                let (w, h) = first_size(&groups).unwrap_or((0, 0));
                info(w, h, (1_000_000 / typical.max(1)).min(255) as u8)
            });
            Ok(Prepared {
                groups: Some(Arc::new(groups)),
                info,
                generator: None,
            })
        }
    }
}

fn first_size(groups: &[Group]) -> Option<(u32, u32)> {
    let v = groups.iter().find_map(|g| match &g.packets[0] {
        MediaPacket::Video(v) if v.codec == VideoCodec::H264 && v.kind == FrameKind::I => {
            Some(v.data.clone())
        }
        _ => None,
    })?;
    let sps = media::h264::nal_units(&v).find(|n| n.first().is_some_and(|b| b & 0x1f == 7))?;
    let i = media::h264::parse_sps(sps).ok()?;
    Some((i.width, i.height))
}

impl MediaCursor {
    pub(crate) fn new(p: &Prepared) -> Self {
        let source = match (&p.groups, p.generator) {
            (Some(g), _) => Source::Replay {
                groups: g.clone(),
                idx: 0,
            },
            (None, Some((fps, gop))) => Source::Generated {
                generator: Box::new(H264Gen::new(p.info.width, p.info.height, gop)),
                step_us: 1_000_000 / fps,
            },
            (None, None) => Source::Generated {
                generator: Box::new(H264Gen::new(128, 96, 15)),
                step_us: FALLBACK_STEP_US,
            },
        };
        MediaCursor {
            source,
            info: p.info,
            clock_us: CLOCK_START_US,
            posix: 1_767_225_600,
        }
    }

    /// The InfoV2 packet sent first.
    pub(crate) fn info_packet(&self) -> MediaPacket {
        MediaPacket::InfoV2(self.info)
    }

    /// The next group of packets (one video frame first) and the microseconds until the
    /// group after it. Video timestamps are rewritten to the continuous clock.
    pub(crate) fn next_group(&mut self) -> (Vec<MediaPacket>, u32) {
        let us = self.clock_us;
        let (mut packets, step) = match &mut self.source {
            Source::Replay { groups, idx } => {
                let g = &groups[*idx];
                *idx = (*idx + 1) % groups.len();
                (g.packets.clone(), g.step_us)
            }
            Source::Generated { generator, step_us } => {
                let (data, key) = generator.next_frame();
                let v = VideoFrame {
                    kind: if key { FrameKind::I } else { FrameKind::P },
                    channel_digit: b'0',
                    codec: VideoCodec::H264,
                    microseconds: 0,
                    unknown: 0,
                    extra_header: if key {
                        let mut e = self.posix.to_le_bytes().to_vec();
                        e.extend_from_slice(&[0; 4]);
                        Bytes::from(e)
                    } else {
                        Bytes::new()
                    },
                    data: Bytes::from(data),
                };
                (vec![MediaPacket::Video(v)], *step_us)
            }
        };
        if let Some(MediaPacket::Video(v)) = packets.first_mut() {
            v.microseconds = us;
        }
        self.clock_us = self.clock_us.wrapping_add(step);
        (packets, step)
    }
}

impl Prepared {
    /// Picture size announced in DeviceInfo.
    pub(crate) fn info_dims(&self) -> (u32, u32) {
        (self.info.width, self.info.height)
    }
}
