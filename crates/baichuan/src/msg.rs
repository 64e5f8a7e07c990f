//! BC messages: the message-id catalogue, the decoded [`Message`] (header, extension, body) and
//! the [`Codec`] state machine that frames a byte stream and applies the negotiated encryption.

use std::collections::VecDeque;

use bytes::{BufMut, Bytes, BytesMut};

use crate::crypto::Encryption;
use crate::header::{self, Header, MAX_BODY_LEN, MsgClass};
use crate::xml::{BcXml, Extension, XmlError};

/// Errors of the BC message layer (framing, crypto, body decoding).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Error {
    /// The stream does not start with a BC magic. The codec has already skipped to the next
    /// candidate magic; decoding may continue.
    #[error("bad BC magic {0:#010x}")]
    BadMagic(u32),
    /// Unknown message class; the codec skipped past this header.
    #[error("unknown BC message class {0:#06x}")]
    UnknownClass(u16),
    /// `body_len` above [`MAX_BODY_LEN`]; nothing was allocated, the header was skipped.
    #[error("BC body of {len} bytes exceeds the limit of {max}")]
    BodyTooLong {
        /// Announced length.
        len: u32,
        /// The limit.
        max: u32,
    },
    /// `payload_offset` past the end of the body.
    #[error("payload offset {offset} beyond body length {body_len}")]
    BadPayloadOffset {
        /// Announced offset.
        offset: u32,
        /// Announced body length.
        body_len: u32,
    },
    /// An XML extension or payload did not parse. The message was consumed; decoding may
    /// continue with the next one.
    #[error("message {msg_id}: {source}")]
    Xml {
        /// Message id.
        msg_id: u32,
        /// The XML error.
        source: XmlError,
    },
    /// An extension was given for a class without `payload_offset`.
    #[error("class {0:?} cannot carry an extension")]
    ExtensionNotAllowed(MsgClass),
}

/// The message ids this crate names. Anything else is [`MsgId::Unknown`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MsgId {
    /// 1: login (legacy, upgrade and modern).
    Login,
    /// 2: logout.
    Logout,
    /// 3: start video (and the media that follows).
    VideoStart,
    /// 4: stop video.
    VideoStop,
    /// 10: TalkAbility.
    TalkAbility,
    /// 31: subscribe to alarm events.
    AlarmSubscribe,
    /// 33: AlarmEventList push.
    AlarmEventList,
    /// 80: VersionInfo.
    VersionInfo,
    /// 93: LinkType, used as ping.
    Ping,
    /// 109: snapshot.
    Snap,
    /// 115: WifiSignal (header-only request; the reply's `<signal>` is in dBm).
    WifiSignal,
    /// 145: ChannelInfoList push.
    ChannelInfoList,
    /// 146: StreamInfoList.
    StreamInfoList,
    /// 151: AbilityInfo.
    AbilityInfo,
    /// 234: UDP keep-alive sent by battery cameras; must be answered.
    KeepAlive,
    /// 252: BatteryList push.
    BatteryList,
    /// 253: BatteryInfo request/reply.
    BatteryInfo,
    /// Any other id.
    Unknown(u32),
}

impl MsgId {
    /// Wire value.
    pub fn to_u32(self) -> u32 {
        match self {
            MsgId::Login => 1,
            MsgId::Logout => 2,
            MsgId::VideoStart => 3,
            MsgId::VideoStop => 4,
            MsgId::TalkAbility => 10,
            MsgId::AlarmSubscribe => 31,
            MsgId::AlarmEventList => 33,
            MsgId::VersionInfo => 80,
            MsgId::Ping => 93,
            MsgId::Snap => 109,
            MsgId::WifiSignal => 115,
            MsgId::ChannelInfoList => 145,
            MsgId::StreamInfoList => 146,
            MsgId::AbilityInfo => 151,
            MsgId::KeepAlive => 234,
            MsgId::BatteryList => 252,
            MsgId::BatteryInfo => 253,
            MsgId::Unknown(v) => v,
        }
    }

