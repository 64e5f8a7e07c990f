//! BcMedia: the packets carried in the binary payloads of msg 3 (InfoV1/V2, I/P frames for
//! H.264/H.265, AAC, ADPCM), a streaming decoder that resynchronises after garbage, and the
//! matching encoder (with the pad-to-8 rule).

use bytes::{BufMut, Bytes, BytesMut};

/// Largest video/audio payload accepted (a 4K I-frame is well under this).
pub const MAX_MEDIA_PAYLOAD: u32 = 8 * 1024 * 1024;
/// Largest "additional header" of a video frame accepted (0, 8 and 16 are seen).
pub const MAX_ADDITIONAL_HEADER: u32 = 256;
/// Size of an InfoV1/V2 packet.
pub const INFO_LEN: usize = 32;
/// Size of a video frame header before the additional header.
pub const VIDEO_HEADER_LEN: usize = 24;
/// Size of an audio packet header.
pub const AUDIO_HEADER_LEN: usize = 8;
/// Magic of the ADPCM sub-header.
pub const ADPCM_SUB_MAGIC: u16 = 0x0100;

/// Errors of the media layer. All are recoverable: the decoder has already dropped the bad
/// bytes and the next call continues with the next candidate packet.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MediaError {
    /// Bytes that do not start a valid packet were dropped.
    #[error("dropped {skipped} bytes of unrecognised media data")]
    Resync {
        /// How many bytes were dropped.
        skipped: usize,
    },
}

/// Video codec of a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum VideoCodec {
    /// `H264`.
    H264,
    /// `H265`.
    H265,
}

/// I (key) or P frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FrameKind {
    /// `00dc` (or `N0dc`).
    I,
    /// `01dc` (or `N1dc`).
    P,
}

/// InfoV1 / InfoV2 contents (32 bytes; the two versions share the layout).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MediaInfo {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Unknown byte (0/1).
    pub unknown: u8,
    /// Frames per second (Swann: an index into a table).
    pub fps: u8,
    /// Start time: year − 1900, month, day, hour, minute, second.
    pub start: [u8; 6],
    /// End time, same layout.
    pub end: [u8; 6],
    /// Reserved u16.
    pub reserved: u16,
}

/// A video frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VideoFrame {
    /// I or P.
    pub kind: FrameKind,
    /// First magic byte (`b'0'` in every capture; `b'1'..=b'9'` accepted).
    pub channel_digit: u8,
    /// H.264 or H.265.
    pub codec: VideoCodec,
    /// Free-running microsecond clock (wraps).
    pub microseconds: u32,
    /// Unknown u32 after the timestamp.
    pub unknown: u32,
    /// The additional header (its first 4 bytes are POSIX seconds on I-frames).
    pub extra_header: Bytes,
    /// Annex-B data.
    pub data: Bytes,
}

impl VideoFrame {
    /// POSIX seconds carried by an I-frame's additional header.
    pub fn posix_time(&self) -> Option<u32> {
        (self.kind == FrameKind::I && self.extra_header.len() >= 4).then(|| {
            u32::from_le_bytes([
                self.extra_header[0],
                self.extra_header[1],
                self.extra_header[2],
                self.extra_header[3],
            ])
        })
    }
}

/// An ADPCM (IMA/DVI-4) audio packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdpcmFrame {
    /// The "block" field of the sub-header (ignored on receive).
    pub block_field: u16,
    /// 4-byte DVI-4 state followed by samples.
    pub data: Bytes,
}

/// One BcMedia packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MediaPacket {
    /// `1001`.
    InfoV1(MediaInfo),
    /// `1002`.
    InfoV2(MediaInfo),
    /// I/P frame.
    Video(VideoFrame),
    /// `05wb`: ADTS AAC frames.
    Aac(Bytes),
    /// `01wb`.
    Adpcm(AdpcmFrame),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Magic {
    InfoV1,
    InfoV2,
    Video(FrameKind, u8),
    Aac,
    Adpcm,
}

fn classify(m: &[u8]) -> Option<Magic> {
    match m {
        b"1001" => Some(Magic::InfoV1),
        b"1002" => Some(Magic::InfoV2),
        b"05wb" => Some(Magic::Aac),
        b"01wb" => Some(Magic::Adpcm),
        [d @ b'0'..=b'9', b'0', b'd', b'c'] => Some(Magic::Video(FrameKind::I, *d)),
        [d @ b'0'..=b'9', b'1', b'd', b'c'] => Some(Magic::Video(FrameKind::P, *d)),
        _ => None,
    }
}

fn pad8(n: usize) -> usize {
    (8 - n % 8) % 8
}

fn u32_at(b: &[u8], i: usize) -> u32 {
    u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]])
}

fn u16_at(b: &[u8], i: usize) -> u16 {
    u16::from_le_bytes([b[i], b[i + 1]])
}

