//! Client request builders: the login handshake (header-only upgrade, legacy hashed login,
//! modern login), logout, video start/stop, ping, battery query and the msg 234 keep-alive
//! reply. Each returns a [`Message`] for [`crate::msg::Codec::encode`].

use bytes::Bytes;

use crate::crypto::{EncryptionLevel, md5_31};
use crate::header::{Header, MsgClass};
use crate::msg::{Body, LegacyLogin, Message, MsgId, XmlBody};
use crate::xml::{self, Element, Extension, Layout, LoginNet, LoginUser, Preview};

/// Which stream of a channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StreamKind {
    /// mainStream: handle 0, header stream byte 0.
    Main,
    /// subStream: handle 256, header stream byte 1.
    Sub,
    /// externStream: handle 1024, header stream byte 0.
    Extern,
}

impl StreamKind {
    /// The `streamType` text.
    pub fn name(self) -> &'static str {
        match self {
            StreamKind::Main => "mainStream",
            StreamKind::Sub => "subStream",
            StreamKind::Extern => "externStream",
        }
    }
    /// The handle neolink uses (unique per stream in a session).
    pub fn handle(self) -> u32 {
        match self {
            StreamKind::Main => 0,
            StreamKind::Sub => 256,
            StreamKind::Extern => 1024,
        }
    }
    /// Header byte 13.
    pub fn header_byte(self) -> u8 {
        match self {
            StreamKind::Sub => 1,
            _ => 0,
        }
    }
    /// From the `streamType` text.
    pub fn from_name(s: &str) -> Option<Self> {
        Some(match s {
            "mainStream" => StreamKind::Main,
            "subStream" => StreamKind::Sub,
            "externStream" => StreamKind::Extern,
            _ => return None,
        })
    }
}

/// Line layout of the modern login XML.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LoginLayout {
    /// One element per line (official client, neolink, reolink_aio).
    #[default]
    Standard,
    /// camera_proxy's layout: `<LoginNet version="1.1"><type>` on one line.
    CameraProxy,
}

fn header(id: MsgId, class: MsgClass, tag: [u8; 4]) -> Header {
    let mut h = Header::new(id.to_u32(), class);
    h.set_tag(tag);
    h
}

fn xml_body(items: Vec<Element>) -> Body {
    xml_text_body(xml::write_body(items, Layout::BC))
}

fn xml_text_body(text: String) -> Body {
    match XmlBody::new(Bytes::from(text)) {
        Ok(x) => Body::Xml(x),
        // Only reachable if the writer produced malformed XML; send nothing rather than panic.
        Err(_) => Body::Empty,
    }
}

/// Header-only first message (class 0x6514) asking for encryption up to `max`
/// (the official client sends this with `FullAes` and a zero tag).
pub fn login_upgrade(max: EncryptionLevel, tag: [u8; 4]) -> Message {
    let mut h = header(MsgId::Login, MsgClass::Legacy, tag);
    h.response_code = max.request_code();
    Message::new(h, Body::Empty)
}

/// The 1836-byte legacy hashed login (class 0x6514).
pub fn legacy_login(username: &str, password: &str, max: EncryptionLevel, tag: [u8; 4]) -> Message {
    let mut h = header(MsgId::Login, MsgClass::Legacy, tag);
    h.response_code = max.request_code();
    Message::new(h, Body::LegacyLogin(LegacyLogin::new(username, password)))
}

/// The hashed LoginUser for a nonce.
pub fn hashed_login_user(username: &str, password: &str, nonce: &str) -> LoginUser {
    LoginUser {
        user_name: md5_31(&format!("{username}{nonce}")),
        password: md5_31(&format!("{password}{nonce}")),
        user_ver: Some(1),
    }
}

/// The modern login (class 0x6414) after the nonce: LoginUser + LoginNet (LAN, udpPort 0).
/// Use the same tag as the first message.
pub fn modern_login(
    username: &str,
    password: &str,
    nonce: &str,
    layout: LoginLayout,
    tag: [u8; 4],
) -> Message {
    let user = hashed_login_user(username, password, nonce);
    let net = LoginNet {
        kind: "LAN".into(),
        udp_port: 0,
    };
    let mut text = xml::write_body(vec![user.to_element(), net.to_element()], Layout::BC);
    if layout == LoginLayout::CameraProxy {
        text = text.replace(
            "<LoginNet version=\"1.1\">\n<type>",
            "<LoginNet version=\"1.1\"><type>",
        );
    }
    Message::new(
        header(MsgId::Login, MsgClass::Modern, tag),
        xml_text_body(text),
    )
}

/// Logout (msg 2): LoginUser with the plain-text credentials.
pub fn logout(username: &str, password: &str, tag: [u8; 4]) -> Message {
    let user = LoginUser {
        user_name: username.into(),
        password: password.into(),
        user_ver: Some(1),
    };
    Message::new(
        header(MsgId::Logout, MsgClass::Modern, tag),
        xml_body(vec![user.to_element()]),
    )
}

/// Start video (msg 3) with an explicit Preview; header byte 13 is left as in `tag`.
pub fn preview_start(preview: &Preview, tag: [u8; 4]) -> Message {
    Message::new(
        header(MsgId::VideoStart, MsgClass::Modern, tag),
        xml_body(vec![preview.to_element()]),
    )
}

/// Start video the neolink way: handle and header stream byte from `kind`.
pub fn start_video(channel: u8, kind: StreamKind, msg_num: u16) -> Message {
    let n = msg_num.to_le_bytes();
    let preview = Preview {
        channel_id: channel,
        handle: kind.handle(),
        stream_type: Some(kind.name().into()),
    };
    preview_start(&preview, [0, kind.header_byte(), n[0], n[1]])
}

/// Stop video (msg 4): Preview without streamType.
pub fn stop_video(channel: u8, kind: StreamKind, msg_num: u16) -> Message {
    let n = msg_num.to_le_bytes();
    let preview = Preview {
        channel_id: channel,
        handle: kind.handle(),
        stream_type: None,
    };
    Message::new(
        header(
            MsgId::VideoStop,
            MsgClass::Modern,
            [0, kind.header_byte(), n[0], n[1]],
        ),
        xml_body(vec![preview.to_element()]),
    )
}

/// Ping (msg 93), header only.
pub fn ping(tag: [u8; 4]) -> Message {
    Message::new(header(MsgId::Ping, MsgClass::Modern, tag), Body::Empty)
}

/// Battery query (msg 253): Extension with the channel, no payload.
pub fn battery_info_request(channel: u8, tag: [u8; 4]) -> Message {
    let mut m = Message::new(
        header(MsgId::BatteryInfo, MsgClass::Modern, tag),
        Body::Empty,
    );
    m.extension = Some(Extension::channel(channel));
    m
}

/// Reply to a camera's msg 234 keep-alive: header only, same bytes 12–15, class 0x6414,
/// code 200 (neolink; reolink_aio sends 0, both reported to work).
pub fn keepalive_reply(request: &Header) -> Message {
    let h = header(MsgId::KeepAlive, MsgClass::Modern, request.tag());
    let mut m = Message::new(h, Body::Empty);
    m.header.response_code = 200;
    m
}

/// A header-only request for any message id (e.g. 80 VersionInfo, 146 StreamInfoList).
pub fn simple_request(msg_id: u32, tag: [u8; 4]) -> Message {
    Message::new(
        header(MsgId::from_u32(msg_id), MsgClass::Modern, tag),
        Body::Empty,
    )
}
