//! BC message header: magic, message id, body length, the echoed bytes 12–15, response code,
//! message class and (for modern classes) the payload offset.

use bytes::{BufMut, BytesMut};

use crate::Error;

/// Magic at the start of every BC message (`f0 de bc 0a` on the wire).
pub const MAGIC: u32 = 0x0abc_def0;
/// Byte-reversed magic seen on some device-to-device messages; accepted on input.
pub const MAGIC_REV: u32 = 0x0fed_cba0;
/// Header length of the legacy classes 0x6514 / 0x6614.
pub const LEGACY_HEADER_LEN: usize = 20;
/// Header length of the modern classes (0x6414, 0x0000, 0x6482): adds `payload_offset`.
pub const MODERN_HEADER_LEN: usize = 24;
/// Largest body (extension + payload) this crate accepts. Firmware chunks are 38 000 bytes and
/// video messages tens of kB; anything past this is treated as a framing error.
pub const MAX_BODY_LEN: u32 = 4 * 1024 * 1024;

/// The message class (bytes 18–19), which selects the header length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MsgClass {
    /// 0x6514: the client's first login message (legacy hashed body or header-only upgrade).
    Legacy,
    /// 0x6614: the camera's reply to a 0x6514 message (carries the nonce).
    LegacyReply,
    /// 0x6414: every modern client request.
    Modern,
    /// 0x0000: every modern camera reply or push.
    ModernReply,
    /// 0x6482: "modern (file download)", only seen in a dissector.
    ModernFile,
}

impl MsgClass {
    /// Wire value of the class.
    pub fn to_u16(self) -> u16 {
        match self {
            MsgClass::Legacy => 0x6514,
            MsgClass::LegacyReply => 0x6614,
            MsgClass::Modern => 0x6414,
            MsgClass::ModernReply => 0x0000,
            MsgClass::ModernFile => 0x6482,
        }
    }

    /// Parses a wire value; `None` for classes this crate does not know.
    pub fn from_u16(v: u16) -> Option<Self> {
        Some(match v {
            0x6514 => MsgClass::Legacy,
            0x6614 => MsgClass::LegacyReply,
            0x6414 => MsgClass::Modern,
            0x0000 => MsgClass::ModernReply,
            0x6482 => MsgClass::ModernFile,
            _ => return None,
        })
    }

    /// Header length for this class.
    pub fn header_len(self) -> usize {
        if self.has_payload_offset() {
            MODERN_HEADER_LEN
        } else {
            LEGACY_HEADER_LEN
        }
    }

    /// Whether the header carries the 4-byte `payload_offset`.
    pub fn has_payload_offset(self) -> bool {
        !matches!(self, MsgClass::Legacy | MsgClass::LegacyReply)
    }
}

/// A decoded BC header. Bytes 12–15 are split the neolink way (u8 channel, u8 stream type,
/// u16 message number); [`Header::tag`] gives them back raw for reply matching.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Header {
    /// True when the message used [`MAGIC_REV`]; re-encoding keeps it.
    pub reversed_magic: bool,
    /// Command number.
    pub msg_id: u32,
    /// Bytes after the header (extension + payload).
    pub body_len: u32,
    /// Byte 12: channel id, also the BCEncrypt offset.
    pub channel_id: u8,
    /// Byte 13: 0 = main, 1 = sub (msg 3/4 only).
    pub stream_type: u8,
    /// Bytes 14–15 (little-endian): request counter echoed by the camera.
    pub msg_num: u16,
    /// Bytes 16–17: 0 in requests, HTTP-like status in replies, `0xdcXX`/`0xddXX` in login.
    pub response_code: u16,
    /// Bytes 18–19.
    pub class: MsgClass,
    /// Bytes 20–23 for modern classes: length of the extension at the start of the body.
    pub payload_offset: Option<u32>,
}

