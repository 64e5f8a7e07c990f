//! The client [`Session`] driven against the camera-side encoders: login (upgrade and legacy,
//! plain/BCEncrypt/AES/full AES), streaming, keep-alive, battery, replies, failures.

use baichuan::camera;
use baichuan::crypto::{AesKey, Encryption, EncryptionLevel};
use baichuan::login::StreamKind;
use baichuan::media::{FrameKind, MediaInfo, MediaPacket, VideoCodec, VideoFrame};
use baichuan::msg::{Body, Codec, Message, MsgId};
use baichuan::session::{Action, LoginFailure, LoginMethod, Session, SessionState};
use baichuan::xml::{BatteryInfo, DeviceInfo, Extension};
use bytes::{Bytes, BytesMut};

const NONCE: &str = "0-AhnEZyUg6eKrJFIWgXPF";

/// A tiny camera: its own codec and credentials.
struct Cam {
    codec: Codec,
}

impl Cam {
    fn recv(&mut self, bytes: &[u8]) -> Vec<Message> {
        let mut b = BytesMut::from(bytes);
        let mut v = Vec::new();
        while let Some(m) = self.codec.decode(&mut b).unwrap() {
            v.push(m);
        }
        assert!(b.is_empty());
        v
    }
    fn send(&mut self, m: &Message) -> BytesMut {
        let mut b = BytesMut::new();
        self.codec.encode(m, &mut b).unwrap();
        b
    }
}

fn sends(actions: &[Action]) -> Vec<Bytes> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Send(b) => Some(b.clone()),
            _ => None,
        })
        .collect()
}

fn login(level: EncryptionLevel, method: LoginMethod) -> (Session, Cam) {
    let mut s = Session::new("admin", "secret");
    let mut cam = Cam {
        codec: Codec::default(),
    };
    let first = s.start_login(method).unwrap();
    assert_eq!(s.state(), &SessionState::LegacyLoginSent);
    let req = cam.recv(&first).remove(0);
    assert_eq!(req.id(), MsgId::Login);
    assert_eq!(req.header.response_code, 0xdc12);
    match method {
        LoginMethod::Upgrade => assert_eq!(req.body, Body::Empty),
        LoginMethod::Legacy => {
            let Body::LegacyLogin(l) = &req.body else {
                panic!()
            };
            assert!(camera::check_legacy_login(l, "admin", "secret"));
        }
    }
    let mut buf = cam.send(&camera::nonce_reply(&req.header, level, NONCE));
    if level == EncryptionLevel::None {
        cam.codec.set_encryption(Encryption::None);
    }
    let acts = s.on_bytes(&mut buf).unwrap();
    let login = cam.recv(&sends(&acts)[0]).remove(0);
    assert_eq!(login.header.tag(), req.header.tag(), "same bytes 12-15");
    let user = login.xml().unwrap().login_user().unwrap();
    assert!(camera::check_modern_login(&user, "admin", "secret", NONCE));
    let info = DeviceInfo {
        kind: Some("ipc".into()),
        resolution: Some((2560, 1440)),
        ..Default::default()
    };
    let mut buf = cam.send(&camera::login_ok(&login.header, &info));
    let acts = s.on_bytes(&mut buf).unwrap();
    assert_eq!(
        acts,
        vec![Action::LoggedIn {
            level,
            device_info: Some(info)
        }]
    );
    assert_eq!(s.state(), &SessionState::LoggedIn { level });
    let e = Encryption::negotiated(level, NONCE, "secret").unwrap();
    cam.codec.set_encryption(e);
    assert_eq!(s.codec().encryption(), e);
    (s, cam)
}

#[test]
fn login_all_levels_and_methods() {
    for level in [
        EncryptionLevel::None,
        EncryptionLevel::BcEncrypt,
        EncryptionLevel::Aes,
        EncryptionLevel::FullAes,
    ] {
        for method in [LoginMethod::Upgrade, LoginMethod::Legacy] {
            let (mut s, mut cam) = login(level, method);
            // A request round trip under the negotiated encryption.
            let ping = s.ping().unwrap();
            let req = cam.recv(&ping).remove(0);
            assert_eq!(req.id(), MsgId::Ping);
            let mut reply = cam.send(&camera::status_reply(&req.header, 200));
            let acts = s.on_bytes(&mut reply).unwrap();
            assert!(matches!(&acts[..], [Action::Reply(m)] if m.id() == MsgId::Ping));
        }
    }
}