    /// From the wire value.
    pub fn from_u32(v: u32) -> Self {
        match v {
            1 => MsgId::Login,
            2 => MsgId::Logout,
            3 => MsgId::VideoStart,
            4 => MsgId::VideoStop,
            10 => MsgId::TalkAbility,
            31 => MsgId::AlarmSubscribe,
            33 => MsgId::AlarmEventList,
            80 => MsgId::VersionInfo,
            93 => MsgId::Ping,
            109 => MsgId::Snap,
            115 => MsgId::WifiSignal,
            145 => MsgId::ChannelInfoList,
            146 => MsgId::StreamInfoList,
            151 => MsgId::AbilityInfo,
            234 => MsgId::KeepAlive,
            252 => MsgId::BatteryList,
            253 => MsgId::BatteryInfo,
            v => MsgId::Unknown(v),
        }
    }
}

/// Length of the legacy hashed login body.
pub const LEGACY_LOGIN_BODY_LEN: usize = 1836;

/// The 1836-byte legacy login body: two 32-byte NUL-terminated hash fields, then zeros.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LegacyLogin {
    /// Upper-hex MD5 of the user name, 31 chars + NUL.
    pub username: [u8; 32],
    /// Upper-hex MD5 of the password, 31 chars + NUL (all zeros for an empty password).
    pub password: [u8; 32],
}

impl LegacyLogin {
    /// Hashes the credentials.
    pub fn new(username: &str, password: &str) -> Self {
        let field = |s: &str| {
            let mut f = [0u8; 32];
            if !s.is_empty() {
                f[..31].copy_from_slice(crate::crypto::md5_31(s).as_bytes());
            }
            f
        };
        LegacyLogin {
            username: field(username),
            password: field(password),
        }
    }

    fn encode(&self, dst: &mut BytesMut) {
        dst.put_slice(&self.username);
        dst.put_slice(&self.password);
        dst.put_bytes(0, LEGACY_LOGIN_BODY_LEN - 64);
    }

    fn decode(b: &[u8]) -> Self {
        let mut username = [0u8; 32];
        let mut password = [0u8; 32];
        username.copy_from_slice(&b[..32]);
        password.copy_from_slice(&b[32..64]);
        LegacyLogin { username, password }
    }
}

/// An XML payload: its plain text and the parsed document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XmlBody {
    /// Plain text as sent (after decryption).
    pub text: Bytes,
    /// Parsed document.
    pub xml: BcXml,
}

impl XmlBody {
    /// Parses `text` (validating it) and keeps both.
    pub fn new(text: impl Into<Bytes>) -> Result<Self, XmlError> {
        let text = text.into();
        let xml = BcXml::parse(&text)?;
        Ok(XmlBody { text, xml })
    }
}

/// The payload part of a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body {
    /// No payload (header-only or extension-only message).
    Empty,
    /// The 1836-byte legacy login body.
    LegacyLogin(LegacyLogin),
    /// XML payload of a known message id.
    Xml(XmlBody),
    /// Binary payload (media, snapshot, firmware), already decrypted where applicable.
    Binary(Bytes),
    /// Payload of a message id this crate does not name: decrypted text if it was XML,
    /// else the raw bytes.
    Unknown {
        /// Message id.
        id: u32,
        /// Payload.
        body: Bytes,
    },
}

/// A decoded BC message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// The header as received (or as to be sent; `body_len` and `payload_offset` are
    /// recomputed by [`Codec::encode`]).
    pub header: Header,
    /// Parsed extension, if any.
    pub extension: Option<Extension>,
    /// Payload.
    pub body: Body,
}

impl Message {
    /// A message with no extension.
    pub fn new(header: Header, body: Body) -> Self {
        Message {
            header,
            extension: None,
            body,
        }
    }

    /// The message id.
    pub fn id(&self) -> MsgId {
        MsgId::from_u32(self.header.msg_id)
    }

    /// The parsed XML payload, if any.
    pub fn xml(&self) -> Option<&BcXml> {
        match &self.body {
            Body::Xml(x) => Some(&x.xml),
            _ => None,
        }
    }
}

/// Most (msg_id, msg_num) pairs remembered in binary mode; the oldest is forgotten first.
pub const MAX_BINARY_STREAMS: usize = 64;