/// Header fields of a video frame, readable before the frame is complete.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VideoHeader {
    /// I or P.
    pub kind: FrameKind,
    /// Codec.
    pub codec: VideoCodec,
    /// Bytes of Annex-B data.
    pub payload_size: u32,
    /// Bytes of additional header.
    pub additional_header_size: u32,
    /// Microsecond clock.
    pub microseconds: u32,
    /// Unknown u32.
    pub unknown: u32,
    /// POSIX seconds (I-frames with an additional header of at least 4 bytes), if already
    /// buffered.
    pub posix_time: Option<u32>,
}

impl VideoHeader {
    /// Total packet length including padding.
    pub fn packet_len(&self) -> usize {
        VIDEO_HEADER_LEN
            + self.additional_header_size as usize
            + self.payload_size as usize
            + pad8(self.payload_size as usize)
    }
}

/// Parses the header of a video frame at the start of `buf` without needing the whole frame.
/// `None` if `buf` does not start with a plausible video header or is shorter than 24 bytes.
pub fn peek_video_header(buf: &[u8]) -> Option<VideoHeader> {
    if buf.len() < VIDEO_HEADER_LEN {
        return None;
    }
    let Some(Magic::Video(kind, _)) = classify(&buf[..4]) else {
        return None;
    };
    let codec = match &buf[4..8] {
        b"H264" => VideoCodec::H264,
        b"H265" => VideoCodec::H265,
        _ => return None,
    };
    let payload_size = u32_at(buf, 8);
    let additional_header_size = u32_at(buf, 12);
    if payload_size > MAX_MEDIA_PAYLOAD || additional_header_size > MAX_ADDITIONAL_HEADER {
        return None;
    }
    let posix_time =
        (kind == FrameKind::I && additional_header_size >= 4 && buf.len() >= VIDEO_HEADER_LEN + 4)
            .then(|| u32_at(buf, VIDEO_HEADER_LEN));
    Some(VideoHeader {
        kind,
        codec,
        payload_size,
        additional_header_size,
        microseconds: u32_at(buf, 16),
        unknown: u32_at(buf, 20),
        posix_time,
    })
}

enum Parse {
    Need,
    Bad,
    Done(MediaPacket, usize),
}

fn parse_packet(b: &[u8]) -> Parse {
    if b.len() < 4 {
        return Parse::Need;
    }
    let Some(magic) = classify(&b[..4]) else {
        return Parse::Bad;
    };
    match magic {
        Magic::InfoV1 | Magic::InfoV2 => {
            if b.len() < 8 {
                return Parse::Need;
            }
            if u32_at(b, 4) as usize != INFO_LEN {
                return Parse::Bad;
            }
            if b.len() < INFO_LEN {
                return Parse::Need;
            }
            let mut start = [0u8; 6];
            let mut end = [0u8; 6];
            start.copy_from_slice(&b[18..24]);
            end.copy_from_slice(&b[24..30]);
            let info = MediaInfo {
                width: u32_at(b, 8),
                height: u32_at(b, 12),
                unknown: b[16],
                fps: b[17],
                start,
                end,
                reserved: u16_at(b, 30),
            };
            let p = if magic == Magic::InfoV1 {
                MediaPacket::InfoV1(info)
            } else {
                MediaPacket::InfoV2(info)
            };
            Parse::Done(p, INFO_LEN)
        }
        Magic::Video(kind, digit) => {
            if b.len() < VIDEO_HEADER_LEN {
                // Reject early on an impossible codec so garbage does not stall the stream.
                if b.len() >= 8 && &b[4..8] != b"H264" && &b[4..8] != b"H265" {
                    return Parse::Bad;
                }
                return Parse::Need;
            }
            let Some(h) = peek_video_header(b) else {
                return Parse::Bad;
            };
            let total = h.packet_len();
            if b.len() < total {
                return Parse::Need;
            }
            let extra_end = VIDEO_HEADER_LEN + h.additional_header_size as usize;
            let data_end = extra_end + h.payload_size as usize;
            Parse::Done(
                MediaPacket::Video(VideoFrame {
                    kind,
                    channel_digit: digit,
                    codec: h.codec,
                    microseconds: h.microseconds,
                    unknown: h.unknown,
                    extra_header: Bytes::copy_from_slice(&b[VIDEO_HEADER_LEN..extra_end]),
                    data: Bytes::copy_from_slice(&b[extra_end..data_end]),
                }),
                total,
            )
        }
        Magic::Aac | Magic::Adpcm => {
            if b.len() < AUDIO_HEADER_LEN {
                return Parse::Need;
            }
            let size = u16_at(b, 4) as usize;
            if u16_at(b, 6) as usize != size {
                return Parse::Bad;
            }
            if magic == Magic::Adpcm && size < 4 {
                return Parse::Bad;
            }
            if magic == Magic::Adpcm && b.len() >= 10 && u16_at(b, 8) != ADPCM_SUB_MAGIC {
                return Parse::Bad;
            }
            let total = AUDIO_HEADER_LEN + size + pad8(size);
            if b.len() < total {
                return Parse::Need;
            }
            let data = &b[AUDIO_HEADER_LEN..AUDIO_HEADER_LEN + size];
            let p = if magic == Magic::Aac {
                MediaPacket::Aac(Bytes::copy_from_slice(data))
            } else {
                MediaPacket::Adpcm(AdpcmFrame {
                    block_field: u16_at(data, 2),
                    data: Bytes::copy_from_slice(&data[4..]),
                })
            };
            Parse::Done(p, total)
        }
    }
}