fn frame(kind: FrameKind, n: usize) -> MediaPacket {
    MediaPacket::Video(VideoFrame {
        kind,
        channel_digit: b'0',
        codec: VideoCodec::H265,
        microseconds: 1000,
        unknown: 0,
        extra_header: Bytes::from_static(&[1, 2, 3, 4, 0, 0, 0, 0]),
        data: Bytes::from((0..n).map(|i| i as u8).collect::<Vec<u8>>()),
    })
}

#[test]
fn streaming_keepalive_battery() {
    let (mut s, mut cam) = login(EncryptionLevel::Aes, LoginMethod::Upgrade);
    let start = s.start_video(0, StreamKind::Sub).unwrap();
    assert!(matches!(s.state(), SessionState::Streaming { .. }));
    let req = cam.recv(&start).remove(0);
    let p = req.xml().unwrap().preview().unwrap();
    assert_eq!(
        (p.handle, p.stream_type.as_deref()),
        (256, Some("subStream"))
    );
    assert_eq!(req.header.stream_type, 1);

    let info = MediaPacket::InfoV2(MediaInfo {
        width: 640,
        height: 360,
        unknown: 0,
        fps: 15,
        start: [125, 1, 2, 3, 4, 5],
        end: [125, 1, 2, 3, 4, 5],
        reserved: 0,
    });
    let mut wire = cam.send(&camera::video_first_reply(&req.header, &info));
    // A frame split over two msg 3 bodies, then an AAC packet.
    let mut media = BytesMut::new();
    frame(FrameKind::I, 3001).encode(&mut media);
    MediaPacket::Aac(Bytes::from_static(&[0xff, 0xf1, 0x60, 0x40, 1])).encode(&mut media);
    let half = media.split_to(1500).freeze();
    wire.extend_from_slice(&cam.send(&camera::video_data(&req.header, half)));
    wire.extend_from_slice(&cam.send(&camera::video_data(&req.header, media.freeze())));
    // Camera keep-alive and battery push in the middle of the stream, fed byte by byte.
    wire.extend_from_slice(&cam.send(&camera::keepalive_request([0, 0, 0x02, 0x01])));
    let bat = BatteryInfo {
        channel_id: Some(0),
        battery_percent: Some(87),
        ..Default::default()
    };
    wire.extend_from_slice(&cam.send(&camera::battery_list_push(std::slice::from_ref(&bat))));
    let mut acts = Vec::new();
    let mut buf = BytesMut::new();
    for b in wire.iter() {
        buf.extend_from_slice(&[*b]);
        acts.extend(s.on_bytes(&mut buf).unwrap());
    }
    let media: Vec<&MediaPacket> = acts
        .iter()
        .filter_map(|a| match a {
            Action::Media {
                packet,
                stream: StreamKind::Sub,
                channel: 0,
            } => Some(packet),
            _ => None,
        })
        .collect();
    assert_eq!(media.len(), 3);
    assert_eq!(media[0], &info);
    assert_eq!(media[1], &frame(FrameKind::I, 3001));
    assert!(matches!(media[2], MediaPacket::Aac(_)));
    let ka = cam.recv(&sends(&acts)[0]).remove(0);
    assert_eq!(
        (ka.id(), ka.header.response_code, ka.header.msg_num),
        (MsgId::KeepAlive, 200, 258)
    );
    assert!(acts.contains(&Action::Battery(vec![bat.clone()])));

    // Battery on demand.
    let q = cam.recv(&s.request_battery(0).unwrap()).remove(0);
    assert_eq!(q.extension, Some(Extension::channel(0)));
    let mut r = cam.send(&camera::battery_info_reply(&q.header, &bat));
    assert_eq!(
        s.on_bytes(&mut r).unwrap(),
        vec![Action::Battery(vec![bat])]
    );

    // Wi-Fi signal on demand: a header-only msg 115; a wired camera's 400 is a plain reply.
    let q = cam.recv(&s.request_wifi_signal().unwrap()).remove(0);
    assert_eq!((q.id(), q.extension.clone()), (MsgId::WifiSignal, None));
    let mut r = cam.send(&camera::wifi_signal_reply(&q.header, -61));
    assert_eq!(s.on_bytes(&mut r).unwrap(), vec![Action::WifiSignal(-61)]);
    let q = cam.recv(&s.request_wifi_signal().unwrap()).remove(0);
    let mut r = cam.send(&camera::status_reply(&q.header, 400));
    let acts = s.on_bytes(&mut r).unwrap();
    assert!(
        matches!(&acts[..], [Action::Reply(m)] if m.header.response_code == 400),
        "{acts:?}"
    );

    // Stop.
    let stop = cam
        .recv(&s.stop_video(0, StreamKind::Sub).unwrap())
        .remove(0);
    assert_eq!(stop.id(), MsgId::VideoStop);
    assert_eq!(stop.xml().unwrap().preview().unwrap().stream_type, None);
    assert!(matches!(s.state(), SessionState::LoggedIn { .. }));
    let logout = cam.recv(&s.logout().unwrap()).remove(0);
    assert_eq!(
        logout.xml().unwrap().login_user().unwrap().password,
        "secret"
    );
    assert_eq!(s.state(), &SessionState::LoggedOut);
}