/// Frames BC messages and applies the negotiated encryption, in both directions.
///
/// State: the [`Encryption`] in force and the set of (msg_id, msg_num) in binary mode.
/// Message 1 (login) is never encrypted above BCEncrypt.
#[derive(Debug, Clone)]
pub struct Codec {
    encryption: Encryption,
    binary: VecDeque<(u32, u16)>,
}

impl Default for Codec {
    fn default() -> Self {
        Codec::new(Encryption::BcEncrypt)
    }
}

fn looks_like_xml(b: &[u8]) -> bool {
    let b = b.strip_prefix(&[0xef, 0xbb, 0xbf][..]).unwrap_or(b);
    b.iter()
        .find(|c| !c.is_ascii_whitespace())
        .is_some_and(|&c| c == b'<')
}

impl Codec {
    /// A codec starting with the given encryption (before login: BCEncrypt).
    pub fn new(encryption: Encryption) -> Self {
        Codec {
            encryption,
            binary: VecDeque::new(),
        }
    }

    /// The encryption in force.
    pub fn encryption(&self) -> Encryption {
        self.encryption
    }

    /// Switches encryption (after login).
    pub fn set_encryption(&mut self, e: Encryption) {
        self.encryption = e;
    }

    /// Puts (msg_id, msg_num) into binary mode (or takes it out).
    pub fn set_binary(&mut self, msg_id: u32, msg_num: u16, on: bool) {
        self.binary.retain(|&k| k != (msg_id, msg_num));
        if on {
            if self.binary.len() >= MAX_BINARY_STREAMS {
                self.binary.pop_front();
            }
            self.binary.push_back((msg_id, msg_num));
        }
    }

    /// Whether (msg_id, msg_num) is in binary mode.
    pub fn is_binary(&self, msg_id: u32, msg_num: u16) -> bool {
        self.binary.contains(&(msg_id, msg_num))
    }

    /// Encryption for one message: msg 1 never goes above BCEncrypt, and a nonce reply
    /// announcing level 0 (`0xdd00`) is plain.
    fn enc_for(&self, h: &Header) -> Encryption {
        if h.msg_id != 1 {
            self.encryption
        } else if h.class == MsgClass::LegacyReply && h.response_code == 0xdd00 {
            Encryption::None
        } else {
            self.encryption.capped_for_login()
        }
    }

    /// Decodes one message from the front of `src`. `Ok(None)` = need more bytes.
    ///
    /// On a framing error the offending bytes have been dropped (up to the next candidate
    /// magic) and the error is returned; calling `decode` again continues. Nothing is
    /// allocated for a body longer than [`MAX_BODY_LEN`].
    pub fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Message>, Error> {
        let header = match Header::parse(src) {
            Ok(Some(h)) => h,
            Ok(None) => return Ok(None),
            Err(e) => {
                let skip = header::find_magic(src, 1).unwrap_or(src.len().saturating_sub(3));
                let _ = src.split_to(skip.max(1).min(src.len()));
                return Err(e);
            }
        };
        let total = header.wire_len() + header.body_len as usize;
        if src.len() < total {
            // No reserve here: the transport grows the buffer as bytes really arrive, so a
            // lying header costs nothing.
            return Ok(None);
        }
        let frame = src.split_to(total).freeze();
        let body = frame.slice(header.wire_len()..);
        self.decode_body(header, body).map(Some)
    }

