//! Camera-side encoders for a simulator: the nonce reply, login replies, the battery push,
//! the msg 234 keep-alive request, video replies; plus credential checks.

use bytes::{Bytes, BytesMut};

use crate::crypto::{EncryptionLevel, md5_31};
use crate::header::{Header, MsgClass};
use crate::media::MediaPacket;
use crate::msg::{Body, LegacyLogin, Message, MsgId, XmlBody};
use crate::xml::{
    self, AlarmEvent, BatteryInfo, DeviceInfo, Element, EncryptionXml, Extension, Layout,
    LoginUser, WifiSignal,
};

fn reply_header(request: &Header, class: MsgClass, code: u16) -> Header {
    let mut h = Header::new(request.msg_id, class);
    h.set_tag(request.tag());
    h.response_code = code;
    h
}

fn xml_body(items: Vec<Element>, layout: Layout) -> Body {
    match XmlBody::new(Bytes::from(xml::write_body(items, layout))) {
        Ok(x) => Body::Xml(x),
        Err(_) => Body::Empty,
    }
}

/// The answer to the first login message: class 0x6614, code `0xddYY`, Encryption XML.
pub fn nonce_reply(request: &Header, level: EncryptionLevel, nonce: &str) -> Message {
    let enc = EncryptionXml {
        version: "1.1".into(),
        kind: "md5".into(),
        nonce: nonce.into(),
    };
    Message::new(
        reply_header(request, MsgClass::LegacyReply, level.answer_code()),
        xml_body(vec![enc.to_element()], Layout::BC),
    )
}

/// Successful modern-login reply: 200 + DeviceInfo.
pub fn login_ok(request: &Header, info: &DeviceInfo) -> Message {
    Message::new(
        reply_header(request, MsgClass::ModernReply, 200),
        xml_body(vec![info.to_element()], Layout::BC),
    )
}

/// Header-only reply with a status (login failure 400/401, acks 200, …).
pub fn status_reply(request: &Header, code: u16) -> Message {
    Message::new(
        reply_header(request, MsgClass::ModernReply, code),
        Body::Empty,
    )
}

/// Whether a modern LoginUser matches the credentials for this nonce.
pub fn check_modern_login(user: &LoginUser, username: &str, password: &str, nonce: &str) -> bool {
    user.user_name == md5_31(&format!("{username}{nonce}"))
        && user.password == md5_31(&format!("{password}{nonce}"))
}

/// Whether a legacy login body matches the credentials.
pub fn check_legacy_login(l: &LegacyLogin, username: &str, password: &str) -> bool {
    *l == LegacyLogin::new(username, password)
}

/// The msg 252 BatteryList push (camera layout: 4-space indentation), zero tag.
pub fn battery_list_push(infos: &[BatteryInfo]) -> Message {
    let mut list = Element::versioned("BatteryList");
    list.children = infos.iter().map(BatteryInfo::to_element).collect();
    let h = {
        let mut h = Header::new(MsgId::BatteryList.to_u32(), MsgClass::ModernReply);
        h.response_code = 200;
        h
    };
    Message::new(h, xml_body(vec![list], Layout::BC_INDENTED))
}

/// Msg 33 push: the alarm state of each channel.
pub fn alarm_event_list_push(events: &[AlarmEvent]) -> Message {
    let mut list = Element::versioned("AlarmEventList");
    list.children = events.iter().map(AlarmEvent::to_element).collect();
    let mut h = Header::new(MsgId::AlarmEventList.to_u32(), MsgClass::ModernReply);
    h.response_code = 200;
    Message::new(h, xml_body(vec![list], Layout::BC_INDENTED))
}

/// Reply to msg 253: a single BatteryInfo.
pub fn battery_info_reply(request: &Header, info: &BatteryInfo) -> Message {
    Message::new(
        reply_header(request, MsgClass::ModernReply, 200),
        xml_body(vec![info.to_element()], Layout::BC),
    )
}

/// Reply to msg 115: the Wi-Fi signal in dBm.
pub fn wifi_signal_reply(request: &Header, dbm: i32) -> Message {
    let w = WifiSignal { signal: Some(dbm) };
    Message::new(
        reply_header(request, MsgClass::ModernReply, 200),
        xml_body(vec![w.to_element()], Layout::BC),
    )
}

/// The camera's msg 234 keep-alive (header only) with the given tag.
pub fn keepalive_request(tag: [u8; 4]) -> Message {
    let mut h = Header::new(MsgId::KeepAlive.to_u32(), MsgClass::ModernReply);
    h.set_tag(tag);
    Message::new(h, Body::Empty)
}

/// First reply to a start-video request: 200, `binaryData=1` extension, first media bytes.
pub fn video_first_reply(request: &Header, first: &MediaPacket) -> Message {
    let mut b = BytesMut::new();
    first.encode(&mut b);
    let mut m = Message::new(
        reply_header(request, MsgClass::ModernReply, 200),
        Body::Binary(b.freeze()),
    );
    m.extension = Some(Extension::binary());
    m
}

/// A later media reply on the same stream: binary payload, no extension.
pub fn video_data(request: &Header, payload: Bytes) -> Message {
    Message::new(
        reply_header(request, MsgClass::ModernReply, 200),
        Body::Binary(payload),
    )
}