#[test]
fn stream_refused_and_push() {
    let (mut s, mut cam) = login(EncryptionLevel::BcEncrypt, LoginMethod::Upgrade);
    let req = cam
        .recv(&s.start_video(0, StreamKind::Main).unwrap())
        .remove(0);
    let mut r = cam.send(&camera::status_reply(&req.header, 400));
    assert_eq!(
        s.on_bytes(&mut r).unwrap(),
        vec![Action::StreamRefused {
            stream: StreamKind::Main,
            code: 400
        }]
    );
    // An unsolicited, unknown message id is a push with an Unknown body.
    let mut h = baichuan::header::Header::new(999, baichuan::header::MsgClass::ModernReply);
    h.response_code = 200;
    let m = Message::new(
        h,
        Body::Unknown {
            id: 999,
            body: Bytes::from_static(b"<x/>"),
        },
    );
    let mut b = cam.send(&m);
    let acts = s.on_bytes(&mut b).unwrap();
    assert!(
        matches!(&acts[..], [Action::Push(m)] if m.body == Body::Unknown { id: 999, body: Bytes::from_static(b"<x/>") })
    );
}

#[test]
fn bad_credentials_and_bad_state() {
    let mut s = Session::new("admin", "wrong");
    assert!(s.ping().is_err());
    let mut cam = Cam {
        codec: Codec::default(),
    };
    let req = cam
        .recv(&s.start_login(LoginMethod::Upgrade).unwrap())
        .remove(0);
    assert!(s.start_login(LoginMethod::Upgrade).is_err());
    let mut b = cam.send(&camera::nonce_reply(
        &req.header,
        EncryptionLevel::BcEncrypt,
        NONCE,
    ));
    let acts = s.on_bytes(&mut b).unwrap();
    let login = cam.recv(&sends(&acts)[0]).remove(0);
    let user = login.xml().unwrap().login_user().unwrap();
    assert!(!camera::check_modern_login(&user, "admin", "secret", NONCE));
    let mut b = cam.send(&camera::status_reply(&login.header, 401));
    assert_eq!(
        s.on_bytes(&mut b).unwrap(),
        vec![Action::LoginFailed(LoginFailure::Rejected(401))]
    );
    assert!(s.start_video(0, StreamKind::Main).is_err());

    // Unknown encryption level.
    let mut s = Session::new("admin", "x");
    let req = cam
        .recv(&s.start_login(LoginMethod::Upgrade).unwrap())
        .remove(0);
    let mut b = cam.send(&camera::nonce_reply(
        &req.header,
        EncryptionLevel::Other(0x42),
        NONCE,
    ));
    assert_eq!(
        s.on_bytes(&mut b).unwrap(),
        vec![Action::LoginFailed(LoginFailure::UnsupportedEncryption(
            0x42
        ))]
    );
}

/// Full AES (0x12): binary payloads carry encryptLen; only that prefix is encrypted, and
/// checkValue equals the plaintext at checkPos.
#[test]
fn full_aes_media_prefix() {
    let key = AesKey::derive(NONCE, "secret");
    let mut cam = Codec::new(Encryption::FullAes(key));
    let mut media = BytesMut::new();
    frame(FrameKind::I, 2000).encode(&mut media);
    let media = media.freeze();
    let mut h = baichuan::header::Header::new(3, baichuan::header::MsgClass::ModernReply);
    h.response_code = 200;
    let mut m = Message::new(h, Body::Binary(media.clone()));
    m.extension = Some(Extension {
        binary_data: Some(1),
        encrypt_len: Some(1024),
        check_pos: Some(0),
        check_value: Some(i64::from(i32::from_le_bytes(
            media[..4].try_into().unwrap(),
        ))),
        ..Default::default()
    });
    let mut wire = BytesMut::new();
    cam.encode(&m, &mut wire).unwrap();
    let off = 24 + wire[20] as usize;
    assert_ne!(&wire[off..off + 1024], &media[..1024], "prefix encrypted");
    assert_eq!(&wire[off + 1024..], &media[1024..], "rest plain");
    let mut client = Codec::new(Encryption::FullAes(key));
    let got = client.decode(&mut wire).unwrap().unwrap();
    assert_eq!(got.body, Body::Binary(media));
    assert_eq!(got.extension.unwrap().check_value, Some(1_667_510_320));
}