    fn decode_body(&mut self, header: Header, body: Bytes) -> Result<Message, Error> {
        let id = header.msg_id;
        let enc = self.enc_for(&header);
        let off = header.payload_offset.unwrap_or(0) as usize;
        let xml_err = |source| Error::Xml { msg_id: id, source };
        let extension = if off > 0 {
            let text = self.decrypt_xml(enc, header.channel_id, &body[..off]);
            Some(Extension::parse(&text).map_err(xml_err)?)
        } else {
            None
        };
        if let Some(b) = extension.as_ref().and_then(|e| e.binary_data) {
            self.set_binary(id, header.msg_num, b == 1);
        }
        let payload = body.slice(off..);
        let body = if payload.is_empty() {
            Body::Empty
        } else if id == 1
            && header.class == MsgClass::Legacy
            && payload.len() == LEGACY_LOGIN_BODY_LEN
        {
            Body::LegacyLogin(LegacyLogin::decode(&payload))
        } else if self.is_binary(id, header.msg_num) {
            Body::Binary(self.decrypt_binary(extension.as_ref(), payload))
        } else {
            let text = self.decrypt_xml(enc, header.channel_id, &payload);
            if looks_like_xml(&text) {
                let text = Bytes::from(text);
                match MsgId::from_u32(id) {
                    MsgId::Unknown(id) => Body::Unknown { id, body: text },
                    _ => Body::Xml(XmlBody::new(text).map_err(xml_err)?),
                }
            } else if looks_like_xml(&payload) {
                match MsgId::from_u32(id) {
                    MsgId::Unknown(id) => Body::Unknown { id, body: payload },
                    _ => Body::Xml(XmlBody::new(payload).map_err(xml_err)?),
                }
            } else {
                match MsgId::from_u32(id) {
                    MsgId::Unknown(id) => Body::Unknown { id, body: payload },
                    _ => Body::Binary(payload),
                }
            }
        };
        Ok(Message {
            header,
            extension,
            body,
        })
    }

    fn decrypt_xml(&self, enc: Encryption, offset: u8, data: &[u8]) -> Vec<u8> {
        let mut v = data.to_vec();
        enc.decrypt_xml(offset, &mut v);
        if !looks_like_xml(&v) && looks_like_xml(data) {
            // Plain XML although encryption was expected (e.g. 0xdd00 cameras).
            return data.to_vec();
        }
        v
    }

    fn decrypt_binary(&self, ext: Option<&Extension>, payload: Bytes) -> Bytes {
        match (self.encryption, ext.and_then(|e| e.encrypt_len)) {
            (Encryption::FullAes(key), Some(n)) => {
                let mut v = payload.to_vec();
                let n = (n as usize).min(v.len());
                key.decrypt(&mut v[..n]);
                Bytes::from(v)
            }
            _ => payload,
        }
    }

    /// Encodes a message: extension and payload are serialised and encrypted separately,
    /// `body_len` and `payload_offset` are recomputed.
    pub fn encode(&mut self, msg: &Message, dst: &mut BytesMut) -> Result<(), Error> {
        let id = msg.header.msg_id;
        let enc = self.enc_for(&msg.header);
        let off = msg.header.channel_id;
        let mut ext = Vec::new();
        if let Some(e) = &msg.extension {
            if !msg.header.class.has_payload_offset() {
                return Err(Error::ExtensionNotAllowed(msg.header.class));
            }
            ext = e.to_xml().into_bytes();
            enc.encrypt_xml(off, &mut ext);
            if let Some(b) = e.binary_data {
                self.set_binary(id, msg.header.msg_num, b == 1);
            }
        }
        let mut payload = BytesMut::new();
        match &msg.body {
            Body::Empty => {}
            Body::LegacyLogin(l) => l.encode(&mut payload),
            Body::Xml(x) => {
                payload.extend_from_slice(&x.text);
                enc.encrypt_xml(off, &mut payload);
            }
            Body::Binary(b) => {
                payload.extend_from_slice(b);
                let n = msg.extension.as_ref().and_then(|e| e.encrypt_len);
                if let (Encryption::FullAes(key), Some(n)) = (self.encryption, n) {
                    let n = (n as usize).min(payload.len());
                    key.encrypt(&mut payload[..n]);
                }
            }
            Body::Unknown { body, .. } => {
                payload.extend_from_slice(body);
                if looks_like_xml(body) {
                    enc.encrypt_xml(off, &mut payload);
                }
            }
        }
        let body_len = ext.len() + payload.len();
        if body_len > MAX_BODY_LEN as usize {
            return Err(Error::BodyTooLong {
                len: u32::try_from(body_len).unwrap_or(u32::MAX),
                max: MAX_BODY_LEN,
            });
        }
        let mut h = msg.header;
        h.body_len = body_len as u32;
        h.payload_offset = h.class.has_payload_offset().then_some(ext.len() as u32);
        h.encode(dst);
        dst.put_slice(&ext);
        dst.put_slice(&payload);
        Ok(())
    }
}