impl Header {
    /// A header with the given id and class, everything else zero (`payload_offset` is
    /// `Some(0)` for modern classes).
    pub fn new(msg_id: u32, class: MsgClass) -> Self {
        Header {
            reversed_magic: false,
            msg_id,
            body_len: 0,
            channel_id: 0,
            stream_type: 0,
            msg_num: 0,
            response_code: 0,
            class,
            payload_offset: class.has_payload_offset().then_some(0),
        }
    }

    /// Header length on the wire (20 or 24).
    pub fn wire_len(&self) -> usize {
        self.class.header_len()
    }

    /// Raw bytes 12–15, which the camera echoes: match replies on `(msg_id, tag)`.
    pub fn tag(&self) -> [u8; 4] {
        let n = self.msg_num.to_le_bytes();
        [self.channel_id, self.stream_type, n[0], n[1]]
    }

    /// Sets bytes 12–15 from a raw tag.
    pub fn set_tag(&mut self, tag: [u8; 4]) {
        self.channel_id = tag[0];
        self.stream_type = tag[1];
        self.msg_num = u16::from_le_bytes([tag[2], tag[3]]);
    }

    /// Parses a header from the start of `buf`. `Ok(None)` = not enough bytes yet.
    /// Validates magic, class, `body_len <= MAX_BODY_LEN` and `payload_offset <= body_len`.
    pub fn parse(buf: &[u8]) -> Result<Option<Header>, Error> {
        if buf.len() < LEGACY_HEADER_LEN {
            return Ok(None);
        }
        let u32_at = |i: usize| u32::from_le_bytes([buf[i], buf[i + 1], buf[i + 2], buf[i + 3]]);
        let u16_at = |i: usize| u16::from_le_bytes([buf[i], buf[i + 1]]);
        let magic = u32_at(0);
        let reversed_magic = match magic {
            MAGIC => false,
            MAGIC_REV => true,
            other => return Err(Error::BadMagic(other)),
        };
        let raw_class = u16_at(18);
        let class = MsgClass::from_u16(raw_class).ok_or(Error::UnknownClass(raw_class))?;
        let body_len = u32_at(8);
        if body_len > MAX_BODY_LEN {
            return Err(Error::BodyTooLong {
                len: body_len,
                max: MAX_BODY_LEN,
            });
        }
        let payload_offset = if class.has_payload_offset() {
            if buf.len() < MODERN_HEADER_LEN {
                return Ok(None);
            }
            let off = u32_at(20);
            if off > body_len {
                return Err(Error::BadPayloadOffset {
                    offset: off,
                    body_len,
                });
            }
            Some(off)
        } else {
            None
        };
        Ok(Some(Header {
            reversed_magic,
            msg_id: u32_at(4),
            body_len,
            channel_id: buf[12],
            stream_type: buf[13],
            msg_num: u16_at(14),
            response_code: u16_at(16),
            class,
            payload_offset,
        }))
    }

    /// Writes the header as it is (no field is recomputed).
    pub fn encode(&self, dst: &mut BytesMut) {
        dst.reserve(self.wire_len());
        dst.put_u32_le(if self.reversed_magic {
            MAGIC_REV
        } else {
            MAGIC
        });
        dst.put_u32_le(self.msg_id);
        dst.put_u32_le(self.body_len);
        dst.put_u8(self.channel_id);
        dst.put_u8(self.stream_type);
        dst.put_u16_le(self.msg_num);
        dst.put_u16_le(self.response_code);
        dst.put_u16_le(self.class.to_u16());
        if self.class.has_payload_offset() {
            dst.put_u32_le(self.payload_offset.unwrap_or(0));
        }
    }
}

/// Finds the next position in `buf` (after index 0) where a BC magic starts, for resynchronising.
pub(crate) fn find_magic(buf: &[u8], from: usize) -> Option<usize> {
    let a = MAGIC.to_le_bytes();
    let b = MAGIC_REV.to_le_bytes();
    (from..buf.len().saturating_sub(3)).find(|&i| buf[i..i + 4] == a || buf[i..i + 4] == b)
}