/// Streaming BcMedia decoder over the concatenated msg 3 payloads of one stream.
#[derive(Debug, Clone, Default)]
pub struct MediaDecoder {
    skipped_total: u64,
}

impl MediaDecoder {
    /// A new decoder.
    pub fn new() -> Self {
        Self::default()
    }

    /// Total bytes dropped while resynchronising.
    pub fn skipped_total(&self) -> u64 {
        self.skipped_total
    }

    /// Decodes one packet from the front of `src`. `Ok(None)` = need more bytes (including a
    /// frame whose header announced more data than is buffered). On garbage the decoder drops
    /// bytes up to the next plausible magic and returns [`MediaError::Resync`]; call again.
    pub fn decode(&mut self, src: &mut BytesMut) -> Result<Option<MediaPacket>, MediaError> {
        match parse_packet(src) {
            Parse::Need => Ok(None),
            Parse::Done(p, n) => {
                let _ = src.split_to(n);
                Ok(Some(p))
            }
            Parse::Bad => {
                let skip = (1..src.len())
                    .find(|&i| {
                        let rest = &src[i..];
                        match rest.len() {
                            0 => false,
                            1..=3 => true, // could be the start of a magic: keep it
                            _ => classify(&rest[..4]).is_some(),
                        }
                    })
                    .unwrap_or(src.len());
                let _ = src.split_to(skip);
                self.skipped_total += skip as u64;
                Err(MediaError::Resync { skipped: skip })
            }
        }
    }
}

impl MediaPacket {
    /// Encodes the packet, padding its data to a multiple of 8 with zeros. Audio data longer
    /// than its u16 size field allows is truncated.
    pub fn encode(&self, dst: &mut BytesMut) {
        match self {
            MediaPacket::InfoV1(i) | MediaPacket::InfoV2(i) => {
                dst.put_slice(if matches!(self, MediaPacket::InfoV1(_)) {
                    b"1001"
                } else {
                    b"1002"
                });
                dst.put_u32_le(INFO_LEN as u32);
                dst.put_u32_le(i.width);
                dst.put_u32_le(i.height);
                dst.put_u8(i.unknown);
                dst.put_u8(i.fps);
                dst.put_slice(&i.start);
                dst.put_slice(&i.end);
                dst.put_u16_le(i.reserved);
            }
            MediaPacket::Video(v) => {
                let second = if v.kind == FrameKind::I { b'0' } else { b'1' };
                dst.put_slice(&[v.channel_digit, second, b'd', b'c']);
                dst.put_slice(match v.codec {
                    VideoCodec::H264 => b"H264",
                    VideoCodec::H265 => b"H265",
                });
                dst.put_u32_le(v.data.len() as u32);
                dst.put_u32_le(v.extra_header.len() as u32);
                dst.put_u32_le(v.microseconds);
                dst.put_u32_le(v.unknown);
                dst.put_slice(&v.extra_header);
                dst.put_slice(&v.data);
                dst.put_bytes(0, pad8(v.data.len()));
            }
            MediaPacket::Aac(data) => {
                // The size field is a u16: longer data is cut (callers split audio earlier).
                let data = &data[..data.len().min(usize::from(u16::MAX))];
                dst.put_slice(b"05wb");
                dst.put_u16_le(data.len() as u16);
                dst.put_u16_le(data.len() as u16);
                dst.put_slice(data);
                dst.put_bytes(0, pad8(data.len()));
            }
            MediaPacket::Adpcm(a) => {
                let data = &a.data[..a.data.len().min(usize::from(u16::MAX) - 4)];
                let size = data.len() + 4;
                dst.put_slice(b"01wb");
                dst.put_u16_le(size as u16);
                dst.put_u16_le(size as u16);
                dst.put_u16_le(ADPCM_SUB_MAGIC);
                dst.put_u16_le(a.block_field);
                dst.put_slice(data);
                dst.put_bytes(0, pad8(size));
            }
        }
    }
}
